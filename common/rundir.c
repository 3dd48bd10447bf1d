/* SPDX-License-Identifier: MIT */
/*
 * rundir.c: the runtime directory and the files in it (see rundir.h).
 *
 * Why so careful: the default directory for a non-root wrapper is
 * /tmp/gunicorn-wrapper-UID, a name anyone can create first.  A directory
 * another user owns or may write lets that user plant a symlink (and make
 * us truncate a file of ours through it), a FIFO (and make open() block
 * for ever), a pidfile naming their own process, or a fake socket.  So an
 * existing directory must be ours and writable by us alone, and each file
 * in it is opened without following a symlink, without blocking, and kept
 * only if it is a regular file we own.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "rundir.h"
#include "xmalloc.h"

char *
rundir_default(const char *xdg)
{
	char	*dir;

	if (geteuid() == 0)
		return xstrdup("/run/gunicorn-wrapper");
	if (xdg != NULL && *xdg == '/') {
		xasprintf(&dir, "%s/gunicorn-wrapper", xdg);
		return dir;
	}
	xasprintf(&dir, "/tmp/gunicorn-wrapper-%u", (unsigned)geteuid());
	return dir;
}

int
rundir_prepare(const char *dir, gid_t gid, char *err, size_t errlen)
{
	struct stat	sb;
	mode_t		mode = gid != (gid_t)-1 ? 0750 : 0700;
	int		fd, created = 1;

	if (mkdir(dir, mode) == -1) {
		if (errno != EEXIST)
			return errbuf_set(err, errlen, "cannot create run "
			    "directory %s: %s", dir, strerror(errno));
		created = 0;
	}
	/* A symlink is followed only if its owner could have made the
	 * directory itself: us or root (an operator's /var/run -> /run). */
	if (lstat(dir, &sb) == -1)
		return errbuf_set(err, errlen, "run directory %s: %s", dir,
		    strerror(errno));
	if (S_ISLNK(sb.st_mode) && sb.st_uid != geteuid() && sb.st_uid != 0)
		return errbuf_set(err, errlen, "run directory %s is a "
		    "symlink owned by uid %u: remove it, or choose another "
		    "with --run-dir", dir, (unsigned)sb.st_uid);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return errbuf_set(err, errlen, "run directory %s: %s", dir,
		    errno == ENOTDIR ? "not a directory" : strerror(errno));
	if (fstat(fd, &sb) == -1) {
		errbuf_set(err, errlen, "run directory %s: %s", dir,
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* Ours to write in (as we are now: an old error message users
	 * know), then ours alone. */
	if (access(dir, W_OK) == -1) {
		errbuf_set(err, errlen, "run directory %s is not writable: %s",
		    dir, strerror(errno));
		goto refuse;
	}
	if (sb.st_uid != geteuid()) {
		errbuf_set(err, errlen, "run directory %s is owned by uid "
		    "%u, not by us (uid %u): remove it, or choose another "
		    "with --run-dir", dir, (unsigned)sb.st_uid,
		    (unsigned)geteuid());
		goto refuse;
	}
	if (created) {
		/* Exactly our mode, whatever the umask; the socket's group
		 * may traverse to it. */
		if ((gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) == -1) ||
		    fchmod(fd, mode) == -1) {
			errbuf_set(err, errlen, "run directory %s: %s", dir,
			    strerror(errno));
			goto refuse;
		}
		return fd;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		errbuf_set(err, errlen, "run directory %s is writable by "
		    "%s (mode %04o): chmod go-w %s, or remove it", dir,
		    sb.st_mode & S_IWOTH ? "all users" : "its group",
		    (unsigned)(sb.st_mode & 07777), dir);
		goto refuse;
	}
	return fd;
refuse:
	close(fd);
	errno = EPERM;
	return -1;
}

static const char *
rundir_type(mode_t m)
{
	if (S_ISLNK(m))
		return "a symlink, not a regular file";
	if (S_ISFIFO(m))
		return "a FIFO, not a regular file";
	if (S_ISDIR(m))
		return "a directory, not a regular file";
	if (S_ISSOCK(m))
		return "a socket, not a regular file";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device, not a regular file";
	return "not a regular file";
}

int
rundir_open(int dirfd, const char *name, int flags, mode_t mode, char *err,
    size_t errlen)
{
	struct stat	sb;
	int		fd, fl, trunc = flags & O_TRUNC;

	flags &= ~O_TRUNC;
	/* Not even opened when it is already plainly not a file: opening a
	 * device may do something. */
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(sb.st_mode)) {
		errno = S_ISLNK(sb.st_mode) ? ELOOP : EPERM;
		return errbuf_set(err, errlen, "%s: %s: refused", name,
		    rundir_type(sb.st_mode));
	}
	if ((fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC, mode)) == -1)
		return errbuf_set(err, errlen, "%s: %s", name,
		    errno == ELOOP ? "a symlink, not a regular file: "
		    "refused" : errno == ENXIO ? "not a regular file (a FIFO "
		    "or a device?): refused" : strerror(errno));
	if (fstat(fd, &sb) == -1) {
		errbuf_set(err, errlen, "%s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		errbuf_set(err, errlen, "%s: %s: refused", name,
		    rundir_type(sb.st_mode));
		goto refuse;
	}
	if (sb.st_uid != geteuid()) {
		errbuf_set(err, errlen, "%s: owned by uid %u, not by us: "
		    "refused", name, (unsigned)sb.st_uid);
		goto refuse;
	}
	/* A second name for it elsewhere: writing here would write there. */
	if (sb.st_nlink > 1) {
		errbuf_set(err, errlen, "%s: has %lu hard links: refused",
		    name, (unsigned long)sb.st_nlink);
		goto refuse;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1 ||
	    (trunc && ftruncate(fd, 0) == -1)) {
		errbuf_set(err, errlen, "%s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
refuse:
	close(fd);
	errno = EPERM;
	return -1;
}
