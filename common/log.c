/*
 * log.c: the wrapper's log lines.
 *
 * supervisord captures a program's stderr into one file, interleaving the
 * wrapper's lines with gunicorn's own (which pass through untouched, since
 * gunicorn inherits our stderr).  So each of our lines is self-contained:
 * a local timestamp with its UTC offset (as `date --rfc-3339=seconds`
 * prints it), the program, the wrapper's name, then the message, written
 * with a single write(2) so that it cannot be split by another writer.
 *
 * The two strings below are set once by log_init() before the event loop
 * starts and never change afterwards: they are configuration, not state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char	log_prog[64] = "gunicorn-wrapper";
static char	log_name[128] = "gunicorn";

void
log_init(const char *progname, const char *name)
{
	if (progname != NULL)
		snprintf(log_prog, sizeof log_prog, "%s", progname);
	if (name != NULL)
		snprintf(log_name, sizeof log_name, "%s", name);
}

static void
log_line(const char *msg, const char *suffix)
{
	char		 line[2048], stamp[64], zone[8];
	struct timespec	 ts;
	struct tm	 tm;
	ssize_t		 n;
	int		 len;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    localtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm) == 0 ||
	    strftime(zone, sizeof zone, "%z", &tm) != 5)
		snprintf(stamp, sizeof stamp, "?"), zone[0] = '\0';
	else {
		/* +0000 -> +00:00, as RFC 3339 writes it */
		zone[6] = '\0';
		zone[5] = zone[4];
		zone[4] = zone[3];
		zone[3] = ':';
	}
	len = snprintf(line, sizeof line, "[%s%s] [%s] [%s] %s%s%s\n",
	    stamp, zone, log_prog, log_name, msg,
	    suffix != NULL ? ": " : "", suffix != NULL ? suffix : "");
	if (len < 0)
		return;
	if ((size_t)len >= sizeof line) {
		len = sizeof line - 1;
		line[len - 1] = '\n';
	}
	/* stderr is unbuffered in spirit: one write, retried on EINTR. */
	do
		n = write(STDERR_FILENO, line, (size_t)len);
	while (n == -1 && errno == EINTR);
}

void
log_vmsg(const char *fmt, va_list ap)
{
	char	msg[1536];
	int	saved = errno;

	vsnprintf(msg, sizeof msg, fmt, ap);
	log_line(msg, NULL);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char	msg[1536];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(msg, strerror(saved));
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	char	msg[1536];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(msg, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
	exit(1);
}
