/* SPDX-License-Identifier: MIT */
/*
 * cmd.h: the control commands, one entry each, as tmux keeps its
 * cmd_entry: the name on the wire (and gwctl's word for it), gwctl's
 * usage, the keys of the request and of an ok reply, and the decoder of
 * the request's arguments.  The daemon binds one handler to each entry
 * (daemon/control.c) and gwctl one packer and printer (client/cmds.c),
 * both in tables indexed by enum cmd_id and checked against CMD_COUNT.
 *
 * Adding a command: its name and new keys in proto.h, its id here, its
 * entry in cmd.c; a handler in control.c, a printer in client/cmds.c;
 * the PROTOCOL section, gwctl(1), the bash completion and the tests.
 */
#ifndef GW_CMD_H
#define GW_CMD_H

#include <stddef.h>

#include <msgpack.h>

#include "proto.h"
#include "setting.h"

enum cmd_id {
	CMD_STATUS,
	CMD_RELOAD,
	CMD_STOP,
	CMD_SET_WARMUP,
	CMD_WORKERS,
	CMD_DEPLOY,
	CMD_ROLLBACK,
	CMD_SET,
	CMD_COUNT
};

/* A decoded, validated request: what the daemon acts on. */
struct cmd_request {
	enum cmd_id	 cmd;
	int		 wait;		/* reload */
	int		 progress;	/* reload, with wait */
	const struct setting_entry *setting;	/* set, set-warmup */
	double		 value;		/* ... its new value */
	char		 release[PROTO_PATH_MAX];	/* deploy */
	const char	*code;		/* decoding failed: PROTO_E_* */
};

/* How gwctl takes the command's words. */
enum cmd_words {
	CMD_W_NAME,		/* NAME (or -s) */
	CMD_W_NAME_OPT,		/* [NAME]: none means every daemon */
	CMD_W_NAME_VALUE,	/* NAME VALUE (or -s VALUE): of .setting */
	CMD_W_NAME_KEY_VALUE,	/* NAME KEY VALUE (or -s KEY VALUE) */
	CMD_W_NAME_DIR,		/* NAME DIR (or -s DIR) */
};

struct cmd_entry {
	enum cmd_id	 id;		/* its own index, checked */
	const char	*name;		/* PROTO_CMD_* */
	enum cmd_words	 words;
	const char	*usage;		/* after "gwctl ": "stop name" */
	const char	*help;		/* what it does, in a few words */
	const char *const *request;	/* keys besides "cmd"; NULL-ended */
	const char *const *reply;	/* keys of an ok reply; NULL-ended */
	int		 reloads;	/* starts a reload: with wait, the
					 * reply is its outcome */
	/* CMD_W_NAME_VALUE: the setting it sets (an alias of set). */
	const struct setting_entry *setting;
	/* Check and store the request's arguments: 0, or -1 and a reason. */
	int		(*args)(const msgpack_object *, struct cmd_request *,
			    char *, size_t);
};

extern const struct cmd_entry cmd_table[CMD_COUNT];

/* The entry of a command; NULL if id is out of range. */
const struct cmd_entry *cmd_get(enum cmd_id);
/* The entry called name; NULL if none is. */
const struct cmd_entry *cmd_find(const char *);
/* 1 if the command starts a reload (reload, deploy, rollback). */
int	cmd_reloads(enum cmd_id);

/*
 * Decode one complete message (as framed by proto_frame) into req.
 * 0 on success; -1 with a one-line reason in err, fit to send back, and
 * its code (PROTO_E_*) in req->code.
 */
int	cmd_decode(const char *, size_t, struct cmd_request *, char *,
	    size_t);

#endif
