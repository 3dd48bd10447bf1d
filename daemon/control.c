/* SPDX-License-Identifier: MIT */
/*
 * control.c: the control socket (see control.h and proto.h).
 *
 * As in OpenBSD's relayd/ntpd control.c: refuse to start if a live daemon
 * answers on the socket, replace a stale file, bind with mode 0660, and
 * check every peer's credentials (SO_PEERCRED) at accept.  Root, our own
 * user and members of the socket group are served; anyone else is told
 * "permission denied" and logged.
 *
 * Serving the socket must never hold up the event loop or a reload, and
 * no client may hurt gunicorn or lock the others out: every connection is
 * a non-blocking bufferevent; requests are framed by proto_frame() (which
 * refuses what can never be a request at its first byte, anything over
 * 64 KiB and nesting msgpack-c cannot take) before msgpack-c decodes
 * them; a request must be whole 10 s after its first byte, and a silent
 * connection is closed after 10 s.  Slots are shared fairly: another
 * user has at most PROTO_MAX_CLIENTS_UID of them, all other users
 * together leave PROTO_RESERVED_CLIENTS to root and our own user, and
 * when a limit is reached the oldest connection that is not waiting for
 * a reload (and is old enough to have sent its request) is dropped for
 * the new one; only when there is none is the new one told "busy".
 *
 * Each command of cmd.h has one handler here, in control_cmds[], indexed
 * by its id and checked against CMD_COUNT at build and at start.  Every
 * error reply carries a code (proto.h, PROTO_E_*) beside its text.
 *
 * Whatever a client can make us log (refusals, busy, bad requests, its
 * requests) is rate-limited per kind, with one summary line per window:
 * refusals, drops and bad requests at warning, requests that change
 * something at info, connections and read-only requests at debug.
 * A client is never freed inside one of its own callbacks, as tmux and
 * redis do: closed, it waits on a list for the reap event, or for the
 * next accept, which frees the closed ones first, and its socket is
 * closed then, not when libevent gets round to it.  At exit, the
 * replies still queued (a waiting reload's outcome, a stop's "ok") are
 * written out within CONTROL_FLUSH_MAX seconds before the socket closes.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <msgpack.h>

#include "cmd.h"
#include "control.h"
#include "gunicorn.h"
#include "gw.h"
#include "log.h"
#include "proc.h"
#include "proto.h"
#include "ready.h"
#include "release.h"
#include "reload.h"
#include "server.h"
#include "setting.h"
#include "xmalloc.h"

/* Stop taking requests from a client whose replies pile up unread. */
#define CONTROL_OUTPUT_MAX	(256 * 1024)
/* At exit: how long queued replies may take to be written out. */
#define CONTROL_FLUSH_MAX	1.0
/* A connection younger than this is never dropped for a newer one: it
 * may not have had the time to send its request. */
#define CONTROL_DROP_AGE	2.0
/* How often a reload's progress is looked at for streaming clients. */
#define CONTROL_PROGRESS_TICK	0.05
/* Rate limit of what clients can make us log: lines per window, per kind. */
#define CONTROL_LOG_WINDOW	10.0
#define CONTROL_LOG_BURST	10

enum control_log {
	CLOG_REFUSED,		/* permission denied */
	CLOG_BUSY,		/* no slot */
	CLOG_DROPPED,		/* dropped for a newer connection */
	CLOG_BAD,		/* bad or incomplete requests */
	CLOG_REQUEST,		/* reload and set requests */
	CLOG_COUNT
};

/* What a summary line counts, indexed by enum control_log. */
static const char *const control_log_what[] = {
	[CLOG_REFUSED] =	"refused connections",
	[CLOG_BUSY] =		"connections refused as busy",
	[CLOG_DROPPED] =	"connections dropped for newer ones",
	[CLOG_BAD] =		"bad requests",
	[CLOG_REQUEST] =	"requests",
};
_Static_assert(sizeof control_log_what / sizeof control_log_what[0] ==
    CLOG_COUNT, "a summary text for every kind of log line");

struct ratelimit {
	double		 start;		/* of the window, monotonic */
	unsigned	 shown;		/* lines logged in it */
	unsigned	 held;		/* lines not logged in it */
};

struct client {
	struct gw		*gw;
	struct bufferevent	*bev;
	uid_t			 uid;
	pid_t			 pid;
	int			 privileged;	/* root or our own user */
	double			 since;		/* accepted, monotonic */
	unsigned		 waiting;	/* reload id awaited */
	int			 progress;	/* ... with progress messages */
	const char		*sent_phase;	/* last progress sent */
	int			 sent_ready, sent_workers;
	double			 sent_at;
	int			 closing;	/* close once flushed */
	int			 eof;		/* peer done sending */
	int			 dead;		/* on ctl->dead, to be freed */
	struct event		*deadline;	/* for a partial request */
	struct event		*later;		/* deferred client_process */
	TAILQ_ENTRY(client)	 entry;
};

TAILQ_HEAD(clientq, client);

struct control {
	int			 fd;
	struct event		*ev;
	struct event		*pause;		/* re-arms accept on EMFILE */
	struct event		*reap;		/* frees ctl->dead */
	struct event		*tick;		/* reload progress */
	struct event		*logtick;	/* rate-limit summaries */
	char			*path;
	struct clientq		 clients;	/* oldest first */
	struct clientq		 dead;
	int			 nclients;
	struct ratelimit	 rl[CLOG_COUNT];
};

static void	client_process(struct client *);

/* Summaries of the windows that are over (all of them if force). */
static void
control_log_flush(struct control *ctl, int force)
{
	struct ratelimit	*rl;
	double			 now = now_mono();
	int			 i;

	for (i = 0; i < CLOG_COUNT; i++) {
		rl = &ctl->rl[i];
		if (!force && now - rl->start < CONTROL_LOG_WINDOW)
			continue;
		if (rl->held > 0)
			log_warnx("control: %u more %s in the last %.0f s",
			    rl->held, control_log_what[i], now - rl->start);
		rl->start = now;
		rl->shown = rl->held = 0;
	}
}

static void
control_logtick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control	*ctl = arg;
	struct timeval	 tv;
	double		 now, end, next = 0;
	int		 i, any = 0;

	(void)fd;
	(void)what;
	control_log_flush(ctl, 0);
	/* Again when the next window with lines held back ends. */
	now = now_mono();
	for (i = 0; i < CLOG_COUNT; i++) {
		end = ctl->rl[i].start + CONTROL_LOG_WINDOW - now;
		if (ctl->rl[i].held > 0 && (!any || end < next)) {
			next = end;
			any = 1;
		}
	}
	if (!any)
		return;
	if (next < 0.01)
		next = 0.01;
	tv = clock_tv(next);
	event_add(ctl->logtick, &tv);
}

/* One line a client made us write, unless too many of its kind have. */
static void
control_log(struct control *ctl, enum control_log kind, enum log_level level,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
control_log(struct control *ctl, enum control_log kind, enum log_level level,
    const char *fmt, ...)
{
	struct ratelimit	*rl = &ctl->rl[kind];
	struct timeval		 tv;
	double			 now = now_mono(), left;
	va_list			 ap;

	if (now - rl->start >= CONTROL_LOG_WINDOW)
		control_log_flush(ctl, 0);
	if (rl->shown >= CONTROL_LOG_BURST) {
		rl->held++;
		if (!evtimer_pending(ctl->logtick, NULL)) {
			left = rl->start + CONTROL_LOG_WINDOW - now;
			tv = clock_tv(left);
			event_add(ctl->logtick, &tv);
		}
		return;
	}
	rl->shown++;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static void
client_free(struct client *c)
{
	evutil_socket_t	fd = bufferevent_getfd(c->bev);

	event_free(c->deadline);
	event_free(c->later);
	/*
	 * Close the socket now: from inside a loop callback, libevent only
	 * finalizes a freed bufferevent (and closes its socket) after the
	 * callback returns, so a burst of accepts would hold the dropped
	 * clients' descriptors beyond the limits.
	 */
	if (fd != -1) {
		if (bufferevent_setfd(c->bev, -1) == -1)
			log_warnx("control: cannot detach pid %d's socket",
			    (int)c->pid);
		else if (close(fd) == -1)
			log_warn("control: close pid %d's socket", (int)c->pid);
	}
	bufferevent_free(c->bev);
	free(c);
}

/*
 * Take c out of service now (its slot is free at once) and free it from
 * the loop: we may be inside one of its callbacks, or deep in a reload.
 */
static void
client_close(struct client *c)
{
	struct control	*ctl = c->gw->control;

	if (c->dead)
		return;
	log_debug("control: closing pid %d uid %u", (int)c->pid,
	    (unsigned)c->uid);
	c->dead = 1;
	if (c->waiting)
		reload_forget(c->gw, c);
	c->waiting = 0;
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->nclients--;
	TAILQ_INSERT_TAIL(&ctl->dead, c, entry);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	event_del(c->deadline);
	event_del(c->later);
	event_active(ctl->reap, 0, 0);
}

/*
 * Free every closed client.  Only from the top of a loop callback that is
 * none of theirs: the reap event, or the accept callback, so that a
 * dropped or finished client's socket is released before a new one is
 * taken and the descriptors held never exceed the limits.
 */
static void
control_reap(struct control *ctl)
{
	struct client	*c;

	while ((c = TAILQ_FIRST(&ctl->dead)) != NULL) {
		TAILQ_REMOVE(&ctl->dead, c, entry);
		client_free(c);
	}
}

static void
control_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	control_reap(arg);
}

static void
client_send(struct client *c, const msgpack_sbuffer *sb)
{
	if (bufferevent_write(c->bev, sb->data, sb->size) == -1)
		log_warnx("control: cannot queue a reply for pid %d",
		    (int)c->pid);
}

/* Answer with an error, then close once the reply is out. */
static void
client_fail(struct client *c, const char *code, const char *msg)
{
	msgpack_sbuffer	sb;

	control_log(c->gw->control, CLOG_BAD, LOG_LEVEL_WARNING, "control: "
	    "pid %d uid %u: %s (%s)", (int)c->pid, (unsigned)c->uid, msg,
	    code);
	msgpack_sbuffer_init(&sb);
	proto_error_reply(&sb, msg, code);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
}

/* Send the map m as one message, and free it. */
static void
client_reply(struct client *c, struct proto_map *m)
{
	msgpack_sbuffer	sb;

	proto_map_message(m, &sb);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* An error reply, the connection staying open (the request was whole). */
static void
client_error(struct client *c, const char *code, const char *msg)
{
	msgpack_sbuffer	sb;

	msgpack_sbuffer_init(&sb);
	proto_error_reply(&sb, msg, code);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* P of the shared contract: the running reload's progress. */
static void
pack_progress(msgpack_packer *pk, const struct reload_progress *p)
{
	struct proto_map	m;

	proto_map_init(&m);
	proto_map_int(&m, PROTO_K_ID, p->id);
	proto_map_str(&m, PROTO_K_PHASE, p->phase);
	proto_map_double(&m, PROTO_K_ELAPSED, p->elapsed);
	proto_map_double(&m, PROTO_K_BUDGET, p->budget);
	proto_map_double(&m, PROTO_K_PHASE_ELAPSED, p->phase_elapsed);
	if (p->phase_length >= 0)
		proto_map_double(&m, PROTO_K_PHASE_LENGTH, p->phase_length);
	proto_map_int(&m, PROTO_K_READY, p->ready);
	proto_map_int(&m, PROTO_K_WORKERS, p->workers);
	if (p->new_master != 0)
		proto_map_pid(&m, PROTO_K_NEW_MASTER, p->new_master);
	proto_map_end(&m, pk);
}

static void
pack_totals(msgpack_packer *pk, unsigned long long ok,
    unsigned long long failed, unsigned long long down)
{
	struct proto_map	m;

	proto_map_init(&m);
	proto_map_int(&m, PROTO_RESULT_OK, (long long)ok);
	proto_map_int(&m, PROTO_RESULT_FAILED, (long long)failed);
	proto_map_int(&m, PROTO_K_DOWN, (long long)down);
	proto_map_end(&m, pk);
}

static pid_t
pid_of(const struct master *m)
{
	return m != NULL ? m->pid : 0;
}

static void
cmd_status(struct client *c, const struct cmd_request *req)
{
	struct gw		*gw = c->gw;
	struct reload_roles	 ro;
	struct reload_progress	 p;
	struct proto_map	 m;
	msgpack_packer		*pk;
	pid_t			*kids, *newkids, *oldkids, *dirty;
	size_t			 nw, nn, no, nd;
	unsigned long long	 n_ok, n_failed;
	unsigned		 h;
	const char		*state;

	(void)req;
	/* Mid-reload, up to three generations: serving, warming or on
	 * probation, draining; gunicorn 25+'s dirty arbiter and its workers
	 * listed apart, the serving generation's. */
	reload_roles(gw, &ro);
	kids = ready_http_workers(pid_of(ro.serving), pid_of(ro.incoming), &nw,
	    &dirty, &nd);
	newkids = ready_http_workers(pid_of(ro.incoming), 0, &nn, NULL, NULL);
	oldkids = ready_http_workers(pid_of(ro.outgoing), pid_of(ro.serving),
	    &no, NULL, NULL);
	state = gw->state == GW_RUNNING && reload_running(gw) ?
	    PROTO_STATE_RELOADING : gw_state_name(gw->state);

	proto_map_init(&m);
	proto_map_bool(&m, PROTO_K_OK, 1);
	proto_map_str(&m, PROTO_K_NAME, gw->cfg.name);
	proto_map_str(&m, PROTO_K_VERSION, GW_VERSION);
	proto_map_int(&m, PROTO_K_PID, getpid());
	proto_map_str(&m, PROTO_K_STATE, state);
	proto_map_double(&m, PROTO_K_UPTIME, now_real() - gw->started);
	proto_map_pid(&m, PROTO_K_MASTER, pid_of(ro.serving));
	proto_map_pids(&m, PROTO_K_WORKERS, kids, nw);
	proto_map_pids(&m, PROTO_K_DIRTY, dirty, nd);
	proto_map_pid(&m, PROTO_K_NEW_MASTER, pid_of(ro.incoming));
	proto_map_pids(&m, PROTO_K_NEW_WORKERS, newkids, nn);
	proto_map_pid(&m, PROTO_K_OLD_MASTER, pid_of(ro.outgoing));
	proto_map_pids(&m, PROTO_K_OLD_WORKERS, oldkids, no);
	proto_map_double(&m, PROTO_K_WARMUP, gw->cfg.warmup);
	proto_map_double(&m, PROTO_K_PROBATION, gw->cfg.probation);
	proto_map_str(&m, PROTO_K_READY_MODE,
	    options_ready_name(gw->cfg.ready));
	proto_map_bool(&m, PROTO_K_RELOAD_PENDING, reload_pending(gw));
	proto_map_str(&m, PROTO_K_RELOAD_STATE, reload_state_name(gw));
	if (reload_progress(gw, &p) == 0)
		pack_progress(proto_map_key(&m, PROTO_K_PROGRESS), &p);
	else
		proto_map_nil(&m, PROTO_K_PROGRESS);
	reload_totals(gw, &n_ok, &n_failed);
	pack_totals(proto_map_key(&m, PROTO_K_RELOADS), n_ok, n_failed,
	    reload_down_total(gw));
	if (gw->history.last_ok > 0)
		proto_map_double(&m, PROTO_K_LAST_SUCCESS, gw->history.last_ok);
	else
		proto_map_nil(&m, PROTO_K_LAST_SUCCESS);
	proto_map_str(&m, PROTO_K_RELEASES, gw->cfg.releases);
	proto_map_str(&m, PROTO_K_RELEASE, gw->release);
	proto_map_str(&m, PROTO_K_NEW_RELEASE, reload_target(gw));
	proto_map_str(&m, PROTO_K_FAILSAFE_WARNING, ready_failsafe_warning(gw));
	pk = proto_map_key(&m, PROTO_K_HISTORY);
	msgpack_pack_array(pk, gw->history.count);
	for (h = 0; h < gw->history.count; h++)
		history_pack_entry(pk, history_at(&gw->history, h));
	client_reply(c, &m);
	free(kids);
	free(newkids);
	free(oldkids);
	free(dirty);
}

/*
 * workers: every master we watch, the serving one's workers, and while a
 * reload runs its new master and the new master's workers.
 */
static void
cmd_workers(struct client *c, const struct cmd_request *req)
{
	struct gw		*gw = c->gw;
	struct reload_roles	 ro;
	struct master		*ma;
	struct proto_map	 m;
	pid_t			*kids, *newkids, *oldkids, *masters;
	size_t			 nk, nn, no, n = 0;

	(void)req;
	TAILQ_FOREACH(ma, &gw->masters, entry)
		n++;
	masters = xreallocarray(NULL, n + 1, sizeof *masters);
	n = 0;
	TAILQ_FOREACH(ma, &gw->masters, entry) {
		if (!ma->exited)
			masters[n++] = ma->pid;
	}
	reload_roles(gw, &ro);
	kids = ready_http_workers(pid_of(ro.serving), pid_of(ro.incoming), &nk,
	    NULL, NULL);
	newkids = ready_http_workers(pid_of(ro.incoming), 0, &nn, NULL, NULL);
	oldkids = ready_http_workers(pid_of(ro.outgoing), pid_of(ro.serving),
	    &no, NULL, NULL);

	proto_map_init(&m);
	proto_map_bool(&m, PROTO_K_OK, 1);
	proto_map_pid(&m, PROTO_K_MASTER, pid_of(ro.serving));
	proto_map_pids(&m, PROTO_K_MASTERS, masters, n);
	proto_map_pids(&m, PROTO_K_WORKERS, kids, nk);
	proto_map_pid(&m, PROTO_K_NEW_MASTER, pid_of(ro.incoming));
	proto_map_pids(&m, PROTO_K_NEW_WORKERS, newkids, nn);
	proto_map_pid(&m, PROTO_K_OLD_MASTER, pid_of(ro.outgoing));
	proto_map_pids(&m, PROTO_K_OLD_WORKERS, oldkids, no);
	client_reply(c, &m);
	control_log(gw->control, CLOG_REQUEST, LOG_LEVEL_DEBUG, "control: "
	    "workers asked for by pid %d uid %u", (int)c->pid,
	    (unsigned)c->uid);
	free(masters);
	free(kids);
	free(newkids);
	free(oldkids);
}

/*
 * Progress to every client that waits with "progress" for the reload
 * running now: at each phase change seen, and at most every
 * PROTO_PROGRESS_INTERVAL while only a count changes.  Polled while such
 * a client waits, so that reload.c needs no hook.
 */
static void
control_progress(struct gw *gw)
{
	struct control		*ctl = gw->control;
	struct client		*c;
	struct reload_progress	 p;
	struct proto_map	 m;
	struct timeval		 tv;
	double			 now = now_mono();
	int			 watching = 0;

	TAILQ_FOREACH(c, &ctl->clients, entry)
		watching |= c->progress && c->waiting != 0;
	if (!watching)
		return;
	if (reload_progress(gw, &p) == 0) {
		TAILQ_FOREACH(c, &ctl->clients, entry) {
			if (!c->progress || c->waiting != p.id)
				continue;
			if (c->sent_phase == p.phase &&
			    ((c->sent_ready == p.ready &&
			    c->sent_workers == p.workers) ||
			    now - c->sent_at < PROTO_PROGRESS_INTERVAL))
				continue;
			proto_map_init(&m);
			proto_map_bool(&m, PROTO_K_OK, 1);
			pack_progress(proto_map_key(&m, PROTO_K_PROGRESS), &p);
			client_reply(c, &m);
			c->sent_phase = p.phase;
			c->sent_ready = p.ready;
			c->sent_workers = p.workers;
			c->sent_at = now;
		}
	}
	tv = clock_tv(CONTROL_PROGRESS_TICK);
	if (!evtimer_pending(ctl->tick, NULL))
		event_add(ctl->tick, &tv);
}

static void
control_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	control_progress(arg);
}

static void
reload_done(struct gw *gw, const struct reload_entry *e, void *arg)
{
	struct client		*c = arg;
	struct proto_map	 m;
	struct timeval		 tv = { PROTO_IDLE_TIMEOUT, 0 };
	int			 ok = e->result == RESULT_OK;

	(void)gw;
	c->waiting = 0;
	c->progress = 0;
	proto_map_init(&m);
	proto_map_bool(&m, PROTO_K_OK, ok);
	if (!ok) {
		proto_map_str(&m, PROTO_K_ERROR, e->reason != NULL ?
		    e->reason : "reload failed");
		/* "down": failed, and the old generation is gone too. */
		proto_map_str(&m, PROTO_K_CODE, e->down ? PROTO_E_DOWN :
		    PROTO_E_FAILED);
	}
	history_pack_entry(proto_map_key(&m, PROTO_K_RELOAD), e);
	client_reply(c, &m);
	/*
	 * Back to normal: idle timeout on, and the next buffered request,
	 * but from the loop: we may be deep inside the reload machinery.
	 */
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (c->eof)
		c->closing = 1;
	event_active(c->later, 0, 0);
}

/* reload, deploy and rollback: release NULL for the serving one. */
static void
reload_start(struct client *c, const struct cmd_request *req,
    const char *release)
{
	struct gw		*gw = c->gw;
	struct proto_map	 m;
	unsigned		 id;
	struct timeval		 tv = { PROTO_IDLE_TIMEOUT, 0 };

	/*
	 * Waiting before asking: the reload can end inside reload_request()
	 * (SIGUSR2 fails at once), and then reload_done() clears it.
	 */
	if (req->wait) {
		c->waiting = UINT_MAX;
		c->progress = req->progress;
		c->sent_phase = NULL;
		bufferevent_set_timeouts(c->bev, NULL, &tv);
	}
	id = reload_request_release(gw, TRIGGER_CONTROL, release, req->wait ?
	    reload_done : NULL, c);
	if (id == 0) {
		c->waiting = 0;
		c->progress = 0;
		bufferevent_set_timeouts(c->bev, &tv, &tv);
		client_error(c, PROTO_E_UNAVAILABLE, gw->state == GW_STOPPING ?
		    "reload refused: the wrapper is stopping" :
		    "reload refused: no gunicorn master is running");
		return;
	}
	control_log(gw->control, CLOG_REQUEST, LOG_LEVEL_INFO, "reload %u: "
	    "asked for by uid %u, pid %d, on the control socket%s%s", id,
	    (unsigned)c->uid, (int)c->pid, release != NULL ? ", to deploy " :
	    "", release != NULL ? release : "");
	if (req->wait) {
		/* The reply comes from reload_done(), maybe already has. */
		if (c->waiting != 0) {
			c->waiting = id;
			if (c->progress)
				control_progress(gw);
		}
		return;
	}
	proto_map_init(&m);
	proto_map_bool(&m, PROTO_K_OK, 1);
	proto_map_int(&m, PROTO_K_ID, id);
	client_reply(c, &m);
}

static void
cmd_reload(struct client *c, const struct cmd_request *req)
{
	reload_start(c, req, NULL);
}

/* Release mode only: say so, in one line. */
static int
release_mode(struct client *c, const char *what)
{
	char	msg[160];

	if (c->gw->release != NULL)
		return 1;
	snprintf(msg, sizeof msg, "%s: not in release mode (start the wrapper "
	    "with --releases DIR and gunicorn's --chdir a symlink into it)",
	    what);
	client_error(c, PROTO_E_UNAVAILABLE, msg);
	return 0;
}

/*
 * Requests made while a reload runs coalesce into one queued reload; one
 * queued deploy of another release would answer this one with that one's
 * outcome: refuse it, in one line, instead.
 */
static int
deploy_fits_queue(struct client *c, const char *real)
{
	const char	*queued = reload_queued_target(c->gw);
	char		 msg[PROTO_PATH_MAX + 128];

	if (queued == NULL || strcmp(queued, real) == 0)
		return 1;
	snprintf(msg, sizeof msg, "a deploy of %s is already queued: ask "
	    "again once it has ended", queued);
	client_error(c, PROTO_E_UNAVAILABLE, msg);
	return 0;
}

/* deploy and rollback: dir checked (one line if not), then deployed. */
static void
deploy_dir(struct client *c, const struct cmd_request *req, const char *dir)
{
	char	 err[PROTO_PATH_MAX + 256], *real;

	if (release_resolve(c->gw, dir, &real, err, sizeof err) == -1) {
		client_error(c, PROTO_E_BAD_ARGUMENT, err);
		return;
	}
	if (deploy_fits_queue(c, real))
		reload_start(c, req, real);
	free(real);
}

static void
cmd_deploy(struct client *c, const struct cmd_request *req)
{
	if (release_mode(c, "deploy"))
		deploy_dir(c, req, req->release);
}

/*
 * The release that served before the serving one: the old release of
 * the newest successful reload that brought the serving one in.
 */
static void
cmd_rollback(struct client *c, const struct cmd_request *req)
{
	struct gw			*gw = c->gw;
	const struct reload_entry	*e;
	const char			*to = NULL;
	unsigned			 h;

	if (!release_mode(c, "rollback"))
		return;
	for (h = gw->history.count; h > 0 && to == NULL; h--) {
		e = history_at(&gw->history, h - 1);
		if (e->result == RESULT_OK && e->release != NULL &&
		    e->old_release != NULL &&
		    strcmp(e->release, gw->release) == 0 &&
		    strcmp(e->old_release, e->release) != 0)
			to = e->old_release;
	}
	if (to == NULL) {
		client_error(c, PROTO_E_UNAVAILABLE, "rollback: the history "
		    "names no release that served before this one");
		return;
	}
	deploy_dir(c, req, to);
}

static void
cmd_stop(struct client *c, const struct cmd_request *req)
{
	struct proto_map	m;

	(void)req;
	proto_map_init(&m);
	proto_map_bool(&m, PROTO_K_OK, 1);
	client_reply(c, &m);
	control_log(c->gw->control, CLOG_REQUEST, LOG_LEVEL_INFO, "stop "
	    "requested by control (pid %d, uid %u)", (int)c->pid,
	    (unsigned)c->uid);
	server_stop(c->gw, SIGTERM);
}

/*
 * Where each setting of the table (setting.h) lives in the daemon's
 * configuration.  Sized by its initialisers and checked: a setting added
 * to the table without its field here fails to compile.
 */
static const size_t setting_fields[] = {
	[SETTING_WARMUP] =	offsetof(struct gw_config, warmup),
	[SETTING_PROBATION] =	offsetof(struct gw_config, probation),
};
_Static_assert(sizeof setting_fields / sizeof setting_fields[0] ==
    SETTING_COUNT, "one configuration field per setting");

/* set and set-warmup: store the value, log who changed it; the old one. */
static double
setting_apply(struct client *c, const struct cmd_request *req)
{
	double	*field = (double *)(void *)((char *)&c->gw->cfg +
		    setting_fields[req->setting->id]);
	double	 old = *field;

	*field = req->value;
	control_log(c->gw->control, CLOG_REQUEST, LOG_LEVEL_INFO, "setting "
	    "%s %g s -> %g s (by control, pid %d, uid %u); applies to the "
	    "next reload", req->setting->key, old, req->value, (int)c->pid,
	    (unsigned)c->uid);
	return old;
}

static void
cmd_set(struct client *c, const struct cmd_request *req)
{
	struct proto_map	 m;
	double			 old = setting_apply(c, req);

	proto_map_init(&m);
	proto_map_bool(&m, PROTO_K_OK, 1);
	if (req->cmd == CMD_SET)	/* set-warmup's reply has no key */
		proto_map_str(&m, PROTO_K_KEY, req->setting->key);
	proto_map_double(&m, PROTO_K_OLD, old);
	proto_map_double(&m, PROTO_K_NEW, req->value);
	client_reply(c, &m);
}

/*
 * What each command (cmd.h) does, indexed by enum cmd_id.  Sized by its
 * initialisers: a command added to the end of the table without a
 * handler here fails to compile; one left out elsewhere is NULL, which
 * control_init() refuses at start and client_process() checks anyway.
 */
static void (*const control_cmds[])(struct client *,
    const struct cmd_request *) = {
	[CMD_STATUS] =		cmd_status,
	[CMD_RELOAD] =		cmd_reload,
	[CMD_STOP] =		cmd_stop,
	[CMD_SET_WARMUP] =	cmd_set,
	[CMD_WORKERS] =		cmd_workers,
	[CMD_DEPLOY] =		cmd_deploy,
	[CMD_ROLLBACK] =	cmd_rollback,
	[CMD_SET] =		cmd_set,
};
_Static_assert(sizeof control_cmds / sizeof control_cmds[0] == CMD_COUNT,
    "one control handler per command");

/* Handle every complete request buffered, one at a time. */
static void
client_process(struct client *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	struct cmd_request	 req;
	const struct cmd_entry	*e;
	const char		*why;
	char			 err[256];
	unsigned char		*data;
	size_t			 len, msglen;
	struct timeval		 tv = { PROTO_IDLE_TIMEOUT, 0 };

	while (!c->dead && !c->closing && !c->waiting &&
	    evbuffer_get_length(out) < CONTROL_OUTPUT_MAX &&
	    (len = evbuffer_get_length(in)) > 0) {
		/* A request has 10 s from its first byte, however it trickles. */
		if (!evtimer_pending(c->deadline, NULL))
			evtimer_add(c->deadline, &tv);
		if (len > PROTO_MAX_MESSAGE + 1)
			len = PROTO_MAX_MESSAGE + 1;
		if ((data = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL) {
			client_fail(c, PROTO_E_INTERNAL, "out of memory");
			return;
		}
		switch (proto_frame((const char *)data, len, &msglen, &why)) {
		case PROTO_INCOMPLETE:
			/* The deadline bounds the wait, unless none is left. */
			if (c->eof)
				client_fail(c, PROTO_E_MALFORMED, "request "
				    "incomplete at end of file");
			return;
		case PROTO_INVALID:
			client_fail(c, proto_frame_code(why), why);
			return;
		case PROTO_COMPLETE:
			break;
		}
		if (cmd_decode((const char *)data, msglen, &req, err,
		    sizeof err) == -1) {
			client_fail(c, req.code, err);
			return;
		}
		evbuffer_drain(in, msglen);
		evtimer_del(c->deadline);
		if ((e = cmd_get(req.cmd)) == NULL ||
		    control_cmds[req.cmd] == NULL) {
			client_fail(c, PROTO_E_INTERNAL, "command not served");
			return;
		}
		/* Those that change something also say so at info. */
		log_debug("control: pid %d uid %u: %s", (int)c->pid,
		    (unsigned)c->uid, e->name);
		control_cmds[req.cmd](c, &req);
	}
	if (!c->dead && c->eof && !c->waiting && !c->closing) {
		/* Half-closed: nothing more will come; close once answered. */
		c->closing = 1;
		if (evbuffer_get_length(out) == 0)
			client_close(c);
	}
}

static void
client_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;

	(void)fd;
	(void)what;
	if (!c->closing && !c->waiting &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		client_fail(c, PROTO_E_TIMEOUT, "request incomplete after "
		    "10 s");
}

static void
client_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	(void)fd;
	(void)what;
	if (c->closing && evbuffer_get_length(out) == 0) {
		client_close(c);
		return;
	}
	client_process(c);
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_process(arg);
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->closing) {
		client_close(c);
		return;
	}
	client_process(c);	/* requests held back by a full output */
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;

	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    !c->closing && evbuffer_get_length(bufferevent_get_input(bev))) {
		client_fail(c, PROTO_E_TIMEOUT, "request incomplete after "
		    "10 s");
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    !c->closing) {
		/*
		 * shutdown(SHUT_WR), as nc -N does: answer what was asked,
		 * including a reload being waited for, then close.
		 */
		c->eof = 1;
		bufferevent_disable(bev, EV_READ);
		client_process(c);
		return;
	}
	/* Error, an idle client, or one not reading its replies. */
	client_close(c);
}

static int
peer_allowed(struct gw *gw, int fd, struct ucred *cred)
{
	gid_t		groups[256];
	socklen_t	len = sizeof *cred;
	size_t		i, n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		return 0;
	}
	if (cred->uid == 0 || cred->uid == geteuid())
		return 1;
	if (gw->cfg.socket_gid == (gid_t)-1)
		return 0;
	if (cred->gid == gw->cfg.socket_gid)
		return 1;
	len = sizeof groups;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return 0;
	n = len / sizeof groups[0];
	for (i = 0; i < n; i++) {
		if (groups[i] == gw->cfg.socket_gid)
			return 1;
	}
	return 0;
}

/* A one-shot error to a connection we will not serve. */
static void
refuse(int fd, const char *code, const char *msg)
{
	msgpack_sbuffer	sb;

	msgpack_sbuffer_init(&sb);
	proto_error_reply(&sb, msg, code);
	(void)send(fd, sb.data, sb.size, MSG_DONTWAIT | MSG_NOSIGNAL);
	msgpack_sbuffer_destroy(&sb);
	close(fd);
}

static void
control_pause_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control	*ctl = arg;

	(void)fd;
	(void)what;
	if (event_add(ctl->ev, NULL) == -1)
		log_warnx("control: cannot re-arm accept");
}

/*
 * Room for one more connection from uid, dropping the oldest connection
 * that may go if a limit is reached: another user's connections count
 * against its own limit and against the slots all other users share;
 * root and our own user may use every slot.  0: room; -1: busy.
 * Only from the accept callback, which is none of the victim's: the
 * victim is freed, and its socket closed, before the newcomer is kept.
 */
static int
control_make_room(struct control *ctl, uid_t uid, int privileged)
{
	struct client	*c, *victim = NULL, *mine = NULL;
	struct client	*theirs = NULL, *ours = NULL;
	double		 now = now_mono();
	int		 n_uid = 0, n_other = 0;

	TAILQ_FOREACH(c, &ctl->clients, entry) {
		int	 may_go = !c->waiting && now - c->since >=
		    CONTROL_DROP_AGE;

		if (!c->privileged) {
			n_other++;
			if (may_go && theirs == NULL)
				theirs = c;
		} else if (may_go && ours == NULL)
			ours = c;
		if (c->uid == uid) {
			n_uid++;
			if (may_go && mine == NULL)
				mine = c;
		}
	}
	if (!privileged && n_uid >= PROTO_MAX_CLIENTS_UID)
		victim = mine;
	else if (!privileged && n_other >= PROTO_MAX_CLIENTS -
	    PROTO_RESERVED_CLIENTS)
		victim = theirs;
	else if (ctl->nclients >= PROTO_MAX_CLIENTS)
		victim = theirs != NULL || !privileged ? theirs : ours;
	else
		return 0;
	if (victim == NULL)
		return -1;
	control_log(ctl, CLOG_DROPPED, LOG_LEVEL_WARNING, "control: dropped pid %d uid %u, "
	    "connected %.1f s ago with no reload to wait for, to make room "
	    "for uid %u", (int)victim->pid, (unsigned)victim->uid,
	    now - victim->since, (unsigned)uid);
	/* A reply in the middle of the stream would garble it: only if
	 * nothing else is on its way. */
	if (evbuffer_get_length(bufferevent_get_output(victim->bev)) == 0) {
		msgpack_sbuffer	sb;

		msgpack_sbuffer_init(&sb);
		proto_error_reply(&sb, "dropped: too many connections",
		    PROTO_E_DROPPED);
		(void)send(bufferevent_getfd(victim->bev), sb.data, sb.size,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		msgpack_sbuffer_destroy(&sb);
	}
	client_close(victim);
	control_reap(ctl);
	return 0;
}

static void
control_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct control	*ctl = gw->control;
	struct client	*c;
	struct ucred	 cred;
	struct timeval	 tv = { PROTO_IDLE_TIMEOUT, 0 };
	struct timeval	 pause = { 1, 0 };
	int		 fd, privileged;

	(void)what;
	control_reap(ctl);
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				/* Do not spin: retry in a second. */
				log_warn("control: accept");
				event_del(ctl->ev);
				event_add(ctl->pause, &pause);
			} else if (errno != EAGAIN)
				log_warn("control: accept");
			return;
		}
		if (!peer_allowed(gw, fd, &cred)) {
			control_log(ctl, CLOG_REFUSED, LOG_LEVEL_WARNING,
			    "control: refused uid %u (pid %d): permission "
			    "denied", (unsigned)cred.uid, (int)cred.pid);
			refuse(fd, PROTO_E_DENIED, "permission denied");
			continue;
		}
		privileged = cred.uid == 0 || cred.uid == geteuid();
		if (control_make_room(ctl, cred.uid, privileged) == -1) {
			control_log(ctl, CLOG_BUSY, LOG_LEVEL_WARNING,
			    "control: %d clients already, none that may be "
			    "dropped: busy, closing pid %d uid %u",
			    ctl->nclients, (int)cred.pid, (unsigned)cred.uid);
			refuse(fd, PROTO_E_BUSY, "busy");
			continue;
		}
		c = xcalloc(1, sizeof *c);
		c->gw = gw;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->privileged = privileged;
		c->since = now_mono();
		c->bev = bufferevent_socket_new(gw->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL) {
			log_warnx("control: bufferevent_socket_new failed");
			close(fd);
			free(c);
			continue;
		}
		c->deadline = evtimer_new(gw->base, client_deadline_cb, c);
		c->later = event_new(gw->base, -1, 0, client_later_cb, c);
		if (c->deadline == NULL || c->later == NULL)
			fatalx("control: event_new failed");
		bufferevent_setcb(c->bev, client_read_cb, client_write_cb,
		    client_event_cb, c);
		bufferevent_set_timeouts(c->bev, &tv, &tv);
		bufferevent_setwatermark(c->bev, EV_READ, 0,
		    PROTO_MAX_MESSAGE + 1);
		if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1) {
			log_warnx("control: bufferevent_enable failed");
			client_free(c);
			continue;
		}
		TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
		ctl->nclients++;
		log_debug("control: accepted pid %d uid %u (%d clients)",
		    (int)c->pid, (unsigned)c->uid, ctl->nclients);
	}
}

int
control_init(struct gw *gw)
{
	struct control		*ctl;
	struct sockaddr_un	 sun;
	struct stat		 sb;
	const char		*path = gw->cfg.socket;
	mode_t			 old;
	int			 fd, i;

	/* Every command has its entry and its handler, or nothing starts. */
	for (i = 0; i < CMD_COUNT; i++) {
		if (cmd_get((enum cmd_id)i) == NULL || control_cmds[i] ==
		    NULL) {
			log_startup_error("command %d has no "
			    "entry or no handler", i);
			return -1;
		}
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);

	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			log_startup_error("%s exists and is "
			    "not a socket", path);
			return -1;
		}
		/* Is a daemon answering there? */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1) {
			log_startup_error("socket: %s",
			    strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
			close(fd);
			log_startup_error("another "
			    "gunicorn-wrapper named %s is running on %s",
			    gw->cfg.name, path);
			return -1;
		}
		if (errno != ECONNREFUSED && errno != ENOENT) {
			log_startup_error("%s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
		if (unlink(path) == -1 && errno != ENOENT) {
			log_startup_error("cannot remove stale "
			    "socket %s: %s", path, strerror(errno));
			return -1;
		}
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_startup_error("socket: %s",
		    strerror(errno));
		return -1;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		log_startup_error("bind %s: %s", path,
		    errno == EADDRINUSE ? "another gunicorn-wrapper is "
		    "starting on it" : strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) == -1 || (gw->cfg.socket_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, gw->cfg.socket_gid) == -1) ||
	    listen(fd, 128) == -1) {
		log_startup_error("%s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}

	ctl = xcalloc(1, sizeof *ctl);
	ctl->fd = fd;
	ctl->path = xstrdup(path);
	TAILQ_INIT(&ctl->clients);
	TAILQ_INIT(&ctl->dead);
	ctl->ev = event_new(gw->base, fd, EV_READ | EV_PERSIST,
	    control_accept_cb, gw);
	ctl->pause = evtimer_new(gw->base, control_pause_cb, ctl);
	ctl->reap = event_new(gw->base, -1, 0, control_reap_cb, ctl);
	ctl->tick = evtimer_new(gw->base, control_tick_cb, gw);
	ctl->logtick = evtimer_new(gw->base, control_logtick_cb, ctl);
	ctl->rl[0].start = now_mono();
	for (i = 1; i < CLOG_COUNT; i++)
		ctl->rl[i].start = ctl->rl[0].start;
	if (ctl->ev == NULL || ctl->pause == NULL || ctl->reap == NULL ||
	    ctl->tick == NULL || ctl->logtick == NULL ||
	    event_add(ctl->ev, NULL) == -1)
		fatalx("control: event_add failed");
	gw->control = ctl;
	return 0;
}

/*
 * The loop has stopped: write out what is queued (a waiting reload's
 * outcome, a stop's "ok"), for at most CONTROL_FLUSH_MAX seconds in all.
 * libevent freezes the front of a bufferevent's output (only its own
 * writer may drain it), so unfreeze it and write it here, with poll(2).
 */
static void
control_flush(struct control *ctl)
{
	struct client	*c;
	struct evbuffer	*out;
	struct pollfd	*pfd;
	double		 left, deadline = now_mono() + CONTROL_FLUSH_MAX;
	nfds_t		 n;
	int		 fd;

	pfd = xreallocarray(NULL, (size_t)ctl->nclients + 1, sizeof *pfd);
	TAILQ_FOREACH(c, &ctl->clients, entry) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		(void)evbuffer_unfreeze(bufferevent_get_output(c->bev), 1);
	}
	for (;;) {
		n = 0;
		TAILQ_FOREACH(c, &ctl->clients, entry) {
			out = bufferevent_get_output(c->bev);
			fd = bufferevent_getfd(c->bev);
			if (c->dead || evbuffer_get_length(out) == 0)
				continue;
			if (evbuffer_write(out, fd) == -1 && errno != EAGAIN &&
			    errno != EINTR) {
				c->dead = 1;	/* gone: give up on it */
				continue;
			}
			if (evbuffer_get_length(out) > 0) {
				pfd[n].fd = fd;
				pfd[n].events = POLLOUT;
				pfd[n++].revents = 0;
			}
		}
		left = deadline - now_mono();
		if (n == 0)
			break;
		if (left <= 0) {
			log_warnx("control: %d repl%s not delivered within "
			    "%g s of exiting", (int)n, n == 1 ? "y" : "ies",
			    CONTROL_FLUSH_MAX);
			break;
		}
		if (poll(pfd, n, (int)(left * 1000) + 1) == -1 &&
		    errno != EINTR) {
			log_warn("control: poll");
			break;
		}
	}
	free(pfd);
}

void
control_free(struct gw *gw)
{
	struct control	*ctl = gw->control;
	struct client	*c;

	if (ctl == NULL)
		return;
	control_flush(ctl);
	control_log_flush(ctl, 1);
	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL) {
		TAILQ_REMOVE(&ctl->clients, c, entry);
		if (c->waiting)
			reload_forget(gw, c);
		client_free(c);
	}
	while ((c = TAILQ_FIRST(&ctl->dead)) != NULL) {
		TAILQ_REMOVE(&ctl->dead, c, entry);
		client_free(c);
	}
	event_free(ctl->ev);
	event_free(ctl->pause);
	event_free(ctl->reap);
	event_free(ctl->tick);
	event_free(ctl->logtick);
	close(ctl->fd);
	if (unlink(ctl->path) == -1 && errno != ENOENT)
		log_warn("unlink %s", ctl->path);
	free(ctl->path);
	free(ctl);
	gw->control = NULL;
}
