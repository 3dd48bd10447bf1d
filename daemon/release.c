/* SPDX-License-Identifier: MIT */
/*
 * release.c: the releases directory, the link into it, and each
 * generation's arguments (see release.h for the model).
 *
 * Why the link moves last: gunicorn's SIGUSR2 re-executes the old
 * master's argv from its working directory, so with a link edited in
 * place the old generation's recycled workers, a restart or a reboot
 * load whatever the link names, even a release that failed.  Here a
 * generation never reads the link: it runs from the real path, and the
 * link is only a promise about what serves, kept true by moving it after
 * the new generation has proved itself, and moving it back at start if a
 * killed wrapper left it ahead of the record.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "gw.h"
#include "log.h"
#include "release.h"
#include "xmalloc.h"

/* 1 if path is strictly under dir (both real paths). */
static int
under(const char *dir, const char *path)
{
	size_t	n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/' && path[1] != '\0';
	return strncmp(path, dir, n) == 0 && path[n] == '/' &&
	    path[n + 1] != '\0';
}

int
release_resolve(const struct gw *gw, const char *dir, char **real,
    char *err, size_t errlen)
{
	struct stat	 sb;
	char		*r;

	*real = NULL;
	if (dir == NULL || *dir == '\0')
		return errbuf_set(err, errlen, "no release directory given");
	if (dir[0] != '/')
		return errbuf_set(err, errlen, "release %s: not an absolute "
		    "path", dir);
	if (stat(dir, &sb) == -1)
		return errbuf_set(err, errlen, "release %s: %s", dir,
		    strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return errbuf_set(err, errlen, "release %s: not a directory",
		    dir);
	if ((r = realpath(dir, NULL)) == NULL)
		return errbuf_set(err, errlen, "release %s: %s", dir,
		    strerror(errno));
	if (!under(gw->cfg.releases, r)) {
		errbuf_set(err, errlen, "release %s%s%s: outside the releases "
		    "directory %s", dir, strcmp(dir, r) != 0 ? " -> " : "",
		    strcmp(dir, r) != 0 ? r : "", gw->cfg.releases);
		free(r);
		return -1;
	}
	if (strlen(r) >= LEDGER_PATH_MAX || strchr(r, '\n') != NULL) {
		errbuf_set(err, errlen, "release %s: its path is longer than "
		    "%d bytes or holds a newline", dir, LEDGER_PATH_MAX - 1);
		free(r);
		return -1;
	}
	*real = r;
	return 0;
}

int
release_init(struct gw *gw)
{
	struct gw_config *cfg = &gw->cfg;
	struct stat	 sb;
	char		*real, *dir, target[PATH_MAX], err[PATH_MAX + 256];
	ssize_t		 n;

	if (cfg->releases == NULL)
		return 0;
	if ((real = realpath(cfg->releases, NULL)) == NULL) {
		log_startup_error("--releases %s: %s", cfg->releases,
		    strerror(errno));
		return -1;
	}
	if (stat(real, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		log_startup_error("--releases %s: not a directory",
		    cfg->releases);
		free(real);
		return -1;
	}
	free(cfg->releases);
	cfg->releases = real;
	if (lstat(cfg->link, &sb) == -1 || !S_ISLNK(sb.st_mode)) {
		log_startup_error("gunicorn's --chdir %s: %s: with --releases "
		    "it must be a symlink to a release under %s",
		    cfg->link, lstat(cfg->link, &sb) == -1 ?
		    strerror(errno) : "not a symlink", cfg->releases);
		return -1;
	}
	if ((n = readlink(cfg->link, target, sizeof target - 1)) == -1) {
		log_startup_error("readlink %s: %s", cfg->link,
		    strerror(errno));
		return -1;
	}
	target[n] = '\0';
	if (target[0] != '/') {
		/* Relative to the link's directory. */
		dir = xstrdup(cfg->link);
		xasprintf(&real, "%s/%s", dirname(dir), target);
		free(dir);
	} else
		real = xstrdup(target);
	if (release_resolve(gw, real, &gw->release, err, sizeof err) == -1) {
		log_startup_error("gunicorn's --chdir %s: %s", cfg->link, err);
		free(real);
		return -1;
	}
	free(real);
	log_info("release mode: %s -> %s (releases under %s)", cfg->link,
	    gw->release, cfg->releases);
	return 0;
}

/* fsync the directory that holds path. */
static void
sync_parent(const char *path)
{
	char	*d = xstrdup(path);
	int	 fd;

	if ((fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || fsync(fd) == -1)
		log_warn("fsync %s", d);
	if (fd != -1)
		close(fd);
	free(d);
}

int
release_switch(struct gw *gw, const char *release, char *err, size_t errlen)
{
	const char	*link = gw->cfg.link;
	char		*tmp;
	struct stat	 sb;

	xasprintf(&tmp, "%s.gw-tmp", link);
	if (lstat(tmp, &sb) == 0 && S_ISLNK(sb.st_mode) && unlink(tmp) == -1) {
		errbuf_set(err, errlen, "unlink %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (symlink(release, tmp) == -1) {
		errbuf_set(err, errlen, "symlink %s: %s", tmp,
		    strerror(errno));
		free(tmp);
		return -1;
	}
	if (rename(tmp, link) == -1) {
		errbuf_set(err, errlen, "rename %s to %s: %s", tmp, link,
		    strerror(errno));
		(void)unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	sync_parent(link);
	log_info("%s -> %s", link, release);
	return 0;
}

int
release_restore(struct gw *gw, const char *release)
{
	char	err[PATH_MAX + 256], *now;

	if (gw->cfg.releases == NULL || release == NULL || *release == '\0' ||
	    strcmp(release, gw->release) == 0)
		return 0;
	if (release_resolve(gw, release, &now, err, sizeof err) == -1) {
		log_warnx("the record's release: %s; the link stays at %s",
		    err, gw->release);
		return 0;
	}
	log_warnx("%s names %s, but %s served when the previous wrapper "
	    "stopped: putting the link back", gw->cfg.link, gw->release, now);
	if (release_switch(gw, now, err, sizeof err) == -1) {
		log_startup_error("%s", err);
		free(now);
		return -1;
	}
	free(gw->release);
	gw->release = now;
	return 0;
}

/*
 * arg with every occurrence of the link that starts a path replaced by
 * release: at its start, after '=', ':' or ',' ("--opt=LINK...",
 * "unix:LINK...", "--pythonpath A,LINK/b"), or attached to a short
 * option ("-cLINK..."), and followed by '/' or the end of a path.  NULL
 * if there is none.
 */
static char *
substitute(const char *arg, const char *link, const char *release)
{
	size_t		 n = strlen(link);
	const char	*p, *from = arg;
	char		*out = NULL, *tmp;

	for (p = arg; (p = strstr(p, link)) != NULL; p++) {
		if (!(p == arg || p[-1] == '=' || p[-1] == ':' ||
		    p[-1] == ',' ||
		    (p == arg + 2 && arg[0] == '-' && arg[1] != '-')) ||
		    !(p[n] == '\0' || p[n] == '/' || p[n] == ',' ||
		    p[n] == ':'))
			continue;
		xasprintf(&tmp, "%s%.*s%s", out != NULL ? out : "",
		    (int)(p - from), from, release);
		free(out);
		out = tmp;
		from = p + n;
		p = from - 1;
	}
	if (out == NULL)
		return NULL;
	xasprintf(&tmp, "%s%s", out, from);
	free(out);
	return tmp;
}

char **
release_argv(const struct gw *gw, const char *release, const char *pidfile,
    const char *ctl)
{
	const struct gw_config *cfg = &gw->cfg;
	char	**argv;
	int	  i, n = 0;

	argv = xcalloc((size_t)cfg->argc + 5, sizeof *argv);
	for (i = 0; i < cfg->argc; i++) {
		if ((argv[n] = substitute(cfg->argv[i], cfg->link, release)) ==
		    NULL)
			argv[n] = xstrdup(cfg->argv[i]);
		n++;
	}
	if (pidfile != NULL) {
		argv[n++] = xstrdup("--pid");
		argv[n++] = xstrdup(pidfile);
	}
	if (ctl != NULL) {
		argv[n++] = xstrdup("--control-socket");
		argv[n++] = xstrdup(ctl);
	}
	argv[n] = NULL;
	return argv;
}

void
release_argv_free(char **argv)
{
	size_t	i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* 1 if path is the link, under it, or under the releases directory. */
static int
moves(const struct gw *gw, const char *path)
{
	size_t	n = strlen(gw->cfg.link);

	return (strncmp(path, gw->cfg.link, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/')) ||
	    under(gw->cfg.releases, path);
}

int
release_check_paths(const struct gw *gw)
{
	const char	*what = NULL, *path = NULL;
	size_t		 i;

	if (gw->cfg.releases == NULL)
		return 0;
	if (moves(gw, gw->cfg.pidfile))
		what = "the pidfile", path = gw->cfg.pidfile;
	else if (gw->ctl_socket != NULL && moves(gw, gw->ctl_socket))
		what = "gunicorn's control socket", path = gw->ctl_socket;
	for (i = 0; what == NULL && i < gw->nbind; i++)
		if (strncmp(gw->bind_spec[i], "unix ", 5) == 0 &&
		    moves(gw, gw->bind_spec[i] + 5))
			what = "a unix: bind", path = gw->bind_spec[i] + 5;
	if (gw->listen_opts.reuse_port) {
		/* gunicorn 26 then has each worker bind a socket of its own:
		 * the wrapper's would join their group and serve no one. */
		log_startup_error("release mode: gunicorn's reuse_port "
		    "(--reuse-port) is not supported: the wrapper holds the "
		    "listening sockets; remove it");
		return -1;
	}
	if (gw->nbind > LISTEN_MAX) {
		log_startup_error("release mode: gunicorn binds %zu addresses, "
		    "at most %d are supported", gw->nbind, LISTEN_MAX);
		return -1;
	}
	if (what == NULL)
		return 0;
	log_startup_error("release mode: %s %s is inside a release (or the "
	    "link): it would move with each deploy; give it an absolute path "
	    "outside %s", what, path, gw->cfg.releases);
	return -1;
}

const char *
release_name(const char *release)
{
	const char	*p;

	if (release == NULL)
		return "";
	p = strrchr(release, '/');
	return p != NULL && p[1] != '\0' ? p + 1 : release;
}

/*
 * The generation that now serves alone takes the stable names.  Its
 * pidfile is renamed over the old one's.  gunicorn 25+ binds its control
 * socket again at its own path each time it forks a worker, so the stable
 * name becomes a symlink to that path (connect(2) follows it), replaced
 * with rename(2) like the release link.
 */
void
release_names_take(struct gw *gw, const char *pidfile, const char *ctl)
{
	char	*tmp;

	if (pidfile != NULL && rename(pidfile, gw->cfg.pidfile) == -1 &&
	    errno != ENOENT)
		log_warn("rename %s to %s", pidfile, gw->cfg.pidfile);
	if (ctl == NULL || gw->ctl_socket == NULL)
		return;
	xasprintf(&tmp, "%s.gw-tmp", gw->ctl_socket);
	(void)unlink(tmp);
	if (symlink(ctl, tmp) == -1 || rename(tmp, gw->ctl_socket) == -1) {
		log_warn("%s -> %s", gw->ctl_socket, ctl);
		(void)unlink(tmp);
	}
	free(tmp);
}

void
release_gen_names(const struct gw *gw, unsigned id, char **pidfile,
    char **ctl)
{
	xasprintf(pidfile, "%s.%u", gw->cfg.pidfile, id);
	*ctl = NULL;
	if (gw->ctl_socket != NULL)
		xasprintf(ctl, "%s.%u", gw->ctl_socket, id);
}

void
release_adopt_names(struct gw *gw, unsigned id)
{
	char	*pidfile, *ctl;

	if (gw->release == NULL || id == 0)
		return;
	release_gen_names(gw, id, &pidfile, &ctl);
	release_names_take(gw, pidfile, ctl);
	free(pidfile);
	free(ctl);
}
