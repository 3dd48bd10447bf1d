/* SPDX-License-Identifier: MIT */
/*
 * reply.h: reading fields out of a daemon's reply.  A reply is hostile
 * input (a fake daemon, a corrupt history): every accessor tolerates a
 * missing or mistyped field, strings come back escaped (escape.h), and
 * numbers are range-checked before any conversion, so that no value can
 * reach an out-of-range cast (`workers: 2^40` must not print as
 * -2147483648).
 */
#ifndef GW_REPLY_H
#define GW_REPLY_H

#include <stddef.h>

#include <msgpack.h>

/* The largest PID the kernel can hand out (2^22): a reply's PID above it
 * is not one. */
#define REPLY_PID_MAX	4194304

/* The string at key k, escaped into buf; NULL if absent or not a string. */
const char	*reply_str(const msgpack_object *, const char *, char *, size_t);
/* 1 if the string at key k is exactly s. */
int		 reply_str_is(const msgpack_object *, const char *, const char *);
/* The finite number at key k, or dflt. */
double		 reply_num(const msgpack_object *, const char *, double);
/* The number at key k if it is finite and lo <= v <= hi, else dflt. */
double		 reply_range(const msgpack_object *, const char *, double,
		    double, double);
/* A whole number in [lo, hi] at key k into *out: 0, or -1 if absent or not. */
int		 reply_int(const msgpack_object *, const char *, long long,
		    long long, long long *);
/* The boolean at key k; 0 if absent or not a boolean. */
int		 reply_bool(const msgpack_object *, const char *);
/* The array at key k, or NULL. */
const msgpack_object *reply_array(const msgpack_object *, const char *);
/* The map at key k, or NULL (nil, absent or another type). */
const msgpack_object *reply_map(const msgpack_object *, const char *);

/* A PID (1 .. 2^22) as text, or "-". */
void		 reply_pid(const msgpack_object *, const char *, char *,
		    size_t);

/*
 * What kind of "no" a failed reply is, decided on its "code" (proto.h,
 * PROTO_E_*): "denied" and "busy" mean the daemon refused the connection
 * itself (the request was never considered).  A daemon older than the
 * codes sends only a text: then "permission denied" and "busy" mean the
 * same.  Decided here, in one place.
 */
enum reply_kind {
	REPLY_OK,
	REPLY_FAILED,		/* the operation was refused or failed */
	REPLY_REFUSED,		/* the daemon would not serve us at all */
};
enum reply_kind	 reply_kind(const msgpack_object *);

#endif
