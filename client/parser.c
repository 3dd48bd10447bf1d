/* SPDX-License-Identifier: MIT */
/*
 * parser.c: gwctl's argument parsing (see parser.h).
 *
 *   gwctl [-s SOCKET] [--json] [-t TIMEOUT] COMMAND [NAME] [ARGS]
 *
 * Options may stand anywhere, in getopt_long(3)'s forms, until "--"; the
 * first word that is not one is the command, the next ones its arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "errbuf.h"
#include "parse.h"
#include "parser.h"
#include "proto.h"

void
parser_usage(FILE *f)
{
	char	keys[128];
	size_t	i;

	setting_keys(keys, sizeof keys);
	fprintf(f, "usage: gwctl [-s socket] [--json] [-t timeout] command "
	    "[name] [args]\n\n");
	/* The commands from their table, and the client's own. */
	for (i = 0; i < CMD_COUNT; i++) {
		if (cmd_get((enum cmd_id)i) == NULL)
			continue;
		/* set's keys: the settings table's. */
		fprintf(f, "  %-27s %s%s%s\n", cmd_table[i].usage,
		    cmd_table[i].help, cmd_table[i].words ==
		    CMD_W_NAME_KEY_VALUE ? ": " : "", cmd_table[i].words ==
		    CMD_W_NAME_KEY_VALUE ? keys : "");
		if (i == CMD_RELOAD)
			fprintf(f, "  %-27s %s\n", "reload --all", "reload "
			    "every daemon in the run directory, in turn");
	}
	fprintf(f,
"  metrics [name]              Prometheus text format, for node_exporter\n"
"\n"
"  -s, --socket=socket   the daemon's socket (instead of a name)\n"
"  -t, --timeout=secs    seconds to wait for an answer (for reload: its\n"
"                        outcome)\n"
"  --json                print the daemon's reply (or gwctl's error) as JSON\n"
"  --no-wait             reload, deploy, rollback: return once queued\n"
"  --wait                ... wait for the outcome (the default)\n"
"  --all                 reload: every daemon of the run directory\n"
"  -h, --help            this text;  --version: gwctl's version\n"
"\n"
"Options may follow the command; -- ends them.\n"
"\n"
"Exit status: 0 ok, 1 refused or failed, 2 usage, 3 daemon unreachable,\n"
"5 the socket is served by an untrusted user, 6 a reload failed and\n"
"nothing serves any more.  status NAME: 0 serving,\n"
"3 not running or not serving, 4 status unknown (see gwctl(1)).\n");
}

/* The options, as getopt_long(3) takes them: "-t 5", "-t5", "--timeout 5",
 * "--timeout=5", a unique prefix of a long name, and "--" to end them. */
static const struct option long_options[] = {
	{ "help",	no_argument,		NULL, 'h' },
	{ "version",	no_argument,		NULL, 'V' },
	{ "json",	no_argument,		NULL, 'j' },
	{ "no-wait",	no_argument,		NULL, 'N' },
	{ "wait",	no_argument,		NULL, 'W' },
	{ "all",	no_argument,		NULL, 'A' },
	{ "socket",	required_argument,	NULL, 's' },
	{ "timeout",	required_argument,	NULL, 't' },
	{ NULL,		0,			NULL, 0 }
};

/*
 * "-" first: every word comes back in order (code 1), so that options may
 * follow the command whatever POSIXLY_CORRECT says, and "--" ends them;
 * ":" next: a missing value is told from an unknown option.
 */
#define SHORT_OPTIONS	"-:hs:t:"

/* The option the user typed, for a message: argv's word up to any '='. */
static void
bad_option(char *err, size_t errlen, char **argv, int optind_after,
    const char *fmt)
{
	char		 word[64];
	const char	*w = argv[optind_after - 1];
	size_t		 l = strcspn(w, "=");

	if (w[0] == '-' && w[1] != '-' && optopt != 0)
		(void)snprintf(word, sizeof word, "-%c", optopt);
	else
		(void)snprintf(word, sizeof word, "%.*s", (int)(l < 60 ? l : 60),
		    w);
	(void)errbuf_set(err, errlen, fmt, word);
}

/* The options into a, the other words into words[]: their count, or -1
 * with the error in err.  Stops at --help or --version. */
static int
parse_options(int argc, char **argv, struct ctl_args *a,
    const char **words, int maxwords, char *err, size_t errlen)
{
	const char	*errstr;
	int		 c, n = 0;

	opterr = 0;		/* our messages, on one line */
	optind = 0;		/* glibc: a full restart, not a resume */
	while ((c = getopt_long(argc, argv, SHORT_OPTIONS, long_options,
	    NULL)) != -1) {
		switch (c) {
		case 'h':
			a->action = CTL_HELP;
			return 0;
		case 'V':
			a->action = CTL_VERSION;
			return 0;
		case 'j':
			a->json = 1;
			break;
		case 'N':
			a->wait = 0;
			break;
		case 'W':
			a->wait = 1;
			break;
		case 'A':
			a->all = 1;
			break;
		case 's':
			if (*optarg == '\0')
				return errbuf_set(err, errlen, "the socket "
				    "path is empty");
			a->socket = optarg;
			break;
		case 't':
			if (parse_seconds(optarg, 0, 86400, &a->timeout,
			    &errstr) == -1)
				return errbuf_set(err, errlen, "timeout '%s': %s",
				    optarg, errstr);
			break;
		case 1:
			if (n == maxwords)
				return errbuf_set(err, errlen,
				    "too many arguments");
			words[n++] = optarg;
			break;
		case ':':
			bad_option(err, errlen, argv, optind, optopt == 's' ?
			    "%s needs a socket path" :
			    "%s needs a number of seconds");
			return -1;
		default:
			/* An unknown option, an ambiguous prefix, or a value
			 * given to one that takes none (optopt: its code). */
			bad_option(err, errlen, argv, optind,
			    strncmp(argv[optind - 1], "--", 2) == 0 &&
			    optopt != 0 ? "option %s takes no value" :
			    "unknown or ambiguous option %s");
			return -1;
		}
	}
	/* After "--": words, even those that start with '-'. */
	for (; optind < argc; optind++) {
		if (n == maxwords)
			return errbuf_set(err, errlen, "too many arguments");
		words[n++] = argv[optind];
	}
	return n;
}

int
parser_wants_json(int argc, char **argv)
{
	int	 c, json = 0;

	opterr = 0;
	optind = 0;		/* glibc: a full restart, not a resume */
	while ((c = getopt_long(argc, argv, SHORT_OPTIONS, long_options,
	    NULL)) != -1)
		if (c == 'j')
			json = 1;
	return json;
}

/* DIR as the daemon takes it: absolute (from our working directory),
 * symlinks left for the daemon to resolve. */
static int
absolute_dir(const char *dir, char *out, size_t size, char *err,
    size_t errlen)
{
	char	cwd[PROTO_PATH_MAX];
	int	n;

	if (*dir == '\0')
		return errbuf_set(err, errlen, "deploy: empty directory");
	if (dir[0] == '/')
		n = snprintf(out, size, "%s", dir);
	else if (getcwd(cwd, sizeof cwd) == NULL)
		return errbuf_set(err, errlen, "deploy: getcwd: %s",
		    strerror(errno));
	else
		n = snprintf(out, size, "%s/%s", cwd, dir);
	if (n < 0 || (size_t)n >= size)
		return errbuf_set(err, errlen, "deploy: directory path longer "
		    "than %zu bytes", size - 1);
	return 0;
}

/*
 * The command's words: NAME and then k more, or with -s the k alone (the
 * socket names the daemon).  0 with a->name set (NULL with -s), or -1 and
 * the command's usage.
 */
static int
name_then(struct ctl_args *a, const struct cmd_entry *e, const char **words,
    int n, int k, char *err, size_t errlen)
{
	if (n == k + 2)
		a->name = words[1];
	else if (!(n == k + 1 && a->socket != NULL))
		return errbuf_set(err, errlen, "usage: gwctl %s", e->usage);
	return 0;
}

/* A setting's value as typed, against its entry (NULL: key is unknown). */
static int
parse_value(const char *key, const struct setting_entry *e, const char *v,
    struct ctl_args *a, char *err, size_t errlen)
{
	const char	*why;
	char		 keys[128], range[64];

	if (e == NULL) {
		setting_keys(keys, sizeof keys);
		return errbuf_set(err, errlen, "unknown setting '%s' (%s)", key,
		    keys);
	}
	if (setting_parse(e, v, &a->value, &why) == -1) {
		setting_range(e, range, sizeof range);
		return errbuf_set(err, errlen, "%s '%s': %s (%s)", e->key, v,
		    why, range);
	}
	a->setting = e;
	return 0;
}

int
parser_parse(int argc, char **argv, struct ctl_args *a, char *err,
    size_t errlen)
{
	const struct cmd_entry	*e;
	const char		*words[8];
	int			 n;

	memset(a, 0, sizeof *a);
	a->wait = 1;
	n = parse_options(argc, argv, a, words,
	    (int)(sizeof words / sizeof words[0]), err, errlen);
	if (n == -1)
		return -1;
	if (a->action == CTL_HELP || a->action == CTL_VERSION)
		return 0;
	if (n == 0) {
		char	 names[256];
		size_t	 j, l = 0;

		for (j = 0; j < CMD_COUNT; j++) {
			if (cmd_get((enum cmd_id)j) != NULL)
				l += (size_t)snprintf(names + l, sizeof names -
				    l, "%s, ", cmd_table[j].name);
			if (l >= sizeof names)
				l = sizeof names - 1;
		}
		return errbuf_set(err, errlen, "no command (%smetrics)", names);
	}

	/* With -s the socket names the daemon and NAME may be left out. */
#define NAME_ARG(k)	(a->socket != NULL && n == (k) ? NULL : words[k])
	if (strcmp(words[0], "metrics") == 0) {
		if (n > 2)
			return errbuf_set(err, errlen, "metrics takes at most "
			    "a name");
		a->action = n == 1 && a->socket == NULL ? CTL_METRICS_ALL :
		    CTL_METRICS;
		a->cmd = CMD_STATUS;
		a->name = n == 2 ? words[1] : NULL;
	} else if ((e = cmd_find(words[0])) == NULL)
		return errbuf_set(err, errlen, "unknown command '%s'",
		    words[0]);
	else if (e->id == CMD_RELOAD && a->all) {
		if (n > 1 || a->socket != NULL)
			return errbuf_set(err, errlen, "reload --all takes no "
			    "name and no -s: it reloads every daemon in the "
			    "run directory");
		a->action = CTL_ALL;
		a->cmd = e->id;
	} else {
		a->action = CTL_ONE;
		a->cmd = e->id;
		switch (e->words) {
		case CMD_W_NAME_OPT:
			if (n > 2)
				return errbuf_set(err, errlen, "%s takes at "
				    "most a name", e->name);
			if (n == 1 && a->socket == NULL)
				a->action = CTL_ALL;
			a->name = n == 2 ? words[1] : NULL;
			break;
		case CMD_W_NAME:
			if (n > 2 || (n < 2 && a->socket == NULL))
				return errbuf_set(err, errlen,
				    "usage: gwctl %s", e->usage);
			a->name = NAME_ARG(1);
			break;
		case CMD_W_NAME_VALUE:
			if (name_then(a, e, words, n, 1, err, errlen) == -1)
				return -1;
			if (parse_value(e->setting->key, e->setting,
			    words[n - 1], a, err, errlen) == -1)
				return -1;
			break;
		case CMD_W_NAME_KEY_VALUE:
			if (name_then(a, e, words, n, 2, err, errlen) == -1)
				return -1;
			if (parse_value(words[n - 2], setting_find(words[n - 2],
			    strlen(words[n - 2])), words[n - 1], a, err,
			    errlen) == -1)
				return -1;
			break;
		case CMD_W_NAME_DIR:
			if (name_then(a, e, words, n, 1, err, errlen) == -1)
				return -1;
			if (absolute_dir(words[n - 1], a->release,
			    sizeof a->release, err, errlen) == -1)
				return -1;
			break;
		}
	}
#undef NAME_ARG
	if (a->all && a->action != CTL_ALL)
		return errbuf_set(err, errlen, "--all goes with reload (status "
		    "without a name covers every daemon)");
	if (a->name != NULL && (strchr(a->name, '/') != NULL ||
	    *a->name == '\0'))
		return errbuf_set(err, errlen, "invalid name '%s' (use -s for "
		    "a socket path)", a->name);
	return 0;
}
