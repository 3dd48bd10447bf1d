/*
 * ready.h: is a gunicorn generation ready to serve?
 *
 * heartbeat mode: ready when the master is alive, has spawned its workers
 * (the set of workers has stopped changing) and every worker has shown
 * gunicorn's own heartbeat, which a worker first gives once its app is
 * loaded.  timer mode: ready when the budget has passed and the master
 * has workers.  Either way the answer comes once, through the callback;
 * the master's exit is not the probe's business (gunicorn.c reports it).
 */
#ifndef GW_READY_H
#define GW_READY_H

#include <sys/types.h>

#include "options.h"

struct gw;
struct ready;

enum ready_result {
	READY_OK,
	READY_TIMEOUT,
};

typedef void (*ready_cb)(struct gw *, enum ready_result, void *);

struct ready	*ready_start(struct gw *, pid_t, enum ready_mode, double,
		     ready_cb, void *);
/* Workers seen and workers that have shown a heartbeat. */
void		 ready_counts(const struct ready *, int *, int *);
/* The workers' PIDs seen at the last look, for `status`. */
const pid_t	*ready_workers(const struct ready *, size_t *);
/* SIGKILL workers not yet ready (a booting worker defers SIGTERM). */
void		 ready_kill_unready(struct ready *);
/* SIGTERM ready workers still alive that re-parented away. */
void		 ready_term_leftovers(struct ready *);
/* A child of the master that is a new master, not a worker, if seen. */
pid_t		 ready_new_master(const struct ready *);
/* Seconds since the probe started. */
double		 ready_elapsed(const struct ready *);
void		 ready_free(struct ready *);

/* Settle time: no new worker for this long after the last one appeared. */
#define READY_SETTLE		0.3
/* How often the probe looks for new workers while it runs. */
#define READY_TICK		0.1

#endif
