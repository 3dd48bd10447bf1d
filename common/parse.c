/* SPDX-License-Identifier: MIT */
/*
 * parse.c: strict number parsing.  strtod and strtol accept far more than
 * an operator means ("  1e3", "nan", "0x10", trailing junk); a setting that
 * silently becomes something else is worse than an error, so these accept
 * plain decimal only and say precisely what was wrong.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "parse.h"

int
parse_seconds(const char *s, double min, double max, double *out,
    const char **errstr)
{
	const char	*p;
	char		*end;
	double		 v;
	int		 digits = 0, dots = 0;

	if (s == NULL || *s == '\0') {
		*errstr = "empty value";
		return -1;
	}
	for (p = s; *p != '\0'; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '.')
			dots++;
		else if (*p == '-' && p == s)
			continue;
		else {
			*errstr = "not a number of seconds";
			return -1;
		}
	}
	if (digits == 0 || dots > 1) {
		*errstr = "not a number of seconds";
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v)) {
		*errstr = "not a number of seconds";
		return -1;
	}
	if (v <= min) {
		*errstr = min == 0 ? "must be greater than 0" : "too small";
		return -1;
	}
	if (v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

int
parse_pid(const char *s, pid_t *out, const char **errstr)
{
	const char	*p;
	long		 v = 0;

	for (p = s; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX) {
			*errstr = "PID out of range";
			return -1;
		}
	}
	if (p == s) {
		*errstr = "no PID";
		return -1;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0') {
		*errstr = "trailing garbage after PID";
		return -1;
	}
	if (v <= 1) {
		*errstr = "PID out of range";
		return -1;
	}
	*out = (pid_t)v;
	return 0;
}

void
format_double(char *buf, size_t size, double v)
{
	int	prec;

	for (prec = 6; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, size, "%.*g", prec, v);
}
