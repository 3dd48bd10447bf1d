/*
 * proc.h: what the wrapper reads from /proc about gunicorn's processes.
 * Each function is a single, bounded read; none of them blocks.
 */
#ifndef GW_PROC_H
#define GW_PROC_H

#include <sys/types.h>

#include <stddef.h>

/* Children of pid (all its threads'), into a malloc'd array; -1 on error. */
int	proc_children(pid_t, pid_t **, size_t *);
/* 1 if pid's environment has the exact entry "KEY=VALUE", 0 if not, -1. */
int	proc_env_has(pid_t, const char *);
/* Any process (not us) whose environment has the entry; 1 and *pid. */
int	proc_find_env(const char *, pid_t *);
/* 1 if /proc/pid exists (even a zombie, which is not reaped yet). */
int	proc_exists(pid_t);
/* Start time in clock ticks since boot (0 on error): guards PID reuse. */
unsigned long long proc_starttime(pid_t);
/* Parent PID, or -1. */
pid_t	proc_ppid(pid_t);
/* 1 if the process looks like a gunicorn master or worker. */
int	proc_is_gunicorn(pid_t);
/* The PID a pidfile names; -1 with errno (ENOENT) or *errstr set. */
pid_t	pidfile_read(const char *, const char **);

#endif
