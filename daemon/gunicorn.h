/* SPDX-License-Identifier: MIT */
/*
 * gunicorn.h: gunicorn masters, as the wrapper starts, adopts and watches
 * them.  A master is watched through a pidfd, which works the same for a
 * child of ours, a new master that is its old master's child, and an
 * adopted master that re-parented to PID 1.  When it exits the module
 * calls gw->master_exited (set by its user); the status is known when we
 * reaped it ourselves, unknown (-1) when someone else did.
 */
#ifndef GW_GUNICORN_H
#define GW_GUNICORN_H

#include <sys/queue.h>
#include <sys/types.h>

struct gw;

struct master {
	pid_t			 pid;
	unsigned long long	 start;		/* start time: ledger.h */
	int			 pidfd;
	struct event		*ev;
	int			 exited;
	int			 status;	/* wait status, -1 unknown */
	int			 adopted;
	int			 asked;		/* sent a signal that ends it */
	struct gw		*gw;
	TAILQ_ENTRY(master)	 entry;
};

/* Start `gunicorn --check-config ARGS` in cwd (NULL: ours) with its
 * output on a pipe (returned in *fd); the PID, or -1 logged. */
pid_t		 gunicorn_spawn_check(struct gw *, char **, const char *, int *);
/* Read gunicorn's effective settings when a config file may apply: use
 * the pidfile it sets; -1 (logged) for daemon = True.  In release mode
 * always, for its addresses, socket options and control socket too. */
int		 gunicorn_probe_config(struct gw *);
/* Start a generation with this argv (and the listening sockets the
 * wrapper holds, if any: listen.h), in directory cwd (NULL: ours); NULL
 * (logged) if it cannot. */
struct master	*gunicorn_spawn(struct gw *, char **, const char *);
/* Adopt the live master the record (prev) proves is ours, if any: see
 * gunicorn.c.  A pidfile only names a candidate. */
struct ledger;
struct master	*gunicorn_adopt(struct gw *, const struct ledger *);
/* Watch an existing master; NULL if it is already gone. */
struct master	*master_watch(struct gw *, pid_t, int);
/* The same, only if pid still started at start (not a reused PID). */
struct master	*master_watch_proved(struct gw *, pid_t, unsigned long long,
		    int);
/* The watched master with this PID, or NULL. */
struct master	*master_find(struct gw *, pid_t);
void		 master_free(struct master *);
/* Signal through the pidfd: never hits a reused PID.  0 or -1/errno. */
int		 master_signal(struct master *, int);
/* Signal every child of the master, except one PID (0 for none). */
void		 master_signal_children(struct master *, pid_t, int);
/* "exited with status 3", "killed by signal 9", "exited (status unknown)" */
void		 master_describe(const struct master *, char *, size_t);
/* Exit status for the wrapper that mirrors the master's: 128+N etc. */
int		 master_exit_code(const struct master *);
/* SIGCHLD: reap every child: a master's exit to gw->master_exited, any
 * other child's to gw->child_exited. */
void		 gunicorn_reap(struct gw *);

#endif
