/* SPDX-License-Identifier: MIT */
/*
 * cmd.c: the command table (see cmd.h) and the decoding of a request
 * against it.  Each entry checks its own arguments; keys a command does
 * not use are ignored, so that newer clients can add fields.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "proto.h"

static int	args_none(const msgpack_object *, struct cmd_request *,
		    char *, size_t);
static int	args_reload(const msgpack_object *, struct cmd_request *,
		    char *, size_t);
static int	args_set_warmup(const msgpack_object *, struct cmd_request *,
		    char *, size_t);
static int	args_deploy(const msgpack_object *, struct cmd_request *,
		    char *, size_t);
static int	args_set(const msgpack_object *, struct cmd_request *,
		    char *, size_t);

/* A string from a request, to echo back: at most size - 1 bytes, and
 * never a control byte (it goes into a log too). */
static void
printable(char *buf, size_t size, const msgpack_object *o)
{
	size_t	i, n = o->via.str.size < size - 1 ? o->via.str.size : size - 1;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)o->via.str.ptr[i];

		buf[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	buf[n] = '\0';
}

static const char *const no_keys[] = { NULL };
static const char *const ok_keys[] = { PROTO_K_OK, NULL };

static const char *const status_reply[] = { PROTO_K_OK, PROTO_K_NAME,
    PROTO_K_VERSION, PROTO_K_PID, PROTO_K_STATE, PROTO_K_UPTIME,
    PROTO_K_MASTER, PROTO_K_WORKERS, PROTO_K_DIRTY, PROTO_K_NEW_MASTER,
    PROTO_K_NEW_WORKERS, PROTO_K_OLD_MASTER, PROTO_K_OLD_WORKERS,
    PROTO_K_WARMUP, PROTO_K_PROBATION, PROTO_K_READY_MODE,
    PROTO_K_RELOAD_PENDING, PROTO_K_RELOAD_STATE, PROTO_K_PROGRESS,
    PROTO_K_RELOADS, PROTO_K_LAST_SUCCESS, PROTO_K_RELEASES, PROTO_K_RELEASE,
    PROTO_K_NEW_RELEASE, PROTO_K_FAILSAFE_WARNING, PROTO_K_HISTORY, NULL };
static const char *const reload_request[] = { PROTO_K_WAIT,
    PROTO_K_PROGRESS, NULL };
/* With wait: "reload" (and progress messages first); without: "id". */
static const char *const reload_reply[] = { PROTO_K_OK, PROTO_K_ID,
    PROTO_K_RELOAD, NULL };
static const char *const deploy_request[] = { PROTO_K_RELEASE, PROTO_K_WAIT,
    PROTO_K_PROGRESS, NULL };
static const char *const set_warmup_request[] = { PROTO_K_SECONDS, NULL };
static const char *const set_warmup_reply[] = { PROTO_K_OK, PROTO_K_OLD,
    PROTO_K_NEW, NULL };
static const char *const set_request[] = { PROTO_K_KEY, PROTO_K_VALUE, NULL };
static const char *const set_reply[] = { PROTO_K_OK, PROTO_K_KEY, PROTO_K_OLD,
    PROTO_K_NEW, NULL };
static const char *const workers_reply[] = { PROTO_K_OK, PROTO_K_MASTER,
    PROTO_K_MASTERS, PROTO_K_WORKERS, PROTO_K_NEW_MASTER,
    PROTO_K_NEW_WORKERS, PROTO_K_OLD_MASTER, PROTO_K_OLD_WORKERS, NULL };

const struct cmd_entry cmd_table[] = {
	[CMD_STATUS] = {
		.id = CMD_STATUS,
		.name = PROTO_CMD_STATUS,
		.words = CMD_W_NAME_OPT,
		.usage = "status [name]",
		.help = "one daemon in detail, or every daemon",
		.request = no_keys,
		.reply = status_reply,
		.args = args_none,
	},
	[CMD_RELOAD] = {
		.id = CMD_RELOAD,
		.name = PROTO_CMD_RELOAD,
		.words = CMD_W_NAME,
		.usage = "reload name [--no-wait]",
		.help = "reload with zero downtime; wait for the outcome",
		.request = reload_request,
		.reply = reload_reply,
		.reloads = 1,
		.args = args_reload,
	},
	[CMD_STOP] = {
		.id = CMD_STOP,
		.name = PROTO_CMD_STOP,
		.words = CMD_W_NAME,
		.usage = "stop name",
		.help = "stop gracefully",
		.request = no_keys,
		.reply = ok_keys,
		.args = args_none,
	},
	[CMD_SET_WARMUP] = {
		.id = CMD_SET_WARMUP,
		.name = PROTO_CMD_SET_WARMUP,
		.words = CMD_W_NAME_VALUE,
		.usage = "set-warmup name seconds",
		.help = "the same as set name warmup seconds",
		.request = set_warmup_request,
		.reply = set_warmup_reply,
		.setting = &setting_table[SETTING_WARMUP],
		.args = args_set_warmup,
	},
	[CMD_WORKERS] = {
		.id = CMD_WORKERS,
		.name = PROTO_CMD_WORKERS,
		.words = CMD_W_NAME,
		.usage = "workers name",
		.help = "master and worker PIDs, a reload's new ones too",
		.request = no_keys,
		.reply = workers_reply,
		.args = args_none,
	},
	[CMD_DEPLOY] = {
		.id = CMD_DEPLOY,
		.name = PROTO_CMD_DEPLOY,
		.words = CMD_W_NAME_DIR,
		.usage = "deploy name dir [--no-wait]",
		.help = "deploy a release directory; wait for the outcome",
		.request = deploy_request,
		.reply = reload_reply,
		.reloads = 1,
		.args = args_deploy,
	},
	[CMD_ROLLBACK] = {
		.id = CMD_ROLLBACK,
		.name = PROTO_CMD_ROLLBACK,
		.words = CMD_W_NAME,
		.usage = "rollback name [--no-wait]",
		.help = "deploy the release that served before this one",
		.request = reload_request,
		.reply = reload_reply,
		.reloads = 1,
		.args = args_reload,
	},
	[CMD_SET] = {
		.id = CMD_SET,
		.name = PROTO_CMD_SET,
		.words = CMD_W_NAME_KEY_VALUE,
		.usage = "set name key value",
		.help = "a setting for the next reload",
		.request = set_request,
		.reply = set_reply,
		.args = args_set,
	},
};
/* Sized by its initialisers: a command without an entry (the last one,
 * or any other, whose slot is then empty: cmd_get() refuses it) fails. */
_Static_assert(sizeof cmd_table / sizeof cmd_table[0] == CMD_COUNT,
    "one cmd_table entry per enum cmd_id");

const struct cmd_entry *
cmd_get(enum cmd_id id)
{
	if ((unsigned)id >= CMD_COUNT || cmd_table[id].name == NULL ||
	    cmd_table[id].id != id)
		return NULL;
	return &cmd_table[id];
}

const struct cmd_entry *
cmd_find(const char *name)
{
	size_t	i;

	for (i = 0; i < CMD_COUNT; i++) {
		if (cmd_get((enum cmd_id)i) != NULL &&
		    strcmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	}
	return NULL;
}

int
cmd_reloads(enum cmd_id id)
{
	const struct cmd_entry	*e = cmd_get(id);

	return e != NULL && e->reloads;
}

static int
args_none(const msgpack_object *map, struct cmd_request *req, char *err,
    size_t errlen)
{
	(void)map;
	(void)req;
	(void)err;
	(void)errlen;
	return 0;
}

/* A bool at key k, false when absent or nil: 0, or -1 and a reason. */
static int
arg_bool(const msgpack_object *map, const char *k, int *out, char *err,
    size_t errlen)
{
	const msgpack_object	*o = proto_get(map, k);

	*out = 0;
	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_BOOLEAN) {
		snprintf(err, errlen, "'%s' must be true or false", k);
		return -1;
	}
	*out = o->via.boolean;
	return 0;
}

static int
args_reload(const msgpack_object *map, struct cmd_request *req, char *err,
    size_t errlen)
{
	if (arg_bool(map, PROTO_K_WAIT, &req->wait, err, errlen) == -1 ||
	    arg_bool(map, PROTO_K_PROGRESS, &req->progress, err, errlen) == -1)
		return -1;
	return 0;
}

static int
args_deploy(const msgpack_object *map, struct cmd_request *req, char *err,
    size_t errlen)
{
	const msgpack_object	*o;

	if (args_reload(map, req, err, errlen) == -1)
		return -1;
	if ((o = proto_get(map, PROTO_K_RELEASE)) == NULL ||
	    o->type != MSGPACK_OBJECT_STR) {
		snprintf(err, errlen, "deploy needs 'release', a directory");
		return -1;
	}
	if (o->via.str.size == 0 || o->via.str.size >= sizeof req->release ||
	    o->via.str.ptr[0] != '/' ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
		snprintf(err, errlen, "'release' must be an absolute path "
		    "shorter than %zu bytes", sizeof req->release);
		return -1;
	}
	memcpy(req->release, o->via.str.ptr, o->via.str.size);
	req->release[o->via.str.size] = '\0';
	return 0;
}

static int
args_set_warmup(const msgpack_object *map, struct cmd_request *req,
    char *err, size_t errlen)
{
	req->setting = &setting_table[SETTING_WARMUP];
	if (proto_get(map, PROTO_K_SECONDS) == NULL) {
		snprintf(err, errlen, "set-warmup needs 'seconds'");
		return -1;
	}
	return setting_decode(req->setting, proto_get(map, PROTO_K_SECONDS),
	    &req->value, err, errlen);
}

static int
args_set(const msgpack_object *map, struct cmd_request *req, char *err,
    size_t errlen)
{
	const msgpack_object	*k = proto_get(map, PROTO_K_KEY);
	char			 keys[128], shown[33];

	if (k == NULL || k->type != MSGPACK_OBJECT_STR) {
		snprintf(err, errlen, "set needs 'key', a string");
		return -1;
	}
	if ((req->setting = setting_find(k->via.str.ptr,
	    k->via.str.size)) == NULL) {
		printable(shown, sizeof shown, k);
		setting_keys(keys, sizeof keys);
		snprintf(err, errlen, "unknown setting '%s' (%s)", shown,
		    keys);
		return -1;
	}
	if (proto_get(map, PROTO_K_VALUE) == NULL) {
		snprintf(err, errlen, "set needs 'value'");
		return -1;
	}
	return setting_decode(req->setting, proto_get(map, PROTO_K_VALUE),
	    &req->value, err, errlen);
}

int
cmd_decode(const char *buf, size_t len, struct cmd_request *req, char *err,
    size_t errlen)
{
	const struct cmd_entry	*e = NULL;
	const msgpack_object	*cmd;
	msgpack_unpacked	 u;
	size_t			 off = 0, i;
	int			 rc = -1;

	memset(req, 0, sizeof *req);
	req->code = PROTO_E_MALFORMED;
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
	for (i = 0; i < CMD_COUNT && e == NULL; i++) {
		if (cmd_get((enum cmd_id)i) != NULL &&
		    proto_str_eq(cmd, cmd_table[i].name))
			e = &cmd_table[i];
	}
	if (e == NULL) {
		char	 shown[65];

		printable(shown, sizeof shown, cmd);
		snprintf(err, errlen, "unknown command '%s'", shown);
		req->code = PROTO_E_UNKNOWN_COMMAND;
		goto out;
	}
	req->cmd = e->id;
	if ((rc = e->args(&u.data, req, err, errlen)) == -1)
		req->code = PROTO_E_BAD_ARGUMENT;
	else
		req->code = NULL;
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}
