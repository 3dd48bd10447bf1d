/* SPDX-License-Identifier: MIT */
/*
 * test_control.c: unit tests (cmocka) for the control layer without a
 * gunicorn: the command table (common/cmd.c), proto.c's framing, limits
 * and map builder, and daemon/control.c itself, served from a real event
 * loop on a real Unix socket in a private directory, with a minimal
 * struct gw (no master: the daemon is "starting").  Each exchange pumps
 * the loop until the reply is whole, with a deadline.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <msgpack.h>

#include "clock.h"
#include "cmd.h"
#include "control.h"
#include "gw.h"
#include "log.h"
#include "proto.h"
#include "reload.h"
#include "server.h"

/* ---- the command table ---- */

static void
test_cmd_table(void **state)
{
	const struct cmd_entry	*e;
	size_t			 i, k;

	(void)state;
	for (i = 0; i < CMD_COUNT; i++) {
		e = cmd_get((enum cmd_id)i);
		assert_non_null(e);
		assert_int_equal(e->id, i);
		assert_non_null(e->name);
		assert_ptr_equal(cmd_find(e->name), e);
		/* gwctl's usage starts with the command's own name. */
		assert_int_equal(strncmp(e->usage, e->name, strlen(e->name)),
		    0);
		assert_non_null(e->help);
		assert_non_null(e->args);
		assert_non_null(e->request);
		assert_non_null(e->reply);
		for (k = 0; e->request[k] != NULL; k++)
			assert_string_not_equal(e->request[k], PROTO_K_CMD);
	}
	assert_null(cmd_get(CMD_COUNT));
	assert_null(cmd_get((enum cmd_id)-1));
	assert_null(cmd_find("frobnicate"));
	assert_null(cmd_find(""));
}

/* ---- requests, packed by hand ---- */

static void
pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

/* A request {"cmd": name} plus one optional key k of type t ('b' bool
 * true, 'n' nil, 'd' double v, 's' string "x", 'p' an absolute path). */
static void
request(msgpack_sbuffer *sb, const char *name, const char *k, char t,
    double v)
{
	msgpack_packer	pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, k != NULL ? 2 : 1);
	pack_str(&pk, PROTO_K_CMD);
	pack_str(&pk, name);
	if (k == NULL)
		return;
	pack_str(&pk, k);
	switch (t) {
	case 'b':
		msgpack_pack_true(&pk);
		break;
	case 'n':
		msgpack_pack_nil(&pk);
		break;
	case 'd':
		msgpack_pack_double(&pk, v);
		break;
	case 'p':
		pack_str(&pk, "/srv/app/releases/42");
		break;
	default:
		pack_str(&pk, "x");
		break;
	}
}

static int
decode(msgpack_sbuffer *sb, struct cmd_request *req, char *err)
{
	int	rc = cmd_decode(sb->data, sb->size, req, err, 256);

	msgpack_sbuffer_destroy(sb);
	return rc;
}

/* {"cmd": "set", "key": key, "value": v}; key NULL or v NAN: left out. */
static void
request_set(msgpack_sbuffer *sb, const char *key, double v)
{
	msgpack_packer	pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1 + (key != NULL) + !isnan(v));
	pack_str(&pk, PROTO_K_CMD);
	pack_str(&pk, PROTO_CMD_SET);
	if (key != NULL) {
		pack_str(&pk, PROTO_K_KEY);
		pack_str(&pk, key);
	}
	if (!isnan(v)) {
		pack_str(&pk, PROTO_K_VALUE);
		msgpack_pack_double(&pk, v);
	}
}

/* set: every key of the settings table, at and past its limits. */
static void
test_cmd_decode_set(void **state)
{
	struct cmd_request	 req;
	msgpack_sbuffer		 sb;
	char			 err[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < SETTING_COUNT; i++) {
		const struct setting_entry *e = &setting_table[i];

		request_set(&sb, e->key, e->max);
		assert_int_equal(decode(&sb, &req, err), 0);
		assert_int_equal(req.cmd, CMD_SET);
		assert_ptr_equal(req.setting, e);
		assert_true(req.value == e->max);
		request_set(&sb, e->key, e->min);
		assert_int_equal(decode(&sb, &req, err), e->min_ok ? 0 : -1);
		request_set(&sb, e->key, e->max + 0.001);
		assert_int_equal(decode(&sb, &req, err), -1);
		assert_string_equal(req.code, PROTO_E_BAD_ARGUMENT);
		request_set(&sb, e->key, e->min - 1);
		assert_int_equal(decode(&sb, &req, err), -1);
		request_set(&sb, e->key, INFINITY);
		assert_int_equal(decode(&sb, &req, err), -1);
		request_set(&sb, e->key, NAN);
		assert_int_equal(decode(&sb, &req, err), -1);
		assert_string_equal(err, "set needs 'value'");
	}
	request_set(&sb, "probation", 601);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(err, "probation must be a number of seconds, "
	    "0 <= s <= 600");
	request_set(&sb, "stop-timeout\x1b[2J", 5);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(req.code, PROTO_E_BAD_ARGUMENT);
	assert_string_equal(err, "unknown setting 'stop-timeout?[2J' "
	    "(warmup, probation)");
	request_set(&sb, NULL, 5);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(err, "set needs 'key', a string");
}

/* The settings table, as the command line and gwctl read a value. */
static void
test_setting_parse(void **state)
{
	const struct setting_entry	*w = &setting_table[SETTING_WARMUP],
					*p = &setting_table[SETTING_PROBATION];
	const char			*why;
	char				 buf[64];
	double				 v;

	(void)state;
	assert_ptr_equal(setting_find("warmup", 6), w);
	assert_ptr_equal(setting_find("probation", 9), p);
	assert_null(setting_find("warm", 4));
	assert_null(setting_find("warmupx", 7));
	assert_int_equal(setting_parse(w, "45", &v, &why), 0);
	assert_true(v == 45);
	assert_int_equal(setting_parse(w, "0", &v, &why), -1);
	assert_string_equal(why, "must be greater than 0");
	assert_int_equal(setting_parse(p, "0", &v, &why), 0);
	assert_true(v == 0);
	assert_int_equal(setting_parse(p, "-0.5", &v, &why), -1);
	assert_string_equal(why, "must not be negative");
	assert_int_equal(setting_parse(p, "600.5", &v, &why), -1);
	assert_string_equal(why, "too large");
	assert_int_equal(setting_parse(p, "1e3", &v, &why), -1);
	setting_range(w, buf, sizeof buf);
	assert_string_equal(buf, "0 < s <= 3600");
	setting_keys(buf, sizeof buf);
	assert_string_equal(buf, "warmup, probation");
}

static void
test_cmd_decode(void **state)
{
	struct cmd_request	 req;
	msgpack_sbuffer		 sb;
	char			 err[256];
	size_t			 i;

	(void)state;
	/* Every command, bare, decodes (set-warmup needs its seconds,
	 * deploy its release). */
	for (i = 0; i < CMD_COUNT; i++) {
		if (i == CMD_SET)
			continue;	/* two keys: test_cmd_decode_set */
		request(&sb, cmd_table[i].name, i == CMD_SET_WARMUP ?
		    PROTO_K_SECONDS : i == CMD_DEPLOY ? PROTO_K_RELEASE : NULL,
		    i == CMD_DEPLOY ? 'p' : 'd', 5);
		assert_int_equal(decode(&sb, &req, err), 0);
		assert_int_equal(req.cmd, i);
		assert_null(req.code);
	}
	request(&sb, PROTO_CMD_RELOAD, PROTO_K_WAIT, 'b', 0);
	assert_int_equal(decode(&sb, &req, err), 0);
	assert_true(req.wait);
	assert_false(req.progress);
	request(&sb, PROTO_CMD_RELOAD, PROTO_K_WAIT, 'n', 0);
	assert_int_equal(decode(&sb, &req, err), 0);
	assert_false(req.wait);
	request(&sb, PROTO_CMD_RELOAD, PROTO_K_WAIT, 's', 0);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(req.code, PROTO_E_BAD_ARGUMENT);
	assert_string_equal(err, "'wait' must be true or false");
	request(&sb, PROTO_CMD_SET_WARMUP, PROTO_K_SECONDS, 'd', 3600);
	assert_int_equal(decode(&sb, &req, err), 0);
	assert_true(req.value == 3600);
	assert_ptr_equal(req.setting, &setting_table[SETTING_WARMUP]);
	request(&sb, PROTO_CMD_SET_WARMUP, PROTO_K_SECONDS, 'd', 3600.5);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(req.code, PROTO_E_BAD_ARGUMENT);
	request(&sb, PROTO_CMD_SET_WARMUP, PROTO_K_SECONDS, 'd', 0);
	assert_int_equal(decode(&sb, &req, err), -1);
	request(&sb, PROTO_CMD_SET_WARMUP, NULL, 0, 0);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(err, "set-warmup needs 'seconds'");
	request(&sb, PROTO_CMD_DEPLOY, PROTO_K_RELEASE, 'p', 0);
	assert_int_equal(decode(&sb, &req, err), 0);
	assert_string_equal(req.release, "/srv/app/releases/42");
	request(&sb, PROTO_CMD_DEPLOY, PROTO_K_RELEASE, 's', 0);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(req.code, PROTO_E_BAD_ARGUMENT);
	request(&sb, PROTO_CMD_DEPLOY, NULL, 0, 0);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(err, "deploy needs 'release', a directory");
	/* Unknown keys are ignored: newer clients may add fields. */
	request(&sb, PROTO_CMD_STATUS, "future", 's', 0);
	assert_int_equal(decode(&sb, &req, err), 0);
	/* An unknown command is echoed, control bytes made '?'. */
	request(&sb, "frob\033nicate", NULL, 0, 0);
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(req.code, PROTO_E_UNKNOWN_COMMAND);
	assert_string_equal(err, "unknown command 'frob?nicate'");
	/* No cmd, or not a string. */
	request(&sb, "status", NULL, 0, 0);
	sb.data[1] = 'x';		/* "cmd" -> "xmd" */
	assert_int_equal(decode(&sb, &req, err), -1);
	assert_string_equal(req.code, PROTO_E_MALFORMED);
	assert_string_equal(err, "missing 'cmd'");
	assert_int_equal(cmd_decode("\x81\xa3" "cmd" "\x01", 6, &req, err,
	    sizeof err), -1);
	assert_string_equal(req.code, PROTO_E_MALFORMED);
	assert_string_equal(err, "'cmd' must be a string");
	assert_int_equal(cmd_decode("\x91\x01", 2, &req, err, sizeof err), -1);
	assert_string_equal(req.code, PROTO_E_MALFORMED);
}

/* ---- framing and limits ---- */

static enum proto_frame
frame(const void *buf, size_t len, size_t *msglen, const char **why)
{
	return proto_frame(buf, len, msglen, why);
}

static void
test_proto_frame(void **state)
{
	msgpack_sbuffer	 sb;
	const char	*why;
	unsigned char	 buf[PROTO_MAX_MESSAGE + 16];
	size_t		 msglen, i;

	(void)state;
	request(&sb, PROTO_CMD_RELOAD, PROTO_K_WAIT, 'b', 0);
	/* Every proper prefix is incomplete; the whole is complete; two
	 * messages back to back frame as the first. */
	for (i = 0; i < sb.size; i++)
		assert_int_equal(frame(sb.data, i, &msglen, &why),
		    PROTO_INCOMPLETE);
	memcpy(buf, sb.data, sb.size);
	memcpy(buf + sb.size, sb.data, sb.size);
	assert_int_equal(frame(buf, 2 * sb.size, &msglen, &why),
	    PROTO_COMPLETE);
	assert_int_equal(msglen, sb.size);
	msgpack_sbuffer_destroy(&sb);

	/* Not a map, at the first byte; the reserved byte anywhere. */
	assert_int_equal(frame("\x91", 1, &msglen, &why), PROTO_INVALID);
	assert_string_equal(proto_frame_code(why), PROTO_E_MALFORMED);
	assert_int_equal(frame("\x81\xc1", 2, &msglen, &why), PROTO_INVALID);
	assert_string_equal(proto_frame_code(why), PROTO_E_MALFORMED);

	/* A map32 claiming 2^31 pairs: refused from its header alone. */
	assert_int_equal(frame("\xdf\x80\x00\x00\x00", 5, &msglen, &why),
	    PROTO_INVALID);
	assert_string_equal(proto_frame_code(why), PROTO_E_TOO_LARGE);
	/* A string header past the message limit. */
	assert_int_equal(frame("\x81\xdb\x00\x02\x00\x00", 6, &msglen, &why),
	    PROTO_INVALID);
	assert_string_equal(proto_frame_code(why), PROTO_E_TOO_LARGE);

	/* Nesting: PROTO_MAX_DEPTH levels pass, one more does not. */
	for (i = 0; i < PROTO_MAX_DEPTH; i++)
		buf[i] = 0x81, buf[PROTO_MAX_DEPTH + i] = 0;
	memset(buf, 0, sizeof buf);
	for (i = 0; i < PROTO_MAX_DEPTH - 1; i++) {
		buf[2 * i] = 0x81;	/* {0: ...} */
		buf[2 * i + 1] = 0x00;
	}
	buf[2 * i] = 0x80;		/* the innermost, empty */
	assert_int_equal(frame(buf, 2 * i + 1, &msglen, &why),
	    PROTO_COMPLETE);
	for (i = 0; i < PROTO_MAX_DEPTH + 1; i++) {
		buf[2 * i] = 0x81;
		buf[2 * i + 1] = 0x00;
	}
	buf[2 * i] = 0xc0;
	assert_int_equal(frame(buf, 2 * i + 1, &msglen, &why),
	    PROTO_INVALID);
	assert_string_equal(proto_frame_code(why), PROTO_E_TOO_LARGE);

	/* The size limit: a str32 that ends exactly at PROTO_MAX_MESSAGE
	 * frames; one byte more does not. */
	for (i = 0; i < 2; i++) {
		size_t	body = PROTO_MAX_MESSAGE - 1 - 1 - 5 + i;

		buf[0] = 0x81;
		buf[1] = 0xc0;		/* key nil */
		buf[2] = 0xdb;
		buf[3] = (unsigned char)(body >> 24);
		buf[4] = (unsigned char)(body >> 16);
		buf[5] = (unsigned char)(body >> 8);
		buf[6] = (unsigned char)body;
		memset(buf + 7, 'a', body);
		if (i == 0) {
			assert_int_equal(frame(buf, 7 + body, &msglen, &why),
			    PROTO_COMPLETE);
			assert_int_equal(msglen, PROTO_MAX_MESSAGE + 1 - 1);
		} else {
			assert_int_equal(frame(buf, 7 + body, &msglen, &why),
			    PROTO_INVALID);
			assert_string_equal(proto_frame_code(why),
			    PROTO_E_TOO_LARGE);
		}
	}
}

/* ---- the map builder and error replies ---- */

static msgpack_object
unpack(msgpack_unpacked *u, const msgpack_sbuffer *sb)
{
	size_t	off = 0;

	msgpack_unpacked_init(u);
	assert_int_equal(msgpack_unpack_next(u, sb->data, sb->size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, sb->size);
	return u->data;
}

static void
test_proto_map(void **state)
{
	struct proto_map	 m, inner;
	msgpack_sbuffer		 sb;
	msgpack_unpacked	 u;
	msgpack_object		 o;
	const msgpack_object	*p;
	pid_t			 pids[] = { 7, 8, 9 };

	(void)state;
	proto_map_init(&m);
	proto_map_bool(&m, PROTO_K_OK, 1);
	proto_map_str(&m, PROTO_K_NAME, "app");
	proto_map_str(&m, PROTO_K_NOTE, NULL);
	proto_map_int(&m, PROTO_K_ID, 3);
	proto_map_double(&m, PROTO_K_WARMUP, 2.5);
	proto_map_nil(&m, PROTO_K_PROGRESS);
	proto_map_pid(&m, PROTO_K_MASTER, 0);
	proto_map_pid(&m, PROTO_K_NEW_MASTER, 42);
	proto_map_pids(&m, PROTO_K_WORKERS, pids, 3);
	proto_map_init(&inner);
	proto_map_int(&inner, PROTO_K_READY, 1);
	proto_map_end(&inner, proto_map_key(&m, PROTO_K_RELOAD));
	proto_map_message(&m, &sb);
	o = unpack(&u, &sb);
	assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(o.via.map.size, 10);
	assert_true(proto_get(&o, PROTO_K_OK)->via.boolean);
	assert_true(proto_str_eq(proto_get(&o, PROTO_K_NAME), "app"));
	assert_int_equal(proto_get(&o, PROTO_K_NOTE)->type, MSGPACK_OBJECT_NIL);
	assert_int_equal(proto_get(&o, PROTO_K_MASTER)->type,
	    MSGPACK_OBJECT_NIL);
	assert_int_equal(proto_get(&o, PROTO_K_NEW_MASTER)->via.u64, 42);
	assert_int_equal(proto_get(&o, PROTO_K_WORKERS)->via.array.size, 3);
	p = proto_get(&o, PROTO_K_RELOAD);
	assert_int_equal(p->type, MSGPACK_OBJECT_MAP);
	assert_int_equal(p->via.map.size, 1);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);

	/* An empty map is a map. */
	proto_map_init(&m);
	proto_map_message(&m, &sb);
	o = unpack(&u, &sb);
	assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(o.via.map.size, 0);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);

	msgpack_sbuffer_init(&sb);
	proto_error_reply(&sb, "busy", PROTO_E_BUSY);
	o = unpack(&u, &sb);
	assert_int_equal(o.via.map.size, 3);
	assert_false(proto_get(&o, PROTO_K_OK)->via.boolean);
	assert_true(proto_str_eq(proto_get(&o, PROTO_K_ERROR), "busy"));
	assert_true(proto_str_eq(proto_get(&o, PROTO_K_CODE), PROTO_E_BUSY));
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- control.c on a real socket ---- */

#define DEADLINE	5.0

struct fixture {
	struct gw	 gw;
	char		 dir[64];
	char		 sock[96];
	char		 in[PROTO_MAX_MESSAGE * 2];
	char		 msg[PROTO_MAX_MESSAGE];	/* what f->u refers to */
	size_t		 inlen;
	msgpack_unpacked u;
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof *f);

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/gw-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof f->sock, "%s/unit.sock", f->dir);
	f->gw.base = event_base_new();
	assert_non_null(f->gw.base);
	TAILQ_INIT(&f->gw.masters);
	f->gw.cfg.name = "unit";
	f->gw.cfg.socket = f->sock;
	f->gw.cfg.socket_gid = (gid_t)-1;
	f->gw.cfg.warmup = 30;
	f->gw.started = now_real();
	f->gw.state = GW_STARTING;
	server_init(&f->gw);		/* and reload_init, with its hooks */
	assert_int_equal(control_init(&f->gw), 0);
	msgpack_unpacked_init(&f->u);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	control_free(&f->gw);
	reload_free(&f->gw);
	event_free(f->gw.stop_timer);
	event_free(f->gw.boot_extend);
	event_base_free(f->gw.base);
	msgpack_unpacked_destroy(&f->u);
	/* control_free() removed the socket: the directory is empty. */
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static void
pump(struct fixture *f)
{
	assert_int_not_equal(event_base_loop(f->gw.base, EVLOOP_NONBLOCK),
	    -1);
}

static int
client(struct fixture *f)
{
	struct sockaddr_un	sun;
	int			fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	f->inlen = 0;
	pump(f);
	return fd;
}

static void
send_all(struct fixture *f, int fd, const void *buf, size_t len)
{
	double	end = now_mono() + DEADLINE;
	ssize_t	n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EAGAIN) {
			assert_true(now_mono() < end);
			pump(f);
			continue;
		}
		assert_true(n > 0);
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	pump(f);
}

/*
 * The next whole reply on fd, into f->u; the loop runs meanwhile.  Bytes
 * past it (the next reply, come in the same read) stay in f->in for the
 * next call.  0, or -1 if the daemon closed the connection first.
 */
static int
reply(struct fixture *f, int fd, const msgpack_object **o)
{
	double		 end = now_mono() + DEADLINE;
	const char	*why;
	size_t		 msglen, off = 0;
	ssize_t		 n;

	for (;;) {
		if (f->inlen > 0 && proto_frame(f->in, f->inlen, &msglen,
		    &why) == PROTO_COMPLETE)
			break;
		pump(f);
		n = recv(fd, f->in + f->inlen, sizeof f->in - f->inlen, 0);
		if (n == 0)
			return -1;
		if (n == -1) {
			assert_true(errno == EAGAIN || errno == ECONNRESET);
			if (errno == ECONNRESET)
				return -1;
			assert_true(now_mono() < end);
			poll(NULL, 0, 1);
			continue;
		}
		f->inlen += (size_t)n;
	}
	msgpack_unpacked_destroy(&f->u);
	msgpack_unpacked_init(&f->u);
	/* f->u refers into the bytes it was unpacked from: a copy. */
	memcpy(f->msg, f->in, msglen);
	assert_int_equal(msgpack_unpack_next(&f->u, f->msg, msglen, &off),
	    MSGPACK_UNPACK_SUCCESS);
	memmove(f->in, f->in + msglen, f->inlen - msglen);
	f->inlen -= msglen;
	*o = &f->u.data;
	return 0;
}

/* 1 once the daemon has closed fd (after any reply), within DEADLINE. */
static int
closed(struct fixture *f, int fd)
{
	double	end = now_mono() + DEADLINE;
	char	buf[4096];
	ssize_t	n;

	while (now_mono() < end) {
		pump(f);
		n = recv(fd, buf, sizeof buf, 0);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 1;
		if (n == -1 && errno != EAGAIN)
			return 0;
		poll(NULL, 0, 1);
	}
	return 0;
}

static const msgpack_object *
ask(struct fixture *f, int fd, const char *name, const char *k, char t,
    double v)
{
	const msgpack_object	*o;
	msgpack_sbuffer		 sb;

	request(&sb, name, k, t, v);
	send_all(f, fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	assert_int_equal(reply(f, fd, &o), 0);
	return o;
}

static void
assert_error(const msgpack_object *o, const char *code, const char *text)
{
	const msgpack_object	*c = proto_get(o, PROTO_K_CODE);

	assert_non_null(c);
	assert_false(proto_get(o, PROTO_K_OK)->via.boolean);
	if (!proto_str_eq(c, code))
		fail_msg("code %.*s, wanted %s", (int)c->via.str.size,
		    c->via.str.ptr, code);
	if (text != NULL)
		assert_true(proto_str_eq(proto_get(o, PROTO_K_ERROR), text));
}

/* An ok reply has exactly the keys its entry lists. */
static void
assert_keys(const msgpack_object *o, enum cmd_id id)
{
	const char *const	*k = cmd_table[id].reply;
	size_t			 n;

	assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
	assert_true(proto_get(o, PROTO_K_OK)->via.boolean);
	for (n = 0; k[n] != NULL; n++) {
		if (proto_get(o, k[n]) == NULL)
			fail_msg("%s reply lacks %s", cmd_table[id].name, k[n]);
	}
	assert_int_equal(o->via.map.size, n);
}

static void
test_control_commands(void **state)
{
	struct fixture		*f = *state;
	const msgpack_object	*o;
	msgpack_sbuffer		 sb;
	int			 fd = client(f), fd2;

	o = ask(f, fd, PROTO_CMD_STATUS, NULL, 0, 0);
	assert_keys(o, CMD_STATUS);
	assert_true(proto_str_eq(proto_get(o, PROTO_K_STATE),
	    PROTO_STATE_STARTING));
	assert_true(proto_str_eq(proto_get(o, PROTO_K_NAME), "unit"));
	assert_int_equal(proto_get(o, PROTO_K_MASTER)->type,
	    MSGPACK_OBJECT_NIL);
	assert_int_equal(proto_get(o, PROTO_K_PID)->via.u64, getpid());

	o = ask(f, fd, PROTO_CMD_WORKERS, NULL, 0, 0);
	/* No reload: "reload" keys of the table stay, as nil and []. */
	assert_keys(o, CMD_WORKERS);
	assert_int_equal(proto_get(o, PROTO_K_NEW_MASTER)->type,
	    MSGPACK_OBJECT_NIL);
	assert_int_equal(proto_get(o, PROTO_K_WORKERS)->via.array.size, 0);
	assert_int_equal(proto_get(o, PROTO_K_MASTERS)->via.array.size, 0);

	o = ask(f, fd, PROTO_CMD_SET_WARMUP, PROTO_K_SECONDS, 'd', 12.5);
	assert_keys(o, CMD_SET_WARMUP);
	assert_true(proto_get(o, PROTO_K_OLD)->via.f64 == 30);
	assert_true(proto_get(o, PROTO_K_NEW)->via.f64 == 12.5);
	assert_true(f->gw.cfg.warmup == 12.5);

	/* Asked while the first generation boots: queued for its end, and
	 * status says so; a stop then answers it, failed. */
	request(&sb, PROTO_CMD_RELOAD, PROTO_K_WAIT, 'b', 0);
	send_all(f, fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	fd2 = client(f);
	o = ask(f, fd2, PROTO_CMD_STATUS, NULL, 0, 0);
	assert_keys(o, CMD_STATUS);
	assert_true(proto_get(o, PROTO_K_RELOAD_PENDING)->via.boolean);
	assert_true(proto_str_eq(proto_get(o, PROTO_K_RELOAD_STATE),
	    "booting"));
	reload_abandon(&f->gw, "abandoned: the wrapper is stopping");
	assert_int_equal(reply(f, fd, &o), 0);
	assert_false(proto_get(o, PROTO_K_OK)->via.boolean);
	/* From then on, refused: answered, connection kept. */
	f->gw.state = GW_STOPPING;
	o = ask(f, fd, PROTO_CMD_RELOAD, PROTO_K_WAIT, 'b', 0);
	assert_error(o, PROTO_E_UNAVAILABLE,
	    "reload refused: the wrapper is stopping");
	o = ask(f, fd, PROTO_CMD_STATUS, NULL, 0, 0);
	assert_keys(o, CMD_STATUS);
	assert_true(proto_str_eq(proto_get(o, PROTO_K_RELOAD_STATE),
	    "stopped"));
	close(fd2);
	close(fd);
}

static void
test_control_framing(void **state)
{
	struct fixture		*f = *state;
	const msgpack_object	*o;
	msgpack_sbuffer		 sb;
	char			 two[256];
	size_t			 i;
	int			 fd = client(f);

	/* Two requests in one write: two replies, in order. */
	request(&sb, PROTO_CMD_SET_WARMUP, PROTO_K_SECONDS, 'd', 7);
	memcpy(two, sb.data, sb.size);
	i = sb.size;
	msgpack_sbuffer_destroy(&sb);
	request(&sb, PROTO_CMD_WORKERS, NULL, 0, 0);
	memcpy(two + i, sb.data, sb.size);
	i += sb.size;
	msgpack_sbuffer_destroy(&sb);
	send_all(f, fd, two, i);
	assert_int_equal(reply(f, fd, &o), 0);
	assert_keys(o, CMD_SET_WARMUP);
	assert_int_equal(reply(f, fd, &o), 0);
	assert_keys(o, CMD_WORKERS);
	assert_int_equal(f->inlen, 0);
	close(fd);

	/* A request a byte at a time. */
	fd = client(f);
	request(&sb, PROTO_CMD_STATUS, NULL, 0, 0);
	for (i = 0; i < sb.size; i++)
		send_all(f, fd, sb.data + i, 1);
	msgpack_sbuffer_destroy(&sb);
	assert_int_equal(reply(f, fd, &o), 0);
	assert_keys(o, CMD_STATUS);
	close(fd);
}

/* What a bad request gets: its code, then the connection closed. */
static void
bad(struct fixture *f, const void *buf, size_t len, int shut,
    const char *code, const char *text)
{
	const msgpack_object	*o;
	int			 fd = client(f);

	send_all(f, fd, buf, len);
	if (shut)
		assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(reply(f, fd, &o), 0);
	assert_error(o, code, text);
	assert_true(closed(f, fd));
	close(fd);
}

static void
test_control_bad_requests(void **state)
{
	struct fixture	*f = *state;
	msgpack_sbuffer	 sb;
	unsigned char	 deep[2 * PROTO_MAX_DEPTH + 8];
	size_t		 i;

	bad(f, "\x91\x01", 2, 0, PROTO_E_MALFORMED,
	    "a request must be a msgpack map");
	bad(f, "\xdf\x80\x00\x00\x00", 5, 0, PROTO_E_TOO_LARGE,
	    "message has too many elements");
	bad(f, "\x81\xdb\x7f\xff\xff\xff", 6, 0, PROTO_E_TOO_LARGE,
	    "message too large");
	for (i = 0; i < PROTO_MAX_DEPTH + 1; i++) {
		deep[2 * i] = 0x81;
		deep[2 * i + 1] = 0x00;
	}
	bad(f, deep, 2 * i, 0, PROTO_E_TOO_LARGE,
	    "message nested too deeply");
	request(&sb, "frobnicate", NULL, 0, 0);
	bad(f, sb.data, sb.size, 0, PROTO_E_UNKNOWN_COMMAND,
	    "unknown command 'frobnicate'");
	/* Half a request, then end of file. */
	bad(f, sb.data, sb.size - 3, 1, PROTO_E_MALFORMED,
	    "request incomplete at end of file");
	msgpack_sbuffer_destroy(&sb);
	request(&sb, PROTO_CMD_SET_WARMUP, PROTO_K_SECONDS, 'd', -1);
	bad(f, sb.data, sb.size, 0, PROTO_E_BAD_ARGUMENT, NULL);
	msgpack_sbuffer_destroy(&sb);

	/* The daemon serves on after all that. */
	{
		const msgpack_object	*o;
		int			 fd = client(f);

		o = ask(f, fd, PROTO_CMD_STATUS, NULL, 0, 0);
		assert_keys(o, CMD_STATUS);
		close(fd);
	}
}

/* A half-closed client is answered, then closed: nc -N's way. */
static void
test_control_half_close(void **state)
{
	struct fixture		*f = *state;
	const msgpack_object	*o;
	msgpack_sbuffer		 sb;
	int			 fd = client(f);

	request(&sb, PROTO_CMD_WORKERS, NULL, 0, 0);
	send_all(f, fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(reply(f, fd, &o), 0);
	assert_keys(o, CMD_WORKERS);
	assert_true(closed(f, fd));
	close(fd);
}

/*
 * The slot limit: PROTO_MAX_CLIENTS connections, all too young to be
 * dropped for a newer one: the next is told "busy" (code busy) and
 * closed, and the ones in place are still served.
 */
static void
test_control_busy(void **state)
{
	struct fixture		*f = *state;
	const msgpack_object	*o;
	int			 fds[PROTO_MAX_CLIENTS], fd, i;

	for (i = 0; i < PROTO_MAX_CLIENTS; i++)
		fds[i] = client(f);
	fd = client(f);
	assert_int_equal(reply(f, fd, &o), 0);
	assert_error(o, PROTO_E_BUSY, "busy");
	assert_true(closed(f, fd));
	close(fd);
	o = ask(f, fds[0], PROTO_CMD_STATUS, NULL, 0, 0);
	assert_keys(o, CMD_STATUS);
	o = ask(f, fds[PROTO_MAX_CLIENTS - 1], PROTO_CMD_STATUS, NULL, 0, 0);
	assert_keys(o, CMD_STATUS);
	for (i = 0; i < PROTO_MAX_CLIENTS; i++)
		close(fds[i]);
	/* Their slots come back once the daemon sees them go. */
	for (i = 0; i < 50; i++)
		pump(f);
	fd = client(f);
	o = ask(f, fd, PROTO_CMD_STATUS, NULL, 0, 0);
	assert_keys(o, CMD_STATUS);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_table),
		cmocka_unit_test(test_cmd_decode),
		cmocka_unit_test(test_cmd_decode_set),
		cmocka_unit_test(test_setting_parse),
		cmocka_unit_test(test_proto_frame),
		cmocka_unit_test(test_proto_map),
		cmocka_unit_test_setup_teardown(test_control_commands, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_control_framing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_control_bad_requests,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_half_close,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_busy, setup,
		    teardown),
	};

	/* Quiet: the refusals it provokes are logged at warning. */
	log_init("test_control", "unit");
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, NULL);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
