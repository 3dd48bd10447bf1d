/* SPDX-License-Identifier: MIT */
/*
 * ready.c: readiness, and crash loops, from gunicorn's own worker heartbeat.
 *
 * Every worker has a heartbeat file (gunicorn's WorkerTmp, wgunicorn-*)
 * that its master holds open for as long as the worker lives, and that
 * the worker first touches from its serving loop, once its app is
 * imported: exactly "this worker can serve".  heartbeat.c reads those
 * files (what gunicorn does with them is told there); this file judges.
 *
 * What the kernel shows us, and what we make of it:
 *  - the master's wgunicorn files (/proc/MASTER/fd) are its HTTP workers,
 *    one each: their number is how many workers gunicorn runs right now,
 *    and its peak is how many it runs for the generation (or -w N from the
 *    command line, which beats gunicorn's config file and environment);
 *  - a child of the master holding exactly one of those files is an HTTP
 *    worker, and its file's mode or mtime tells whether it has shown a
 *    heartbeat (see heartbeat.c's heartbeat_seen());
 *  - a child holding wgunicorn files that the master does not hold, or
 *    none at all but children of its own, is gunicorn 25+'s dirty
 *    arbiter: it creates its dirty workers' files itself.  Its children
 *    are dirty workers, which heartbeat once their apps' init() is done;
 *  - a child exec'd with GUNICORN_PID=MASTER is a new master (a reload of
 *    this generation), neither.
 *
 * Ready: as many HTTP workers as the master runs have each shown a
 * heartbeat, counting ready workers that have since exited normally and
 * been replaced (recycling under --max-requests is normal and must not
 * hold readiness back), with no more workers spawned for READY_SETTLE
 * (unless -w says how many to expect); and every dirty worker's file has
 * a heartbeat.
 *
 * Exits, and telling recycling from crashing.  A signal, or a status
 * other than 0 (gunicorn's WORKER TIMEOUT makes a worker exit 1), is
 * abnormal.  Exit 0 is gunicorn retiring the worker only where it retires
 * any (--max-requests, --reload: retired()); elsewhere it is abnormal
 * too.  The status: as root, the kernel's process connector (netlink,
 * CN_IDX_PROC) reports every exit with its wait status, before the parent
 * is even told.  As any user, the worker's pidfd (opened when first seen)
 * gives it once gunicorn has reaped the worker (Linux 6.15's
 * PIDFD_INFO_EXIT).  Before 6.15 it is read from /proc/PID/stat while the
 * dead worker is a zombie, looked at as the pidfd reports the exit, when
 * that beats gunicorn's reap; failing all that it is unknown, and a ready
 * worker that exits with an unknown status counts as recycled where
 * gunicorn retires workers, abnormal otherwise.  A worker that dies
 * before its first heartbeat was seen counts against the generation,
 * unless it exited 0 where gunicorn retires workers: that counts neither
 * way (at full load a worker can serve its --max-requests before the
 * first look; a hook's process exits 0 too).  When every new worker has
 * died unready, the reload fails at once (READY_FAILED), it does not wait
 * out the budget.
 *
 * Events: an inotify IN_ATTRIB watch on each HTTP worker's file fires on
 * the heartbeat, so readiness is noticed at once; a 100 ms tick finds new
 * workers (there is no event for a fork) and looks at dirty workers; the
 * connector socket is read on each event and before each look.  All of
 * it runs only while a generation warms up and through its probation.
 *
 * If a worker's fd directory cannot be read (another user's, or made
 * unreadable), the probe says so once and falls back to the timer for
 * this generation; one that cannot be read because the worker is ending
 * (its files are root's once it has no memory) is left to its exit.
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "connector.h"
#include "gw.h"
#include "heartbeat.h"
#include "log.h"
#include "proc.h"
#include "ready.h"
#include "signame.h"
#include "xmalloc.h"

enum wkind {
	K_UNKNOWN,		/* no heartbeat file seen yet */
	K_HTTP,
	K_ARBITER,		/* gunicorn 25+ dirty arbiter */
	K_DIRTY,		/* one of its dirty workers */
};

struct worker {
	pid_t			 pid;
	unsigned long long	 start;		/* guards PID reuse */
	enum wkind		 kind;
	int			 ready;
	int			 wd;		/* inotify watch, -1 none */
	int			 seen;		/* in the last scan */
	int			 looked;	/* its file seen: mode0, mtime0 */
	int			 clean;		/* holds just its own file */
	mode_t			 mode0;
	double			 mtime0;
	double			 born, ready_at;
	int			 status;	/* wait status, -1 unknown */
	int			 pidfd;		/* -1 none */
	struct event		*pev;		/* its exit: read the zombie */
};

/* A dirty worker's heartbeat file, as its arbiter holds it. */
struct hbfile {
	dev_t			 dev;
	ino_t			 ino;
	int			 looked, ready, seen;
	mode_t			 mode0;
	double			 mtime0;
};

struct ready {
	struct gw	*gw;
	pid_t		 master;
	enum ready_mode	 mode;
	double		 budget;
	double		 t0;
	ready_cb	 cb;
	void		*arg;
	int		 done;		/* no more callbacks */
	int		 ok;		/* READY_OK given */
	int		 failfast;
	struct ready_hints hints;

	struct worker	*w;
	size_t		 nw, capw;
	pid_t		*pids;		/* for ready_workers() */
	pid_t		 newmaster;	/* a child that turned out one */

	struct fileid	*mf;		/* the master's heartbeat files */
	size_t		 nmf, capmf;
	size_t		 peak;		/* most the master held at once */
	double		 last_growth;
	struct hbfile	*df;		/* dirty workers' files */
	size_t		 ndf, capdf;
	size_t		 dpeak;
	double		 dirty_growth;
	int		 arbiter_seen;

	int		 recycled;	/* ready, then exited normally */
	int		 abnormal;	/* ready, then died abnormally */
	int		 unready;	/* died before a heartbeat */
	char		 reason[512];
	char		 why_unready[400];	/* the first such death */
	char		 why_abnormal[400];
	int		 master_status;

	int		 ifd;		/* inotify, -1 when not used */
	struct event	*iev;
	int		 cnfd;		/* process connector, -1 none */
	struct event	*cnev;
	struct event	*tick;
	struct event	*deadline;
	int		 warned;
};

static int	ready_check(struct ready *);

/* ------------------------------------------------------------------ */
/* /proc */

/* State letter of pid, and its exit status (a wait status) if a zombie:
 * field 52 of /proc/PID/stat.  0 when it cannot be read. */
static char
proc_state(pid_t pid, int *exit_code)
{
	char	 path[64], buf[2048], *p;
	ssize_t	 n;
	int	 fd, field;
	char	 state;

	*exit_code = -1;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	do
		n = read(fd, buf, sizeof buf - 1);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	p += 2;
	state = *p;
	if (state != 'Z')
		return state;
	for (field = 3; field < 52 && p != NULL; field++) {
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	}
	if (p != NULL && *p >= '0' && *p <= '9')
		*exit_code = (int)strtol(p, NULL, 10);
	return state;
}

static int
is_gone(pid_t pid, int *status)
{
	char	st = proc_state(pid, status);

	return st == 0 || st == 'Z' || st == 'X';
}

/* ------------------------------------------------------------------ */
/* Exit statuses: the process connector */

void
ready_describe_status(int status, char *buf, size_t size)
{
	/* Worded as gunicorn.c words a master's exit, plus gunicorn's own
	 * meaning of a worker's exit status (arbiter.py). */
	if (status == -1)
		snprintf(buf, size, "exited");
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
		    signame(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d%s",
		    WEXITSTATUS(status), WEXITSTATUS(status) == 3 ?
		    " (gunicorn: worker failed to boot)" :
		    WEXITSTATUS(status) == 4 ?
		    " (gunicorn: app failed to load)" : "");
	else
		snprintf(buf, size, "exited (wait status %#x)", status);
}

static struct worker *
worker_find(struct ready *r, pid_t pid)
{
	size_t	j;

	for (j = 0; j < r->nw; j++) {
		if (r->w[j].pid == pid)
			return &r->w[j];
	}
	return NULL;
}

/*
 * Exit 0 is gunicorn retiring a worker only where it retires any
 * (--max-requests, --reload): otherwise a worker that ends on its own was
 * not asked to.  Under them, before the worker's heartbeat was seen, it
 * counts neither way: at full load a worker can serve its --max-requests
 * before the first look.
 */
static int
retires(const struct ready *r)
{
	return r->hints.max_requests > 0 || r->hints.reload;
}

static int
retired(const struct ready *r, int status)
{
	return retires(r) && status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0;
}

/* One exit the connector reports: note it if it concerns us. */
static void
cn_exit(pid_t pid, pid_t parent, int code, void *arg)
{
	struct ready	*r = arg;
	struct worker	*w;
	char		 how[80];

	if (pid == r->master) {
		r->master_status = code;
		return;
	}
	w = worker_find(r, pid);
	if (w != NULL && w->status == -1)
		w->status = code;
	else if (w == NULL && !r->ok && parent == r->master &&
	    retired(r, code))
		return;	/* served before a look, or a hook's process */
	else if (w == NULL && !r->ok && parent == r->master) {
		/* A child that died before any look saw it. */
		r->unready++;
		if (r->why_unready[0] == '\0') {
			ready_describe_status(code, how, sizeof how);
			snprintf(r->why_unready, sizeof r->why_unready,
			    "worker %d %s right after it was forked",
			    (int)pid, how);
		}
	}
}

/* Read every pending connector message. */
static void
cn_drain(struct ready *r)
{
	if (r->cnfd != -1)
		connector_drain(r->cnfd, cn_exit, r);
}

/* ------------------------------------------------------------------ */
/* Workers */

static void
worker_unwatch(struct ready *r, struct worker *w)
{
	if (w->wd != -1 && r->ifd != -1)
		inotify_rm_watch(r->ifd, w->wd);	/* may be gone: fine */
	w->wd = -1;
}

static void	ready_pidfd_cb(evutil_socket_t, short, void *);

static struct worker *
worker_add(struct ready *r, pid_t pid, enum wkind kind)
{
	struct worker	*w;

	if (r->nw == r->capw) {
		r->capw = r->capw ? r->capw * 2 : 8;
		r->w = xreallocarray(r->w, r->capw, sizeof *r->w);
	}
	w = &r->w[r->nw++];
	memset(w, 0, sizeof *w);
	w->pid = pid;
	w->pidfd = proc_pidfd(pid);	/* first: then the start is its own */
	w->start = proc_starttime(pid);
	w->kind = kind;
	w->wd = -1;
	w->born = now_mono();
	w->status = -1;
	if (w->pidfd != -1) {
		w->pev = event_new(r->gw->base, w->pidfd, EV_READ,
		    ready_pidfd_cb, r);
		if (w->pev == NULL || event_add(w->pev, NULL) == -1)
			fatalx("ready: event_add failed");
	}
	return w;
}

/* r->w[j] is done with: forget it (the array's last takes its place). */
static void
worker_drop(struct ready *r, size_t j)
{
	struct worker	*w = &r->w[j];

	worker_unwatch(r, w);
	if (w->pev != NULL)
		event_free(w->pev);
	if (w->pidfd != -1)
		close(w->pidfd);
	r->w[j] = r->w[--r->nw];
}

/*
 * A worker has exited: it is a zombie until gunicorn reaps it, and its
 * wait status can be read from /proc meanwhile.  Reading it now, at the
 * exit, is the wrapper's best chance of doing so before the master's
 * reap when neither the connector nor PIDFD_INFO_EXIT can tell it.
 */
static void
ready_pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ready	*r = arg;
	size_t		 j;
	int		 status;

	(void)what;
	for (j = 0; j < r->nw; j++) {
		if (r->w[j].pidfd != fd)
			continue;
		if (r->w[j].status == -1 &&
		    is_gone(r->w[j].pid, &status) && status != -1)
			r->w[j].status = status;
		return;
	}
}

/* A watched process is gone: what does its death say? */
static void	inotify_drain(struct ready *);

static void
worker_gone(struct ready *r, struct worker *w)
{
	char	how[128], why[400];
	double	now = now_mono(), age = now - w->born;
	int	normal, exited0;

	if (w->status == -1)
		cn_drain(r);
	if (w->status == -1)
		w->status = proc_pidfd_exit_status(w->pidfd);
	ready_describe_status(w->status, how, sizeof how);
	switch (w->kind) {
	case K_UNKNOWN:
		/* Never held a heartbeat file: a helper, not a worker. */
		return;
	case K_ARBITER:
	case K_DIRTY:
		normal = w->status != -1 && WIFEXITED(w->status) &&
		    WEXITSTATUS(w->status) == 0;
		if (!r->ok || normal || w->status == -1)
			return;
		r->abnormal++;
		if (r->why_abnormal[0] == '\0')
			snprintf(r->why_abnormal, sizeof r->why_abnormal,
			    "%s %d %s %.1f s after it started",
			    w->kind == K_ARBITER ? "dirty arbiter" :
			    "dirty worker", (int)w->pid, how, age);
		return;
	case K_HTTP:
		break;
	}
	exited0 = w->status != -1 && WIFEXITED(w->status) &&
	    WEXITSTATUS(w->status) == 0;
	if (!w->ready)
		inotify_drain(r);	/* a heartbeat since the scan began? */
	if (!w->ready && retired(r, w->status))
		return;	/* served its quota before a look, or not at all */
	if (!w->ready) {
		snprintf(why, sizeof why, "worker %d %s %.1f s after it "
		    "started, before it could serve%s", (int)w->pid, how, age,
		    r->hints.timeout > 0 && age >= r->hints.timeout * 0.9 ?
		    "; gunicorn's --timeout is shorter than the boot (WORKER "
		    "TIMEOUT)" : "");
		r->unready++;
		if (r->why_unready[0] == '\0')
			snprintf(r->why_unready, sizeof r->why_unready, "%s",
			    why);
		if (r->ok) {
			/* A replacement that cannot boot. */
			r->abnormal++;
			if (r->why_abnormal[0] == '\0')
				snprintf(r->why_abnormal,
				    sizeof r->why_abnormal, "%s", why);
		}
		return;
	}
	/* An unknown status: what gunicorn's settings allow (ready only). */
	normal = w->status != -1 ? retired(r, w->status) : retires(r);
	if (normal) {
		r->recycled++;
		return;
	}
	r->abnormal++;
	if (r->why_abnormal[0] == '\0')
		snprintf(r->why_abnormal, sizeof r->why_abnormal, "worker %d "
		    "%s %.1f s after it became ready%s", (int)w->pid, how,
		    now - w->ready_at, exited0 ? ", and gunicorn retires "
		    "workers only under --max-requests or --reload" : "");
}

/*
 * Look at one HTTP (or not yet known) worker: classify it, and for an
 * HTTP worker see whether it has shown its heartbeat.  -1: cannot read.
 */
/* worker_look()'s verdict on the files the worker holds (h, n). */
static int
worker_look_files(struct ready *r, struct worker *w, const struct held *h,
    int n, int foreign)
{
	char		 path[320];
	pid_t		*kids;
	size_t		 nk = 0;

	if (n == 0 || foreign) {
		/*
		 * No heartbeat file at all: a child forked for a reload that
		 * has exec'd since (a slow pre_exec hook), or the dirty
		 * arbiter before its workers.  Files the master does not
		 * hold: the dirty arbiter's own workers', or for an instant
		 * a new worker's copy of a sibling's file that the master
		 * has just closed.  The arbiter is the one with children.
		 */
		if (n == 0 && proc_env_reexec_of(w->pid, r->master) == 1)
			return -2;
		if (proc_children(w->pid, &kids, &nk) == 0)
			free(kids);
		if (nk > 0) {
			worker_unwatch(r, w);
			w->kind = K_ARBITER;
		}
		return 0;
	}
	w->kind = K_HTTP;
	/* More than its own: forked an instant ago, or a child forked for a
	 * reload that has not exec'd yet (a slow pre_exec hook). */
	if ((w->clean = n == 1) == 0)
		return 0;
	if (heartbeat_seen(&w->looked, &w->mode0, &w->mtime0, &h[0].sb)) {
		w->ready = 1;
		w->ready_at = now_mono();
		worker_unwatch(r, w);
		return 0;
	}
	if (w->wd == -1 && r->ifd != -1) {
		snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)w->pid,
		    h[0].fd);
		w->wd = inotify_add_watch(r->ifd, path, IN_ATTRIB);
		if (w->wd == -1 && !r->warned) {
			r->warned = 1;
			log_warn("inotify_add_watch %s (the 100 ms tick "
			    "will do)", path);
		}
	}
	return 0;
}

static int
worker_look(struct ready *r, struct worker *w)
{
	struct held	*h;
	int		 n, i, rc, foreign = 0;

	if ((n = heartbeat_held(w->pid, &h)) == -1)
		return errno == EACCES || errno == EPERM ? -1 : 0;
	for (i = 0; i < n; i++)
		foreign |= !heartbeat_master_holds(r->mf, r->nmf,
		    &h[i].id);
	rc = worker_look_files(r, w, h, n, foreign);
	free(h);
	return rc;
}

/* The arbiter's dirty heartbeat files: which there are, which beat. */
static void
arbiter_look(struct ready *r, struct worker *a)
{
	struct held	*h;
	struct hbfile	*f;
	size_t		 k;
	int		 n, i;

	if ((n = heartbeat_held(a->pid, &h)) == -1)
		return;
	for (k = 0; k < r->ndf; k++)
		r->df[k].seen = 0;
	for (i = 0; i < n; i++) {
		if (heartbeat_master_holds(r->mf, r->nmf,
		    &h[i].id))
			continue;
		for (k = 0; k < r->ndf; k++) {
			if (r->df[k].dev == h[i].id.dev &&
			    r->df[k].ino == h[i].id.ino)
				break;
		}
		if (k == r->ndf) {
			if (r->ndf == r->capdf) {
				r->capdf = r->capdf ? r->capdf * 2 : 8;
				r->df = xreallocarray(r->df, r->capdf,
				    sizeof *r->df);
			}
			f = &r->df[r->ndf++];
			memset(f, 0, sizeof *f);
			f->dev = h[i].id.dev;
			f->ino = h[i].id.ino;
		}
		f = &r->df[k];
		f->seen = 1;
		if (!f->ready && heartbeat_seen(&f->looked, &f->mode0,
		    &f->mtime0, &h[i].sb))
			f->ready = 1;
	}
	free(h);
	for (k = 0; k < r->ndf; ) {
		if (!r->df[k].seen)
			r->df[k] = r->df[--r->ndf];
		else
			k++;
	}
	if (r->ndf > r->dpeak) {
		r->dpeak = r->ndf;
		r->dirty_growth = now_mono();
	}
}

/* Note pid as seen: known already, or a new worker of this kind. */
static void
worker_seen(struct ready *r, pid_t pid, enum wkind kind)
{
	struct worker	*w;
	int		 status;

	if (is_gone(pid, &status)) {
		/* A zombie its parent has not reaped yet: the status is
		 * there for the reading. */
		if ((w = worker_find(r, pid)) != NULL && w->status == -1)
			w->status = status;
		return;
	}
	if ((w = worker_find(r, pid)) == NULL) {
		if (kind != K_DIRTY &&
		    proc_env_reexec_of(pid, r->master) == 1) {
			/* Exec'd with GUNICORN_PID=master: a new master (an
			 * interrupted reload's), not a worker. */
			r->newmaster = pid;
			return;
		}
		w = worker_add(r, pid, kind);
	}
	w->seen = 1;
}

/* The heartbeats in n bytes of inotify events: each marks its worker. */
static void
heartbeats(struct ready *r, const char *buf, size_t n)
{
	const struct inotify_event	*ev;
	size_t				 off, i;

	for (off = 0; off + sizeof *ev <= n; off += sizeof *ev + ev->len) {
		ev = (const struct inotify_event *)(const void *)(buf + off);
		if ((ev->mask & IN_ATTRIB) == 0)
			continue;
		for (i = 0; i < r->nw; i++) {
			struct worker *w = &r->w[i];

			if (w->wd != ev->wd || w->kind != K_HTTP || w->ready)
				continue;
			w->ready = 1;
			w->ready_at = now_mono();
			worker_unwatch(r, w);
			break;
		}
	}
}

/*
 * Each inotify event is a worker's heartbeat: the watch is on its own file
 * from after a look that saw none.  Counted from the event, not from a
 * look afterwards, and before any exit is decided (ready_scan): a worker
 * that serves its --max-requests and exits at once may be gone by the
 * next look, its fd directory with it, and its exit may be read first;
 * it would count as one that never served, and readiness would wait for
 * another import.  (Its heartbeat happened before its exit, so the event
 * is queued by the time the exit is seen.)
 */
static void
inotify_drain(struct ready *r)
{
	char		 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t		 n;

	if (r->ifd == -1)
		return;
	while ((n = read(r->ifd, buf, sizeof buf)) > 0)
		heartbeats(r, buf, (size_t)n);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("read inotify");
}

/* Refresh the process list from the master's children, and theirs. */
static void
ready_scan(struct ready *r)
{
	pid_t	*kids, *dk;
	size_t	 n, i, j, nd, narb = 0;

	inotify_drain(r);	/* heartbeats before exits */
	cn_drain(r);
	/* Children first: each one's file was created before its fork,
	 * so the master holds it when we read its files next. */
	if (proc_children(r->master, &kids, &n) == -1)
		return;		/* master gone: gunicorn.c will tell */
	if (heartbeat_master_files(r->master, &r->mf, &r->nmf,
	    &r->capmf) == -1) {
		free(kids);
		return;
	}
	if (r->nmf > r->peak) {
		r->peak = r->nmf;
		r->last_growth = now_mono();
	}
	for (j = 0; j < r->nw; j++)
		r->w[j].seen = 0;
	for (i = 0; i < n; i++) {
		if (kids[i] != r->newmaster)
			worker_seen(r, kids[i], K_UNKNOWN);
	}
	free(kids);
	for (j = 0; j < r->nw; j++) {
		if (r->w[j].kind != K_ARBITER || !r->w[j].seen)
			continue;
		narb++;
		r->arbiter_seen = 1;
		if (proc_children(r->w[j].pid, &dk, &nd) == -1)
			continue;
		for (i = 0; i < nd; i++)
			worker_seen(r, dk[i], K_DIRTY);
		free(dk);
	}
	/* The dead: judge, then drop. */
	for (j = 0; j < r->nw; ) {
		if (!r->w[j].seen) {
			worker_gone(r, &r->w[j]);
			worker_drop(r, j);
		} else
			j++;
	}
	if (narb == 0) {
		r->ndf = 0;
		r->dpeak = 0;
	}
}

/* ------------------------------------------------------------------ */
/* The decision */

static void
ready_stop(struct ready *r)
{
	size_t	j;

	if (r->tick != NULL)
		event_del(r->tick);
	if (r->deadline != NULL)
		event_del(r->deadline);
	if (r->iev != NULL)
		event_del(r->iev);
	if (r->cnev != NULL)
		event_del(r->cnev);
	for (j = 0; j < r->nw; j++) {
		worker_unwatch(r, &r->w[j]);
		if (r->w[j].pev != NULL)
			event_del(r->w[j].pev);
	}
}

/* Tell the callback; 1 (r may be freed by then). */
static int
ready_report(struct ready *r, enum ready_result res)
{
	if (res == READY_OK && r->failfast) {
		/* Keep watching through the probation. */
		r->ok = 1;
		if (r->deadline != NULL)
			event_del(r->deadline);
	} else {
		r->done = 1;
		ready_stop(r);
	}
	r->cb(r->gw, res, r->arg);
	return 1;
}

static int	expected(const struct ready *);

static int
ready_crash(struct ready *r)
{
	snprintf(r->reason, sizeof r->reason, "%d worker%s died abnormally, "
	    "first: %s", r->abnormal, r->abnormal == 1 ? "" : "s",
	    r->why_abnormal);
	return ready_report(r, READY_CRASH);
}

static int
expected(const struct ready *r)
{
	int	n = (int)r->peak;

	return r->hints.workers > n ? r->hints.workers : n;
}

/* Ready and live HTTP workers; -1 while a child is still undecided. */
static int
ready_tally(const struct ready *r, int *live_ready, int *live)
{
	int	undecided = 0;
	size_t	j;

	*live_ready = *live = 0;
	for (j = 0; j < r->nw; j++) {
		if (r->w[j].kind != K_HTTP)
			continue;
		if (!r->w[j].clean) {
			undecided = 1;
			continue;
		}
		(*live)++;
		*live_ready += r->w[j].ready;
	}
	return undecided ? -1 : 0;
}

static int
dirty_ready(const struct ready *r, double now)
{
	size_t	k;

	if (!r->arbiter_seen)
		return r->hints.dirty_workers == 0;
	if (r->ndf == 0 || now - r->dirty_growth < READY_SETTLE)
		return 0;
	for (k = 0; k < r->ndf; k++) {
		if (!r->df[k].ready)
			return 0;
	}
	return 1;
}

/*
 * Look again; 1 if the probe has reported, in which case r may have been
 * freed by the callback and must not be touched.
 */
static int
ready_check(struct ready *r)
{
	size_t	j;
	int	live_ready, live, want, look, undecided;
	double	now;

	if (r->done)
		return 1;
	ready_scan(r);
	for (j = 0; j < r->nw; j++) {
		if (r->w[j].kind == K_ARBITER) {
			arbiter_look(r, &r->w[j]);
			continue;
		}
		if (r->w[j].kind == K_DIRTY || r->w[j].ready)
			continue;
		if ((look = worker_look(r, &r->w[j])) == -1 &&
		    errno == EACCES && proc_exiting(r->w[j].pid))
			continue;	/* its exit will be judged */
		if (look == -1) {
			log_warnx("cannot read /proc/%d/fd (%s): falling back "
			    "to the timer for this generation",
			    (int)r->w[j].pid, strerror(errno));
			r->mode = READY_TIMER;
			event_del(r->tick);
			return 0;
		}
		if (look == -2) {
			/* A new master after all: set it apart. */
			r->newmaster = r->w[j].pid;
			worker_drop(r, j);
			j--;
		}
	}
	/*
	 * A crash loop: two abnormal deaths (one when gunicorn runs a single
	 * worker).  One worker killed once, by the OOM killer or by hand, is
	 * not a loop; a deploy that crashes kills them all, again and again.
	 */
	if ((r->ok || r->failfast) && r->abnormal >= (expected(r) >= 2 ? 2 : 1))
		return ready_crash(r);
	if (r->ok)
		return 0;
	now = now_mono();
	want = expected(r);
	undecided = ready_tally(r, &live_ready, &live) == -1;
	/*
	 * Not "one of them serves right now": under --max-requests 1 a
	 * worker heartbeats, serves one request and exits within
	 * milliseconds, the last one too, and every look could find them
	 * all recycled and their replacements importing.  Each has proved
	 * the code serves; waiting for a live one was a second import.
	 */
	if (want > 0 && !undecided && live_ready + r->recycled >= want &&
	    (r->hints.workers > 0 || now - r->last_growth >= READY_SETTLE) &&
	    dirty_ready(r, now))
		return ready_report(r, READY_OK);
	if (r->failfast && live_ready == 0 && r->recycled == 0 &&
	    r->unready >= (want > 0 ? want : 1)) {
		snprintf(r->reason, sizeof r->reason, "every new worker died "
		    "before it could serve (%d of %d; first: %s)", r->unready,
		    want > 0 ? want : 1, r->why_unready);
		return ready_report(r, READY_FAILED);
	}
	return 0;
}

static void
ready_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)ready_check(arg);
}

static void
ready_inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)ready_check(arg);		/* it reads the events first */
}

static void
ready_cn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ready	*r = arg;

	(void)fd;
	(void)what;
	cn_drain(r);
}

static void
ready_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ready	*r = arg;
	int		 live_ready, live;
	size_t		 k, dr = 0;

	(void)fd;
	(void)what;
	if (r->mode == READY_HEARTBEAT) {
		/* One last look: the heartbeat may have just come. */
		if (ready_check(r) != 0)
			return;
		ready_tally(r, &live_ready, &live);
		for (k = 0; k < r->ndf; k++)
			dr += (size_t)r->df[k].ready;
		snprintf(r->reason, sizeof r->reason, "%d of %d workers ready"
		    "%s", live_ready + r->recycled > expected(r) ? expected(r) :
		    live_ready + r->recycled, expected(r),
		    r->unready > 0 ? " (some died before serving)" : "");
		if (r->arbiter_seen || r->hints.dirty_workers > 0)
			snprintf(r->reason + strlen(r->reason),
			    sizeof r->reason - strlen(r->reason), ", %zu of "
			    "%zu dirty workers initialised%s", dr, r->ndf,
			    r->arbiter_seen ? "" : " (no dirty arbiter seen)");
		(void)ready_report(r, READY_TIMEOUT);
		return;
	}
	/* timer: the budget is over; the master needs workers. */
	ready_scan(r);
	ready_tally(r, &live_ready, &live);
	if (live == 0 && r->nmf > 0)
		live = (int)r->nmf;
	snprintf(r->reason, sizeof r->reason, "no workers");
	(void)ready_report(r, live > 0 || r->nw > 0 ? READY_OK :
	    READY_TIMEOUT);
}

/* ------------------------------------------------------------------ */
/* gunicorn's command line */

/* The value of gunicorn's option lng (short form the letter shrt, or 0)
 * at argv[*i], if it is that option (gunicorn_opt()); *i advanced past a
 * separate value. */
static const char *
opt_value(char **argv, int *i, const char *lng, char shrt)
{
	const char	*v;
	size_t		 plen;

	if (!gunicorn_opt(argv[*i], lng, shrt, &v, &plen))
		return NULL;
	if (v == NULL && argv[*i + 1] != NULL)
		v = argv[++*i];
	return v;
}

void
ready_hints(char **argv, struct ready_hints *h)
{
	const char	*v;
	int		 i, dirty_app = 0, dirty = 0;

	memset(h, 0, sizeof *h);
	h->timeout = -1;
	for (i = 0; argv != NULL && argv[i] != NULL; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--preload") == 0) {
			h->preload = 1;
			continue;
		}
		if (strcmp(argv[i], "--reload") == 0) {
			h->reload = 1;
			continue;
		}
		if (strcmp(argv[i], "--no-control-socket") == 0) {
			h->no_control_socket = 1;
			continue;
		}
		if ((v = opt_value(argv, &i, "--control-socket", 0)) !=
		    NULL) {
			h->control_socket = v;
			continue;
		}
		if ((v = opt_value(argv, &i, "--chdir", 0)) != NULL) {
			h->chdir = v;
			continue;
		}
		if ((v = opt_value(argv, &i, "--workers", 'w')) != NULL)
			h->workers = atoi(v) > 0 ? atoi(v) : 0;
		else if ((v = opt_value(argv, &i, "--dirty-workers", 0)) !=
		    NULL)
			dirty = atoi(v) > 0 ? atoi(v) : 0;
		else if ((v = opt_value(argv, &i, "--dirty-app", 0)) !=
		    NULL)
			dirty_app = 1;
		else if ((v = opt_value(argv, &i, "--timeout", 't')) != NULL)
			h->timeout = strtod(v, NULL);
		else if ((v = opt_value(argv, &i, "--max-requests", 0)) !=
		    NULL)
			h->max_requests = atoi(v) > 0 ? atoi(v) : 0;
	}
	/* gunicorn starts the dirty arbiter only with apps to run. */
	h->dirty_workers = dirty_app ? dirty : 0;
}

const char *
ready_failsafe_warning(const struct gw *gw)
{
	struct ready_hints	h;

	if (gw->release != NULL)
		return NULL;	/* each generation runs its own release */
	ready_hints(gw->cfg.argv, &h);
	if (h.preload || h.max_requests == 0)
		return NULL;
	return "fail-safe covers the processes only: without --preload, the "
	    "workers gunicorn respawns (--max-requests) import the code on "
	    "disk, so a failed in-place deploy can still stop the old "
	    "generation; use --preload, or release mode (--releases)";
}

void
ready_warn_config(const struct gw *gw)
{
	const char	*w = ready_failsafe_warning(gw);

	if (w != NULL)
		log_warnx("%s", w);
}

/* ------------------------------------------------------------------ */

struct ready *
ready_start(struct gw *gw, pid_t master, enum ready_mode mode, double budget,
    ready_cb cb, void *arg)
{
	struct ready	*r;
	struct timeval	 tv;

	r = xcalloc(1, sizeof *r);
	r->gw = gw;
	r->master = master;
	r->mode = mode;
	r->budget = budget;
	r->cb = cb;
	r->arg = arg;
	r->t0 = r->last_growth = r->dirty_growth = now_mono();
	r->ifd = r->cnfd = -1;
	r->master_status = -1;
	ready_hints(gw->cfg.argv, &r->hints);
	if (gw->retire_probed) {
		r->hints.max_requests = gw->probe_max_requests;
		r->hints.reload = gw->probe_reload;
	}

	if (mode == READY_HEARTBEAT) {
		r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (r->ifd == -1)
			log_warn("inotify_init1 (the 100 ms tick will do)");
		else {
			r->iev = event_new(gw->base, r->ifd,
			    EV_READ | EV_PERSIST, ready_inotify_cb, r);
			if (r->iev == NULL || event_add(r->iev, NULL) == -1)
				fatalx("ready: event_add failed");
		}
		r->tick = event_new(gw->base, -1, EV_PERSIST, ready_tick_cb,
		    r);
		tv = clock_tv(READY_TICK);
		if (r->tick == NULL || event_add(r->tick, &tv) == -1)
			fatalx("ready: event_add failed");
	}
	r->deadline = event_new(gw->base, -1, 0, ready_deadline_cb, r);
	tv = clock_tv(budget);
	if (r->deadline == NULL || event_add(r->deadline, &tv) == -1)
		fatalx("ready: event_add failed");
	return r;
}

void
ready_set_failfast(struct ready *r, int on)
{
	int	saved;

	r->failfast = on;
	if (!on || r->cnfd != -1 || r->mode != READY_HEARTBEAT)
		return;
	/* Exit statuses for telling recycling from crashing. */
	if ((r->cnfd = connector_open()) == -1) {
		saved = errno;
		if (proc_pidfd_exit_works())
			log_info("process connector unavailable (%s): worker "
			    "exit statuses come from their pidfds",
			    strerror(saved));
		else
			log_warnx("process connector unavailable (%s) and no "
			    "PIDFD_INFO_EXIT (Linux 6.15): a worker's exit "
			    "status is known only when its zombie is caught%s",
			    strerror(saved), retires(r) ? "; an unknown one "
			    "counts as a retirement under --max-requests, so "
			    "a crash loop can pass" : "");
		return;
	}
	r->cnev = event_new(r->gw->base, r->cnfd, EV_READ | EV_PERSIST,
	    ready_cn_cb, r);
	if (r->cnev == NULL || event_add(r->cnev, NULL) == -1)
		fatalx("ready: event_add failed");
}

void
ready_quiet(struct ready *r)
{
	if (r == NULL)
		return;
	r->done = 1;
	ready_stop(r);
	if (r->cnev != NULL) {
		event_free(r->cnev);
		r->cnev = NULL;
	}
	if (r->cnfd != -1) {
		close(r->cnfd);
		r->cnfd = -1;
	}
}

void
ready_counts(const struct ready *r, int *workers, int *nready)
{
	int	live_ready, live;

	ready_tally(r, &live_ready, &live);
	*workers = expected(r);
	if (*workers < live)
		*workers = live;
	*nready = live_ready + r->recycled;
	if (*nready > *workers)
		*nready = *workers;
}

const char *
ready_reason(const struct ready *r)
{
	return r->reason;
}

void
ready_deaths(const struct ready *r, int *bad, int *recycled)
{
	*bad = r->abnormal + r->unready;
	*recycled = r->recycled;
}

int
ready_master_status(const struct ready *r)
{
	struct ready	*rw = (struct ready *)r;

	cn_drain(rw);
	return r->master_status;
}

const pid_t *
ready_workers(const struct ready *r, size_t *n)
{
	struct ready	*rw = (struct ready *)r;
	size_t		 j, k = 0;

	rw->pids = xreallocarray(rw->pids, r->nw ? r->nw : 1,
	    sizeof *rw->pids);
	for (j = 0; j < r->nw; j++) {
		if (r->w[j].kind == K_HTTP || r->w[j].kind == K_UNKNOWN)
			rw->pids[k++] = r->w[j].pid;
	}
	*n = k;
	return rw->pids;
}

static void
worker_kill(const struct worker *w, int sig)
{
	/* Only the process we saw: same PID and same start time. */
	if (w->start != 0 && proc_starttime(w->pid) == w->start &&
	    kill(w->pid, sig) == -1 && errno != ESRCH)
		log_warn("kill %d", (int)w->pid);
}

void
ready_kill_unready(struct ready *r)
{
	size_t	j;

	ready_scan(r);
	for (j = 0; j < r->nw; j++) {
		/* A worker forked since the probe last looked (a master
		 * replaces the workers we kill until it acts on SIGTERM, and
		 * then waits for the replacement's import) is known by its
		 * heartbeat file first. */
		if (r->w[j].kind == K_UNKNOWN)
			(void)worker_look(r, &r->w[j]);
		/* Never the dirty arbiter: its master stops it, and it
		 * stops its dirty workers. */
		if (r->w[j].kind != K_HTTP || r->w[j].ready)
			continue;
		log_info("killing worker %d, not ready", (int)r->w[j].pid);
		worker_kill(&r->w[j], SIGKILL);
	}
}

void
ready_kill_dirty(struct ready *r, int sig)
{
	size_t	j;

	ready_scan(r);
	for (j = 0; j < r->nw; j++) {
		if (r->w[j].kind == K_DIRTY)
			worker_kill(&r->w[j], sig);
	}
}

void
ready_term_leftovers(struct ready *r)
{
	size_t	j;
	pid_t	parent;

	for (j = 0; j < r->nw; j++) {
		if (!proc_exists(r->w[j].pid))
			continue;
		parent = proc_ppid(r->w[j].pid);
		if (r->w[j].kind == K_DIRTY) {
			/* Its arbiter gone, it would serve no one. */
			if (worker_find(r, parent) == NULL)
				worker_kill(&r->w[j], SIGKILL);
			continue;
		}
		if (parent != r->master)
			worker_kill(&r->w[j], r->w[j].ready ? SIGTERM :
			    SIGKILL);
	}
}

pid_t
ready_new_master(const struct ready *r)
{
	return r->newmaster;
}

double
ready_budget(const struct ready *r)
{
	return r->budget;
}

double
ready_elapsed(const struct ready *r)
{
	return now_mono() - r->t0;
}

void
ready_free(struct ready *r)
{
	if (r == NULL)
		return;
	while (r->nw > 0)
		worker_drop(r, r->nw - 1);
	if (r->tick != NULL)
		event_free(r->tick);
	if (r->deadline != NULL)
		event_free(r->deadline);
	if (r->iev != NULL)
		event_free(r->iev);
	if (r->ifd != -1)
		close(r->ifd);
	if (r->cnev != NULL)
		event_free(r->cnev);
	if (r->cnfd != -1)
		close(r->cnfd);
	free(r->w);
	free(r->pids);
	free(r->mf);
	free(r->df);
	free(r);
}

/*
 * The arbiter among a master's forked children: it has children and holds
 * no file of the master's (or holds its own workers').  A new master does
 * too, but it exec'd: its argv is not where the master's is, as a forked
 * child's is (GUNICORN_PID in its environment says so as well, until
 * setproctitle blanks it); kids are forked children only.  0 if none.
 */
static pid_t
find_arbiter(pid_t master, const pid_t *kids, size_t n)
{
	struct fileid	*mf = NULL;
	struct held	*h;
	size_t		 nmf = 0, capmf = 0, i, ngk;
	pid_t		*gk, arb = 0;
	int		 nh, f, foreign;

	if (n == 0 || heartbeat_master_files(master, &mf, &nmf, &capmf) == -1) {
		free(mf);
		return 0;
	}
	for (i = 0; i < n && arb == 0; i++) {
		if (proc_children(kids[i], &gk, &ngk) == -1)
			continue;
		free(gk);
		if (ngk == 0 || (nh = heartbeat_held(kids[i], &h)) == -1)
			continue;
		if (proc_env_reexec_of(kids[i], master) == 1) {
			free(h);
			continue;
		}
		foreign = nh == 0;
		for (f = 0; f < nh; f++)
			foreign |= !heartbeat_master_holds(mf, nmf, &h[f].id);
		free(h);
		if (foreign)
			arb = kids[i];
	}
	free(mf);
	return arb;
}

pid_t
ready_dirty_arbiter(pid_t master, pid_t except)
{
	pid_t	*kids, arb;
	size_t	 n;

	kids = proc_forked_children(master, except, &n);
	arb = find_arbiter(master, kids, n);
	free(kids);
	return arb;
}

pid_t *
ready_http_workers(pid_t master, pid_t except, size_t *n, pid_t **dirty,
    size_t *ndirty)
{
	pid_t	*kids, *dw, arb;
	size_t	 i, j, nd;

	if (dirty != NULL) {
		*dirty = NULL;
		*ndirty = 0;
	}
	kids = proc_forked_children(master, except, n);
	if ((arb = find_arbiter(master, kids, *n)) == 0)
		return kids;
	for (i = j = 0; i < *n; i++)
		if (kids[i] != arb)
			kids[j++] = kids[i];
	*n = j;
	if (dirty == NULL)
		return kids;
	/* The arbiter first, then its workers. */
	if (proc_children(arb, &dw, &nd) == -1) {
		dw = NULL;
		nd = 0;
	}
	dw = xreallocarray(dw, nd + 1, sizeof *dw);
	memmove(dw + 1, dw, nd * sizeof *dw);
	dw[0] = arb;
	*dirty = dw;
	*ndirty = nd + 1;
	return kids;
}

int
ready_kill_booting(pid_t master)
{
	struct fileid	*mf = NULL;
	size_t		 nmf = 0, capmf = 0, n, i;
	pid_t		*kids;
	unsigned long long start;
	int		 killed = 0;

	if (proc_children(master, &kids, &n) == -1)
		return 0;
	if (heartbeat_master_files(master, &mf, &nmf, &capmf) == -1) {
		free(kids);
		return 0;
	}
	for (i = 0; i < n; i++) {
		/* An HTTP worker: exactly one file, one of the master's. */
		start = proc_starttime(kids[i]);
		if (!heartbeat_booting(kids[i], mf, nmf))
			continue;
		if (start != 0 && proc_starttime(kids[i]) == start) {
			log_info("killing worker %d of master %d: still booting, "
			    "it serves nothing", (int)kids[i], (int)master);
			if (kill(kids[i], SIGKILL) == -1 && errno != ESRCH)
				log_warn("kill %d", (int)kids[i]);
			else
				killed++;
		}
	}
	free(kids);
	free(mf);
	return killed;
}
