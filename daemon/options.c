/* SPDX-License-Identifier: MIT */
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

#include "errbuf.h"
#include "options.h"
#include "parse.h"
#include "rundir.h"
#include "setting.h"
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
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_PROBATION,
	OPT_RELEASES,
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
	[OPT_LOG_LEVEL] =	{ "--log-level",	"GW_LOG_LEVEL" },
	[OPT_LOG_FORMAT] =	{ "--log-format",	"GW_LOG_FORMAT" },
	[OPT_PROBATION] =	{ "--probation",	"GW_PROBATION" },
	[OPT_RELEASES] =	{ "--releases",		"GW_RELEASES" },
};

const char *
options_ready_name(enum ready_mode m)
{
	return m == READY_TIMER ? "timer" : "heartbeat";
}

void
options_usage(FILE *fp)
{
	fprintf(fp,
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
"  --log-level LEVEL    debug, info, notice, warning or error: the least\n"
"                       severe lines written (GW_LOG_LEVEL; default info)\n"
"  --log-format FORMAT  text, or json: one object per line\n"
"                       (GW_LOG_FORMAT; default text)\n"
"  --probation SECONDS  after warm-up, a worker dying abnormally fails the\n"
"                       reload (GW_PROBATION; default 5, 0: none)\n"
"  --check-config       check these settings and gunicorn's, say what\n"
"                       fail-safe cannot cover, and exit (0: usable)\n"
"  --releases DIR       deploy releases from DIR: gunicorn's --chdir is a\n"
"                       symlink into it, and each generation starts fresh\n"
"                       from its own release (GW_RELEASES)\n"
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

/*
 * The directory the wrapper was started in, as gunicorn sees it: $PWD if
 * that is the working directory (it keeps the operator's symlinks), else
 * getcwd(); malloc'd.
 */
static char *
start_dir(options_getenv get)
{
	char		 cwd[4096];
	const char	*pwd = get("PWD");
	struct stat	 a, b;

	if (pwd != NULL && pwd[0] == '/' && stat(pwd, &a) == 0 &&
	    stat(".", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return xstrdup(pwd);
	if (getcwd(cwd, sizeof cwd) == NULL)
		return xstrdup("/");
	return xstrdup(cwd);
}

/* Make path absolute against base (or the working directory). */
static char *
absolute(const char *path, const char *base)
{
	char	 cwd[4096], *out, *b;

	if (path[0] == '/')
		return xstrdup(path);
	if (base != NULL && base[0] == '/') {
		xasprintf(&out, "%s%s%s", base,
		    base[strlen(base) - 1] == '/' ? "" : "/", path);
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
 * gunicorn's options that name a file or directory.  gunicorn resolves a
 * relative one after its --chdir (or, for --chdir, --paste and --config,
 * which it reads before it applies --chdir, against the directory it was
 * started in), and on SIGUSR2 re-executes itself
 * from the directory it chdir'd to: a relative --chdir then names a
 * directory inside itself, and the new master cannot start.  The wrapper
 * hands gunicorn every one of them absolute, resolved as gunicorn's
 * first start would have resolved it, so that every generation agrees.
 */
enum path_base {
	BASE_START,		/* the wrapper's working directory */
	BASE_CHDIR,		/* gunicorn's --chdir, else the above */
	BASE_BIND,		/* BASE_CHDIR, only for "unix:PATH" */
	BASE_LOG,		/* BASE_CHDIR, except "-" (stdout/stderr) */
};

static const struct {
	const char	*name;	/* long option */
	char		 letter; /* its short form, or 0 */
	enum path_base	 base;
} path_opts[] = {
	{ "--chdir",		0,	BASE_START },
	{ "--paste",		0,	BASE_START },
	{ "--paster",		0,	BASE_START },
	{ "--config",		'c',	BASE_START },
	{ "--pid",		'p',	BASE_CHDIR },
	{ "--bind",		'b',	BASE_BIND },
	{ "--access-logfile",	0,	BASE_LOG },
	{ "--error-logfile",	0,	BASE_LOG },
	{ "--log-file",		0,	BASE_LOG },
	{ "--log-config",	0,	BASE_CHDIR },
	{ "--worker-tmp-dir",	0,	BASE_CHDIR },
	{ "--certfile",		0,	BASE_CHDIR },
	{ "--keyfile",		0,	BASE_CHDIR },
	{ "--ca-certs",		0,	BASE_CHDIR },
};
#define NPATH_OPTS	(sizeof path_opts / sizeof path_opts[0])

int
gunicorn_opt(const char *a, const char *lng, char shrt, const char **val,
    size_t *plen)
{
	size_t	n = strlen(lng);

	if (strncmp(a, lng, n) == 0 && (a[n] == '\0' || a[n] == '=')) {
		*val = a[n] == '=' ? a + n + 1 : NULL;
		*plen = n + 1;
		return 1;
	}
	if (shrt != 0 && a[0] == '-' && a[1] == shrt) {
		*val = a[2] != '\0' ? a + 2 : NULL;
		*plen = 2;
		return 1;
	}
	return 0;
}

/* If a is one of path_opts, its index (*val, *plen: gunicorn_opt()'s);
 * -1 otherwise. */
static int
path_opt(const char *a, const char **val, size_t *plen)
{
	size_t	i;

	for (i = 0; i < NPATH_OPTS; i++) {
		if (gunicorn_opt(a, path_opts[i].name, path_opts[i].letter,
		    val, plen))
			return (int)i;
	}
	return -1;
}

/* The part of an option's value that is a path, or NULL for none. */
static const char *
path_part(int k, const char *v)
{
	switch (path_opts[k].base) {
	case BASE_BIND:
		return strncmp(v, "unix:", 5) == 0 ? v + 5 : NULL;
	case BASE_LOG:
		return strcmp(v, "-") == 0 ? NULL : v;
	default:
		return v;
	}
}

static int
is_daemon_flag(const char *a)
{
	/* -D, -D clustered with other flags (-RD, -Dw4), and the
	 * abbreviations argparse accepts (--da ... --daemon). */
	return (a[0] == '-' && a[1] != '-' && a[1] != '\0' &&
	    strspn(a + 1, "RD") > 0 &&
	    memchr(a + 1, 'D', strspn(a + 1, "RD")) != NULL) ||
	    (strlen(a) >= 4 && strncmp(a, "--daemon", strlen(a)) == 0);
}

struct gargs {
	const char	*pidfile;	/* last -p/--pid */
	const char	*chdir;		/* last --chdir */
	const char	*config;	/* last -c/--config */
	const char	*relative;	/* first relative path option */
};

/*
 * Look through gunicorn's arguments for what concerns us (argparse's
 * forms: "-p X", "-pX", "--pid X", "--pid=X"; the last one wins), and
 * refuse -D/--daemon: a daemonised gunicorn would escape both us and the
 * supervisor.  where names the source in errors.
 */
static int
scan_gunicorn_args(int argc, char **argv, const char *where,
    struct gargs *g, char *err, size_t errlen)
{
	const char	*v, *p;
	size_t		 plen;
	int		 i, k;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (is_daemon_flag(argv[i]))
			return errbuf_set(err, errlen, "%sgunicorn's %s is not "
			    "supported: the wrapper must stay gunicorn's parent "
			    "(remove it, and daemon = True from a config file)",
			    where, argv[i]);
		if ((k = path_opt(argv[i], &v, &plen)) == -1)
			continue;
		if (v == NULL) {
			if (i + 1 >= argc)
				return errbuf_set(err, errlen,
				    "%sgunicorn's %s "
				    "needs a value", where, argv[i]);
			v = argv[++i];
		}
		if (path_opts[k].letter == 'p')
			g->pidfile = v;
		else if (strcmp(path_opts[k].name, "--chdir") == 0)
			g->chdir = v;
		else if (path_opts[k].letter == 'c')
			g->config = v;
		if (g->relative == NULL && (p = path_part(k, v)) != NULL &&
		    *p != '\0' && *p != '/')
			g->relative = path_opts[k].name;
	}
	if (g->pidfile != NULL && *g->pidfile == '\0')
		return errbuf_set(err, errlen,
		    "%sgunicorn's pidfile is empty", where);
	return 0;
}

/* Make each relative path in gunicorn's argv absolute (see path_opts). */
static void
absolute_gunicorn_args(int argc, char **argv, const char *start,
    const char *chdir_abs)
{
	const char	*v, *p, *base;
	char		*a, *abs, *out;
	size_t		 plen;
	int		 i, k, next;

	for (i = 0; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if ((k = path_opt(a, &v, &plen)) == -1)
			continue;
		next = v == NULL;
		if (next && (v = argv[i + 1]) == NULL)
			break;
		if ((p = path_part(k, v)) == NULL || *p == '\0' || *p == '/') {
			i += next;
			continue;
		}
		base = path_opts[k].base == BASE_START || chdir_abs == NULL ?
		    start : chdir_abs;
		abs = absolute(p, base);
		/* Keep what precedes the path: "--pid=", "-p", "unix:". */
		xasprintf(&out, "%.*s%.*s%s", next ? 0 : (int)plen,
		    next ? "" : a, (int)(p - v), v, abs);
		free(abs);
		if (next) {
			free(argv[i + 1]);
			argv[++i] = out;
		} else {
			free(argv[i]);
			argv[i] = out;
		}
	}
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

/* A setting's value out of its table's limits (setting.h), in one line:
 * "--warmup: 'x': not a number of seconds (seconds, 0 < s <= 3600)". */
static enum options_action
bad_setting(char *err, size_t errlen, const char *from, const char *val,
    const char *why, enum setting_id id)
{
	char	range[64];

	setting_range(&setting_table[id], range, sizeof range);
	(void)errbuf_set(err, errlen, "%s: '%s': %s (seconds, %s)", from, val,
	    why, range);
	return OPTIONS_ERROR;
}

/* The pidfile (path, owned from here), and gunicorn's PIDFILE.2 with it. */
static void
pidfile_set(struct gw_config *cfg, char *path)
{
	free(cfg->pidfile);
	free(cfg->pidfile2);
	cfg->pidfile = path;
	xasprintf(&cfg->pidfile2, "%s.2", path);
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
	errbuf_vset(err, errlen, fmt, ap);
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
	struct gargs	 g, ge;
	char		*start = NULL, *chdir_abs = NULL, *envargs = NULL, *p;
	char		*envv[64], *tok, *save;
	int		 envc = 0, check = 0;
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
					return errbuf_set(err, errlen,
					    "%s is a wrapper option: put the "
					    "wrapper's options before -- and "
					    "gunicorn's after it",
					    settings[j].option),
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
			if (strcmp(a, "--check-config") == 0) {
				check = 1;
				continue;
			}
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
						return errbuf_set(err, errlen,
						    "%s needs a value",
						    settings[j].option),
						    OPTIONS_ERROR;
					val[j] = argv[++i];
					break;
				}
			}
			if (j == OPT_COUNT)
				return errbuf_set(err, errlen,
				    "unknown option %s (gunicorn's arguments "
				    "go after --)", a),
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
		return errbuf_set(err, errlen, "%s: invalid name '%s' (1 to %d "
		    "printable characters, no '/' or spaces)", from[OPT_NAME],
		    val[OPT_NAME], GW_NAME_MAX), OPTIONS_ERROR;

	/* Numbers and modes. */
	cfg->warmup = GW_WARMUP_DEFAULT;
	if (val[OPT_WARMUP] != NULL && setting_parse(
	    &setting_table[SETTING_WARMUP], val[OPT_WARMUP], &cfg->warmup,
	    &errstr) == -1)
		return bad_setting(err, errlen, from[OPT_WARMUP],
		    val[OPT_WARMUP], errstr, SETTING_WARMUP);
	cfg->stop_timeout = GW_STOP_TIMEOUT_DEFAULT;
	if (val[OPT_STOP_TIMEOUT] != NULL && parse_seconds(
	    val[OPT_STOP_TIMEOUT], 0, GW_STOP_TIMEOUT_MAX, &cfg->stop_timeout,
	    &errstr) == -1)
		return errbuf_set(err, errlen,
		    "%s: '%s': %s (seconds, 0 < s <= %g)",
		    from[OPT_STOP_TIMEOUT], val[OPT_STOP_TIMEOUT], errstr,
		    GW_STOP_TIMEOUT_MAX), OPTIONS_ERROR;
	/* Probation: 0 turns it off (the table allows it). */
	cfg->probation = GW_PROBATION_DEFAULT;
	if (val[OPT_PROBATION] != NULL && setting_parse(
	    &setting_table[SETTING_PROBATION], val[OPT_PROBATION],
	    &cfg->probation, &errstr) == -1)
		return bad_setting(err, errlen, from[OPT_PROBATION],
		    val[OPT_PROBATION], errstr, SETTING_PROBATION);
	cfg->ready = READY_HEARTBEAT;
	if (val[OPT_READY] != NULL) {
		if (strcmp(val[OPT_READY], "timer") == 0)
			cfg->ready = READY_TIMER;
		else if (strcmp(val[OPT_READY], "heartbeat") != 0)
			return errbuf_set(err, errlen,
			    "%s: '%s': must be heartbeat or timer",
			    from[OPT_READY], val[OPT_READY]),
			    OPTIONS_ERROR;
	}

	/* Logging. */
	cfg->log_level = LOG_LEVEL_INFO;
	if (val[OPT_LOG_LEVEL] != NULL && *val[OPT_LOG_LEVEL] != '\0' &&
	    log_level_parse(val[OPT_LOG_LEVEL], &cfg->log_level) == -1)
		return errbuf_set(err, errlen, "%s: '%s': must be debug, info, "
		    "notice, warning or error", from[OPT_LOG_LEVEL],
		    val[OPT_LOG_LEVEL]), OPTIONS_ERROR;
	cfg->log_format = LOG_FORMAT_TEXT;
	if (val[OPT_LOG_FORMAT] != NULL && *val[OPT_LOG_FORMAT] != '\0' &&
	    log_format_parse(val[OPT_LOG_FORMAT], &cfg->log_format) == -1)
		return errbuf_set(err, errlen, "%s: '%s': must be text or json",
		    from[OPT_LOG_FORMAT], val[OPT_LOG_FORMAT]), OPTIONS_ERROR;

	/* The gunicorn executable. */
	if (val[OPT_GUNICORN] == NULL || *val[OPT_GUNICORN] == '\0')
		val[OPT_GUNICORN] = "gunicorn";

	/* gunicorn's own arguments. */
	if (first >= argc)
		return errbuf_set(err, errlen,
		    "no gunicorn arguments (at least "
		    "the application, e.g. myapp:app)"), OPTIONS_ERROR;
	memset(&g, 0, sizeof g);
	memset(&ge, 0, sizeof ge);
	if (scan_gunicorn_args(argc - first, argv + first, "", &g, err,
	    errlen) == -1)
		return OPTIONS_ERROR;
	/* Run directory. */
	if (val[OPT_RUN_DIR] != NULL && *val[OPT_RUN_DIR] == '\0')
		return errbuf_set(err, errlen,
		    "%s: empty path", from[OPT_RUN_DIR]),
		    OPTIONS_ERROR;

	if ((cfg->gunicorn = find_executable(val[OPT_GUNICORN],
	    get("PATH"))) == NULL)
		return errbuf_set(err, errlen, "%s: '%s': not found or not "
		    "executable", from[OPT_GUNICORN], val[OPT_GUNICORN]),
		    OPTIONS_ERROR;
	cfg->name = xstrdup(val[OPT_NAME]);
	/*
	 * GUNICORN_CMD_ARGS: gunicorn reads it (shlex-split) under the
	 * command line.  We cannot rewrite it, so a relative path there is
	 * refused; a pidfile there is the operator's, and ours is not added.
	 */
	if (get("GUNICORN_CMD_ARGS") != NULL) {
		envargs = xstrdup(get("GUNICORN_CMD_ARGS"));
		for (tok = strtok_r(envargs, " \t\n", &save); tok != NULL &&
		    envc < (int)(sizeof envv / sizeof envv[0]);
		    tok = strtok_r(NULL, " \t\n", &save))
			envv[envc++] = tok;
		i = scan_gunicorn_args(envc, envv, "GUNICORN_CMD_ARGS: ", &ge,
		    err, errlen);
		if (i == 0 && ge.relative != NULL)
			i = errbuf_set(err, errlen,
			    "GUNICORN_CMD_ARGS: gunicorn's "
			    "%s is a relative path, which gunicorn re-resolves "
			    "from another directory when it re-executes on "
			    "reload: make it absolute", ge.relative);
		if (i == -1) {
			free(envargs);
			options_free(cfg);
			return OPTIONS_ERROR;
		}
		if (g.pidfile == NULL)
			g.pidfile = ge.pidfile;
	}

	start = start_dir(get);
	/* gunicorn reads ./gunicorn.conf.py, from where it starts, when no
	 * -c says otherwise: its settings may matter to us (pidfile). */
	cfg->config_file = g.config != NULL || ge.config != NULL ||
	    access("gunicorn.conf.py", F_OK) == 0;
	cfg->env_args = envargs != NULL;
	if (g.chdir != NULL)
		chdir_abs = absolute(g.chdir, start);
	else if (ge.chdir != NULL)
		chdir_abs = xstrdup(ge.chdir);	/* absolute: checked */
	if (val[OPT_RELEASES] != NULL && *val[OPT_RELEASES] != '\0') {
		if (g.chdir == NULL) {
			free(start);
			free(chdir_abs);
			free(envargs);
			options_free(cfg);
			return errbuf_set(err, errlen, "%s needs gunicorn's "
			    "--chdir on the command line: the symlink that "
			    "names the serving release", from[OPT_RELEASES]),
			    OPTIONS_ERROR;
		}
		cfg->releases = absolute(val[OPT_RELEASES], start);
		cfg->link = xstrdup(chdir_abs);
	}
	cfg->run_dir = val[OPT_RUN_DIR] != NULL ?
	    absolute(val[OPT_RUN_DIR], NULL) :
	    rundir_default(get("XDG_RUNTIME_DIR"));
	if (g.pidfile != NULL)
		pidfile_set(cfg, absolute(g.pidfile, chdir_abs != NULL ?
		    chdir_abs : start));
	else {
		xasprintf(&p, "%s/%s.pid", cfg->run_dir, cfg->name);
		pidfile_set(cfg, p);
		cfg->pidfile_added = 1;
	}

	/* argv for exec: gunicorn, its arguments, maybe --pid PATH. */
	n = argc - first;
	cfg->argv = xcalloc((size_t)n + 4, sizeof *cfg->argv);
	cfg->argv[0] = xstrdup(cfg->gunicorn);
	for (i = 0; i < n; i++)
		cfg->argv[i + 1] = xstrdup(argv[first + i]);
	cfg->argc = n + 1;
	absolute_gunicorn_args(n, cfg->argv + 1, start, chdir_abs);
	free(start);
	free(chdir_abs);
	free(envargs);
	if (cfg->pidfile_added) {
		cfg->argv[cfg->argc++] = xstrdup("--pid");
		cfg->argv[cfg->argc++] = xstrdup(cfg->pidfile);
	}
	cfg->argv[cfg->argc] = NULL;


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
	xasprintf(&cfg->record, "%s/%s.record", cfg->run_dir, cfg->name);
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
			    "be 1, yes or true, or 0, no or false",
			    from[OPT_PREFLIGHT], val[OPT_PREFLIGHT]);
	}
	if (val[OPT_SOCKET_GROUP] != NULL && *val[OPT_SOCKET_GROUP] != '\0' &&
	    resolve_group(val[OPT_SOCKET_GROUP], &cfg->socket_gid) == -1)
		return options_fail(cfg, err, errlen, "%s: no such group '%s'",
		    from[OPT_SOCKET_GROUP], val[OPT_SOCKET_GROUP]);

	return check ? OPTIONS_CHECK : OPTIONS_RUN;
}

void
options_use_pidfile(struct gw_config *cfg, const char *path)
{
	if (cfg->pidfile_added && cfg->argc >= 3 &&
	    strcmp(cfg->argv[cfg->argc - 2], "--pid") == 0) {
		free(cfg->argv[--cfg->argc]);
		free(cfg->argv[--cfg->argc]);
		cfg->argv[cfg->argc] = NULL;
	}
	cfg->pidfile_added = 0;
	pidfile_set(cfg, xstrdup(path));
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
	free(cfg->pidfile2);
	free(cfg->socket);
	free(cfg->history);
	free(cfg->record);
	free(cfg->releases);
	free(cfg->link);
	memset(cfg, 0, sizeof *cfg);
}
