/* SPDX-License-Identifier: MIT */
/*
 * setting.h: the settings a running daemon takes over its control socket
 * (`gwctl set NAME KEY VALUE`), one typed entry each, as redis keeps its
 * config table and tmux its options table: the key, the type of the value
 * and its limits, what it does.  A new setting is an entry here and its
 * field in the daemon's binding (daemon/control.c); the command line's
 * option of the same name (daemon/options.c), the protocol's decoder
 * (common/cmd.c) and gwctl (client/parser.c) all check against this one
 * table, so the limits cannot differ.
 */
#ifndef GW_SETTING_H
#define GW_SETTING_H

#include <stddef.h>

#include <msgpack.h>

enum setting_id {
	SETTING_WARMUP,		/* the warm-up budget of the next reload */
	SETTING_PROBATION,	/* the probation of the next reload */
	SETTING_COUNT
};

enum setting_type {
	SETTING_SECONDS,	/* a finite number of seconds, fractions too */
};

struct setting_entry {
	enum setting_id		 id;		/* its own index, checked */
	const char		*key;		/* on the wire and for gwctl */
	enum setting_type	 type;
	double			 min, max;	/* min < v <= max, or with */
	int			 min_ok;	/* 1: min <= v <= max */
	const char		*help;
};

extern const struct setting_entry setting_table[SETTING_COUNT];

/* The entry of a key (n bytes, not NUL-terminated); NULL if none. */
const struct setting_entry *setting_find(const char *, size_t);
/* Its range, for a message: "0 < s <= 3600", "0 <= s <= 600". */
void	setting_range(const struct setting_entry *, char *, size_t);
/* v checked against the entry: 0, or -1 and why, in one line. */
int	setting_check(const struct setting_entry *, double, char *, size_t);
/* The value as an operator typed it: 0 and *v, or -1 and a short why
 * (parse.h's), to go before the range in a message. */
int	setting_parse(const struct setting_entry *, const char *, double *,
	    const char **);
/* The value as a request carries it (a msgpack number), likewise. */
int	setting_decode(const struct setting_entry *, const msgpack_object *,
	    double *, char *, size_t);
/* "warmup, probation": every key, for a message. */
void	setting_keys(char *, size_t);

#endif
