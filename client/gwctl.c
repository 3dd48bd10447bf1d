/* SPDX-License-Identifier: MIT */
/*
 * gwctl.c: the control client.  Operators and deploy scripts use it to see
 * a wrapper's state and to reload with zero downtime, waiting for the real
 * outcome:
 *
 *	gwctl reload app && echo deployed
 *
 * It sends one msgpack request (proto.h) per invocation and prints the
 * reply for people (each command's printer, cmds.c), as JSON with
 * --json, or as Prometheus metrics (metrics.c).  Before sending it checks who serves the socket (conn.c).
 * Its exit status is the contract for scripts (gwctl(1), EXIT STATUS):
 * 0 success, 1 the daemon refused or the operation failed, 2 usage, 3 the
 * daemon could not be reached, 5 the socket is served by someone we do
 * not trust; `status NAME` follows the LSB instead: 0 serving, 3 not
 * running or not serving, 4 unknown.  Every error is one line that names
 * the socket.
 */
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "clock.h"
#include "cmds.h"
#include "conn.h"
#include "escape.h"
#include "json.h"
#include "metrics.h"
#include "parser.h"
#include "proto.h"
#include "reply.h"
#include "result.h"
#include "rundir.h"
#include "show.h"
#include "xmalloc.h"

#ifndef GW_VERSION
#define GW_VERSION "0.1.0"
#endif

#define EXIT_OK		0
#define EXIT_FAILED	1
#define EXIT_USAGE	2
#define EXIT_UNREACH	3
#define EXIT_UNTRUSTED	5
#define EXIT_DOWN	6	/* a reload failed, and nothing serves */
/* `status NAME`, as LSB init scripts and supervisorctl answer. */
#define STATUS_SERVING	0
#define STATUS_DOWN	3	/* not running, or no serving master */
#define STATUS_UNKNOWN	4	/* running maybe, but no answer */

#define DEFAULT_TIMEOUT	10.0	/* for answers that come at once */
#define LIST_TIMEOUT	2.0	/* per daemon, for `status` of all */
#define PROGRESS_TICK	250	/* ms between redraws of the progress line */

/* What this invocation works with. */
struct ctl {
	struct ctl_args	 a;
	char		*dir;		/* the run directory */
	int		 dir_default;	/* not from GW_RUN_DIR */
	int		 progress;	/* draw reload progress on stderr */
};

/* The outcome of one request to one daemon. */
struct answer {
	struct conn		 c;
	enum conn_status	 st;	/* CONN_OK: reply is set */
	const msgpack_object	*reply;
	int			 sent;		/* the request went out */
	int			 timed_out;	/* ... and -t ran out */
	char			 err[1024];
};

static const char *
code_name(enum conn_status st)
{
	switch (st) {
	case CONN_OK:
		return "ok";
	case CONN_NOT_RUNNING:
		return "not-running";
	case CONN_UNREACHABLE:
		return "unreachable";
	case CONN_UNTRUSTED:
		return "untrusted";
	}
	return "?";
}

/* gwctl's own error: one line on stderr, and JSON on stdout with --json. */
static void
ctl_error(const struct ctl *ctl, const char *code, const char *msg)
{
	char	buf[2048];

	/* Paths and names come from a directory listing or argv: escaped. */
	escape_cstr(buf, sizeof buf, msg);
	fprintf(stderr, "gwctl: %s\n", buf);
	if (ctl->a.json) {
		json_print_error(stdout, msg, code);
		printf("\n");
	}
}

/*
 * A reload's result object when no final reply was read: "error" if the
 * request never went out, "unknown" if it did (the reload may run on and
 * succeed), code "timeout" when -t ran out.
 */
static void
result_unanswered(const char *name, const struct answer *ans)
{
	result_print_error(stdout, name, ans->sent ? RESULT_UNKNOWN :
	    RESULT_ERROR, ans->timed_out ? "timeout" : code_name(ans->st),
	    ans->err);
}

/* The exit status of a reload's, deploy's or rollback's final reply:
 * decided by result_outcome(), as the result object is. */
static int
reload_exit(const msgpack_object *m, int waited)
{
	switch (result_outcome(m, waited)) {
	case RESULT_OK:
	case RESULT_ACCEPTED:
		return EXIT_OK;
	case RESULT_DOWN:
		return EXIT_DOWN;
	case RESULT_REFUSED:
		return reply_kind(m) == REPLY_REFUSED ? EXIT_UNREACH :
		    EXIT_FAILED;
	case RESULT_FAILED:
		return EXIT_FAILED;
	case RESULT_UNKNOWN:
	case RESULT_ERROR:
		break;
	}
	return EXIT_UNREACH;
}

/*
 * Under another user's account gwctl looks in another run directory: if
 * a socket of that name exists in someone's default one, say where.
 */
static void
hint_run_dir(const struct ctl *ctl, const char *name, const char *path,
    char *err, size_t errlen)
{
	const char	*pats[] = { "/run/gunicorn-wrapper/%s.sock",
			    "/run/user/*/gunicorn-wrapper/%s.sock",
			    "/tmp/gunicorn-wrapper-*/%s.sock" };
	struct passwd	*pw;
	struct stat	 st;
	char		 pat[512], *d;
	glob_t		 g;
	size_t		 i, j, l = strlen(err);

	if (!ctl->dir_default || ctl->a.socket != NULL || name == NULL)
		return;
	for (i = 0; i < sizeof pats / sizeof *pats; i++) {
		snprintf(pat, sizeof pat, pats[i], name);
		if (glob(pat, 0, NULL, &g) != 0)
			continue;
		for (j = 0; j < g.gl_pathc; j++) {
			if (strcmp(g.gl_pathv[j], path) == 0)
				continue;
			/* Say whose it is: a hint must not lure anyone. */
			d = xstrdup(g.gl_pathv[j]);
			dirname(d);
			if (stat(d, &st) == -1) {
				free(d);
				continue;
			}
			pw = getpwuid(st.st_uid);
			snprintf(err + l, errlen - l, "; hint: there is %s, in "
			    "a directory of user %s%s%u: run gwctl as that user, "
			    "or set GW_RUN_DIR=%s", g.gl_pathv[j],
			    pw != NULL ? pw->pw_name : "", pw != NULL ?
			    ", uid " : "uid ", (unsigned)st.st_uid, d);
			free(d);
			globfree(&g);
			return;
		}
		globfree(&g);
	}
	snprintf(err + l, errlen - l, "; gwctl looked in %s, the default for "
	    "uid %u (GW_RUN_DIR names another)", ctl->dir,
	    (unsigned)geteuid());
}

/* 1 if others than its owner may create dir (its parent is writable by them). */
static int
squattable(const char *dir)
{
	struct stat	 st;
	char		*copy = xstrdup(dir);
	int		 open;

	open = stat(dirname(copy), &st) == -1 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
	free(copy);
	return open;
}

/* The owner of the directory path is in; (uid_t)-1 if unknown. */
static uid_t
dir_owner(const char *path)
{
	struct stat	 st;
	char		*copy = xstrdup(path);
	uid_t		 uid = (uid_t)-1;

	if (stat(dirname(copy), &st) == 0)
		uid = st.st_uid;
	free(copy);
	return uid;
}

/* The progress line: redrawn in place, on stderr, only on a terminal. */
static void
progress_draw(const char *prefix, const char *line)
{
	struct winsize	 ws;
	char		 buf[512], name[128];
	size_t		 cols = 80;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		cols = ws.ws_col;
	if (prefix != NULL)
		escape_cstr(name, sizeof name, prefix);
	snprintf(buf, sizeof buf, "%s%s%s", prefix ? name : "",
	    prefix ? ": " : "", line);
	/* One line that never wraps, or \r could not redraw it. */
	if (strlen(buf) > cols - 1)
		buf[cols - 1] = '\0';
	fprintf(stderr, "\r\033[K%s", buf);
	fflush(stderr);
}

/*
 * Ask the daemon at path (called name, NULL with -s) and read its final
 * reply into ans; progress messages before it are drawn, not returned.
 */
static void
ask(const struct ctl *ctl, const char *name, const char *path,
    const msgpack_sbuffer *req, double timeout, struct answer *ans)
{
	const msgpack_object	*o, *p;
	msgpack_sbuffer		 last;
	msgpack_packer		 pk;
	msgpack_unpacked	 u;
	double			 deadline = timeout > 0 ? now_mono() + timeout :
				    0, got = 0;
	char			 line[256];
	size_t			 off;
	uid_t			 owner = dir_owner(path);
	int			 r, drawn = 0;

	memset(ans, 0, sizeof *ans);
	ans->c.fd = -1;
	msgpack_unpacked_init(&ans->c.u);
	/*
	 * Our default directory, where others can create it first (in
	 * /tmp), is ours alone: one someone else made is a trap, whoever
	 * serves the socket in it.  (/run/gunicorn-wrapper may well belong
	 * to the daemons' user: only root could have made it.)
	 */
	if (ctl->dir_default && ctl->a.socket == NULL && squattable(ctl->dir) &&
	    owner != (uid_t)-1 && owner != 0 && owner != geteuid()) {
		snprintf(ans->err, sizeof ans->err, "%s: the run directory "
		    "%s belongs to uid %u, not to you (uid %u) or root: not "
		    "trusting it (remove it, or set GW_RUN_DIR)", path,
		    ctl->dir, (unsigned)owner, (unsigned)geteuid());
		ans->st = CONN_UNTRUSTED;
		return;
	}
	ans->st = conn_open(&ans->c, path, owner, ans->err, sizeof ans->err);
	if (ans->st == CONN_NOT_RUNNING)
		hint_run_dir(ctl, name, path, ans->err, sizeof ans->err);
	if (ans->st != CONN_OK)
		return;
	ans->c.timeout = timeout;
	if (conn_send(&ans->c, req, ans->err, sizeof ans->err) == -1) {
		ans->st = CONN_UNREACHABLE;
		return;
	}
	ans->sent = 1;
	msgpack_sbuffer_init(&last);
	for (;;) {
		r = conn_recv(&ans->c, deadline, ctl->progress ?
		    PROGRESS_TICK : -1, &o, ans->err, sizeof ans->err);
		if (r == -1) {
			ans->st = CONN_UNREACHABLE;
			/* Its own word: a clock read here could still be
			 * short of the deadline that ended the wait. */
			ans->timed_out = ans->c.timed_out;
			break;
		}
		/*
		 * Progress comes only when asked for (a status reply has a
		 * "progress" key of its own); the final reply of a reload
		 * has "reload" (or is an error).
		 */
		if (r == 1 && ctl->progress && reply_bool(o, PROTO_K_OK) &&
		    (p = reply_map(o, PROTO_K_PROGRESS)) != NULL &&
		    proto_get(o, PROTO_K_RELOAD) == NULL) {
			/* Kept packed: o is gone at the next receive. */
			msgpack_sbuffer_clear(&last);
			msgpack_packer_init(&pk, &last, msgpack_sbuffer_write);
			msgpack_pack_object(&pk, *p);
			got = now_mono();
		} else if (r == 1) {
			ans->reply = o;
			break;
		}
		if (!ctl->progress || last.size == 0)
			continue;
		off = 0;
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, last.data, last.size, &off) ==
		    MSGPACK_UNPACK_SUCCESS && show_progress(line, sizeof line,
		    &u.data, now_mono() - got) == 0) {
			progress_draw(ctl->a.action == CTL_ALL ?
			    name : NULL, line);
			drawn = 1;
		}
		msgpack_unpacked_destroy(&u);
	}
	if (drawn) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
	msgpack_sbuffer_destroy(&last);
}

/* Exit status of a failed answer (st != CONN_OK) or of a reply. */
static int
exit_status(const struct ctl *ctl, const struct answer *ans)
{
	int	status = ctl->a.action == CTL_ONE && ctl->a.cmd == CMD_STATUS;

	switch (ans->st) {
	case CONN_UNTRUSTED:
		return EXIT_UNTRUSTED;
	case CONN_NOT_RUNNING:
		return status ? STATUS_DOWN : EXIT_UNREACH;
	case CONN_UNREACHABLE:
		return status ? STATUS_UNKNOWN : EXIT_UNREACH;
	case CONN_OK:
		break;
	}
	if (cmd_reloads(ctl->a.cmd))
		return reload_exit(ans->reply, ctl->a.wait);
	switch (reply_kind(ans->reply)) {
	case REPLY_REFUSED:
		return status ? STATUS_UNKNOWN : EXIT_UNREACH;
	case REPLY_FAILED:
		return status ? STATUS_UNKNOWN : EXIT_FAILED;
	case REPLY_OK:
		break;
	}
	if (!status)
		return EXIT_OK;
	/* Serving: a master, and the wrapper neither starting nor stopping. */
	{
		long long	master;

		if ((reply_str_is(ans->reply, PROTO_K_STATE, PROTO_STATE_RUNNING) ||
		    reply_str_is(ans->reply, PROTO_K_STATE, PROTO_STATE_RELOADING)) &&
		    reply_int(ans->reply, PROTO_K_MASTER, 1, INT32_MAX,
		    &master) == 0)
			return STATUS_SERVING;
		return STATUS_DOWN;
	}
}

/*
 * The serving master's start time (Unix seconds) for the metrics: the
 * daemon's "master_started" when it says, else the kernel's, read from
 * /proc if that PID is still the daemon's child; -1 if unknown.
 */
static double
master_started(const msgpack_object *m)
{
	FILE		*f;
	char		 path[64], buf[1024], *p, *tok, *save;
	long long	 master, daemon, ppid = -1, start = -1, btime = -1;
	long		 hz = sysconf(_SC_CLK_TCK);
	double		 v;
	int		 i;

	if ((v = reply_range(m, PROTO_K_MASTER_STARTED, 1, 1e11, -1)) > 0)
		return v;
	if (reply_int(m, PROTO_K_MASTER, 1, INT32_MAX, &master) == -1 ||
	    reply_int(m, PROTO_K_PID, 1, INT32_MAX, &daemon) == -1 || hz <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%lld/stat", master);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	p = fgets(buf, sizeof buf, f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return -1;
	/* After "(comm)": state ppid ... starttime is the 20th field. */
	for (i = 0, tok = strtok_r(p + 1, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save), i++) {
		if (i == 1)
			ppid = strtoll(tok, NULL, 10);
		if (i == 19) {
			start = strtoll(tok, NULL, 10);
			break;
		}
	}
	if (ppid != daemon || start < 0)
		return -1;
	if ((f = fopen("/proc/stat", "re")) == NULL)
		return -1;
	while (fgets(buf, sizeof buf, f) != NULL)
		if (sscanf(buf, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	if (btime <= 0)
		return -1;
	return (double)btime + (double)start / (double)hz;
}

/* The sockets of the run directory, as names, sorted; -1 if unreadable. */
static int
list_names(const struct ctl *ctl, char ***names)
{
	struct dirent	**ents;
	size_t		  len;
	int		  i, n, found = 0;

	if ((n = scandir(ctl->dir, &ents, NULL, alphasort)) == -1)
		return -1;
	*names = xcalloc((size_t)n + 1, sizeof **names);
	for (i = 0; i < n; i++) {
		len = strlen(ents[i]->d_name);
		if (len > 5 && strcmp(ents[i]->d_name + len - 5, ".sock") == 0)
			xasprintf(&(*names)[found++], "%.*s", (int)(len - 5),
			    ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return found;
}

static void
free_names(char **names, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Worse first: which exit status wins when several daemons answer. */
static int
worse(int a, int b)
{
	static const int	order[] = { EXIT_UNTRUSTED, EXIT_DOWN,
				    EXIT_UNREACH, EXIT_FAILED };
	size_t			i;

	for (i = 0; i < sizeof order / sizeof *order; i++)
		if (a == order[i] || b == order[i])
			return order[i];
	return a > b ? a : b;
}

/*
 * status, reload --all: every daemon whose socket is in the run
 * directory, in name order, one at a time (a rolling reload on one host).
 * The exit status is the worst seen: 5 untrusted, 6 down (failed, and
 * nothing serves), 3 unreachable, 1 failed, 0.
 */
static int
all_daemons(struct ctl *ctl)
{
	const struct ctl_args	*a = &ctl->a;
	struct answer		 ans;
	msgpack_sbuffer		 sb;
	char			 path[4200], err[1024], **names, name[256],
				 buf[1024];
	int			 i, n, rc = EXIT_OK, st;

	if ((n = list_names(ctl, &names)) == -1) {
		snprintf(err, sizeof err, "cannot read run directory %s: %s",
		    ctl->dir, strerror(errno));
		ctl_error(ctl, "unreachable", err);
		return EXIT_UNREACH;
	}
	if (n == 0 && !a->json) {
		fprintf(stderr, "gwctl: no gunicorn-wrapper sockets in %s\n",
		    ctl->dir);
		free_names(names, n);
		return EXIT_UNREACH;
	}
	cmds_pack(&sb, &ctl->a, ctl->progress);
	if (a->json)
		printf("{");
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s.sock", ctl->dir, names[i]);
		escape_cstr(name, sizeof name, names[i]);
		if (a->json) {
			printf("%s", i ? ", " : "");
			json_print_string(stdout, names[i]);
			printf(": ");
		}
		fflush(stdout);
		ask(ctl, names[i], path, &sb, a->timeout > 0 ? a->timeout :
		    a->cmd == CMD_RELOAD ? 0 : LIST_TIMEOUT, &ans);
		/* status of all keeps the plain meanings: 0, 1, 3, 5 (not
		 * status NAME's LSB ones). */
		st = exit_status(ctl, &ans);
		rc = worse(rc, st);
		escape_cstr(buf, sizeof buf, ans.err);
		if (ans.st != CONN_OK && a->json && a->cmd == CMD_RELOAD)
			result_unanswered(names[i], &ans);
		else if (ans.st != CONN_OK && a->json)
			json_print_error(stdout, ans.err, code_name(ans.st));
		else if (ans.st != CONN_OK)
			printf("%-24s %-12s %s\n", name, ans.st ==
			    CONN_UNTRUSTED ? "UNTRUSTED" : "UNREACHABLE", buf);
		else if (a->json && a->cmd == CMD_RELOAD)
			result_print(stdout, names[i], ans.reply, a->wait);
		else if (a->json)
			json_print(stdout, ans.reply);
		else if (st != EXIT_OK && (st == EXIT_UNREACH ||
		    proto_get(ans.reply, PROTO_K_RELOAD) == NULL))
			printf("%-24s %-12s %s: %s\n", name, st ==
			    EXIT_UNREACH ? "UNREACHABLE" : "REFUSED", path,
			    reply_str(ans.reply, PROTO_K_ERROR, buf,
			    sizeof buf) ? buf : "refused");
		else if (a->cmd == CMD_RELOAD && !a->wait) {
			long long id;

			printf("%s: reload %lld requested\n", name,
			    reply_int(ans.reply, PROTO_K_ID, 0, UINT32_MAX,
			    &id) == 0 ? id : 0);
		} else if (a->cmd == CMD_RELOAD)
			show_reload(stdout, stderr, names[i], ans.reply);
		else
			show_status_line(stdout, names[i], ans.reply);
		fflush(stdout);
		conn_close(&ans.c);
	}
	msgpack_sbuffer_destroy(&sb);
	free_names(names, n);
	if (a->json)
		printf("}\n");
	return rc;
}

/*
 * metrics [NAME]: one status request per daemon, then the whole
 * exposition at once.  A daemon that does not answer is "up 0", not an
 * error: the file must still be written, for that is the news.  Exit 0
 * once printed; 2 or 3 only when there is nothing to print.
 */
static int
metrics(struct ctl *ctl, const char *path)
{
	struct metrics_target	*t;
	struct answer		*ans;
	msgpack_sbuffer		 sb;
	char			 err[1024], **names = NULL, *one[1], *p,
				*base = NULL;
	int			 i, n;

	if (path != NULL) {
		/* With -s and no name: the socket's name, less ".sock". */
		one[0] = base = xstrdup(ctl->a.name != NULL ? ctl->a.name :
		    strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path);
		if (ctl->a.name == NULL && strlen(base) > 5 &&
		    strcmp(base + strlen(base) - 5, ".sock") == 0)
			base[strlen(base) - 5] = '\0';
		n = 1;
	} else if ((n = list_names(ctl, &names)) == -1) {
		snprintf(err, sizeof err, "cannot read run directory %s: %s",
		    ctl->dir, strerror(errno));
		ctl_error(ctl, "unreachable", err);
		return EXIT_UNREACH;
	}
	t = xcalloc((size_t)n + 1, sizeof *t);
	ans = xcalloc((size_t)n + 1, sizeof *ans);
	cmds_pack(&sb, &ctl->a, ctl->progress);
	for (i = 0; i < n; i++) {
		if (path != NULL)
			p = xstrdup(path);
		else
			xasprintf(&p, "%s/%s.sock", ctl->dir, names[i]);
		t[i].name = path != NULL ? one[0] : names[i];
		ask(ctl, t[i].name, p, &sb, ctl->a.timeout > 0 ?
		    ctl->a.timeout : LIST_TIMEOUT, &ans[i]);
		free(p);
		t[i].master_started = -1;
		if (ans[i].st != CONN_OK) {
			/* Said on stderr: stdout is the metrics file. */
			escape_cstr(err, sizeof err, ans[i].err);
			fprintf(stderr, "gwctl: %s\n", err);
			continue;
		}
		t[i].reply = ans[i].reply;
		t[i].master_started = master_started(ans[i].reply);
	}
	metrics_print(stdout, t, (size_t)n);
	for (i = 0; i < n; i++)
		conn_close(&ans[i].c);
	msgpack_sbuffer_destroy(&sb);
	free(ans);
	free(t);
	if (names != NULL)
		free_names(names, n);
	free(base);
	return EXIT_OK;
}

/* The one-daemon commands' output, once the final reply is in. */
static void
show_answer(const struct ctl *ctl, const char *path, const struct answer *ans)
{
	const struct ctl_args	*a = &ctl->a;
	const msgpack_object	*m = ans->reply;
	char			 buf[1024], who[512];

	escape_cstr(who, sizeof who, a->name ? a->name : path);
	if (a->json && cmd_reloads(a->cmd))
		result_print(stdout, a->name ? a->name : path, m, a->wait);
	else if (a->json)
		json_print(stdout, m);
	if (a->json)
		printf("\n");
	if (cmd_reloads(a->cmd) && a->wait &&
	    proto_get(m, PROTO_K_RELOAD) != NULL) {
		if (!a->json || result_outcome(m, 1) != RESULT_OK)
			show_reload(stdout, stderr, NULL, m);
	} else if (cmd_reloads(a->cmd) && a->wait &&
	    reply_kind(m) == REPLY_OK) {
		escape_cstr(who, sizeof who, path);
		fprintf(stderr, "gwctl: %s: the daemon's reply holds no "
		    "outcome\n", who);
	} else if (reply_kind(m) != REPLY_OK) {
		escape_cstr(who, sizeof who, path);
		fprintf(stderr, "gwctl: %s: %s\n", who,
		    reply_str(m, PROTO_K_ERROR, buf, sizeof buf) ? buf :
		    "request failed");
	} else if (!a->json)
		cmds_print(stdout, a, who, m);
}

int
main(int argc, char **argv)
{
	struct ctl	 ctl;
	struct answer	 ans;
	msgpack_sbuffer	 sb;
	char		 err[512], *path = NULL;
	const char	*env;
	double		 timeout;
	int		 rc;

	memset(&ctl, 0, sizeof ctl);
	if (parser_parse(argc, argv, &ctl.a, err, sizeof err) == -1) {
		/* Nothing of a bad command line is trusted: not even the
		 * command, so the error is the plain object. */
		memset(&ctl.a, 0, sizeof ctl.a);
		ctl.a.json = parser_wants_json(argc, argv);
		ctl_error(&ctl, "usage", err);
		return EXIT_USAGE;
	}
	if (cmds_check(err, sizeof err) == -1) {
		ctl_error(&ctl, "internal", err);
		return EXIT_FAILED;
	}
	if (ctl.a.action == CTL_HELP) {
		parser_usage(stdout);
		return EXIT_OK;
	}
	if (ctl.a.action == CTL_VERSION) {
		printf("gwctl %s\n", GW_VERSION);
		return EXIT_OK;
	}
	env = getenv("GW_RUN_DIR");
	ctl.dir_default = env == NULL || *env == '\0';
	ctl.dir = !ctl.dir_default ? xstrdup(env) :
	    rundir_default(getenv("XDG_RUNTIME_DIR"));
	/* Progress only for people: a terminal, no --json, a waited reload. */
	ctl.progress = cmd_reloads(ctl.a.cmd) && (ctl.a.action == CTL_ONE ||
	    ctl.a.action == CTL_ALL) && ctl.a.wait && !ctl.a.json &&
	    isatty(STDERR_FILENO);
	if (ctl.a.action == CTL_ALL) {
		fflush(stdout);
		rc = all_daemons(&ctl);
		free(ctl.dir);
		return rc;
	}
	if (ctl.a.socket != NULL)
		path = xstrdup(ctl.a.socket);
	else if (ctl.a.name != NULL)
		xasprintf(&path, "%s/%s.sock", ctl.dir, ctl.a.name);
	if (ctl.a.action == CTL_METRICS || ctl.a.action == CTL_METRICS_ALL) {
		rc = metrics(&ctl, path);
		free(path);
		free(ctl.dir);
		return rc;
	}

	/* A waiting reload answers when it ends: no limit unless -t. */
	timeout = ctl.a.timeout > 0 ? ctl.a.timeout :
	    cmd_reloads(ctl.a.cmd) && ctl.a.wait ? 0 : DEFAULT_TIMEOUT;
	cmds_pack(&sb, &ctl.a, ctl.progress);
	ask(&ctl, ctl.a.name, path, &sb, timeout, &ans);
	msgpack_sbuffer_destroy(&sb);
	rc = exit_status(&ctl, &ans);
	if (ans.st != CONN_OK && ctl.a.json && cmd_reloads(ctl.a.cmd)) {
		escape_cstr(err, sizeof err, ans.err);
		fprintf(stderr, "gwctl: %s\n", err);
		result_unanswered(ctl.a.name != NULL ? ctl.a.name : path, &ans);
		printf("\n");
	} else if (ans.st != CONN_OK)
		ctl_error(&ctl, code_name(ans.st), ans.err);
	else
		show_answer(&ctl, path, &ans);
	conn_close(&ans.c);
	free(path);
	free(ctl.dir);
	return rc;
}
