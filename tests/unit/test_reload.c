/* SPDX-License-Identifier: MIT */
/*
 * test_reload.c: unit tests (cmocka) for reload.c's state machine without
 * a gunicorn.  The [state][event] table is checked row by row against a
 * copy written out here (so a changed decision is a visible change to
 * two places), with the range checks and names around it; the phase-time
 * bookkeeping (one setter, one array); and the machine itself, driven by
 * synthetic events on a real event loop with a minimal struct gw: requests
 * while the first generation boots, coalescing, a kick that must not
 * start a reload while booting, and a stop that answers every waiter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "clock.h"
#include "gunicorn.h"
#include "gw.h"
#include "history.h"
#include "log.h"
#include "reload.h"

/* ---- the table ---- */

#define I	RA_IGNORE
#define B	RA_BEGIN
#define Q	RA_QUEUE
#define H	RA_HANDLE
/* What each state does with each event, as reload.h's diagram says:
 * requests begin when idle and queue otherwise; a kick only starts a
 * queued reload from idle; the timer matters in every timed state but
 * warming (the probe keeps time there); the probe's verdict only while
 * warming or in probation; a new master's exit once there is one; the
 * old master's until it is gone (promoting); the check's exit while
 * checking; a stop in any running state. */
static const enum reload_action want[RS_COUNT][RE_COUNT] = {
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

static void
test_reload_table(void **state)
{
	enum reload_state	s;
	enum reload_event	ev;
	enum reload_action	a;

	(void)state;
	for (s = 0; s < RS_COUNT; s++)
		for (ev = 0; ev < RE_COUNT; ev++) {
			a = reload_decide(s, ev);
			if (a != want[s][ev])
				fail_msg("%s in %s: %s, want %s",
				    reload_event_str(ev), reload_state_str(s),
				    reload_action_str(a),
				    reload_action_str(want[s][ev]));
		}
}

/* Whatever the table says, some rules hold in every row. */
static void
test_reload_table_rules(void **state)
{
	enum reload_state	s;
	enum reload_event	ev;
	enum reload_action	a;

	(void)state;
	for (s = 0; s < RS_COUNT; s++) {
		/* A request is never lost: begun or queued. */
		a = reload_decide(s, RE_REQUEST);
		assert_true(a == (s == RS_IDLE ? RA_BEGIN : RA_QUEUE));
		/* A stop ends whatever runs. */
		assert_int_equal(reload_decide(s, RE_STOP),
		    s == RS_IDLE ? RA_IGNORE : RA_HANDLE);
		/* Begin and queue are the words of requests and kicks only
		 * (reload_handles() is fatal on them). */
		for (ev = 0; ev < RE_COUNT; ev++) {
			a = reload_decide(s, ev);
			if (ev != RE_REQUEST && ev != RE_KICK)
				assert_true(a == RA_IGNORE || a == RA_HANDLE);
		}
	}
	/* Idle has nothing running to handle anything. */
	for (ev = 0; ev < RE_COUNT; ev++)
		assert_int_not_equal(reload_decide(RS_IDLE, ev), RA_HANDLE);
}

static void
test_reload_range(void **state)
{
	enum reload_state	s;
	enum reload_event	ev;
	enum reload_action	a;

	(void)state;
	/* Out of range: ignored, and named "?", never read past a table. */
	assert_int_equal(reload_decide(RS_COUNT, RE_REQUEST), RA_IGNORE);
	assert_int_equal(reload_decide((enum reload_state)-1, RE_STOP),
	    RA_IGNORE);
	assert_int_equal(reload_decide(RS_WARMING, RE_COUNT), RA_IGNORE);
	assert_int_equal(reload_decide(RS_WARMING, (enum reload_event)99),
	    RA_IGNORE);
	assert_string_equal(reload_state_str(RS_COUNT), "?");
	assert_string_equal(reload_event_str(RE_COUNT), "?");
	assert_string_equal(reload_action_str(RA_COUNT), "?");
	assert_int_equal(reload_phase_of(RS_COUNT), PHASE_COUNT);
	/* In range: every one named (the protocol's phase names). */
	for (s = 0; s < RS_COUNT; s++)
		assert_string_not_equal(reload_state_str(s), "?");
	for (ev = 0; ev < RE_COUNT; ev++)
		assert_string_not_equal(reload_event_str(ev), "?");
	for (a = 0; a < RA_COUNT; a++)
		assert_string_not_equal(reload_action_str(a), "?");
	assert_string_equal(reload_state_str(RS_IDLE), "idle");
	assert_string_equal(reload_state_str(RS_CHECKING), "checking");
	assert_string_equal(reload_state_str(RS_PROBATION), "probation");
	assert_string_equal(reload_state_str(RS_ABORTING), "aborting");
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
	struct reload_entry	e;
	enum reload_phase	p;
	size_t			i;

	(void)state;
	assert_int_equal(sizeof map / sizeof map[0], PHASE_COUNT);
	memset(&e, 0, sizeof e);
	history_phases_clear(&e);
	for (p = 0; p < PHASE_COUNT; p++)
		assert_true(e.t_phase[p] == -1);
	/* Idle and aborting are not timed phases: nothing is written. */
	assert_int_equal(reload_phase_of(RS_IDLE), PHASE_COUNT);
	assert_int_equal(reload_phase_of(RS_ABORTING), PHASE_COUNT);
	assert_int_equal(reload_set_phase_time(&e, RS_IDLE, 1), -1);
	assert_int_equal(reload_set_phase_time(&e, RS_ABORTING, 1), -1);
	assert_int_equal(reload_set_phase_time(&e, RS_COUNT, 1), -1);
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

/* ---- the machine, on synthetic events ---- */

struct fixture {
	struct gw		 gw;
	int			 serve, doomed, record, done;
	struct reload_outcome	 outcome;
	int			 answers;
	unsigned		 answered_id;
	enum reload_result	 answered;
	char			 reason[128];
};

static struct fixture	*current;

static void
hook_serve(struct gw *gw, struct master *m)
{
	(void)gw;
	(void)m;
	current->serve++;
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
	f->gw.base = event_base_new();
	assert_non_null(f->gw.base);
	TAILQ_INIT(&f->gw.masters);
	f->gw.cfg.name = "unit";
	f->gw.cfg.warmup = 30;
	f->gw.started = now_real();
	f->gw.state = GW_STARTING;
	f->gw.notify_fd = -1;
	current = f;
	reload_init(&f->gw, &hooks);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	reload_free(&f->gw);
	history_clear(&f->gw.history);
	event_base_free(f->gw.base);
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

/* Nothing serves and nothing boots: a request is refused, no waiter. */
static void
test_reload_refused_without_master(void **state)
{
	struct fixture	*f = *state;

	f->gw.state = GW_RUNNING;
	assert_int_equal(reload_request(&f->gw, TRIGGER_SIGNAL, answered, f),
	    0);
	f->gw.state = GW_STOPPING;
	assert_int_equal(reload_request(&f->gw, TRIGGER_CONTROL, answered,
	    f), 0);
	pump(f);
	assert_int_equal(f->answers, 0);
	assert_false(reload_running(&f->gw));
	assert_false(reload_pending(&f->gw));
	assert_string_equal(reload_state_name(&f->gw), "idle");
}

/*
 * While the first generation boots, requests queue (RA_BEGIN in idle,
 * but the daemon is not running yet) and coalesce into one id; a kick
 * while still booting starts nothing; a stop answers every waiter once,
 * failed, with its reason, and leaves nothing queued.
 */
static void
test_reload_queue_then_stop(void **state)
{
	struct fixture	*f = *state;
	struct master	 m;
	unsigned	 id1, id2;

	memset(&m, 0, sizeof m);
	m.pid = 1;		/* never signalled: nothing runs */
	m.pidfd = -1;
	f->gw.cur = &m;
	id1 = reload_request(&f->gw, TRIGGER_SIGNAL, answered, f);
	assert_int_not_equal(id1, 0);
	assert_true(reload_pending(&f->gw));
	assert_false(reload_running(&f->gw));
	id2 = reload_request(&f->gw, TRIGGER_CONTROL, answered, f);
	assert_int_equal(id2, id1);		/* coalesced */
	reload_boot_done(&f->gw);		/* the kick: still booting */
	pump(f);
	assert_false(reload_running(&f->gw));
	assert_true(reload_pending(&f->gw));
	assert_int_equal(f->answers, 0);
	assert_int_equal(f->record, 0);		/* no phase: no record */

	reload_abandon(&f->gw, "abandoned: the wrapper is stopping");
	assert_int_equal(f->answers, 2);
	assert_int_equal(f->answered_id, id1);
	assert_int_equal(f->answered, RESULT_FAILED);
	assert_string_equal(f->reason, "abandoned: the wrapper is stopping");
	assert_false(reload_pending(&f->gw));
	/* Nothing ran: no history entry, no outcome for server.c. */
	pump(f);
	assert_int_equal(f->gw.history.count, 0);
	assert_int_equal(f->done, 0);
	assert_int_equal(f->serve + f->doomed, 0);
	{
		unsigned long long	ok = 1, failed = 1;

		/* ... and none in status's totals. */
		reload_totals(&f->gw, &ok, &failed);
		assert_true(ok == 0 && failed == 0);
	}
	f->gw.cur = NULL;
}

/* A waiter that went away is not called; the queue stays. */
static void
test_reload_forget(void **state)
{
	struct fixture	*f = *state;
	struct master	 m;

	memset(&m, 0, sizeof m);
	m.pid = 1;
	m.pidfd = -1;
	f->gw.cur = &m;
	assert_int_not_equal(reload_request(&f->gw, TRIGGER_CONTROL,
	    answered, f), 0);
	reload_forget(&f->gw, f);
	assert_true(reload_pending(&f->gw));
	reload_abandon(&f->gw, "stopping");
	assert_int_equal(f->answers, 0);
	assert_false(reload_pending(&f->gw));
	f->gw.cur = NULL;
}

/* A reaped child that is no check of ours is nobody's business here. */
static void
test_reload_stray_child(void **state)
{
	struct fixture	*f = *state;

	reload_child_exited(&f->gw, 12345, 0);
	pump(f);
	assert_false(reload_running(&f->gw));
	assert_int_equal(f->record + f->done + f->answers, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_table),
		cmocka_unit_test(test_reload_table_rules),
		cmocka_unit_test(test_reload_range),
		cmocka_unit_test(test_reload_phase_times),
		cmocka_unit_test_setup_teardown(
		    test_reload_refused_without_master, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_queue_then_stop,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_forget, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reload_stray_child,
		    setup, teardown),
	};

	log_init("test_reload", "unit");
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
