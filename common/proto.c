/* SPDX-License-Identifier: MIT */
/*
 * proto.c: framing and small helpers for the control protocol.
 *
 * Why frame by hand before msgpack-c decodes: a stream socket delivers a
 * message in pieces, and msgpack-c trusts a container's declared length
 * (a map32 header claiming four billion pairs makes it try to allocate
 * for them).  proto_frame() walks the headers with a counter of items
 * still expected, iteratively (no recursion for a deeply nested hostile
 * message), refusing any count that cannot fit in PROTO_MAX_MESSAGE.  Only
 * a complete, plausible message is handed to msgpack_unpack_next().
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

/* The reasons that are limits (proto_frame_code() knows them). */
static const char why_large[] = "message too large";
static const char why_elements[] = "message has too many elements";
static const char why_deep[] = "message nested too deeply";

static uint32_t
be(const unsigned char *p, int n)
{
	uint32_t	v = 0;
	int		i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

enum proto_frame
proto_frame(const char *buf, size_t len, size_t *msglen, const char **why)
{
	const unsigned char	*p = (const unsigned char *)buf;
	size_t			 pos = 0, need, skip;
	/* Items still expected at each open level; [0] is the message. */
	uint64_t		 left[PROTO_MAX_DEPTH + 1];
	uint64_t		 count, total = 0;
	unsigned char		 b;
	int			 lenbytes, per, top;

	*why = NULL;
	if (len == 0)
		return PROTO_INCOMPLETE;
	b = p[0];
	if (!((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)) {
		*why = "a request must be a msgpack map";
		return PROTO_INVALID;
	}
	left[0] = 1;
	top = 1;
	while (top > 0) {
		if (left[top - 1] == 0) {
			top--;		/* this map or array is whole */
			continue;
		}
		if (pos >= len)
			goto incomplete;
		b = p[pos];
		skip = 0;
		lenbytes = 0;
		count = 0;
		per = 0;
		left[top - 1]--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 ||
		    b == 0xc3) {
			pos += 1;		/* fixint, nil, bool */
			goto next;
		}
		if (b >= 0x80 && b <= 0x8f) {
			count = b & 0x0f, per = 2, pos += 1;
			goto container;
		}
		if (b >= 0x90 && b <= 0x9f) {
			count = b & 0x0f, per = 1, pos += 1;
			goto container;
		}
		if (b >= 0xa0 && b <= 0xbf) {
			skip = b & 0x1f, pos += 1;
			goto data;
		}
		switch (b) {
		case 0xcc: case 0xd0: skip = 1; break;
		case 0xcd: case 0xd1: skip = 2; break;
		case 0xca: case 0xce: case 0xd2: skip = 4; break;
		case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
		case 0xd4: skip = 2; break;	/* fixext 1: type + 1 */
		case 0xd5: skip = 3; break;
		case 0xd6: skip = 5; break;
		case 0xd7: skip = 9; break;
		case 0xd8: skip = 17; break;
		case 0xc4: case 0xd9: lenbytes = 1; break;
		case 0xc5: case 0xda: lenbytes = 2; break;
		case 0xc6: case 0xdb: lenbytes = 4; break;
		case 0xc7: lenbytes = 1; break;		/* ext 8 (+1 type) */
		case 0xc8: lenbytes = 2; break;
		case 0xc9: lenbytes = 4; break;
		case 0xdc: lenbytes = 2, per = 1; break;
		case 0xdd: lenbytes = 4, per = 1; break;
		case 0xde: lenbytes = 2, per = 2; break;
		case 0xdf: lenbytes = 4, per = 2; break;
		default:
			*why = "malformed msgpack (reserved byte 0xc1)";
			return PROTO_INVALID;
		}
		pos += 1;
		if (lenbytes == 0)
			goto data;
		if (pos + (size_t)lenbytes > len)
			goto incomplete;
		count = be(p + pos, lenbytes);
		pos += (size_t)lenbytes;
		if (per != 0)
			goto container;
		skip = (size_t)count;
		if (b >= 0xc7 && b <= 0xc9)
			skip += 1;		/* the ext type byte */
		goto data;
container:
		total += count * (uint64_t)per;
		if (total > PROTO_MAX_ITEMS || count * per > PROTO_MAX_MESSAGE) {
			*why = why_elements;
			return PROTO_INVALID;
		}
		if (count > 0) {
			/* msgpack-c fails past its stack: say why, here. */
			if (top > PROTO_MAX_DEPTH) {
				*why = why_deep;
				return PROTO_INVALID;
			}
			left[top++] = count * (uint64_t)per;
		}
		goto next;
data:
		if (skip > PROTO_MAX_MESSAGE) {
			*why = why_large;
			return PROTO_INVALID;
		}
		need = pos + skip;
		if (need > len) {
			pos = need;
			goto incomplete;
		}
		pos = need;
next:
		if (pos > PROTO_MAX_MESSAGE) {
			*why = why_large;
			return PROTO_INVALID;
		}
	}
	*msglen = pos;
	return PROTO_COMPLETE;

incomplete:
	if (pos > PROTO_MAX_MESSAGE || len >= PROTO_MAX_MESSAGE) {
		*why = why_large;
		return PROTO_INVALID;
	}
	return PROTO_INCOMPLETE;
}

const msgpack_object *
proto_get(const msgpack_object *map, const char *key)
{
	uint32_t	i;

	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		if (proto_str_eq(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

int
proto_str_eq(const msgpack_object *o, const char *s)
{
	size_t	n = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	    memcmp(o->via.str.ptr, s, n) == 0;
}

int
proto_number(const msgpack_object *o, double *out)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = o->via.f64;
		return 0;
	default:
		return -1;
	}
}

void
proto_pack_str(msgpack_packer *pk, const char *s)
{
	size_t	n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void
proto_pack_kstr(msgpack_packer *pk, const char *k, const char *v)
{
	proto_pack_str(pk, k);
	if (v == NULL)
		msgpack_pack_nil(pk);
	else
		proto_pack_str(pk, v);
}

void
proto_pack_kint(msgpack_packer *pk, const char *k, long long v)
{
	proto_pack_str(pk, k);
	msgpack_pack_long_long(pk, v);
}

void
proto_pack_kdouble(msgpack_packer *pk, const char *k, double v)
{
	proto_pack_str(pk, k);
	msgpack_pack_double(pk, v);
}

void
proto_pack_kbool(msgpack_packer *pk, const char *k, int v)
{
	proto_pack_str(pk, k);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

void
proto_pack_knil(msgpack_packer *pk, const char *k)
{
	proto_pack_str(pk, k);
	msgpack_pack_nil(pk);
}

void
proto_pack_kpid(msgpack_packer *pk, const char *k, long long pid)
{
	if (pid <= 0)
		proto_pack_knil(pk, k);
	else
		proto_pack_kint(pk, k, pid);
}

void
proto_error_reply(msgpack_sbuffer *sb, const char *msg, const char *code)
{
	msgpack_packer	pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	proto_pack_kbool(&pk, PROTO_K_OK, 0);
	proto_pack_kstr(&pk, PROTO_K_ERROR, msg);
	proto_pack_kstr(&pk, PROTO_K_CODE, code);
}

const char *
proto_frame_code(const char *why)
{
	return why == why_large || why == why_elements || why == why_deep ?
	    PROTO_E_TOO_LARGE : PROTO_E_MALFORMED;
}

void
proto_map_init(struct proto_map *m)
{
	msgpack_sbuffer_init(&m->body);
	msgpack_packer_init(&m->pk, &m->body, msgpack_sbuffer_write);
	m->n = 0;
}

msgpack_packer *
proto_map_key(struct proto_map *m, const char *k)
{
	m->n++;
	proto_pack_str(&m->pk, k);
	return &m->pk;
}

void
proto_map_str(struct proto_map *m, const char *k, const char *v)
{
	m->n++;
	proto_pack_kstr(&m->pk, k, v);
}

void
proto_map_int(struct proto_map *m, const char *k, long long v)
{
	m->n++;
	proto_pack_kint(&m->pk, k, v);
}

void
proto_map_double(struct proto_map *m, const char *k, double v)
{
	m->n++;
	proto_pack_kdouble(&m->pk, k, v);
}

void
proto_map_bool(struct proto_map *m, const char *k, int v)
{
	m->n++;
	proto_pack_kbool(&m->pk, k, v);
}

void
proto_map_nil(struct proto_map *m, const char *k)
{
	m->n++;
	proto_pack_knil(&m->pk, k);
}

void
proto_map_pid(struct proto_map *m, const char *k, long long pid)
{
	m->n++;
	proto_pack_kpid(&m->pk, k, pid);
}

void
proto_map_pids(struct proto_map *m, const char *k, const pid_t *pids,
    size_t n)
{
	msgpack_packer	*pk = proto_map_key(m, k);
	size_t		 i;

	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++)
		msgpack_pack_int(pk, pids[i]);
}

void
proto_map_end(struct proto_map *m, msgpack_packer *pk)
{
	msgpack_pack_map(pk, m->n);
	if (m->body.size > 0)
		(void)pk->callback(pk->data, m->body.data, m->body.size);
	msgpack_sbuffer_destroy(&m->body);
}

void
proto_map_message(struct proto_map *m, msgpack_sbuffer *sb)
{
	msgpack_packer	pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	proto_map_end(m, &pk);
}

