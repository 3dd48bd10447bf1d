/*
 * reload.h: the zero-downtime reload, as an explicit state machine.
 *
 *   idle -> [settling] -> forking -> warming -> [probation] -> draining
 *                            |          |            |              |
 *                            +----------+------------+--> aborting  v
 *                                                  -> idle (failed) promoting
 *                                                                   -> idle (ok)
 *
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
 */
#ifndef GW_RELOAD_H
#define GW_RELOAD_H

#include "history.h"

struct gw;
struct master;

typedef void (*reload_done_cb)(struct gw *, const struct reload_entry *,
    void *);

void	reload_init(struct gw *);
void	reload_free(struct gw *);
/* Ask for a reload; returns the id of the reload that will include it,
 * or 0 (logged, callback not called) when none can run now. */
unsigned reload_request(struct gw *, enum reload_trigger, reload_done_cb,
	    void *);
/* Forget a waiter (its client went away); the reload carries on. */
void	reload_forget(struct gw *, void *);
/* At start, the adopted master has a new master of a reload that the
 * previous wrapper did not finish: finish it (warm-up on), under the id
 * the record gave it (0: a new one). */
void	reload_resume(struct gw *, pid_t, unsigned);
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
/* Among parent's children, the new master of a reload of old, by
 * lineage (see reload.c): old's proc_arg_start, SIGUSR2's tick. */
pid_t	reload_find_new_master(struct gw *, pid_t, pid_t, unsigned long long,
	    unsigned long long);
/* The first generation is up: start a reload requested during boot. */
void	reload_boot_done(struct gw *);
/* A master exited: the reload's bookkeeping, before server.c decides. */
void	reload_master_exited(struct gw *, struct master *);
/* A child that is not a master was reaped (the pre-flight check). */
void	reload_child_exited(struct gw *, pid_t, int);
/* The wrapper is stopping: end the reload, failed, touching no master. */
void	reload_abandon(struct gw *, const char *);
int	reload_running(const struct gw *);
int	reload_pending(const struct gw *);
/* The new master of the running reload, or NULL. */
struct master *reload_new_master(const struct gw *);
const char *reload_state_name(const struct gw *);

/* Bounds on the phases that do not have a setting of their own. */
#define RELOAD_SETTLE_MAX	5.0	/* previous new master to vanish */
#define RELOAD_FORK_MAX		3.0	/* new master to appear */
#define RELOAD_PROMOTE_MAX	3.0	/* new master to take the pidfile */
#define RELOAD_POLL_FAST	0.01
#define RELOAD_POLL		0.05

/* A running reload, as the control socket reports its progress. */
struct reload_progress {
	unsigned	 id;
	const char	*phase;		/* reload_state_name() */
	double		 elapsed;	/* s since it began */
	double		 budget;	/* s: the warm-up budget */
	int		 ready;		/* new workers ready */
	int		 workers;	/* new workers seen */
};
/* 0 and p filled while a reload runs; -1 when idle. */
int	reload_progress(const struct gw *, struct reload_progress *);

#endif
