/* SPDX-License-Identifier: MIT */
/*
 * conn.c: see conn.h.  Replies are framed with proto_frame() before
 * msgpack-c decodes them, as the daemon frames requests: a reply is
 * hostile input too (a fake or broken daemon).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "proto.h"
#include "xmalloc.h"

static enum conn_status
conn_fail(struct conn *c, enum conn_status st)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	return st;
}

enum conn_status
conn_open(struct conn *c, const char *path, uid_t owner, char *err,
    size_t errlen)
{
	struct sockaddr_un	 sun;
	struct ucred		 cred;
	socklen_t		 len = sizeof cred;
	char			 who[64];

	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->path = path;
	msgpack_unpacked_init(&c->u);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return CONN_UNREACHABLE;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return CONN_UNREACHABLE;
	}
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		switch (errno) {
		case ENOENT:
			snprintf(err, errlen, "cannot reach %s: no such socket "
			    "(is the daemon running?)", path);
			return conn_fail(c, CONN_NOT_RUNNING);
		case ECONNREFUSED:
			snprintf(err, errlen, "cannot reach %s: nothing "
			    "listens there (a stale socket: its daemon is "
			    "gone; the next one replaces it)", path);
			return conn_fail(c, CONN_NOT_RUNNING);
		case EACCES:
		case EPERM:
			snprintf(err, errlen, "cannot reach %s: %s (run gwctl "
			    "as the daemon's user or root, or start the "
			    "daemon with --socket-group)", path,
			    strerror(errno));
			return conn_fail(c, CONN_UNREACHABLE);
		default:
			snprintf(err, errlen, "cannot reach %s: %s", path,
			    strerror(errno));
			return conn_fail(c, CONN_UNREACHABLE);
		}
	}
	/* The listener's credentials, as they were when it called listen(). */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		snprintf(err, errlen, "%s: cannot check who listens "
		    "(SO_PEERCRED): %s", path, strerror(errno));
		return conn_fail(c, CONN_UNTRUSTED);
	}
	if (cred.uid != 0 && cred.uid != geteuid() && cred.uid != owner) {
		if (owner == (uid_t)-1 || owner == 0 || owner == geteuid())
			snprintf(who, sizeof who, "root or uid %u",
			    (unsigned)geteuid());
		else
			snprintf(who, sizeof who, "root, uid %u or uid %u",
			    (unsigned)geteuid(), (unsigned)owner);
		snprintf(err, errlen, "%s is served by pid %d of uid %u, not "
		    "by %s (the owner of its directory): not trusting it",
		    path, (int)cred.pid, (unsigned)cred.uid, who);
		return conn_fail(c, CONN_UNTRUSTED);
	}
	c->cap = 4096;
	c->buf = xmalloc(c->cap);
	return CONN_OK;
}

int
conn_send(struct conn *c, const msgpack_sbuffer *req, char *err,
    size_t errlen)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < req->size) {
		n = send(c->fd, req->data + off, req->size - off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			return 0;	/* refused at accept: a reply may wait */
		if (n == -1) {
			snprintf(err, errlen, "%s: send: %s", c->path,
			    strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int
conn_recv(struct conn *c, double deadline, int tick_ms,
    const msgpack_object **obj, char *err, size_t errlen)
{
	struct pollfd	 pfd;
	double		 tick_end = tick_ms >= 0 ? now_mono() + tick_ms / 1e3 : 0;
	const char	*why;
	size_t		 msglen, off;
	ssize_t		 n;
	int		 ms, tms;

	/* Forget the message returned last time. */
	if (c->used > 0) {
		memmove(c->buf, c->buf + c->used, c->len - c->used);
		c->len -= c->used;
		c->used = 0;
	}
	for (;;) {
		if (c->len > 0) {
			switch (proto_frame(c->buf, c->len, &msglen, &why)) {
			case PROTO_COMPLETE:
				goto done;
			case PROTO_INVALID:
				snprintf(err, errlen, "%s: bad reply: %s",
				    c->path, why);
				return -1;
			case PROTO_INCOMPLETE:
				break;
			}
		}
		ms = -1;
		if (deadline > 0) {
			ms = (int)((deadline - now_mono()) * 1000);
			if (ms <= 0) {
				snprintf(err, errlen, "no answer from %s "
				    "within %g s", c->path, c->timeout);
				c->timed_out = 1;
				return -1;
			}
		}
		if (tick_ms >= 0) {
			tms = (int)((tick_end - now_mono()) * 1000);
			if (tms <= 0)
				return 0;
			if (ms == -1 || tms < ms)
				ms = tms;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		if (c->len == c->cap) {
			c->cap *= 2;
			c->buf = xreallocarray(c->buf, c->cap, 1);
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ECONNRESET && c->len > 0)
			n = 0;
		if (n <= 0) {
			snprintf(err, errlen, "%s closed the connection%s%s",
			    c->path, n == -1 ? ": " : " without an answer",
			    n == -1 ? strerror(errno) : "");
			return -1;
		}
		c->len += (size_t)n;
	}
done:
	off = 0;
	msgpack_unpacked_destroy(&c->u);
	msgpack_unpacked_init(&c->u);
	if (msgpack_unpack_next(&c->u, c->buf, msglen, &off) !=
	    MSGPACK_UNPACK_SUCCESS || c->u.data.type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "%s: malformed reply", c->path);
		return -1;
	}
	c->used = msglen;
	*obj = &c->u.data;
	return 1;
}

void
conn_close(struct conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	msgpack_unpacked_destroy(&c->u);
	free(c->buf);
	c->buf = NULL;
}
