/* SPDX-License-Identifier: MIT */
/*
 * listen.c: binding, taking back and holding the app's listening sockets
 * in release mode (see listen.h for why the wrapper holds them).
 *
 * Bound as gunicorn binds them: SO_REUSEADDR, SO_REUSEPORT when its
 * reuse_port says so, a Unix socket's stale file removed only if it is a
 * socket, and its mode from gunicorn's umask.  gunicorn listen()s again
 * with its own backlog when it wraps a descriptor, so ours only has to be
 * listening from the start.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "listen.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static int
listen_keep(struct listeners *l, int fd, char *err, size_t errlen)
{
	if (l->n >= LISTEN_MAX) {
		close(fd);
		return errbuf_set(err, errlen, "more than %d listening "
		    "sockets", LISTEN_MAX);
	}
	l->fd[l->n++] = fd;
	return 0;
}

static int
bind_tcp(struct listeners *l, const char *host, const char *port,
    const struct listen_opts *o, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	int		 fd = -1, one = 1, rc, saved = 0;

	memset(&hints, 0, sizeof hints);
	/* As gunicorn: IPv6 only for an IPv6 literal, else IPv4. */
	hints.ai_family = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(*host != '\0' ? host : NULL, port, &hints,
	    &res)) != 0)
		return errbuf_set(err, errlen, "bind %s:%s: %s", host, port,
		    gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof one) == -1 || (o->reuse_port && setsockopt(fd,
		    SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1) ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, o->backlog > 0 ? o->backlog : 2048) == -1) {
			saved = errno;
			close(fd);
			fd = -1;
			continue;
		}
		break;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errbuf_set(err, errlen, "bind %s:%s: %s", host, port,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	return listen_keep(l, fd, err, errlen);
}

static int
bind_unix(struct listeners *l, const char *path, const struct listen_opts *o,
    char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	mode_t			 old;
	int			 fd, rc, saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return errbuf_set(err, errlen, "bind unix:%s: path too long",
		    path);
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			return errbuf_set(err, errlen, "bind unix:%s: exists "
			    "and is not a socket", path);
		if (unlink(path) == -1)
			return errbuf_set(err, errlen, "bind unix:%s: unlink: "
			    "%s", path, strerror(errno));
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return errbuf_set(err, errlen, "socket: %s", strerror(errno));
	old = umask((mode_t)o->umask);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	saved = errno;
	umask(old);
	if (rc == -1 || listen(fd, o->backlog > 0 ? o->backlog : 2048) ==
	    -1) {
		if (rc != -1)
			saved = errno;
		close(fd);
		errbuf_set(err, errlen, "bind unix:%s: %s", path,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	return listen_keep(l, fd, err, errlen);
}

int
listen_bind(struct listeners *l, const char *spec, const struct listen_opts *o,
    char *err, size_t errlen)
{
	char	 host[1025], port[16];

	if (strncmp(spec, "unix ", 5) == 0)
		return bind_unix(l, spec + 5, o, err, errlen);
	if (strncmp(spec, "fd ", 3) == 0)
		return errbuf_set(err, errlen, "gunicorn binds fd://%s: in "
		    "release mode the wrapper binds the sockets itself; give "
		    "gunicorn addresses (-b HOST:PORT or unix:PATH)", spec + 3);
	if (sscanf(spec, "tcp %1024s %15s", host, port) == 2)
		return bind_tcp(l, strcmp(host, "-") == 0 ? "" : host, port,
		    o, err, errlen);
	return errbuf_set(err, errlen, "cannot read gunicorn's address '%s'",
	    spec);
}

int
listen_take(struct listeners *l, pid_t pid, int pidfd,
    const unsigned long long *ino, size_t n, char *err, size_t errlen)
{
	char		 link[64], want[64], fdpath[64];
	char		 taken[LISTEN_MAX] = { 0 };
	size_t		 i, ngot = 0;
	ssize_t		 len;
	int		 fd, target, saved = 0;

	if (n > LISTEN_MAX)
		n = LISTEN_MAX;
	for (target = 0; target < 1024 && ngot < n; target++) {
		snprintf(fdpath, sizeof fdpath, "/proc/%d/fd/%d", (int)pid,
		    target);
		if ((len = readlink(fdpath, link, sizeof link - 1)) <= 0)
			continue;
		link[len] = '\0';
		/* gunicorn may hold one socket twice (socket.fromfd dups). */
		for (i = 0; i < n; i++) {
			snprintf(want, sizeof want, "socket:[%llu]", ino[i]);
			if (!taken[i] && strcmp(link, want) == 0)
				break;
		}
		if (i == n)
			continue;
		if ((fd = (int)syscall(SYS_pidfd_getfd, pidfd, target,
		    0)) == -1) {
			saved = errno;
			continue;
		}
		taken[i] = 1;
		ngot++;
		if (listen_keep(l, fd, err, errlen) == -1)
			return -1;
	}
	if (ngot == 0)
		return errbuf_set(err, errlen, "cannot take the listening "
		    "sockets of master %d: %s", (int)pid, saved != 0 ?
		    strerror(saved) : "it holds none of them");
	return 0;
}

size_t
listen_inodes(const struct listeners *l, unsigned long long *out, size_t max)
{
	struct stat	sb;
	size_t		i, n = 0;

	for (i = 0; i < l->n && n < max; i++)
		if (fstat(l->fd[i], &sb) == 0 && S_ISSOCK(sb.st_mode))
			out[n++] = (unsigned long long)sb.st_ino;
	return n;
}

void
listen_close(struct listeners *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		close(l->fd[i]);
	l->n = 0;
}
