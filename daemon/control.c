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
 * no client may hurt gunicorn: every connection is a non-blocking
 * bufferevent; requests are framed by proto_frame() (which refuses what
 * can never be a request at its first byte, and anything over 64 KiB)
 * before msgpack-c decodes them; a client idle for 10 s mid-request is
 * answered and dropped; at most PROTO_MAX_CLIENTS at once, the next is
 * told "busy".  A bad client gets an error reply and is closed.  A client
 * that goes away while it waits for a reload changes nothing about the
 * reload: its waiter is simply forgotten.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <msgpack.h>

#include "control.h"
#include "gunicorn.h"
#include "gw.h"
#include "log.h"
#include "proc.h"
#include "proto.h"
#include "ready.h"
#include "reload.h"
#include "xmalloc.h"

/* Stop taking requests from a client whose replies pile up unread. */
#define CONTROL_OUTPUT_MAX	(256 * 1024)

struct client {
	struct gw		*gw;
	struct bufferevent	*bev;
	uid_t			 uid;
	pid_t			 pid;
	unsigned		 waiting;	/* reload id awaited */
	int			 closing;	/* close once flushed */
	int			 eof;		/* peer done sending */
	struct event		*deadline;	/* for a partial request */
	struct event		*later;		/* deferred client_process */
	TAILQ_ENTRY(client)	 entry;
};

struct control {
	int			 fd;
	struct event		*ev;
	struct event		*pause;		/* re-arms accept on EMFILE */
	char			*path;
	TAILQ_HEAD(, client)	 clients;
	int			 nclients;
};

static void	client_process(struct client *);

static void
client_free(struct client *c)
{
	struct control	*ctl = c->gw->control;

	if (c->waiting)
		reload_forget(c->gw, c);
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->nclients--;
	event_free(c->deadline);
	event_free(c->later);
	bufferevent_free(c->bev);
	free(c);
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
client_fail(struct client *c, const char *msg)
{
	msgpack_sbuffer	sb;

	log_warnx("control: pid %d uid %u: %s", (int)c->pid,
	    (unsigned)c->uid, msg);
	msgpack_sbuffer_init(&sb);
	proto_error_reply(&sb, msg);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
}

static void
cmd_status(struct client *c, const struct proto_request *req)
{
	struct gw	*gw = c->gw;
	struct master	*nm = reload_new_master(gw);
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	pid_t		*kids = NULL, *dirty = NULL, arb = 0;
	size_t		 n = 0, i, nw = 0, nd = 0;
	unsigned	 h;
	const char	*state;

	(void)req;
	if (gw->cur != NULL && proc_children(gw->cur->pid, &kids, &n) == -1)
		n = 0;
	/* gunicorn 25+'s dirty arbiter and its workers: listed apart. */
	if (gw->cur != NULL)
		(void)ready_dirty_of(gw->cur->pid, &arb, &dirty, &nd);
	for (i = 0; i < n; i++) {
		if ((nm == NULL || kids[i] != nm->pid) && kids[i] != arb)
			kids[nw++] = kids[i];
	}
	state = gw->state == GW_RUNNING && reload_running(gw) ? "reloading" :
	    server_state_name(gw->state);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 14);
	proto_pack_kbool(&pk, PROTO_K_OK, 1);
	proto_pack_kstr(&pk, "name", gw->cfg.name);
	proto_pack_kstr(&pk, "version", GW_VERSION);
	proto_pack_kint(&pk, "pid", getpid());
	proto_pack_kstr(&pk, "state", state);
	proto_pack_kdouble(&pk, "uptime", now_real() - gw->started);
	proto_pack_kpid(&pk, "master", gw->cur != NULL ? gw->cur->pid : 0);
	proto_pack_str(&pk, "workers");
	msgpack_pack_array(&pk, nw);
	for (i = 0; i < nw; i++)
		msgpack_pack_int(&pk, kids[i]);
	proto_pack_str(&pk, "dirty");
	msgpack_pack_array(&pk, arb != 0 ? nd + 1 : 0);
	if (arb != 0)
		msgpack_pack_int(&pk, arb);
	for (i = 0; arb != 0 && i < nd; i++)
		msgpack_pack_int(&pk, dirty[i]);
	proto_pack_kdouble(&pk, "warmup", gw->cfg.warmup);
	proto_pack_kstr(&pk, "ready", options_ready_name(gw->cfg.ready));
	proto_pack_kbool(&pk, "reload_pending", reload_pending(gw));
	proto_pack_kstr(&pk, "reload_state", reload_state_name(gw));
	proto_pack_str(&pk, "history");
	msgpack_pack_array(&pk, gw->history.count);
	for (h = 0; h < gw->history.count; h++)
		history_pack_entry(&pk, history_at(&gw->history, h));
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	free(kids);
	free(dirty);
}

static void
reload_done(struct gw *gw, const struct reload_entry *e, void *arg)
{
	struct client	*c = arg;
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	struct timeval	 tv = { PROTO_IDLE_TIMEOUT, 0 };
	int		 ok = e->result == RESULT_OK;

	(void)gw;
	c->waiting = 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, ok ? 2 : 3);
	proto_pack_kbool(&pk, PROTO_K_OK, ok);
	if (!ok)
		proto_pack_kstr(&pk, PROTO_K_ERROR, e->reason != NULL ?
		    e->reason : "reload failed");
	proto_pack_str(&pk, PROTO_K_RELOAD);
	history_pack_entry(&pk, e);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	/*
	 * Back to normal: idle timeout on, and the next buffered request,
	 * but from the loop: we may be deep inside the reload machinery.
	 */
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (c->eof)
		c->closing = 1;
	event_active(c->later, 0, 0);
}

static void
cmd_reload(struct client *c, const struct proto_request *req)
{
	struct gw	*gw = c->gw;
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	unsigned	 id;
	struct timeval	 tv = { PROTO_IDLE_TIMEOUT, 0 };

	/*
	 * Waiting before asking: the reload can end inside reload_request()
	 * (SIGUSR2 fails at once), and then reload_done() clears it.
	 */
	if (req->wait) {
		c->waiting = UINT_MAX;
		bufferevent_set_timeouts(c->bev, NULL, &tv);
	}
	id = reload_request(gw, TRIGGER_CONTROL, req->wait ? reload_done :
	    NULL, c);
	if (id == 0) {
		c->waiting = 0;
		bufferevent_set_timeouts(c->bev, &tv, &tv);
		msgpack_sbuffer_init(&sb);
		proto_error_reply(&sb, gw->state == GW_STOPPING ?
		    "reload refused: the wrapper is stopping" :
		    "reload refused: no gunicorn master is running");
		client_send(c, &sb);
		msgpack_sbuffer_destroy(&sb);
		return;
	}
	if (req->wait) {
		/* The reply comes from reload_done(), maybe already has. */
		if (c->waiting != 0)
			c->waiting = id;
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	proto_pack_kbool(&pk, PROTO_K_OK, 1);
	proto_pack_kint(&pk, PROTO_K_ID, id);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void
cmd_stop(struct client *c, const struct proto_request *req)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	(void)req;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	proto_pack_kbool(&pk, PROTO_K_OK, 1);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	log_info("stop requested by control (pid %d, uid %u)", (int)c->pid,
	    (unsigned)c->uid);
	server_stop(c->gw, SIGTERM);
}

static void
cmd_set_warmup(struct client *c, const struct proto_request *req)
{
	struct gw	*gw = c->gw;
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	double		 old = gw->cfg.warmup;

	gw->cfg.warmup = req->seconds;
	log_info("warm-up budget %g s -> %g s (by control, pid %d); applies "
	    "to the next reload", old, req->seconds, (int)c->pid);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	proto_pack_kbool(&pk, PROTO_K_OK, 1);
	proto_pack_kdouble(&pk, PROTO_K_OLD, old);
	proto_pack_kdouble(&pk, PROTO_K_NEW, req->seconds);
	client_send(c, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* What each decoded command does, indexed by enum proto_cmd. */
static void (*const control_cmds[])(struct client *,
    const struct proto_request *) = {
	[CMD_STATUS] =		cmd_status,
	[CMD_RELOAD] =		cmd_reload,
	[CMD_STOP] =		cmd_stop,
	[CMD_SET_WARMUP] =	cmd_set_warmup,
};

/* Handle every complete request buffered, one at a time. */
static void
client_process(struct client *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	struct proto_request	 req;
	const char		*why;
	char			 err[256];
	unsigned char		*data;
	size_t			 len, msglen;

	struct timeval		 tv = { PROTO_IDLE_TIMEOUT, 0 };

	while (!c->closing && !c->waiting &&
	    evbuffer_get_length(out) < CONTROL_OUTPUT_MAX &&
	    (len = evbuffer_get_length(in)) > 0) {
		/* A request has 10 s from its first byte, however it trickles. */
		if (!evtimer_pending(c->deadline, NULL))
			evtimer_add(c->deadline, &tv);
		if (len > PROTO_MAX_MESSAGE + 1)
			len = PROTO_MAX_MESSAGE + 1;
		if ((data = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL) {
			client_fail(c, "out of memory");
			return;
		}
		switch (proto_frame((const char *)data, len, &msglen, &why)) {
		case PROTO_INCOMPLETE:
			return;		/* the idle timeout bounds the wait */
		case PROTO_INVALID:
			client_fail(c, why);
			return;
		case PROTO_COMPLETE:
			break;
		}
		if (proto_request_decode((const char *)data, msglen, &req, err,
		    sizeof err) == -1) {
			client_fail(c, err);
			return;
		}
		evbuffer_drain(in, msglen);
		evtimer_del(c->deadline);
		control_cmds[req.cmd](c, &req);
	}
	if (c->eof && !c->waiting && !c->closing) {
		/* Half-closed: nothing more will come; close once answered. */
		c->closing = 1;
		if (evbuffer_get_length(out) == 0)
			client_free(c);
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
		client_fail(c, "request incomplete after 10 s");
}

static void
client_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	(void)fd;
	(void)what;
	if (c->closing && evbuffer_get_length(out) == 0) {
		client_free(c);
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
		client_free(c);
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
		client_fail(c, "request incomplete after 10 s");
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
	client_free(c);
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
refuse(int fd, const char *msg)
{
	msgpack_sbuffer	sb;

	msgpack_sbuffer_init(&sb);
	proto_error_reply(&sb, msg);
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

static void
control_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct control	*ctl = gw->control;
	struct client	*c;
	struct ucred	 cred;
	struct timeval	 tv = { PROTO_IDLE_TIMEOUT, 0 };
	struct timeval	 pause = { 1, 0 };
	int		 fd;

	(void)what;
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
			log_warnx("control: refused uid %u (pid %d): "
			    "permission denied", (unsigned)cred.uid,
			    (int)cred.pid);
			refuse(fd, "permission denied");
			continue;
		}
		if (ctl->nclients >= PROTO_MAX_CLIENTS) {
			log_warnx("control: %d clients already: busy, "
			    "closing pid %d", ctl->nclients, (int)cred.pid);
			refuse(fd, "busy");
			continue;
		}
		c = xcalloc(1, sizeof *c);
		c->gw = gw;
		c->uid = cred.uid;
		c->pid = cred.pid;
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
			event_free(c->deadline);
			event_free(c->later);
			bufferevent_free(c->bev);
			free(c);
			continue;
		}
		TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
		ctl->nclients++;
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
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);

	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			fprintf(stderr, "gunicorn-wrapper: %s exists and is "
			    "not a socket\n", path);
			return -1;
		}
		/* Is a daemon answering there? */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1) {
			fprintf(stderr, "gunicorn-wrapper: socket: %s\n",
			    strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
			close(fd);
			fprintf(stderr, "gunicorn-wrapper: another "
			    "gunicorn-wrapper named %s is running on %s\n",
			    gw->cfg.name, path);
			return -1;
		}
		if (errno != ECONNREFUSED && errno != ENOENT) {
			fprintf(stderr, "gunicorn-wrapper: %s: %s\n", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
		if (unlink(path) == -1 && errno != ENOENT) {
			fprintf(stderr, "gunicorn-wrapper: cannot remove stale "
			    "socket %s: %s\n", path, strerror(errno));
			return -1;
		}
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		fprintf(stderr, "gunicorn-wrapper: socket: %s\n",
		    strerror(errno));
		return -1;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		fprintf(stderr, "gunicorn-wrapper: bind %s: %s\n", path,
		    errno == EADDRINUSE ? "another gunicorn-wrapper is "
		    "starting on it" : strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) == -1 || (gw->cfg.socket_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, gw->cfg.socket_gid) == -1) ||
	    listen(fd, 128) == -1) {
		fprintf(stderr, "gunicorn-wrapper: %s: %s\n", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}

	ctl = xcalloc(1, sizeof *ctl);
	ctl->fd = fd;
	ctl->path = xstrdup(path);
	TAILQ_INIT(&ctl->clients);
	ctl->ev = event_new(gw->base, fd, EV_READ | EV_PERSIST,
	    control_accept_cb, gw);
	ctl->pause = evtimer_new(gw->base, control_pause_cb, ctl);
	if (ctl->ev == NULL || ctl->pause == NULL ||
	    event_add(ctl->ev, NULL) == -1)
		fatalx("control: event_add failed");
	gw->control = ctl;
	return 0;
}

void
control_free(struct gw *gw)
{
	struct control	*ctl = gw->control;
	struct client	*c;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL) {
		/* A last try to deliver what is queued (a stop's "ok"). */
		(void)evbuffer_write(bufferevent_get_output(c->bev),
		    bufferevent_getfd(c->bev));
		client_free(c);
	}
	event_free(ctl->ev);
	event_free(ctl->pause);
	close(ctl->fd);
	if (unlink(ctl->path) == -1 && errno != ENOENT)
		log_warn("unlink %s", ctl->path);
	free(ctl->path);
	free(ctl);
	gw->control = NULL;
}
