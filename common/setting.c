/* SPDX-License-Identifier: MIT */
/*
 * setting.c: the settings table (see setting.h) and the checks of a value
 * against it, from a command line or from a request.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "proto.h"
#include "setting.h"

const struct setting_entry setting_table[] = {
	[SETTING_WARMUP] = {
		.id = SETTING_WARMUP,
		.key = "warmup",
		.type = SETTING_SECONDS,
		.min = 0, .max = 3600, .min_ok = 0,
		.help = "warm-up budget for the next reload",
	},
	[SETTING_PROBATION] = {
		.id = SETTING_PROBATION,
		.key = "probation",
		.type = SETTING_SECONDS,
		.min = 0, .max = 600, .min_ok = 1,
		.help = "probation of the next reload; 0: none",
	},
};
_Static_assert(sizeof setting_table / sizeof setting_table[0] ==
    SETTING_COUNT, "one setting_table entry per enum setting_id");

const struct setting_entry *
setting_find(const char *key, size_t n)
{
	size_t	i;

	for (i = 0; i < SETTING_COUNT; i++)
		if (setting_table[i].id == (enum setting_id)i &&
		    strlen(setting_table[i].key) == n &&
		    memcmp(setting_table[i].key, key, n) == 0)
			return &setting_table[i];
	return NULL;
}

void
setting_range(const struct setting_entry *e, char *buf, size_t size)
{
	snprintf(buf, size, "%g %s s <= %g", e->min, e->min_ok ? "<=" : "<",
	    e->max);
}

int
setting_check(const struct setting_entry *e, double v, char *err,
    size_t errlen)
{
	char	range[64];

	if (isfinite(v) && (e->min_ok ? v >= e->min : v > e->min) &&
	    v <= e->max)
		return 0;
	setting_range(e, range, sizeof range);
	snprintf(err, errlen, "%s must be a number of seconds, %s", e->key,
	    range);
	return -1;
}

int
setting_parse(const struct setting_entry *e, const char *s, double *v,
    const char **why)
{
	double	d;

	/* parse_seconds takes min < v only: a closed minimum, checked here. */
	if (parse_seconds(s, e->min_ok ? -INFINITY : e->min, e->max, &d,
	    why) == -1)
		return -1;
	if (d < e->min) {
		*why = e->min == 0 ? "must not be negative" : "too small";
		return -1;
	}
	*v = d;
	return 0;
}

int
setting_decode(const struct setting_entry *e, const msgpack_object *o,
    double *v, char *err, size_t errlen)
{
	double	d;

	if (o == NULL || proto_number(o, &d) == -1)
		d = NAN;
	if (setting_check(e, d, err, errlen) == -1)
		return -1;
	*v = d;
	return 0;
}

void
setting_keys(char *buf, size_t size)
{
	size_t	i, l = 0;
	int	n;

	buf[0] = '\0';
	for (i = 0; i < SETTING_COUNT && l < size; i++) {
		n = snprintf(buf + l, size - l, "%s%s", i ? ", " : "",
		    setting_table[i].key);
		if (n < 0)
			return;
		l += (size_t)n;
	}
}
