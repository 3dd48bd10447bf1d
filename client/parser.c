/* SPDX-License-Identifier: MIT */
/*
 * parser.c: gwctl's argument parsing (see parser.h).
 *
 *   gwctl [-s SOCKET] [--json] [-t TIMEOUT] COMMAND [NAME] [ARGS]
 *
 * Options may stand anywhere; the first word that is not one is the
 * command, the next ones its arguments.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "errbuf.h"
#include "parse.h"
#include "parser.h"
#include "proto.h"

void
parser_usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: gwctl [-s socket] [--json] [-t timeout] command "
	    "[name] [args]\n\n");
	/* The commands from their table, and the client's own. */
	for (i = 0; i < CMD_COUNT; i++) {
		if (cmd_get((enum cmd_id)i) == NULL)
			continue;
		fprintf(f, "  %-25s %s\n", cmd_table[i].usage,
		    cmd_table[i].help);
		if (i == CMD_RELOAD)
			fprintf(f, "  %-25s %s\n", "reload --all", "reload "
			    "every daemon in the run directory, in turn");
	}
	fprintf(f,
"  metrics [name]            Prometheus text format, for node_exporter\n"
"\n"
"  -s socket    the daemon's socket (instead of a name)\n"
"  -t timeout   seconds to wait for an answer (for reload: its outcome)\n"
"  --json       print the daemon's reply (or gwctl's error) as JSON\n"
"  --version    print gwctl's version\n"
"\n"
"Exit status: 0 ok, 1 refused or failed, 2 usage, 3 daemon unreachable,\n"
"5 the socket is served by an untrusted user.  status NAME: 0 serving,\n"
"3 not running or not serving, 4 status unknown (see gwctl(1)).\n");
}

int
parser_parse(int argc, char **argv, struct ctl_args *a, char *err,
    size_t errlen)
{
	const struct cmd_entry	*e;
	const char		*words[8], *errstr;
	int			 i, n = 0;

	memset(a, 0, sizeof *a);
	a->wait = 1;
	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			a->action = CTL_HELP;
			return 0;
		}
		if (strcmp(s, "--version") == 0) {
			a->action = CTL_VERSION;
			return 0;
		}
		if (strcmp(s, "--json") == 0)
			a->json = 1;
		else if (strcmp(s, "--no-wait") == 0)
			a->wait = 0;
		else if (strcmp(s, "--wait") == 0)
			a->wait = 1;
		else if (strcmp(s, "--all") == 0)
			a->all = 1;
		else if (strcmp(s, "-s") == 0 || strcmp(s, "--socket") == 0) {
			if (++i >= argc || *argv[i] == '\0')
				return errbuf_set(err, errlen, "%s needs a "
				    "socket path", s);
			a->socket = argv[i];
		} else if (strcmp(s, "-t") == 0 ||
		    strcmp(s, "--timeout") == 0) {
			if (++i >= argc)
				return errbuf_set(err, errlen, "%s needs a "
				    "number of seconds", s);
			if (parse_seconds(argv[i], 0, 86400, &a->timeout,
			    &errstr) == -1)
				return errbuf_set(err, errlen, "%s '%s': %s", s,
				    argv[i], errstr);
		} else if (s[0] == '-' && s[1] != '\0')
			return errbuf_set(err, errlen, "unknown option %s", s);
		else if (n == (int)(sizeof words / sizeof words[0]))
			return errbuf_set(err, errlen, "too many arguments");
		else
			words[n++] = s;
	}
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
		case CMD_W_NAME_SECONDS:
			if (n == 3)
				a->name = words[1];
			else if (!(n == 2 && a->socket != NULL))
				return errbuf_set(err, errlen,
				    "usage: gwctl %s", e->usage);
			if (parse_seconds(words[n - 1], 0, PROTO_WARMUP_MAX,
			    &a->seconds, &errstr) == -1)
				return errbuf_set(err, errlen, "%s '%s': %s "
				    "(0 < seconds <= %g)", e->name,
				    words[n - 1], errstr, PROTO_WARMUP_MAX);
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
