/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: `gwctl metrics`, the Prometheus text exposition format
 * (version 0.0.4) of one or more daemons' status replies, for
 * node_exporter's textfile collector.  No timestamps on samples: the
 * textfile collector refuses them.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include <msgpack.h>

struct metrics_target {
	const char		*name;		/* the "name" label (raw) */
	const msgpack_object	*reply;		/* status reply; NULL: none */
	double			 master_started; /* Unix time; < 0: unknown */
};

void	metrics_print(FILE *, const struct metrics_target *, size_t);

#endif
