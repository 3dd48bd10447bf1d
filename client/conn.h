/* SPDX-License-Identifier: MIT */
/*
 * conn.h: one connection to a daemon's control socket.  Before gwctl
 * sends anything it checks who is listening (SO_PEERCRED): root, our own
 * user, or the owner of the directory the socket is in.  Anyone else could
 * have planted a fake daemon there, and a deploy script must never read
 * "reload 99 ok" from it.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <sys/types.h>

#include <stddef.h>

#include <msgpack.h>

enum conn_status {
	CONN_OK,
	CONN_NOT_RUNNING,	/* no socket, or a stale one: no daemon */
	CONN_UNREACHABLE,	/* there, but no answer (permissions, time) */
	CONN_UNTRUSTED,		/* answered by someone we must not believe */
};

struct conn {
	int			 fd;
	const char		*path;
	double			 timeout;	/* for the error: seconds */
	int			 timed_out;	/* conn_recv() met its deadline */
	char			*buf;
	size_t			 len, cap, used;
	msgpack_unpacked	 u;
};

/*
 * Connect to path and check the listening peer.  dir_owner: the uid that
 * owns the run directory (trusted besides root and our euid), or -1 when
 * it is not known.  CONN_OK, or another status with a one-line err.
 */
enum conn_status conn_open(struct conn *, const char *, uid_t, char *,
		    size_t);
/* Send a whole request.  0, or -1 with err. */
int		 conn_send(struct conn *, const msgpack_sbuffer *, char *,
		    size_t);
/*
 * The next message, until deadline (now_mono() seconds, 0: none) or, if
 * tick_ms >= 0, for at most tick_ms.  1 with *obj (a map, valid until the
 * next call); 0 if tick_ms ran out first; -1 with err (closed, timed out,
 * malformed).
 */
int		 conn_recv(struct conn *, double, int, const msgpack_object **,
		    char *, size_t);
void		 conn_close(struct conn *);

#endif
