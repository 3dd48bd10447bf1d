/* SPDX-License-Identifier: MIT */
/*
 * gw.h: the daemon's one context, struct gw, passed as the first argument
 * to everything (as relayd passes struct relayd *env).  It holds the
 * configuration, the event base, the gunicorn masters being watched, the
 * reload machinery and the history.  There is no other mutable global
 * state: every change happens in an event callback on this struct.
 *
 * Every module may read it; each field has one writer.  The serving
 * master (cur), the daemon's state and its exit status are server.c's
 * (server.h): the modules below it report through callbacks instead.
 */
#ifndef GW_GW_H
#define GW_GW_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <event2/event.h>

#include "clock.h"
#include "history.h"
#include "ledger.h"
#include "listen.h"
#include "options.h"

struct control;
struct master;
struct ready;
struct reload;

/* The daemon's overall state, as `gwctl status` reports it. */
enum gw_state {
	GW_STARTING,		/* first generation booting */
	GW_RUNNING,		/* serving; a reload may be in progress */
	GW_STOPPING,		/* masters told to stop, waiting for them */
};

TAILQ_HEAD(masterq, master);

struct gw {
	struct gw_config	 cfg;
	struct event_base	*base;
	enum gw_state		 state;
	double			 started;	/* CLOCK_REALTIME at start */

	struct masterq		 masters;	/* every master we watch */
	struct master		*cur;		/* the one serving: server.c */
	/* gunicorn.c reports through these (set by server.c) and calls
	 * nothing above it: a watched master exited; a child that is not a
	 * master was reaped (its wait status). */
	void			(*master_exited)(struct gw *, struct master *);
	void			(*child_exited)(struct gw *, pid_t, int);
	struct ready		*boot;		/* first generation's probe */

	struct reload		*reload;	/* state machine, reload.c */
	struct history		 history;
	struct ledger		 ledger;	/* what we know: ledger.h */
	/* The previous wrapper's reload whose new master we adopted: its
	 * outcome is the boot probe's. */
	unsigned		 interrupted_id;
	pid_t			 interrupted_old;
	char			 interrupted_phase[16];
	struct control		*control;	/* control.c */

	struct event		*sigev[10];
	struct event		*stop_timer;
	int			 stop_signal;	/* SIGTERM or SIGQUIT */
	int			 stop_code;	/* exit status once stopped */
	int			 exit_status;
	int			 failed;	/* exit non-zero, whatever */
	int			 lock_fd;	/* RUN_DIR/NAME.lock, flock'd */
	int			 run_fd;	/* RUN_DIR, checked (rundir.h) */
	/* While stopping: children of adopted masters, which re-parent to
	 * PID 1, not to us, if they outlive their master. */
	pid_t			*suspects;
	unsigned long long	*suspects_start;
	size_t			 nsuspects;

	int			 notify_fd;	/* notify.c; -1: off */
	struct sockaddr_un	 notify_addr;
	socklen_t		 notify_len;
	int			 notify_warned;
	int			 ready_sent;	/* READY=1 said once */
	char			 notify_last[256];	/* last STATUS= */
	unsigned long long	 watchdog_usec;	/* 0: no watchdog */
	struct event		*watchdog_ev;	/* WATCHDOG=1 */
	struct event		*status_ev;	/* STATUS= refresh */
	struct event		*boot_extend;	/* EXTEND_TIMEOUT_USEC= */

	/* Release mode (release.h, listen.h); release NULL when off. */
	char			*release;	/* real path of the serving one */
	char			*bind_spec[LISTEN_MAX];	/* the probe's */
	size_t			 nbind;
	struct listen_opts	 listen_opts;
	struct listeners	 listeners;	/* held */
	char			*ctl_socket;	/* gunicorn 25+'s; NULL: none */
	int			 ctl_probed;	/* ... as the config probe said */
	/* How gunicorn retires workers, as the probe read its settings
	 * (GUNICORN_CMD_ARGS and a config file too); retire_probed 0: not. */
	int			 retire_probed;
	int			 probe_max_requests;
	int			 probe_reload;
};

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

/* "starting", "running", "stopping": the enum's names, beside it. */
static inline const char *
gw_state_name(enum gw_state s)
{
	switch (s) {
	case GW_STARTING:
		return "starting";
	case GW_RUNNING:
		return "running";
	case GW_STOPPING:
		return "stopping";
	}
	return "?";
}

#endif
