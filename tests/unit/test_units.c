/* SPDX-License-Identifier: MIT */
/*
 * test_units.c: unit tests (cmocka) for what can be checked without a
 * gunicorn: option and environment parsing, number parsing, the history
 * ring, and the /proc readers run against real processes of our own.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "history.h"
#include "ledger.h"
#include "options.h"
#include "parse.h"
#include "proc.h"
#include "release.h"
#include "gw.h"

/* ---- environment table for options_parse() ---- */

static const char *const *test_env;

static const char *
table_getenv(const char *name)
{
	size_t	len = strlen(name), i;

	for (i = 0; test_env != NULL && test_env[i] != NULL; i++) {
		if (strncmp(test_env[i], name, len) == 0 &&
		    test_env[i][len] == '=')
			return test_env[i] + len + 1;
	}
	return NULL;
}

static enum options_action
parse(struct gw_config *cfg, char *err, const char *const *env, ...)
{
	char	*argv[32];
	int	 argc = 0;
	va_list	 ap;

	argv[argc++] = "gunicorn-wrapper";
	va_start(ap, env);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	test_env = env;
	return options_parse(argc, argv, table_getenv, cfg, err, 512);
}

static const char *const base_env[] = {
	"PATH=/usr/bin:/bin", "GW_GUNICORN=/bin/true", NULL
};

static void
test_dropin_takes_nothing(void **state)
{
	struct gw_config	cfg;
	char			err[512];

	(void)state;
	/* gunicorn's -w, -n, -p, -c stay gunicorn's; settings from env. */
	assert_int_equal(parse(&cfg, err, base_env, "-w", "4", "-n", "x",
	    "-p", "/tmp/x.pid", "-c", "conf.py", "app:app", NULL),
	    OPTIONS_RUN);
	assert_string_equal(cfg.argv[0], "/bin/true");
	assert_int_equal(cfg.argc, 10);
	assert_string_equal(cfg.argv[9], "app:app");
	assert_null(cfg.argv[10]);
	assert_string_equal(cfg.pidfile, "/tmp/x.pid");
	assert_int_equal(cfg.pidfile_added, 0);
	assert_string_equal(cfg.name, "gunicorn");
	assert_true(cfg.warmup == 30.0);
	assert_int_equal(cfg.ready, READY_HEARTBEAT);
	options_free(&cfg);
}

static void
test_dash_form_and_pid_added(void **state)
{
	struct gw_config	cfg;
	char			err[512];

	(void)state;
	assert_int_equal(parse(&cfg, err, base_env, "--name", "web",
	    "--warmup=2.5", "--ready", "timer", "--run-dir", "/tmp/rd",
	    "--stop-timeout", "7", "--probation", "0", "--", "-w", "2",
	    "app:app", NULL), OPTIONS_RUN);
	assert_string_equal(cfg.name, "web");
	assert_true(cfg.probation == 0.0);
	assert_true(cfg.warmup == 2.5);
	assert_true(cfg.stop_timeout == 7.0);
	assert_int_equal(cfg.ready, READY_TIMER);
	assert_string_equal(cfg.run_dir, "/tmp/rd");
	assert_string_equal(cfg.pidfile, "/tmp/rd/web.pid");
	assert_int_equal(cfg.pidfile_added, 1);
	assert_int_equal(cfg.argc, 6);
	assert_string_equal(cfg.argv[4], "--pid");
	assert_string_equal(cfg.argv[5], "/tmp/rd/web.pid");
	options_free(&cfg);
}

static void
test_option_beats_env(void **state)
{
	static const char *const env[] = {
		"PATH=/usr/bin:/bin", "GW_GUNICORN=/bin/true",
		"GW_WARMUP=9", "GW_NAME=fromenv", "GW_READY=timer", NULL
	};
	struct gw_config	cfg;
	char			err[512];

	(void)state;
	assert_int_equal(parse(&cfg, err, env, "--warmup", "3", "--",
	    "app:app", NULL), OPTIONS_RUN);
	assert_true(cfg.warmup == 3.0);
	assert_true(cfg.probation == GW_PROBATION_DEFAULT);
	assert_string_equal(cfg.name, "fromenv");
	assert_int_equal(cfg.ready, READY_TIMER);
	options_free(&cfg);
}

static void
test_supervisor_name(void **state)
{
	static const char *const env[] = {
		"PATH=/usr/bin:/bin", "GW_GUNICORN=/bin/true",
		"SUPERVISOR_PROCESS_NAME=myapp", NULL
	};
	struct gw_config	cfg;
	char			err[512];

	(void)state;
	assert_int_equal(parse(&cfg, err, env, "app:app", NULL), OPTIONS_RUN);
	assert_string_equal(cfg.name, "myapp");
	options_free(&cfg);
}

static void
test_pid_forms(void **state)
{
	struct gw_config	cfg;
	char			err[512];

	(void)state;
	assert_int_equal(parse(&cfg, err, base_env, "--pid=/a.pid", "app:app",
	    NULL), OPTIONS_RUN);
	assert_string_equal(cfg.pidfile, "/a.pid");
	options_free(&cfg);
	assert_int_equal(parse(&cfg, err, base_env, "-p/b.pid", "app:app",
	    NULL), OPTIONS_RUN);
	assert_string_equal(cfg.pidfile, "/b.pid");
	options_free(&cfg);
	/* Relative to --chdir, as gunicorn resolves it. */
	assert_int_equal(parse(&cfg, err, base_env, "--chdir", "/srv/app",
	    "--pid", "run/g.pid", "app:app", NULL), OPTIONS_RUN);
	assert_string_equal(cfg.pidfile, "/srv/app/run/g.pid");
	options_free(&cfg);
}

/* Every path gunicorn re-resolves after its chdir or re-exec: absolute. */
static void
test_relative_paths(void **state)
{
	static const char *const env[] = {
		"PATH=/usr/bin:/bin", "GW_GUNICORN=/bin/true", "PWD=/", NULL
	};
	static const char *const envbad[] = {
		"PATH=/usr/bin:/bin", "GW_GUNICORN=/bin/true", "PWD=/",
		"GUNICORN_CMD_ARGS=-w 2 --chdir rel", NULL
	};
	static const char *const envpid[] = {
		"PATH=/usr/bin:/bin", "GW_GUNICORN=/bin/true", "PWD=/",
		"GUNICORN_CMD_ARGS=--pid /srv/g.pid", NULL
	};
	struct gw_config	cfg;
	char			err[512], cwd[4096];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(parse(&cfg, err, env, "--chdir", "example",
	    "-c", "conf.py", "-bunix:s.sock", "-b", "127.0.0.1:1",
	    "--access-logfile=-", "--error-logfile", "log/e.log",
	    "--pid=g.pid", "--worker-tmp-dir", "/dev/shm", "--certfile",
	    "c.pem", "app:app", NULL), OPTIONS_RUN);
	assert_string_equal(cfg.argv[2], "/example");
	assert_string_equal(cfg.argv[4], "/conf.py");	/* read before chdir */
	assert_string_equal(cfg.argv[5], "-bunix:/example/s.sock");
	assert_string_equal(cfg.argv[7], "127.0.0.1:1");
	assert_string_equal(cfg.argv[8], "--access-logfile=-");
	assert_string_equal(cfg.argv[10], "/example/log/e.log");
	assert_string_equal(cfg.argv[11], "--pid=/example/g.pid");
	assert_string_equal(cfg.argv[13], "/dev/shm");
	assert_string_equal(cfg.argv[15], "/example/c.pem");
	assert_string_equal(cfg.pidfile, "/example/g.pid");
	assert_int_equal(cfg.pidfile_added, 0);
	options_free(&cfg);
	/* GUNICORN_CMD_ARGS cannot be rewritten: relative is refused. */
	assert_int_equal(parse(&cfg, err, envbad, "app:app", NULL),
	    OPTIONS_ERROR);
	assert_non_null(strstr(err, "GUNICORN_CMD_ARGS"));
	assert_non_null(strstr(err, "--chdir"));
	/* A pidfile there is the operator's: used, --pid not added. */
	assert_int_equal(parse(&cfg, err, envpid, "app:app", NULL),
	    OPTIONS_RUN);
	assert_string_equal(cfg.pidfile, "/srv/g.pid");
	assert_int_equal(cfg.pidfile_added, 0);
	assert_int_equal(cfg.argc, 2);
	options_free(&cfg);
	assert_int_equal(chdir(cwd), 0);
}

/* The record: written atomically, read back; a FIFO is refused at once. */
/* Release mode: each argument under the link names the release instead;
 * what an operator may deploy is a directory strictly under releases. */
static void
test_release_paths(void **state)
{
	char		 dir[] = "/tmp/gw-rel-XXXXXX", path[256], err[512],
			*real;
	char		*argv[] = { "/srv/app/current/venv/bin/gunicorn",
			    "--chdir", "/srv/app/current", "-c/srv/app/current/g.py",
			    "--config=/srv/app/current/g.py",
			    "--pythonpath", "/srv/app/current/a,/srv/app/current",
			    "/srv/app/currently", "x/srv/app/current", NULL };
	const char	*want[] = { "/r/42/venv/bin/gunicorn", "--chdir",
			    "/r/42", "-c/r/42/g.py", "--config=/r/42/g.py",
			    "--pythonpath", "/r/42/a,/r/42", "/srv/app/currently",
			    "x/srv/app/current", "--pid", "/run/app.pid.7", NULL };
	struct gw	 gw;
	char		**out;
	int		 i;

	(void)state;
	memset(&gw, 0, sizeof gw);
	gw.cfg.argv = argv;
	gw.cfg.argc = 9;
	gw.cfg.link = "/srv/app/current";
	out = release_argv(&gw, "/r/42", "/run/app.pid.7", NULL);
	for (i = 0; want[i] != NULL; i++)
		assert_string_equal(out[i], want[i]);
	assert_null(out[i]);
	release_argv_free(out);
	assert_string_equal(release_name("/srv/app/releases/42"), "42");

	assert_non_null(mkdtemp(dir));
	gw.cfg.releases = realpath(dir, NULL);
	assert_non_null(gw.cfg.releases);
	snprintf(path, sizeof path, "%s/42", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(release_resolve(&gw, path, &real, err, sizeof err), 0);
	assert_string_equal(release_name(real), "42");
	free(real);
	assert_int_equal(release_resolve(&gw, dir, &real, err, sizeof err), -1);
	assert_non_null(strstr(err, "outside the releases directory"));
	assert_int_equal(release_resolve(&gw, "relative/42", &real, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "not an absolute path"));
	snprintf(path, sizeof path, "%s/nope", dir);
	assert_int_equal(release_resolve(&gw, path, &real, err, sizeof err), -1);
	snprintf(path, sizeof path, "%s/42", dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(gw.cfg.releases);
}

static void
test_ledger(void **state)
{
	char			dir[] = "/tmp/gw-ledger-XXXXXX", path[128],
				err[256];
	struct ledger		l, r;
	struct sockaddr_in	sin;
	unsigned long long	ino[4];
	int			s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/app.record", dir);
	assert_int_equal(ledger_read(path, &r, err, sizeof err), 0);
	memset(&l, 0, sizeof l);
	assert_int_equal(proc_boot_id(l.boot, sizeof l.boot), 0);
	l.uid = geteuid();
	l.master = 4242;
	l.master_start = 99;
	l.listeners[0] = 7;
	l.listeners[1] = 8;
	l.nlisteners = 2;
	l.reload_id = 3;
	snprintf(l.phase, sizeof l.phase, "warming");
	l.usr2_tick = 1234;
	l.old = 4242;
	l.old_start = 99;
	l.new = 4343;
	l.new_start = 1240;
	snprintf(l.release, sizeof l.release, "/srv/app/releases/a b");
	snprintf(l.target, sizeof l.target, "/srv/app/releases/43");
	assert_int_equal(ledger_write(path, &l, err, sizeof err), 0);
	assert_int_equal(ledger_read(path, &r, err, sizeof err), 1);
	assert_int_equal(memcmp(&l, &r, sizeof l), 0);
	assert_true(ledger_current(&r));
	assert_true(ledger_listeners_open(&r, ino, 0) == 0);
	ino[0] = 8;
	assert_true(ledger_listeners_open(&r, ino, 1));
	assert_int_equal(ledger_remove(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(ledger_read(path, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);

	/* Our own listening socket, by inode. */
	assert_true((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(proc_listeners(getpid(), ino, 4), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(proc_listeners(getpid(), ino, 4), 1);
	assert_true(proc_holds_any(getpid(), ino, 1));
	close(s);
	assert_false(proc_holds_any(getpid(), ino, 1));
}

/* Bad input is data: each row must fail, naming the setting. */
static void
test_bad_command_lines(void **state)
{
	static const struct {
		const char	*args[6];
		const char	*mention;
	} rows[] = {
		{ { "--warmup", "abc", "--", "app:app" }, "--warmup" },
		{ { "--warmup", "-1", "--", "app:app" }, "--warmup" },
		{ { "--warmup", "0", "--", "app:app" }, "--warmup" },
		{ { "--warmup", "3601", "--", "app:app" }, "--warmup" },
		{ { "--warmup", "1e3", "--", "app:app" }, "--warmup" },
		{ { "--ready", "bogus", "--", "app:app" }, "--ready" },
		{ { "--probation", "-1", "--", "app:app" }, "--probation" },
		{ { "--probation", "x", "--", "app:app" }, "--probation" },
		{ { "--probation", "601", "--", "app:app" }, "--probation" },
		{ { "--stop-timeout", "", "--", "app:app" }, "--stop-timeout" },
		{ { "--bogus", "--", "app:app" }, "--bogus" },
		{ { "--name", "a/b", "--", "app:app" }, "--name" },
		{ { "--name", "--", "app:app" }, "--name" },
		{ { "--gunicorn", "/nonexistent/gunicorn", "--", "app:app" },
		    "--gunicorn" },
		{ { "-D", "app:app" }, "-D" },
		{ { "--", "--daemon", "app:app" }, "--daemon" },
		{ { "--warmup", "5", "app:app" }, "--warmup" },
		{ { "--" }, "gunicorn arguments" },
		{ { "-p" }, "-p" },
	};
	struct gw_config	cfg;
	char			err[512], *argv[8];
	size_t			i;
	int			argc;

	(void)state;
	test_env = base_env;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		argv[0] = "gunicorn-wrapper";
		for (argc = 1; argc < 7 && rows[i].args[argc - 1] != NULL;
		    argc++)
			argv[argc] = (char *)rows[i].args[argc - 1];
		argv[argc] = NULL;
		assert_int_equal(options_parse(argc, argv, table_getenv, &cfg,
		    err, sizeof err), OPTIONS_ERROR);
		if (strstr(err, rows[i].mention) == NULL)
			fail_msg("row %zu: '%s' does not mention '%s'", i, err,
			    rows[i].mention);
		assert_null(strchr(err, '\n'));
	}
}

static void
test_bad_env(void **state)
{
	static const char *const env[] = {
		"PATH=/usr/bin:/bin", "GW_GUNICORN=/bin/true",
		"GW_STOP_TIMEOUT=soon", NULL
	};
	struct gw_config	cfg;
	char			err[512];

	(void)state;
	assert_int_equal(parse(&cfg, err, env, "app:app", NULL),
	    OPTIONS_ERROR);
	assert_non_null(strstr(err, "GW_STOP_TIMEOUT"));
}

static void
test_help_version(void **state)
{
	struct gw_config	cfg;
	char			err[512];

	(void)state;
	assert_int_equal(parse(&cfg, err, base_env, "--help", NULL),
	    OPTIONS_HELP);
	assert_int_equal(parse(&cfg, err, base_env, "--version", NULL),
	    OPTIONS_VERSION);
	assert_int_equal(parse(&cfg, err, base_env, "--warmup", "3",
	    "--version", "--", "app:app", NULL), OPTIONS_VERSION);
}

static void
test_parse_numbers(void **state)
{
	const char	*e;
	double		 d;
	pid_t		 p;

	(void)state;
	assert_int_equal(parse_seconds("0.25", 0, 10, &d, &e), 0);
	assert_true(d == 0.25);
	assert_int_equal(parse_seconds("10", 0, 10, &d, &e), 0);
	assert_int_equal(parse_seconds("10.5", 0, 10, &d, &e), -1);
	assert_int_equal(parse_seconds("nan", 0, 10, &d, &e), -1);
	assert_int_equal(parse_seconds(" 1", 0, 10, &d, &e), -1);
	assert_int_equal(parse_seconds("1.2.3", 0, 10, &d, &e), -1);
	assert_int_equal(parse_seconds(".", 0, 10, &d, &e), -1);
	assert_int_equal(parse_pid("4711\n", &p, &e), 0);
	assert_int_equal(p, 4711);
	assert_int_equal(parse_pid("", &p, &e), -1);
	assert_int_equal(parse_pid("12x", &p, &e), -1);
	assert_int_equal(parse_pid("1", &p, &e), -1);
	assert_int_equal(parse_pid("99999999999", &p, &e), -1);
}

static void
test_history_ring(void **state)
{
	struct history			 h;
	const struct reload_entry	*e;
	unsigned			 i;

	(void)state;
	memset(&h, 0, sizeof h);
	for (i = 1; i <= HISTORY_MAX + 7; i++)
		assert_int_equal(history_add(&h, i, TRIGGER_SIGNAL)->id, i);
	assert_int_equal(h.count, HISTORY_MAX);
	e = history_at(&h, 0);
	assert_int_equal(e->id, 8);
	assert_int_equal(e->result, RESULT_RUNNING);
	assert_true(e->duration < 0);
	assert_int_equal(history_at(&h, HISTORY_MAX - 1)->id,
	    HISTORY_MAX + 7);
	assert_null(history_at(&h, HISTORY_MAX));
	history_clear(&h);
	assert_int_equal(h.count, 0);
}

/* The history file: round trip, then damage of every kind. */
static void
test_history_file(void **state)
{
	char			 dir[] = "/tmp/gw-unit-hist-XXXXXX", path[128];
	struct history		 h, back;
	struct reload_entry	*e;
	const struct reload_entry *b;
	char			 *buf;
	size_t			 len, skipped;
	FILE			*f;
	unsigned		 i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/app.history", dir);
	memset(&h, 0, sizeof h);
	for (i = 1; i <= 3; i++) {
		e = history_add(&h, i, i == 2 ? TRIGGER_CONTROL :
		    TRIGGER_SIGNAL);
		e->result = i == 3 ? RESULT_FAILED : RESULT_OK;
		e->duration = 1.5 * i;
		e->old_master = 100 + (pid_t)i;
		e->new_master = 200 + (pid_t)i;
		e->t_phase[PHASE_FORK] = 0.01;
		if (i == 3)
			e->reason = strdup("new master 203 exited");
		assert_int_equal(history_append(&h, path, e), 0);
	}
	memset(&back, 0, sizeof back);
	assert_int_equal(history_load(&back, path), 3);
	b = history_at(&back, 1);
	assert_int_equal(b->id, 2);
	assert_int_equal(b->trigger, TRIGGER_CONTROL);
	assert_int_equal(b->new_master, 202);
	assert_true(b->duration == 3.0);
	assert_true(b->t_phase[PHASE_FORK] == 0.01);
	assert_true(b->t_phase[PHASE_WARMUP] < 0);
	assert_string_equal(history_at(&back, 2)->reason,
	    "new master 203 exited");
	assert_int_equal(history_next_id(&back), 4);
	history_clear(&back);

	/* Read the file, then feed damaged copies to the parser. */
	f = fopen(path, "rb");
	assert_non_null(f);
	buf = malloc(65536);
	len = fread(buf, 1, 65536, f);
	fclose(f);
	/* Truncated in the last record: the first two survive. */
	memset(&back, 0, sizeof back);
	assert_int_equal(history_parse(&back, buf, len - 5, &skipped), 2);
	assert_true(skipped > 0);
	history_clear(&back);
	/* A flipped byte in the second record: CRC, skip it alone. */
	buf[len / 2] ^= 0x55;
	memset(&back, 0, sizeof back);
	assert_int_equal(history_parse(&back, buf, len, &skipped), 2);
	assert_int_equal(history_at(&back, 1)->id, 3);
	history_clear(&back);
	/* Garbage in front: skipped, the rest loads. */
	memset(&back, 0, sizeof back);
	assert_int_equal(history_parse(&back, "garbage!", 8, &skipped), 0);
	assert_int_equal(skipped, 8);
	history_clear(&back);
	free(buf);

	/* A corrupt file is reported, skipped and rewritten clean. */
	f = fopen(path, "ab");
	assert_non_null(f);
	fputs("\xff\xfe not a record", f);
	fclose(f);
	memset(&back, 0, sizeof back);
	assert_int_equal(history_load(&back, path), 3);
	history_clear(&back);
	memset(&back, 0, sizeof back);
	f = fopen(path, "rb");
	buf = malloc(65536);
	len = fread(buf, 1, 65536, f);
	fclose(f);
	assert_int_equal(history_parse(&back, buf, len, &skipped), 3);
	assert_int_equal(skipped, 0);
	free(buf);
	history_clear(&back);
	history_clear(&h);
	unlink(path);
	rmdir(dir);
}

/* The /proc readers, on a real child with a known environment. */
static void
test_proc_readers(void **state)
{
	char	 entry[64], *const envp[] = { "GUNICORN_PID=12345", NULL };
	pid_t	 child, *kids;
	size_t	 n, i;
	int	 fds[2], status, found = 0;
	char	 c;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(fds[0]);
		/* exec so that /proc/PID/environ is the new one. */
		dup2(fds[1], 3);
		execle("/bin/sh", "sh", "-c", "echo x >&3; exec sleep 30",
		    (char *)NULL, envp);
		_exit(127);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);

	assert_int_equal(proc_children(getpid(), &kids, &n), 0);
	for (i = 0; i < n; i++)
		found |= kids[i] == child;
	free(kids);
	assert_true(found);
	snprintf(entry, sizeof entry, "GUNICORN_PID=%d", 12345);
	/* The shell's exec of sleep may be under way: wait, bounded. */
	for (i = 0; i < 200 && proc_env_has(child, entry) != 1; i++)
		usleep(10000);
	assert_int_equal(proc_env_has(child, entry), 1);
	assert_int_equal(proc_env_has(child, "GUNICORN_PID=1234"), 0);
	assert_int_equal(proc_ppid(child), getpid());
	assert_true(proc_starttime(child) > 0);
	assert_true(proc_exists(child));
	assert_int_equal(proc_uid(child), geteuid());
	assert_false(proc_is_zombie(child));
	/* It exec'd: its argv is not where ours is. */
	assert_true(proc_arg_start(child) != proc_arg_start(getpid()));
	assert_true(proc_now_ticks() >= proc_starttime(child));

	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_false(proc_exists(child));
	assert_int_equal(proc_env_has(child, entry), -1);
}

static void
test_pidfile_read(void **state)
{
	char		 path[] = "/tmp/gw-unit-XXXXXX";
	const char	*e;
	int		 fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "4242\n", 5), 5);
	close(fd);
	assert_int_equal(pidfile_read(path, &e), 4242);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage", 7), 7);
	close(fd);
	assert_int_equal(pidfile_read(path, &e), -1);
	assert_non_null(e);
	unlink(path);
	assert_int_equal(pidfile_read(path, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dropin_takes_nothing),
		cmocka_unit_test(test_dash_form_and_pid_added),
		cmocka_unit_test(test_option_beats_env),
		cmocka_unit_test(test_supervisor_name),
		cmocka_unit_test(test_pid_forms),
		cmocka_unit_test(test_bad_command_lines),
		cmocka_unit_test(test_bad_env),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_history_ring),
		cmocka_unit_test(test_history_file),
		cmocka_unit_test(test_proc_readers),
		cmocka_unit_test(test_pidfile_read),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_ledger),
		cmocka_unit_test(test_release_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
