/* SPDX-License-Identifier: MIT */
/*
 * reload.h: the zero-downtime reload, as an explicit state machine.
 *
 *   idle -> [checking] -> [settling] -> forking -> warming -> [probation]
 *              |              |            |          |           |
 *              +--------------+------------+          |           v
 *              |                                      v        draining
 *              v                                  aborting        |
 *        idle (failed)                                |           v
 *                                          idle (failed)     promoting
 *                                                                 |
 *                                                                 v
 *                                                            idle (ok)
 *
 * Around those, two states that run no reload: booting (the first
 * generation is not up yet: requests queue for it) and stopped (the
 * wrapper stops, or nothing serves any more: requests are refused).
 *
 * A reload that fails while no new master lives (checking, settling,
 * forking, or one that already exited) goes straight back to idle; while
 * one lives it goes through aborting.  With the old master lost, the new
 * generation takes over: found while forking, it is warmed; once ready
 * (warming) it is promoted with no probation and nothing to drain; in
 * probation, promoted at once; draining ends with promoting anyway.  A
 * new master lost while draining or promoting ends the reload, failed;
 * a stop ends any state, failed.  A reload that ends with nothing left to
 * serve (the old master lost and nothing new up, or what serves doomed)
 * is down, and ends in stopped instead of idle.  reload.c's [state][event]
 * table names the handler of every pair it does not ignore.
 *
 * checking   --preflight: `gunicorn --check-config` with the serving
 *            settings; its failure fails the reload before SIGUSR2;
 * settling   a previous failed new master is still in /proc: gunicorn
 *            would ignore SIGUSR2 ("Child exists") until its old master
 *            has reaped it, so wait for that first;
 * forking    SIGUSR2 sent; looking for the new master among the old one's
 *            children (its environment has GUNICORN_PID=<old master>);
 * warming    the readiness probe (ready.c) watches the new generation;
 * probation  ready; for --probation seconds the probe still watches it,
 *            and workers dying abnormally (a crash loop) fail the reload;
 * draining   SIGTERM sent to the old master; waiting for it to exit, with
 *            SIGKILL after the stop timeout;
 * promoting  the new master, now ours, renames PIDFILE.2 to PIDFILE;
 * aborting   the new generation failed: stopping what is left of it while
 *            the old generation serves on, untouched.
 *
 * Requests (SIGHUP, or a control command) made while a reload runs are
 * queued and coalesce into one more reload after it.  Whoever asks may
 * pass a callback, called once with the history entry of the reload that
 * included the request: that is how the control socket reports outcomes.
 * The module above (server.c) hears of the end through reload_hooks.
 */
#ifndef GW_RELOAD_H
#define GW_RELOAD_H

#include "history.h"

struct gw;
struct master;

enum reload_state {
	RS_BOOTING,		/* the first generation boots: requests queue */
	RS_IDLE,
	RS_CHECKING,
	RS_SETTLING,
	RS_FORKING,
	RS_WARMING,
	RS_PROBATION,
	RS_DRAINING,
	RS_PROMOTING,
	RS_ABORTING,
	RS_STOPPED,		/* no more reloads: requests are refused */
	RS_COUNT
};

/* What can happen to a reload: every entry point of reload.c is one. */
enum reload_event {
	RE_REQUEST,		/* SIGHUP or a control command asks */
	RE_KICK,		/* a queued reload's deferred start */
	RE_BOOTED,		/* the first generation is up */
	RE_RESUME,		/* at start: the previous wrapper's reload */
	RE_TIMER,		/* the phase's timer fired */
	RE_READY,		/* the probe's verdict on the new generation */
	RE_NEW_EXIT,		/* the new master exited */
	RE_OLD_EXIT,		/* the old master exited */
	RE_CHECK_EXIT,		/* `gunicorn --check-config` was reaped */
	RE_STOP,		/* the wrapper stops: abandon */
	RE_COUNT
};

/* The handler the [state][event] table names for the pair ("on_ready"),
 * as s6 writes a state machine; NULL: the state ignores the event (also
 * for a state or event out of range). */
const char *reload_cell_name(enum reload_state, enum reload_event);
/* "warming"; "?" out of range. */
const char *reload_state_str(enum reload_state);
const char *reload_event_str(enum reload_event);
/* The timed phase a state is (PHASE_COUNT: none, for booting, idle,
 * aborting and stopped),
 * and the one setter of the phase times: -1 (nothing set) for a state
 * with no phase. */
enum reload_phase reload_phase_of(enum reload_state);
int	reload_set_phase_time(struct reload_entry *, enum reload_state, double);

typedef void (*reload_done_cb)(struct gw *, const struct reload_entry *,
    void *);

/*
 * How reload.c reaches the module above it (server.c), which owns the
 * serving master and the wrapper's fate: through these, never by name.
 */
struct reload_outcome {
	unsigned		 id;
	enum reload_result	 result;
	int			 unserved;	/* nothing serves any more */
	int			 code;		/* ... exit code: the lost old
						 * master's, mirrored */
};
struct reload_hooks {
	/* Make this master the serving one (NULL: none serves now). */
	void	(*serve)(struct gw *, struct master *);
	/* What serves will exit and nothing will replace it: whatever its
	 * status, the wrapper's exit is a failure. */
	void	(*doomed)(struct gw *);
	/* A phase the next wrapper must know of: write the record. */
	void	(*record)(struct gw *);
	/* A reload ended: called from a deferred event, on a fresh stack,
	 * never from inside the reload machinery. */
	void	(*done)(struct gw *, const struct reload_outcome *);
};

/* After the history is loaded (the next id follows its last). */
void	reload_init(struct gw *, const struct reload_hooks *);
void	reload_free(struct gw *);
/* Ask for a reload; returns the id of the reload that will include it,
 * or 0 (logged, callback not called) when none can run now. */
unsigned reload_request(struct gw *, enum reload_trigger, reload_done_cb,
	    void *);
/* The same, deploying release (release mode; a real path under the
 * releases directory, checked by the caller): NULL as reload_request. */
unsigned reload_request_release(struct gw *, enum reload_trigger,
	    const char *, reload_done_cb, void *);
/* Forget a waiter (its client went away); the reload carries on. */
void	reload_forget(struct gw *, void *);
/* At start, the adopted master has a new master of a reload that the
 * previous wrapper did not finish: finish it (warm-up on), under the id
 * the record gave it (0: a new one), deploying the record's target in
 * release mode (NULL or "": none). */
void	reload_resume(struct gw *, pid_t, unsigned, const char *);
/* An unfinished reload of the previous wrapper that cannot be resumed:
 * into the history under its id, with what this wrapper found. */
void	reload_interrupted(struct gw *, unsigned, pid_t, pid_t,
	    enum reload_result, const char *, ...)
	    __attribute__((format(printf, 6, 7)));
/* The same, SIGUSR2 sent (at tick) but no new master seen: resume from
 * the forking phase. */
void	reload_resume_forking(struct gw *, unsigned, unsigned long long);
/* The reload in flight, for the record (ledger.h). */
struct ledger;
void	reload_record(const struct gw *, struct ledger *);
/* The first generation is up: start a reload requested during boot. */
void	reload_boot_done(struct gw *);
/* A master exited: the reload's bookkeeping, before server.c decides. */
void	reload_master_exited(struct gw *, struct master *);
/* A child that is not a master was reaped (the pre-flight check). */
void	reload_child_exited(struct gw *, pid_t, int);
/* No more reloads (the wrapper stops, or its serving master exited): a
 * reload that runs ends, failed with reason why, and so does a queued one;
 * the masters are server.c's to stop (a new master not yet seen while
 * forking is watched and signalled, so that the stop waits for it). */
void	reload_abandon(struct gw *, const char *);
int	reload_running(const struct gw *);
int	reload_pending(const struct gw *);
/* The generations' roles mid-reload, for `status` and `workers`: the one
 * serving (NULL: none), the one warming or on probation, the one
 * draining (NULL: none). */
struct reload_roles {
	struct master	*serving, *incoming, *outgoing;
};
void	reload_roles(const struct gw *, struct reload_roles *);
/* STATUS= for systemd, from the same roles and counts `status` shows:
 * sent only when it changed (the server also calls it every second). */
void	reload_notify_status(struct gw *);
const char *reload_state_name(const struct gw *);
/* The release a reload in flight deploys; NULL when idle or not in
 * release mode. */
const char *reload_target(const struct gw *);
/* The release a queued reload will deploy; NULL: none queued, or the
 * serving one. */
const char *reload_queued_target(const struct gw *);
/* The reloads this wrapper has finished since it started: ok, failed. */
void	reload_totals(const struct gw *, unsigned long long *,
	    unsigned long long *);
/* ... of which failed and left nothing serving. */
unsigned long long reload_down_total(const struct gw *);

/* Bounds on the phases that do not have a setting of their own. */
#define RELOAD_SETTLE_MAX	5.0	/* previous new master to vanish */
#define RELOAD_FORK_MAX		3.0	/* new master to appear */
#define RELOAD_PROMOTE_MAX	3.0	/* new master to take the pidfile */
#define RELOAD_POLL_FAST	0.01
#define RELOAD_POLL		0.05
/* s into a drain during which the old master's booting workers are killed
 * again each tick: gunicorn acts on SIGTERM within its 1 s sleep, and
 * spawns no more once it has. */
#define RELOAD_RESPAWN_WINDOW	2.0
/* s an aborted new master with no process left under it may take to exit
 * after SIGTERM before it is killed: with no worker there is nothing to
 * drain, and gunicorn acts on SIGTERM within its 1 s sleep unless it is
 * stuck (in a hook, or halting after a worker failed to boot). */
#define RELOAD_ABORT_GRACE	5.0

/* A running reload, as the control socket reports its progress. */
struct reload_progress {
	unsigned	 id;
	const char	*phase;		/* reload_state_name() */
	double		 elapsed;	/* s since it began */
	double		 budget;	/* s: the warm-up budget */
	double		 phase_elapsed;	/* s in this phase */
	double		 phase_length;	/* s it may take: the warm-up
					 * budget, the probation; -1 */
	int		 ready;		/* new workers ready */
	int		 workers;	/* new workers seen */
	pid_t		 new_master;	/* 0 until known */
};
/* 0 and p filled while a reload runs; -1 when idle. */
int	reload_progress(const struct gw *, struct reload_progress *);

#endif
