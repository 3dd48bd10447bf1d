/* SPDX-License-Identifier: MIT */
/*
 * log.h: one line per event on stderr, in the form operators already grep
 * for:  [2026-11-24 12:00:00+00:00] [gunicorn-wrapper] [NAME] [INFO] message
 * or, for log shippers, one JSON object per line; under journald only
 * "<6>message": journald records the time, the unit and the priority.
 *
 * The helpers follow OpenBSD's log.c: log_warn appends strerror(errno),
 * log_warnx does not, fatal/fatalx log and exit(1).  None of them change
 * errno, so a caller can log and then still test it.  The severities
 * mean what syslog(3) says they mean:
 *   log_error, fatal, fatalx  err: a reload that failed, a serving master
 *                             that died unasked, the wrapper exiting
 *                             non-zero
 *   log_warn, log_warnx       warning: a fallback, a recovered fault (a
 *                             SIGKILL, a refusal, a file ignored)
 *   log_notice                notice: normal but significant (unused)
 *   log_info                  info: outcomes and lifecycle
 *   log_debug                 debug: state transitions
 * log_event() adds an event's fields to a JSON line (text lines carry
 * them in the message): fields are added over time, never renamed.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>

/* Severities, numbered as syslog(3) and sd-daemon(3) number them. */
enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Set the [NAME] field; called once at start-up, before the loop runs. */
void	log_init(const char *progname, const char *name);
/*
 * The least severe level written, the format, and JOURNAL_STREAM's value
 * (NULL if unset): when its device:inode is stderr's, lines carry "<N>"
 * prefixes and no level word.  Called once, before the loop runs.
 */
void	log_setup(enum log_level, enum log_format, const char *journal_stream);
/* "debug", "info", "notice", "warning" (or "warn"), "error": 0, else -1. */
int	log_level_parse(const char *, enum log_level *);
/* "text" or "json": 0, else -1. */
int	log_format_parse(const char *, enum log_format *);
/* "debug" ... "error". */
const char *log_level_name(enum log_level);
/* Whether lines of this level are written (skip costly formatting). */
int	log_enabled(enum log_level);

/*
 * The fields of an event a log shipper filters on.  Unset members (NULL,
 * 0, has_* false) are left out of the line.
 */
struct log_event {
	const char	*event;		/* "reload_ok", "master_exit", ... */
	unsigned	 reload_id;	/* 0: none */
	const char	*result;	/* "ok", "failed" */
	int		 has_duration;
	double		 duration_s;
	int		 old_master, new_master, master;	/* 0: none */
	const char	*reason;
	int		 has_exit_status;
	int		 exit_status;
};

void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
/*
 * A failure that stops the program before it runs (a refused run
 * directory, a name already taken): "PROG: message", as a usage error
 * reads, but at err, so "<3>" first under journald; a JSON line in JSON.
 */
void	log_startup_error(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
/* One line at the given level. */
void	log_vmsg(enum log_level, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
/* One line at the given level with the event's fields. */
void	log_event(enum log_level, const struct log_event *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	log_vevent(enum log_level, const struct log_event *, const char *,
	    va_list) __attribute__((format(printf, 3, 0)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
