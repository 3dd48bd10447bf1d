/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: see metrics.h.  Everything is derived from the status reply
 * (and the master's start time, which the caller looks up): one family at
 * a time, HELP and TYPE first, then one sample per daemon, as the format
 * requires all samples of a family to stand together.
 *
 * reloads_total is the daemon's own count of the reloads it finished
 * since it started (status's "reloads"): it only grows, and starts again
 * from 0 when the wrapper does, as a Prometheus counter may.  From a
 * daemon too old to send it, the history's entries are counted instead,
 * which holds the last 50 only.  last_reload_id, which only grows, counts
 * every reload.  The last reload is the newest finished history entry;
 * last_success_timestamp_seconds, the end of the newest successful one,
 * stays put while later reloads fail, for "no good deploy since" alerts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "metrics.h"
#include "parse.h"
#include "proto.h"
#include "reply.h"

#define PREFIX		"gunicorn_wrapper_"
#define VALUE_MAX	1e15		/* larger is nonsense from a reply */

static const char *states[] = { PROTO_STATE_STARTING, PROTO_STATE_RUNNING,
    PROTO_STATE_RELOADING, PROTO_STATE_STOPPING };

/* Phase label -> history key. */
static const struct { const char *label, *key; } phases[] = {
	{ "check",	PROTO_K_T_CHECK },
	{ "settle",	PROTO_K_T_SETTLE },
	{ "fork",	PROTO_K_T_FORK },
	{ "warmup",	PROTO_K_T_WARMUP },
	{ "probation",	PROTO_K_T_PROBATION },
	{ "drain",	PROTO_K_T_DRAIN },
	{ "promote",	PROTO_K_T_PROMOTE },
};

/* A label value: escaped for people first, then for the format. */
static void
label(FILE *f, const char *raw)
{
	char		 buf[256];
	const char	*p;

	escape_cstr(buf, sizeof buf, raw);
	fputc('"', f);
	for (p = buf; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

static void
value(FILE *f, double v)
{
	char	buf[40];

	format_double(buf, sizeof buf, v);
	fputs(buf, f);
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name,
	    help, name, type);
}

/* One sample; extra is one more label ("state", "running") or NULLs. */
static void
sample(FILE *f, const char *name, const char *target, const char *lk,
    const char *lv, double v)
{
	if (!isfinite(v) || fabs(v) > VALUE_MAX)
		return;
	fprintf(f, PREFIX "%s{name=", name);
	label(f, target);
	if (lk != NULL) {
		fprintf(f, ",%s=", lk);
		label(f, lv);
	}
	fputs("} ", f);
	value(f, v);
	fputc('\n', f);
}

static int
up(const struct metrics_target *t)
{
	return t->reply != NULL && reply_bool(t->reply, PROTO_K_OK);
}

/* The newest history entry that has finished, or NULL. */
static const msgpack_object *
last_reload(const msgpack_object *m)
{
	const msgpack_object	*h = reply_array(m, PROTO_K_HISTORY), *e;
	uint32_t		 i;

	if (h == NULL)
		return NULL;
	for (i = h->via.array.size; i > 0; i--) {
		e = &h->via.array.ptr[i - 1];
		if (e->type == MSGPACK_OBJECT_MAP &&
		    !reply_str_is(e, PROTO_K_RESULT, PROTO_RESULT_RUNNING))
			return e;
	}
	return NULL;
}

/* When the newest successful reload ended (started + duration), since
 * the Unix epoch: the daemon's own memory of it, which outlives the
 * history's last 50; from an older daemon, the history's; NAN if none. */
static double
last_success(const msgpack_object *m)
{
	const msgpack_object	*h = reply_array(m, PROTO_K_HISTORY), *e;
	uint32_t		 i;
	double			 t0, d;

	if (proto_get(m, PROTO_K_LAST_SUCCESS) != NULL)
		return reply_range(m, PROTO_K_LAST_SUCCESS, 0, VALUE_MAX, NAN);
	for (i = h != NULL ? h->via.array.size : 0; i > 0; i--) {
		e = &h->via.array.ptr[i - 1];
		if (e->type != MSGPACK_OBJECT_MAP ||
		    !reply_str_is(e, PROTO_K_RESULT, PROTO_RESULT_OK))
			continue;
		t0 = reply_range(e, PROTO_K_STARTED, 0, VALUE_MAX, NAN);
		d = reply_range(e, PROTO_K_DURATION, 0, VALUE_MAX, NAN);
		return t0 + d;		/* NAN if either is: left out */
	}
	return NAN;
}

static double
count_result(const msgpack_object *m, const char *result)
{
	const msgpack_object	*h = reply_array(m, PROTO_K_HISTORY);
	const msgpack_object	*totals = reply_map(m, PROTO_K_RELOADS);
	long long		 count;
	uint32_t		 i;
	double			 n = 0;

	if (totals != NULL)
		return reply_int(totals, result, 0, (long long)VALUE_MAX,
		    &count) == 0 ? (double)count : NAN;
	for (i = 0; h != NULL && i < h->via.array.size; i++)
		if (reply_str_is(&h->via.array.ptr[i], PROTO_K_RESULT, result))
			n++;
	return n;
}

/* The id of the reload that started the serving master; 0: the first. */
static double
generation(const msgpack_object *m)
{
	const msgpack_object	*h = reply_array(m, PROTO_K_HISTORY), *e;
	long long		 master, nm, id;
	uint32_t		 i;

	if (reply_int(m, PROTO_K_MASTER, 1, INT32_MAX, &master) == -1)
		return NAN;
	for (i = h != NULL ? h->via.array.size : 0; i > 0; i--) {
		e = &h->via.array.ptr[i - 1];
		if (reply_str_is(e, PROTO_K_RESULT, PROTO_RESULT_OK) &&
		    reply_int(e, PROTO_K_NEW_MASTER, 1, INT32_MAX, &nm) == 0 &&
		    nm == master && reply_int(e, PROTO_K_ID, 0, UINT32_MAX, &id) == 0)
			return (double)id;
	}
	return 0;
}

static int
serving(const msgpack_object *m)
{
	long long	master;

	return (reply_str_is(m, PROTO_K_STATE, PROTO_STATE_RUNNING) ||
	    reply_str_is(m, PROTO_K_STATE, PROTO_STATE_RELOADING)) &&
	    reply_int(m, PROTO_K_MASTER, 1, INT32_MAX, &master) == 0;
}

/* The daemon and its serving generation, and the reload counters. */
static void
print_daemons(FILE *f, const struct metrics_target *t, size_t n)
{
	const msgpack_object	*w;
	size_t			 i, s;
	char			 buf[128];

	family(f, "up", "gauge", "1 if the wrapper answered on its control "
	    "socket.");
	for (i = 0; i < n; i++)
		sample(f, "up", t[i].name, NULL, NULL, up(&t[i]));

	family(f, "build_info", "gauge", "Always 1; version is the running "
	    "wrapper's.");
	for (i = 0; i < n; i++)
		if (up(&t[i]) && reply_str(t[i].reply, PROTO_K_VERSION, buf,
		    sizeof buf))
			sample(f, "build_info", t[i].name, "version", buf, 1);

	family(f, "state", "gauge", "The wrapper's state: 1 for the current "
	    "one.");
	for (i = 0; i < n; i++)
		for (s = 0; up(&t[i]) && s < sizeof states / sizeof *states;
		    s++)
			sample(f, "state", t[i].name, "state", states[s],
			    reply_str_is(t[i].reply, PROTO_K_STATE, states[s]));

	family(f, "serving", "gauge", "1 if a gunicorn master is serving "
	    "(what `gwctl status NAME` exits 0 for).");
	for (i = 0; i < n; i++)
		if (up(&t[i]))
			sample(f, "serving", t[i].name, NULL, NULL,
			    serving(t[i].reply));

	family(f, "workers", "gauge", "Workers of the serving master.");
	for (i = 0; i < n; i++)
		if (up(&t[i]) && (w = reply_array(t[i].reply, PROTO_K_WORKERS)))
			sample(f, "workers", t[i].name, NULL, NULL,
			    w->via.array.size);

	family(f, "generation", "gauge", "Id of the reload that started the "
	    "serving master (0: the wrapper's first).");
	for (i = 0; i < n; i++)
		if (up(&t[i]))
			sample(f, "generation", t[i].name, NULL, NULL,
			    generation(t[i].reply));

	family(f, "master_start_time_seconds", "gauge", "Start time of the "
	    "serving master since the Unix epoch.");
	for (i = 0; i < n; i++)
		if (up(&t[i]) && t[i].master_started > 0)
			sample(f, "master_start_time_seconds", t[i].name,
			    NULL, NULL, t[i].master_started);

	family(f, "warmup_budget_seconds", "gauge", "Warm-up budget of the "
	    "next reload.");
	for (i = 0; i < n; i++)
		if (up(&t[i]))
			sample(f, "warmup_budget_seconds", t[i].name, NULL,
			    NULL, reply_range(t[i].reply, PROTO_K_WARMUP, 0,
			    VALUE_MAX, NAN));

	family(f, "reload_in_progress", "gauge", "1 while a reload runs.");
	for (i = 0; i < n; i++)
		if (up(&t[i]))
			sample(f, "reload_in_progress", t[i].name, NULL, NULL,
			    reply_str_is(t[i].reply, PROTO_K_STATE, PROTO_STATE_RELOADING) ||
			    reply_map(t[i].reply, PROTO_K_PROGRESS) != NULL);

	family(f, "reloads_total", "counter", "Reloads finished by result "
	    "since the wrapper started.");
	for (i = 0; i < n; i++) {
		if (!up(&t[i]))
			continue;
		sample(f, "reloads_total", t[i].name, "result", "ok",
		    count_result(t[i].reply, PROTO_RESULT_OK));
		sample(f, "reloads_total", t[i].name, "result", "failed",
		    count_result(t[i].reply, PROTO_RESULT_FAILED));
	}
	family(f, "reloads_down_total", "counter", "Failed reloads that left "
	    "nothing serving (the old generation gone too), since the "
	    "wrapper started; counted among the failed ones too.");
	for (i = 0; i < n; i++)
		if (up(&t[i]))
			sample(f, "reloads_down_total", t[i].name, NULL, NULL,
			    count_result(t[i].reply, PROTO_K_DOWN));
}

/* The last finished reload, and the last good one. */
static void
print_last_reload(FILE *f, const struct metrics_target *t, size_t n)
{
	const msgpack_object	*m, *e;
	size_t			 i, s;
	double			 v;

	family(f, "last_reload_id", "gauge", "Id of the last finished "
	    "reload; ids never repeat.");
	for (i = 0; i < n; i++)
		if (up(&t[i]) && (e = last_reload(t[i].reply)) != NULL)
			sample(f, "last_reload_id", t[i].name, NULL, NULL,
			    reply_range(e, PROTO_K_ID, 0, UINT32_MAX, NAN));

	family(f, "last_reload_success", "gauge", "1 if the last finished "
	    "reload succeeded.");
	for (i = 0; i < n; i++)
		if (up(&t[i]) && (e = last_reload(t[i].reply)) != NULL)
			sample(f, "last_reload_success", t[i].name, NULL,
			    NULL, reply_str_is(e, PROTO_K_RESULT, PROTO_RESULT_OK));

	family(f, "last_reload_timestamp_seconds", "gauge", "When the last "
	    "finished reload began, since the Unix epoch.");
	for (i = 0; i < n; i++)
		if (up(&t[i]) && (e = last_reload(t[i].reply)) != NULL)
			sample(f, "last_reload_timestamp_seconds", t[i].name,
			    NULL, NULL, reply_range(e, PROTO_K_STARTED, 0,
			    VALUE_MAX, NAN));

	family(f, "last_success_timestamp_seconds", "gauge", "When the last "
	    "successful reload ended, since the Unix epoch; absent if none "
	    "in the history.");
	for (i = 0; i < n; i++)
		if (up(&t[i]))
			sample(f, "last_success_timestamp_seconds", t[i].name,
			    NULL, NULL, last_success(t[i].reply));

	family(f, "last_reload_duration_seconds", "gauge", "How long the "
	    "last finished reload took.");
	for (i = 0; i < n; i++)
		if (up(&t[i]) && (e = last_reload(t[i].reply)) != NULL)
			sample(f, "last_reload_duration_seconds", t[i].name,
			    NULL, NULL, reply_range(e, PROTO_K_DURATION, 0,
			    VALUE_MAX, NAN));

	family(f, "last_reload_phase_seconds", "gauge", "Time the last "
	    "finished reload spent in each phase it went through.");
	for (i = 0; i < n; i++) {
		if (!up(&t[i]) || (e = last_reload(t[i].reply)) == NULL)
			continue;
		m = e;
		for (s = 0; s < sizeof phases / sizeof *phases; s++) {
			v = reply_range(m, phases[s].key, 0, VALUE_MAX, NAN);
			sample(f, "last_reload_phase_seconds", t[i].name,
			    "phase", phases[s].label, v);
		}
	}
}

void
metrics_print(FILE *f, const struct metrics_target *t, size_t n)
{
	print_daemons(f, t, n);
	print_last_reload(f, t, n);
}
