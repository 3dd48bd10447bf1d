/* SPDX-License-Identifier: MIT */
/*
 * server.c: the wrapper's lifecycle around gunicorn.
 *
 * Start (or adopt) the first generation and watch it boot; forward the
 * signals gunicorn understands; when the serving master dies on its own,
 * exit at once with its status so that supervisord restarts us (exit 0
 * here, as the original bash script did, reads as "expected" to
 * supervisord's default exitcodes=0, and nothing would restart); and on
 * SIGTERM/SIGINT/SIGQUIT stop every master, reload or not, and exit only
 * once all of them are gone, so nothing serves unsupervised after us.
 *
 * The top of the daemon's modules: it alone writes the serving master
 * (gw->cur), the daemon's state and its exit status, each through a
 * setter that logs.  gunicorn.c and reload.c below it report through
 * callbacks set here (server_init), so no call chain climbs back up;
 * a reload's end arrives from reload.c's deferred event.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "gunicorn.h"
#include "gw.h"
#include "lineage.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "ready.h"
#include "release.h"
#include "reload.h"
#include "server.h"
#include "signame.h"
#include "xmalloc.h"

static void	server_fail(struct gw *, int);
static void	server_exit(struct gw *, int);

/* The one writer of gw->state. */
static void
server_set_state(struct gw *gw, enum gw_state to)
{
	if (gw->state != to)
		log_debug("state: %s -> %s", gw_state_name(gw->state),
		    gw_state_name(to));
	gw->state = to;
}

/* The one writer of gw->cur, the serving master (reload.c's serve hook). */
static void
server_set_cur(struct gw *gw, struct master *m)
{
	if (gw->cur != m)
		log_debug("serving master: %d -> %d",
		    gw->cur != NULL ? (int)gw->cur->pid : 0,
		    m != NULL ? (int)m->pid : 0);
	gw->cur = m;
}

/* The one writer of the exit status, with server_exit(): what serves
 * will exit and nothing will replace it (reload.c's doomed hook). */
static void
server_set_failed(struct gw *gw)
{
	if (!gw->failed)
		log_debug("the wrapper's exit will be a failure");
	gw->failed = 1;
}

/* A generation is really ready for the first time: tell systemd. */
static void
server_ready(struct gw *gw)
{
	notify_ready(gw);
	reload_notify_status(gw);
}

/*
 * The listening sockets the serving master holds, by inode: what proves
 * a master ours after a restart, and what its orphans still hold.  Kept
 * as they were if the master shows none (gone, or not bound yet).
 */
static void
server_learn_listeners(struct gw *gw)
{
	unsigned long long	ino[LEDGER_LISTENERS_MAX];
	size_t			n, i;

	/* Release mode: the sockets we hold and hand to every generation
	 * (a master's other listeners, gunicorn 26's control socket, are
	 * not the app's). */
	if (gw->release != NULL && gw->listeners.n > 0) {
		gw->ledger.nlisteners = listen_inodes(&gw->listeners,
		    gw->ledger.listeners, LEDGER_LISTENERS_MAX);
		gw->ledger.listeners_of = gw->cur != NULL ? gw->cur->pid : 0;
		return;
	}
	/* Reading the host's socket tables costs: once per master. */
	if (gw->cur == NULL || gw->cur->exited ||
	    (gw->ledger.listeners_of == gw->cur->pid &&
	    gw->ledger.nlisteners > 0))
		return;
	if ((n = proc_listeners(gw->cur->pid, ino, LEDGER_LISTENERS_MAX)) ==
	    0)
		return;
	/*
	 * Between its fork and its exec, a master still holds our own
	 * descriptors, the control socket among them: never the app's.
	 * Learnt then, the record would name sockets the master is about to
	 * close, and a restarted wrapper could neither adopt it nor find it.
	 */
	for (i = 0; i < n; )
		if (proc_holds_any(getpid(), &ino[i], 1))
			ino[i] = ino[--n];
		else
			i++;
	if (n == 0)
		return;
	memcpy(gw->ledger.listeners, ino, n * sizeof ino[0]);
	gw->ledger.nlisteners = n;
	gw->ledger.listeners_of = gw->cur->pid;
}

static void
server_record(struct gw *gw)
{
	struct ledger	*l = &gw->ledger;
	char		 err[512];

	if (gw->cfg.record == NULL)
		return;
	server_learn_listeners(gw);
	if (l->boot[0] == '\0' && proc_boot_id(l->boot, sizeof l->boot) ==
	    -1)
		l->boot[0] = '\0';
	l->uid = geteuid();
	l->master = gw->cur != NULL ? gw->cur->pid : 0;
	l->master_start = gw->cur != NULL ? gw->cur->start : 0;
	snprintf(l->release, sizeof l->release, "%s",
	    gw->release != NULL ? gw->release : "");
	reload_record(gw, l);
	if (l->master == 0 && l->reload_id == 0)
		return;		/* nothing serves: keep what we knew */
	if (ledger_write(gw->cfg.record, l, err, sizeof err) == -1)
		log_warnx("cannot write the record: %s", err);
}

static void
boot_ready_cb(struct gw *gw, enum ready_result res, void *arg)
{
	pid_t	inflight;
	int	nw, nr;

	(void)arg;
	/* On record before anyone hears "ready": a wrapper killed the next
	 * instant leaves the next one its proof. */
	server_record(gw);
	ready_counts(gw->boot, &nw, &nr);
	inflight = ready_new_master(gw->boot);
	event_del(gw->boot_extend);
	if (res == READY_OK)
		log_info("master %d ready: %d workers in %.2f s",
		    (int)gw->cur->pid, nw, ready_elapsed(gw->boot));
	else
		log_warnx("master %d not ready after %g s: %d of %d workers "
		    "ready; carrying on (a reload can replace it)",
		    (int)gw->cur->pid, ready_budget(gw->boot), nr, nw);
	ready_free(gw->boot);
	gw->boot = NULL;
	if (gw->interrupted_id != 0)
		reload_interrupted(gw, gw->interrupted_id, gw->interrupted_old,
		    gw->cur->pid, res == READY_OK ? RESULT_OK : RESULT_FAILED,
		    "the wrapper was killed during it, in phase %s; old "
		    "master %d exited meanwhile; the next wrapper adopted new "
		    "master %d, %s", gw->interrupted_phase,
		    (int)gw->interrupted_old, (int)gw->cur->pid,
		    res == READY_OK ? "ready" : "not ready in time");
	gw->interrupted_id = 0;
	server_set_state(gw, GW_RUNNING);
	if (res == READY_OK)
		server_ready(gw);
	else
		reload_notify_status(gw);
	/* An adopted master whose new master showed itself only now. */
	if (gw->cur->adopted && (inflight != 0 ||
	    (inflight = lineage_new_master(gw, gw->cur->pid,
	    gw->cur->pid, proc_arg_start(gw->cur->pid), 0)) != 0) &&
	    proc_exists(inflight)) {
		reload_resume(gw, inflight, 0, NULL);
		return;
	}
	reload_boot_done(gw);
}

/* A slow first boot, still within its budget: ask systemd for time. */
static void
boot_extend_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct timeval	 tv = { 5, 0 };

	(void)fd;
	(void)what;
	if (gw->boot == NULL || ready_elapsed(gw->boot) >=
	    ready_budget(gw->boot))
		return;
	notify_send(gw, "EXTEND_TIMEOUT_USEC=10000000");
	event_add(gw->boot_extend, &tv);
}

/* The live processes that hold one of the inodes, not us: into *out. */
static size_t
server_holders(const unsigned long long *ino, size_t nino, pid_t *out,
    size_t max)
{
	DIR		*d;
	struct dirent	*de;
	pid_t		 pid;
	char		*end;
	size_t		 n = 0;

	if (nino == 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		pid = (pid_t)strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 1 || pid == getpid() ||
		    proc_is_zombie(pid))
			continue;
		if (proc_holds_any(pid, ino, nino))
			out[n++] = pid;
	}
	closedir(d);
	return n;
}

/*
 * Nothing of ours could be adopted.  If the app's listening sockets (as
 * the record knows them) are still open, whatever holds them inherited
 * them from our gunicorn: workers whose master was killed, which would
 * keep the port until their next loop.  SIGTERM them (a request in
 * flight ends first); a new gunicorn retries its bind meanwhile.  If
 * they are held by something we may not signal, a second gunicorn could
 * only fail: refuse, in one line.
 */
static int
server_clear_listeners(struct gw *gw, const struct ledger *prev)
{
	pid_t	 pids[64];
	size_t	 i, n;
	int	 refused = 0;

	(void)gw;
	n = server_holders(prev->listeners, prev->nlisteners, pids,
	    sizeof pids / sizeof pids[0]);
	for (i = 0; i < n; i++) {
		log_warnx("SIGTERM to orphaned gunicorn process %d (it holds "
		    "the app's listening socket, its master is gone)",
		    (int)pids[i]);
		if (kill(pids[i], SIGTERM) == -1 && errno != ESRCH) {
			log_warn("kill %d", (int)pids[i]);
			refused = 1;
		}
	}
	if (refused) {
		log_warnx("the app's listening sockets are held by processes "
		    "this wrapper may not stop: not starting a second "
		    "gunicorn");
		return -1;
	}
	return 0;
}

/*
 * Release mode: the listening sockets, taken back from the master we
 * adopted (a deploy needs them: without, it fails and says why), or
 * bound afresh for the first generation.  Orphans of a killed gunicorn
 * may still hold the ports for a moment after their SIGTERM: retry the
 * bind for a few seconds, as gunicorn itself does.
 */
static int
server_sockets(struct gw *gw, const struct master *adopted,
    const struct ledger *prev)
{
	struct timespec	 ts = { 0, 100 * 1000 * 1000 };
	char		 err[1200];
	size_t		 i;
	int		 tries;

	if (gw->release == NULL)
		return 0;
	if (adopted != NULL) {
		if (listen_take(&gw->listeners, adopted->pid, adopted->pidfd,
		    prev->listeners, prev->nlisteners, err, sizeof err) == -1)
			log_warnx("%s: deploys fail until the program is "
			    "restarted", err);
		else
			log_info("took %zu listening sockets from master %d",
			    gw->listeners.n, (int)adopted->pid);
		return 0;
	}
	for (i = 0; i < gw->nbind; i++) {
		for (tries = 0; ; tries++) {
			if (listen_bind(&gw->listeners, gw->bind_spec[i],
			    &gw->listen_opts, err, sizeof err) == 0)
				break;
			if (errno != EADDRINUSE || tries == 50) {
				log_startup_error("%s", err);
				listen_close(&gw->listeners);
				return -1;
			}
			(void)nanosleep(&ts, NULL);
		}
	}
	log_info("listening on %zu sockets for the generations to share",
	    gw->listeners.n);
	return 0;
}

/*
 * Release mode: gunicorn 25+'s control socket's stable name is a symlink
 * to a generation's own socket.  Left dangling by a wrapper that was
 * killed with its gunicorn, it would make the first generation's bind
 * fail (EADDRINUSE): remove it first.
 */
static void
server_drop_ctl_link(struct gw *gw)
{
	struct stat	sb;

	if (gw->release != NULL && gw->ctl_socket != NULL &&
	    lstat(gw->ctl_socket, &sb) == 0 && S_ISLNK(sb.st_mode) &&
	    unlink(gw->ctl_socket) == -1)
		log_warn("unlink %s", gw->ctl_socket);
}

/* The first generation's argv: in release mode, its release's. */
static struct master *
server_spawn(struct gw *gw)
{
	struct master	*m;
	char		**argv;

	if (gw->release == NULL)
		return gunicorn_spawn(gw, gw->cfg.argv, NULL);
	argv = release_argv(gw, gw->release, NULL, NULL);
	m = gunicorn_spawn(gw, argv, gw->release);
	release_argv_free(argv);
	return m;
}

static void
status_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reload_notify_status(arg);
}

/* Once the start is logged: the watchdog, and STATUS= kept true. */
static void
server_start_notify(struct gw *gw)
{
	notify_start(gw);
	/* STATUS= follows what the reloads' hooks cannot see: a worker
	 * that dies or is replaced, a master that finishes draining. */
	if (gw->notify_fd != -1 && ((gw->status_ev = event_new(gw->base, -1,
	    EV_PERSIST, status_tick_cb, gw)) == NULL ||
	    event_add(gw->status_ev, &(struct timeval){ .tv_sec = 1 }) == -1))
		fatalx("status timer: event_add failed");
}

int
server_start(struct gw *gw)
{
	struct ledger	 prev;
	struct master	*m;
	pid_t		 inflight = 0;
	char		 err[512];
	int		 have;

	server_start_notify(gw);
	have = ledger_read(gw->cfg.record, &prev, err, sizeof err);
	if (have == -1)
		log_warnx("%s; ignoring it", err);
	else if (have == 1 && !ledger_current(&prev)) {
		log_info("%s is from another boot or user; ignoring it",
		    gw->cfg.record);
		have = 0;
	}
	if (have != 1)
		memset(&prev, 0, sizeof prev);
	/* What the old record proved stays known: its listeners. */
	memcpy(gw->ledger.listeners, prev.listeners, sizeof prev.listeners);
	gw->ledger.nlisteners = prev.nlisteners;

	if ((m = gunicorn_adopt(gw, &prev)) == NULL) {
		if (server_clear_listeners(gw, &prev) == -1)
			return -1;
		/* The link names what serves: what the record says, unless
		 * the wrapper was killed between the switch and the record. */
		if (release_restore(gw, prev.release) == -1 ||
		    server_sockets(gw, NULL, &prev) == -1)
			return -1;
		server_drop_ctl_link(gw);
		if ((m = server_spawn(gw)) == NULL)
			return -1;
		server_set_cur(gw, m);
		gw->ledger.nlisteners = 0;	/* the new master's, later */
		reload_interrupted(gw, prev.reload_id, prev.old, prev.new,
		    RESULT_FAILED, "the wrapper was killed during it, in "
		    "phase %s; the next wrapper found no gunicorn of its own "
		    "and started one", prev.phase);
	} else {
		/* What serves is the release of the master adopted: the new
		 * one of a deploy in flight when its old one is gone. */
		if (release_restore(gw, m->pid == prev.new && prev.target[0] ?
		    prev.target : prev.release) == -1 ||
		    server_sockets(gw, m, &prev) == -1)
			return -1;
		if (m->pid == prev.new)
			release_adopt_names(gw, prev.reload_id);
		server_set_cur(gw, m);
	}
	server_record(gw);

	if (m->adopted && prev.reload_id != 0 && m->pid == prev.master) {
		/* The record says a reload was in flight. */
		if (prev.new != 0 && prev.new_start != 0 &&
		    proc_starttime(prev.new) == prev.new_start &&
		    !proc_is_zombie(prev.new))
			inflight = prev.new;
		else if (prev.usr2_tick != 0)
			inflight = lineage_new_master(gw, m->pid, m->pid,
			    proc_arg_start(m->pid), prev.usr2_tick);
		if (strcmp(prev.phase, "aborting") == 0) {
			if (inflight != 0 && kill(inflight, SIGTERM) == -1 &&
			    errno != ESRCH)
				log_warn("kill %d", (int)inflight);
			reload_interrupted(gw, prev.reload_id, m->pid, inflight,
			    RESULT_FAILED, "the wrapper was killed while "
			    "aborting it; the next wrapper stopped new master "
			    "%d", (int)inflight);
			inflight = 0;
		} else if (prev.usr2_tick == 0 && inflight == 0) {
			reload_interrupted(gw, prev.reload_id, m->pid, 0,
			    RESULT_FAILED, "the wrapper was killed during it, "
			    "in phase %s, before %s: master %d serves on",
			    prev.phase, gw->release != NULL ? "its new master "
			    "started" : "SIGUSR2", (int)m->pid);
		} else if (inflight == 0) {
			server_set_state(gw, GW_RUNNING);
			server_ready(gw);
			reload_resume_forking(gw, prev.reload_id,
			    prev.usr2_tick);
			return 0;
		}
	} else if (m->adopted && prev.reload_id != 0) {
		/* Its old master is gone: the new one is all that serves.
		 * Ready or not, the boot probe says (boot_ready_cb). */
		gw->interrupted_id = prev.reload_id;
		gw->interrupted_old = prev.master;
		snprintf(gw->interrupted_phase, sizeof gw->interrupted_phase,
		    "%s", prev.phase);
	}
	if (inflight != 0) {
		/* It served before we came; the reload decides what next. */
		server_set_state(gw, GW_RUNNING);
		server_ready(gw);
		reload_resume(gw, inflight, prev.reload_id, prev.target);
		return 0;
	}
	server_set_state(gw, GW_STARTING);
	gw->boot = ready_start(gw, m->pid, gw->cfg.ready, gw->cfg.warmup,
	    boot_ready_cb, NULL);
	notify_send(gw, "MAINPID=%d\nSTATUS=starting: master %d", (int)getpid(),
	    (int)m->pid);
	if (gw->notify_fd != -1)
		boot_extend_cb(-1, 0, gw);
	return 0;
}

/* Remove what the wrapper created: a pidfile it named, now stale; in
 * release mode the control socket's symlink, dangling once its
 * generation has gone. */
static void
server_cleanup(struct gw *gw)
{
	struct stat	sb;

	if (gw->ctl_socket != NULL && gw->release != NULL &&
	    lstat(gw->ctl_socket, &sb) == 0 && S_ISLNK(sb.st_mode) &&
	    stat(gw->ctl_socket, &sb) == -1 && unlink(gw->ctl_socket) == -1)
		log_warn("unlink %s", gw->ctl_socket);
	/* In release mode the stable pidfile is ours too: we renamed it. */
	if (!gw->cfg.pidfile_added && gw->release == NULL)
		return;
	if (unlink(gw->cfg.pidfile) == -1 && errno != ENOENT)
		log_warn("unlink %s", gw->cfg.pidfile);
	if (unlink(gw->cfg.pidfile2) == -1 && errno != ENOENT)
		log_warn("unlink %s", gw->cfg.pidfile2);
}

static int
server_live_masters(struct gw *gw)
{
	struct master	*m;
	int		 n = 0;

	TAILQ_FOREACH(m, &gw->masters, entry)
		n += !m->exited;
	return n;
}

/*
 * gunicorn processes whose parent died re-parent to us, the subreaper:
 * workers of a killed master, or a new master forked an instant before
 * its old master stopped (before we could see it).  Returns each live one
 * that is not a watched master, through cb.
 */
static void
server_orphans(struct gw *gw, void (*cb)(struct gw *, pid_t))
{
	struct master	*m;
	pid_t		*kids;
	size_t		 i, n;
	int		 ours;

	if (proc_children(getpid(), &kids, &n) == -1)
		return;
	for (i = 0; i < n; i++) {
		ours = 0;
		TAILQ_FOREACH(m, &gw->masters, entry)
			ours |= m->pid == kids[i];
		/* We start nothing but gunicorn: any live child of ours
		 * that is not a master is one of its orphans. */
		if (!ours && !proc_is_zombie(kids[i]))
			cb(gw, kids[i]);
	}
	free(kids);
}

/*
 * A worker whose master died would only notice at its next loop (up to
 * half gunicorn's timeout), holding the listening socket meanwhile, so
 * that the gunicorn supervisord starts next could not bind it: tell it
 * now.  SIGTERM lets a request in flight finish.
 */
static void
orphan_term(struct gw *gw, pid_t pid)
{
	(void)gw;
	log_info("SIGTERM to orphaned gunicorn process %d", (int)pid);
	if (kill(pid, SIGTERM) == -1 && errno != ESRCH)
		log_warn("kill %d", (int)pid);
}

/* While stopping: watch it like a master, so that we wait for it too. */
static void
orphan_stop(struct gw *gw, pid_t pid)
{
	struct master	*m;

	if ((m = master_watch(gw, pid, 0)) == NULL)
		return;
	log_info("stopping: %s to orphaned gunicorn process %d",
	    gw->stop_signal == SIGQUIT ? "SIGQUIT" : "SIGTERM", (int)pid);
	if (master_signal(m, gw->stop_signal) == -1 && errno != ESRCH)
		log_warn("signal %d", (int)pid);
}

/*
 * An adopted master is not our descendant: a new master it forked for a
 * reload, still in gunicorn's pre_exec when the stop began (so not yet
 * recognisable), would re-parent to PID 1 when its master exits, out of
 * our sight.  Note every child of adopted masters as the stop begins...
 */
static void
server_note_suspects(struct gw *gw)
{
	struct master	*m;
	pid_t		*kids;
	size_t		 i, n;

	TAILQ_FOREACH(m, &gw->masters, entry) {
		if (!m->adopted || m->exited ||
		    proc_children(m->pid, &kids, &n) == -1)
			continue;
		for (i = 0; i < n; i++) {
			gw->suspects = xreallocarray(gw->suspects,
			    gw->nsuspects + 1, sizeof *gw->suspects);
			gw->suspects_start = xreallocarray(gw->suspects_start,
			    gw->nsuspects + 1, sizeof *gw->suspects_start);
			gw->suspects[gw->nsuspects] = kids[i];
			gw->suspects_start[gw->nsuspects++] =
			    proc_starttime(kids[i]);
		}
		free(kids);
	}
}

/* ... and, as masters exit, stop any of them still alive: their master
 * stopped its workers before exiting, so a survivor is not one. */
static void
server_check_suspects(struct gw *gw)
{
	struct master	*m;
	size_t		 i;
	pid_t		 pid, ppid;
	int		 parent_lives;

	for (i = 0; i < gw->nsuspects; i++) {
		pid = gw->suspects[i];
		if (pid == 0 || proc_starttime(pid) != gw->suspects_start[i])
			continue;
		/* Re-parented: to PID 1 or to some subreaper, not to us. */
		ppid = proc_ppid(pid);
		parent_lives = 0;
		TAILQ_FOREACH(m, &gw->masters, entry)
			parent_lives |= !m->exited && m->pid == ppid;
		if (!parent_lives && !proc_is_zombie(pid)) {
			gw->suspects[i] = 0;
			orphan_stop(gw, pid);
		}
	}
}

/*
 * Workers of an adopted master re-parent to PID 1, not to us, when it
 * dies: they are found by the listening sockets they hold (the app's,
 * which only our gunicorn's processes inherited) and told to stop.
 */
static void
server_term_holders(struct gw *gw)
{
	pid_t	 pids[64];
	size_t	 i, n;

	if (server_live_masters(gw) != 0)
		return;
	n = server_holders(gw->ledger.listeners, gw->ledger.nlisteners, pids,
	    sizeof pids / sizeof pids[0]);
	/* Our own children were told already (server_orphans): once each. */
	for (i = 0; i < n; i++)
		if (proc_ppid(pids[i]) != getpid())
			orphan_term(gw, pids[i]);
}

static void
server_exit(struct gw *gw, int code)
{
	if (code == 0 && gw->failed)
		code = 1;
	event_del(gw->stop_timer);
	server_orphans(gw, orphan_term);
	server_term_holders(gw);
	server_cleanup(gw);
	if (server_live_masters(gw) == 0 &&
	    ledger_remove(gw->cfg.record) == -1)
		log_warn("unlink %s", gw->cfg.record);
	server_log_exit(code);
	gw->exit_status = code;
	event_base_loopbreak(gw->base);
}

void
server_log_exit(int code)
{
	log_event(code == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR,
	    &(struct log_event){ .event = "exit", .has_exit_status = 1,
	    .exit_status = code }, "exiting with status %d", code);
}

/* Nothing serves any more: exit with code, once no master is left. */
static void
server_fail(struct gw *gw, int code)
{
	if (server_live_masters(gw) == 0) {
		server_exit(gw, code);
		return;
	}
	log_warnx("stopping what is left before exiting with status %d",
	    code);
	gw->stop_code = code;
	server_stop(gw, SIGTERM);
}

/*
 * A master we may not signal (EPERM): retrying cannot help.  Say so once
 * and stop waiting for it; the stop ends without it.
 */
static void
server_give_up(struct gw *gw, struct master *m, int sig)
{
	(void)gw;
	log_warnx("cannot send %s to %d: %s; no longer waiting for it",
	    sig == SIGKILL ? "SIGKILL" : sig == SIGQUIT ? "SIGQUIT" :
	    "SIGTERM", (int)m->pid, strerror(EPERM));
	m->exited = 1;
	event_del(m->ev);
}

static void
stop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct master	*m;
	struct timeval	 tv = { 1, 0 };

	(void)fd;
	(void)what;
	if (server_live_masters(gw) == 0) {
		server_exit(gw, gw->stop_code);
		return;
	}
	TAILQ_FOREACH(m, &gw->masters, entry) {
		if (m->exited)
			continue;
		log_warnx("%d still running after the stop timeout (%g s): "
		    "SIGKILL to it and its children", (int)m->pid,
		    gw->cfg.stop_timeout);
		master_signal_children(m, 0, SIGKILL);
		if (master_signal(m, SIGKILL) == -1 && errno == EPERM)
			server_give_up(gw, m, SIGKILL);
	}
	if (server_live_masters(gw) == 0) {
		server_exit(gw, gw->stop_code);
		return;
	}
	/* SIGKILL is final; look again shortly in case an exit was missed. */
	if (event_add(gw->stop_timer, &tv) == -1)
		fatalx("event_add stop timer failed");
}

/*
 * A reload ended (reload.c's done hook, from its deferred event: no
 * reload frame is below us).  If the old master died during it and the
 * new generation did not make it, nothing serves: exit, as when the
 * serving master dies on its own.
 */
static void
server_reload_done(struct gw *gw, const struct reload_outcome *o)
{
	if (!o->unserved || gw->cur != NULL || gw->state == GW_STOPPING)
		return;
	log_error("no gunicorn master left");
	server_fail(gw, o->code);
}

static void	server_master_exited(struct gw *, struct master *);

void
server_init(struct gw *gw)
{
	static const struct reload_hooks hooks = {
		.serve = server_set_cur,
		.doomed = server_set_failed,
		.record = server_record,
		.done = server_reload_done,
	};

	gw->master_exited = server_master_exited;
	gw->child_exited = reload_child_exited;
	reload_init(gw, &hooks);
	if ((gw->stop_timer = evtimer_new(gw->base, stop_timeout_cb, gw)) ==
	    NULL ||
	    (gw->boot_extend = evtimer_new(gw->base, boot_extend_cb, gw)) ==
	    NULL)
		fatalx("evtimer_new failed");
}


void
server_stop(struct gw *gw, int sig)
{
	struct master	*m;
	struct timeval	 tv;

	if (gw->state == GW_STOPPING) {
		log_info("already stopping; %s ignored", signame(sig));
		return;
	}
	server_set_state(gw, GW_STOPPING);
	gw->stop_signal = sig == SIGQUIT ? SIGQUIT : SIGTERM;
	/* Release mode: no generation will start again, and a client the
	 * kernel queued on our sockets would wait for nothing. */
	listen_close(&gw->listeners);
	notify_send(gw, "STOPPING=1");
	reload_notify_status(gw);
	event_del(gw->boot_extend);
	/*
	 * Masters first, then the workers still importing the app: killed
	 * before their master has the signal, it might replace them.
	 */
	TAILQ_FOREACH(m, &gw->masters, entry) {
		if (m->exited)
			continue;
		log_info("stopping: %s to master %d",
		    gw->stop_signal == SIGQUIT ? "SIGQUIT" : "SIGTERM",
		    (int)m->pid);
		if (master_signal(m, gw->stop_signal) == 0)
			continue;
		if (errno == EPERM)
			server_give_up(gw, m, gw->stop_signal);
		else if (errno != ESRCH)
			log_warn("signal master %d", (int)m->pid);
	}
	reload_abandon(gw, "abandoned: the wrapper is stopping");
	if (gw->boot != NULL) {
		ready_kill_unready(gw->boot);
		ready_free(gw->boot);
		gw->boot = NULL;
	}
	server_orphans(gw, orphan_stop);
	server_note_suspects(gw);
	if (server_live_masters(gw) == 0) {
		server_exit(gw, 0);
		return;
	}
	tv = clock_tv(gw->cfg.stop_timeout);
	if (event_add(gw->stop_timer, &tv) == -1)
		fatalx("event_add stop timer failed");
}

/*
 * A master we asked to go, or any while we stop, is an outcome (info).
 * The serving master going unasked is the app down (err), and so is a
 * reload's new master once it serves (the old one draining); before
 * that, it is a fault the reload recovers from (warning).
 */
static void
server_log_master_exit(const struct gw *gw, const struct master *m,
    const char *how)
{
	enum log_level		level = LOG_LEVEL_INFO;
	struct reload_roles	ro;

	reload_roles(gw, &ro);
	if (gw->state != GW_STOPPING && !m->asked)
		level = m == gw->cur || m == ro.serving ? LOG_LEVEL_ERROR :
		    LOG_LEVEL_WARNING;
	log_event(level, &(struct log_event){ .event = "master_exit",
	    .master = (int)m->pid, .reason = how }, "master %d %s%s",
	    (int)m->pid, how, level == LOG_LEVEL_ERROR ?
	    " (the serving master, unasked)" : "");
}

/* gunicorn.c's master_exited callback. */
static void
server_master_exited(struct gw *gw, struct master *m)
{
	char	how[128];
	int	code;

	master_describe(m, how, sizeof how);
	server_log_master_exit(gw, m, how);

	if (gw->state == GW_STOPPING) {
		if (m == gw->cur)
			server_set_cur(gw, NULL);
		master_free(m);
		/* Its orphans (a new master it forked) are ours to stop. */
		server_orphans(gw, orphan_stop);
		server_check_suspects(gw);
		if (server_live_masters(gw) == 0)
			server_exit(gw, gw->stop_code);
		return;
	}

	reload_master_exited(gw, m);
	if (m != gw->cur) {
		master_free(m);
		return;
	}

	/* The serving master died on its own: let supervisord know. */
	code = master_exit_code(m);
	if (gw->boot != NULL) {
		ready_kill_unready(gw->boot);
		ready_free(gw->boot);
		gw->boot = NULL;
	}
	reload_abandon(gw, "the serving master exited");
	server_set_cur(gw, NULL);
	master_free(m);
	server_fail(gw, code);
}
