/* SPDX-License-Identifier: MIT */
/*
 * log.c: the wrapper's log lines.
 *
 * supervisord captures a program's stderr into one file, interleaving the
 * wrapper's lines with gunicorn's own (which pass through untouched, since
 * gunicorn inherits our stderr).  So each of our lines is self-contained:
 * a local timestamp with its UTC offset (as `date --rfc-3339=seconds`
 * prints it), the program, the wrapper's name, the severity as gunicorn
 * writes its own ([INFO], [WARNING], [ERROR], [DEBUG]), then the message,
 * written with a single write(2) so that it cannot be split by another
 * writer.
 *
 * Under systemd, stderr is a stream to journald, which says so in
 * JOURNAL_STREAM (the stream's device:inode).  There the severity goes in
 * an sd-daemon "<N>" prefix, which journald strips and stores as the
 * entry's priority (so `journalctl -p warning` works), instead of a word.
 * The variable is inherited by whatever we run, so it counts only when it
 * names our own stderr.
 *
 * --log-format json writes one object per line instead, for log shippers:
 * {"time": RFC 3339 with milliseconds, "level", "name", "message"}, the
 * message escaped for JSON (C0, DEL and C1 controls as \uXXXX, bytes that are
 * not UTF-8 as U+FFFD) and truncated whole characters at a time.
 *
 * The settings below are set once by log_init() and log_setup() before
 * the event loop starts and never change afterwards: they are
 * configuration, not state.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"

#define LOG_MSG_MAX	1536

static char		log_prog[64] = "gunicorn-wrapper";
static char		log_name[128] = "gunicorn";
static enum log_level	log_min = LOG_LEVEL_INFO;
static enum log_format	log_fmt = LOG_FORMAT_TEXT;
static int		log_journal;	/* stderr is journald's stream */

static const struct {
	enum log_level	 level;
	const char	*name;		/* --log-level, JSON "level" */
	const char	*word;		/* in a text line */
} log_levels[] = {
	{ LOG_LEVEL_ERROR,	"error",	"ERROR" },
	{ LOG_LEVEL_WARNING,	"warning",	"WARNING" },
	{ LOG_LEVEL_NOTICE,	"notice",	"NOTICE" },
	{ LOG_LEVEL_INFO,	"info",		"INFO" },
	{ LOG_LEVEL_DEBUG,	"debug",	"DEBUG" },
};
#define LOG_NLEVELS	(sizeof log_levels / sizeof log_levels[0])

void
log_init(const char *progname, const char *name)
{
	if (progname != NULL)
		snprintf(log_prog, sizeof log_prog, "%s", progname);
	if (name != NULL)
		snprintf(log_name, sizeof log_name, "%s", name);
}

/* Whether JOURNAL_STREAM ("DEV:INODE", decimal) names our stderr. */
static int
log_is_journal(const char *js)
{
	struct stat		 sb;
	unsigned long long	 dev, ino;
	int			 n = 0;

	if (js == NULL || sscanf(js, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    js[n] != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &sb) == -1)
		return 0;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

void
log_setup(enum log_level min, enum log_format fmt, const char *journal_stream)
{
	log_min = min;
	log_fmt = fmt;
	log_journal = log_is_journal(journal_stream);
}

int
log_level_parse(const char *s, enum log_level *level)
{
	size_t	i;

	if (strcmp(s, "warn") == 0)
		s = "warning";
	for (i = 0; i < LOG_NLEVELS; i++) {
		if (strcmp(s, log_levels[i].name) == 0) {
			*level = log_levels[i].level;
			return 0;
		}
	}
	return -1;
}

int
log_format_parse(const char *s, enum log_format *fmt)
{
	if (strcmp(s, "text") == 0)
		*fmt = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*fmt = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

static size_t
log_index(enum log_level level)
{
	size_t	i;

	for (i = 0; i < LOG_NLEVELS; i++) {
		if (log_levels[i].level == level)
			return i;
	}
	return 0;	/* unknown: as an error, never hidden */
}

const char *
log_level_name(enum log_level level)
{
	return log_levels[log_index(level)].name;
}

int
log_enabled(enum log_level level)
{
	return level <= log_min;
}

/*
 * Append s to out[*used..size) as the inside of a JSON string; stop
 * (whole characters only) when what is left would not fit.
 */
static void
json_escape(char *out, size_t size, size_t *used, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 esc[8];
	const char		*add;
	unsigned long		 cp;
	size_t			 n, left = strlen(s), len;

	while (left > 0) {
		add = esc;
		if ((len = utf8_decode(p, left, &cp)) == 0) {
			n = (size_t)snprintf(esc, sizeof esc, "\\ufffd");
			len = 1;
		} else if (cp == '"' || cp == '\\')
			n = (size_t)snprintf(esc, sizeof esc, "\\%c", (int)cp);
		else if (cp == '\n')
			n = (size_t)snprintf(esc, sizeof esc, "\\n");
		else if (cp == '\t')
			n = (size_t)snprintf(esc, sizeof esc, "\\t");
		else if (utf8_is_control(cp))	/* C0, DEL and C1 */
			n = (size_t)snprintf(esc, sizeof esc, "\\u%04lx", cp);
		else {
			add = (const char *)p;
			n = len;
		}
		if (*used + n >= size)
			return;
		memcpy(out + *used, add, n);
		*used += n;
		p += len;
		left -= len;
	}
}

/* Now, as RFC 3339: "2026-11-24 12:00:00+00:00" or, for JSON, with 'T'
 * and milliseconds. */
static void
log_stamp(char *stamp, size_t size, int json)
{
	struct timespec	ts;
	struct tm	tm;
	char		base[32], zone[8];

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    localtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(base, sizeof base, json ? "%Y-%m-%dT%H:%M:%S" :
	    "%Y-%m-%d %H:%M:%S", &tm) == 0 ||
	    strftime(zone, sizeof zone, "%z", &tm) != 5) {
		snprintf(stamp, size, "?");
		return;
	}
	/* +0000 -> +00:00, as RFC 3339 writes it */
	if (json)
		snprintf(stamp, size, "%s.%03ld%.3s:%s", base,
		    ts.tv_nsec / 1000000, zone, zone + 3);
	else
		snprintf(stamp, size, "%s%.3s:%s", base, zone, zone + 3);
}

/* ,"key":"value" (escaped), if it fits in out[*used..size). */
static void
json_str_field(char *out, size_t size, size_t *used, const char *k,
    const char *v)
{
	int	n;

	if (v == NULL)
		return;
	n = snprintf(out + *used, size - *used, ",\"%s\":\"", k);
	if (n < 0 || (size_t)n >= size - *used)
		return;
	*used += (size_t)n;
	json_escape(out, size - 2, used, v);
	out[(*used)++] = '"';
	out[*used] = '\0';
}

/* ,"key":number, if it fits. */
static void
json_num_field(char *out, size_t size, size_t *used, const char *k,
    const char *fmt, double v)
{
	char	num[64];
	int	n;

	(void)snprintf(num, sizeof num, fmt, v);
	n = snprintf(out + *used, size - *used, ",\"%s\":%s", k, num);
	if (n > 0 && (size_t)n < size - *used)
		*used += (size_t)n;
}

/* The event's fields, each only when it is set. */
static void
json_event(char *out, size_t size, size_t *used, const struct log_event *ev)
{
	if (ev == NULL || ev->event == NULL)
		return;
	json_str_field(out, size, used, "event", ev->event);
	if (ev->reload_id > 0)
		json_num_field(out, size, used, "reload_id", "%.0f",
		    (double)ev->reload_id);
	json_str_field(out, size, used, "result", ev->result);
	if (ev->has_duration)
		json_num_field(out, size, used, "duration_s", "%.3f",
		    ev->duration_s);
	if (ev->old_master > 0)
		json_num_field(out, size, used, "old_master", "%.0f",
		    (double)ev->old_master);
	if (ev->new_master > 0)
		json_num_field(out, size, used, "new_master", "%.0f",
		    (double)ev->new_master);
	if (ev->master > 0)
		json_num_field(out, size, used, "master", "%.0f",
		    (double)ev->master);
	json_str_field(out, size, used, "reason", ev->reason);
	if (ev->has_exit_status)
		json_num_field(out, size, used, "exit_status", "%.0f",
		    (double)ev->exit_status);
}

static void
log_line(enum log_level level, const struct log_event *ev, const char *msg,
    const char *suffix)
{
	char	 line[12288], stamp[64], full[LOG_MSG_MAX + 256], prio[8];
	size_t	 used;
	ssize_t	 n;
	int	 len;

	if (!log_enabled(level))
		return;
	prio[0] = '\0';
	if (log_journal)
		snprintf(prio, sizeof prio, "<%d>", (int)level);
	snprintf(full, sizeof full, "%s%s%s", msg, suffix != NULL ? ": " : "",
	    suffix != NULL ? suffix : "");
	log_stamp(stamp, sizeof stamp, log_fmt == LOG_FORMAT_JSON);

	if (log_fmt == LOG_FORMAT_JSON) {
		used = (size_t)snprintf(line, sizeof line, "%s{\"time\":\"%s\","
		    "\"level\":\"%s\",\"name\":\"", prio, stamp,
		    log_level_name(level));
		/* room for the rest: ","message":"..."}\n */
		json_escape(line, sizeof line - 32, &used, log_name);
		used += (size_t)snprintf(line + used, sizeof line - used,
		    "\",\"message\":\"");
		/* room for the fields, then "}\n" */
		json_escape(line, sizeof line - 2048, &used, full);
		line[used++] = '"';
		json_event(line, sizeof line - 4, &used, ev);
		used += (size_t)snprintf(line + used, sizeof line - used,
		    "}\n");
		len = (int)used;
	} else {
		/* journald records the time, the unit and the priority
		 * itself: the message alone. */
		if (log_journal)
			len = snprintf(line, sizeof line, "%s%s\n", prio, full);
		else
			len = snprintf(line, sizeof line,
			    "[%s] [%s] [%s] [%s] %s\n", stamp, log_prog,
			    log_name, log_levels[log_index(level)].word, full);
		if (len < 0)
			return;
		if ((size_t)len >= sizeof line) {
			len = sizeof line - 1;
			line[len - 1] = '\n';
		}
	}
	/* stderr is unbuffered in spirit: one write, retried on EINTR. */
	do
		n = write(STDERR_FILENO, line, (size_t)len);
	while (n == -1 && errno == EINTR);
}

void
log_startup_error(const char *fmt, ...)
{
	char	msg[LOG_MSG_MAX];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	if (log_fmt == LOG_FORMAT_JSON)
		log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	else {
		(void)vsnprintf(msg, sizeof msg, fmt, ap);
		(void)fprintf(stderr, "%s%s: %s\n", log_journal ? "<3>" : "",
		    log_prog, msg);
	}
	va_end(ap);
	errno = saved;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	log_vevent(level, NULL, fmt, ap);
}

void
log_vevent(enum log_level level, const struct log_event *ev, const char *fmt,
    va_list ap)
{
	char	msg[LOG_MSG_MAX];
	int	saved = errno;

	if (log_enabled(level)) {
		vsnprintf(msg, sizeof msg, fmt, ap);
		log_line(level, ev, msg, NULL);
	}
	errno = saved;
}

void
log_event(enum log_level level, const struct log_event *ev, const char *fmt,
    ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vevent(level, ev, fmt, ap);
	va_end(ap);
}

#define LOG_FN(fn, level)				\
void							\
fn(const char *fmt, ...)				\
{							\
	va_list	ap;					\
							\
	va_start(ap, fmt);				\
	log_vmsg(level, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_notice, LOG_LEVEL_NOTICE)
LOG_FN(log_warnx, LOG_LEVEL_WARNING)
LOG_FN(log_error, LOG_LEVEL_ERROR)

void
log_warn(const char *fmt, ...)
{
	char	msg[LOG_MSG_MAX];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(LOG_LEVEL_WARNING, NULL, msg, strerror(saved));
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	char	msg[LOG_MSG_MAX];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(LOG_LEVEL_ERROR, NULL, msg, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
