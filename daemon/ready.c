/*
 * ready.c: readiness from gunicorn's own worker heartbeat.
 *
 * gunicorn gives every worker a WorkerTmp: a temp file named wgunicorn-*,
 * unlinked at once, whose descriptor the worker inherits.  From its serving
 * loop the worker touches it (gunicorn 20: fchmod to 1, 0, 1, ...; 21 and
 * later: utime() to time.monotonic()), and the master reads the file's
 * ctime or mtime as proof of life.  The first touch only happens in the
 * serving loop, after the app has been imported, so it is exactly the
 * signal "this worker can serve", including with --preload.
 *
 * We see the same file through /proc/WORKER/fd/N.  It was created by
 * mkstemp() with mode 0600; a heartbeat leaves a mode of 0 or 1 (fchmod)
 * or a changed mtime (utime with a monotonic time, nowhere near the
 * wall-clock ctime).  We compare with what we saw at the first look, not
 * mtime with ctime: the unlink right after mkstemp() moves the ctime on.
 * See heartbeat_seen().  A worker holds its
 * siblings' files for an instant after fork (it closes them first thing);
 * we only judge a worker once it holds exactly one.
 *
 * Events: an inotify IN_ATTRIB watch on each worker's file fires on the
 * heartbeat, so readiness is noticed at once; a 100 ms tick finds new
 * workers (there is no event for a fork).  The tick runs only while a
 * generation warms up.  Once every worker has a heartbeat and no new worker
 * has appeared for READY_SETTLE seconds (gunicorn spawns its workers in
 * one burst, at most 0.1 s apart), the generation is ready.
 *
 * If a worker's fd directory cannot be read (another user), the probe says
 * so once and falls back to the timer for this generation.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "gw.h"
#include "log.h"
#include "proc.h"
#include "ready.h"
#include "xmalloc.h"

struct worker {
	pid_t			 pid;
	unsigned long long	 start;		/* guards PID reuse */
	int			 ready;
	int			 wd;		/* inotify watch, -1 none */
	int			 seen;		/* in the last scan */
	int			 looked;	/* its file seen: mode0, mtime0 */
	mode_t			 mode0;
	double			 mtime0;
};

struct ready {
	struct gw	*gw;
	pid_t		 master;
	enum ready_mode	 mode;
	double		 budget;
	double		 t0;
	double		 last_change;
	ready_cb	 cb;
	void		*arg;
	int		 done;

	struct worker	*w;
	size_t		 nw, capw;
	size_t		 peak;		/* most workers seen at once */
	pid_t		*pids;		/* for ready_workers() */
	char		 newmaster_env[32];	/* GUNICORN_PID=master */
	pid_t		 newmaster;	/* a child that turned out one */

	int		 ifd;		/* inotify, -1 when not used */
	struct event	*iev;
	struct event	*tick;
	struct event	*deadline;
	int		 warned;
};

static int	ready_check(struct ready *);

/* Is this fd a gunicorn worker tmp file? -> 1, and its stat. */
static int
worker_tmp(pid_t pid, const char *fd, struct stat *sb)
{
	char	path[320], link[PATH_MAX];
	ssize_t	n;
	const char *base;

	snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)pid, fd);
	if ((n = readlink(path, link, sizeof link - 1)) == -1)
		return 0;
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base != NULL ? base + 1 : link;
	if (strncmp(base, "wgunicorn-", 10) != 0)
		return 0;
	if (stat(path, sb) == -1)
		return 0;
	return 1;
}

/*
 * Has the worker touched its file since we first saw it, or before?
 * Compared with the first look, so that the ctime bump of the unlink that
 * follows mkstemp() is not mistaken for a heartbeat:
 *  - gunicorn 20 fchmods the mode to 1, 0, 1...: a mode of 0 or 1 (a
 *    mkstemp file is 0600), or any change of mode;
 *  - gunicorn 21+ utime()s both times to time.monotonic(): any change of
 *    mtime, or at the first look an mtime nowhere near the wall-clock
 *    ctime (seconds since boot against seconds since 1970).
 */
static int
heartbeat_seen(struct worker *w, const struct stat *sb)
{
	double	mtime = (double)sb->st_mtim.tv_sec + sb->st_mtim.tv_nsec / 1e9;
	double	ctime = (double)sb->st_ctim.tv_sec + sb->st_ctim.tv_nsec / 1e9;

	if ((sb->st_mode & 07777) <= 1)
		return 1;
	if (!w->looked) {
		w->looked = 1;
		w->mode0 = sb->st_mode;
		w->mtime0 = mtime;
		return mtime < ctime - 60 || mtime > ctime + 60;
	}
	return sb->st_mode != w->mode0 || mtime != w->mtime0;
}

/*
 * Look at one worker: 1 ready, 0 not yet, -1 cannot tell (permission).
 * On the first look that finds its own file, put an inotify watch on it.
 */
static int
worker_look(struct ready *r, struct worker *w)
{
	char		 path[320], fdname[NAME_MAX + 1];
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb, own;
	int		 found = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)w->pid);
	if ((d = opendir(path)) == NULL)
		return errno == EACCES || errno == EPERM ? -1 : 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (worker_tmp(w->pid, de->d_name, &sb)) {
			if (++found == 1) {
				own = sb;
				snprintf(fdname, sizeof fdname, "%s",
				    de->d_name);
			}
		}
	}
	closedir(d);
	if (found == 0)
		return -2;	/* no worker file at all: exec'd something */
	if (found != 1)
		return 0;	/* not yet forked off cleanly */
	if (heartbeat_seen(w, &own))
		return 1;
	if (w->wd == -1 && r->ifd != -1) {
		snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)w->pid,
		    fdname);
		w->wd = inotify_add_watch(r->ifd, path, IN_ATTRIB);
		if (w->wd == -1 && !r->warned)
			log_warn("inotify_add_watch %s (the 100 ms tick "
			    "will do)", path);
	}
	return 0;
}

static void
worker_unwatch(struct ready *r, struct worker *w)
{
	if (w->wd != -1 && r->ifd != -1)
		inotify_rm_watch(r->ifd, w->wd);	/* may be gone: fine */
	w->wd = -1;
}

/* Refresh the worker list from the master's children. */
static void
ready_scan(struct ready *r)
{
	pid_t	*kids;
	size_t	 n, i, j;
	int	 changed = 0;

	if (proc_children(r->master, &kids, &n) == -1)
		return;		/* master gone: gunicorn.c will tell */
	for (j = 0; j < r->nw; j++)
		r->w[j].seen = 0;
	for (i = 0; i < n; i++) {
		for (j = 0; j < r->nw; j++) {
			if (r->w[j].pid == kids[i])
				break;
		}
		if (j == r->nw) {
			/* A child exec'd with GUNICORN_PID=master is a new
			 * master (an interrupted reload's), not a worker. */
			if (proc_env_has(kids[i], r->newmaster_env) == 1) {
				r->newmaster = kids[i];
				continue;
			}
			if (r->nw == r->capw) {
				r->capw = r->capw ? r->capw * 2 : 8;
				r->w = xreallocarray(r->w, r->capw,
				    sizeof *r->w);
			}
			memset(&r->w[j], 0, sizeof r->w[j]);
			r->w[j].pid = kids[i];
			r->w[j].start = proc_starttime(kids[i]);
			r->w[j].wd = -1;
			r->nw++;
			changed = 1;
		}
		r->w[j].seen = 1;
	}
	free(kids);
	if (r->nw > r->peak)
		r->peak = r->nw;
	/* Drop workers that died (a crash loop keeps the set changing). */
	for (j = 0; j < r->nw; ) {
		if (!r->w[j].seen) {
			worker_unwatch(r, &r->w[j]);
			r->w[j] = r->w[--r->nw];
			changed = 1;
		} else
			j++;
	}
	if (changed)
		r->last_change = now_mono();
}

static void
ready_finish(struct ready *r, enum ready_result res)
{
	size_t	j;

	if (r->done)
		return;
	r->done = 1;
	if (r->tick != NULL)
		event_del(r->tick);
	if (r->deadline != NULL)
		event_del(r->deadline);
	if (r->iev != NULL)
		event_del(r->iev);
	for (j = 0; j < r->nw; j++)
		worker_unwatch(r, &r->w[j]);
	r->cb(r->gw, res, r->arg);
}

/*
 * Look again; 1 if the probe has finished, in which case r may have been
 * freed by the callback and must not be touched.
 */
static int
ready_check(struct ready *r)
{
	size_t	j;
	int	nready = 0, look;

	if (r->done)
		return 1;
	ready_scan(r);
	for (j = 0; j < r->nw; j++) {
		if (!r->w[j].ready) {
			look = worker_look(r, &r->w[j]);
			if (look == -1) {
				log_warnx("cannot read /proc/%d/fd (%s): "
				    "falling back to the timer for this "
				    "generation", (int)r->w[j].pid,
				    strerror(errno));
				r->mode = READY_TIMER;
				event_del(r->tick);
				return 0;
			}
			if (look == 1) {
				r->w[j].ready = 1;
				worker_unwatch(r, &r->w[j]);
			}
			/*
			 * A child forked for a reload that had not exec'd
			 * yet when we first saw it (a slow pre_exec hook):
			 * now it is a new master, not a worker.  Set it apart.
			 */
			if (look == -2 && proc_env_has(r->w[j].pid,
			    r->newmaster_env) == 1) {
				r->newmaster = r->w[j].pid;
				worker_unwatch(r, &r->w[j]);
				r->w[j] = r->w[--r->nw];
				r->last_change = now_mono();
				j--;
				continue;
			}
		}
		nready += r->w[j].ready;
	}
	if (r->nw > 0 && (size_t)nready == r->nw &&
	    now_mono() - r->last_change >= READY_SETTLE) {
		ready_finish(r, READY_OK);
		return 1;
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
	struct ready	*r = arg;
	char		 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t		 n;

	(void)what;
	/* Drain; which worker it was does not matter, we look at all. */
	while ((n = read(fd, buf, sizeof buf)) > 0)
		;
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("read inotify");
	(void)ready_check(r);
}

static void
ready_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ready	*r = arg;

	(void)fd;
	(void)what;
	if (r->mode == READY_HEARTBEAT) {
		/* One last look: the heartbeat may have just come. */
		if (ready_check(r) == 0)
			ready_finish(r, READY_TIMEOUT);
		return;
	}
	/* timer: the budget is over; the master needs workers. */
	ready_scan(r);
	ready_finish(r, r->nw > 0 ? READY_OK : READY_TIMEOUT);
}

static struct timeval
tv_of(double s)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

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
	r->t0 = r->last_change = now_mono();
	r->ifd = -1;
	snprintf(r->newmaster_env, sizeof r->newmaster_env, "GUNICORN_PID=%d",
	    (int)master);

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
		tv = tv_of(READY_TICK);
		if (r->tick == NULL || event_add(r->tick, &tv) == -1)
			fatalx("ready: event_add failed");
	}
	r->deadline = event_new(gw->base, -1, 0, ready_deadline_cb, r);
	tv = tv_of(budget);
	if (r->deadline == NULL || event_add(r->deadline, &tv) == -1)
		fatalx("ready: event_add failed");
	return r;
}

void
ready_counts(const struct ready *r, int *workers, int *nready)
{
	size_t	j;

	*workers = (int)(r->peak > r->nw ? r->peak : r->nw);
	*nready = 0;
	for (j = 0; j < r->nw; j++)
		*nready += r->w[j].ready;
}

const pid_t *
ready_workers(const struct ready *r, size_t *n)
{
	struct ready	*rw = (struct ready *)r;
	size_t		 j;

	rw->pids = xreallocarray(rw->pids, r->nw ? r->nw : 1,
	    sizeof *rw->pids);
	for (j = 0; j < r->nw; j++)
		rw->pids[j] = r->w[j].pid;
	*n = r->nw;
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
		if (!r->w[j].ready) {
			log_info("killing worker %d, not ready",
			    (int)r->w[j].pid);
			worker_kill(&r->w[j], SIGKILL);
		}
	}
}

void
ready_term_leftovers(struct ready *r)
{
	size_t	j;

	for (j = 0; j < r->nw; j++) {
		if (proc_exists(r->w[j].pid) &&
		    proc_ppid(r->w[j].pid) != r->master)
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
ready_elapsed(const struct ready *r)
{
	return now_mono() - r->t0;
}

void
ready_free(struct ready *r)
{
	size_t	j;

	if (r == NULL)
		return;
	for (j = 0; j < r->nw; j++)
		worker_unwatch(r, &r->w[j]);
	if (r->tick != NULL)
		event_free(r->tick);
	if (r->deadline != NULL)
		event_free(r->deadline);
	if (r->iev != NULL)
		event_free(r->iev);
	if (r->ifd != -1)
		close(r->ifd);
	free(r->w);
	free(r->pids);
	free(r);
}
