/* SPDX-License-Identifier: MIT */
/*
 * gunicorn.c: starting, adopting and watching gunicorn masters.
 *
 * The wrapper is a child subreaper (main.c), so a new master whose old
 * master exits is re-parented to us, and so are workers whose master was
 * killed: gunicorn_reap() collects all of them, and every gunicorn process
 * we started is reaped by someone.  Each master also gets a pidfd watched
 * by the event loop, because an adopted master and its descendants are not
 * our children (they re-parent to PID 1) and because pidfd_send_signal()
 * cannot hit a process that merely reused a master's PID.
 *
 * The lowest of the daemon's modules that know gunicorn: it reports a
 * master's exit, and any other child's, through the callbacks its user
 * set in struct gw (server.c), and calls nothing above it.
 */
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "gunicorn.h"
#include "gw.h"
#include "clock.h"
#include "listen.h"
#include "log.h"
#include "proc.h"
#include "signame.h"
#include "xmalloc.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static void	master_exit_cb(evutil_socket_t, short, void *);

struct master *
master_find(struct gw *gw, pid_t pid)
{
	struct master	*m;

	TAILQ_FOREACH(m, &gw->masters, entry) {
		if (m->pid == pid)
			return m;
	}
	return NULL;
}

struct master *
master_watch(struct gw *gw, pid_t pid, int adopted)
{
	struct master	*m;
	int		 fd;

	if ((m = master_find(gw, pid)) != NULL)
		return m;
	if ((fd = proc_pidfd(pid)) == -1) {
		if (errno != ESRCH)
			log_warn("pidfd_open %d", (int)pid);
		return NULL;
	}
	m = xcalloc(1, sizeof *m);
	m->pid = pid;
	m->start = proc_starttime(pid);	/* the pidfd pins this process */
	m->pidfd = fd;
	m->status = -1;
	m->adopted = adopted;
	m->gw = gw;
	m->ev = event_new(gw->base, fd, EV_READ, master_exit_cb, m);
	if (m->ev == NULL || event_add(m->ev, NULL) == -1)
		fatalx("event_add for master %d failed", (int)pid);
	TAILQ_INSERT_TAIL(&gw->masters, m, entry);
	return m;
}

struct master *
master_watch_proved(struct gw *gw, pid_t pid, unsigned long long start,
    int adopted)
{
	struct master	*m;

	if ((m = master_find(gw, pid)) != NULL)
		return m->start == start ? m : NULL;
	if ((m = master_watch(gw, pid, adopted)) == NULL)
		return NULL;
	if (m->start != start || start == 0) {
		master_free(m);		/* the PID was reused meanwhile */
		return NULL;
	}
	return m;
}

void
master_free(struct master *m)
{
	if (m == NULL)
		return;
	TAILQ_REMOVE(&m->gw->masters, m, entry);
	if (m->ev != NULL)
		event_free(m->ev);
	if (m->pidfd != -1)
		close(m->pidfd);
	free(m);
}

/* One path for both ways we learn of an exit. */
static void
master_exited(struct master *m, int status)
{
	if (m->exited)
		return;
	m->exited = 1;
	m->status = status;
	event_del(m->ev);
	if (m->gw->master_exited != NULL)
		m->gw->master_exited(m->gw, m);
}

static void
master_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct master	*m = arg;
	int		 status;
	pid_t		 r;

	(void)fd;
	(void)what;
	/* Our child: reap it here for its status.  Else it is not ours. */
	do
		r = waitpid(m->pid, &status, WNOHANG);
	while (r == -1 && errno == EINTR);
	master_exited(m, r == m->pid ? status : -1);
}

void
gunicorn_reap(struct gw *gw)
{
	struct master	*m;
	pid_t		 pid;
	int		 status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if ((m = master_find(gw, pid)) != NULL)
			master_exited(m, status);
		else if (gw->child_exited != NULL)
			gw->child_exited(gw, pid, status);
	}
}

int
master_signal(struct master *m, int sig)
{
	if (m->exited) {
		errno = ESRCH;
		return -1;
	}
	/* Its exit is then planned, not a death: see server.c. */
	if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT ||
	    sig == SIGKILL)
		m->asked = 1;
	return (int)syscall(SYS_pidfd_send_signal, m->pidfd, sig, NULL, 0);
}

void
master_signal_children(struct master *m, pid_t except, int sig)
{
	pid_t	*kids;
	size_t	 i, n;

	if (proc_children(m->pid, &kids, &n) == -1)
		return;
	for (i = 0; i < n; i++) {
		if (kids[i] != except && kill(kids[i], sig) == -1 &&
		    errno != ESRCH)
			log_warn("kill %d", (int)kids[i]);
	}
	free(kids);
}

void
master_describe(const struct master *m, char *buf, size_t size)
{
	if (m->status == -1)
		snprintf(buf, size, "exited");
	else if (WIFSIGNALED(m->status))
		snprintf(buf, size, "killed by signal %d (%s)",
		    WTERMSIG(m->status), signame(WTERMSIG(m->status)));
	else
		snprintf(buf, size, "exited with status %d",
		    WEXITSTATUS(m->status));
}

int
master_exit_code(const struct master *m)
{
	if (m->status == -1)
		return 1;
	if (WIFSIGNALED(m->status))
		return 128 + WTERMSIG(m->status);
	return WEXITSTATUS(m->status);
}

/*
 * The child side of a spawn: default signal dispositions, our mask
 * restored, no descriptor of ours, then exec; 127 if that fails.
 */
static void __attribute__((noreturn))
spawn_child(char **argv, const sigset_t *mask, int outfd, const int *lfd,
    size_t nlfd, const char *cwd)
{
	char	buf[32];
	int	sig, fd, high[LISTEN_MAX];
	size_t	i;

	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (outfd != -1 && (dup2(outfd, STDOUT_FILENO) == -1 ||
	    dup2(outfd, STDERR_FILENO) == -1))
		_exit(127);
	/* The listening sockets as systemd passes them: 3, 4, ... with
	 * LISTEN_FDS and LISTEN_PID (this PID, which exec keeps).  Out of
	 * the way first, so that no dup2 lands on one not moved yet. */
	for (i = 0; i < nlfd; i++)
		if ((high[i] = fcntl(lfd[i], F_DUPFD_CLOEXEC, 64)) == -1)
			_exit(127);
	for (i = 0; i < nlfd; i++)
		if (dup2(high[i], 3 + (int)i) == -1)
			_exit(127);
	if (nlfd > 0) {
		snprintf(buf, sizeof buf, "%zu", nlfd);
		if (setenv("LISTEN_FDS", buf, 1) == -1)
			_exit(127);
		snprintf(buf, sizeof buf, "%d", (int)getpid());
		if (setenv("LISTEN_PID", buf, 1) == -1)
			_exit(127);
		(void)unsetenv("LISTEN_FDNAMES");
		(void)unsetenv("GUNICORN_FD");
		(void)unsetenv("GUNICORN_PID");
	}
	/* Release mode: in its release, where its gunicorn.conf.py is. */
	if (cwd != NULL && chdir(cwd) == -1) {
		dprintf(STDERR_FILENO, "gunicorn-wrapper: chdir %s: %s\n", cwd,
		    strerror(errno));
		_exit(127);
	}
	/* Everything of ours is CLOEXEC; close the rest anyway. */
	if (syscall(SYS_close_range, 3U + (unsigned)nlfd, ~0U, 0) == -1) {
		for (fd = 3 + (int)nlfd; fd < 1024; fd++)
			close(fd);
	}
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "gunicorn-wrapper: exec %s: %s\n", argv[0],
	    strerror(errno));
	_exit(127);
}

/*
 * fork and exec argv, output to outfd (-1: ours).  Signals are blocked
 * across the fork so that the child cannot run one of our handlers
 * (libevent's, which writes to our socketpair) before exec.  The PID, or
 * -1 with errno from fork.
 */
static pid_t
spawn_fds(char **argv, int outfd, const int *lfd, size_t nlfd,
    const char *cwd)
{
	sigset_t	all, old;
	pid_t		pid;
	int		saved;

	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, &old) == -1)
		fatal("sigprocmask");
	if ((pid = fork()) == 0)
		spawn_child(argv, &old, outfd, lfd, nlfd, cwd);
	saved = errno;
	if (sigprocmask(SIG_SETMASK, &old, NULL) == -1)
		fatal("sigprocmask");
	errno = saved;
	return pid;
}

static pid_t
spawn(char **argv, int outfd, const char *cwd)
{
	return spawn_fds(argv, outfd, NULL, 0, cwd);
}

pid_t
gunicorn_spawn_check(struct gw *gw, char **gargv, const char *cwd,
    int *outfd)
{
	char		**argv;
	pid_t		 pid;
	int		 i, p[2], saved;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe");
		return -1;
	}
	(void)gw;
	/* gunicorn --check-config, then exactly the generation's arguments,
	 * where the generation starts. */
	for (i = 0; gargv[i] != NULL; i++)
		;
	argv = xcalloc((size_t)i + 2, sizeof *argv);
	argv[0] = gargv[0];
	argv[1] = "--check-config";
	for (i = 1; gargv[i] != NULL; i++)
		argv[i + 1] = gargv[i];
	/* The write end survives exec: no CLOEXEC on the dup. */
	pid = spawn(argv, p[1], cwd);
	saved = errno;
	free(argv);
	close(p[1]);
	if (pid == -1) {
		errno = saved;
		log_warn("fork");
		close(p[0]);
		return -1;
	}
	*outfd = p[0];
	return pid;
}

struct master *
gunicorn_spawn(struct gw *gw, char **argv, const char *cwd)
{
	struct master	*m;
	pid_t		 pid;

	if ((pid = spawn_fds(argv, -1, gw->listeners.fd, gw->listeners.n,
	    cwd)) == -1) {
		log_warn("fork");
		return NULL;
	}
	if ((m = master_watch(gw, pid, 0)) == NULL) {
		/* Gone already (exec failed fast): reap it for its status. */
		log_warnx("gunicorn master %d exited at once", (int)pid);
		gunicorn_reap(gw);
		return NULL;
	}
	log_event(LOG_LEVEL_INFO, &(struct log_event){
	    .event = "master_start", .master = (int)pid },
	    "started gunicorn master %d", (int)pid);
	return m;
}

/*
 * Why pid cannot be proved to be the master the record names (NULL if it
 * can): the record is the proof, a pidfile or a process title never is.
 */
static const char *
adopt_refusal(const struct ledger *prev, pid_t pid,
    unsigned long long start)
{
	if (pid == getpid() || proc_is_zombie(pid))
		return "not running";
	if (proc_uid(pid) != geteuid())
		return "another user's process";
	if (prev->master == 0)
		return "no record of this wrapper's gunicorn to prove it";
	if (proc_starttime(pid) != start)
		return "not the process the record names (start time differs)";
	if (prev->nlisteners > 0 &&
	    !proc_holds_any(pid, prev->listeners, prev->nlisteners))
		return "it does not hold the app's listening sockets";
	return NULL;
}

/*
 * Adopt what the previous wrapper left serving, proved by its record:
 * the master it names (same PID and start time in this boot, our uid,
 * holding the app's listening sockets); or, once that master is gone, the
 * new master of the reload it had in flight, named in the record or found
 * in gunicorn's PIDFILE.2 (a process of ours, started after the SIGUSR2,
 * holding the same listening sockets: the promote window).  Anything a
 * pidfile names that cannot be proved is left alone, neither adopted nor
 * signalled, in one log line; the pidfile is removed, as gunicorn refuses
 * to start while it names a live process.
 */
struct master *
gunicorn_adopt(struct gw *gw, const struct ledger *prev)
{
	const char	*pidfile = gw->cfg.pidfile, *path2 = gw->cfg.pidfile2,
			*errstr, *why;
	struct master	*m = NULL;
	pid_t		 pid, pid2;
	unsigned long long st;

	pid = pidfile_read(pidfile, &errstr);
	if (pid == -1 && !(errno == ENOENT && access(pidfile, F_OK) == -1))
		log_warnx("pidfile %s: %s; ignoring it", pidfile, errstr);
	pid2 = pidfile_read(path2, &errstr);

	if (prev->master != 0 &&
	    adopt_refusal(prev, prev->master, prev->master_start) == NULL &&
	    (m = master_watch_proved(gw, prev->master, prev->master_start,
	    1)) != NULL)
		log_event(LOG_LEVEL_INFO, &(struct log_event){ .event = "adopt",
		    .master = (int)m->pid },
		    "adopted gunicorn master %d from %s (proved by %s: "
		    "our uid, its start time, the app's listening sockets)",
		    (int)m->pid, pid == m->pid ? pidfile : gw->cfg.record,
		    gw->cfg.record);
	else if (prev->reload_id != 0 && prev->new != 0 &&
	    adopt_refusal(prev, prev->new, prev->new_start) == NULL &&
	    (m = master_watch_proved(gw, prev->new, prev->new_start, 1)) !=
	    NULL)
		log_event(LOG_LEVEL_INFO, &(struct log_event){ .event = "adopt",
		    .master = (int)m->pid },
		    "adopted gunicorn master %d from %s, the new master "
		    "of reload %u (its old master %d is gone; proved by %s)",
		    (int)m->pid, pid == m->pid ? pidfile : pid2 == m->pid ?
		    path2 : gw->cfg.record, prev->reload_id,
		    (int)prev->master, gw->cfg.record);
	else if (prev->usr2_tick != 0 && pid2 > 0 && prev->nlisteners > 0 &&
	    (st = proc_starttime(pid2)) >= prev->usr2_tick &&
	    adopt_refusal(prev, pid2, st) == NULL &&
	    (m = master_watch_proved(gw, pid2, st, 1)) != NULL)
		log_event(LOG_LEVEL_INFO, &(struct log_event){ .event = "adopt",
		    .master = (int)m->pid },
		    "adopted gunicorn master %d from %s, the new master "
		    "of reload %u (started after its SIGUSR2, holds the app's "
		    "listening sockets)", (int)m->pid, path2,
		    prev->reload_id);
	if (m != NULL)
		return m;

	if (pid > 0 && proc_exists(pid) && !proc_is_zombie(pid)) {
		why = adopt_refusal(prev, pid, pid == prev->master ?
		    prev->master_start : 0);
		if (why != NULL && prev->master != 0 && pid != prev->master &&
		    pid != prev->new && proc_uid(pid) == geteuid())
			why = "not the master the record names";
		if (why == NULL)
			why = "it exited as it was looked at";
		log_warnx("pidfile %s names %d, which this wrapper cannot "
		    "prove is its gunicorn (%s): not adopting or signalling "
		    "it", pidfile, (int)pid, why);
	} else if (pid > 0)
		log_info("pidfile %s names %d, which is not running; "
		    "removing it", pidfile, (int)pid);
	if (unlink(pidfile) == -1 && errno != ENOENT)
		log_warn("unlink %s", pidfile);
	return NULL;
}

/*
 * gunicorn's effective settings, as gunicorn itself computes them from
 * the command line, GUNICORN_CMD_ARGS and a config file (-c, or
 * ./gunicorn.conf.py): its own Config, run by the interpreter its script
 * names, without importing the application.
 */
static const char probe_script[] =
"import os, runpy, sys\n"
"launcher, args = sys.argv[1], sys.argv[2:]\n"
"def probe(app=None, *a, **k):\n"
"    if not hasattr(app, 'cfg'):\n"
"        from gunicorn.app.wsgiapp import WSGIApplication\n"
"        class Probe(WSGIApplication):\n"
"            def load(self):\n"
"                pass\n"
"        sys.argv = ['gunicorn'] + args\n"
"        app = Probe('%(prog)s [OPTIONS] [APP_MODULE]')\n"
"    c = app.cfg\n"
"    w = sys.stdout.write\n"
"    w('\\ngw-probe daemon %d\\ngw-probe cwd %s\\ngw-probe pidfile %s\\n' %\n"
"      (bool(c.daemon), os.getcwd(), c.pidfile or ''))\n"
"    for a in c.address:\n"
"        if isinstance(a, tuple):\n"
"            w('gw-probe bind tcp %s %d\\n' % (a[0] or '-', a[1]))\n"
"        elif isinstance(a, int):\n"
"            w('gw-probe bind fd %d\\n' % a)\n"
"        else:\n"
"            w('gw-probe bind unix %s\\n' % a)\n"
"    w('gw-probe sockopts %d %d %d\\n' % (c.backlog, c.umask,\n"
"      bool(c.reuse_port)))\n"
"    w('gw-probe retire %d %d\\n' % (c.max_requests or 0, bool(c.reload)))\n"
"    ctl = getattr(c, 'control_socket', None)\n"
"    if ctl and not getattr(c, 'control_socket_disable', False):\n"
"        w('gw-probe ctl %s\\n' % ctl)\n"
"    w('gw-probe end\\n')\n"
"    sys.stdout.flush()\n"
"    os._exit(0)\n"
/* The gunicorn the executable itself sets up (a virtualenv's, or a
 * launcher's sys.path): run it, with its run() replaced by the probe. */
"import importlib.util\n"
"class Finder:\n"
"    def find_spec(self, name, path=None, target=None):\n"
"        if name not in ('gunicorn.app.base', 'gunicorn.app.wsgiapp'):\n"
"            return None\n"
"        sys.meta_path.remove(self)\n"
"        try:\n"
"            spec = importlib.util.find_spec(name)\n"
"        finally:\n"
"            sys.meta_path.insert(0, self)\n"
"        real = spec.loader.exec_module\n"
"        def exec_module(module):\n"
"            real(module)\n"
"            if name == 'gunicorn.app.wsgiapp':\n"
"                module.run = probe\n"
"            else:\n"
"                module.BaseApplication.run = probe\n"
"                module.Application.run = probe\n"
"        spec.loader.exec_module = exec_module\n"
"        return spec\n"
"sys.meta_path.insert(0, Finder())\n"
"sys.argv = [launcher] + args\n"
"try:\n"
"    runpy.run_path(launcher, run_name='__main__')\n"
"except SystemExit:\n"
"    pass\n"
"probe()\n";

#define PROBE_TIMEOUT	15.0

/* The interpreter line of a script: "#!/usr/bin/python3" -> its words. */
static int
probe_interpreter(const char *script, char *line, size_t size, char **w)
{
	FILE	*f;
	char	*p, *save;
	int	 n = 0;

	if ((f = fopen(script, "re")) == NULL)
		return -1;
	if (fgets(line, (int)size, f) == NULL || strncmp(line, "#!", 2) != 0) {
		fclose(f);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	for (p = strtok_r(line + 2, " \t", &save); p != NULL && n < 2;
	    p = strtok_r(NULL, " \t", &save))
		w[n++] = p;
	return n > 0 ? n : -1;
}

/* Run the probe; its output (stdout and stderr) into out.  0, or -1 with
 * a reason in out. */
static int
probe_run(struct gw *gw, char *out, size_t size)
{
	struct gw_config *cfg = &gw->cfg;
	char		 line[512], *w[2], **argv;
	struct pollfd	 pfd;
	size_t		 len = 0;
	ssize_t		 n;
	double		 deadline;
	pid_t		 pid, r;
	int		 i, nw, na, p[2], status, saved;

	if ((nw = probe_interpreter(cfg->argv[0], line, sizeof line, w)) ==
	    -1) {
		snprintf(out, size, "%s is not a script naming its "
		    "interpreter", cfg->argv[0]);
		return -1;
	}
	na = cfg->argc - 1 - (cfg->pidfile_added ? 2 : 0);
	argv = xcalloc((size_t)(nw + na + 4), sizeof *argv);
	for (i = 0; i < nw; i++)
		argv[i] = w[i];
	argv[nw] = "-c";
	argv[nw + 1] = (char *)probe_script;
	argv[nw + 2] = cfg->argv[0];
	for (i = 0; i < na; i++)
		argv[nw + 3 + i] = cfg->argv[i + 1];
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(out, size, "pipe: %s", strerror(errno));
		free(argv);
		return -1;
	}
	pid = spawn(argv, p[1], gw->release);
	saved = errno;
	free(argv);
	close(p[1]);
	if (pid == -1) {
		snprintf(out, size, "fork: %s", strerror(saved));
		close(p[0]);
		return -1;
	}
	deadline = now_mono() + PROBE_TIMEOUT;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		i = poll(&pfd, 1, (int)((deadline - now_mono()) * 1000));
		if (i == -1 && errno == EINTR)
			continue;
		if (i <= 0)
			break;		/* timed out (or poll failed) */
		n = read(p[0], out + len, size - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			len = 0;	/* keep the end: it says what we want */
	}
	out[len] = '\0';
	close(p[0]);
	if (kill(pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("kill %d", (int)pid);
	do
		r = waitpid(pid, &status, 0);
	while (r == -1 && errno == EINTR);
	if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	/* Its last line says why (gunicorn's "Error: ..."). */
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	if (len == 0)
		snprintf(out, size, "it failed (status %d)", status);
	else if (strrchr(out, '\n') != NULL)
		memmove(out, strrchr(out, '\n') + 1,
		    strlen(strrchr(out, '\n') + 1) + 1);
	return -1;
}

/* One line of the probe's that release mode needs: 1 if it was one. */
static int
probe_release_line(struct gw *gw, const char *p)
{
	struct listen_opts	*o = &gw->listen_opts;

	if (strncmp(p, "gw-probe bind ", 14) == 0) {
		if (gw->nbind < LISTEN_MAX)
			gw->bind_spec[gw->nbind++] = xstrdup(p + 14);
		return 1;
	}
	if (strncmp(p, "gw-probe sockopts ", 18) == 0) {
		if (sscanf(p + 18, "%d %d %d", &o->backlog, &o->umask,
		    &o->reuse_port) != 3)
			o->backlog = 2048;
		return 1;
	}
	return 0;
}

/*
 * gunicorn 25+'s control socket, wherever it is set (command line, config
 * file, or gunicorn's default): relative to the release's link in release
 * mode, to gunicorn's working directory in place.
 */
static void
probe_ctl_line(struct gw *gw, const char *path, const char *cwd)
{
	free(gw->ctl_socket);
	if (path[0] == '/' || cwd == NULL)
		gw->ctl_socket = xstrdup(path);
	else
		xasprintf(&gw->ctl_socket, "%s/%s", gw->release != NULL ?
		    gw->cfg.link : cwd, path);
}

int
gunicorn_probe_config(struct gw *gw)
{
	char	 out[8192], *p, *e, *cwd = NULL, *pidfile = NULL, *abs;
	int	 daemon = 0, ended = 0;

	if (!gw->cfg.config_file && !gw->cfg.env_args &&
	    gw->cfg.releases == NULL)
		return 0;
	if (probe_run(gw, out, sizeof out) == -1) {
		if (gw->cfg.releases != NULL) {
			log_startup_error("cannot read gunicorn's settings, "
			    "which release mode needs for its addresses: %s",
			    out);
			return -1;
		}
		if (gw->cfg.pidfile_added)
			log_warnx("cannot read gunicorn's settings (%s): if a "
			    "config file sets a pidfile, the --pid %s the "
			    "wrapper adds overrides it", out, gw->cfg.pidfile);
		else
			log_warnx("cannot read gunicorn's settings: %s", out);
		return 0;
	}
	for (p = out; p != NULL && *p != '\0'; p = e) {
		if ((e = strchr(p, '\n')) != NULL)
			*e++ = '\0';
		if (strncmp(p, "gw-probe daemon ", 16) == 0)
			daemon = strcmp(p + 16, "1") == 0;
		else if (strncmp(p, "gw-probe cwd ", 13) == 0)
			cwd = p + 13;
		else if (strncmp(p, "gw-probe pidfile ", 17) == 0)
			pidfile = p + 17;
		else if (strcmp(p, "gw-probe end") == 0)
			ended = 1;
		else if (strncmp(p, "gw-probe ctl ", 13) == 0)
			probe_ctl_line(gw, p + 13, cwd);
		else if (strncmp(p, "gw-probe retire ", 16) == 0)
			gw->retire_probed = sscanf(p + 16, "%d %d",
			    &gw->probe_max_requests, &gw->probe_reload) == 2;
		else if (gw->cfg.releases != NULL)
			(void)probe_release_line(gw, p);
	}
	gw->ctl_probed = ended;
	if (daemon) {
		log_warnx("gunicorn's settings say daemon = True (a config "
		    "file?): not supported, the wrapper must stay gunicorn's "
		    "parent; remove it");
		return -1;
	}
	if (gw->cfg.releases != NULL && (!ended || gw->nbind == 0)) {
		log_startup_error("cannot read gunicorn's addresses from its "
		    "settings: release mode needs them");
		return -1;
	}
	if (gw->cfg.pidfile_added && pidfile != NULL && *pidfile != '\0') {
		if (pidfile[0] == '/' || cwd == NULL)
			abs = xstrdup(pidfile);
		else
			xasprintf(&abs, "%s/%s", cwd, pidfile);
		log_info("gunicorn's config sets pidfile %s: using it", abs);
		options_use_pidfile(&gw->cfg, abs);
		free(abs);
	}
	return 0;
}
