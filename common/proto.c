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
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

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
			*why = "message has too many elements";
			return PROTO_INVALID;
		}
		if (count > 0) {
			/* msgpack-c fails past its stack: say why, here. */
			if (top > PROTO_MAX_DEPTH) {
				*why = "message nested too deeply";
				return PROTO_INVALID;
			}
			left[top++] = count * (uint64_t)per;
		}
		goto next;
data:
		if (skip > PROTO_MAX_MESSAGE) {
			*why = "message too large";
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
			*why = "message too large";
			return PROTO_INVALID;
		}
	}
	*msglen = pos;
	return PROTO_COMPLETE;

incomplete:
	if (pos > PROTO_MAX_MESSAGE || len >= PROTO_MAX_MESSAGE) {
		*why = "message too large";
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
proto_error_reply(msgpack_sbuffer *sb, const char *msg)
{
	msgpack_packer	pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	proto_pack_kbool(&pk, PROTO_K_OK, 0);
	proto_pack_kstr(&pk, PROTO_K_ERROR, msg);
}

/*
 * The command table: one entry per command, as tmux keeps them.  Each
 * entry checks its own arguments; unknown keys are ignored so that newer
 * clients can add fields.
 */
static int	req_none(const msgpack_object *, struct proto_request *,
		    char *, size_t);
static int	req_reload(const msgpack_object *, struct proto_request *,
		    char *, size_t);
static int	req_set_warmup(const msgpack_object *, struct proto_request *,
		    char *, size_t);

static const struct proto_cmd_entry {
	const char	*name;
	enum proto_cmd	 cmd;
	int		(*args)(const msgpack_object *,
			    struct proto_request *, char *, size_t);
} proto_cmds[] = {
	{ PROTO_CMD_STATUS,	CMD_STATUS,	req_none },
	{ PROTO_CMD_RELOAD,	CMD_RELOAD,	req_reload },
	{ PROTO_CMD_STOP,	CMD_STOP,	req_none },
	{ PROTO_CMD_SET_WARMUP,	CMD_SET_WARMUP,	req_set_warmup },
	{ NULL,			0,		NULL },
};

static int
req_none(const msgpack_object *map, struct proto_request *req, char *err,
    size_t errlen)
{
	(void)map;
	(void)req;
	(void)err;
	(void)errlen;
	return 0;
}

static int
req_reload(const msgpack_object *map, struct proto_request *req, char *err,
    size_t errlen)
{
	const msgpack_object	*o;

	req->wait = 0;
	req->progress = 0;
	if ((o = proto_get(map, PROTO_K_WAIT)) == NULL ||
	    o->type == MSGPACK_OBJECT_NIL)
		o = NULL;
	else if (o->type != MSGPACK_OBJECT_BOOLEAN) {
		snprintf(err, errlen, "'wait' must be true or false");
		return -1;
	}
	req->wait = o != NULL && o->via.boolean;
	if ((o = proto_get(map, PROTO_K_PROGRESS)) == NULL ||
	    o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_BOOLEAN) {
		snprintf(err, errlen, "'progress' must be true or false");
		return -1;
	}
	req->progress = o->via.boolean;
	return 0;
}

static int
req_set_warmup(const msgpack_object *map, struct proto_request *req,
    char *err, size_t errlen)
{
	const msgpack_object	*o;
	double			 s;

	if ((o = proto_get(map, PROTO_K_SECONDS)) == NULL) {
		snprintf(err, errlen, "set-warmup needs 'seconds'");
		return -1;
	}
	if (proto_number(o, &s) == -1 || !isfinite(s) || s <= 0 ||
	    s > PROTO_WARMUP_MAX) {
		snprintf(err, errlen, "'seconds' must be a number, "
		    "0 < seconds <= %g", PROTO_WARMUP_MAX);
		return -1;
	}
	req->seconds = s;
	return 0;
}

int
proto_request_decode(const char *buf, size_t len, struct proto_request *req,
    char *err, size_t errlen)
{
	const struct proto_cmd_entry	*e;
	const msgpack_object		*cmd;
	msgpack_unpacked		 u;
	size_t				 off = 0;
	int				 rc = -1;

	memset(req, 0, sizeof *req);
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		snprintf(err, errlen, "malformed msgpack message");
		goto out;
	}
	if (u.data.type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "a request must be a msgpack map");
		goto out;
	}
	if ((cmd = proto_get(&u.data, PROTO_K_CMD)) == NULL) {
		snprintf(err, errlen, "missing 'cmd'");
		goto out;
	}
	if (cmd->type != MSGPACK_OBJECT_STR) {
		snprintf(err, errlen, "'cmd' must be a string");
		goto out;
	}
	for (e = proto_cmds; e->name != NULL; e++) {
		if (proto_str_eq(cmd, e->name))
			break;
	}
	if (e->name == NULL) {
		char	 shown[65];
		size_t	 i, n = cmd->via.str.size > 64 ? 64 :
		    cmd->via.str.size;

		/* Echo it back, but never a control byte into a log. */
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)cmd->via.str.ptr[i];
			shown[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
		shown[n] = '\0';
		snprintf(err, errlen, "unknown command '%s'", shown);
		goto out;
	}
	req->cmd = e->cmd;
	rc = e->args(&u.data, req, err, errlen);
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}
