/*
 * log.h: one line per event on stderr, in the form operators already grep
 * for:  [2026-11-24 12:00:00+00:00] [gunicorn-wrapper] [NAME] message
 *
 * The helpers follow OpenBSD's log.c: log_warn appends strerror(errno),
 * log_warnx does not, fatal/fatalx log and exit(1).  None of them change
 * errno, so a caller can log and then still test it.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>

/* Set the [NAME] field; called once at start-up, before the loop runs. */
void	log_init(const char *progname, const char *name);
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_vmsg(const char *, va_list) __attribute__((format(printf, 1, 0)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
