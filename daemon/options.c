/*
 * options.c: turn argv and the environment into struct gw_config.
 *
 * The split between the wrapper's options and gunicorn's is decided by the
 * first "--": everything before it is ours (and must be one of our long
 * options), everything after is gunicorn's, untouched.  Without "--" every
 * argument is gunicorn's, so the wrapper can replace `gunicorn` in a
 * supervisord command= line as the original bash script did; gunicorn's
 * own -w, -n, -p, -c are never taken.  The one exception is a lone
 * --help or --version, which are ours.
 *
 * From gunicorn's arguments we read (without changing them) the pidfile,
 * and we refuse -D/--daemon: a daemonised gunicorn would escape both us and
 * the supervisor.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "parse.h"
#include "rundir.h"
#include "xmalloc.h"

enum opt {
	OPT_NAME,
	OPT_GUNICORN,
	OPT_WARMUP,
	OPT_READY,
	OPT_STOP_TIMEOUT,
	OPT_RUN_DIR,
	OPT_SOCKET,
	OPT_SOCKET_GROUP,
	OPT_PREFLIGHT,		/* a flag: --preflight, GW_PREFLIGHT=1 */
	OPT_PROBATION,
	OPT_COUNT
};

/* One entry per setting: its option, its variable. */
static const struct {
	const char	*option;
	const char	*env;
} settings[OPT_COUNT] = {
	[OPT_NAME] =		{ "--name",		"GW_NAME" },
	[OPT_GUNICORN] =	{ "--gunicorn",		"GW_GUNICORN" },
	[OPT_WARMUP] =		{ "--warmup",		"GW_WARMUP" },
	[OPT_READY] =		{ "--ready",		"GW_READY" },
	[OPT_STOP_TIMEOUT] =	{ "--stop-timeout",	"GW_STOP_TIMEOUT" },
	[OPT_RUN_DIR] =		{ "--run-dir",		"GW_RUN_DIR" },
	[OPT_SOCKET] =		{ "--socket",		"GW_SOCKET" },
	[OPT_SOCKET_GROUP] =	{ "--socket-group",	"GW_SOCKET_GROUP" },
	[OPT_PREFLIGHT] =	{ "--preflight",	"GW_PREFLIGHT" },
	[OPT_PROBATION] =	{ "--probation",	"GW_PROBATION" },
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
options_ready_name(enum ready_mode m)
{
	return m == READY_TIMER ? "timer" : "heartbeat";
}

void
options_usage(void)
{
	fprintf(stderr,
"usage: gunicorn-wrapper [options] -- gunicorn-arguments...\n"
"       gunicorn-wrapper gunicorn-arguments...   (settings from GW_* variables)\n"
"\n"
"  --name NAME          name in logs and files (GW_NAME; default\n"
"                       $SUPERVISOR_PROCESS_NAME, else gunicorn)\n"
"  --gunicorn PATH      gunicorn executable (GW_GUNICORN; default gunicorn)\n"
"  --warmup SECONDS     budget for a new generation to become ready\n"
"                       (GW_WARMUP; default 30)\n"
"  --ready MODE         heartbeat or timer (GW_READY; default heartbeat)\n"
"  --stop-timeout SECS  wait for a master to exit before SIGKILL\n"
"                       (GW_STOP_TIMEOUT; default 60)\n"
"  --run-dir DIR        runtime directory (GW_RUN_DIR)\n"
"  --socket PATH        control socket (GW_SOCKET; default RUN_DIR/NAME.sock)\n"
"  --socket-group GROUP members may use the socket (GW_SOCKET_GROUP)\n"
"  --preflight          gunicorn --check-config before each reload\n"
"                       (GW_PREFLIGHT=1)\n"
"  --probation SECONDS  after warm-up, a worker dying abnormally fails the\n"
"                       reload (GW_PROBATION; default 5, 0: none)\n"
"  --help, --version\n"
"\n"
"Signals: HUP reloads with zero downtime; TERM/INT stop gracefully;\n"
"QUIT stops quickly; USR1, TTIN, TTOU are passed to the gunicorn master.\n");
}

static int
valid_name(const char *s)
{
	size_t	n = strlen(s);

	if (n == 0 || n > GW_NAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '/' || *s <= ' ' || *s == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * The executable named prog on PATH (or prog itself, if it has a '/'),
 * malloc'd; NULL if there is none.  We exec exactly this path, so the
 * check and the exec cannot disagree.
 */
static char *
find_executable(const char *prog, const char *path)
{
	char	 buf[4096];
	const char *p, *e;
	size_t	 n;

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = e + 1) {
		e = strchr(p, ':');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (snprintf(buf, sizeof buf, "%.*s/%s", (int)n,
		    n == 0 ? "." : p, prog) < (int)sizeof buf &&
		    access(buf, X_OK) == 0)
			return xstrdup(buf);
		if (e == NULL)
			return NULL;
	}
}

/* Make path absolute against base (or the working directory). */
static char *
absolute(const char *path, const char *base)
{
	char	 cwd[4096], *out, *b;

	if (path[0] == '/')
		return xstrdup(path);
	if (base != NULL && base[0] == '/') {
		xasprintf(&out, "%s/%s", base, path);
		return out;
	}
	if (getcwd(cwd, sizeof cwd) == NULL)
		return xstrdup(path);
	if (base != NULL) {
		xasprintf(&b, "%s/%s", cwd, base);
		xasprintf(&out, "%s/%s", b, path);
		free(b);
	} else
		xasprintf(&out, "%s/%s", cwd, path);
	return out;
}

/*
 * Look through gunicorn's arguments for what concerns us.  gunicorn uses
 * argparse, so -p takes "-p X" and "-pX", --pid takes "--pid X" and
 * "--pid=X"; --chdir matters because a relative pidfile is relative to it.
 */
static int
scan_gunicorn_args(int argc, char **argv, char **pidfile, char **chdir_to,
    char *err, size_t errlen)
{
	int	 i;
	char	*a;

	for (i = 0; i < argc; i++) {
		a = argv[i];
		/* -D, -D clustered with other flags (-RD, -Dw4), and the
		 * abbreviations argparse accepts (--da ... --daemon). */
		if ((a[0] == '-' && a[1] != '-' && a[1] != '\0' &&
		    strspn(a + 1, "RD") > 0 &&
		    memchr(a + 1, 'D', strspn(a + 1, "RD")) != NULL) ||
		    (strlen(a) >= 4 && strncmp(a, "--daemon", strlen(a)) == 0))
			return fail(err, errlen, "gunicorn's %s is not "
			    "supported: the wrapper must stay gunicorn's parent "
			    "(remove it, and daemon = True from a config file)",
			    a);
		if (strcmp(a, "-p") == 0 || strcmp(a, "--pid") == 0 ||
		    strcmp(a, "--chdir") == 0) {
			if (i + 1 >= argc)
				return fail(err, errlen, "gunicorn's %s needs "
				    "a value", a);
			if (strcmp(a, "--chdir") == 0)
				*chdir_to = argv[++i];
			else
				*pidfile = argv[++i];
		} else if (strncmp(a, "--pid=", 6) == 0)
			*pidfile = a + 6;
		else if (strncmp(a, "--chdir=", 8) == 0)
			*chdir_to = a + 8;
		else if (strncmp(a, "-p", 2) == 0 && a[2] != '\0')
			*pidfile = a + 2;
	}
	if (*pidfile != NULL && **pidfile == '\0')
		return fail(err, errlen, "gunicorn's pidfile is empty");
	return 0;
}

/* A group by name or number. */
static int
resolve_group(const char *s, gid_t *gid)
{
	struct group	*gr;
	const char	*p;

	if ((gr = getgrnam(s)) != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	if (p != s && *p == '\0' && strlen(s) < 10) {
		*gid = (gid_t)strtoul(s, NULL, 10);
		return 0;
	}
	return -1;
}

/* Fail after cfg has been partly filled: free what it holds. */
static enum options_action
options_fail(struct gw_config *cfg, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum options_action
options_fail(struct gw_config *cfg, char *err, size_t errlen,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	options_free(cfg);
	return OPTIONS_ERROR;
}

enum options_action
options_parse(int argc, char **argv, options_getenv get,
    struct gw_config *cfg, char *err, size_t errlen)
{
	const char	*val[OPT_COUNT] = { NULL };
	const char	*from[OPT_COUNT] = { NULL };
	const char	*errstr, *a;
	char		*pidfile = NULL, *chdir_to = NULL;
	int		 i, j, dash = -1, first, n;
	size_t		 len;

	memset(cfg, 0, sizeof *cfg);
	err[0] = '\0';

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0))
		return OPTIONS_HELP;
	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return OPTIONS_VERSION;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			dash = i;
			break;
		}
	}
	for (j = 0; j < OPT_COUNT; j++) {
		val[j] = get(settings[j].env);
		from[j] = settings[j].env;
	}

	if (dash == -1) {
		/*
		 * Drop-in form.  Our own options here would go to gunicorn,
		 * which would reject them with a confusing message: say so.
		 */
		if (argc > 1) {
			a = argv[1];
			for (j = OPT_GUNICORN; j < OPT_COUNT; j++) {
				len = strlen(settings[j].option);
				if (strncmp(a, settings[j].option, len) == 0 &&
				    (a[len] == '\0' || a[len] == '='))
					return fail(err, errlen, "%s is a "
					    "wrapper option: put the wrapper's "
					    "options before -- and gunicorn's "
					    "after it", settings[j].option),
					    OPTIONS_ERROR;
			}
		}
		first = 1;
	} else {
		for (i = 1; i < dash; i++) {
			a = argv[i];
			if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
				return OPTIONS_HELP;
			if (strcmp(a, "--version") == 0)
				return OPTIONS_VERSION;
			if (strcmp(a, "--preflight") == 0) {
				val[OPT_PREFLIGHT] = "1";
				from[OPT_PREFLIGHT] = "--preflight";
				continue;
			}
			for (j = 0; j < OPT_COUNT; j++) {
				if (j == OPT_PREFLIGHT)
					continue;
				len = strlen(settings[j].option);
				if (strncmp(a, settings[j].option, len) != 0)
					continue;
				if (a[len] == '=') {
					val[j] = a + len + 1;
					break;
				}
				if (a[len] == '\0') {
					if (i + 1 >= dash)
						return fail(err, errlen,
						    "%s needs a value",
						    settings[j].option),
						    OPTIONS_ERROR;
					val[j] = argv[++i];
					break;
				}
			}
			if (j == OPT_COUNT)
				return fail(err, errlen, "unknown option %s "
				    "(gunicorn's arguments go after --)", a),
				    OPTIONS_ERROR;
			from[j] = settings[j].option;
		}
		first = dash + 1;
	}

	/* Name. */
	if (val[OPT_NAME] == NULL) {
		val[OPT_NAME] = get("SUPERVISOR_PROCESS_NAME");
		from[OPT_NAME] = "SUPERVISOR_PROCESS_NAME";
		if (val[OPT_NAME] == NULL || *val[OPT_NAME] == '\0')
			val[OPT_NAME] = "gunicorn";
	}
	if (!valid_name(val[OPT_NAME]))
		return fail(err, errlen, "%s: invalid name '%s' (1 to %d "
		    "printable characters, no '/' or spaces)", from[OPT_NAME],
		    val[OPT_NAME], GW_NAME_MAX), OPTIONS_ERROR;

	/* Numbers and modes. */
	cfg->warmup = GW_WARMUP_DEFAULT;
	if (val[OPT_WARMUP] != NULL && parse_seconds(val[OPT_WARMUP], 0,
	    GW_WARMUP_MAX, &cfg->warmup, &errstr) == -1)
		return fail(err, errlen, "%s: '%s': %s (seconds, 0 < s <= %g)",
		    from[OPT_WARMUP], val[OPT_WARMUP], errstr, GW_WARMUP_MAX),
		    OPTIONS_ERROR;
	cfg->stop_timeout = GW_STOP_TIMEOUT_DEFAULT;
	if (val[OPT_STOP_TIMEOUT] != NULL && parse_seconds(
	    val[OPT_STOP_TIMEOUT], 0, GW_STOP_TIMEOUT_MAX, &cfg->stop_timeout,
	    &errstr) == -1)
		return fail(err, errlen, "%s: '%s': %s (seconds, 0 < s <= %g)",
		    from[OPT_STOP_TIMEOUT], val[OPT_STOP_TIMEOUT], errstr,
		    GW_STOP_TIMEOUT_MAX), OPTIONS_ERROR;
	/* Probation: 0 turns it off, so 0 is allowed here. */
	cfg->probation = GW_PROBATION_DEFAULT;
	if (val[OPT_PROBATION] != NULL && (parse_seconds(val[OPT_PROBATION],
	    -1, GW_PROBATION_MAX, &cfg->probation, &errstr) == -1 ||
	    (cfg->probation < 0 && (errstr = "must not be negative"))))
		return fail(err, errlen, "%s: '%s': %s (seconds, 0 <= s <= %g)",
		    from[OPT_PROBATION], val[OPT_PROBATION], errstr,
		    GW_PROBATION_MAX), OPTIONS_ERROR;
	cfg->ready = READY_HEARTBEAT;
	if (val[OPT_READY] != NULL) {
		if (strcmp(val[OPT_READY], "timer") == 0)
			cfg->ready = READY_TIMER;
		else if (strcmp(val[OPT_READY], "heartbeat") != 0)
			return fail(err, errlen, "%s: '%s': must be heartbeat "
			    "or timer", from[OPT_READY], val[OPT_READY]),
			    OPTIONS_ERROR;
	}

	/* The gunicorn executable. */
	if (val[OPT_GUNICORN] == NULL || *val[OPT_GUNICORN] == '\0')
		val[OPT_GUNICORN] = "gunicorn";

	/* gunicorn's own arguments. */
	if (first >= argc)
		return fail(err, errlen, "no gunicorn arguments (at least "
		    "the application, e.g. myapp:app)"), OPTIONS_ERROR;
	if (scan_gunicorn_args(argc - first, argv + first, &pidfile,
	    &chdir_to, err, errlen) == -1)
		return OPTIONS_ERROR;

	/* Run directory. */
	if (val[OPT_RUN_DIR] != NULL && *val[OPT_RUN_DIR] == '\0')
		return fail(err, errlen, "%s: empty path", from[OPT_RUN_DIR]),
		    OPTIONS_ERROR;

	if ((cfg->gunicorn = find_executable(val[OPT_GUNICORN],
	    get("PATH"))) == NULL)
		return fail(err, errlen, "%s: '%s': not found or not "
		    "executable", from[OPT_GUNICORN], val[OPT_GUNICORN]),
		    OPTIONS_ERROR;
	cfg->name = xstrdup(val[OPT_NAME]);
	cfg->run_dir = val[OPT_RUN_DIR] != NULL ?
	    absolute(val[OPT_RUN_DIR], NULL) :
	    rundir_default(get("XDG_RUNTIME_DIR"));
	if (pidfile != NULL)
		cfg->pidfile = absolute(pidfile, chdir_to);
	else {
		xasprintf(&cfg->pidfile, "%s/%s.pid", cfg->run_dir, cfg->name);
		cfg->pidfile_added = 1;
	}

	/* The control socket: must fit in sun_path. */
	if (val[OPT_SOCKET] != NULL && *val[OPT_SOCKET] == '\0')
		return options_fail(cfg, err, errlen, "%s: empty path",
		    from[OPT_SOCKET]);
	if (val[OPT_SOCKET] != NULL)
		cfg->socket = absolute(val[OPT_SOCKET], NULL);
	else
		xasprintf(&cfg->socket, "%s/%s.sock", cfg->run_dir, cfg->name);
	if (strlen(cfg->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return options_fail(cfg, err, errlen, "%s: socket path %s is "
		    "too long (%zu bytes, at most %zu)", val[OPT_SOCKET] ?
		    from[OPT_SOCKET] : "run directory and name", cfg->socket,
		    strlen(cfg->socket),
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	xasprintf(&cfg->history, "%s/%s.history", cfg->run_dir, cfg->name);
	cfg->socket_gid = (gid_t)-1;
	if (val[OPT_PREFLIGHT] != NULL) {
		if (strcmp(val[OPT_PREFLIGHT], "1") == 0 ||
		    strcmp(val[OPT_PREFLIGHT], "yes") == 0 ||
		    strcmp(val[OPT_PREFLIGHT], "true") == 0)
			cfg->preflight = 1;
		else if (strcmp(val[OPT_PREFLIGHT], "0") != 0 &&
		    strcmp(val[OPT_PREFLIGHT], "no") != 0 &&
		    strcmp(val[OPT_PREFLIGHT], "false") != 0 &&
		    *val[OPT_PREFLIGHT] != '\0')
			return options_fail(cfg, err, errlen, "%s: '%s': must "
			    "be 1 or 0", from[OPT_PREFLIGHT],
			    val[OPT_PREFLIGHT]);
	}
	if (val[OPT_SOCKET_GROUP] != NULL && *val[OPT_SOCKET_GROUP] != '\0' &&
	    resolve_group(val[OPT_SOCKET_GROUP], &cfg->socket_gid) == -1)
		return options_fail(cfg, err, errlen, "%s: no such group '%s'",
		    from[OPT_SOCKET_GROUP], val[OPT_SOCKET_GROUP]);

	/* argv for exec: gunicorn, its arguments, maybe --pid PATH. */
	n = argc - first;
	cfg->argv = xcalloc((size_t)n + 4, sizeof *cfg->argv);
	cfg->argv[0] = xstrdup(cfg->gunicorn);
	for (i = 0; i < n; i++)
		cfg->argv[i + 1] = xstrdup(argv[first + i]);
	cfg->argc = n + 1;
	if (cfg->pidfile_added) {
		cfg->argv[cfg->argc++] = xstrdup("--pid");
		cfg->argv[cfg->argc++] = xstrdup(cfg->pidfile);
	}
	cfg->argv[cfg->argc] = NULL;
	return OPTIONS_RUN;
}

void
options_free(struct gw_config *cfg)
{
	int	i;

	if (cfg == NULL)
		return;
	if (cfg->argv != NULL) {
		for (i = 0; i < cfg->argc; i++)
			free(cfg->argv[i]);
		free(cfg->argv);
	}
	free(cfg->name);
	free(cfg->gunicorn);
	free(cfg->run_dir);
	free(cfg->pidfile);
	free(cfg->socket);
	free(cfg->history);
	memset(cfg, 0, sizeof *cfg);
}
