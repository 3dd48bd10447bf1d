/*
 * rundir.h: the default runtime directory, shared by the daemon and gwctl
 * so that `gwctl status` finds what the daemon created without options.
 */
#ifndef GW_RUNDIR_H
#define GW_RUNDIR_H

/* /run/gunicorn-wrapper for root, else $XDG_RUNTIME_DIR/gunicorn-wrapper,
 * else /tmp/gunicorn-wrapper-UID; malloc'd.  xdg may be NULL. */
char	*rundir_default(const char *);

#endif
