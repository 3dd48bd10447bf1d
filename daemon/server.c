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
 */
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "gunicorn.h"
#include "gw.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "ready.h"
#include "reload.h"
#include "signame.h"
#include "xmalloc.h"

const char *
server_state_name(enum gw_state s)
{
	switch (s) {
	case GW_STARTING:
		return "starting";
	case GW_RUNNING:
		return "running";
	case GW_STOPPING:
		return "stopping";
	}
	return "?";
}

static void
server_set_state(struct gw *gw, enum gw_state to)
{
	if (gw->state != to)
		log_info("state: %s -> %s", server_state_name(gw->state),
		    server_state_name(to));
	gw->state = to;
}

static void
boot_ready_cb(struct gw *gw, enum ready_result res, void *arg)
{
	pid_t	inflight;
	int	nw, nr;

	(void)arg;
	ready_counts(gw->boot, &nw, &nr);
	inflight = ready_new_master(gw->boot);
	event_del(gw->boot_extend);
	if (res == READY_OK)
		log_info("master %d ready: %d workers", (int)gw->cur->pid, nw);
	else
		log_warnx("master %d not ready after %g s: %d of %d workers "
		    "ready; carrying on (a reload can replace it)",
		    (int)gw->cur->pid, gw->cfg.warmup, nr, nw);
	ready_free(gw->boot);
	gw->boot = NULL;
	server_set_state(gw, GW_RUNNING);
	if (res == READY_OK)
		server_ready(gw);
	else
		notify_status(gw);
	/* An adopted master whose new master showed itself only now. */
	if (gw->cur->adopted && (inflight != 0 ||
	    (inflight = reload_find_new_master(gw->cur->pid, gw->cur->pid)) !=
	    0) && proc_exists(inflight)) {
		reload_resume(gw, inflight);
		return;
	}
	reload_boot_done(gw);
}

/*
 * A generation is really ready for the first time: tell systemd (only
 * now; a first generation that never became ready leaves systemd waiting
 * until a reload brings one that does, or its start timeout).
 */
void
server_ready(struct gw *gw)
{
	if (gw->ready_sent)
		return;
	gw->ready_sent = 1;
	notify_send(gw, "READY=1\nMAINPID=%d", (int)getpid());
	notify_status(gw);
}

/* A slow first boot, still within its budget: ask systemd for time. */
static void
boot_extend_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct timeval	 tv = { 5, 0 };

	(void)fd;
	(void)what;
	if (gw->boot == NULL || ready_elapsed(gw->boot) >= gw->cfg.warmup)
		return;
	notify_send(gw, "EXTEND_TIMEOUT_USEC=10000000");
	event_add(gw->boot_extend, &tv);
}

int
server_start(struct gw *gw)
{
	struct master	*m;

	pid_t		 inflight;

	if ((m = gunicorn_adopt(gw)) == NULL &&
	    (m = gunicorn_spawn(gw)) == NULL)
		return -1;
	gw->cur = m;
	if (m->adopted &&
	    (inflight = reload_find_new_master(m->pid, m->pid)) != 0) {
		/* It served before we came; the reload decides what next. */
		gw->state = GW_RUNNING;
		server_ready(gw);
		reload_resume(gw, inflight);
		return 0;
	}
	gw->state = GW_STARTING;
	gw->boot = ready_start(gw, m->pid, gw->cfg.ready, gw->cfg.warmup,
	    boot_ready_cb, NULL);
	notify_send(gw, "MAINPID=%d\nSTATUS=starting: master %d", (int)getpid(),
	    (int)m->pid);
	if (gw->notify_fd != -1)
		boot_extend_cb(-1, 0, gw);
	return 0;
}

/* Remove what the wrapper created: a pidfile it named, now stale. */
static void
server_cleanup(struct gw *gw)
{
	char	path[4200];

	if (!gw->cfg.pidfile_added)
		return;
	if (unlink(gw->cfg.pidfile) == -1 && errno != ENOENT)
		log_warn("unlink %s", gw->cfg.pidfile);
	snprintf(path, sizeof path, "%s.2", gw->cfg.pidfile);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("unlink %s", path);
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
		/* A zombie has an empty cmdline: not gunicorn, skipped. */
		if (!ours && proc_is_gunicorn(kids[i]))
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
		if (!parent_lives && proc_is_gunicorn(pid)) {
			gw->suspects[i] = 0;
			orphan_stop(gw, pid);
		}
	}
}

void
server_exit(struct gw *gw, int code)
{
	if (code == 0 && gw->failed)
		code = 1;
	event_del(gw->stop_timer);
	server_orphans(gw, orphan_term);
	server_cleanup(gw);
	log_info("exiting with status %d", code);
	gw->exit_status = code;
	event_base_loopbreak(gw->base);
}

/* Nothing serves any more: exit with code, once no master is left. */
void
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
		(void)master_signal(m, SIGKILL);
	}
	/* SIGKILL is final; look again shortly in case an exit was missed. */
	if (event_add(gw->stop_timer, &tv) == -1)
		fatalx("event_add stop timer failed");
}

void
server_init(struct gw *gw)
{
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
	notify_send(gw, "STOPPING=1\nSTATUS=stopping");
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
		if (master_signal(m, gw->stop_signal) == -1 && errno != ESRCH)
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
	tv.tv_sec = (time_t)gw->cfg.stop_timeout;
	tv.tv_usec = (suseconds_t)((gw->cfg.stop_timeout -
	    (double)tv.tv_sec) * 1e6);
	if (event_add(gw->stop_timer, &tv) == -1)
		fatalx("event_add stop timer failed");
}

void
server_master_exited(struct gw *gw, struct master *m)
{
	char	how[128];
	int	code;

	master_describe(m, how, sizeof how);
	log_info("master %d %s", (int)m->pid, how);

	if (gw->state == GW_STOPPING) {
		if (m == gw->cur)
			gw->cur = NULL;
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
	gw->cur = NULL;
	master_free(m);
	server_fail(gw, code);
}
