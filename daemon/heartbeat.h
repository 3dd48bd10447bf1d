/* SPDX-License-Identifier: MIT */
/*
 * heartbeat.h: gunicorn's worker heartbeat files (wgunicorn-*), as facts
 * about a process: which of them it holds open, whether one has shown a
 * heartbeat, whether a worker is still booting.  A master holds one per
 * HTTP worker, the worker holds its own.  What that makes of a generation
 * (ready, crashing, which child is what) is ready.c's to judge.
 */
#ifndef GW_HEARTBEAT_H
#define GW_HEARTBEAT_H

#include <sys/types.h>
#include <sys/stat.h>

#include <stddef.h>

/* A file's identity. */
struct fileid {
	dev_t			 dev;
	ino_t			 ino;
};

/* One heartbeat file a process holds. */
struct held {
	struct fileid	id;
	struct stat	sb;
	char		fd[16];		/* its name in /proc/PID/fd */
};

/*
 * The wgunicorn files pid holds, however many (a master holds one per
 * worker): their identity, stat and fd name, in *out (malloc'd; NULL for
 * none).  Returns how many, or -1 if the fd directory cannot be read
 * (errno: EACCES when not ours).
 */
int	heartbeat_held(pid_t, struct held **);
/* 1 if the file (its stat) has shown a heartbeat, since the first look or
 * before it; *looked (0 before the first look), *mode0 and *mtime0 keep
 * what the first look saw. */
int	heartbeat_seen(int *, mode_t *, double *, const struct stat *);
/* 1 if the file id is one of the master's nmf files in mf. */
int	heartbeat_master_holds(const struct fileid *, size_t,
	    const struct fileid *);
/* The master's heartbeat files, now, into *mf (*nmf of them, *capmf
 * allocated, grown as needed); -1 if they cannot be read. */
int	heartbeat_master_files(pid_t, struct fileid **, size_t *, size_t *);
/* 1 if worker pid holds exactly one file, the master's (of the nmf in
 * mf), and it has not shown a heartbeat yet: still importing the app. */
int	heartbeat_booting(pid_t, const struct fileid *, size_t);

#endif
