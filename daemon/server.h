/* SPDX-License-Identifier: MIT */
/*
 * server.h: the wrapper's lifecycle around gunicorn (server.c).  The top
 * of the daemon: it starts or adopts the first generation, owns the
 * serving master (gw->cur), the daemon's state and its exit status, and
 * wires the modules below it (gunicorn.c, reload.c) to itself through
 * their callbacks, so that none of them calls up into it.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

struct gw;

/* Timers, the callbacks of gunicorn.c, and the reload (reload_init,
 * with server.c's hooks): after the history is loaded. */
void	server_init(struct gw *);
/* Start or adopt the first generation; -1 (logged) if it cannot be. */
int	server_start(struct gw *);
/* Stop every master (SIGTERM or SIGQUIT), reload or not; exit once all
 * are gone. */
void	server_stop(struct gw *, int);

/* "exiting with status N": info for 0, err otherwise. */
void	server_log_exit(int);

#endif
