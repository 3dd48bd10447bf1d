/* SPDX-License-Identifier: MIT */
/*
 * release.h: release deploys (--releases DIR).  The app is served from a
 * symlink, gunicorn's --chdir (say /srv/app/current), that points at one
 * directory under DIR (say /srv/app/releases/42).  Each generation is a
 * fresh gunicorn started from its own release: every argument under the
 * link (the executable, --chdir, -c, a virtualenv) names the release's
 * real path instead, so its recycled workers import its own code
 * whatever the link says later.  The link moves (a new symlink, then
 * rename(2)) only once a new generation has passed its warm-up and
 * probation: a fresh start always loads the release that serves.
 */
#ifndef GW_RELEASE_H
#define GW_RELEASE_H

#include <stddef.h>

struct gw;

/* At start: the releases directory and the link must be what --releases
 * says; gw->release becomes the link's release.  0, or -1 logged. */
int	 release_init(struct gw *);
/* The record says the link must name this release (a switch the
 * previous wrapper left half done): put it back.  0, or -1 logged. */
int	 release_restore(struct gw *, const char *);
/* A directory an operator asks to deploy, as the real path of a release
 * under the releases directory (malloc'd in *real): 0, or -1 and one
 * line in err. */
int	 release_resolve(const struct gw *, const char *, char **, char *,
	    size_t);
/* Point the link at release (a real path): symlink LINK.gw-tmp, rename
 * over LINK, fsync the directory.  0, or -1 and a reason in err. */
int	 release_switch(struct gw *, const char *, char *, size_t);
/* gunicorn's argv for a generation of release: every argument that is
 * the link or under it names the release instead; then --pid pidfile
 * and --control-socket ctl when not NULL.  NULL-terminated, malloc'd. */
char	**release_argv(const struct gw *, const char *, const char *,
	    const char *);
void	 release_argv_free(char **);
/* After the config probe: the pidfile, gunicorn's control socket and
 * unix: binds must not be inside a release, where each deploy would move
 * them.  0, or -1 logged. */
int	 release_check_paths(const struct gw *);
/* "42" for /srv/app/releases/42. */
const char *release_name(const char *);
/* A generation's own pidfile and control socket (NULL: none), from its
 * reload's id: PIDFILE.ID, SOCKET.ID; malloc'd. */
void	 release_gen_names(const struct gw *, unsigned, char **, char **);
/* The generation that now serves alone takes the stable names: its
 * pidfile renamed over PIDFILE, the control socket's name a symlink to
 * its own (either NULL: left alone). */
void	 release_names_take(struct gw *, const char *, const char *);
/* The adopted master is the new one of reload id, whose old master is
 * gone: it takes the stable names (not in release mode, or id 0: none). */
void	 release_adopt_names(struct gw *, unsigned);

#endif
