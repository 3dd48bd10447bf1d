/* SPDX-License-Identifier: MIT */
/*
 * show.c: see show.h.  The layout is what operators read in
 * `supervisorctl status`: one line per daemon, a detailed view of one,
 * and the reload outcome as one line ("reload 3 ok: master 1 -> 2 in
 * 2.41 s").
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "proto.h"
#include "reply.h"
#include "result.h"
#include "show.h"

#define TIME_MAX	253402300799.0	/* 9999-12-31: anything later is bogus */
#define SECONDS_MAX	1e9		/* 31 years: a duration past that is too */
#define COUNT_MAX	1000000000000000LL	/* reloads: 1e15, as metrics.c */

void
show_duration(double s, char *buf, size_t size)
{
	long	t;

	if (!isfinite(s) || s < 0 || s > SECONDS_MAX) {
		snprintf(buf, size, "?");
		return;
	}
	t = (long)s;
	if (t >= 86400)
		snprintf(buf, size, "%ldd%02ldh%02ldm", t / 86400,
		    t % 86400 / 3600, t % 3600 / 60);
	else if (t >= 3600)
		snprintf(buf, size, "%ldh%02ldm%02lds", t / 3600,
		    t % 3600 / 60, t % 60);
	else if (t >= 60)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, size, "%.1fs", s);
}

/* A wall-clock time with its zone, so that hosts in several zones agree. */
static void
show_time(double v, char *buf, size_t size)
{
	struct tm	tm;
	time_t		t;

	if (!isfinite(v) || v < 0 || v > TIME_MAX) {
		snprintf(buf, size, "?");
		return;
	}
	t = (time_t)v;
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(buf, size, "?");
}

static const char *
plural(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static long long
id_of(const msgpack_object *m, const char *k)
{
	long long	v;

	return reply_int(m, k, 0, UINT32_MAX, &v) == -1 ? -1 : v;
}

static void
show_history(FILE *f, const msgpack_object *hist)
{
	const msgpack_object	*e;
	char			 started[40], res[32], reason[512], oldm[16],
				 newm[16], dur[32], note[256], id[24];
	double			 d;
	uint32_t		 i;
	size_t			 l;

	if (hist == NULL || hist->via.array.size == 0) {
		fprintf(f, "history:   no reloads yet\n");
		return;
	}
	fprintf(f, "history:\n");
	fprintf(f, "  %4s  %-25s  %-7s  %-17s  %8s  %s\n", "ID", "STARTED",
	    "RESULT", "MASTERS", "DURATION", "REASON");
	for (i = 0; i < hist->via.array.size; i++) {
		e = &hist->via.array.ptr[i];
		show_time(reply_num(e, PROTO_K_STARTED, -1), started, sizeof started);
		if (reply_str(e, PROTO_K_RESULT, res, sizeof res) == NULL)
			snprintf(res, sizeof res, "?");
		reply_pid(e, PROTO_K_OLD_MASTER, oldm, sizeof oldm);
		reply_pid(e, PROTO_K_NEW_MASTER, newm, sizeof newm);
		d = reply_range(e, PROTO_K_DURATION, 0, SECONDS_MAX, -1);
		if (d < 0)
			snprintf(dur, sizeof dur, "-");
		else
			snprintf(dur, sizeof dur, "%.2f s", d);
		if (reply_str(e, PROTO_K_REASON, reason, sizeof reason) == NULL)
			reason[0] = '\0';
		if (reply_str(e, PROTO_K_NOTE, note, sizeof note) != NULL) {
			l = strlen(reason);
			snprintf(reason + l, sizeof reason - l, "%s%s",
			    l ? "; " : "", note);
		}
		if (reply_str(e, PROTO_K_RELEASE, note, sizeof note) != NULL) {
			/* "release 42: reason": its last component. */
			const char *b = strrchr(note, '/');
			char	    tmp[512];

			snprintf(tmp, sizeof tmp, "release %s%s%s",
			    b != NULL && b[1] != '\0' ? b + 1 : note,
			    reason[0] ? ": " : "", reason);
			snprintf(reason, sizeof reason, "%s", tmp);
		}
		if (id_of(e, PROTO_K_ID) < 0)
			snprintf(id, sizeof id, "?");
		else
			snprintf(id, sizeof id, "%lld", id_of(e, PROTO_K_ID));
		fprintf(f, "  %4s  %-25s  %-7s  %7s -> %-7s  %8s%s%s\n", id,
		    started, res, oldm, newm, dur, reason[0] ? "  " : "",
		    reason);
	}
}

int
show_progress(char *buf, size_t size, const msgpack_object *p, double since)
{
	char		 phase[40];
	long long	 id, ready, workers;
	double		 elapsed, budget, pe, plen;
	size_t		 l;

	if (p == NULL || p->type != MSGPACK_OBJECT_MAP)
		return -1;
	if (reply_str(p, PROTO_K_PHASE, phase, sizeof phase) == NULL)
		snprintf(phase, sizeof phase, "?");
	if ((id = id_of(p, PROTO_K_ID)) < 0)
		snprintf(buf, size, "reload: %s", phase);
	else
		snprintf(buf, size, "reload %lld: %s", id, phase);
	l = strlen(buf);
	if (reply_int(p, PROTO_K_WORKERS, 0, INT32_MAX, &workers) == 0 &&
	    workers > 0 &&
	    reply_int(p, PROTO_K_READY, 0, INT32_MAX, &ready) == 0) {
		snprintf(buf + l, size - l, ", %lld of %lld ready", ready,
		    workers);
		l = strlen(buf);
	}
	elapsed = reply_range(p, PROTO_K_ELAPSED, 0, SECONDS_MAX, -1);
	budget = reply_range(p, PROTO_K_BUDGET, 0, SECONDS_MAX, -1);
	pe = reply_range(p, PROTO_K_PHASE_ELAPSED, 0, SECONDS_MAX, -1);
	plen = reply_range(p, PROTO_K_PHASE_LENGTH, 0, SECONDS_MAX, -1);
	if (!(isfinite(since) && since > 0 && since < SECONDS_MAX))
		since = 0;
	/* A phase of set length against its own length: the warm-up
	 * against its budget, the probation against the probation. */
	if (pe >= 0 && plen >= 0 && (strcmp(phase, "warming") == 0 ||
	    strcmp(phase, "probation") == 0)) {
		snprintf(buf + l, size - l, ", %.1f s of %g s %s", pe + since,
		    plen, strcmp(phase, "warming") == 0 ? "budget" :
		    "probation");
		l = strlen(buf);
		if (elapsed >= 0)
			snprintf(buf + l, size - l, ", %.1f s in all",
			    elapsed + since);
		return 0;
	}
	/* Other phases, or a daemon that does not send the phase's time. */
	if (elapsed >= 0) {
		elapsed += since;
		snprintf(buf + l, size - l, ", %.1f s", elapsed);
		l = strlen(buf);
		if (budget > 0 && strcmp(phase, "warming") == 0)
			snprintf(buf + l, size - l, " of %g s budget", budget);
	}
	return 0;
}

/* label, then each PID of the array (a "?" for anything that is not one);
 * how many were shown. */
static int
show_pids(FILE *f, const char *label, const msgpack_object *w)
{
	uint32_t	i;
	int		shown = 0;

	fprintf(f, "%s", label);
	for (i = 0; w != NULL && i < w->via.array.size; i++) {
		const msgpack_object *o = &w->via.array.ptr[i];

		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    o->via.u64 >= 1 && o->via.u64 <= REPLY_PID_MAX)
			fprintf(f, " %llu", (unsigned long long)o->via.u64);
		else
			fprintf(f, " ?");
		shown++;
	}
	return shown;
}

/* A count at key k as digits, or "?" when it is not a whole number in
 * range: never what a conversion would make of it. */
static void
count_str(const msgpack_object *m, const char *k, char *buf, size_t size)
{
	long long	n;

	if (reply_int(m, k, 0, COUNT_MAX, &n) == 0)
		snprintf(buf, size, "%lld", n);
	else
		snprintf(buf, size, "?");
}

/* "  new master PID" and its workers, when the reply names that master. */
static void
show_generation(FILE *f, const msgpack_object *m, const char *role,
    const char *master_key, const char *workers_key, const char *note)
{
	char	pid[32], label[32];
	int	shown;

	reply_pid(m, master_key, pid, sizeof pid);
	if (strcmp(pid, "-") == 0)
		return;
	fprintf(f, "  %s master %s%s\n", role, pid, note);
	(void)snprintf(label, sizeof label, "  %s workers", role);
	shown = show_pids(f, label, reply_array(m, workers_key));
	fprintf(f, "%s\n", shown ? "" : " none");
}

void
show_status(FILE *f, const msgpack_object *m)
{
	const msgpack_object	*w, *p;
	char			 name[128], state[40], ready[40], up[32],
				 master[16], version[40], line[256];
	long long		 pid;
	int			 shown;

	show_duration(reply_num(m, PROTO_K_UPTIME, -1), up, sizeof up);
	reply_pid(m, PROTO_K_MASTER, master, sizeof master);
	fprintf(f, "%s: %s\n",
	    reply_str(m, PROTO_K_NAME, name, sizeof name) ? name : "?",
	    reply_str(m, PROTO_K_STATE, state, sizeof state) ? state : "?");
	fprintf(f, "  daemon     pid %s, up %s, gunicorn-wrapper %s\n",
	    reply_int(m, PROTO_K_PID, 1, REPLY_PID_MAX, &pid) == 0 ?
	    (snprintf(line, sizeof line, "%lld", pid), line) : "?", up,
	    reply_str(m, PROTO_K_VERSION, version, sizeof version) ? version : "?");
	fprintf(f, "  master     %s\n", master);
	/* Release mode: the release that serves, and the one deploying. */
	if (reply_str(m, PROTO_K_RELEASE, line, sizeof line) != NULL)
		fprintf(f, "  release    %s\n", line);
	if (reply_str(m, PROTO_K_NEW_RELEASE, line, sizeof line) != NULL)
		fprintf(f, "  deploying  %s\n", line);
	shown = show_pids(f, "  workers   ", reply_array(m, PROTO_K_WORKERS));
	fprintf(f, "%s\n", shown ? "" : " none");
	/* A reload's new generation, while it has one, and the one it
	 * retires, while it drains. */
	show_generation(f, m, "new", PROTO_K_NEW_MASTER, PROTO_K_NEW_WORKERS,
	    "");
	show_generation(f, m, "old", PROTO_K_OLD_MASTER, PROTO_K_OLD_WORKERS,
	    " (draining)");
	/* gunicorn 25+: the dirty arbiter first, then its dirty workers. */
	w = reply_array(m, PROTO_K_DIRTY);
	if (w != NULL && w->via.array.size > 0) {
		show_pids(f, "  dirty     ", w);
		fprintf(f, " (arbiter first)\n");
	}
	fprintf(f, "  warm-up    %g s (%s)\n",
	    reply_range(m, PROTO_K_WARMUP, 0, SECONDS_MAX, 0),
	    reply_str(m, PROTO_K_READY_MODE, ready, sizeof ready) ? ready : "?");
	if (proto_get(m, PROTO_K_PROBATION) != NULL)
		fprintf(f, "  probation  %g s\n", reply_range(m,
		    PROTO_K_PROBATION, 0, SECONDS_MAX, 0));
	if ((p = reply_map(m, PROTO_K_PROGRESS)) != NULL &&
	    show_progress(line, sizeof line, p, 0) == 0)
		fprintf(f, "  reloading  %s\n", line);
	fprintf(f, "  pending    %s\n", reply_bool(m, PROTO_K_RELOAD_PENDING) ?
	    "a reload is queued" : "no reload queued");
	if (reply_str(m, PROTO_K_FAILSAFE_WARNING, line, sizeof line) != NULL)
		fprintf(f, "  warning    %s\n", line);
	/* Older daemons do not count: the line is left out. */
	if ((p = reply_map(m, PROTO_K_RELOADS)) != NULL) {
		char	ok[24], failed[24];

		count_str(p, PROTO_RESULT_OK, ok, sizeof ok);
		count_str(p, PROTO_RESULT_FAILED, failed, sizeof failed);
		fprintf(f, "  reloads    %s ok, %s failed since the wrapper "
		    "started\n", ok, failed);
	}
	show_history(f, reply_array(m, PROTO_K_HISTORY));
}

void
show_status_line(FILE *f, const char *rawname, const msgpack_object *m)
{
	const msgpack_object	*w, *h, *last, *p;
	char			 name[128], state[40], up[32], res[32],
				 master[16], line[256];
	long long		 pid, id, nw = 0;

	escape_cstr(name, sizeof name, rawname);
	if ((w = reply_array(m, PROTO_K_WORKERS)) != NULL)
		nw = w->via.array.size;
	show_duration(reply_num(m, PROTO_K_UPTIME, -1), up, sizeof up);
	reply_pid(m, PROTO_K_MASTER, master, sizeof master);
	if (reply_str(m, PROTO_K_STATE, state, sizeof state) == NULL)
		snprintf(state, sizeof state, "?");
	for (char *s = state; *s; s++)
		*s = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
	if (reply_int(m, PROTO_K_PID, 1, REPLY_PID_MAX, &pid) == -1)
		pid = 0;
	fprintf(f, "%-24s %-12s pid %lld, master %s, %lld %s, uptime %s",
	    name, state, pid, master, nw, plural(nw, "worker", "workers"), up);
	if ((p = reply_map(m, PROTO_K_PROGRESS)) != NULL &&
	    show_progress(line, sizeof line, p, 0) == 0)
		fprintf(f, ", %s", line);
	h = reply_array(m, PROTO_K_HISTORY);
	if (h != NULL && h->via.array.size > 0) {
		last = &h->via.array.ptr[h->via.array.size - 1];
		id = id_of(last, PROTO_K_ID);
		fprintf(f, ", last reload %lld %s", id < 0 ? 0 : id,
		    reply_str(last, PROTO_K_RESULT, res, sizeof res) ? res : "?");
	}
	fprintf(f, "\n");
}

void
show_reload(FILE *out, FILE *err, const char *rawprefix,
    const msgpack_object *m)
{
	const msgpack_object	*e = reply_map(m, PROTO_K_RELOAD);
	char			 m1[16], m2[16], buf[512], prefix[140],
				 rel[540];
	enum result_kind	 kind;
	long long		 id;

	if (e == NULL)
		return;
	prefix[0] = '\0';
	if (rawprefix != NULL) {
		escape_cstr(prefix, sizeof prefix - 2, rawprefix);
		strcat(prefix, ": ");
	}
	reply_pid(e, PROTO_K_OLD_MASTER, m1, sizeof m1);
	reply_pid(e, PROTO_K_NEW_MASTER, m2, sizeof m2);
	if ((id = id_of(e, PROTO_K_ID)) < 0)
		id = 0;
	rel[0] = '\0';
	if (reply_str(e, PROTO_K_RELEASE, buf, sizeof buf) != NULL)
		snprintf(rel, sizeof rel, ", release %s", buf);
	/* The outcome as the result object and the exit status say it. */
	kind = result_outcome(m, 1);
	if (kind == RESULT_OK)
		fprintf(out, "%sreload %lld ok: master %s -> %s in %.2f s%s\n",
		    prefix, id, m1, m2,
		    reply_range(e, PROTO_K_DURATION, 0, SECONDS_MAX, 0), rel);
	else
		fprintf(err, "gwctl: %sreload %lld failed%s: %s%s\n", prefix,
		    id, kind == RESULT_DOWN ? ", and nothing serves now" : "",
		    reply_str(m, PROTO_K_ERROR, buf, sizeof buf) ? buf :
		    reply_str(e, PROTO_K_REASON, buf, sizeof buf) ? buf : "?",
		    rel);
}
