/* SPDX-License-Identifier: MIT */
/*
 * main.c: gunicorn-wrapper's entry point.
 *
 * supervisord (or systemd) runs this in place of gunicorn.  The wrapper
 * keeps one PID for the supervisor's sake while the gunicorn master under
 * it changes at every zero-downtime reload (SIGUSR2 to gunicorn, wait for
 * the new generation to be truly ready, SIGTERM to the old one).
 *
 * Here: read the settings, become a child subreaper so that a new master
 * orphaned by its old master comes to us, route every signal through the
 * libevent loop (handlers only wake the loop), start gunicorn, and run.
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "control.h"
#include "gunicorn.h"
#include "gw.h"
#include "log.h"
#include "notify.h"
#include "release.h"
#include "options.h"
#include "ready.h"
#include "reload.h"
#include "rundir.h"
#include "server.h"
#include "signame.h"
#include "xmalloc.h"

#ifndef GW_VERSION
#define GW_VERSION "0.1.0"
#endif

static const int handled[] = {
	SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGTTIN, SIGTTOU, SIGCHLD,
	SIGUSR2,
};

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct gw	*gw = arg;

	(void)what;
	switch (sig) {
	case SIGCHLD:
		gunicorn_reap(gw);
		break;
	case SIGHUP:
		log_info("SIGHUP: reload requested");
		(void)reload_request(gw, TRIGGER_SIGNAL, NULL, NULL);
		break;
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		log_info("%s: stopping", signame((int)sig));
		server_stop(gw, (int)sig);
		break;
	case SIGUSR1:
	case SIGTTIN:
	case SIGTTOU:
		if (gw->cur == NULL) {
			log_warnx("%s: no gunicorn master to pass it to",
			    signame((int)sig));
			break;
		}
		log_info("passing %s to master %d", signame((int)sig),
		    (int)gw->cur->pid);
		if (master_signal(gw->cur, (int)sig) == -1)
			log_warn("signal master %d", (int)gw->cur->pid);
		break;
	case SIGUSR2:
		log_warnx("SIGUSR2 ignored: send SIGHUP to reload");
		break;
	}
}

static const char *
real_getenv(const char *name)
{
	return getenv(name);
}

/*
 * RUN_DIR/NAME.lock, flock'd for the wrapper's life (the kernel drops it
 * when we die, even by SIGKILL).  The socket alone cannot guard against a
 * second wrapper of the same name: given its own --socket, it would adopt
 * the first one's master from the shared pidfile and fight over it.
 */
static int
take_lock(struct gw *gw)
{
	char	*path, *name, buf[32], err[512];
	int	 fd, n, saved;

	xasprintf(&path, "%s/%s.lock", gw->cfg.run_dir, gw->cfg.name);
	xasprintf(&name, "%s.lock", gw->cfg.name);
	fd = rundir_open(gw->run_fd, name, O_RDWR | O_CREAT, 0644, err,
	    sizeof err);
	free(name);
	if (fd == -1) {
		log_startup_error("run directory %s: %s%s",
		    gw->cfg.run_dir, err, errno == EPERM || errno == ELOOP ?
		    " (remove it)" : "");
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		n = (int)pread(fd, buf, sizeof buf - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (saved == EWOULDBLOCK)
			log_startup_error("another "
			    "gunicorn-wrapper named %s is running (pid %s, "
			    "lock %s)", gw->cfg.name, buf[0] ? buf : "?",
			    path);
		else
			log_startup_error("flock %s: %s",
			    path, strerror(saved));
		close(fd);
		free(path);
		return -1;
	}
	n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("%s", path);	/* informational only */
	free(path);
	gw->lock_fd = fd;
	return 0;
}

/* The event loop, and the signals it watches: handlers only wake it. */
static void
setup_loop(struct gw *gw)
{
	size_t	i;

	if ((gw->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	TAILQ_INIT(&gw->masters);
	gw->started = now_real();
	for (i = 0; i < sizeof handled / sizeof handled[0]; i++) {
		gw->sigev[i] = evsignal_new(gw->base, handled[i], signal_cb,
		    gw);
		if (gw->sigev[i] == NULL || event_add(gw->sigev[i], NULL) == -1)
			fatalx("cannot watch signal %d", handled[i]);
	}
}

static void
teardown(struct gw *gw)
{
	size_t	i;

	control_free(gw);
	reload_free(gw);
	while (!TAILQ_EMPTY(&gw->masters))
		master_free(TAILQ_FIRST(&gw->masters));
	history_clear(&gw->history);
	for (i = 0; i < sizeof handled / sizeof handled[0]; i++)
		event_free(gw->sigev[i]);
	event_free(gw->stop_timer);
	event_free(gw->boot_extend);
	if (gw->status_ev != NULL)
		event_free(gw->status_ev);
	notify_free(gw);
	free(gw->suspects);
	free(gw->suspects_start);
	event_base_free(gw->base);
	if (gw->lock_fd > 0)
		close(gw->lock_fd);
	close(gw->run_fd);
	listen_close(&gw->listeners);
	for (i = 0; i < gw->nbind; i++)
		free(gw->bind_spec[i]);
	free(gw->release);
	free(gw->ctl_socket);
	options_free(&gw->cfg);
}

/*
 * --check-config: what a start would check before it runs anything (the
 * settings, gunicorn's own through the config probe, release mode's link
 * and addresses), and what fail-safe cannot cover, then exit: 0 usable,
 * 1 not.  Nothing is created, bound or started.
 */
static int
check_config(struct gw *gw)
{
	int	rc = 0;

	log_init("gunicorn-wrapper", gw->cfg.name);
	log_setup(gw->cfg.log_level, gw->cfg.log_format, NULL);
	if (release_init(gw) == -1 || gunicorn_probe_config(gw) == -1 ||
	    release_check_paths(gw) == -1)
		rc = 1;
	else {
		ready_warn_config(gw);
		printf("gunicorn-wrapper: %s: configuration ok%s\n",
		    gw->cfg.name, ready_failsafe_warning(gw) != NULL ?
		    " (with the warning above)" : "");
		if (fflush(stdout) != 0)
			rc = 1;
	}
	free(gw->release);
	free(gw->ctl_socket);
	for (size_t i = 0; i < gw->nbind; i++)
		free(gw->bind_spec[i]);
	options_free(&gw->cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	struct gw	 gw;
	char		 err[512];
	int		 status;

	memset(&gw, 0, sizeof gw);
	switch (options_parse(argc, argv, real_getenv, &gw.cfg, err,
	    sizeof err)) {
	case OPTIONS_HELP:
		options_usage(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	case OPTIONS_VERSION:
		printf("gunicorn-wrapper %s\n", GW_VERSION);
		return fflush(stdout) == 0 ? 0 : 1;
	case OPTIONS_ERROR:
		fprintf(stderr, "gunicorn-wrapper: %s\n", err);
		return 2;
	case OPTIONS_CHECK:
		return check_config(&gw);
	case OPTIONS_RUN:
		break;
	}
	log_init("gunicorn-wrapper", gw.cfg.name);
	log_setup(gw.cfg.log_level, gw.cfg.log_format,
	    getenv("JOURNAL_STREAM"));
	if (notify_init(&gw) == -1) {
		options_free(&gw.cfg);
		return 1;
	}
	/* Ours alone, or nothing in it can be trusted (rundir.c says why). */
	if ((gw.run_fd = rundir_prepare(gw.cfg.run_dir, gw.cfg.socket_gid, err,
	    sizeof err)) == -1) {
		log_startup_error("%s", err);
		notify_free(&gw);
		options_free(&gw.cfg);
		return 1;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_CHILD_SUBREAPER)");
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal(SIGPIPE)");

	setup_loop(&gw);
	history_set_dir(&gw.history, gw.run_fd);
	(void)history_load(&gw.history, gw.cfg.history);
	server_init(&gw);
	/* Before gunicorn: a second wrapper of this name must not adopt
	 * the first one's master or start another server. */
	if (control_init(&gw) == -1 || take_lock(&gw) == -1) {
		status = 1;	/* said, at err, in one line */
		goto out;
	}

	/* The pidfile a config file sets is known only after this; in
	 * release mode, the addresses the wrapper binds. */
	if (release_init(&gw) == -1 || gunicorn_probe_config(&gw) == -1 ||
	    release_check_paths(&gw) == -1) {
		status = 1;
		server_log_exit(status);
		goto out;
	}
	ready_warn_config(&gw);
	log_event(LOG_LEVEL_INFO, &(struct log_event){ .event = "start" },
	    "gunicorn-wrapper %s (pid %d): %s, warm-up %g s (%s), "
	    "stop timeout %g s, pidfile %s", GW_VERSION, (int)getpid(),
	    gw.cfg.argv[0], gw.cfg.warmup, options_ready_name(gw.cfg.ready),
	    gw.cfg.stop_timeout, gw.cfg.pidfile);
	if (server_start(&gw) == -1) {
		status = 1;
		server_log_exit(status);
		goto out;
	}
	if (event_base_dispatch(gw.base) == -1)
		fatalx("event_base_dispatch failed");
	status = gw.exit_status;

out:
	teardown(&gw);
	return status;
}
