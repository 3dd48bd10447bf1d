/* SPDX-License-Identifier: MIT */
/*
 * ctlsock.c: gunicorn 25+'s control socket (gunicornc) across a reload.
 *
 * Why this file exists: every master binds the same path, and a master
 * that exits unlinks it, taking another master's socket with it.  Left
 * alone, the old master's exit after a good reload removes the new
 * master's socket, and a failed new master's exit removes the old one's.
 * So the reload moves sockets aside (PATH.gw-TAG-PID) and back, and only
 * a socket proven to be one of its masters' is ever moved: the listener
 * the kernel names for a connection to it (SO_PEERCRED), since the path
 * may be gunicorn's per-user default, which another gunicorn may use.
 * gunicorn 26 also binds the path again at each worker fork, which the
 * restore and recover steps allow for.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlsock.h"
#include "gw.h"
#include "log.h"
#include "ready.h"
#include "xmalloc.h"

char *
ctlsock_path(const struct gw *gw)
{
	struct ready_hints	 h;
	const char		*p, *xdg, *home;
	char			*out, cwd[4096];
	struct stat		 sb;

	/* The config probe's word, when it ran: gunicorn's own settings. */
	if (gw->ctl_socket != NULL)
		return xstrdup(gw->ctl_socket);
	if (gw->ctl_probed)
		return NULL;	/* none: before 25, or disabled */
	ready_hints(gw->cfg.argv, &h);
	if (h.no_control_socket)
		return NULL;
	if ((p = h.control_socket) != NULL && p[0] == '/')
		return xstrdup(p);
	if (p != NULL) {
		if (h.chdir != NULL && h.chdir[0] == '/')
			xasprintf(&out, "%s/%s", h.chdir, p);
		else if (getcwd(cwd, sizeof cwd) != NULL)
			xasprintf(&out, "%s/%s%s%s", cwd, h.chdir ? h.chdir :
			    "", h.chdir ? "/" : "", p);
		else
			return NULL;
		return out;
	}
	xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg != NULL && xdg[0] == '/' && stat(xdg, &sb) == 0 &&
	    S_ISDIR(sb.st_mode)) {
		xasprintf(&out, "%s/gunicorn.ctl", xdg);
		return out;
	}
	if ((home = getenv("HOME")) == NULL || home[0] != '/')
		return NULL;
	xasprintf(&out, "%s/.gunicorn/gunicorn.ctl", home);
	return out;
}

/* gunicorn's control server reads the connection's EOF and carries on. */
pid_t
ctlsock_listener(const char *path)
{
	struct sockaddr_un	 sun;
	struct ucred		 uc;
	socklen_t		 len = sizeof uc;
	pid_t			 pid = -1;
	int			 fd;

	if (strlen(path) >= sizeof sun.sun_path ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0)
		pid = uc.pid;
	close(fd);
	return pid;
}

/* Move the control socket at path aside, to path.gw-TAG-PID: the new name,
 * or NULL when there was none to move. */
static char *
move_aside(unsigned id, const char *path, const char *tag, pid_t pid)
{
	struct stat	 sb;
	char		*aside;

	if (lstat(path, &sb) == -1 || !S_ISSOCK(sb.st_mode))
		return NULL;
	xasprintf(&aside, "%s.gw-%s-%d", path, tag, (int)pid);
	if (rename(path, aside) == -1) {
		log_warn("reload %u: rename %s to %s", id, path, aside);
		free(aside);
		return NULL;
	}
	return aside;
}

void
ctlsock_hide(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t new)
{
	char	*path;

	if ((path = ctlsock_path(gw)) == NULL)
		return;
	if (ctlsock_listener(path) == new &&
	    (c->hidden = move_aside(id, path, "new", new)) != NULL)
		c->path = path;
	else
		free(path);
}

/*
 * The new master binds the same path, and unlinks it when it exits: a
 * failed reload would leave the old master, which serves on, without its
 * socket until its next worker fork (gunicorn binds its socket again
 * then).  Moved aside now, it is put back by ctlsock_recover().
 */
void
ctlsock_park(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t old)
{
	char	*path;

	if (c->parked != NULL || (path = ctlsock_path(gw)) == NULL)
		return;
	if (ctlsock_listener(path) == old)
		c->parked = move_aside(id, path, "old", old);
	free(path);
}

void
ctlsock_shelter(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t new, pid_t old)
{
	char	*path;
	pid_t	 l;

	if (c->sheltered != NULL || (path = ctlsock_path(gw)) == NULL)
		return;
	/* Only ours: the path may be gunicorn's per-user default, which
	 * another gunicorn of this user may listen on. */
	if ((l = ctlsock_listener(path)) == new || l == old)
		c->sheltered = move_aside(id, path, "held", new);
	free(path);
}

/* The sheltered name comes back if it is the old master's, else the
 * parked one. */
void
ctlsock_recover(struct ctlsock *c, const struct gw *gw, unsigned id,
    pid_t old)
{
	char	*names[2] = { c->sheltered, c->parked }, *path;
	int	 done;
	size_t	 i;

	if (names[0] == NULL && names[1] == NULL)
		return;
	path = ctlsock_path(gw);
	done = path == NULL || old == 0 || ctlsock_listener(path) == old;
	for (i = 0; i < 2; i++) {
		if (names[i] == NULL)
			continue;
		if (!done && ctlsock_listener(names[i]) == old) {
			if (rename(names[i], path) == 0) {
				log_info("reload %u: %s names master %d's "
				    "control socket again", id, path,
				    (int)old);
				done = 1;
				continue;
			}
			log_warn("rename %s to %s", names[i], path);
		}
		if (unlink(names[i]) == -1 && errno != ENOENT)
			log_warn("unlink %s", names[i]);
	}
	if (!done)
		log_info("reload %u: master %d's control socket is not at %s "
		    "now; gunicorn binds it again when it next forks a "
		    "worker", id, (int)old, path);
	free(path);
	free(c->parked);
	free(c->sheltered);
	c->parked = c->sheltered = NULL;
}

void
ctlsock_restore(struct ctlsock *c, pid_t new)
{
	struct stat	 sb;

	if (c->hidden == NULL)
		return;
	if (new == 0 || ctlsock_listener(c->hidden) != new) {
		/* Closed since: gunicorn 26 binds its socket again at each
		 * worker fork (at the path, if it is free), and a master's
		 * exit unlinks the path whoever listens there. */
		if (unlink(c->hidden) == -1 && errno != ENOENT)
			log_warn("unlink %s", c->hidden);
		if (new != 0 && ctlsock_listener(c->path) != new)
			log_info("%s does not reach master %d now; gunicorn "
			    "binds it again when it next forks a worker",
			    c->path, (int)new);
	} else if (lstat(c->path, &sb) == 0 &&
	    ctlsock_listener(c->path) != -1)
		log_warnx("%s is another socket's now: the new master's "
		    "control socket stays at %s", c->path, c->hidden);
	else if (rename(c->hidden, c->path) == -1)
		log_warn("rename %s to %s", c->hidden, c->path);
	free(c->path);
	free(c->hidden);
	c->path = c->hidden = NULL;
}

void
ctlsock_clear(struct ctlsock *c)
{
	free(c->path);
	free(c->hidden);
	free(c->parked);
	free(c->sheltered);
	memset(c, 0, sizeof *c);
}
