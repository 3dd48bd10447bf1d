/* SPDX-License-Identifier: MIT */
/*
 * proc.h: what the wrapper reads from /proc about gunicorn's processes.
 * Each function is a bounded read; none of them blocks.  Nothing here
 * looks at a process's name: see proc.c.
 */
#ifndef GW_PROC_H
#define GW_PROC_H

#include <sys/types.h>

#include <stddef.h>

/* Children of pid (all its threads'), into a malloc'd array; -1 on error. */
int	proc_children(pid_t, pid_t **, size_t *);
/*
 * The children of pid (0: none) that are its own forks: less the PID
 * except (0: none) and less any child that exec'd (a reload's new master,
 * even before the reload knows its PID: its argv is not where its
 * parent's is) and any zombie.  A malloc'd array (or NULL) of *n.
 */
pid_t	*proc_forked_children(pid_t, pid_t, size_t *);
/* 1 if pid's environment has the exact entry "KEY=VALUE", 0 if not, -1. */
int	proc_env_has(pid_t, const char *);
/* The same for GUNICORN_PID=master, which gunicorn's reexec() sets in a
 * new master (a hint: setproctitle may blank it). */
int	proc_env_reexec_of(pid_t, pid_t);
/* 1 if /proc/pid exists (even a zombie, which is not reaped yet). */
int	proc_exists(pid_t);
/* Start time in clock ticks since boot (0 on error): guards PID reuse. */
unsigned long long proc_starttime(pid_t);
/* Parent PID, or -1. */
pid_t	proc_ppid(pid_t);
/* 1 if a zombie, or gone. */
int	proc_is_zombie(pid_t);
/*
 * 1 if exiting: gone, a zombie, or already without its memory.  From then
 * on the kernel shows the process's files (/proc/PID/fd) to root alone,
 * so a wrapper that is not root cannot read a worker that is ending.
 */
int	proc_exiting(pid_t);
/* Owner (effective uid) of the process, or (uid_t)-1. */
uid_t	proc_uid(pid_t);
/* Where its argv lives: changes on exec, kept on fork; 0 if unknown. */
unsigned long long proc_arg_start(pid_t);
/* Now, on the clock of proc_starttime() (ticks since boot). */
unsigned long long proc_now_ticks(void);
/* A pidfd for pid (pidfd_open(2)), close-on-exec; -1 with errno. */
int	proc_pidfd(pid_t);
/*
 * The wait status of the process a pidfd refers to once its parent has
 * reaped it; -1 while it runs or is a zombie, or on a kernel before 6.15
 * (PIDFD_GET_INFO with PIDFD_INFO_EXIT).  Any holder of the pidfd may read
 * it, root or not: the one way a process learns, after the fact, how a
 * process it is not the parent of ended.
 */
int	proc_pidfd_exit_status(int);
/* 1 if this kernel has PIDFD_INFO_EXIT (asked of our own pidfd). */
int	proc_pidfd_exit_works(void);
/* This boot's id (/proc/sys/kernel/random/boot_id); 0 or -1. */
int	proc_boot_id(char *, size_t);

/* Descriptors looked at per process, listening sockets per host. */
#define PROC_SOCKETS_MAX	4096
/* Inodes of every listening TCP and Unix socket of the host. */
size_t	proc_listening_sockets(unsigned long long *, size_t);
/* Inodes of the listening sockets pid holds (at most max). */
size_t	proc_listeners(pid_t, unsigned long long *, size_t);
/* 1 if pid holds one of the n socket inodes. */
int	proc_holds_any(pid_t, const unsigned long long *, size_t);
/* The PID a pidfile names; -1 with errno (ENOENT) or *errstr set. */
pid_t	pidfile_read(const char *, const char **);

#endif
