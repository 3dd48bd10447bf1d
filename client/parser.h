/* SPDX-License-Identifier: MIT */
/*
 * parser.h: gwctl's command line, turned into what to send.  Kept apart
 * from talking to the daemon (as relayctl keeps parser.c) so that it can
 * be tested on its own and says every usage error in one line.
 */
#ifndef GW_PARSER_H
#define GW_PARSER_H

#include <stddef.h>
#include <stdio.h>

#include "cmd.h"
#include "proto.h"
#include "setting.h"

/* What to do with the command (cmd.h's) named on the command line. */
enum ctl_action {
	CTL_ONE,		/* send cmd to the daemon NAME (or -s) */
	CTL_ALL,		/* ... to every daemon: status without a
				 * name, reload --all */
	CTL_METRICS,		/* metrics NAME (or -s): a status request */
	CTL_METRICS_ALL,	/* metrics: every daemon */
	CTL_HELP,
	CTL_VERSION,
};

struct ctl_args {
	enum ctl_action	 action;
	enum cmd_id	 cmd;		/* what is sent (metrics: status) */
	const char	*name;		/* NULL when -s names the socket */
	const char	*socket;	/* -s */
	int		 json;
	int		 wait;		/* reload: 1 unless --no-wait */
	int		 all;		/* --all */
	double		 timeout;	/* -t; 0: the default */
	const struct setting_entry *setting;	/* set, set-warmup */
	double		 value;		/* ... its new value */
	char		 release[PROTO_PATH_MAX];	/* deploy: absolute */
};

/* 0, or -1 with a one-line usage error in err. */
int	parser_parse(int, char **, struct ctl_args *, char *, size_t);
/* Whether --json was given, wherever the command line goes wrong: so that
 * a usage error, too, is reported as JSON. */
int	parser_wants_json(int, char **);
/* The usage text, to f (stdout for --help, as is the convention). */
void	parser_usage(FILE *);

#endif
