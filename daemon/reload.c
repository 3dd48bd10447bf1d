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
 * The [state][event] table below is the whole decision, as in s6: every
 * entry point (a request, a kick, the boot's end, a resume, a timer, the
 * probe's verdict, a master's exit, the check's exit, a stop) turns what
 * happened into a struct reload_ev and hands it to reload_dispatch(),
 * which calls the handler the cell names, or nothing for an empty cell.
 * No handler decides by the state it is in: a handler serves the cells
 * that name it (a state's name may go into a message).
 * tests/unit/test_reload.c checks the table against a copy and drives
 * every named cell with fakes for the calls downward.
 *
 * All transitions go through reload_set_state(), which checks the range,
 * logs them and charges the time spent to the phase just left (one
 * setter, one array).
 *
 * It sits below server.c and calls nothing there: the serving master,
 * the record and the wrapper's fate change through struct reload_hooks,
 * and a reload's end reaches server.c from a deferred event (done_ev),
 * on a fresh stack, never from inside this machinery.
 */
#include <sys/queue.h>

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
#include "lineage.h"
#include "log.h"
#include "notify.h"
#include "preflight.h"
#include "proc.h"
#include "ready.h"
#include "release.h"
#include "reload.h"
#include "xmalloc.h"

/* Who serves in a state, for reload_roles(). */
enum reload_cast {
	CAST_NONE,		/* no reload: gw->cur serves */
	CAST_OLD,		/* the old generation serves, nothing new yet */
	CAST_INCOMING,		/* the old serves, the new one is on trial */
	CAST_HANDOVER,		/* the new serves, the old drains */
};

/* What each state is, apart from what it does with events.  A reload
 * runs in every state whose cast is not CAST_NONE (is_running()). */
static const struct reload_state_info {
	const char		*name;
	enum reload_phase	 phase;		/* PHASE_COUNT: untimed */
	enum reload_cast	 cast;
} reload_states[RS_COUNT] = {
	[RS_BOOTING] =	 { "booting",	PHASE_COUNT,	 CAST_NONE },
	[RS_IDLE] =	 { "idle",	PHASE_COUNT,	 CAST_NONE },
	[RS_CHECKING] =	 { "checking",	PHASE_CHECK,	 CAST_OLD },
	[RS_SETTLING] =	 { "settling",	PHASE_SETTLE,	 CAST_OLD },
	[RS_FORKING] =	 { "forking",	PHASE_FORK,	 CAST_INCOMING },
	[RS_WARMING] =	 { "warming",	PHASE_WARMUP,	 CAST_INCOMING },
	[RS_PROBATION] = { "probation",	PHASE_PROBATION, CAST_INCOMING },
	[RS_DRAINING] =	 { "draining",	PHASE_DRAIN,	 CAST_HANDOVER },
	[RS_PROMOTING] = { "promoting",	PHASE_PROMOTE,	 CAST_HANDOVER },
	[RS_ABORTING] =	 { "aborting",	PHASE_COUNT,	 CAST_INCOMING },
	[RS_STOPPED] =	 { "stopped",	PHASE_COUNT,	 CAST_NONE },
};

static int
is_running(enum reload_state s)
{
	return reload_states[s].cast != CAST_NONE;
}

static const char *const reload_event_names[RE_COUNT] = {
	[RE_REQUEST] =		"request",
	[RE_KICK] =		"kick",
	[RE_BOOTED] =		"booted",
	[RE_RESUME] =		"resume",
	[RE_TIMER] =		"timer",
	[RE_READY] =		"ready",
	[RE_NEW_EXIT] =		"new master exit",
	[RE_OLD_EXIT] =		"old master exit",
	[RE_CHECK_EXIT] =	"check exit",
	[RE_STOP] =		"stop",
};

/* An event and what it carries (reload.h's enum reload_event). */
struct reload_ev {
	enum reload_event	 type;
	/* RE_REQUEST: who asks, the release (or NULL), whom to tell; out:
	 * the id of the reload that includes it, 0 when refused. */
	enum reload_trigger	 trigger;
	const char		*release;
	reload_done_cb		 cb;
	void			*cb_arg;
	unsigned		 id;
	/* RE_RESUME: the new master (0: SIGUSR2 sent, none seen: forking,
	 * since tick), the record's id (in id) and its target (release). */
	pid_t			 pid;
	unsigned long long	 tick;
	enum ready_result	 res;		/* RE_READY */
	struct master		*m;		/* RE_NEW_EXIT, RE_OLD_EXIT */
	/* How the master ended; RE_CHECK_EXIT: why the check failed. */
	const char		*how;
	int			 passed;	/* RE_CHECK_EXIT */
	const char		*why;		/* RE_STOP */
};

typedef void reload_fn(struct gw *, struct reload_ev *);

static reload_fn on_request, on_queue, on_refuse, on_kick, on_booted,
    on_resume, on_check_late, on_settle_tick, on_fork_tick,
    on_probation_passed, on_drain_tick, on_promote_tick, on_abort_tick,
    on_ready, on_crash, on_new_died, on_new_died_draining,
    on_new_died_promoting, on_new_stopped, on_old_died_checking,
    on_old_died_early, on_old_died_forking, on_old_died_warming,
    on_old_died_probation, on_old_drained, on_old_died_aborting,
    on_check_exit, on_stop_quiet, on_stop_checking, on_stop_forking,
    on_stop;

struct reload_cell {
	reload_fn	*fn;		/* NULL: ignored */
	const char	*name;
};

/*
 * Every (state, event) pair, decided: a cell names its handler, and an
 * empty one is a decision too: a probe's verdict after the reload moved
 * on, a timer of a state with none (warming: the probe keeps time), a
 * new master's exit before there is one, the old one's once promoting (it
 * is gone by then), a check's exit outside checking (a late reap), a
 * resume or the boot's end once the machine has left booting.
 */
#define H(fn)	{ fn, #fn }
#define _	{ NULL, NULL }
static const struct reload_cell reload_table[RS_COUNT][RE_COUNT] = {
	[RS_BOOTING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = H(on_booted),	[RE_RESUME] = H(on_resume),
		[RE_TIMER] = _,			[RE_READY] = _,
		[RE_NEW_EXIT] = _,		[RE_OLD_EXIT] = _,
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop_quiet),
	},
	[RS_IDLE] = {
		[RE_REQUEST] = H(on_request),	[RE_KICK] = H(on_kick),
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = _,			[RE_READY] = _,
		[RE_NEW_EXIT] = _,		[RE_OLD_EXIT] = _,
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop_quiet),
	},
	[RS_CHECKING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = H(on_check_late),	[RE_READY] = _,
		[RE_NEW_EXIT] = _,
		[RE_OLD_EXIT] = H(on_old_died_checking),
		[RE_CHECK_EXIT] = H(on_check_exit),
		[RE_STOP] = H(on_stop_checking),
	},
	[RS_SETTLING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = H(on_settle_tick),	[RE_READY] = _,
		[RE_NEW_EXIT] = _,
		[RE_OLD_EXIT] = H(on_old_died_early),
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop),
	},
	[RS_FORKING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = H(on_fork_tick),	[RE_READY] = _,
		[RE_NEW_EXIT] = _,
		[RE_OLD_EXIT] = H(on_old_died_forking),
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop_forking),
	},
	[RS_WARMING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = _,			[RE_READY] = H(on_ready),
		[RE_NEW_EXIT] = H(on_new_died),
		[RE_OLD_EXIT] = H(on_old_died_warming),
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop),
	},
	[RS_PROBATION] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = H(on_probation_passed),
		[RE_READY] = H(on_crash),
		[RE_NEW_EXIT] = H(on_new_died),
		[RE_OLD_EXIT] = H(on_old_died_probation),
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop),
	},
	[RS_DRAINING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = H(on_drain_tick),	[RE_READY] = _,
		[RE_NEW_EXIT] = H(on_new_died_draining),
		[RE_OLD_EXIT] = H(on_old_drained),
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop),
	},
	[RS_PROMOTING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = H(on_promote_tick), [RE_READY] = _,
		[RE_NEW_EXIT] = H(on_new_died_promoting),
		[RE_OLD_EXIT] = _,
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop),
	},
	[RS_ABORTING] = {
		[RE_REQUEST] = H(on_queue),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = H(on_abort_tick),	[RE_READY] = _,
		[RE_NEW_EXIT] = H(on_new_stopped),
		[RE_OLD_EXIT] = H(on_old_died_aborting),
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop),
	},
	[RS_STOPPED] = {
		[RE_REQUEST] = H(on_refuse),	[RE_KICK] = _,
		[RE_BOOTED] = _,		[RE_RESUME] = _,
		[RE_TIMER] = _,			[RE_READY] = _,
		[RE_NEW_EXIT] = _,		[RE_OLD_EXIT] = _,
		[RE_CHECK_EXIT] = _,		[RE_STOP] = H(on_stop_quiet),
	},
};
#undef H
#undef _

const char *
reload_cell_name(enum reload_state s, enum reload_event ev)
{
	if ((unsigned)s >= RS_COUNT || (unsigned)ev >= RE_COUNT)
		return NULL;
	return reload_table[s][ev].name;
}

const char *
reload_state_str(enum reload_state s)
{
	return (unsigned)s < RS_COUNT ? reload_states[s].name : "?";
}

const char *
reload_event_str(enum reload_event ev)
{
	return (unsigned)ev < RE_COUNT ? reload_event_names[ev] : "?";
}

enum reload_phase
reload_phase_of(enum reload_state s)
{
	return (unsigned)s < RS_COUNT ? reload_states[s].phase : PHASE_COUNT;
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
	/* The exit code of the master whose loss left nothing serving (the
	 * old one, or a promoted new one): server.c's exit code then. */
	int			 lost_code;
	int			 new_killed;	/* aborting: SIGKILL sent */

	double			 t0, phase_t0, deadline;
	/* The settings (`gwctl set`), fixed as it opens: a change applies
	 * to the next reload, never halfway through this one. */
	double			 budget;	/* warm-up s */
	double			 probation;	/* s; 0: none */
	struct event		*timer;		/* phase ticks, deadlines */

	struct preflight	 pf;		/* gunicorn --check-config */
	/* The deferred start of the queued reload: active only while one
	 * is (pending), deleted when it is taken or failed. */
	struct event		*kick;
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
static void	reload_end(struct gw *, enum reload_result, enum reload_state);
static void	reload_check(struct gw *);
static void	ready_result_cb(struct gw *, enum ready_result, void *);
static void	reload_settle_or_fork(struct gw *);
static void	reload_spawn(struct gw *);
static void	reload_uncommit(struct gw *);
static void	reload_fail_queued(struct gw *, const char *);
static void	reload_unserved(struct gw *, struct master *);

/* The one caller of the table's handlers. */
static void
reload_dispatch(struct gw *gw, struct reload_ev *ev)
{
	enum reload_state		 s = gw->reload->state;
	const struct reload_cell	*c = &reload_table[s][ev->type];

	if (c->fn == NULL) {
		log_debug("reload: %s ignored while %s",
		    reload_event_str(ev->type), reload_state_str(s));
		return;
	}
	c->fn(gw, ev);
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
	} else if (to != r->state)
		log_debug("reload: %s -> %s", reload_state_str(r->state),
		    reload_state_str(to));
	r->state = to;
	r->phase_t0 = now;
	event_del(r->timer);
	if (r->e != NULL)
		r->hooks.record(gw);	/* a phase the next wrapper must know */
}

/* The queued reload is taken, or will never run: no kick for it. */
static void
reload_unqueue(struct reload *r)
{
	r->pending = 0;
	free(r->pending_target);
	r->pending_target = NULL;
	event_del(r->kick);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_ev	ev = { .type = RE_KICK };

	(void)fd;
	(void)what;
	reload_dispatch(arg, &ev);
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
	r->state = RS_BOOTING;
	r->next_id = history_next_id(&gw->history);
	preflight_init(&r->pf);
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
	preflight_kill(&r->pf);
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
	return is_running(gw->reload->state);
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
	switch (reload_states[r->state].cast) {
	case CAST_NONE:
	case CAST_OLD:
		break;
	case CAST_INCOMING:
		ro->incoming = r->new != gw->cur ? r->new : NULL;
		break;
	case CAST_HANDOVER:
		if (r->new != NULL)
			ro->serving = r->new;
		if (r->old != NULL && r->old != ro->serving && !r->old->exited)
			ro->outgoing = r->old;
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
	return reload_running(gw) ? gw->reload->target : NULL;
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
	struct reload_ev	ev = { .type = RE_REQUEST, .trigger = trigger,
	    .release = release, .cb = cb, .cb_arg = arg };

	reload_dispatch(gw, &ev);
	return ev.id;
}

/* Whoever asked for reload id hears of its end. */
static void
reload_wait(struct reload *r, unsigned id, struct reload_ev *ev)
{
	struct waiter	*w;

	ev->id = id;
	if (ev->cb == NULL)
		return;
	w = xcalloc(1, sizeof *w);
	w->id = id;
	w->cb = ev->cb;
	w->arg = ev->cb_arg;
	TAILQ_INSERT_TAIL(&r->waiters, w, entry);
}

/* idle: a request begins a reload now. */
static void
on_request(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	log_info("reload %u: requested by %s", r->next_id,
	    history_trigger_name(ev->trigger));
	reload_wait(r, r->next_id, ev);
	reload_begin(gw, ev->trigger, ev->release != NULL ?
	    xstrdup(ev->release) : NULL);
}

/* Booting or a reload runs: coalesce into the one queued reload. */
static void
on_queue(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	unsigned	 id = r->next_id;

	if (!r->pending) {
		r->pending = 1;
		r->pending_trigger = ev->trigger;
		log_info("reload %u queued (requested by %s while %s)", id,
		    history_trigger_name(ev->trigger),
		    reload_state_str(r->state));
	} else
		log_info("reload %u: request by %s coalesced", id,
		    history_trigger_name(ev->trigger));
	/* The last release asked for is the one it deploys. */
	if (ev->release != NULL) {
		free(r->pending_target);
		r->pending_target = xstrdup(ev->release);
		log_info("reload %u will deploy %s", id, ev->release);
	}
	reload_wait(r, id, ev);
}

/* stopped: nothing to reload any more. */
static void
on_refuse(struct gw *gw, struct reload_ev *ev)
{
	log_warnx("reload requested by %s: refused, %s",
	    history_trigger_name(ev->trigger), gw->state == GW_STOPPING ?
	    "the wrapper is stopping" : "no gunicorn master is running");
	ev->id = 0;
}

/* idle, the kick active: only while a reload is queued (reload_unqueue). */
static void
on_kick(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	char		*target = r->pending_target;	/* reload_begin's now */

	(void)ev;
	if (!r->pending) {	/* reload_unqueue() deletes the kick: a bug */
		log_warnx("reload: a kick with no reload queued, ignored");
		return;
	}
	r->pending_target = NULL;
	reload_unqueue(r);
	reload_begin(gw, r->pending_trigger, target);
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
	struct reload_ev	ev = { .type = RE_BOOTED };

	reload_dispatch(gw, &ev);
}

/* booting: the first generation is up; a reload asked for meanwhile
 * starts now. */
static void
on_booted(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	(void)ev;
	reload_set_state(gw, RS_IDLE);
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
	if ((stray = lineage_new_master(gw, r->old->pid, r->old->pid,
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

	reload_unqueue(r);	/* this reload serves every request so far */
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
	r->new_killed = 0;
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
	struct reload_ev	ev = { .type = RE_RESUME, .pid = pid, .id = id,
	    .release = target };

	reload_dispatch(gw, &ev);
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
	struct reload_ev	ev = { .type = RE_RESUME, .id = id,
	    .tick = tick };

	reload_dispatch(gw, &ev);
}

/* booting: the reload the previous wrapper did not finish goes on. */
static void
on_resume(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	if (ev->id != 0 && ev->id >= r->next_id)
		r->next_id = ev->id;	/* the interrupted reload keeps its id */
	reload_open(gw, TRIGGER_SIGNAL, ev->release != NULL &&
	    *ev->release != '\0' ? xstrdup(ev->release) : NULL);
	r->e->note = xstrdup("resumed by a new wrapper after the previous "
	    "one was killed");
	if (ev->pid == 0) {
		r->usr2_tick = ev->tick;
		log_info("reload %u: master %d was sent SIGUSR2 by the "
		    "previous wrapper: looking for its new master", r->e->id,
		    (int)r->old->pid);
		reload_set_state(gw, RS_FORKING);
		r->deadline = now_mono() + RELOAD_FORK_MAX;
		reload_arm(r, RELOAD_POLL_FAST);
		return;
	}
	r->e->new_master = ev->pid;
	if (r->target != NULL) {
		free(r->gen_pidfile);
		free(r->gen_ctl);
		release_gen_names(gw, r->e->id, &r->gen_pidfile, &r->gen_ctl);
	}
	log_info("reload %u: master %d has a new master %d from an "
	    "unfinished reload: resuming its warm-up", r->e->id,
	    (int)r->old->pid, (int)ev->pid);
	if ((r->new = master_watch(gw, ev->pid, 1)) == NULL) {
		reload_fail(gw, "new master %d of the unfinished reload is "
		    "gone", (int)ev->pid);
		return;
	}
	reload_warm(gw);
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
	if (r == NULL || !is_running(r->state) || r->e == NULL)
		return;
	if (r->target != NULL)
		snprintf(l->target, sizeof l->target, "%s", r->target);
	l->reload_id = r->e->id;
	/* SIGUSR2 is on its way: the next wrapper must look for a new
	 * master even if we die before we say "forking". */
	snprintf(l->phase, sizeof l->phase, "%s",
	    reload_state_str(r->state < RS_FORKING && r->usr2_tick != 0 ?
	    RS_FORKING : r->state));
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
	release_gen_names(gw, r->e->id, &r->gen_pidfile, &r->gen_ctl);
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

/* forking: is the new master there yet? */
static void
on_fork_tick(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	pid_t		 pid;

	(void)ev;
	if ((pid = lineage_new_master(gw, r->old->pid, r->old->pid,
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

/* The new generation is ready: retire the old one, or it is gone already. */
static void
reload_promote(struct gw *gw)
{
	struct reload	*r = gw->reload;
	const char	*errstr;
	pid_t		 pid;

	r->hooks.serve(gw, r->new);
	if (r->target != NULL) {
		release_names_take(gw, r->gen_pidfile, r->gen_ctl);
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
	/* Woken by SIGCHLD, gunicorn renames at once: look often. */
	reload_arm(r, RELOAD_POLL_FAST);
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
	struct reload_ev	ev = { .type = RE_READY, .res = res };

	(void)arg;
	reload_dispatch(gw, &ev);
}

/* A verdict other than ready fails the reload: 1 when it did. */
static int
verdict_failed(struct gw *gw, enum ready_result res, const char *crash)
{
	struct reload	*r = gw->reload;

	switch (res) {
	case READY_TIMEOUT:
		reload_fail(gw, "not ready after %g s: %s", r->budget,
		    ready_reason(r->probe));
		return 1;
	case READY_FAILED:
		reload_fail(gw, "%s", ready_reason(r->probe));
		return 1;
	case READY_CRASH:
		reload_fail(gw, "%s %.1f s into %s: %s", crash,
		    now_mono() - r->phase_t0, reload_state_str(r->state),
		    ready_reason(r->probe));
		return 1;
	case READY_OK:
		break;
	}
	return 0;
}

/* warming: the probe's verdict on the new generation. */
static void
on_ready(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	int		 nw, nr;

	if (verdict_failed(gw, ev->res, "crash:"))
		return;
	ready_counts(r->probe, &nw, &nr);
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

/* probation: the probe watches on; what it can still say is a crash. */
static void
on_crash(struct gw *gw, struct reload_ev *ev)
{
	(void)verdict_failed(gw, ev->res, "crash loop:");
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_ev	ev = { .type = RE_TIMER };

	(void)fd;
	(void)what;
	reload_dispatch(arg, &ev);
}

/* probation: no worker died abnormally in the window. */
static void
on_probation_passed(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	(void)ev;
	log_info("reload %u: probation of %g s passed", r->e->id,
	    r->probation);
	reload_retire_old(gw);
}

/* checking: the check outlived the warm-up budget. */
static void
on_check_late(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	(void)ev;
	log_warnx("reload %u: check-config %d still running after %g s: "
	    "SIGKILL", r->e->id, (int)r->pf.pid, r->budget);
	preflight_kill(&r->pf);
	reload_fail(gw, "pre-flight: gunicorn --check-config did not "
	    "finish within %g s", r->budget);
}

/* settling: is the earlier new master gone yet? */
static void
on_settle_tick(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	pid_t		 pid;

	(void)ev;
	if ((pid = reload_blocker(gw)) == 0) {
		reload_fork(gw);
	} else if (now_mono() >= r->deadline) {
		/* Forget it: a stuck PID must not block for ever. */
		reload_remember_new(r, 0);
		reload_fail(gw, "earlier new master %d still not reaped by "
		    "master %d after %g s", (int)pid, (int)r->old->pid,
		    RELOAD_SETTLE_MAX);
	} else
		reload_arm(r, RELOAD_POLL);
}

/* draining: keep the old generation from respawning, then wait for it,
 * and SIGKILL it after the stop timeout. */
static void
on_drain_tick(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	(void)ev;
	if (now_mono() < r->deadline &&
	    now_mono() - r->phase_t0 < RELOAD_RESPAWN_WINDOW) {
		/*
		 * gunicorn replaces a worker that dies before it has acted
		 * on SIGTERM: a recycled worker's replacement, or one of the
		 * booting workers killed when the drain began.  Still
		 * importing, it would hold the old master's exit for a whole
		 * import.  Again, while gunicorn may still be spawning (it
		 * acts on SIGTERM within its 1 s sleep).
		 */
		(void)ready_kill_booting(r->old->pid);
		reload_arm(r, READY_TICK);
		return;
	}
	if (now_mono() < r->deadline) {
		reload_arm(r, r->deadline - now_mono());
		return;
	}
	/* The stop timeout ran out: no more waiting for requests. */
	log_warnx("reload %u: old master %d still running after %g s: "
	    "SIGKILL to it and its workers", r->e->id, (int)r->old->pid,
	    gw->cfg.stop_timeout);
	free(r->e->note);
	xasprintf(&r->e->note, "old master %d killed after the stop timeout "
	    "(%g s)", (int)r->old->pid, gw->cfg.stop_timeout);
	master_signal_children(r->old, r->new->pid, SIGKILL);
	if (master_signal(r->old, SIGKILL) == -1)
		log_warn("SIGKILL to master %d", (int)r->old->pid);
	r->deadline = now_mono() + gw->cfg.stop_timeout;
	reload_arm(r, READY_TICK);
}

/* promoting: has the new master taken the pidfile? */
static void
on_promote_tick(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	const char	*errstr;

	(void)ev;
	if (pidfile_read(gw->cfg.pidfile, &errstr) == r->new->pid) {
		reload_finish(gw, RESULT_OK);
	} else if (now_mono() >= r->deadline) {
		log_warnx("reload %u: new master %d has not taken over %s "
		    "after %g s; it serves all the same", r->e->id,
		    (int)r->new->pid, gw->cfg.pidfile, RELOAD_PROMOTE_MAX);
		free(r->e->note);
		xasprintf(&r->e->note, "pidfile not taken over");
		reload_finish(gw, RESULT_OK);
	} else
		reload_arm(r, RELOAD_POLL_FAST);
}

/* How many of pid's children are alive (not zombies); -1: unknown. */
static int
live_children(pid_t pid)
{
	pid_t	*kids;
	size_t	 i, n;
	int	 live = 0;

	if (proc_children(pid, &kids, &n) == -1)
		return -1;
	for (i = 0; i < n; i++)
		live += !proc_is_zombie(kids[i]);
	free(kids);
	return live;
}

/* aborting: keep the new generation from respawning; SIGKILL it after
 * the stop timeout, or once nothing is left under it RELOAD_ABORT_GRACE
 * after SIGTERM; after the stop timeout again, once more. */
static void
on_abort_tick(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	(void)ev;
	if (now_mono() < r->deadline) {
		/*
		 * The new master may have replaced the workers we killed
		 * before it acted on SIGTERM: those would hold its exit for
		 * its whole graceful timeout.  Again.
		 */
		if (r->probe != NULL)
			ready_kill_unready(r->probe);
		if (r->new_killed ||
		    now_mono() - r->phase_t0 < RELOAD_ABORT_GRACE ||
		    live_children(r->new->pid) != 0) {
			reload_arm(r, READY_TICK);
			return;
		}
		/* Nothing under it to finish a request: no need to wait. */
		log_warnx("reload %u: new master %d has no process left and "
		    "has not exited %g s after SIGTERM: SIGKILL", r->e->id,
		    (int)r->new->pid, RELOAD_ABORT_GRACE);
	} else
		log_warnx("reload %u: new master %d still running after %g s: "
		    "SIGKILL to it and its workers", r->e->id,
		    (int)r->new->pid, gw->cfg.stop_timeout);
	/* Dirty workers first: they would outlive their arbiter. */
	if (r->probe != NULL)
		ready_kill_dirty(r->probe, SIGKILL);
	master_signal_children(r->new, 0, SIGKILL);
	if (master_signal(r->new, SIGKILL) == -1)
		log_warn("SIGKILL to master %d", (int)r->new->pid);
	r->new_killed = 1;
	r->deadline = now_mono() + gw->cfg.stop_timeout;
	reload_arm(r, READY_TICK);
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
	reload_end(gw, result, RS_IDLE);
}

/* The end of the reload, in state to: idle, or stopped (so too when
 * nothing serves any more). */
static void
reload_end(struct gw *gw, enum reload_result result, enum reload_state to)
{
	struct reload		*r = gw->reload;
	struct reload_entry	*e = r->e;
	char			 phases[256];
	int			 unserved, over;

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
	/* The old master died during the reload and the new generation
	 * did not make it: nothing serves, and server.c decides.  Or what
	 * serves is doomed (the old one drains, the new one died): nothing
	 * will.  No more reloads either way. */
	unserved = gw->cur == NULL && gw->state != GW_STOPPING;
	over = unserved || r->doomed;
	reload_set_state(gw, over ? RS_STOPPED : to);
	/* Failed, and the old generation is gone (or going, doomed): not
	 * "the old one serves on". */
	e->down = result != RESULT_OK && over;
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
	/* Nothing serves, or will: a queued reload has nothing to replace. */
	if (over)
		reload_fail_queued(gw, "not started: nothing serves any more, "
		    "the old generation is gone");

	r->outcome.id = e->id;
	r->outcome.result = result;
	r->outcome.unserved = unserved;
	r->outcome.code = r->lost_code;
	event_active(r->done_ev, 0, 0);
	if (r->pending && !over)
		event_active(r->kick, 0, 0);
}

void
reload_master_exited(struct gw *gw, struct master *m)
{
	struct reload		*r = gw->reload;
	struct reload_ev	 ev = { .m = m };
	char			 how[128];

	if (m != r->old && m != r->new)
		return;		/* not this reload's (idle: none is) */
	ev.type = m == r->new ? RE_NEW_EXIT : RE_OLD_EXIT;
	master_describe(m, how, sizeof how);
	/* Not our child: the probe may have seen its status all the same
	 * (gunicorn exits 3 or 4 when a worker cannot boot or load). */
	if (m == r->new && m->status == -1 && r->probe != NULL &&
	    ready_master_status(r->probe) != -1)
		ready_describe_status(ready_master_status(r->probe), how,
		    sizeof how);
	ev.how = how;
	reload_dispatch(gw, &ev);
}

/* warming, probation: the new generation died before it was trusted. */
static void
on_new_died(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	int		 nw = 0, nr = 0;

	if (r->probe != NULL)
		ready_counts(r->probe, &nw, &nr);
	reload_fail(gw, "new master %d %s %.1f s into %s, %d of %d workers "
	    "ready", (int)ev->m->pid, ev->how, now_mono() - r->phase_t0,
	    reload_phase_of(r->state) == PHASE_WARMUP ? "warm-up" :
	    reload_state_str(r->state), nr, nw);
}

/* aborting: the failed new generation is gone. */
static void
on_new_stopped(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	(void)ev;
	if (r->probe != NULL)
		ready_term_leftovers(r->probe);
	reload_finish(gw, RESULT_FAILED);
}

/* draining: the new generation died while the old one drains. */
static void
on_new_died_draining(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	r->new = NULL;
	free(r->e->reason);
	xasprintf(&r->e->reason, "new master %d %s while the old one was "
	    "draining", (int)ev->m->pid, ev->how);
	reload_uncommit(gw);
	/* The old one exits 0 when drained, but nothing will serve: the
	 * wrapper must exit as a failure then. */
	r->hooks.doomed(gw);
	r->doomed = 1;
	reload_finish(gw, RESULT_FAILED);
}

/* promoting: the new master, serving alone already, died: nothing serves,
 * and server.c exits with its status when it hears so. */
static void
on_new_died_promoting(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	r->new = NULL;
	reload_unserved(gw, ev->m);
	free(r->e->reason);
	xasprintf(&r->e->reason, "new master %d %s before taking over the "
	    "pidfile", (int)ev->m->pid, ev->how);
	reload_finish(gw, RESULT_FAILED);
}

/* The serving master m is gone: nothing serves until a new generation
 * takes over, and if none does, server.c exits with m's code. */
static void
reload_unserved(struct gw *gw, struct master *m)
{
	struct reload	*r = gw->reload;

	r->lost_code = master_exit_code(m);
	r->hooks.serve(gw, NULL);
}

/* The old master is gone mid-reload: the new generation, if any, is all
 * that can serve now. */
static void
reload_old_lost(struct gw *gw, struct master *m)
{
	struct reload	*r = gw->reload;

	r->old = NULL;
	r->old_lost = 1;
	reload_unserved(gw, m);
}

/*
 * checking: the old master died before anything was forked.  Nothing
 * serves now: the reload is down, not "failed, the old one serves on",
 * and server.c exits with the old master's status when it hears so.
 */
static void
on_old_died_checking(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	preflight_kill(&r->pf);
	reload_old_lost(gw, ev->m);
	reload_fail(gw, "old master %d %s during the pre-flight check",
	    (int)ev->m->pid, ev->how);
}

/* settling, or forking with no new master to take over: the same. */
static void
on_old_died_early(struct gw *gw, struct reload_ev *ev)
{
	reload_old_lost(gw, ev->m);
	reload_fail(gw, "old master %d %s before a new master appeared",
	    (int)ev->m->pid, ev->how);
}

/* forking: the fork may have happened before we saw it; the orphaned new
 * master is then our child, and takes over if it becomes ready. */
static void
on_old_died_forking(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	struct master	*m = ev->m;
	pid_t		 pid;

	pid = lineage_new_master(gw, getpid(), m->pid, r->old_arg,
	    r->usr2_tick);
	if (pid == 0 && m->adopted)
		/* Not our descendant: its orphan went elsewhere. */
		pid = lineage_orphan_new_master(gw, r->usr2_tick);
	if (pid == 0 || (r->new = master_watch(gw, pid, m->adopted)) == NULL) {
		on_old_died_early(gw, ev);
		return;
	}
	r->e->new_master = pid;
	log_warnx("reload %u: old master %d %s; new master %d takes over if "
	    "it becomes ready", r->e->id, (int)m->pid, ev->how, (int)pid);
	reload_old_lost(gw, m);
	reload_warm(gw);
}

/* warming: the new generation takes over if it becomes ready. */
static void
on_old_died_warming(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	log_warnx("reload %u: old master %d %s during warm-up; the new "
	    "generation takes over if it becomes ready", r->e->id,
	    (int)ev->m->pid, ev->how);
	reload_old_lost(gw, ev->m);
}

/* probation: ready already, and nothing else serves now: promote. */
static void
on_old_died_probation(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	log_warnx("reload %u: old master %d %s during probation; the new "
	    "generation takes over now", r->e->id, (int)ev->m->pid, ev->how);
	reload_old_lost(gw, ev->m);
	reload_retire_old(gw);
}

/* draining: the old generation is drained. */
static void
on_old_drained(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	(void)ev;
	r->old = NULL;
	reload_promote(gw);
}

/* aborting: the failed new generation was all that was left, and it is
 * going: down once it has gone, and server.c exits then. */
static void
on_old_died_aborting(struct gw *gw, struct reload_ev *ev)
{
	reload_old_lost(gw, ev->m);
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
	reload_unqueue(r);
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
	struct reload_ev	ev = { .type = RE_STOP, .why = why };

	reload_dispatch(gw, &ev);
}

/* No reload runs (booting, idle, stopped): the queued one never will. */
static void
on_stop_quiet(struct gw *gw, struct reload_ev *ev)
{
	reload_fail_queued(gw, ev->why);
	reload_set_state(gw, RS_STOPPED);
}

/* A reload runs: it ends, failed; every master stops (server.c). */
static void
on_stop(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	reload_fail_queued(gw, ev->why);
	if (r->probe != NULL)
		ready_kill_unready(r->probe);
	free(r->e->reason);
	r->e->reason = xstrdup(ev->why);
	r->new = NULL;		/* server.c stops every master */
	reload_end(gw, RESULT_FAILED, RS_STOPPED);
}

/* checking: the check goes too. */
static void
on_stop_checking(struct gw *gw, struct reload_ev *ev)
{
	preflight_kill(&gw->reload->pf);
	on_stop(gw, ev);
}

/*
 * forking: SIGUSR2 sent, new master not seen yet: it may exist all the
 * same.  Watch it, so that the stop waits for it, and stop it too.
 */
static void
on_stop_forking(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;
	pid_t		 pid;

	if (r->old != NULL &&
	    (pid = lineage_new_master(gw, r->old->pid, r->old->pid,
	    r->old_arg, r->usr2_tick)) != 0 &&
	    (r->new = master_watch(gw, pid, r->old->adopted)) != NULL) {
		log_info("reload %u: stopping new master %d", r->e->id,
		    (int)pid);
		(void)master_signal(r->new, gw->stop_signal ?
		    gw->stop_signal : SIGTERM);
	}
	on_stop(gw, ev);
}

/* The check of this reload: the serving arguments, or the release's own
 * in release mode. */
static void
reload_check(struct gw *gw)
{
	struct reload	*r = gw->reload;
	char		**argv = NULL;
	int		  rc;

	if (r->target != NULL)
		argv = release_argv(gw, r->target, NULL, NULL);
	rc = preflight_start(&r->pf, gw, argv != NULL ? argv : gw->cfg.argv,
	    r->target);
	release_argv_free(argv);
	if (rc == -1) {
		reload_fail(gw, "pre-flight: cannot start gunicorn "
		    "--check-config");
		return;
	}
	log_info("reload %u: pre-flight: gunicorn --check-config (pid %d)",
	    r->e->id, (int)r->pf.pid);
	reload_set_state(gw, RS_CHECKING);
	reload_arm(r, r->budget);
}

void
reload_child_exited(struct gw *gw, pid_t pid, int status)
{
	struct reload		*r = gw->reload;
	struct reload_ev	 ev = { .type = RE_CHECK_EXIT };
	char			 why[600];

	if (r == NULL || !preflight_is(&r->pf, pid))
		return;
	ev.passed = preflight_reaped(&r->pf, status, why, sizeof why) == 0;
	ev.how = why;
	reload_dispatch(gw, &ev);
}

/* checking: the check's verdict. */
static void
on_check_exit(struct gw *gw, struct reload_ev *ev)
{
	struct reload	*r = gw->reload;

	if (!ev->passed) {
		reload_fail(gw, "pre-flight: gunicorn --check-config %s",
		    ev->how);
		return;
	}
	log_info("reload %u: pre-flight passed in %.2f s", r->e->id,
	    now_mono() - r->phase_t0);
	reload_settle_or_fork(gw);
}

int
reload_progress(const struct gw *gw, struct reload_progress *p)
{
	const struct reload	*r = gw->reload;
	int			 nw = 0, nr = 0;

	if (r == NULL || !is_running(r->state) || r->e == NULL)
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
