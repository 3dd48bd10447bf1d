/* SPDX-License-Identifier: MIT */
/*
 * ready.h: is a gunicorn generation ready to serve, and does it stay up?
 *
 * heartbeat mode: a generation is ready when as many HTTP workers as its
 * master runs have each shown gunicorn's own heartbeat (a worker's first
 * heartbeat comes once its app is loaded), and, with gunicorn 25+ dirty
 * workers, when every dirty worker its dirty arbiter runs has shown its
 * heartbeat too.  A ready worker that exits and is replaced (recycling,
 * --max-requests) still counts: it proved the code serves.  timer mode:
 * ready when the budget has passed and the master has workers.
 *
 * The probe answers through its callback: READY_OK once; READY_TIMEOUT
 * when the budget runs out first; READY_FAILED at once when every new
 * worker died before it could serve (fail fast, see ready_set_failfast);
 * and, after READY_OK and until ready_quiet(), READY_CRASH once when a
 * worker dies abnormally (a crash loop).  ready_reason() says why.  The
 * callback may free the probe.  The master's own exit is not the probe's
 * business (gunicorn.c reports it), but ready_master_status() may know
 * its exit status when gunicorn.c cannot.
 */
#ifndef GW_READY_H
#define GW_READY_H

#include <sys/types.h>

#include <stddef.h>

#include "options.h"

struct gw;
struct ready;

enum ready_result {
	READY_OK,
	READY_TIMEOUT,
	READY_FAILED,		/* every new worker died before serving */
	READY_CRASH,		/* a worker died abnormally after READY_OK */
};

typedef void (*ready_cb)(struct gw *, enum ready_result, void *);

struct ready	*ready_start(struct gw *, pid_t, enum ready_mode, double,
		     ready_cb, void *);
/* Report READY_FAILED at once when every new worker died unready (a
 * reload: yes; the first boot, where nothing else would serve: no). */
void		 ready_set_failfast(struct ready *, int);
/* Stop watching (after probation): no more callbacks, no more ticks. */
void		 ready_quiet(struct ready *);
/* HTTP workers expected and those that have shown a heartbeat (workers
 * recycled after their heartbeat included). */
void		 ready_counts(const struct ready *, int *, int *);
/* Why the probe failed (READY_TIMEOUT, _FAILED, _CRASH), or "". */
const char	*ready_reason(const struct ready *);
/* Workers that died abnormally or unready, and ready ones recycled. */
void		 ready_deaths(const struct ready *, int *, int *);
/* The master's exit status seen by the probe (a wait status), or -1. */
int		 ready_master_status(const struct ready *);
/* "exited with status 3 (gunicorn: worker failed to boot)", "killed by
 * signal 11 (Segmentation fault)", "exited" for -1 (unknown). */
void		 ready_describe_status(int, char *, size_t);
/* The HTTP workers' PIDs seen at the last look, for `status`. */
const pid_t	*ready_workers(const struct ready *, size_t *);
/* SIGKILL workers not yet ready (a booting worker defers SIGTERM). */
void		 ready_kill_unready(struct ready *);
/* Signal the dirty workers (gunicorn 25+) seen, e.g. SIGKILL before
 * their arbiter is killed: they would outlive it otherwise. */
void		 ready_kill_dirty(struct ready *, int);
/* SIGTERM ready workers still alive that re-parented away. */
void		 ready_term_leftovers(struct ready *);
/* A child of the master that is a new master, not a worker, if seen. */
pid_t		 ready_new_master(const struct ready *);
/* Seconds since the probe started. */
double		 ready_elapsed(const struct ready *);
/* The budget it was started with (a later `gwctl set` does not change it). */
double		 ready_budget(const struct ready *);
void		 ready_free(struct ready *);

/*
 * A master's dirty arbiter (gunicorn 25+), told apart from its HTTP
 * workers by whose heartbeat files the master holds, and from a new
 * master (a reload's: except, or any child that exec'd) by lineage; 0 if
 * it has none, or cannot be read.
 */
pid_t		 ready_dirty_arbiter(pid_t, pid_t);
/*
 * A master's HTTP workers (0: none), as `status` and STATUS= list them:
 * its forked, live children less except and less its dirty arbiter.  A
 * malloc'd array (or NULL) of *n; with dirty non-NULL, also the arbiter
 * then its dirty workers into *dirty (malloc'd, or NULL) and *ndirty.
 */
pid_t		*ready_http_workers(pid_t, pid_t, size_t *, pid_t **,
		    size_t *);

/*
 * SIGKILL the master's HTTP workers that have not shown a heartbeat yet
 * (booting: a replacement under --max-requests, say).  For an old master
 * told to stop: such a worker serves nothing, and it defers SIGTERM until
 * its import ends, holding the old master's exit for that long.  Returns
 * how many were killed.
 */
int		 ready_kill_booting(pid_t);

/* What gunicorn's command line says, for the probe and for warnings. */
struct ready_hints {
	int	workers;	/* -w/--workers N; 0: not given */
	int	dirty_workers;	/* --dirty-workers N with --dirty-app */
	double	timeout;	/* -t/--timeout S; < 0: not given */
	int	max_requests;	/* --max-requests N; 0: not given */
	int	preload;	/* --preload */
	int	reload;		/* --reload: workers restart on a change */
	const char *control_socket;	/* --control-socket P (25+) */
	int	no_control_socket;	/* --no-control-socket */
	const char *chdir;	/* --chdir D */
};
void		 ready_hints(char **, struct ready_hints *);
/* Why a failed in-place deploy can still stop the old generation
 * (recycling without --preload, outside release mode); NULL when
 * fail-safe holds.  ready_warn_config() logs it once, at start. */
const char	*ready_failsafe_warning(const struct gw *);
void		 ready_warn_config(const struct gw *);

/* Settle time: no more workers for this long after the count last grew
 * (gunicorn spawns its workers in one burst, at most 0.1 s apart). */
#define READY_SETTLE		0.3
/* How often the probe looks for new workers while it runs. */
#define READY_TICK		0.1

#endif
