/* SPDX-License-Identifier: MIT */
/*
 * xmalloc.h: allocation that cannot fail.  As in tmux, running out of
 * memory in a daemon this small is not a condition worth a recovery path
 * at every call site: the helpers log and exit, and supervisord restarts
 * us.  gunicorn itself is never touched by that exit path (it keeps
 * serving and the next wrapper adopts it).
 */
#ifndef GW_XMALLOC_H
#define GW_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
