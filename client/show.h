/* SPDX-License-Identifier: MIT */
/*
 * show.h: gwctl's human output, one function per thing shown.  Every
 * string goes through escape.h and every number through a range check
 * (reply.h), so that nothing a daemon or its history says can reach the
 * terminal raw.  Writes to the FILE given, so that the fuzz target can
 * run it too.
 */
#ifndef GW_SHOW_H
#define GW_SHOW_H

#include <stddef.h>
#include <stdio.h>

#include <msgpack.h>

/* `gwctl status NAME`: the whole reply, history included. */
void	show_status(FILE *, const msgpack_object *);
/* `gwctl status`: one line for the daemon called name (raw, escaped here). */
void	show_status_line(FILE *, const char *, const msgpack_object *);
/* A waited-for reload's outcome: on out if ok, else on err.  prefix
 * (raw, may be NULL) names the daemon when several are reloaded. */
void	show_reload(FILE *, FILE *, const char *, const msgpack_object *);

/*
 * A progress object (see proto.h, PROTO_K_PROGRESS) as one line of text:
 * "reload 3: warming, 1 of 2 ready, 3.2 s of 30 s budget".  since adds
 * to its elapsed time (seconds since it was received).  0, or -1 if p is
 * not a progress object.
 */
int	show_progress(char *, size_t, const msgpack_object *, double);

/* Seconds as "4.2s", "3m07s", "2h05m00s", "3d04h05m". */
void	show_duration(double, char *, size_t);

#endif
