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

static const char *const result_names[] = {
	[RESULT_OK] = "ok",
	[RESULT_FAILED] = "failed",
	[RESULT_DOWN] = "down",
	[RESULT_ACCEPTED] = "accepted",
	[RESULT_REFUSED] = "refused",
	[RESULT_UNKNOWN] = "unknown",
	[RESULT_ERROR] = "error",
};
_Static_assert(sizeof result_names / sizeof result_names[0] ==
    RESULT_ERROR + 1, "one name per result_kind");

const char *
result_name(enum result_kind k)
{
	return (unsigned)k <= RESULT_ERROR ? result_names[k] : "error";
}

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

/* The reply's reload entry, if it is a map. */
static const msgpack_object *
entry_of(const msgpack_object *m)
{
	const msgpack_object	*o = proto_get(m, PROTO_K_RELOAD);

	return o != NULL && o->type == MSGPACK_OBJECT_MAP ? o : NULL;
}

enum result_kind
result_outcome(const msgpack_object *m, int waited)
{
	const msgpack_object	*e;
	long long		 id;

	if (m == NULL)
		return RESULT_ERROR;
	if ((e = entry_of(m)) != NULL) {
		/* ok only if the reply and its entry both say so. */
		if (reply_bool(m, PROTO_K_OK) &&
		    reply_str_is(e, PROTO_K_RESULT, PROTO_RESULT_OK))
			return RESULT_OK;
		if (reply_str_is(m, PROTO_K_CODE, PROTO_E_DOWN) ||
		    reply_bool(e, PROTO_K_DOWN))
			return RESULT_DOWN;
		return RESULT_FAILED;
	}
	if (!reply_bool(m, PROTO_K_OK))
		return RESULT_REFUSED;
	/* An ok without an outcome is not one: accepted only if not waited
	 * for, and then with a valid id. */
	if (!waited && reply_int(m, PROTO_K_ID, 1, UINT32_MAX, &id) == 0)
		return RESULT_ACCEPTED;
	return RESULT_FAILED;
}

/* Why it went wrong, as a string object of the reply: its error, else
 * its entry's reason; NULL if neither is a string. */
static const msgpack_object *
why_of(const msgpack_object *m, const msgpack_object *e)
{
	const msgpack_object	*o = proto_get(m, PROTO_K_ERROR);

	if (o != NULL && o->type == MSGPACK_OBJECT_STR)
		return o;
	if (e != NULL && (o = proto_get(e, PROTO_K_REASON)) != NULL &&
	    o->type == MSGPACK_OBJECT_STR)
		return o;
	return NULL;
}

/*
 * The object: m the reply (NULL if none: then kind, code and reason are
 * gwctl's own).  Seventeen keys, always all of them, in this order; code
 * and reason are null exactly when ok is true.
 */
static void
print_object(FILE *f, const char *name, const msgpack_object *m,
    enum result_kind kind, const char *code, const char *reason)
{
	const msgpack_object	*e = m != NULL ? entry_of(m) : NULL, *o;
	const char		*serving_master = NULL,
				*serving_release = NULL;
	int			 good = kind == RESULT_OK ||
				    kind == RESULT_ACCEPTED;
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 u;
	size_t			 off = 0;

	/* Who serves now: the new generation, the old, or nobody. */
	if (kind == RESULT_OK) {
		serving_master = PROTO_K_NEW_MASTER;
		serving_release = PROTO_K_RELEASE;
	} else if (kind == RESULT_FAILED) {
		serving_master = PROTO_K_OLD_MASTER;
		serving_release = PROTO_K_OLD_RELEASE;
	}

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 17);
	pack_key(&pk, "ok");
	if (good)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	pack_key(&pk, "result");
	pack_cstr(&pk, result_name(kind));
	pack_key(&pk, "code");
	if (good)
		msgpack_pack_nil(&pk);
	else if (m == NULL)
		pack_cstr(&pk, code);
	else if ((o = proto_get(m, PROTO_K_CODE)) != NULL &&
	    o->type == MSGPACK_OBJECT_STR)
		pack_str(&pk, m, PROTO_K_CODE);
	else	/* a daemon from before the codes, or an odd reply */
		pack_cstr(&pk, kind == RESULT_DOWN ? PROTO_E_DOWN :
		    PROTO_E_FAILED);
	pack_key(&pk, "reason");
	if (good)
		msgpack_pack_nil(&pk);
	else if (m == NULL)
		pack_cstr(&pk, reason);
	else if ((o = why_of(m, e)) != NULL) {
		msgpack_pack_str(&pk, o->via.str.size);
		msgpack_pack_str_body(&pk, o->via.str.ptr, o->via.str.size);
	} else
		pack_cstr(&pk, e == NULL && kind == RESULT_FAILED ?
		    "the daemon's reply holds no outcome" :
		    "the daemon's reply gives no reason");
	pack_key(&pk, "name");
	pack_cstr(&pk, name);
	pack_key(&pk, "id");
	pack_int(&pk, e != NULL ? e : m, PROTO_K_ID, 1, UINT32_MAX);
	pack_key(&pk, "trigger");
	pack_str(&pk, e, PROTO_K_TRIGGER);
	pack_key(&pk, "master");
	if (serving_master != NULL)
		pack_int(&pk, e, serving_master, 1, REPLY_PID_MAX);
	else
		msgpack_pack_nil(&pk);
	pack_key(&pk, "old_master");
	pack_int(&pk, e, PROTO_K_OLD_MASTER, 1, REPLY_PID_MAX);
	pack_key(&pk, "new_master");
	pack_int(&pk, e, PROTO_K_NEW_MASTER, 1, REPLY_PID_MAX);
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
result_print(FILE *f, const char *name, const msgpack_object *reply,
    int waited)
{
	print_object(f, name, reply, result_outcome(reply, waited), NULL,
	    NULL);
}

void
result_print_error(FILE *f, const char *name, enum result_kind kind,
    const char *code, const char *msg)
{
	print_object(f, name, NULL, kind, code, msg);
}
