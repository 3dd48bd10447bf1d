/* SPDX-License-Identifier: MIT */
/*
 * notify.h: the sd_notify protocol, spoken by hand (one datagram; no
 * libsystemd).  When NOTIFY_SOCKET is set, systemd learns from us, not
 * from gunicorn, when the service is really ready, reloading or stopping.
 */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

struct gw;

/* Read and unset NOTIFY_SOCKET (gunicorn must not see it: it would say
 * READY=1 before its workers load the app).  -1 with a message on a bad
 * value; 0 otherwise, whether or not notification is on. */
int	notify_init(struct gw *);
void	notify_free(struct gw *);
/* Send "KEY=VALUE\n..." lines, if notification is on. */
void	notify_send(struct gw *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* STATUS=, a one-line summary of the service; reloading: a reload runs
 * (the caller knows; this module calls nothing above it). */
void	notify_status(struct gw *, int);
/* A generation is really ready for the first time: READY=1 and MAINPID=
 * (once: later calls do nothing), then STATUS=. */
void	notify_ready(struct gw *, int);

#endif
