/* SPDX-License-Identifier: MIT */
/*
 * notify.h: the sd_notify protocol, spoken by hand (one datagram; no
 * libsystemd).  When NOTIFY_SOCKET is set, systemd learns from us, not
 * from gunicorn, when the service is really ready, reloading or stopping.
 */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

#include <sys/types.h>

#include <stddef.h>

struct gw;

/* Read and unset NOTIFY_SOCKET (gunicorn must not see it: it would say
 * READY=1 before its workers load the app).  -1 with a message on a bad
 * value; 0 otherwise, whether or not notification is on. */
int	notify_init(struct gw *);
void	notify_free(struct gw *);
/* Send "KEY=VALUE\n..." lines, if notification is on. */
void	notify_send(struct gw *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Once the event loop exists: systemd's watchdog, if it is on for us
 * (WATCHDOG_USEC=, WATCHDOG_PID= unset or ours), pinged from the loop. */
void	notify_start(struct gw *);

/* What STATUS= says, gathered by the caller (this module calls nothing
 * above it): the summary reload.c makes. */
struct notify_summary {
	const char	*state;		/* starting, running, reloading, ... */
	unsigned	 reload_id;	/* the reload running; 0: none */
	const char	*phase;		/* ... its phase */
	pid_t		 master;	/* the one serving; 0: none */
	size_t		 workers;	/* its workers, as status lists them */
	unsigned	 last_id;	/* the last finished reload; 0: none */
	const char	*last_result;	/* ... "ok" or "failed" */
};
/* STATUS=, one line; sent only when it differs from the last one sent. */
void	notify_status(struct gw *, const struct notify_summary *);
/* A generation is really ready for the first time: READY=1 and MAINPID=
 * (once: later calls do nothing). */
void	notify_ready(struct gw *);

#endif
