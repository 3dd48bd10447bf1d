/* SPDX-License-Identifier: MIT */
/*
 * ctlsock.h: gunicorn 25+'s control socket (gunicornc) across a reload.
 *
 * Every master of a generation binds the same path, and a master that
 * exits unlinks it, whoever listens there now.  A reload therefore moves
 * sockets aside and back, and only ever one that the kernel says one of
 * its masters listens on (SO_PEERCRED): the path may be gunicorn's
 * per-user default, which another gunicorn may use.  reload.c decides
 * when; this module does the moving and knows the names.
 */
#ifndef GW_CTLSOCK_H
#define GW_CTLSOCK_H

#include <sys/types.h>

struct gw;

/* What one reload moved aside (each NULL when nothing). */
struct ctlsock {
	char	*path;		/* where the hidden one goes back to */
	char	*hidden;	/* the new master's, while the old drains */
	char	*parked;	/* in place, the old master's, once the new
				 * master is seen (it binds the path too) */
	char	*sheltered;	/* in place, what the path named as a failed
				 * new master stopped (its exit unlinks it) */
};

/* The control socket's path for this wrapper's gunicorn: the config
 * probe's, else the command line's, else gunicorn's default.  malloc'd;
 * NULL when there is none (before 25, or disabled). */
char	*ctlsock_path(const struct gw *);
/* The process listening on the Unix socket at path; -1 if none. */
pid_t	 ctlsock_listener(const char *);

/* In place, draining: the new master's socket aside (the old master's
 * exit would unlink it), for restore. */
void	 ctlsock_hide(struct ctlsock *, const struct gw *, unsigned, pid_t);
/* The old master's socket aside (once), for recover. */
void	 ctlsock_park(struct ctlsock *, const struct gw *, unsigned, pid_t);
/* A failed new master stops: what the path names aside (once), if it is
 * the new master's (pid 1) or the old master's (pid 2). */
void	 ctlsock_shelter(struct ctlsock *, const struct gw *, unsigned,
	    pid_t, pid_t);
/* The reload is over and old (0: none) serves on: the path names its
 * socket again; every other name moved aside is removed. */
void	 ctlsock_recover(struct ctlsock *, const struct gw *, unsigned,
	    pid_t);
/* The old master has gone: the hidden socket back at its path if it is
 * still the new master's (0: none serves), else removed. */
void	 ctlsock_restore(struct ctlsock *, pid_t);
/* Free the names (the sockets stay where they are). */
void	 ctlsock_clear(struct ctlsock *);

#endif
