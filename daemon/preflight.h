/* SPDX-License-Identifier: MIT */
/*
 * preflight.h: `gunicorn --check-config` (--preflight), one run of it:
 * started with a generation's arguments, its output kept, its exit turned
 * into a verdict with the line that explains a failure.
 */
#ifndef GW_PREFLIGHT_H
#define GW_PREFLIGHT_H

#include <sys/types.h>

#include <stddef.h>

struct event;
struct gw;

struct preflight {
	pid_t		 pid;		/* 0: none runs */
	int		 fd;		/* its output; -1: none */
	struct event	*ev;
	char		 out[4096];	/* the tail of it */
	size_t		 len;
};

/* Nothing running. */
void	preflight_init(struct preflight *);
/* Start the check of argv in directory cwd (NULL: the wrapper's): 0, or
 * -1 (logged) with nothing running. */
int	preflight_start(struct preflight *, struct gw *, char **,
	    const char *);
/* Is pid this check? */
int	preflight_is(const struct preflight *, pid_t);
/* It was reaped with status: reads what is left of its output and closes
 * it.  0 when it passed; -1 when not, with why ("exited 1: ImportError:
 * ..."; printable, one line). */
int	preflight_reaped(struct preflight *, int, char *, size_t);
/* SIGKILL to it, if it runs, and close (its reap is then ignored). */
void	preflight_kill(struct preflight *);

#endif
