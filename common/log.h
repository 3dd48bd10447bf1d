/* SPDX-License-Identifier: MIT */
/*
 * log.h: one line per event on stderr, in the form operators already grep
 * for:  [2026-11-24 12:00:00+00:00] [gunicorn-wrapper] [NAME] [INFO] message
 * or, for log shippers, one JSON object per line; under journald the
 * severity travels as an sd-daemon "<6>" prefix instead of the word.
 *
 * The helpers follow OpenBSD's log.c: log_warn appends strerror(errno),
 * log_warnx does not, fatal/fatalx log and exit(1).  None of them change
 * errno, so a caller can log and then still test it.  Which helper is
 * which severity: log_debug (state transitions), log_info (routine
 * outcomes), log_notice (normal but significant), log_warn/log_warnx
 * (SIGKILLs, refusals), log_error and fatal/fatalx (failures).
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

void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
/* One line at the given level. */
void	log_vmsg(enum log_level, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
