/* SPDX-License-Identifier: MIT */
/*
 * errbuf.c: see errbuf.h.  errno is kept because callers format it into
 * the line with strerror(errno) and may test it after the call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"

void
errbuf_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
	int	saved = errno;

	if (errlen > 0)
		(void)vsnprintf(err, errlen, fmt, ap);
	errno = saved;
}

int
errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	errbuf_vset(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
