/* SPDX-License-Identifier: MIT */
/*
 * heartbeat.c: gunicorn's worker heartbeat files, read from /proc.
 *
 * gunicorn gives every worker a WorkerTmp: a temp file named wgunicorn-*,
 * unlinked at once.  The master creates it before the fork and keeps it
 * open for as long as the worker lives (it closes it when it reaps the
 * worker); the worker closes its siblings' files first thing after the
 * fork and keeps its own.  From its serving loop the worker touches it
 * (gunicorn 20: fchmod to 1, 0, 1, ...; 21 and later: utime() to
 * time.monotonic()), and the master reads the file's ctime or mtime as
 * proof of life.  The first touch only happens in the serving loop, after
 * the app has been imported, so it is exactly "this worker can serve".
 *
 * Why this file exists: those files tell a master's HTTP workers (each
 * holds one of the master's files) from its dirty arbiter (it holds files
 * the master does not, or none), and say when a worker can serve.
 * Reading them, a process's /proc/PID/fd and each file's stat, is a job
 * apart from judging what they mean: this module says which files a
 * process holds and whether one has shown a heartbeat, and knows nothing
 * of a probe; ready.c judges workers and generations with it.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heartbeat.h"
#include "xmalloc.h"

int
heartbeat_held(pid_t pid, struct held **out)
{
	char		 path[320], link[PATH_MAX];
	const char	*base;
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	ssize_t		 n;
	size_t		 cap = 0;
	int		 found = 0;

	*out = NULL;
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)pid,
		    de->d_name);
		if ((n = readlink(path, link, sizeof link - 1)) == -1)
			continue;
		link[n] = '\0';
		base = strrchr(link, '/');
		base = base != NULL ? base + 1 : link;
		if (strncmp(base, "wgunicorn-", 10) != 0)
			continue;
		if (stat(path, &sb) == -1)
			continue;
		if ((size_t)found == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		(*out)[found].id.dev = sb.st_dev;
		(*out)[found].id.ino = sb.st_ino;
		(*out)[found].sb = sb;
		snprintf((*out)[found].fd, sizeof (*out)[found].fd, "%.15s",
		    de->d_name);
		found++;
	}
	closedir(d);
	return found;
}

/*
 * Has the file been touched since we first saw it, or before?  Compared
 * with the first look, so that the ctime bump of the unlink that follows
 * mkstemp() is not mistaken for a heartbeat:
 *  - gunicorn 20 fchmods the mode to 1, 0, 1...: a mode of 0 or 1 (a
 *    mkstemp file is 0600), or any change of mode;
 *  - gunicorn 21+ utime()s both times to time.monotonic(): any change of
 *    mtime, or at the first look an mtime nowhere near the wall-clock
 *    ctime (seconds since boot against seconds since 1970).
 */
int
heartbeat_seen(int *looked, mode_t *mode0, double *mtime0,
    const struct stat *sb)
{
	double	mtime = (double)sb->st_mtim.tv_sec + sb->st_mtim.tv_nsec / 1e9;
	double	ctime = (double)sb->st_ctim.tv_sec + sb->st_ctim.tv_nsec / 1e9;

	if ((sb->st_mode & 07777) <= 1)
		return 1;
	if (!*looked) {
		*looked = 1;
		*mode0 = sb->st_mode;
		*mtime0 = mtime;
		return mtime < ctime - 60 || mtime > ctime + 60;
	}
	return sb->st_mode != *mode0 || mtime != *mtime0;
}

int
heartbeat_master_holds(const struct fileid *mf, size_t nmf,
    const struct fileid *id)
{
	size_t	i;

	for (i = 0; i < nmf; i++) {
		if (mf[i].dev == id->dev && mf[i].ino == id->ino)
			return 1;
	}
	return 0;
}

int
heartbeat_master_files(pid_t master, struct fileid **mf, size_t *nmf,
    size_t *capmf)
{
	struct held	*h;
	int		 n, i;

	if ((n = heartbeat_held(master, &h)) == -1)
		return -1;
	if ((size_t)n > *capmf) {
		*capmf = (size_t)n;
		*mf = xreallocarray(*mf, *capmf, sizeof **mf);
	}
	for (i = 0; i < n; i++)
		(*mf)[i] = h[i].id;
	*nmf = (size_t)n;
	free(h);
	return 0;
}

int
heartbeat_booting(pid_t pid, const struct fileid *mf, size_t nmf)
{
	struct held	*h;
	mode_t		 mode0;
	double		 mtime0;
	int		 n, looked = 0, booting = 0;

	if ((n = heartbeat_held(pid, &h)) == -1)
		return 0;
	if (n == 1)
		booting = heartbeat_master_holds(mf, nmf, &h[0].id) &&
		    !heartbeat_seen(&looked, &mode0, &mtime0, &h[0].sb);
	free(h);
	return booting;
}
