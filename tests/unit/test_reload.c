/* SPDX-License-Identifier: MIT */
/*
 * test_reload.c: unit tests (cmocka) for reload.c's state machine without
 * a gunicorn.  The [state][event] table is checked cell by cell against a
 * copy written out here (so a changed decision is a visible change to
 * two places), with the rules every row keeps, the range checks and the
 * names; the phase-time bookkeeping (one setter, one array); and then the
 * machine itself: every cell the table names is driven here, and the last
 * test fails if one was not.
 *
 * The calls downward are fakes, linked in with -Wl,--wrap (see the
 * Makefile's RELOAD_FAKES): masters are never signalled, the probe and
 * the pre-flight check never start, lineage answers what a test says, the
 * clock is the test's, and the reload's timer is armed into the fixture
 * (event_add) and fired by the test, never by real time.  What reload.c
 * decides is then all there is to see: its state, the signals it would
 * send, the hooks it calls, the answers and the history it writes.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "clock.h"
#include "ctlsock.h"
#include "gunicorn.h"
#include "gw.h"
#include "history.h"
#include "lineage.h"
#include "log.h"
#include "preflight.h"
#include "proc.h"
#include "ready.h"
#include "reload.h"

/* ---- the table ---- */

/* What each state does with each event, as reload.h's diagram says. */
static const char *const want[RS_COUNT][RE_COUNT] = {
	[RS_BOOTING] = {
		[RE_REQUEST] = "on_queue", [RE_BOOTED] = "on_booted",
		[RE_RESUME] = "on_resume", [RE_STOP] = "on_stop_quiet",
	},
	[RS_IDLE] = {
		[RE_REQUEST] = "on_request", [RE_KICK] = "on_kick",
		[RE_STOP] = "on_stop_quiet",
	},
	[RS_CHECKING] = {
		[RE_REQUEST] = "on_queue", [RE_TIMER] = "on_check_late",
		[RE_OLD_EXIT] = "on_old_died_checking",
		[RE_CHECK_EXIT] = "on_check_exit",
		[RE_STOP] = "on_stop_checking",
	},
	[RS_SETTLING] = {
		[RE_REQUEST] = "on_queue", [RE_TIMER] = "on_settle_tick",
		[RE_OLD_EXIT] = "on_old_died_early", [RE_STOP] = "on_stop",
	},
	[RS_FORKING] = {
		[RE_REQUEST] = "on_queue", [RE_TIMER] = "on_fork_tick",
		[RE_OLD_EXIT] = "on_old_died_forking",
		[RE_STOP] = "on_stop_forking",
	},
	[RS_WARMING] = {
		[RE_REQUEST] = "on_queue", [RE_READY] = "on_ready",
		[RE_NEW_EXIT] = "on_new_died",
		[RE_OLD_EXIT] = "on_old_died_warming", [RE_STOP] = "on_stop",
	},
	[RS_PROBATION] = {
		[RE_REQUEST] = "on_queue", [RE_TIMER] = "on_probation_passed",
		[RE_READY] = "on_crash", [RE_NEW_EXIT] = "on_new_died",
		[RE_OLD_EXIT] = "on_old_died_probation", [RE_STOP] = "on_stop",
	},
	[RS_DRAINING] = {
		[RE_REQUEST] = "on_queue", [RE_TIMER] = "on_drain_tick",
		[RE_NEW_EXIT] = "on_new_died_draining",
		[RE_OLD_EXIT] = "on_old_drained", [RE_STOP] = "on_stop",
	},
	[RS_PROMOTING] = {
		[RE_REQUEST] = "on_queue", [RE_TIMER] = "on_promote_tick",
		[RE_NEW_EXIT] = "on_new_died_promoting", [RE_STOP] = "on_stop",
	},
	[RS_ABORTING] = {
		[RE_REQUEST] = "on_queue", [RE_TIMER] = "on_abort_tick",
		[RE_NEW_EXIT] = "on_new_stopped",
		[RE_OLD_EXIT] = "on_old_died_aborting", [RE_STOP] = "on_stop",
	},
	[RS_STOPPED] = {
		[RE_REQUEST] = "on_refuse", [RE_STOP] = "on_stop_quiet",
	},
};

static int
streq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
test_reload_table(void **state)
{
	enum reload_state	s;
	enum reload_event	ev;
	const char		*c;

	(void)state;
	for (s = 0; s < RS_COUNT; s++)
		for (ev = 0; ev < RE_COUNT; ev++) {
			c = reload_cell_name(s, ev);
			if (!streq(c, want[s][ev]))
				fail_msg("%s in %s: %s, want %s",
				    reload_event_str(ev), reload_state_str(s),
				    c ? c : "ignored",
				    want[s][ev] ? want[s][ev] : "ignored");
		}
}

/* Whatever the table says, some rules hold in every row. */
static void
test_reload_table_rules(void **state)
{
	enum reload_state	s;
	const char		*c;

	(void)state;
	for (s = 0; s < RS_COUNT; s++) {
		/* A request is never lost: begun, queued, or refused (and
		 * told so) only once nothing can reload any more. */
		c = reload_cell_name(s, RE_REQUEST);
		assert_string_equal(c, s == RS_IDLE ? "on_request" :
		    s == RS_STOPPED ? "on_refuse" : "on_queue");
		/* A stop is heard everywhere: it fails what is queued. */
		assert_non_null(reload_cell_name(s, RE_STOP));
		/* Only idle starts a queued reload; only booting ends the
		 * boot or resumes the previous wrapper's reload. */
		assert_true((reload_cell_name(s, RE_KICK) != NULL) == (s == RS_IDLE));
		assert_true((reload_cell_name(s, RE_BOOTED) != NULL) ==
		    (s == RS_BOOTING));
		assert_true((reload_cell_name(s, RE_RESUME) != NULL) ==
		    (s == RS_BOOTING));
		/* The check's exit matters only while checking. */
		assert_true((reload_cell_name(s, RE_CHECK_EXIT) != NULL) ==
		    (s == RS_CHECKING));
	}
	/* No reload runs in booting, idle and stopped: no master's exit,
	 * no timer, no verdict is theirs. */
	for (s = 0; s < RS_COUNT; s++) {
		if (s != RS_BOOTING && s != RS_IDLE && s != RS_STOPPED)
			continue;
		assert_null(reload_cell_name(s, RE_TIMER));
		assert_null(reload_cell_name(s, RE_READY));
		assert_null(reload_cell_name(s, RE_NEW_EXIT));
		assert_null(reload_cell_name(s, RE_OLD_EXIT));
	}
}

static void
test_reload_range(void **state)
{
	enum reload_state	s;
	enum reload_event	ev;

	(void)state;
	/* Out of range: ignored, and named "?", never read past a table. */
	assert_null(reload_cell_name(RS_COUNT, RE_REQUEST));
	assert_null(reload_cell_name((enum reload_state)-1, RE_STOP));
	assert_null(reload_cell_name(RS_WARMING, RE_COUNT));
	assert_null(reload_cell_name(RS_WARMING, (enum reload_event)99));
	assert_string_equal(reload_state_str(RS_COUNT), "?");
	assert_string_equal(reload_event_str(RE_COUNT), "?");
	assert_int_equal(reload_phase_of(RS_COUNT), PHASE_COUNT);
	/* In range: every one named (the protocol's phase names). */
	for (s = 0; s < RS_COUNT; s++)
		assert_string_not_equal(reload_state_str(s), "?");
	for (ev = 0; ev < RE_COUNT; ev++)
		assert_string_not_equal(reload_event_str(ev), "?");
	assert_string_equal(reload_state_str(RS_BOOTING), "booting");
	assert_string_equal(reload_state_str(RS_IDLE), "idle");
	assert_string_equal(reload_state_str(RS_CHECKING), "checking");
	assert_string_equal(reload_state_str(RS_PROBATION), "probation");
	assert_string_equal(reload_state_str(RS_ABORTING), "aborting");
	assert_string_equal(reload_state_str(RS_STOPPED), "stopped");
}

/* ---- the phase times ---- */

static void
test_reload_phase_times(void **state)
{
	static const struct {
		enum reload_state	s;
		enum reload_phase	p;
		const char		*key, *label;
	} map[] = {
		{ RS_CHECKING,	PHASE_CHECK,	"t_check",	"check" },
		{ RS_SETTLING,	PHASE_SETTLE,	"t_settle",	"settle" },
		{ RS_FORKING,	PHASE_FORK,	"t_fork",	"fork" },
		{ RS_WARMING,	PHASE_WARMUP,	"t_warmup",	"warm-up" },
		{ RS_PROBATION,	PHASE_PROBATION, "t_probation",	"probation" },
		{ RS_DRAINING,	PHASE_DRAIN,	"t_drain",	"drain" },
		{ RS_PROMOTING,	PHASE_PROMOTE,	"t_promote",	"promote" },
	};
	static const enum reload_state untimed[] = { RS_BOOTING, RS_IDLE,
	    RS_ABORTING, RS_STOPPED, RS_COUNT };
	struct reload_entry	e;
	enum reload_phase	p;
	size_t			i;

	(void)state;
	assert_int_equal(sizeof map / sizeof map[0], PHASE_COUNT);
	memset(&e, 0, sizeof e);
	history_phases_clear(&e);
	for (p = 0; p < PHASE_COUNT; p++)
		assert_true(e.t_phase[p] == -1);
	/* Booting, idle, aborting, stopped are not timed: nothing written. */
	for (i = 0; i < sizeof untimed / sizeof untimed[0]; i++) {
		assert_int_equal(reload_phase_of(untimed[i]), PHASE_COUNT);
		assert_int_equal(reload_set_phase_time(&e, untimed[i], 1), -1);
	}
	for (p = 0; p < PHASE_COUNT; p++)
		assert_true(e.t_phase[p] == -1);
	/* Each timed state writes its own slot and no other. */
	for (i = 0; i < sizeof map / sizeof map[0]; i++) {
		assert_int_equal(reload_phase_of(map[i].s), map[i].p);
		assert_string_equal(history_phase_key(map[i].p), map[i].key);
		assert_string_equal(history_phase_label(map[i].p),
		    map[i].label);
		assert_int_equal(reload_set_phase_time(&e, map[i].s,
		    0.5 + (double)i), 0);
		for (p = 0; p < PHASE_COUNT; p++)
			assert_true(e.t_phase[p] == (p <= map[i].p ?
			    0.5 + (double)p : -1));
	}
	assert_null(history_phase_key(PHASE_COUNT));
	assert_null(history_phase_label(PHASE_COUNT));
}

/* ---- the machine, on fakes ---- */

#define OLD_PID		1001
#define NEW_PID		1002
#define STRAY_PID	1003
#define CHECK_PID	4242
#define MAX_SIGS	1024
#define MAX_WATCHED	8

struct sig {
	pid_t	pid;		/* < 0: the children of master -pid */
	int	sig;
};

struct fixture {
	struct gw		 gw;
	struct master		 old;
	char			 dir[64], pidfile[96], pidfile2[96];
	char			 history[96];

	/* What the fakes answer. */
	pid_t			 blocker;	/* lineage, since 0 */
	pid_t			 newborn;	/* lineage, since the SIGUSR2 */
	pid_t			 reparented;	/* lineage, our own children */
	pid_t			 orphan;	/* lineage_orphan_new_master */
	pid_t			 pidfile_pid;	/* pidfile_read; -1 none */
	int			 prev_exists;	/* proc_exists */
	int			 watch_fails;	/* master_watch */
	int			 check_fails;	/* preflight_start */
	int			 nw, nr;	/* ready_counts */
	size_t			 kids;		/* proc_children, alive */

	/* What the fakes saw. */
	struct sig		 sigs[MAX_SIGS];
	size_t			 nsigs;
	struct master		*watched[MAX_WATCHED];
	size_t			 nwatched;
	ready_cb		 ready_cb;	/* the probe started, ... */
	void			*ready_arg;
	double			 ready_budget;
	int			 probes, probes_freed, failfast, quiet;
	int			 kill_booting, kill_unready, leftovers;
	int			 kill_dirty;
	int			 checks, checks_killed;
	struct event		*armed;		/* the reload's timer, ... */
	double			 armed_after;	/* ... due in this many s */

	/* The hooks and the answers. */
	int			 serve, doomed, record, done;
	struct reload_outcome	 outcome;
	int			 answers;
	unsigned		 answered_id;
	enum reload_result	 answered;
	char			 reason[256];
};

static struct fixture	*current;
static double		 fake_now = 1000;
/* Which named cells the tests drove: the last test checks them all. */
static int		 covered[RS_COUNT][RE_COUNT];

static void
sig_add(pid_t pid, int sig)
{
	assert_true(current->nsigs < MAX_SIGS);
	current->sigs[current->nsigs].pid = pid;
	current->sigs[current->nsigs].sig = sig;
	current->nsigs++;
}

/* How many times pid was sent sig. */
static int
sent(const struct fixture *f, pid_t pid, int sig)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < f->nsigs; i++)
		n += f->sigs[i].pid == pid && f->sigs[i].sig == sig;
	return n;
}

/* The fakes: the names -Wl,--wrap gives the calls reload.o makes. */
int	__wrap_master_signal(struct master *, int);
struct master *__wrap_master_watch(struct gw *, pid_t, int);
void	__wrap_master_signal_children(struct master *, pid_t, int);
void	__wrap_master_describe(const struct master *, char *, size_t);
int	__wrap_master_exit_code(const struct master *);
struct master *__wrap_gunicorn_spawn(struct gw *, char **, const char *);
int	__wrap_preflight_start(struct preflight *, struct gw *, char **,
	    const char *);
int	__wrap_preflight_is(const struct preflight *, pid_t);
int	__wrap_preflight_reaped(struct preflight *, int, char *, size_t);
void	__wrap_preflight_kill(struct preflight *);
struct ready *__wrap_ready_start(struct gw *, pid_t, enum ready_mode,
	    double, ready_cb, void *);
void	__wrap_ready_set_failfast(struct ready *, int);
void	__wrap_ready_counts(const struct ready *, int *, int *);
const char *__wrap_ready_reason(const struct ready *);
void	__wrap_ready_quiet(struct ready *);
int	__wrap_ready_kill_booting(pid_t);
void	__wrap_ready_kill_unready(struct ready *);
void	__wrap_ready_term_leftovers(struct ready *);
void	__wrap_ready_kill_dirty(struct ready *, int);
int	__wrap_ready_master_status(const struct ready *);
void	__wrap_ready_free(struct ready *);
pid_t	__wrap_lineage_new_master(struct gw *, pid_t, pid_t,
	    unsigned long long, unsigned long long);
pid_t	__wrap_lineage_orphan_new_master(struct gw *, unsigned long long);
unsigned long long __wrap_proc_arg_start(pid_t);
unsigned long long __wrap_proc_starttime(pid_t);
int	__wrap_proc_exists(pid_t);
unsigned long long __wrap_proc_now_ticks(void);
int	__wrap_proc_children(pid_t, pid_t **, size_t *);
int	__wrap_proc_is_zombie(pid_t);
pid_t	__wrap_pidfile_read(const char *, const char **);
void	__wrap_ctlsock_hide(struct ctlsock *, const struct gw *, unsigned,
	    pid_t);
void	__wrap_ctlsock_park(struct ctlsock *, const struct gw *, unsigned,
	    pid_t);
void	__wrap_ctlsock_shelter(struct ctlsock *, const struct gw *, unsigned,
	    pid_t, pid_t);
void	__wrap_ctlsock_recover(struct ctlsock *, const struct gw *, unsigned,
	    pid_t);
void	__wrap_ctlsock_restore(struct ctlsock *, pid_t);
double	__wrap_now_mono(void);
int	__wrap_kill(pid_t, int);
int	__wrap_event_add(struct event *, const struct timeval *);
int	__wrap_event_del(struct event *);
int	__real_event_del(struct event *);

int
__wrap_master_signal(struct master *m, int sig)
{
	sig_add(m->pid, sig);
	return 0;
}

struct master *
__wrap_master_watch(struct gw *gw, pid_t pid, int adopted)
{
	struct master	*m;

	(void)gw;
	if (current->watch_fails)
		return NULL;
	assert_true(current->nwatched < MAX_WATCHED);
	m = calloc(1, sizeof *m);
	assert_non_null(m);
	m->pid = pid;
	m->pidfd = -1;
	m->status = -1;
	m->adopted = adopted;
	current->watched[current->nwatched++] = m;
	return m;
}

void
__wrap_master_signal_children(struct master *m, pid_t except, int sig)
{
	(void)except;
	sig_add(-m->pid, sig);
}

void
__wrap_master_describe(const struct master *m, char *buf, size_t size)
{
	snprintf(buf, size, "exited with status %d", WEXITSTATUS(m->status));
}

int
__wrap_master_exit_code(const struct master *m)
{
	return WEXITSTATUS(m->status);
}

struct master *
__wrap_gunicorn_spawn(struct gw *gw, char **argv, const char *cwd)
{
	(void)gw;
	(void)argv;
	(void)cwd;
	fail_msg("gunicorn_spawn: release mode is not under test here");
	return NULL;
}

int
__wrap_preflight_start(struct preflight *pf, struct gw *gw, char **argv,
    const char *cwd)
{
	(void)gw;
	(void)argv;
	(void)cwd;
	current->checks++;
	if (current->check_fails)
		return -1;
	pf->pid = CHECK_PID;
	return 0;
}

int
__wrap_preflight_is(const struct preflight *pf, pid_t pid)
{
	return pf->pid != 0 && pf->pid == pid;
}

int
__wrap_preflight_reaped(struct preflight *pf, int status, char *why,
    size_t size)
{
	pf->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(why, size, "exited %d: SyntaxError: bad", WEXITSTATUS(status));
	return -1;
}

void
__wrap_preflight_kill(struct preflight *pf)
{
	if (pf->pid != 0)
		current->checks_killed++;
	pf->pid = 0;
}

static char	fake_probe;

struct ready *
__wrap_ready_start(struct gw *gw, pid_t master, enum ready_mode mode,
    double budget, ready_cb cb, void *arg)
{
	(void)gw;
	(void)mode;
	assert_int_equal(master, NEW_PID);
	current->probes++;
	current->ready_cb = cb;
	current->ready_arg = arg;
	current->ready_budget = budget;
	return (struct ready *)&fake_probe;
}

void
__wrap_ready_set_failfast(struct ready *r, int on)
{
	assert_ptr_equal(r, &fake_probe);
	current->failfast = on;
}

void
__wrap_ready_counts(const struct ready *r, int *nw, int *nr)
{
	assert_ptr_equal(r, &fake_probe);
	*nw = current->nw;
	*nr = current->nr;
}

const char *
__wrap_ready_reason(const struct ready *r)
{
	assert_ptr_equal(r, &fake_probe);
	return "1 of 2 workers ready";
}

void
__wrap_ready_quiet(struct ready *r)
{
	assert_ptr_equal(r, &fake_probe);
	current->quiet++;
}

int
__wrap_ready_kill_booting(pid_t master)
{
	assert_int_equal(master, OLD_PID);
	current->kill_booting++;
	return 0;
}

void
__wrap_ready_kill_unready(struct ready *r)
{
	assert_ptr_equal(r, &fake_probe);
	current->kill_unready++;
}

void
__wrap_ready_term_leftovers(struct ready *r)
{
	assert_ptr_equal(r, &fake_probe);
	current->leftovers++;
}

void
__wrap_ready_kill_dirty(struct ready *r, int sig)
{
	assert_ptr_equal(r, &fake_probe);
	assert_int_equal(sig, SIGKILL);
	current->kill_dirty++;
}

int
__wrap_ready_master_status(const struct ready *r)
{
	(void)r;
	return -1;
}

void
__wrap_ready_free(struct ready *r)
{
	if (r != NULL) {
		assert_ptr_equal(r, &fake_probe);
		current->probes_freed++;
	}
}

pid_t
__wrap_lineage_new_master(struct gw *gw, pid_t parent, pid_t old,
    unsigned long long old_arg, unsigned long long since)
{
	(void)gw;
	(void)old;
	(void)old_arg;
	if (since == 0)
		return current->blocker;
	return parent == getpid() ? current->reparented : current->newborn;
}

pid_t
__wrap_lineage_orphan_new_master(struct gw *gw, unsigned long long tick)
{
	(void)gw;
	(void)tick;
	return current->orphan;
}

unsigned long long
__wrap_proc_arg_start(pid_t pid)
{
	(void)pid;
	return 1;
}

unsigned long long
__wrap_proc_starttime(pid_t pid)
{
	(void)pid;
	return 1;
}

int
__wrap_proc_exists(pid_t pid)
{
	(void)pid;
	return current->prev_exists;
}

unsigned long long
__wrap_proc_now_ticks(void)
{
	return 777;
}

int
__wrap_proc_children(pid_t pid, pid_t **kids, size_t *n)
{
	size_t	i;

	(void)pid;
	*kids = calloc(current->kids + 1, sizeof **kids);
	assert_non_null(*kids);
	for (i = 0; i < current->kids; i++)
		(*kids)[i] = 2000 + (pid_t)i;
	*n = current->kids;
	return 0;
}

int
__wrap_proc_is_zombie(pid_t pid)
{
	(void)pid;
	return 0;
}

pid_t
__wrap_pidfile_read(const char *path, const char **errstr)
{
	(void)path;
	*errstr = current->pidfile_pid == -1 ? "no such file" : NULL;
	return current->pidfile_pid;
}

/* Control-socket moves: nothing to move, no socket here. */
void
__wrap_ctlsock_hide(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t pid)
{
	(void)c;
	(void)gw;
	(void)id;
	(void)pid;
}

void
__wrap_ctlsock_park(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t pid)
{
	(void)c;
	(void)gw;
	(void)id;
	(void)pid;
}

void
__wrap_ctlsock_shelter(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t p1, pid_t p2)
{
	(void)c;
	(void)gw;
	(void)id;
	(void)p1;
	(void)p2;
}

void
__wrap_ctlsock_recover(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t pid)
{
	(void)c;
	(void)gw;
	(void)id;
	(void)pid;
}

void
__wrap_ctlsock_restore(struct ctlsock *c, pid_t pid)
{
	(void)c;
	(void)pid;
}

double
__wrap_now_mono(void)
{
	return fake_now;
}

int
__wrap_kill(pid_t pid, int sig)
{
	sig_add(pid, sig);
	return 0;
}

/* reload.c arms only its timer with event_add: kept here, fired by hand. */
int
__wrap_event_add(struct event *ev, const struct timeval *tv)
{
	assert_non_null(tv);
	current->armed = ev;
	current->armed_after = (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
	return 0;
}

int
__wrap_event_del(struct event *ev)
{
	if (current != NULL && ev == current->armed)
		current->armed = NULL;
	return __real_event_del(ev);
}

/* ---- hooks, answers, fixture ---- */

static void
hook_serve(struct gw *gw, struct master *m)
{
	current->serve++;
	gw->cur = m;		/* as server_set_cur() does */
}

static void
hook_doomed(struct gw *gw)
{
	(void)gw;
	current->doomed++;
}

static void
hook_record(struct gw *gw)
{
	(void)gw;
	current->record++;
}

static void
hook_done(struct gw *gw, const struct reload_outcome *o)
{
	(void)gw;
	current->done++;
	current->outcome = *o;
}

static const struct reload_hooks hooks = {
	.serve = hook_serve,
	.doomed = hook_doomed,
	.record = hook_record,
	.done = hook_done,
};

static void
answered(struct gw *gw, const struct reload_entry *e, void *arg)
{
	struct fixture	*f = arg;

	(void)gw;
	f->answers++;
	f->answered_id = e->id;
	f->answered = e->result;
	snprintf(f->reason, sizeof f->reason, "%s",
	    e->reason != NULL ? e->reason : "");
}

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof *f);

	assert_non_null(f);
	current = f;
	snprintf(f->dir, sizeof f->dir, "/tmp/test_reload.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->pidfile, sizeof f->pidfile, "%s/app.pid", f->dir);
	snprintf(f->pidfile2, sizeof f->pidfile2, "%s/app.pid.2", f->dir);
	snprintf(f->history, sizeof f->history, "%s/unit.history", f->dir);
	f->gw.base = event_base_new();
	assert_non_null(f->gw.base);
	TAILQ_INIT(&f->gw.masters);
	f->gw.cfg.name = "unit";
	f->gw.cfg.warmup = 30;
	f->gw.cfg.probation = 5;
	f->gw.cfg.stop_timeout = 60;
	f->gw.cfg.ready = READY_HEARTBEAT;
	f->gw.cfg.pidfile = f->pidfile;
	f->gw.cfg.pidfile2 = f->pidfile2;
	f->gw.cfg.history = f->history;
	f->gw.started = now_real();
	f->gw.state = GW_STARTING;
	f->gw.notify_fd = -1;
	f->old.pid = OLD_PID;
	f->old.pidfd = -1;
	f->old.status = -1;
	f->gw.cur = &f->old;
	f->pidfile_pid = -1;
	f->nw = f->nr = 2;
	f->kids = 2;
	reload_init(&f->gw, &hooks);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	size_t		 i;

	reload_free(&f->gw);
	history_clear(&f->gw.history);
	event_base_free(f->gw.base);
	for (i = 0; i < f->nwatched; i++)
		free(f->watched[i]);
	(void)unlink(f->history);
	(void)unlink(f->pidfile);
	(void)rmdir(f->dir);
	free(f);
	current = NULL;
	return 0;
}

/* Run what the loop has active (deferred events), without blocking. */
static void
pump(struct fixture *f)
{
	assert_int_not_equal(event_base_loop(f->gw.base, EVLOOP_NONBLOCK),
	    -1);
}

static const char *
state_of(const struct fixture *f)
{
	return reload_state_name(&f->gw);
}

/* The state the machine is in, as an enum, for the coverage. */
static enum reload_state
state_enum(const struct fixture *f)
{
	enum reload_state	s;

	for (s = 0; s < RS_COUNT; s++)
		if (strcmp(reload_state_str(s), state_of(f)) == 0)
			return s;
	fail_msg("no state %s", state_of(f));
	return RS_COUNT;
}

static void
mark(const struct fixture *f, enum reload_event ev)
{
	covered[state_enum(f)][ev] = 1;
}

/* ---- events, as the modules around reload.c deliver them ---- */

static unsigned
ev_request(struct fixture *f)
{
	mark(f, RE_REQUEST);
	return reload_request(&f->gw, TRIGGER_CONTROL, answered, f);
}

static void
ev_booted(struct fixture *f)
{
	mark(f, RE_BOOTED);
	f->gw.state = GW_RUNNING;
	reload_boot_done(&f->gw);
}

/* The reload's timer fires: due, in the test's time. */
static void
ev_timer(struct fixture *f)
{
	struct event		*ev = f->armed;
	event_callback_fn	 cb;

	assert_non_null(ev);
	mark(f, RE_TIMER);
	f->armed = NULL;
	/* A timeval is whole microseconds: a hair more, as real time has. */
	fake_now += f->armed_after + 1e-6;
	cb = event_get_callback(ev);
	cb(-1, EV_TIMEOUT, event_get_callback_arg(ev));
}

static void
ev_ready(struct fixture *f, enum ready_result res)
{
	assert_non_null(f->ready_cb);
	mark(f, RE_READY);
	f->ready_cb(&f->gw, res, f->ready_arg);
}

/* A master's exit with this exit code. */
static void
ev_exit(struct fixture *f, struct master *m, int code)
{
	mark(f, m->pid == OLD_PID ? RE_OLD_EXIT : RE_NEW_EXIT);
	m->exited = 1;
	m->status = code << 8;
	reload_master_exited(&f->gw, m);
}

static void
ev_check_exit(struct fixture *f, int code)
{
	mark(f, RE_CHECK_EXIT);
	reload_child_exited(&f->gw, CHECK_PID, code << 8);
}

static void
ev_stop(struct fixture *f, const char *why)
{
	mark(f, RE_STOP);
	f->gw.state = GW_STOPPING;
	reload_abandon(&f->gw, why);
}

/* The master master_watch() made for pid. */
static struct master *
watched(const struct fixture *f, pid_t pid)
{
	size_t	i;

	for (i = 0; i < f->nwatched; i++)
		if (f->watched[i]->pid == pid)
			return f->watched[i];
	fail_msg("no master %d watched", (int)pid);
	return NULL;
}

/* ---- getting to each state ---- */

static void
to_idle(struct fixture *f)
{
	ev_booted(f);
	assert_string_equal(state_of(f), "idle");
}

static unsigned
to_checking(struct fixture *f)
{
	unsigned	id;

	f->gw.cfg.preflight = 1;
	to_idle(f);
	id = ev_request(f);
	assert_int_not_equal(id, 0);
	assert_string_equal(state_of(f), "checking");
	assert_int_equal(f->checks, 1);
	assert_true(f->armed_after == f->gw.cfg.warmup);
	return id;
}

static void
to_settling(struct fixture *f)
{
	f->blocker = STRAY_PID;
	to_idle(f);
	assert_int_not_equal(ev_request(f), 0);
	assert_string_equal(state_of(f), "settling");
	/* A new master no reload verified is stopped first. */
	assert_int_equal(sent(f, STRAY_PID, SIGTERM), 1);
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 0);
}

static void
to_forking(struct fixture *f)
{
	to_idle(f);
	assert_int_not_equal(ev_request(f), 0);
	assert_string_equal(state_of(f), "forking");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 1);
}

static struct master *
to_warming(struct fixture *f)
{
	to_forking(f);
	f->newborn = NEW_PID;
	ev_timer(f);
	assert_string_equal(state_of(f), "warming");
	assert_int_equal(f->probes, 1);
	assert_int_equal(f->failfast, 1);
	assert_true(f->ready_budget == f->gw.cfg.warmup);
	return watched(f, NEW_PID);
}

static struct master *
to_probation(struct fixture *f)
{
	struct master	*m = to_warming(f);

	ev_ready(f, READY_OK);
	assert_string_equal(state_of(f), "probation");
	assert_true(f->armed_after == f->gw.cfg.probation);
	assert_int_equal(sent(f, OLD_PID, SIGTERM), 0);
	return m;
}

static struct master *
to_draining(struct fixture *f)
{
	struct master	*m = to_probation(f);

	ev_timer(f);
	assert_string_equal(state_of(f), "draining");
	assert_int_equal(f->quiet, 1);
	assert_int_equal(sent(f, OLD_PID, SIGTERM), 1);
	assert_int_equal(f->kill_booting, 1);
	assert_ptr_equal(f->gw.cur, &f->old);	/* until the old one exits */
	return m;
}

static struct master *
to_promoting(struct fixture *f)
{
	struct master	*m = to_draining(f);

	ev_exit(f, &f->old, 0);
	assert_string_equal(state_of(f), "promoting");
	assert_ptr_equal(f->gw.cur, m);
	assert_int_equal(sent(f, NEW_PID, SIGCHLD), 1);
	return m;
}

static struct master *
to_aborting(struct fixture *f)
{
	struct master	*m = to_warming(f);

	ev_ready(f, READY_TIMEOUT);
	assert_string_equal(state_of(f), "aborting");
	assert_int_equal(sent(f, NEW_PID, SIGTERM), 1);
	assert_int_equal(f->kill_unready, 1);
	assert_int_equal(sent(f, OLD_PID, SIGTERM), 0);
	return m;
}

/* The reload has ended (its outcome delivered) with this result, in
 * this state; whoever asked has heard (to_*() ask once). */
static void
assert_ended(struct fixture *f, enum reload_result res, const char *in)
{
	const struct reload_entry	*e;

	pump(f);
	assert_string_equal(state_of(f), in);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->outcome.result, res);
	assert_int_equal(f->probes_freed, f->probes);
	assert_null(f->armed);
	assert_int_equal(f->gw.history.count, 1);
	e = history_at(&f->gw.history, 0);
	assert_int_equal(e->result, res);
	if (f->answers == 1) {		/* more: the test checks them */
		assert_int_equal(f->answered, res);
		assert_int_equal(f->answered_id, e->id);
	}
}

/*
 * Failed, and nothing serves any more (the old master died, with this
 * exit code, and nothing new took over): the answer and the history say
 * down, the machine is stopped, and server.c hears it with the code.
 */
static void
assert_down(struct fixture *f, int code, const char *reason)
{
	assert_ended(f, RESULT_FAILED, "stopped");
	assert_int_equal(f->answers, 1);
	assert_string_equal(f->reason, reason);
	assert_true(history_at(&f->gw.history, 0)->down);
	assert_null(f->gw.cur);
	assert_true(f->outcome.unserved);
	assert_int_equal(f->outcome.code, code);
	assert_int_equal(ev_request(f), 0);	/* refused from now on */
}

/* ---- booting, idle, stopped ---- */

/*
 * While the first generation boots, requests queue and coalesce into one
 * id; its end (booted) starts that reload from idle through the kick.
 */
static void
test_booting_queues_then_kicks(void **state)
{
	struct fixture	*f = *state;
	unsigned	 id1, id2;

	assert_string_equal(state_of(f), "booting");
	id1 = ev_request(f);
	id2 = ev_request(f);
	assert_int_not_equal(id1, 0);
	assert_int_equal(id2, id1);		/* coalesced */
	assert_true(reload_pending(&f->gw));
	assert_false(reload_running(&f->gw));
	pump(f);
	assert_int_equal(f->record, 0);		/* no reload: no record */
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 0);

	ev_booted(f);
	assert_string_equal(state_of(f), "idle");
	mark(f, RE_KICK);	/* the kick runs in idle */
	pump(f);
	assert_string_equal(state_of(f), "forking");
	assert_false(reload_pending(&f->gw));
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 1);
	assert_true(f->record > 0);
}

/* A stop while booting fails the queued reload, once per waiter, and
 * leaves nothing in the history; requests are refused from then on. */
static void
test_booting_stop_then_refuse(void **state)
{
	struct fixture		*f = *state;
	unsigned		 id;
	unsigned long long	 ok = 1, failed = 1;

	id = ev_request(f);
	(void)ev_request(f);
	ev_stop(f, "abandoned: the wrapper is stopping");
	assert_string_equal(state_of(f), "stopped");
	assert_int_equal(f->answers, 2);
	assert_int_equal(f->answered_id, id);
	assert_int_equal(f->answered, RESULT_FAILED);
	assert_string_equal(f->reason, "abandoned: the wrapper is stopping");
	assert_false(reload_pending(&f->gw));
	pump(f);
	assert_int_equal(f->gw.history.count, 0);
	assert_int_equal(f->done, 0);
	reload_totals(&f->gw, &ok, &failed);
	assert_true(ok == 0 && failed == 0);

	assert_int_equal(ev_request(f), 0);	/* refused, no waiter */
	ev_stop(f, "again");			/* heard, nothing to do */
	pump(f);
	assert_int_equal(f->answers, 2);
	assert_string_equal(state_of(f), "stopped");
}

/* A waiter that went away is not called; the queue stays. */
static void
test_forget(void **state)
{
	struct fixture	*f = *state;

	assert_int_not_equal(ev_request(f), 0);
	reload_forget(&f->gw, f);
	assert_true(reload_pending(&f->gw));
	ev_stop(f, "stopping");
	assert_int_equal(f->answers, 0);
	assert_false(reload_pending(&f->gw));
}

/* A stop while idle: stopped, nothing to answer. */
static void
test_idle_stop(void **state)
{
	struct fixture	*f = *state;

	to_idle(f);
	ev_stop(f, "stopping");
	assert_string_equal(state_of(f), "stopped");
	assert_int_equal(f->answers + f->done, 0);
	assert_int_equal(ev_request(f), 0);
}

/* A reaped child that is no check of ours is nobody's business here. */
static void
test_stray_child(void **state)
{
	struct fixture	*f = *state;

	to_idle(f);
	reload_child_exited(&f->gw, 12345, 0);
	pump(f);
	assert_string_equal(state_of(f), "idle");
	assert_int_equal(f->record + f->done + f->answers, 0);
}

/* The previous wrapper's reload, its new master known: warmed, and it
 * keeps the record's id. */
static void
test_resume_warming(void **state)
{
	struct fixture	*f = *state;

	mark(f, RE_RESUME);
	f->gw.state = GW_RUNNING;
	reload_resume(&f->gw, NEW_PID, 7, NULL);
	assert_string_equal(state_of(f), "warming");
	assert_int_equal(watched(f, NEW_PID)->adopted, 1);
	ev_ready(f, READY_OK);
	ev_timer(f);				/* probation passed */
	ev_exit(f, &f->old, 0);			/* drained */
	f->pidfile_pid = NEW_PID;
	ev_timer(f);				/* pidfile taken */
	assert_ended(f, RESULT_OK, "idle");
	assert_int_equal(f->answers, 0);	/* nobody asked */
	assert_int_equal(history_at(&f->gw.history, 0)->id, 7);
}

/* ... SIGUSR2 sent and no new master seen: forking, from its tick. */
static void
test_resume_forking(void **state)
{
	struct fixture	*f = *state;

	mark(f, RE_RESUME);
	f->gw.state = GW_RUNNING;
	reload_resume_forking(&f->gw, 9, 555);
	assert_string_equal(state_of(f), "forking");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 0);	/* sent already */
	/* Nothing appears within RELOAD_FORK_MAX: failed, nothing to stop. */
	while (strcmp(state_of(f), "forking") == 0)
		ev_timer(f);
	pump(f);
	assert_string_equal(state_of(f), "idle");
	assert_int_equal(f->gw.history.count, 1);
	assert_int_equal(history_at(&f->gw.history, 0)->id, 9);
	assert_int_equal(history_at(&f->gw.history, 0)->result,
	    RESULT_FAILED);
}

/* A resume once the machine left booting is ignored. */
static void
test_resume_late_ignored(void **state)
{
	struct fixture	*f = *state;

	to_idle(f);
	reload_resume(&f->gw, NEW_PID, 3, NULL);
	assert_string_equal(state_of(f), "idle");
	assert_int_equal(f->nwatched, 0);
}

/* ---- the whole way, ok ---- */

static void
test_ok_end_to_end(void **state)
{
	struct fixture			*f = *state;
	const struct reload_entry	*e;
	struct master			*m = to_promoting(f);
	enum reload_phase		 p;

	f->pidfile_pid = -1;
	ev_timer(f);			/* not taken yet: again */
	assert_string_equal(state_of(f), "promoting");
	f->pidfile_pid = NEW_PID;
	ev_timer(f);
	assert_ended(f, RESULT_OK, "idle");
	e = history_at(&f->gw.history, 0);
	assert_int_equal(e->old_master, OLD_PID);
	assert_int_equal(e->new_master, NEW_PID);
	assert_int_equal(e->workers, 2);
	assert_null(e->reason);
	/* Every phase it went through is timed; check and settle it
	 * skipped are not. */
	for (p = 0; p < PHASE_COUNT; p++)
		assert_true((e->t_phase[p] >= 0) == (p != PHASE_CHECK &&
		    p != PHASE_SETTLE));
	assert_ptr_equal(f->gw.cur, m);
	assert_false(f->outcome.unserved);
}

/* A request while a reload runs queues one more, kicked at its end. */
static void
test_queue_while_running_kicks_after(void **state)
{
	struct fixture	*f = *state;
	unsigned	 id;

	(void)to_warming(f);
	id = ev_request(f);
	assert_true(reload_pending(&f->gw));
	ev_ready(f, READY_FAILED);		/* -> aborting */
	ev_exit(f, watched(f, NEW_PID), 3);	/* -> idle, failed */
	f->newborn = 0;
	mark(f, RE_KICK);
	pump(f);				/* the kick */
	assert_string_equal(state_of(f), "forking");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 2);
	assert_int_equal(f->answers, 1);	/* the first reload's */
	assert_int_not_equal(id, f->answered_id);
	assert_false(reload_pending(&f->gw));
}

/* ---- every running state: a request queues, a stop ends it ---- */

static void go_checking(struct fixture *f) { (void)to_checking(f); }
static void go_warming(struct fixture *f) { (void)to_warming(f); }
static void go_probation(struct fixture *f) { (void)to_probation(f); }
static void go_draining(struct fixture *f) { (void)to_draining(f); }
static void go_promoting(struct fixture *f) { (void)to_promoting(f); }
static void go_aborting(struct fixture *f) { (void)to_aborting(f); }

static void
test_each_state_queues_and_stops(void **state)
{
	static struct {
		const char	*name;
		void		(*to)(struct fixture *);
	} const states[] = {
		{ "checking",	go_checking },
		{ "settling",	to_settling },
		{ "forking",	to_forking },
		{ "warming",	go_warming },
		{ "probation",	go_probation },
		{ "draining",	go_draining },
		{ "promoting",	go_promoting },
		{ "aborting",	go_aborting },
	};
	struct fixture	*f;
	size_t		 i;
	unsigned	 id;

	(void)state;
	for (i = 0; i < sizeof states / sizeof states[0]; i++) {
		setup((void **)&f);
		states[i].to(f);
		assert_string_equal(state_of(f), states[i].name);
		id = ev_request(f);
		assert_int_not_equal(id, 0);
		assert_true(reload_pending(&f->gw));
		assert_string_equal(state_of(f), states[i].name);
		ev_stop(f, "abandoned: the wrapper is stopping");
		pump(f);
		assert_string_equal(state_of(f), "stopped");
		/* The running reload and the queued one, both failed. */
		assert_int_equal(f->answers, 2);
		assert_int_equal(f->answered, RESULT_FAILED);
		assert_false(reload_pending(&f->gw));
		assert_int_equal(f->gw.history.count, 1);
		assert_string_equal(history_at(&f->gw.history, 0)->reason,
		    "abandoned: the wrapper is stopping");
		assert_null(f->armed);
		assert_int_equal(f->probes_freed, f->probes);
		if (strcmp(states[i].name, "checking") == 0)
			assert_int_equal(f->checks_killed, 1);
		teardown((void **)&f);
	}
}

/* ---- checking ---- */

static void
test_check_passes(void **state)
{
	struct fixture	*f = *state;

	(void)to_checking(f);
	ev_check_exit(f, 0);
	assert_string_equal(state_of(f), "forking");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 1);
	/* A late reap of the same PID is nobody's now. */
	reload_child_exited(&f->gw, CHECK_PID, 0);
	assert_string_equal(state_of(f), "forking");
}

static void
test_check_fails(void **state)
{
	struct fixture	*f = *state;

	(void)to_checking(f);
	ev_check_exit(f, 1);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "pre-flight: gunicorn --check-config "
	    "exited 1: SyntaxError: bad");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 0);
	assert_int_equal(f->nsigs, 0);
}

static void
test_check_late(void **state)
{
	struct fixture	*f = *state;

	(void)to_checking(f);
	ev_timer(f);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_int_equal(f->checks_killed, 1);
	assert_string_equal(f->reason, "pre-flight: gunicorn --check-config "
	    "did not finish within 30 s");
}

static void
test_check_old_died(void **state)
{
	struct fixture	*f = *state;

	(void)to_checking(f);
	ev_exit(f, &f->old, 1);
	assert_int_equal(f->checks_killed, 1);
	assert_down(f, 1, "old master 1001 exited with status 1 during the "
	    "pre-flight check");
}

/* ---- settling ---- */

static void
test_settle_then_fork(void **state)
{
	struct fixture	*f = *state;

	to_settling(f);
	ev_timer(f);				/* still there */
	assert_string_equal(state_of(f), "settling");
	f->blocker = 0;
	ev_timer(f);
	assert_string_equal(state_of(f), "forking");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 1);
}

static void
test_settle_gives_up(void **state)
{
	struct fixture	*f = *state;

	to_settling(f);
	while (strcmp(state_of(f), "settling") == 0)
		ev_timer(f);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "earlier new master 1003 still not "
	    "reaped by master 1001 after 5 s");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 0);
}

static void
test_settle_old_died(void **state)
{
	struct fixture	*f = *state;

	to_settling(f);
	ev_exit(f, &f->old, 2);
	assert_down(f, 2, "old master 1001 exited with status 2 before a new "
	    "master appeared");
}

/* ---- forking ---- */

static void
test_fork_old_died_new_takes_over(void **state)
{
	struct fixture	*f = *state;

	to_forking(f);
	f->reparented = NEW_PID;	/* orphaned to us */
	ev_exit(f, &f->old, 0);
	assert_string_equal(state_of(f), "warming");
	assert_null(f->gw.cur);		/* nothing serves until it is ready */
	ev_ready(f, READY_OK);		/* no probation, nothing to drain */
	assert_string_equal(state_of(f), "promoting");
	f->pidfile_pid = NEW_PID;
	ev_timer(f);
	assert_ended(f, RESULT_OK, "idle");
	assert_int_equal(sent(f, OLD_PID, SIGTERM), 0);
}

static void
test_fork_old_died_nothing_new(void **state)
{
	struct fixture	*f = *state;

	to_forking(f);
	ev_exit(f, &f->old, 1);
	assert_down(f, 1, "old master 1001 exited with status 1 before a new "
	    "master appeared");
}

/* ... and a reload queued behind it is answered: it will never start. */
static void
test_down_fails_the_queued(void **state)
{
	struct fixture	*f = *state;
	unsigned	 queued;

	to_forking(f);
	queued = ev_request(f);
	ev_exit(f, &f->old, 1);
	pump(f);
	assert_string_equal(state_of(f), "stopped");
	assert_int_equal(f->answers, 2);
	assert_int_equal(f->answered_id, queued);
	assert_int_equal(f->answered, RESULT_FAILED);
	assert_string_equal(f->reason, "not started: nothing serves any more, "
	    "the old generation is gone");
	assert_false(reload_pending(&f->gw));
	assert_int_equal(f->gw.history.count, 1);	/* it never ran */
}

static void
test_fork_stop_stops_unseen_new(void **state)
{
	struct fixture	*f = *state;

	to_forking(f);
	f->newborn = NEW_PID;		/* there, not seen by a tick yet */
	ev_stop(f, "stopping");
	assert_int_equal(sent(f, NEW_PID, SIGTERM), 1);
	assert_string_equal(state_of(f), "stopped");
}

/* ---- warming ---- */

static void
test_warm_new_died(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_warming(f);

	f->nr = 1;
	ev_exit(f, m, 3);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "new master 1002 exited with status 3 "
	    "0.0 s into warm-up, 1 of 2 workers ready");
	assert_int_equal(sent(f, OLD_PID, SIGTERM), 0);
	assert_ptr_equal(f->gw.cur, &f->old);
}

static void
test_warm_old_died_then_ready(void **state)
{
	struct fixture	*f = *state;

	(void)to_warming(f);
	ev_exit(f, &f->old, 0);
	assert_string_equal(state_of(f), "warming");
	assert_null(f->gw.cur);
	ev_ready(f, READY_OK);		/* promoted at once */
	assert_string_equal(state_of(f), "promoting");
}

static void
test_warm_crash(void **state)
{
	struct fixture	*f = *state;

	struct master	*m = to_warming(f);

	ev_ready(f, READY_CRASH);
	assert_string_equal(state_of(f), "aborting");
	assert_string_equal(f->reason, "");	/* not answered yet */
	ev_exit(f, m, 0);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "crash: 0.0 s into warming: 1 of 2 "
	    "workers ready");
}

/* The new master is gone before it can be watched: failed, and it is
 * remembered (the next reload settles first if it is still in /proc). */
static void
test_fork_new_gone_before_watch(void **state)
{
	struct fixture	*f = *state;

	to_forking(f);
	f->newborn = NEW_PID;
	f->watch_fails = 1;
	ev_timer(f);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_true(strstr(f->reason, "new master 1002 exited") != NULL);
	/* Still in /proc: the next reload waits for it. */
	f->watch_fails = 0;
	f->newborn = 0;
	f->prev_exists = 1;
	assert_int_not_equal(ev_request(f), 0);
	assert_string_equal(state_of(f), "settling");
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 1);
}

/* The check cannot even start: failed, nothing signalled. */
static void
test_check_cannot_start(void **state)
{
	struct fixture	*f = *state;

	f->check_fails = 1;
	f->gw.cfg.preflight = 1;
	to_idle(f);
	assert_int_not_equal(ev_request(f), 0);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "pre-flight: cannot start gunicorn "
	    "--check-config");
	assert_int_equal(f->nsigs, 0);
}

/* ---- probation ---- */

static void
test_probation_crash_loop(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_probation(f);

	ev_ready(f, READY_CRASH);
	assert_string_equal(state_of(f), "aborting");
	ev_exit(f, m, 0);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "crash loop: 0.0 s into probation: "
	    "1 of 2 workers ready");
	assert_int_equal(f->leftovers, 1);
	assert_int_equal(sent(f, OLD_PID, SIGTERM), 0);
}

static void
test_probation_new_died(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_probation(f);

	ev_exit(f, m, 1);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "new master 1002 exited with status 1 "
	    "0.0 s into probation, 2 of 2 workers ready");
}

static void
test_probation_old_died(void **state)
{
	struct fixture	*f = *state;

	(void)to_probation(f);
	ev_exit(f, &f->old, 0);
	assert_string_equal(state_of(f), "promoting");
	assert_int_equal(sent(f, OLD_PID, SIGTERM), 0);
}

/* ---- draining ---- */

static void
test_drain_ticks_then_kills(void **state)
{
	struct fixture	*f = *state;

	(void)to_draining(f);
	/* Within the respawn window: the booting workers again. */
	ev_timer(f);
	assert_int_equal(f->kill_booting, 2);
	/* Past it, then past the stop timeout: SIGKILL. */
	while (sent(f, OLD_PID, SIGKILL) == 0)
		ev_timer(f);
	assert_int_equal(sent(f, -OLD_PID, SIGKILL), 1);
	assert_string_equal(state_of(f), "draining");
	ev_exit(f, &f->old, 9);
	f->pidfile_pid = NEW_PID;
	ev_timer(f);
	assert_ended(f, RESULT_OK, "idle");
	assert_string_equal(history_at(&f->gw.history, 0)->note,
	    "old master 1001 killed after the stop timeout (60 s)");
}

static void
test_drain_new_died(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_draining(f);
	unsigned	 queued = ev_request(f);

	ev_exit(f, m, 1);
	/* The old one drains and nothing replaces it: doomed, down, and the
	 * queued reload is told at once, not sent to the draining master. */
	assert_ended(f, RESULT_FAILED, "stopped");
	assert_int_equal(f->doomed, 1);
	assert_true(history_at(&f->gw.history, 0)->down);
	assert_int_equal(f->answers, 2);
	assert_int_equal(f->answered_id, queued);
	assert_false(reload_pending(&f->gw));
	assert_int_equal(sent(f, OLD_PID, SIGUSR2), 1);
	assert_string_equal(history_at(&f->gw.history, 0)->reason,
	    "new master 1002 exited with status 1 while the old one was "
	    "draining");
}

/* ---- promoting ---- */

static void
test_promote_gives_up_waiting(void **state)
{
	struct fixture	*f = *state;

	(void)to_promoting(f);
	while (strcmp(state_of(f), "promoting") == 0)
		ev_timer(f);
	assert_ended(f, RESULT_OK, "idle");
	assert_string_equal(history_at(&f->gw.history, 0)->note,
	    "pidfile not taken over");
}

static void
test_promote_new_died(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_promoting(f);

	ev_exit(f, m, 1);
	/* It served alone: nothing does now. */
	assert_down(f, 1, "new master 1002 exited with status 1 before "
	    "taking over the pidfile");
}

/* ---- aborting ---- */

/* Workers still run under the failed new master (finishing requests):
 * it has the stop timeout to exit, then SIGKILL. */
static void
test_abort_ticks_then_kills(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_aborting(f);
	double		 t0 = fake_now;

	ev_timer(f);
	assert_int_equal(f->kill_unready, 2);
	while (sent(f, NEW_PID, SIGKILL) == 0)
		ev_timer(f);
	assert_true(fake_now - t0 >= f->gw.cfg.stop_timeout);
	assert_int_equal(f->kill_dirty, 1);
	assert_int_equal(sent(f, -NEW_PID, SIGKILL), 1);
	ev_exit(f, m, 9);
	assert_ended(f, RESULT_FAILED, "idle");
	assert_string_equal(f->reason, "not ready after 30 s: 1 of 2 workers "
	    "ready");
	assert_ptr_equal(f->gw.cur, &f->old);
	assert_false(history_at(&f->gw.history, 0)->down);
}

/* Nothing left under it, yet it has not exited: no stop timeout to wait,
 * SIGKILL after the grace. */
static void
test_abort_kills_an_empty_master_early(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_aborting(f);
	double		 t0 = fake_now;
	int		 i;

	f->kids = 0;
	while (sent(f, NEW_PID, SIGKILL) == 0)
		ev_timer(f);
	assert_true(fake_now - t0 >= RELOAD_ABORT_GRACE);
	assert_true(fake_now - t0 < RELOAD_ABORT_GRACE + 1);
	/* Once: the next ticks wait for its exit (a stop timeout more). */
	for (i = 0; i < 20; i++)
		ev_timer(f);
	assert_int_equal(sent(f, NEW_PID, SIGKILL), 1);
	ev_exit(f, m, 9);
	assert_ended(f, RESULT_FAILED, "idle");
}

/* The old master dies while the failed new one is being stopped: nothing
 * is left, down once the new one has gone, with the old one's status. */
static void
test_abort_old_died(void **state)
{
	struct fixture	*f = *state;
	struct master	*m = to_aborting(f);

	ev_exit(f, &f->old, 3);
	assert_string_equal(state_of(f), "aborting");
	assert_null(f->gw.cur);
	ev_exit(f, m, 0);
	assert_down(f, 3, "not ready after 30 s: 1 of 2 workers ready");
}

/* ---- coverage ---- */

/* Every cell the table names was driven by a test above. */
static void
test_every_cell_driven(void **state)
{
	enum reload_state	s;
	enum reload_event	ev;
	int			missing = 0;

	(void)state;
	for (s = 0; s < RS_COUNT; s++)
		for (ev = 0; ev < RE_COUNT; ev++) {
			if (reload_cell_name(s, ev) == NULL || covered[s][ev])
				continue;
			print_error("not driven: %s in %s (%s)\n",
			    reload_event_str(ev), reload_state_str(s),
			    reload_cell_name(s, ev));
			missing++;
		}
	assert_int_equal(missing, 0);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_table),
		cmocka_unit_test(test_reload_table_rules),
		cmocka_unit_test(test_reload_range),
		cmocka_unit_test(test_reload_phase_times),
		T(test_booting_queues_then_kicks),
		T(test_booting_stop_then_refuse),
		T(test_forget),
		T(test_idle_stop),
		T(test_stray_child),
		T(test_resume_warming),
		T(test_resume_forking),
		T(test_resume_late_ignored),
		T(test_ok_end_to_end),
		T(test_queue_while_running_kicks_after),
		cmocka_unit_test(test_each_state_queues_and_stops),
		T(test_check_passes),
		T(test_check_fails),
		T(test_check_late),
		T(test_check_old_died),
		T(test_settle_then_fork),
		T(test_settle_gives_up),
		T(test_settle_old_died),
		T(test_fork_old_died_new_takes_over),
		T(test_fork_old_died_nothing_new),
		T(test_down_fails_the_queued),
		T(test_fork_stop_stops_unseen_new),
		T(test_warm_new_died),
		T(test_warm_old_died_then_ready),
		T(test_warm_crash),
		T(test_fork_new_gone_before_watch),
		T(test_check_cannot_start),
		T(test_probation_crash_loop),
		T(test_probation_new_died),
		T(test_probation_old_died),
		T(test_drain_ticks_then_kills),
		T(test_drain_new_died),
		T(test_promote_gives_up_waiting),
		T(test_promote_new_died),
		T(test_abort_ticks_then_kills),
		T(test_abort_kills_an_empty_master_early),
		T(test_abort_old_died),
		cmocka_unit_test(test_every_cell_driven),
	};

	log_init("test_reload", "unit");
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
