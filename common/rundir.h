/* SPDX-License-Identifier: MIT */
/*
 * rundir.h: the runtime directory, shared by the daemon and gwctl.
 *
 * gwctl needs rundir_default() to find what the daemon created without
 * options.  The daemon keeps its lock, pidfile, history and socket there,
 * so the directory must be one no one else can steer: rundir_prepare()
 * creates it or checks an existing one, and every file in it is opened
 * through rundir_open(), relative to the directory's descriptor, never
 * through a symlink and never as a FIFO or a device.
 */
#ifndef GW_RUNDIR_H
#define GW_RUNDIR_H

#include <sys/types.h>

#include <stddef.h>

/* /run/gunicorn-wrapper for root, else $XDG_RUNTIME_DIR/gunicorn-wrapper,
 * else /tmp/gunicorn-wrapper-UID; malloc'd.  xdg may be NULL. */
char	*rundir_default(const char *);

/*
 * Create dir (mode 0700; 0750 and group gid when gid is not (gid_t)-1),
 * or check an existing one: a directory (a symlink to one only if the
 * link is ours or root's), owned by our euid, writable by no group and
 * no other user.  Returns its descriptor (O_DIRECTORY, close-on-exec),
 * or -1 and a one-line reason, naming the fix, in err.
 */
int	rundir_prepare(const char *dir, gid_t gid, char *err, size_t errlen);

/*
 * openat(dirfd, name) with O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
 * O_CLOEXEC added, then fstat: anything but a regular file owned by our
 * euid, with no other hard link, is refused (-1 and a one-line reason in err; errno ELOOP for a
 * symlink, EPERM for a refusal after fstat, else openat's).  O_TRUNC is
 * applied only after that check, and O_NONBLOCK is cleared.  dirfd may be
 * AT_FDCWD with a path (then only its last component is not followed).
 */
int	rundir_open(int dirfd, const char *name, int flags, mode_t mode,
	    char *err, size_t errlen);

#endif
