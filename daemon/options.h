/* SPDX-License-Identifier: MIT */
/*
 * options.h: the wrapper's settings and how they are read.
 *
 * Two command-line forms: `gunicorn-wrapper [OPTIONS] -- GUNICORN ARGS`,
 * and the drop-in `gunicorn-wrapper GUNICORN ARGS` where every argument is
 * gunicorn's and the settings come from GW_* environment variables.  An
 * option beats its variable.  options_parse() never exits or prints: it
 * fills struct gw_config or returns a one-line error, so it can be unit
 * tested and the caller decides the exit status.
 */
#ifndef GW_OPTIONS_H
#define GW_OPTIONS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdio.h>

#include "log.h"

enum ready_mode {
	READY_HEARTBEAT,
	READY_TIMER,
};

#define GW_WARMUP_DEFAULT	30.0
#define GW_STOP_TIMEOUT_DEFAULT	60.0
#define GW_STOP_TIMEOUT_MAX	86400.0
#define GW_NAME_MAX		64
/* A crash loop shows within seconds of readiness: 5 s catches workers
 * that die on their first requests or a few seconds later, and costs
 * each reload 5 s during which both generations serve. */
#define GW_PROBATION_DEFAULT	5.0
/* Their limits, --warmup's and --probation's: setting.h's table. */

struct gw_config {
	char		*name;
	char		*gunicorn;	/* executable, resolved on PATH */
	double		 warmup;
	enum ready_mode	 ready;
	double		 stop_timeout;
	char		*run_dir;

	char		**argv;		/* gunicorn's argv, NULL-terminated */
	int		  argc;
	char		*pidfile;	/* absolute path */
	/* PIDFILE.2: where gunicorn's new master writes its PID until it
	 * has promoted itself (gunicorn's own name for it, built once). */
	char		*pidfile2;
	int		  pidfile_added; /* we added --pid */
	int		  config_file;	/* a gunicorn config file may apply */
	int		  env_args;	/* GUNICORN_CMD_ARGS is set */

	char		*socket;	/* control socket path */
	char		*history;	/* RUN_DIR/NAME.history */
	char		*record;	/* RUN_DIR/NAME.record, ledger.h */
	gid_t		 socket_gid;	/* (gid_t)-1: none */
	int		 preflight;	/* --check-config before SIGUSR2 */
	enum log_level	 log_level;	/* least severe level written */
	enum log_format	 log_format;
	double		 probation;	/* s after ready; 0: none */
	/* Release deploys (release.h): NULL when off.  The releases
	 * directory, and the link: gunicorn's --chdir, absolute. */
	char		*releases;
	char		*link;
};

/* What options_parse() decided the program should do. */
enum options_action {
	OPTIONS_RUN,
	OPTIONS_CHECK,		/* --check-config: check, say, exit */
	OPTIONS_HELP,
	OPTIONS_VERSION,
	OPTIONS_ERROR,
};

/* Environment lookup, getenv() in real use; a table in the unit tests. */
typedef const char *(*options_getenv)(const char *);

enum options_action options_parse(int, char **, options_getenv,
	    struct gw_config *, char *, size_t);
void	options_free(struct gw_config *);
/* The pidfile a gunicorn config file sets (absolute): use it instead of
 * the --pid we added. */
void	options_use_pidfile(struct gw_config *, const char *);
const char *options_ready_name(enum ready_mode);
void	options_usage(FILE *);

/*
 * Whether arg is gunicorn's option lng (its short form the letter shrt, or
 * 0), in argparse's forms: "--x", "--x=V", "-x", "-xV".  1 if so, with
 * *val the attached value (NULL: none, the next argument is the value) and
 * *plen the length of what precedes it; 0 if not.  Every reader of
 * gunicorn's command line (options.c's paths, ready.c's hints) uses it.
 */
int	gunicorn_opt(const char *, const char *, char, const char **,
	    size_t *);

#endif
