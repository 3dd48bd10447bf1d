/* SPDX-License-Identifier: MIT */
/*
 * result.c: see result.h.  Why an object of gwctl's own rather than the
 * daemon's reply as it came: a deploy tool wants one flat answer to "did
 * it work, what serves now, and why not", the same keys for every outcome
 * (a failed reload, a refused request, a daemon that cannot be reached),
 * and not the protocol's nesting, which may grow.  The reply is hostile
 * input: every value is type- and range-checked here, and what fails the
 * check is null.
 */
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "json.h"
#include "proto.h"
#include "reply.h"
#include "result.h"

#define PID_MAX_LIMIT	4194304		/* the kernel's ceiling, 2^22 */

/* The outcomes, as "result" says them (gwctl(1), RESULT OBJECT). */
#define RESULT_OK	"ok"		/* the new generation serves */
#define RESULT_FAILED	"failed"	/* it did not; the old one serves */
#define RESULT_DOWN	"down"		/* it did not, and nothing serves */
#define RESULT_ACCEPTED	"accepted"	/* --no-wait: queued */
#define RESULT_REFUSED	"refused"	/* answered, but no reload ran */
#define RESULT_ERROR	"error"		/* no answer: see code */

static void
pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t	n;

	if (s == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
pack_key(msgpack_packer *pk, const char *k)
{
	pack_cstr(pk, k);
}

/* The string at k of m (NULL m: absent), or nil. */
static void
pack_str(msgpack_packer *pk, const msgpack_object *m, const char *k)
{
	const msgpack_object	*o = m != NULL ? proto_get(m, k) : NULL;

	if (o == NULL || o->type != MSGPACK_OBJECT_STR) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_str(pk, o->via.str.size);
	msgpack_pack_str_body(pk, o->via.str.ptr, o->via.str.size);
}

/* The whole number in [lo, hi] at k of m, or nil. */
static void
pack_int(msgpack_packer *pk, const msgpack_object *m, const char *k,
    long long lo, long long hi)
{
	long long	v;

	if (m != NULL && reply_int(m, k, lo, hi, &v) == 0)
		msgpack_pack_int64(pk, v);
	else
		msgpack_pack_nil(pk);
}

/* The non-negative finite number at k of m, as a float, or nil. */
static void
pack_secs(msgpack_packer *pk, const msgpack_object *m, const char *k)
{
	double	v = m != NULL ? reply_range(m, k, 0, 1e12, -1) : -1;

	if (v >= 0)
		msgpack_pack_double(pk, v);
	else
		msgpack_pack_nil(pk);
}

static void
pack_phases(msgpack_packer *pk, const msgpack_object *e)
{
	static const char *const	phases[][2] = {
		{ "check", PROTO_K_T_CHECK }, { "settle", PROTO_K_T_SETTLE },
		{ "fork", PROTO_K_T_FORK }, { "warmup", PROTO_K_T_WARMUP },
		{ "probation", PROTO_K_T_PROBATION },
		{ "drain", PROTO_K_T_DRAIN }, { "promote", PROTO_K_T_PROMOTE },
	};
	size_t				i, n = sizeof phases / sizeof *phases;

	msgpack_pack_map(pk, n);
	for (i = 0; i < n; i++) {
		pack_key(pk, phases[i][0]);
		pack_secs(pk, e, phases[i][1]);
	}
}

/* What "result" is for this reply (NULL: no reply was read). */
static const char *
outcome(const msgpack_object *m, const msgpack_object *e)
{
	if (m == NULL)
		return RESULT_ERROR;
	if (e != NULL) {
		if (reply_bool(m, PROTO_K_OK) &&
		    reply_str_is(e, PROTO_K_RESULT, PROTO_RESULT_OK))
			return RESULT_OK;
		if (reply_str_is(m, PROTO_K_CODE, PROTO_E_DOWN) ||
		    reply_bool(e, PROTO_K_DOWN))
			return RESULT_DOWN;
		return RESULT_FAILED;
	}
	if (reply_bool(m, PROTO_K_OK) && proto_get(m, PROTO_K_ID) != NULL)
		return RESULT_ACCEPTED;
	return RESULT_REFUSED;
}

/*
 * The object: m the reply (NULL if none), code and reason gwctl's own
 * when there is none.  Seventeen keys, always all of them, in this order.
 */
static void
print_object(FILE *f, const char *name, const msgpack_object *m,
    const char *code, const char *reason)
{
	const msgpack_object	*e = NULL, *o;
	const char		*res, *serving_master = NULL,
				*serving_release = NULL;
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 u;
	size_t			 off = 0;

	if (m != NULL && (o = proto_get(m, PROTO_K_RELOAD)) != NULL &&
	    o->type == MSGPACK_OBJECT_MAP)
		e = o;
	res = outcome(m, e);
	/* Who serves now: the new generation, the old, or nobody. */
	if (strcmp(res, RESULT_OK) == 0) {
		serving_master = PROTO_K_NEW_MASTER;
		serving_release = PROTO_K_RELEASE;
	} else if (strcmp(res, RESULT_FAILED) == 0) {
		serving_master = PROTO_K_OLD_MASTER;
		serving_release = PROTO_K_OLD_RELEASE;
	}

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 17);
	pack_key(&pk, "ok");
	if (strcmp(res, RESULT_OK) == 0 || strcmp(res, RESULT_ACCEPTED) == 0)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	pack_key(&pk, "result");
	pack_cstr(&pk, res);
	pack_key(&pk, "code");
	if (m != NULL)
		pack_str(&pk, m, PROTO_K_CODE);
	else
		pack_cstr(&pk, code);
	pack_key(&pk, "reason");
	if (m != NULL && proto_get(m, PROTO_K_ERROR) != NULL)
		pack_str(&pk, m, PROTO_K_ERROR);
	else if (m != NULL)
		pack_str(&pk, e, PROTO_K_REASON);
	else
		pack_cstr(&pk, reason);
	pack_key(&pk, "name");
	pack_cstr(&pk, name);
	pack_key(&pk, "id");
	pack_int(&pk, e != NULL ? e : m, PROTO_K_ID, 0, UINT32_MAX);
	pack_key(&pk, "trigger");
	pack_str(&pk, e, PROTO_K_TRIGGER);
	pack_key(&pk, "master");
	if (serving_master != NULL)
		pack_int(&pk, e, serving_master, 1, PID_MAX_LIMIT);
	else
		msgpack_pack_nil(&pk);
	pack_key(&pk, "old_master");
	pack_int(&pk, e, PROTO_K_OLD_MASTER, 1, PID_MAX_LIMIT);
	pack_key(&pk, "new_master");
	pack_int(&pk, e, PROTO_K_NEW_MASTER, 1, PID_MAX_LIMIT);
	pack_key(&pk, "release");
	if (serving_release != NULL)
		pack_str(&pk, e, serving_release);
	else
		msgpack_pack_nil(&pk);
	pack_key(&pk, "old_release");
	pack_str(&pk, e, PROTO_K_OLD_RELEASE);
	pack_key(&pk, "new_release");
	pack_str(&pk, e, PROTO_K_RELEASE);
	pack_key(&pk, "workers");
	pack_int(&pk, e, PROTO_K_WORKERS, 0, UINT32_MAX);
	pack_key(&pk, "started");
	pack_secs(&pk, e, PROTO_K_STARTED);
	pack_key(&pk, "duration");
	pack_secs(&pk, e, PROTO_K_DURATION);
	pack_key(&pk, "phases");
	pack_phases(&pk, e);

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, sb.data, sb.size, &off) ==
	    MSGPACK_UNPACK_SUCCESS)
		json_print(f, &u.data);
	else	/* cannot be: we packed it */
		json_print_error(f, "cannot encode the result", "internal");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

void
result_print(FILE *f, const char *name, const msgpack_object *reply)
{
	print_object(f, name, reply, NULL, NULL);
}

void
result_print_error(FILE *f, const char *name, const char *code,
    const char *msg)
{
	print_object(f, name, NULL, code, msg);
}
