/* SPDX-License-Identifier: MIT */
/*
 * parse.h: strict parsing of the numbers users type (durations, PIDs).
 * Each function returns 0 on success, or -1 with *errstr set to a short
 * reason fit to follow the setting's name in a one-line error.
 */
#ifndef GW_PARSE_H
#define GW_PARSE_H

#include <sys/types.h>

#include <stddef.h>

/* Seconds, fractions allowed: min < value <= max.  "30", "2.5", "0.25". */
int	parse_seconds(const char *, double min, double max, double *,
	    const char **);
/* A PID as a pidfile holds it: digits, optional trailing whitespace. */
int	parse_pid(const char *, pid_t *, const char **);
/* The reverse: the shortest %g form of v that reads back as v exactly
 * (gwctl's JSON and Prometheus output). */
void	format_double(char *, size_t, double);

#endif
