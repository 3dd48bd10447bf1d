/* SPDX-License-Identifier: MIT */
/*
 * listen.h: the listening sockets the wrapper holds in release mode
 * (release.h), so that each generation can be a fresh gunicorn of its
 * own release.  The wrapper binds them once, at start, from the
 * addresses gunicorn's own settings give (the config probe), and hands
 * them to every generation as systemd socket activation does: as
 * descriptors 3, 4, ... with LISTEN_FDS and LISTEN_PID, which gunicorn
 * 20.1, 23 and 26 all accept and never unlink or close on exit.  While
 * no master runs, the kernel keeps queueing connections on them.
 *
 * A wrapper that adopts a running master (it was restarted) takes the
 * sockets back from it with pidfd_getfd(2), by the inodes its record
 * proved the master listens on.
 */
#ifndef GW_LISTEN_H
#define GW_LISTEN_H

#include <stddef.h>

#include <sys/types.h>

#define LISTEN_MAX	16

/* The sockets held: descriptors, CLOEXEC (a generation gets dups). */
struct listeners {
	int	fd[LISTEN_MAX];
	size_t	n;
};

/* The socket settings gunicorn's config gives (backlog, umask for Unix
 * sockets, SO_REUSEPORT). */
struct listen_opts {
	int	backlog;
	int	umask;
	int	reuse_port;
};

/* Bind one address as the probe prints it: "tcp HOST PORT" or "unix
 * PATH".  0, or -1 and a one-line reason in err. */
int	listen_bind(struct listeners *, const char *,
	    const struct listen_opts *, char *, size_t);
/* Take the listening sockets the master (pid, through its pidfd) holds
 * whose inodes are among the n given (its record's): 0 with at least one
 * taken, or -1 and a reason in err. */
int	listen_take(struct listeners *, pid_t, int,
	    const unsigned long long *, size_t, char *, size_t);
/* The inodes of the sockets held, for the record: how many (<= max). */
size_t	listen_inodes(const struct listeners *, unsigned long long *, size_t);
void	listen_close(struct listeners *);

#endif
