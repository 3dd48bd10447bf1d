/* SPDX-License-Identifier: MIT */
/*
 * proto.h: the control protocol, the contract between the daemon, gwctl
 * and any script.  One msgpack map per message on a Unix stream socket;
 * the client sends a request, the daemon one reply; several may follow on
 * one connection.  Keys are strings.  Fields are added, never renamed or
 * retyped; man/gunicorn-wrapper.8 (PROTOCOL) documents the same.  Every
 * key on the wire is named here; the commands, with the keys of their
 * requests and replies, are the table of cmd.h.
 *
 * Requests:  {"cmd": "status"}
 *            {"cmd": "reload", "wait": bool, "progress": bool}
 *                                        both default to false
 *            {"cmd": "stop"}
 *            {"cmd": "set", "key": string, "value": number}
 *                                        a key of setting.h's table
 *            {"cmd": "set-warmup", "seconds": number} set warmup
 *            {"cmd": "workers"}
 * Replies:   {"ok": bool, "error": string, "code": string (when not ok),
 *            ...}.  "code" is one of PROTO_E_*: clients decide on it,
 *            never on the text (old daemons send no code).
 *            A reload with wait and progress is first sent zero or more
 *            {"ok": true, "progress": P}, then its one reply; P is
 *            {"id", "phase", "elapsed", "budget", "ready", "workers"}.
 */
#ifndef GW_PROTO_H
#define GW_PROTO_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Limits a client cannot exceed. */
#define PROTO_MAX_MESSAGE	(64 * 1024)	/* bytes in one message */
#define PROTO_MAX_ITEMS		4096		/* objects in one message */
#define PROTO_MAX_DEPTH		32		/* nested non-empty maps/arrays */
#define PROTO_MAX_CLIENTS	64		/* connections at once */
#define PROTO_MAX_CLIENTS_UID	16		/* ... from one other user */
#define PROTO_RESERVED_CLIENTS	16		/* ... kept for root and us */
#define PROTO_IDLE_TIMEOUT	10		/* seconds: a request's whole
						 * time from its first byte; a
						 * silent connection's life */

/* Command names. */
#define PROTO_CMD_STATUS	"status"
#define PROTO_CMD_RELOAD	"reload"
#define PROTO_CMD_STOP		"stop"
#define PROTO_CMD_SET_WARMUP	"set-warmup"
#define PROTO_CMD_WORKERS	"workers"
#define PROTO_CMD_DEPLOY	"deploy"
#define PROTO_CMD_ROLLBACK	"rollback"
#define PROTO_CMD_SET		"set"

/* Request keys. */
#define PROTO_K_CMD		"cmd"
#define PROTO_K_WAIT		"wait"
#define PROTO_K_SECONDS		"seconds"
/* set: a key of the settings table (setting.h) and its value; the
 * reply says the key again, with old and new. */
#define PROTO_K_KEY		"key"
#define PROTO_K_VALUE		"value"
#define PROTO_K_PROGRESS	"progress"	/* request and reply */
/* deploy: the release directory, an absolute path; status, a history
 * entry: the real path of a generation's release (nil outside release
 * mode). */
#define PROTO_K_RELEASE		"release"
#define PROTO_PATH_MAX		1024		/* bytes, with the NUL */

/* Reply keys. */
#define PROTO_K_OK		"ok"
#define PROTO_K_ERROR		"error"
#define PROTO_K_CODE		"code"		/* with error: PROTO_E_* */
#define PROTO_K_ID		"id"
#define PROTO_K_RELOAD		"reload"	/* a history entry */
#define PROTO_K_OLD		"old"
#define PROTO_K_NEW		"new"

/* status */
#define PROTO_K_NAME		"name"
#define PROTO_K_VERSION		"version"
#define PROTO_K_PID		"pid"
#define PROTO_K_STATE		"state"
#define PROTO_K_UPTIME		"uptime"
#define PROTO_K_MASTER		"master"	/* also workers */
#define PROTO_K_MASTER_STARTED	"master_started"
#define PROTO_K_WARMUP		"warmup"
#define PROTO_K_PROBATION	"probation"	/* status: s; 0: none */
#define PROTO_K_READY_MODE	"ready"		/* status: the mode's name */
#define PROTO_K_RELOAD_PENDING	"reload_pending"
#define PROTO_K_RELOAD_STATE	"reload_state"
#define PROTO_K_HISTORY		"history"
/* status: the reloads this daemon has finished since it started, a map
 * of PROTO_RESULT_OK and PROTO_RESULT_FAILED to counts.  Unlike the
 * history, which keeps the last 50, these only grow: Prometheus
 * counters. */
#define PROTO_K_RELOADS		"reloads"
/* status, gunicorn 25+: the dirty arbiter's PID, then its dirty workers'
 * (empty without): never counted among "workers". */
#define PROTO_K_DIRTY		"dirty"
/* workers */
#define PROTO_K_MASTERS		"masters"
#define PROTO_K_NEW_WORKERS	"new_workers"
#define PROTO_K_OLD_WORKERS	"old_workers"
#define PROTO_K_LAST_SUCCESS	"last_success"	/* Unix time, or nil */
/* status: the release a reload in flight deploys (nil when none); the
 * releases directory (nil outside release mode); why this host's fail-safe
 * covers the processes only (nil when it holds). */
#define PROTO_K_NEW_RELEASE	"new_release"
#define PROTO_K_RELEASES	"releases"
#define PROTO_K_FAILSAFE_WARNING "failsafe_warning"
/* PROTO_K_WORKERS (status, workers: PIDs; progress: a count) and
 * PROTO_K_NEW_MASTER are shared with other maps. */

/* The daemon's states, as status's "state" says them. */
#define PROTO_STATE_STARTING	"starting"
#define PROTO_STATE_RUNNING	"running"
#define PROTO_STATE_RELOADING	"reloading"
#define PROTO_STATE_STOPPING	"stopping"

/* A history entry (status's "history", a reload's "reload"). */
#define PROTO_K_TRIGGER		"trigger"
#define PROTO_K_STARTED		"started"
#define PROTO_K_DURATION	"duration"
#define PROTO_K_RESULT		"result"
#define PROTO_K_REASON		"reason"
#define PROTO_K_OLD_MASTER	"old_master"
#define PROTO_K_NEW_MASTER	"new_master"
#define PROTO_K_NOTE		"note"
#define PROTO_K_OLD_RELEASE	"old_release"
/* A history entry: the reload failed and left nothing serving (the old
 * generation gone too); status's totals: how many did. */
#define PROTO_K_DOWN		"down"
#define PROTO_K_T_CHECK		"t_check"
#define PROTO_K_T_SETTLE	"t_settle"
#define PROTO_K_T_FORK		"t_fork"
#define PROTO_K_T_WARMUP	"t_warmup"
#define PROTO_K_T_PROBATION	"t_probation"
#define PROTO_K_T_DRAIN		"t_drain"
#define PROTO_K_T_PROMOTE	"t_promote"
#define PROTO_RESULT_RUNNING	"running"
#define PROTO_RESULT_OK		"ok"
#define PROTO_RESULT_FAILED	"failed"
#define PROTO_TRIGGER_SIGNAL	"signal"
#define PROTO_TRIGGER_CONTROL	"control"

/*
 * Error codes, the "code" of a reply whose "ok" is false.  Stable names:
 * a new failure gets a new code, an existing one never changes meaning.
 * The first three mean the daemon would not serve the connection at all.
 */
#define PROTO_E_DENIED		"denied"	/* peer not allowed */
#define PROTO_E_BUSY		"busy"		/* no free connection slot */
#define PROTO_E_DROPPED		"dropped"	/* closed for a newer one */
#define PROTO_E_MALFORMED	"malformed"	/* not a valid request */
#define PROTO_E_TOO_LARGE	"too-large"	/* past a PROTO_MAX_* limit */
#define PROTO_E_UNKNOWN_COMMAND	"unknown-command"
#define PROTO_E_BAD_ARGUMENT	"bad-argument"	/* a key's value */
#define PROTO_E_TIMEOUT		"timeout"	/* request not whole in time */
#define PROTO_E_UNAVAILABLE	"unavailable"	/* not now: stopping, no
						 * master to reload */
#define PROTO_E_FAILED		"failed"	/* the operation failed */
#define PROTO_E_DOWN		"down"		/* ... a reload, and nothing
						 * serves any more */
#define PROTO_E_INTERNAL	"internal"	/* the daemon's fault */

/* Progress of a running reload: the keys of P (see above). */
#define PROTO_K_PHASE		"phase"
#define PROTO_K_ELAPSED		"elapsed"
#define PROTO_K_BUDGET		"budget"
/* The phase's own clock: its elapsed time, and its length where it has
 * one (warming: the warm-up budget; probation: the probation). */
#define PROTO_K_PHASE_ELAPSED	"phase_elapsed"
#define PROTO_K_PHASE_LENGTH	"phase_length"
#define PROTO_K_READY		"ready"
#define PROTO_K_WORKERS		"workers"
/* At most this often while only a count changes; a phase change at once. */
#define PROTO_PROGRESS_INTERVAL	0.5

enum proto_frame {
	PROTO_COMPLETE,		/* one whole message of *len bytes */
	PROTO_INCOMPLETE,	/* need more bytes */
	PROTO_INVALID,		/* can never become a valid message */
};

/*
 * Find where the first message in buf ends, without decoding it and
 * without allocating: each header's element count is checked against the
 * limits before anything trusts it, and nesting deeper than
 * PROTO_MAX_DEPTH (msgpack-c's own stack) is refused here, with a reason,
 * wherever it is.  A message must be a map.
 */
enum proto_frame proto_frame(const char *, size_t, size_t *, const char **);
/* The error code for proto_frame's reason: PROTO_E_TOO_LARGE for a
 * limit, else PROTO_E_MALFORMED. */
const char *proto_frame_code(const char *);


/* Look up a string key in a map object; NULL if absent. */
const msgpack_object *proto_get(const msgpack_object *, const char *);
/* 1 if the object is the string s. */
int	proto_str_eq(const msgpack_object *, const char *);
/* Numbers of any msgpack numeric type as a double; -1 if not a number. */
int	proto_number(const msgpack_object *, double *);

/* Packing helpers: a string, a key and value pairs. */
void	proto_pack_str(msgpack_packer *, const char *);
void	proto_pack_kstr(msgpack_packer *, const char *, const char *);
void	proto_pack_kint(msgpack_packer *, const char *, long long);
void	proto_pack_kdouble(msgpack_packer *, const char *, double);
void	proto_pack_kbool(msgpack_packer *, const char *, int);
void	proto_pack_knil(msgpack_packer *, const char *);
/* A PID, or nil when there is none (<= 0). */
void	proto_pack_kpid(msgpack_packer *, const char *, long long);
/* A complete {"ok": false, "error": msg, "code": code} reply into sbuf. */
void	proto_error_reply(msgpack_sbuffer *, const char *, const char *);

/*
 * A map built without counting its pairs by hand: each proto_map_* adds
 * one pair; proto_map_end() writes the map (its header, then the pairs)
 * to pk and frees the builder.  A value with no helper of its own is
 * packed to the packer proto_map_key() returns, right after the call.
 */
struct proto_map {
	msgpack_sbuffer	 body;
	msgpack_packer	 pk;
	uint32_t	 n;
};
void	proto_map_init(struct proto_map *);
msgpack_packer *proto_map_key(struct proto_map *, const char *);
void	proto_map_str(struct proto_map *, const char *, const char *);
void	proto_map_int(struct proto_map *, const char *, long long);
void	proto_map_double(struct proto_map *, const char *, double);
void	proto_map_bool(struct proto_map *, const char *, int);
void	proto_map_nil(struct proto_map *, const char *);
void	proto_map_pid(struct proto_map *, const char *, long long);
/* An array of PIDs (ints). */
void	proto_map_pids(struct proto_map *, const char *, const pid_t *,
	    size_t);
void	proto_map_end(struct proto_map *, msgpack_packer *);
/* The same, as one whole message into sb (initialised here). */
void	proto_map_message(struct proto_map *, msgpack_sbuffer *);

#endif
