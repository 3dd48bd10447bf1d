/* SPDX-License-Identifier: MIT */
/*
 * reload.c: the reload state machine (see reload.h for the states).
 *
 * The rule it exists for: never trade a healthy old generation for a
 * broken new one.  The old master is only told to stop once every worker
 * of the new generation has shown gunicorn's heartbeat; until then any
 * failure (the new master exits, the budget runs out) stops the new
 * generation and leaves the old one exactly as it was.
 *
 * All transitions go through reload_set_state(), which checks the range,
 * logs them and charges the time spent to the phase just left (one
 * setter, one array).  Every event (reload.h's enum reload_event: a
 * request, a kick, a timer, the probe's verdict, a master's exit, the
 * check's exit, a stop) first asks the [state][event] table
 * (reload_decide(), unit-tested row by row in tests/unit/test_reload.c),
 * then does its state's part in a switch over every state, without a
 * default, so the compiler points at any pair that has not been decided.
 *
 * It sits below server.c and calls nothing there: the serving master,
 * the record and the wrapper's fate change through struct reload_hooks,
 * and a reload's end reaches server.c from a deferred event (done_ev),
 * on a fresh stack, never from inside this machinery.
 */
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctlsock.h"
#include "gunicorn.h"
#include "gw.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "ready.h"
#include "release.h"
#include "reload.h"
#include "xmalloc.h"

static const char *const reload_state_names[RS_COUNT] = {
	[RS_IDLE] =		"idle",
	[RS_CHECKING] =		"checking",
	[RS_SETTLING] =		"settling",
	[RS_FORKING] =		"forking",
	[RS_WARMING] =		"warming",
	[RS_PROBATION] =	"probation",
	[RS_DRAINING] =		"draining",
	[RS_PROMOTING] =	"promoting",
	[RS_ABORTING] =		"aborting",
};

static const char *const reload_event_names[RE_COUNT] = {
	[RE_REQUEST] =		"request",
	[RE_KICK] =		"kick",
	[RE_TIMER] =		"timer",
	[RE_READY] =		"ready",
	[RE_NEW_EXIT] =		"new master exit",
	[RE_OLD_EXIT] =		"old master exit",
	[RE_CHECK_EXIT] =	"check exit",
	[RE_STOP] =		"stop",
};

static const char *const reload_action_names[RA_COUNT] = {
	[RA_IGNORE] =		"ignore",
	[RA_BEGIN] =		"begin",
	[RA_QUEUE] =		"queue",
	[RA_HANDLE] =		"handle",
};

/*
 * Every (state, event) pair, decided.  Each handler asks the table first
 * and then does its state's part in one exhaustive switch.  RA_IGNORE is
 * a decision too: a probe's verdict after the reload moved on, a timer of
 * a state with none (idle; warming, where the probe keeps time), a new
 * master's exit before there is one, the old one's once promoting (it is
 * gone by then), a check's exit outside checking (a late reap).
 */
#define I	RA_IGNORE
#define B	RA_BEGIN
#define Q	RA_QUEUE
#define H	RA_HANDLE
static const enum reload_action reload_table[RS_COUNT][RE_COUNT] = {
	/*		request	kick	timer	ready	newexit	oldexit	check	stop */
	[RS_IDLE] =	{ B,	B,	I,	I,	I,	I,	I,	I },
	[RS_CHECKING] =	{ Q,	I,	H,	I,	I,	H,	H,	H },
	[RS_SETTLING] =	{ Q,	I,	H,	I,	I,	H,	I,	H },
	[RS_FORKING] =	{ Q,	I,	H,	I,	I,	H,	I,	H },
	[RS_WARMING] =	{ Q,	I,	I,	H,	H,	H,	I,	H },
	[RS_PROBATION] = { Q,	I,	H,	H,	H,	H,	I,	H },
	[RS_DRAINING] =	{ Q,	I,	H,	I,	H,	H,	I,	H },
	[RS_PROMOTING] = { Q,	I,	H,	I,	H,	I,	I,	H },
	[RS_ABORTING] =	{ Q,	I,	H,	I,	H,	H,	I,	H },
};
#undef I
#undef B
#undef Q
#undef H

enum reload_action
reload_decide(enum reload_state s, enum reload_event ev)
{
	if ((unsigned)s >= RS_COUNT || (unsigned)ev >= RE_COUNT)
		return RA_IGNORE;
	return reload_table[s][ev];
}

const char *
reload_state_str(enum reload_state s)
{
	return (unsigned)s < RS_COUNT ? reload_state_names[s] : "?";
}

const char *
reload_event_str(enum reload_event ev)
{
	return (unsigned)ev < RE_COUNT ? reload_event_names[ev] : "?";
}

const char *
reload_action_str(enum reload_action a)
{
	return (unsigned)a < RA_COUNT ? reload_action_names[a] : "?";
}

enum reload_phase
reload_phase_of(enum reload_state s)
{
	static const enum reload_phase phase[RS_COUNT] = {
		[RS_IDLE] =		PHASE_COUNT,
		[RS_CHECKING] =		PHASE_CHECK,
		[RS_SETTLING] =		PHASE_SETTLE,
		[RS_FORKING] =		PHASE_FORK,
		[RS_WARMING] =		PHASE_WARMUP,
		[RS_PROBATION] =	PHASE_PROBATION,
		[RS_DRAINING] =		PHASE_DRAIN,
		[RS_PROMOTING] =	PHASE_PROMOTE,
		[RS_ABORTING] =		PHASE_COUNT,
	};

	return (unsigned)s < RS_COUNT ? phase[s] : PHASE_COUNT;
}

int
reload_set_phase_time(struct reload_entry *e, enum reload_state s, double t)
{
	enum reload_phase	p = reload_phase_of(s);

	if (p == PHASE_COUNT)
		return -1;
	e->t_phase[p] = t;
	return 0;
}


struct waiter {
	unsigned		 id;
	reload_done_cb		 cb;
	void			*arg;
	TAILQ_ENTRY(waiter)	 entry;
};

struct reload {
	enum reload_state	 state;
	unsigned		 next_id;	/* id of the next reload */
	unsigned long long	 n_ok, n_failed;	/* finished by us */
	unsigned long long	 n_down;	/* ... failed, nothing serving */
	int			 doomed;	/* nothing will serve after */
	int			 pending;	/* queued for after this one */
	enum reload_trigger	 pending_trigger;

	struct reload_entry	*e;		/* running entry, in history */
	struct master		*old, *new;
	unsigned long long	 usr2_tick;	/* SIGUSR2 sent (start-time clock) */
	unsigned long long	 old_arg;	/* old master's proc_arg_start */
	pid_t			 prev_new;	/* last failed new master */
	unsigned long long	 prev_new_start;	/* ... its start time */
	struct ready		*probe;
	int			 old_lost;	/* old died mid-reload */
	int			 old_code;	/* ... with this exit code */

	double			 t0, phase_t0, deadline;
	/* The settings (`gwctl set`), fixed as it opens: a change applies
	 * to the next reload, never halfway through this one. */
	double			 budget;	/* warm-up s */
	double			 probation;	/* s; 0: none */
	struct event		*timer;		/* phase ticks, deadlines */

	pid_t			 check_pid;	/* gunicorn --check-config */
	int			 check_fd;	/* its output */
	struct event		*check_ev;
	char			 check_out[4096];
	size_t			 check_len;
	struct event		*kick;		/* deferred start */
	struct reload_hooks	 hooks;		/* to server.c: reload.h */
	struct reload_outcome	 outcome;	/* the last end, ... */
	struct event		*done_ev;	/* ... delivered from here */
	TAILQ_HEAD(, waiter)	 waiters;
	struct ctlsock		 ctl;		/* gunicorn 25+'s, moved aside */

	/* Release mode (release.h): the release this reload deploys and
	 * the one a queued reload will (NULL: the serving one); the new
	 * generation's own pidfile and control socket, renamed to the
	 * stable names once it serves alone; the link moved to target. */
	char			*target;
	char			*pending_target;
	char			*gen_pidfile;
	char			*gen_ctl;
	int			 committed;
};

static void	reload_begin(struct gw *, enum reload_trigger, char *);
static void	reload_fork(struct gw *);
static void	reload_fail(struct gw *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	reload_finish(struct gw *, enum reload_result);
static void	reload_check(struct gw *);
static void	ready_result_cb(struct gw *, enum ready_result, void *);
static void	reload_settle_or_fork(struct gw *);
static void	reload_spawn(struct gw *);
static void	reload_names_take(struct gw *, const char *, const char *);
static void	reload_gen_names(struct gw *, unsigned, char **, char **);
static void	reload_uncommit(struct gw *);
static void	check_done(struct gw *);

/*
 * The table's word on ev in the current state, for a handler: 1 when the
 * state handles it, 0 when it ignores it.  RA_BEGIN and RA_QUEUE are the
 * words of requests and kicks only, which ask reload_decide() themselves.
 */
static int
reload_handles(const struct gw *gw, enum reload_event ev)
{
	enum reload_state	s = gw->reload->state;
	enum reload_action	a = reload_decide(s, ev);

	switch (a) {
	case RA_HANDLE:
		return 1;
	case RA_IGNORE:
		log_debug("reload: %s ignored while %s", reload_event_str(ev),
		    reload_state_str(s));
		return 0;
	case RA_BEGIN:
	case RA_QUEUE:
	case RA_COUNT:
		break;
	}
	fatalx("reload: %s while %s: %s is not for this handler",
	    reload_event_str(ev), reload_state_str(s), reload_action_str(a));
}

static void
reload_arm(struct reload *r, double after)
{
	struct timeval	tv = clock_tv(after);

	if (event_add(r->timer, &tv) == -1)
		fatalx("reload: event_add failed");
}

static void
reload_set_state(struct gw *gw, enum reload_state to)
{
	struct reload	*r = gw->reload;
	double		 now = now_mono(), spent = now - r->phase_t0;

	if ((unsigned)to >= RS_COUNT)
		fatalx("reload: no state %d", (int)to);
	if (r->e != NULL) {
		(void)reload_set_phase_time(r->e, r->state, spent);
		log_debug("reload %u: %s -> %s", r->e->id,
		    reload_state_str(r->state), reload_state_str(to));
	}
	r->state = to;
	r->phase_t0 = now;
	event_del(r->timer);
	r->hooks.record(gw);	/* a phase the next wrapper must know of */
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct reload	*r = gw->reload;
	char		*target;

	(void)fd;
	(void)what;
	/* Begun already by a request, or no longer wanted. */
	if (reload_decide(r->state, RE_KICK) != RA_BEGIN || !r->pending ||
	    gw->state != GW_RUNNING)
		return;
	r->pending = 0;
	target = r->pending_target;	/* reload_begin's now */
	r->pending_target = NULL;
	reload_begin(gw, r->pending_trigger, target);
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct reload	*r = gw->reload;

	(void)fd;
	(void)what;
	r->hooks.done(gw, &r->outcome);
}

static void	timer_cb(evutil_socket_t, short, void *);

void
reload_init(struct gw *gw, const struct reload_hooks *hooks)
{
	struct reload	*r;

	r = xcalloc(1, sizeof *r);
	r->state = RS_IDLE;
	r->next_id = history_next_id(&gw->history);
	r->check_fd = -1;
	TAILQ_INIT(&r->waiters);
	r->timer = event_new(gw->base, -1, 0, timer_cb, gw);
	r->kick = event_new(gw->base, -1, 0, kick_cb, gw);
	r->done_ev = event_new(gw->base, -1, 0, done_cb, gw);
	r->hooks = *hooks;
	if (r->timer == NULL || r->kick == NULL || r->done_ev == NULL)
		fatalx("reload: event_new failed");
	gw->reload = r;
}

void
reload_free(struct gw *gw)
{
	struct reload	*r = gw->reload;
	struct waiter	*w;

	if (r == NULL)
		return;
	while ((w = TAILQ_FIRST(&r->waiters)) != NULL) {
		TAILQ_REMOVE(&r->waiters, w, entry);
		free(w);
	}
	ready_free(r->probe);
	event_free(r->timer);
	event_free(r->kick);
	event_free(r->done_ev);
	ctlsock_clear(&r->ctl);
	free(r->target);
	free(r->pending_target);
	free(r->gen_pidfile);
	free(r->gen_ctl);
	free(r);
	gw->reload = NULL;
}

int
reload_running(const struct gw *gw)
{
	return gw->reload->state != RS_IDLE;
}

int
reload_pending(const struct gw *gw)
{
	return gw->reload->pending;
}

/*
 * Who is what, as an operator means it: the old generation serves until it
 * is sent SIGTERM (draining), and from then on the new one does, though
 * gw->cur moves only when the old master has exited (reload_promote).
 */
void
reload_roles(const struct gw *gw, struct reload_roles *ro)
{
	const struct reload	*r = gw->reload;

	ro->serving = gw->cur;
	ro->incoming = ro->outgoing = NULL;
	switch (r->state) {
	case RS_IDLE:
	case RS_CHECKING:
	case RS_SETTLING:
		break;
	case RS_FORKING:
	case RS_WARMING:
	case RS_PROBATION:
	case RS_ABORTING:
		ro->incoming = r->new != gw->cur ? r->new : NULL;
		break;
	case RS_DRAINING:
	case RS_PROMOTING:
		if (r->new != NULL)
			ro->serving = r->new;
		if (r->old != NULL && r->old != ro->serving && !r->old->exited)
			ro->outgoing = r->old;
		break;
	case RS_COUNT:
		break;
	}
	if (ro->incoming != NULL && ro->incoming->exited)
		ro->incoming = NULL;
}

void
reload_notify_status(struct gw *gw)
{
	const struct reload_entry	*e;
	struct notify_summary		 s;
	struct reload_roles		 ro;
	pid_t				*kids, except;
	unsigned			 h;

	if (gw->notify_fd == -1)
		return;
	memset(&s, 0, sizeof s);
	reload_roles(gw, &ro);
	except = ro.incoming != NULL ? ro.incoming->pid : 0;
	s.state = gw->state == GW_RUNNING && reload_running(gw) ?
	    "reloading" : gw_state_name(gw->state);
	if (reload_running(gw) && gw->reload->e != NULL) {
		s.reload_id = gw->reload->e->id;
		s.phase = reload_state_str(gw->reload->state);
	}
	if (ro.serving != NULL && !ro.serving->exited) {
		s.master = ro.serving->pid;
		kids = ready_http_workers(s.master, except, &s.workers, NULL,
		    NULL);
		free(kids);
	}
	for (h = gw->history.count; h > 0; h--) {
		e = history_at(&gw->history, h - 1);
		if (e->result != RESULT_RUNNING) {
			s.last_id = e->id;
			s.last_result = history_result_name(e->result);
			break;
		}
	}
	notify_status(gw, &s);
}

const char *
reload_target(const struct gw *gw)
{
	return gw->reload->state != RS_IDLE ? gw->reload->target : NULL;
}

const char *
reload_queued_target(const struct gw *gw)
{
	return gw->reload->pending ? gw->reload->pending_target : NULL;
}

const char *
reload_state_name(const struct gw *gw)
{
	return reload_state_str(gw->reload->state);
}

void
reload_totals(const struct gw *gw, unsigned long long *ok,
    unsigned long long *failed)
{
	*ok = gw->reload->n_ok;
	*failed = gw->reload->n_failed;
}

unsigned long long
reload_down_total(const struct gw *gw)
{
	return gw->reload->n_down;
}

unsigned
reload_request(struct gw *gw, enum reload_trigger trigger, reload_done_cb cb,
    void *arg)
{
	return reload_request_release(gw, trigger, NULL, cb, arg);
}

unsigned
reload_request_release(struct gw *gw, enum reload_trigger trigger,
    const char *release, reload_done_cb cb, void *arg)
{
	struct reload	*r = gw->reload;
	struct waiter	*w;
	unsigned	 id;
	int		 now;

	/* Now, or queued behind the reload that runs (or behind the boot). */
	now = reload_decide(r->state, RE_REQUEST) == RA_BEGIN &&
	    gw->state == GW_RUNNING;
	if (gw->state == GW_STOPPING ||
	    (gw->cur == NULL && r->state == RS_IDLE)) {
		log_warnx("reload requested by %s: refused, %s",
		    history_trigger_name(trigger), gw->state == GW_STOPPING ?
		    "the wrapper is stopping" : "no gunicorn master is running");
		return 0;
	}
	if (now) {
		id = r->next_id;
		log_info("reload %u: requested by %s", id,
		    history_trigger_name(trigger));
	} else {
		/* Coalesce: every request now joins the one queued reload. */
		id = r->next_id;
		if (!r->pending) {
			r->pending = 1;
			r->pending_trigger = trigger;
			log_info("reload %u queued (requested by %s while %s)",
			    id, history_trigger_name(trigger),
			    r->state == RS_IDLE ? "starting" :
			    "a reload runs");
		} else
			log_info("reload %u: request by %s coalesced", id,
			    history_trigger_name(trigger));
		/* The last release asked for is the one it deploys. */
		if (release != NULL) {
			free(r->pending_target);
			r->pending_target = xstrdup(release);
			log_info("reload %u will deploy %s", id, release);
		}
	}
	if (cb != NULL) {
		w = xcalloc(1, sizeof *w);
		w->id = id;
		w->cb = cb;
		w->arg = arg;
		TAILQ_INSERT_TAIL(&r->waiters, w, entry);
	}
	if (now)
		reload_begin(gw, trigger, release != NULL ? xstrdup(release) :
		    NULL);
	return id;
}

void
reload_forget(struct gw *gw, void *arg)
{
	struct reload	*r = gw->reload;
	struct waiter	*w, *tmp;

	TAILQ_FOREACH_SAFE(w, &r->waiters, entry, tmp) {
		if (w->arg == arg) {
			TAILQ_REMOVE(&r->waiters, w, entry);
			free(w);
		}
	}
}

void
reload_boot_done(struct gw *gw)
{
	struct reload	*r = gw->reload;

	if (r->pending)
		event_active(r->kick, 0, 0);
}

static void
reload_remember_new(struct reload *r, pid_t pid)
{
	r->prev_new = pid;
	r->prev_new_start = pid != 0 ? proc_starttime(pid) : 0;
}

/*
 * gunicorn ignores SIGUSR2 ("Child exists") while the master still has a
 * new master from an earlier reload, even one that has exited and that it
 * has not reaped yet.  That is the last failed new master (until it is
 * gone from /proc), or a stray one: a new master forked after we gave up
 * looking for it, which serves unverified; stop that one.
 */
static pid_t
reload_blocker(struct gw *gw)
{
	struct reload	*r = gw->reload;
	pid_t		 stray;

	if (r->prev_new != 0) {
		if (proc_exists(r->prev_new) &&
		    proc_starttime(r->prev_new) == r->prev_new_start)
			return r->prev_new;
		reload_remember_new(r, 0);
	}
	if ((stray = reload_find_new_master(gw, r->old->pid, r->old->pid,
	    r->old_arg, 0)) != 0) {
		log_warnx("reload %u: master %d already has a new master %d "
		    "that no reload verified: stopping it", r->e->id,
		    (int)r->old->pid, (int)stray);
		if (kill(stray, SIGTERM) == -1 && errno != ESRCH)
			log_warn("kill %d", (int)stray);
		reload_remember_new(r, stray);
		return stray;
	}
	return 0;
}

/* A new history entry for the reload of the current master; in release
 * mode it deploys target (owned from here; NULL: the serving release). */
static void
reload_open(struct gw *gw, enum reload_trigger trigger, char *target)
{
	struct reload	*r = gw->reload;

	r->pending = 0;		/* this reload serves every request so far */
	free(r->pending_target);
	r->pending_target = NULL;
	free(r->target);
	r->target = NULL;
	r->committed = 0;
	if (gw->release != NULL)
		r->target = target != NULL ? target : xstrdup(gw->release);
	else
		free(target);
	r->e = history_add(&gw->history, r->next_id++, trigger);
	if (r->target != NULL) {
		r->e->release = xstrdup(r->target);
		r->e->old_release = xstrdup(gw->release);
	}
	r->e->old_master = gw->cur->pid;
	r->old = gw->cur;
	r->new = NULL;
	r->usr2_tick = 0;
	r->old_arg = proc_arg_start(gw->cur->pid);
	r->old_lost = 0;
	r->t0 = r->phase_t0 = now_mono();
	r->budget = gw->cfg.warmup;
	r->probation = gw->cfg.probation;
}

/* The new master is watched: follow its generation's warm-up. */
static void
reload_warm(struct gw *gw)
{
	struct reload	*r = gw->reload;

	reload_set_state(gw, RS_WARMING);
	r->probe = ready_start(gw, r->new->pid, gw->cfg.ready, r->budget,
	    ready_result_cb, gw);
	/* A reload fails fast, and watches for crashes after ready. */
	ready_set_failfast(r->probe, 1);
}

static void
reload_begin(struct gw *gw, enum reload_trigger trigger, char *target)
{
	struct reload	*r = gw->reload;

	reload_open(gw, trigger, target);
	if (gw->ready_sent) {
		notify_send(gw, "RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)(now_mono() * 1e6));
		reload_notify_status(gw);
	}
	log_event(LOG_LEVEL_INFO, &(struct log_event){ .event = "reload_start",
	    .reload_id = r->e->id, .old_master = (int)r->old->pid },
	    "reload %u: starting, master %d, warm-up budget %g s (%s)%s%s",
	    r->e->id, (int)r->old->pid, r->budget,
	    options_ready_name(gw->cfg.ready), r->target != NULL ?
	    ", release " : "", r->target != NULL ? r->target : "");
	if (gw->cfg.preflight) {
		reload_check(gw);
		return;
	}
	reload_settle_or_fork(gw);
}

/*
 * The previous wrapper was killed in the middle of a reload: the master
 * we adopted has a new master of its own.  Carry the reload on from the
 * warm-up: if the new generation is (or becomes) ready, the old master is
 * retired as usual; if not, it is stopped and the old one serves on.  If
 * the old master was already draining, it exits and the new one takes
 * over once ready, as with an old master dying mid-reload.
 */
void
reload_resume(struct gw *gw, pid_t pid, unsigned id, const char *target)
{
	struct reload	*r = gw->reload;

	if (id != 0 && id >= r->next_id)
		r->next_id = id;	/* the interrupted reload keeps its id */
	reload_open(gw, TRIGGER_SIGNAL, target != NULL && *target != '\0' ?
	    xstrdup(target) : NULL);
	r->e->new_master = pid;
	r->e->note = xstrdup("resumed by a new wrapper after the previous "
	    "one was killed");
	if (r->target != NULL) {
		free(r->gen_pidfile);
		free(r->gen_ctl);
		reload_gen_names(gw, r->e->id, &r->gen_pidfile, &r->gen_ctl);
	}
	log_info("reload %u: master %d has a new master %d from an "
	    "unfinished reload: resuming its warm-up", r->e->id,
	    (int)r->old->pid, (int)pid);
	if ((r->new = master_watch(gw, pid, 1)) == NULL) {
		reload_fail(gw, "new master %d of the unfinished reload is "
		    "gone", (int)pid);
		return;
	}
	reload_warm(gw);
}

/*
 * The previous wrapper was killed after it sent SIGUSR2, before it saw
 * the new master: carry on from the forking phase, with the SIGUSR2's
 * time as the previous wrapper recorded it (the new master may still be
 * between its fork and its exec, in gunicorn's pre_exec hook).
 */
void
reload_resume_forking(struct gw *gw, unsigned id, unsigned long long tick)
{
	struct reload	*r = gw->reload;

	if (id != 0 && id >= r->next_id)
		r->next_id = id;
	reload_open(gw, TRIGGER_SIGNAL, NULL);
	r->e->note = xstrdup("resumed by a new wrapper after the previous "
	    "one was killed");
	r->usr2_tick = tick;
	log_info("reload %u: master %d was sent SIGUSR2 by the previous "
	    "wrapper: looking for its new master", r->e->id,
	    (int)r->old->pid);
	reload_set_state(gw, RS_FORKING);
	r->deadline = now_mono() + RELOAD_FORK_MAX;
	reload_arm(r, RELOAD_POLL_FAST);
}

/*
 * The outcome, once: info when it is ok, err when it failed (the old
 * generation may still serve, but what was deployed is not running), with
 * its fields for a log shipper.
 */
static void
reload_log_outcome(const struct reload_entry *e, const char *what)
{
	struct log_event ev = {
		.reload_id = e->id,
		.has_duration = 1,
		.duration_s = e->duration,
		.old_master = (int)e->old_master,
		.new_master = (int)e->new_master,
	};

	if (e->result == RESULT_OK) {
		ev.event = "reload_ok";
		ev.result = "ok";
		log_event(LOG_LEVEL_INFO, &ev, "reload %u ok: %s", e->id, what);
	} else {
		ev.event = "reload_failed";
		ev.result = "failed";
		ev.reason = what;
		log_event(LOG_LEVEL_ERROR, &ev, "reload %u failed: %s", e->id,
		    what);
	}
}

/* One more finished reload for status's totals. */
static void
reload_count(struct reload *r, const struct reload_entry *e)
{
	if (e->result == RESULT_OK)
		r->n_ok++;
	else if (e->result == RESULT_FAILED) {
		r->n_failed++;
		r->n_down += e->down != 0;
	}
}

/*
 * A reload the previous wrapper began and this one cannot carry on (it
 * had not sent SIGUSR2, or its new master is gone, or it was already
 * being aborted): it goes into the history under its own id with what
 * this wrapper found, and later reloads take the ids after it.
 */
void
reload_interrupted(struct gw *gw, unsigned id, pid_t old, pid_t new,
    enum reload_result result, const char *fmt, ...)
{
	struct reload		*r = gw->reload;
	struct reload_entry	*e;
	va_list			 ap;
	char			*what;

	if (id == 0 || id < r->next_id)
		return;		/* already in the history, or none */
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	r->next_id = id + 1;
	e = history_add(&gw->history, id, TRIGGER_SIGNAL);
	e->duration = 0;
	e->result = result;
	e->old_master = old;
	e->new_master = new;
	if (result == RESULT_OK)
		e->note = what;
	else
		e->reason = what;
	(void)history_append(&gw->history, gw->cfg.history, e);
	reload_count(r, e);
	reload_log_outcome(e, what);
}

void
reload_record(const struct gw *gw, struct ledger *l)
{
	const struct reload	*r = gw->reload;

	l->reload_id = 0;
	l->phase[0] = '\0';
	l->usr2_tick = 0;
	l->old = l->new = 0;
	l->old_start = l->new_start = 0;
	l->target[0] = '\0';
	if (r == NULL || r->state == RS_IDLE || r->e == NULL)
		return;
	if (r->target != NULL)
		snprintf(l->target, sizeof l->target, "%s", r->target);
	l->reload_id = r->e->id;
	/* SIGUSR2 is on its way: the next wrapper must look for a new
	 * master even if we die before we say "forking". */
	snprintf(l->phase, sizeof l->phase, "%s",
	    reload_state_names[r->state < RS_FORKING && r->usr2_tick != 0 ?
	    RS_FORKING : r->state]);
	l->usr2_tick = r->usr2_tick;
	if (r->old != NULL) {
		l->old = r->old->pid;
		l->old_start = r->old->start;
	}
	if (r->new != NULL) {
		l->new = r->new->pid;
		l->new_start = r->new->start;
	}
}

/* After the check, if any: wait for an earlier new master, or fork. */
static void
reload_settle_or_fork(struct gw *gw)
{
	struct reload	*r = gw->reload;

	if (gw->release != NULL) {
		reload_spawn(gw);
		return;
	}
	if (reload_blocker(gw) != 0) {
		reload_set_state(gw, RS_SETTLING);
		r->deadline = now_mono() + RELOAD_SETTLE_MAX;
		reload_arm(r, RELOAD_POLL);
		return;
	}
	reload_fork(gw);
}

/*
 * Release mode: the new generation is a fresh gunicorn of the target
 * release, our own child, on the sockets the wrapper holds; its pidfile
 * and control socket have names of its own until it serves alone.
 */
static void
reload_spawn(struct gw *gw)
{
	struct reload	*r = gw->reload;
	char		**argv;

	if (gw->listeners.n == 0) {
		reload_fail(gw, "the wrapper holds no listening sockets to "
		    "start a new generation on (see the log at its start): "
		    "restart the program to deploy");
		return;
	}
	free(r->gen_pidfile);
	free(r->gen_ctl);
	reload_gen_names(gw, r->e->id, &r->gen_pidfile, &r->gen_ctl);
	argv = release_argv(gw, r->target, r->gen_pidfile, r->gen_ctl);
	r->new = gunicorn_spawn(gw, argv, r->target);
	release_argv_free(argv);
	if (r->new == NULL) {
		reload_fail(gw, "cannot start a gunicorn from release %s",
		    r->target);
		return;
	}
	r->e->new_master = r->new->pid;
	log_info("reload %u: new master %d, a fresh gunicorn of release %s",
	    r->e->id, (int)r->new->pid, r->target);
	reload_warm(gw);
}

static void
reload_fork(struct gw *gw)
{
	struct reload	*r = gw->reload;

	reload_remember_new(r, 0);
	/* On record before the signal: a wrapper killed right after it
	 * leaves the next one the time to look for the new master from. */
	r->usr2_tick = proc_now_ticks();
	r->hooks.record(gw);
	if (master_signal(r->old, SIGUSR2) == -1) {
		reload_fail(gw, "cannot send SIGUSR2 to master %d: %s",
		    (int)r->old->pid, strerror(errno));
		return;
	}
	reload_set_state(gw, RS_FORKING);
	r->deadline = now_mono() + RELOAD_FORK_MAX;
	reload_arm(r, RELOAD_POLL_FAST);
}

/*
 * gunicorn 25+'s dirty arbiter is forked by the master (not exec'd), holds
 * the listeners it inherited and has children of its own, as a new master
 * has: what tells it apart is the dirty workers' heartbeat files it holds.
 */
static int
is_dirty_arbiter(pid_t master, pid_t pid)
{
	pid_t	arb = ready_dirty_arbiter(master, 0);

	return arb != 0 && arb == pid;
}

/*
 * The new master of a reload of old, by lineage: a child of parent (old
 * itself, or us once old died and its orphans came to us) that started
 * at or after since (the SIGUSR2, on the start-time clock; 0: any time),
 * is neither a master we watch nor a zombie, and shows a fact only a new
 * master has: gunicorn named it in PIDFILE.2; it exec'd since its fork
 * (its argv is not where old's was, old_arg, as a forked worker's is); or
 * it has children of its own while holding the app's listening sockets.
 * GUNICORN_PID=old in its environment counts too, as a hint that is
 * there before setproctitle blanks it.
 */
pid_t
reload_find_new_master(struct gw *gw, pid_t parent, pid_t old,
    unsigned long long old_arg, unsigned long long since)
{
	const char		*errstr;
	const struct ledger	*l = &gw->ledger;
	pid_t			*kids, *grand, found = 0, pid2;
	size_t			 i, n, ng;
	unsigned long long	 arg;

	if (proc_children(parent, &kids, &n) == -1)
		return 0;
	pid2 = pidfile_read(gw->cfg.pidfile2, &errstr);
	for (i = 0; i < n && found == 0; i++) {
		if (master_find(gw, kids[i]) != NULL ||
		    proc_is_zombie(kids[i]) ||
		    (since != 0 && proc_starttime(kids[i]) < since))
			continue;
		arg = proc_arg_start(kids[i]);
		if (kids[i] == pid2 || proc_env_reexec_of(kids[i], old) == 1 ||
		    (arg != 0 && old_arg != 0 && arg != old_arg))
			found = kids[i];
		else if (proc_children(kids[i], &grand, &ng) == 0) {
			if (ng > 0 && (l->nlisteners == 0 || proc_holds_any(
			    kids[i], l->listeners, l->nlisteners)) &&
			    !is_dirty_arbiter(parent, kids[i]))
				found = kids[i];
			free(grand);
		}
	}
	free(kids);
	return found;
}

/*
 * The new master of an adopted old master that died while forking: it
 * re-parented to PID 1, not to us.  PIDFILE.2 names it, and the facts
 * prove it: ours, started after the SIGUSR2, holding the app's listeners.
 */
static pid_t
reload_orphan_new_master(struct gw *gw)
{
	struct reload		*r = gw->reload;
	const struct ledger	*l = &gw->ledger;
	const char		*errstr;
	pid_t			 pid;

	if ((pid = pidfile_read(gw->cfg.pidfile2, &errstr)) <= 0 ||
	    proc_is_zombie(pid) || proc_uid(pid) != geteuid() ||
	    r->usr2_tick == 0 || proc_starttime(pid) < r->usr2_tick ||
	    l->nlisteners == 0 ||
	    !proc_holds_any(pid, l->listeners, l->nlisteners))
		return 0;
	return pid;
}

static void
forking_tick(struct gw *gw)
{
	struct reload	*r = gw->reload;
	pid_t		 pid;

	if ((pid = reload_find_new_master(gw, r->old->pid, r->old->pid,
	    r->old_arg, r->usr2_tick)) == 0) {
		if (now_mono() >= r->deadline) {
			reload_fail(gw, "no new master appeared within %g s "
			    "of SIGUSR2 (gunicorn ignores it while an earlier "
			    "new master exists, or before this master has "
			    "promoted itself)", RELOAD_FORK_MAX);
			return;
		}
		reload_arm(r, RELOAD_POLL_FAST);
		return;
	}
	r->e->new_master = pid;
	if ((r->new = master_watch(gw, pid, r->old->adopted)) == NULL) {
		reload_remember_new(r, pid);
		reload_fail(gw, "new master %d exited %.1f s after SIGUSR2, "
		    "before it could be watched", (int)pid,
		    now_mono() - r->t0);
		return;
	}
	log_info("reload %u: new master %d%s", r->e->id, (int)pid,
	    access(gw->cfg.pidfile2, F_OK) == 0 ? " (pidfile.2 written)" : "");
	if (r->target == NULL)	/* in place: the new master binds the path */
		ctlsock_park(&r->ctl, gw, r->e->id, r->old->pid);
	reload_warm(gw);
}

/*
 * Release mode: the generation that now serves alone takes the stable
 * names.  Its pidfile is renamed over the old one's.  gunicorn 25+ binds
 * its control socket again at its own path each time it forks a worker,
 * so the stable name becomes a symlink to that path (connect(2) follows
 * it), replaced with rename(2) like the release link.
 */
static void
reload_names_take(struct gw *gw, const char *pidfile, const char *ctl)
{
	char	*tmp;

	if (pidfile != NULL && rename(pidfile, gw->cfg.pidfile) == -1 &&
	    errno != ENOENT)
		log_warn("rename %s to %s", pidfile, gw->cfg.pidfile);
	if (ctl == NULL || gw->ctl_socket == NULL)
		return;
	xasprintf(&tmp, "%s.gw-tmp", gw->ctl_socket);
	(void)unlink(tmp);
	if (symlink(ctl, tmp) == -1 || rename(tmp, gw->ctl_socket) == -1) {
		log_warn("%s -> %s", gw->ctl_socket, ctl);
		(void)unlink(tmp);
	}
	free(tmp);
}

/* A generation's own names, from its reload's id. */
static void
reload_gen_names(struct gw *gw, unsigned id, char **pidfile, char **ctl)
{
	xasprintf(pidfile, "%s.%u", gw->cfg.pidfile, id);
	*ctl = NULL;
	if (gw->ctl_socket != NULL)
		xasprintf(ctl, "%s.%u", gw->ctl_socket, id);
}

void
reload_adopt_names(struct gw *gw, unsigned id)
{
	char	*pidfile, *ctl;

	if (gw->release == NULL || id == 0)
		return;
	reload_gen_names(gw, id, &pidfile, &ctl);
	reload_names_take(gw, pidfile, ctl);
	free(pidfile);
	free(ctl);
}

/* The new generation is ready: retire the old one, or it is gone already. */
static void
reload_promote(struct gw *gw)
{
	struct reload	*r = gw->reload;
	const char	*errstr;
	pid_t		 pid;

	r->hooks.serve(gw, r->new);
	if (r->target != NULL) {
		reload_names_take(gw, r->gen_pidfile, r->gen_ctl);
		reload_finish(gw, RESULT_OK);
		return;
	}
	/*
	 * The new master renames PIDFILE.2 to PIDFILE on its next loop once
	 * its parent is gone, and gives up ("Already running") if PIDFILE
	 * still names a live process.  The old master removed it on exit;
	 * if anything else is there now (someone rewrote it), clear it.
	 */
	pid = pidfile_read(gw->cfg.pidfile, &errstr);
	if (pid != -1 && pid != r->new->pid) {
		log_warnx("reload %u: pidfile %s names %d, not the new master "
		    "%d: removing it so the new master can take it",
		    r->e->id, gw->cfg.pidfile, (int)pid, (int)r->new->pid);
		if (unlink(gw->cfg.pidfile) == -1 && errno != ENOENT)
			log_warn("unlink %s", gw->cfg.pidfile);
	}
	ctlsock_restore(&r->ctl, r->new->pid);	/* the old master exited */
	/* SIGCHLD makes gunicorn look at once instead of within 1 s. */
	if (master_signal(r->new, SIGCHLD) == -1)
		log_warn("SIGCHLD to master %d", (int)r->new->pid);
	reload_set_state(gw, RS_PROMOTING);
	r->deadline = now_mono() + RELOAD_PROMOTE_MAX;
	reload_arm(r, RELOAD_POLL);
}

/*
 * The new generation died after its commit, while the old one drains:
 * nothing will serve, and the restart that follows must load the release
 * that served well, not the one that just died.
 */
static void
reload_uncommit(struct gw *gw)
{
	struct reload	*r = gw->reload;
	char		 err[2400];

	if (!r->committed || r->e->old_release == NULL ||
	    strcmp(r->e->old_release, gw->release) == 0)
		return;
	if (release_switch(gw, r->e->old_release, err, sizeof err) == -1) {
		log_warnx("reload %u: cannot put the link back: %s", r->e->id,
		    err);
		return;
	}
	free(gw->release);
	gw->release = xstrdup(r->e->old_release);
	r->committed = 0;
	r->hooks.record(gw);
}

/*
 * Release mode: the new generation has proved itself, so the link names
 * its release from now on, and the record says so before the old one is
 * told to go.  If the link cannot move, nothing has changed yet: fail.
 */
static int
reload_commit(struct gw *gw)
{
	struct reload	*r = gw->reload;
	char		 err[2400];

	if (r->target == NULL || r->committed)
		return 0;
	if (strcmp(r->target, gw->release) == 0) {
		r->committed = 1;	/* the same release again */
		return 0;
	}
	if (release_switch(gw, r->target, err, sizeof err) == -1) {
		reload_fail(gw, "cannot point %s at the new release: %s",
		    gw->cfg.link, err);
		return -1;
	}
	free(gw->release);
	gw->release = xstrdup(r->target);
	r->committed = 1;
	r->hooks.record(gw);
	return 0;
}

/* Ready and through probation (or none): retire the old generation. */
static void
reload_retire_old(struct gw *gw)
{
	struct reload	*r = gw->reload;

	ready_quiet(r->probe);
	if (reload_commit(gw) == -1)
		return;
	if (r->old_lost) {
		reload_promote(gw);
		return;
	}
	if (r->target == NULL)	/* release mode: its own name already */
		ctlsock_hide(&r->ctl, gw, r->e->id, r->new->pid);
	if (master_signal(r->old, SIGTERM) == -1)
		log_warn("SIGTERM to old master %d", (int)r->old->pid);
	else
		(void)ready_kill_booting(r->old->pid);
	reload_set_state(gw, RS_DRAINING);
	r->deadline = now_mono() + gw->cfg.stop_timeout;
	reload_arm(r, READY_TICK);
}

static void
ready_result_cb(struct gw *gw, enum ready_result res, void *arg)
{
	struct reload	*r = gw->reload;
	int		 nw, nr;

	(void)arg;
	if (!reload_handles(gw, RE_READY))
		return;		/* a verdict after the reload moved on */
	ready_counts(r->probe, &nw, &nr);
	switch (res) {
	case READY_TIMEOUT:
		reload_fail(gw, "not ready after %g s: %s", r->budget,
		    ready_reason(r->probe));
		return;
	case READY_FAILED:
		reload_fail(gw, "%s", ready_reason(r->probe));
		return;
	case READY_CRASH:
		reload_fail(gw, "%s %.1f s into %s: %s", r->state ==
		    RS_PROBATION ? "crash loop:" : "crash:",
		    now_mono() - r->phase_t0, reload_state_str(r->state),
		    ready_reason(r->probe));
		return;
	case READY_OK:
		break;
	}
	r->e->workers = nw;
	log_info("reload %u: new master %d ready: %d workers in %.2f s",
	    r->e->id, (int)r->new->pid, nw, now_mono() - r->phase_t0);
	/* Nothing else serves once the old master is gone: no probation.
	 * Nor in timer mode, which does not watch workers. */
	if (r->old_lost || r->probation <= 0 ||
	    gw->cfg.ready == READY_TIMER) {
		reload_retire_old(gw);
		return;
	}
	reload_set_state(gw, RS_PROBATION);
	reload_arm(r, r->probation);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct reload	*r = gw->reload;
	const char	*errstr;
	pid_t		 pid;

	(void)fd;
	(void)what;
	if (!reload_handles(gw, RE_TIMER))
		return;		/* warming: the probe keeps time */
	switch (r->state) {
	case RS_IDLE:
	case RS_COUNT:	/* none: reload_set_state() */
	case RS_WARMING:
		break;		/* the table ignores these */
	case RS_PROBATION:
		/* No worker died abnormally in the window. */
		log_info("reload %u: probation of %g s passed", r->e->id,
		    r->probation);
		reload_retire_old(gw);
		break;
	case RS_CHECKING:
		log_warnx("reload %u: check-config %d still running after "
		    "%g s: SIGKILL", r->e->id, (int)r->check_pid,
		    r->budget);
		if (kill(r->check_pid, SIGKILL) == -1 && errno != ESRCH)
			log_warn("kill %d", (int)r->check_pid);
		check_done(gw);
		reload_fail(gw, "pre-flight: gunicorn --check-config did not "
		    "finish within %g s", r->budget);
		break;
	case RS_SETTLING:
		if ((pid = reload_blocker(gw)) == 0) {
			reload_fork(gw);
		} else if (now_mono() >= r->deadline) {
			/* Forget it: a stuck PID must not block for ever. */
			reload_remember_new(r, 0);
			reload_fail(gw, "earlier new master %d still not "
			    "reaped by master %d after %g s", (int)pid,
			    (int)r->old->pid, RELOAD_SETTLE_MAX);
		} else
			reload_arm(r, RELOAD_POLL);
		break;
	case RS_FORKING:
		forking_tick(gw);
		break;
	case RS_DRAINING:
		if (now_mono() < r->deadline &&
		    now_mono() - r->phase_t0 < RELOAD_RESPAWN_WINDOW) {
			/*
			 * gunicorn replaces a worker that dies before it has
			 * acted on SIGTERM: a recycled worker's replacement,
			 * or one of the booting workers killed above.  Still
			 * importing, it would hold the old master's exit for a
			 * whole import.  Again, while gunicorn may still be
			 * spawning (it acts on SIGTERM within its 1 s sleep).
			 */
			(void)ready_kill_booting(r->old->pid);
			reload_arm(r, READY_TICK);
			break;
		}
		if (now_mono() < r->deadline) {
			reload_arm(r, r->deadline - now_mono());
			break;
		}
		/* The stop timeout ran out: no more waiting for requests. */
		log_warnx("reload %u: old master %d still running after %g s: "
		    "SIGKILL to it and its workers", r->e->id,
		    (int)r->old->pid, gw->cfg.stop_timeout);
		free(r->e->note);
		xasprintf(&r->e->note, "old master %d killed after the stop "
		    "timeout (%g s)", (int)r->old->pid, gw->cfg.stop_timeout);
		master_signal_children(r->old, r->new->pid, SIGKILL);
		if (master_signal(r->old, SIGKILL) == -1)
			log_warn("SIGKILL to master %d", (int)r->old->pid);
		r->deadline = now_mono() + gw->cfg.stop_timeout;
		reload_arm(r, READY_TICK);
		break;
	case RS_PROMOTING:
		if (pidfile_read(gw->cfg.pidfile, &errstr) == r->new->pid) {
			reload_finish(gw, RESULT_OK);
		} else if (now_mono() >= r->deadline) {
			log_warnx("reload %u: new master %d has not taken over "
			    "%s after %g s; it serves all the same",
			    r->e->id, (int)r->new->pid, gw->cfg.pidfile,
			    RELOAD_PROMOTE_MAX);
			free(r->e->note);
			xasprintf(&r->e->note, "pidfile not taken over");
			reload_finish(gw, RESULT_OK);
		} else
			reload_arm(r, RELOAD_POLL);
		break;
	case RS_ABORTING:
		if (now_mono() < r->deadline) {
			/*
			 * The new master may have replaced the workers we
			 * killed before it acted on SIGTERM: those would hold
			 * its exit for its whole graceful timeout.  Again.
			 */
			if (r->probe != NULL)
				ready_kill_unready(r->probe);
			reload_arm(r, READY_TICK);
			break;
		}
		log_warnx("reload %u: new master %d still running after %g s: "
		    "SIGKILL to it and its workers", r->e->id,
		    (int)r->new->pid, gw->cfg.stop_timeout);
		/* Dirty workers first: they would outlive their arbiter. */
		if (r->probe != NULL)
			ready_kill_dirty(r->probe, SIGKILL);
		master_signal_children(r->new, 0, SIGKILL);
		if (master_signal(r->new, SIGKILL) == -1)
			log_warn("SIGKILL to master %d", (int)r->new->pid);
		r->deadline = now_mono() + gw->cfg.stop_timeout;
		reload_arm(r, READY_TICK);
		break;
	}
}

/*
 * Fail safe: record why, then stop what is left of the new generation.
 * SIGTERM to its master first (ready workers finish their requests), then
 * SIGKILL to workers that never became ready: a worker that is still
 * importing the app defers SIGTERM until the import ends, and its master
 * would wait its whole graceful timeout for it.
 */
static void
reload_fail(struct gw *gw, const char *fmt, ...)
{
	struct reload	*r = gw->reload;
	va_list		 ap;

	free(r->e->reason);
	va_start(ap, fmt);
	if (vasprintf(&r->e->reason, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);

	if (r->new == NULL || r->new->exited) {
		if (r->probe != NULL) {
			ready_kill_unready(r->probe);
			ready_term_leftovers(r->probe);
		}
		reload_finish(gw, RESULT_FAILED);
		return;
	}
	if (r->old != NULL)
		log_info("reload %u: failing safe: stopping new master %d, "
		    "old master %d serves on", r->e->id, (int)r->new->pid,
		    (int)r->old->pid);
	else
		log_info("reload %u: stopping new master %d (the old master "
		    "is gone too)", r->e->id, (int)r->new->pid);
	if (r->target == NULL && r->old != NULL)
		ctlsock_shelter(&r->ctl, gw, r->e->id, r->new->pid,
		    r->old->pid);
	if (master_signal(r->new, SIGTERM) == -1)
		log_warn("SIGTERM to new master %d", (int)r->new->pid);
	if (r->probe != NULL)
		ready_kill_unready(r->probe);
	reload_set_state(gw, RS_ABORTING);
	r->deadline = now_mono() + gw->cfg.stop_timeout;
	reload_arm(r, READY_TICK);
}

/* Everyone waiting for reload e->id hears of e, once. */
static void
reload_answer(struct gw *gw, const struct reload_entry *e)
{
	struct reload	*r = gw->reload;
	struct waiter	*w, *tmp;

	TAILQ_FOREACH_SAFE(w, &r->waiters, entry, tmp) {
		if (w->id == e->id) {
			TAILQ_REMOVE(&r->waiters, w, entry);
			w->cb(gw, e, w->arg);
			free(w);
		}
	}
}

/* "check 1.10 s, fork 0.01 s, ...": the phases this reload went through. */
static void
phases_format(const struct reload_entry *e, char *buf, size_t size)
{
	enum reload_phase	p;
	size_t			len = 0;

	buf[0] = '\0';
	for (p = 0; p < PHASE_COUNT && len < size; p++) {
		if (e->t_phase[p] < 0)
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s%s %.2f s",
		    len ? ", " : "", history_phase_label(p), e->t_phase[p]);
	}
}

static void
reload_finish(struct gw *gw, enum reload_result result)
{
	struct reload		*r = gw->reload;
	struct reload_entry	*e = r->e;
	char			 phases[256];

	e->result = result;
	e->duration = now_mono() - r->t0;
	if (result == RESULT_OK) {
		free(e->reason);
		e->reason = NULL;
	} else if (e->new_master != 0)
		reload_remember_new(r, e->new_master);
	ready_free(r->probe);
	r->probe = NULL;
	/* The old master is gone, or is no more ... */
	ctlsock_restore(&r->ctl, r->new != NULL ? r->new->pid : 0);
	/* ... or serves on, with its socket. */
	ctlsock_recover(&r->ctl, gw, r->e->id, r->old != NULL &&
	    !r->old->exited && r->old == gw->cur ? r->old->pid : 0);
	if (result != RESULT_OK) {
		/* A failed generation's names, if it could not remove them. */
		if (r->gen_pidfile != NULL && unlink(r->gen_pidfile) == -1 &&
		    errno != ENOENT)
			log_warn("unlink %s", r->gen_pidfile);
		if (r->gen_ctl != NULL && unlink(r->gen_ctl) == -1 &&
		    errno != ENOENT)
			log_warn("unlink %s", r->gen_ctl);
	}
	free(r->gen_pidfile);
	free(r->gen_ctl);
	r->gen_pidfile = r->gen_ctl = NULL;
	free(r->target);
	r->target = NULL;
	if (result == RESULT_OK && r->new != NULL)
		r->hooks.serve(gw, r->new);
	r->old = r->new = NULL;
	reload_set_state(gw, RS_IDLE);
	/* Failed, and the old generation is gone (or going, doomed): not
	 * "the old one serves on". */
	e->down = result != RESULT_OK && (r->doomed ||
	    (gw->cur == NULL && gw->state != GW_STOPPING));
	r->doomed = 0;
	/* On disk before anyone hears of it. */
	(void)history_append(&gw->history, gw->cfg.history, e);
	reload_count(r, e);
	phases_format(e, phases, sizeof phases);
	if (result == RESULT_OK) {
		char	 *what;

		if (asprintf(&what, "master %d -> %d in %.2f s (%s)%s%s",
		    (int)e->old_master, (int)e->new_master, e->duration,
		    phases, e->note ? "; " : "", e->note ? e->note : "") == -1)
			fatal("asprintf");
		reload_log_outcome(e, what);
		free(what);
	} else
		reload_log_outcome(e, e->reason);
	if (e->down)
		log_event(LOG_LEVEL_ERROR, &(struct log_event){
		    .event = "reload_down", .reload_id = e->id,
		    .result = "down" },
		    "reload %u: nothing serves now: the old generation is "
		    "gone too", e->id);
	r->e = NULL;
	/* Close systemd's reload bracket, or say ready for the first time. */
	if (gw->ready_sent)
		notify_send(gw, "READY=1");
	else if (result == RESULT_OK)
		notify_ready(gw);
	reload_notify_status(gw);

	reload_answer(gw, e);

	/* The old master died during the reload and the new generation
	 * did not make it: nothing serves, and server.c decides. */
	r->outcome.id = e->id;
	r->outcome.result = result;
	r->outcome.unserved = gw->cur == NULL && gw->state != GW_STOPPING;
	r->outcome.code = r->old_code;
	event_active(r->done_ev, 0, 0);
	if (r->pending && !r->outcome.unserved)
		event_active(r->kick, 0, 0);
}

void
reload_master_exited(struct gw *gw, struct master *m)
{
	struct reload	*r = gw->reload;
	char		 how[128];
	int		 nw = 0, nr = 0;
	pid_t		 pid;

	if (m != r->old && m != r->new)
		return;		/* not this reload's (idle: none is) */
	if (!reload_handles(gw, m == r->new ? RE_NEW_EXIT : RE_OLD_EXIT))
		return;
	master_describe(m, how, sizeof how);
	/* Not our child: the probe may have seen its status all the same
	 * (gunicorn exits 3 or 4 when a worker cannot boot or load). */
	if (m == r->new && m->status == -1 && r->probe != NULL &&
	    ready_master_status(r->probe) != -1)
		ready_describe_status(ready_master_status(r->probe), how,
		    sizeof how);
	if (m == r->new) {
		if (r->probe != NULL)
			ready_counts(r->probe, &nw, &nr);
		switch (r->state) {
		case RS_IDLE:
		case RS_COUNT:	/* none: reload_set_state() */
		case RS_CHECKING:
		case RS_SETTLING:
		case RS_FORKING:
			break;		/* the table ignores these */
		case RS_WARMING:
		case RS_PROBATION:
			reload_fail(gw, "new master %d %s %.1f s into %s, "
			    "%d of %d workers ready", (int)m->pid, how,
			    now_mono() - r->phase_t0, r->state == RS_WARMING ?
			    "warm-up" : "probation", nr, nw);
			break;
		case RS_ABORTING:
			if (r->probe != NULL)
				ready_term_leftovers(r->probe);
			reload_finish(gw, RESULT_FAILED);
			break;
		case RS_DRAINING:
			r->new = NULL;
			free(r->e->reason);
			xasprintf(&r->e->reason, "new master %d %s while the "
			    "old one was draining", (int)m->pid, how);
			reload_uncommit(gw);
			/* The old one exits 0 when drained, but nothing will
			 * serve: the wrapper must exit as a failure then. */
			r->hooks.doomed(gw);
			r->doomed = 1;
			reload_finish(gw, RESULT_FAILED);
			break;
		case RS_PROMOTING:
			/* It was current already: server.c exits. */
			r->new = NULL;
			free(r->e->reason);
			xasprintf(&r->e->reason, "new master %d %s before "
			    "taking over the pidfile", (int)m->pid, how);
			reload_finish(gw, RESULT_FAILED);
			break;
		}
		return;
	}

	/* The old master. */
	switch (r->state) {
	case RS_IDLE:
	case RS_COUNT:	/* none: reload_set_state() */
	case RS_PROMOTING:
		break;		/* the table ignores these */
	case RS_CHECKING:
		if (r->check_pid != 0 && kill(r->check_pid, SIGKILL) == -1 &&
		    errno != ESRCH)
			log_warn("kill %d", (int)r->check_pid);
		check_done(gw);
		r->old = NULL;
		reload_fail(gw, "old master %d %s during the pre-flight "
		    "check", (int)m->pid, how);
		break;
	case RS_FORKING:
		/*
		 * The fork may have happened before we saw it: the orphaned
		 * new master is then our child.  It takes over if ready.
		 */
		pid = reload_find_new_master(gw, getpid(), m->pid, r->old_arg,
		    r->usr2_tick);
		if (pid == 0 && m->adopted)
			/* Not our descendant: its orphan went elsewhere. */
			pid = reload_orphan_new_master(gw);
		if (pid != 0 && (r->new = master_watch(gw, pid, m->adopted)) !=
		    NULL) {
			r->e->new_master = pid;
			log_warnx("reload %u: old master %d %s; new master %d "
			    "takes over if it becomes ready", r->e->id,
			    (int)m->pid, how, (int)pid);
			r->old = NULL;
			r->old_lost = 1;
			r->old_code = master_exit_code(m);
			r->hooks.serve(gw, NULL);
			reload_warm(gw);
			break;
		}
		/* FALLTHROUGH */
	case RS_SETTLING:
		/* Nothing new to take over: server.c will exit. */
		r->old = NULL;
		reload_fail(gw, "old master %d %s before a new master "
		    "appeared", (int)m->pid, how);
		break;
	case RS_PROBATION:
		/* Ready already, and nothing else serves now: promote. */
		log_warnx("reload %u: old master %d %s during probation; the "
		    "new generation takes over now", r->e->id, (int)m->pid,
		    how);
		r->old = NULL;
		r->old_lost = 1;
		r->old_code = master_exit_code(m);
		r->hooks.serve(gw, NULL);
		reload_retire_old(gw);
		break;
	case RS_WARMING:
		log_warnx("reload %u: old master %d %s during warm-up; the new "
		    "generation takes over if it becomes ready", r->e->id,
		    (int)m->pid, how);
		r->old = NULL;
		r->old_lost = 1;
		r->old_code = master_exit_code(m);
		r->hooks.serve(gw, NULL);
		break;
	case RS_DRAINING:
		r->old = NULL;
		reload_promote(gw);
		break;
	case RS_ABORTING:
		/* Both generations are gone or going: server.c exits. */
		r->old = NULL;
		break;
	}
}

/*
 * A queued reload that will never start: its waiters still get an answer,
 * a failed entry of their own (not in the history: it never ran).
 */
static void
reload_fail_queued(struct gw *gw, const char *why)
{
	struct reload		*r = gw->reload;
	struct reload_entry	 e;
	unsigned		 id = r->next_id;

	if (!r->pending)
		return;		/* no one can be waiting for next_id */
	r->pending = 0;
	free(r->pending_target);
	r->pending_target = NULL;
	memset(&e, 0, sizeof e);
	e.id = id;
	e.trigger = r->pending_trigger;
	e.started = now_real();
	e.duration = 0;
	e.result = RESULT_FAILED;
	e.reason = (char *)why;
	history_phases_clear(&e);
	reload_answer(gw, &e);
}

void
reload_abandon(struct gw *gw, const char *why)
{
	struct reload	*r = gw->reload;
	pid_t		 pid;

	reload_fail_queued(gw, why);
	if (!reload_handles(gw, RE_STOP))
		return;
	switch (r->state) {
	case RS_IDLE:
	case RS_COUNT:	/* none: reload_set_state() */
		break;		/* the table ignores it */
	case RS_FORKING:
		/*
		 * SIGUSR2 sent, new master not seen yet: it may exist all
		 * the same.  Watch it, so that the stop waits for it, and
		 * stop it too.
		 */
		if (r->old != NULL &&
		    (pid = reload_find_new_master(gw, r->old->pid,
		    r->old->pid, r->old_arg, r->usr2_tick)) != 0 &&
		    (r->new = master_watch(gw, pid, r->old->adopted)) !=
		    NULL) {
			log_info("reload %u: stopping new master %d",
			    r->e->id, (int)pid);
			(void)master_signal(r->new, gw->stop_signal ?
			    gw->stop_signal : SIGTERM);
		}
		break;
	case RS_CHECKING:
	case RS_SETTLING:
	case RS_WARMING:
	case RS_PROBATION:
	case RS_DRAINING:
	case RS_PROMOTING:
	case RS_ABORTING:
		break;		/* every master stops: server.c */
	}
	if (r->probe != NULL)
		ready_kill_unready(r->probe);
	switch (r->state) {
	case RS_CHECKING:
		if (kill(r->check_pid, SIGKILL) == -1 && errno != ESRCH)
			log_warn("kill %d", (int)r->check_pid);
		check_done(gw);
		break;
	case RS_IDLE:
	case RS_COUNT:	/* none: reload_set_state() */
	case RS_SETTLING:
	case RS_FORKING:
	case RS_WARMING:
	case RS_PROBATION:
	case RS_DRAINING:
	case RS_PROMOTING:
	case RS_ABORTING:
		break;		/* no check running */
	}
	free(r->e->reason);
	r->e->reason = xstrdup(why);
	r->new = NULL;		/* server.c stops every master */
	reload_finish(gw, RESULT_FAILED);
}

/*
 * Pre-flight (--preflight): `gunicorn --check-config` with the serving
 * arguments imports the app in a throw-away process.  A deploy that
 * cannot even be imported then fails here, in the time of one import,
 * without a new master ever being forked; the running generation is not
 * touched at all.  The price is one more import of the app per reload.
 */
static void
check_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct reload	*r = gw->reload;
	char		 buf[4096];
	size_t		 keep, room;
	ssize_t		 n;

	(void)what;
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* Keep the tail: the exception is at the end. */
		room = sizeof r->check_out - 1;
		if ((size_t)n >= room) {
			memcpy(r->check_out, buf + (size_t)n - room, room);
			r->check_len = room;
			continue;
		}
		if (r->check_len + (size_t)n > room) {
			keep = room - (size_t)n;
			memmove(r->check_out, r->check_out + r->check_len -
			    keep, keep);
			r->check_len = keep;
		}
		memcpy(r->check_out + r->check_len, buf, (size_t)n);
		r->check_len += (size_t)n;
	}
	if (n == 0 && r->check_ev != NULL)
		event_del(r->check_ev);		/* EOF */
}

static void
check_done(struct gw *gw)
{
	struct reload	*r = gw->reload;

	if (r->check_ev != NULL) {
		event_free(r->check_ev);
		r->check_ev = NULL;
	}
	if (r->check_fd != -1) {
		close(r->check_fd);
		r->check_fd = -1;
	}
	r->check_pid = 0;
}

static void
reload_check(struct gw *gw)
{
	struct reload	*r = gw->reload;
	char		**argv = NULL;
	int		 fd;

	r->check_len = 0;
	/* The release's own arguments in release mode. */
	if (r->target != NULL)
		argv = release_argv(gw, r->target, NULL, NULL);
	r->check_pid = gunicorn_spawn_check(gw, argv != NULL ? argv :
	    gw->cfg.argv, r->target, &fd);
	release_argv_free(argv);
	if (r->check_pid == -1) {
		r->check_pid = 0;
		reload_fail(gw, "pre-flight: cannot start gunicorn "
		    "--check-config");
		return;
	}
	r->check_fd = fd;
	r->check_ev = event_new(gw->base, fd, EV_READ | EV_PERSIST,
	    check_read_cb, gw);
	if (r->check_ev == NULL || event_add(r->check_ev, NULL) == -1)
		fatalx("reload: event_add failed");
	log_info("reload %u: pre-flight: gunicorn --check-config (pid %d)",
	    r->e->id, (int)r->check_pid);
	reload_set_state(gw, RS_CHECKING);
	reload_arm(r, r->budget);
}

/* The last non-empty line of the check's output: the exception. */
static void
check_reason(struct reload *r, char *buf, size_t size)
{
	char	*end, *p;

	r->check_out[r->check_len] = '\0';
	end = r->check_out + r->check_len;
	while (end > r->check_out && (end[-1] == '\n' || end[-1] == '\r' ||
	    end[-1] == ' '))
		*--end = '\0';
	p = strrchr(r->check_out, '\n');
	p = p != NULL ? p + 1 : r->check_out;
	snprintf(buf, size, "%.*s", (int)(size - 1), *p != '\0' ? p :
	    "no output");
	for (p = buf; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	}
}

void
reload_child_exited(struct gw *gw, pid_t pid, int status)
{
	struct reload	*r = gw->reload;
	char		 why[512];

	if (r == NULL || r->check_pid == 0 || pid != r->check_pid)
		return;
	/* Whatever it wrote is in the pipe by now. */
	if (r->check_fd != -1)
		check_read_cb(r->check_fd, EV_READ, gw);
	check_done(gw);
	if (!reload_handles(gw, RE_CHECK_EXIT))
		return;		/* a late reap: the reload moved on */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("reload %u: pre-flight passed in %.2f s", r->e->id,
		    now_mono() - r->phase_t0);
		reload_settle_or_fork(gw);
		return;
	}
	check_reason(r, why, sizeof why);
	if (WIFSIGNALED(status))
		reload_fail(gw, "pre-flight: gunicorn --check-config killed "
		    "by signal %d", WTERMSIG(status));
	else
		reload_fail(gw, "pre-flight: gunicorn --check-config exited "
		    "%d: %s", WEXITSTATUS(status), why);
}

int
reload_progress(const struct gw *gw, struct reload_progress *p)
{
	const struct reload	*r = gw->reload;
	int			 nw = 0, nr = 0;

	if (r == NULL || r->state == RS_IDLE || r->e == NULL)
		return -1;
	if (r->probe != NULL)
		ready_counts(r->probe, &nw, &nr);
	p->id = r->e->id;
	p->phase = reload_state_str(r->state);
	p->elapsed = now_mono() - r->t0;
	p->budget = r->budget;
	p->phase_elapsed = now_mono() - r->phase_t0;
	p->phase_length = r->state == RS_WARMING ? r->budget :
	    r->state == RS_PROBATION ? r->probation : -1;
	p->new_master = r->new != NULL ? r->new->pid : 0;
	p->ready = nr;
	p->workers = nw;
	return 0;
}
