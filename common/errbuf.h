/* SPDX-License-Identifier: MIT */
/*
 * errbuf.h: a one-line error into the caller's buffer.  Parsers and file
 * checks that must not log (gwctl, unit tests, code that runs before the
 * log is set up) report why they failed this way, and the caller prints
 * the line where it belongs.  One helper instead of a private copy in
 * each module.
 */
#ifndef GW_ERRBUF_H
#define GW_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* Format into err (errlen bytes, terminated if errlen > 0), keep errno
 * as it was, and return -1, so that `return errbuf_set(...)` fails a
 * call. */
int	errbuf_set(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	errbuf_vset(char *err, size_t errlen, const char *fmt, va_list)
	    __attribute__((format(printf, 3, 0)));

#endif
