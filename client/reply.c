/* SPDX-License-Identifier: MIT */
/*
 * reply.c: see reply.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "proto.h"
#include "reply.h"


const char *
reply_str(const msgpack_object *m, const char *k, char *buf, size_t size)
{
	const msgpack_object	*o = proto_get(m, k);

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	escape_text(buf, size, o->via.str.ptr, o->via.str.size);
	return buf;
}

int
reply_str_is(const msgpack_object *m, const char *k, const char *s)
{
	const msgpack_object	*o = proto_get(m, k);

	return o != NULL && proto_str_eq(o, s);
}

double
reply_num(const msgpack_object *m, const char *k, double dflt)
{
	const msgpack_object	*o = proto_get(m, k);
	double			 v;

	if (o == NULL || proto_number(o, &v) == -1 || !isfinite(v))
		return dflt;
	return v;
}

double
reply_range(const msgpack_object *m, const char *k, double lo, double hi,
    double dflt)
{
	double	v = reply_num(m, k, NAN);

	if (isnan(v) || v < lo || v > hi)
		return dflt;
	return v;
}

int
reply_int(const msgpack_object *m, const char *k, long long lo, long long hi,
    long long *out)
{
	const msgpack_object	*o = proto_get(m, k);

	if (o == NULL)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (unsigned long long)hi || (lo > 0 &&
		    o->via.u64 < (unsigned long long)lo))
			return -1;
		*out = (long long)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (o->via.i64 < lo || o->via.i64 > hi)
			return -1;
		*out = o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* Compared as doubles first: only then is the cast defined. */
		if (!isfinite(o->via.f64) || o->via.f64 < (double)lo ||
		    o->via.f64 > (double)hi || o->via.f64 >= 0x1p63)
			return -1;
		*out = (long long)o->via.f64;
		return (double)*out == o->via.f64 ? 0 : -1;
	default:
		return -1;
	}
}

int
reply_bool(const msgpack_object *m, const char *k)
{
	const msgpack_object	*o = proto_get(m, k);

	return o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN &&
	    o->via.boolean;
}

const msgpack_object *
reply_array(const msgpack_object *m, const char *k)
{
	const msgpack_object	*o = proto_get(m, k);

	return o != NULL && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

const msgpack_object *
reply_map(const msgpack_object *m, const char *k)
{
	const msgpack_object	*o = proto_get(m, k);

	return o != NULL && o->type == MSGPACK_OBJECT_MAP ? o : NULL;
}

void
reply_pid(const msgpack_object *m, const char *k, char *buf, size_t size)
{
	long long	v;

	if (reply_int(m, k, 1, REPLY_PID_MAX, &v) == -1)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%lld", v);
}

enum reply_kind
reply_kind(const msgpack_object *m)
{
	const msgpack_object	*code;

	if (reply_bool(m, PROTO_K_OK))
		return REPLY_OK;
	if ((code = proto_get(m, PROTO_K_CODE)) != NULL &&
	    code->type == MSGPACK_OBJECT_STR)
		return proto_str_eq(code, PROTO_E_DENIED) ||
		    proto_str_eq(code, PROTO_E_BUSY) ? REPLY_REFUSED :
		    REPLY_FAILED;
	/* A daemon from before the codes. */
	if (reply_str_is(m, PROTO_K_ERROR, "permission denied") ||
	    reply_str_is(m, PROTO_K_ERROR, "busy"))
		return REPLY_REFUSED;
	return REPLY_FAILED;
}
