/*
 * proto.h: the control protocol, the contract between the daemon, gwctl
 * and any script.  One msgpack map per message on a Unix stream socket;
 * the client sends a request, the daemon one reply; several may follow on
 * one connection.  Keys are strings.  Fields are added, never renamed or
 * retyped; man/gunicorn-wrapper.8 (PROTOCOL) documents the same.
 *
 * Requests:  {"cmd": "status"}
 *            {"cmd": "reload", "wait": bool, "progress": bool}
 *                                        both default to false
 *            {"cmd": "stop"}
 *            {"cmd": "set-warmup", "seconds": number} 0 < s <= 3600
 * Replies:   {"ok": bool, "error": string (when not ok), ...}
 *            A reload with wait and progress is first sent zero or more
 *            {"ok": true, "progress": P}, then its one reply; P is
 *            {"id", "phase", "elapsed", "budget", "ready", "workers"}.
 */
#ifndef GW_PROTO_H
#define GW_PROTO_H

#include <stddef.h>

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

/* Request keys. */
#define PROTO_K_CMD		"cmd"
#define PROTO_K_WAIT		"wait"
#define PROTO_K_SECONDS		"seconds"
#define PROTO_K_PROGRESS	"progress"	/* request and reply */

/* Reply keys. */
#define PROTO_K_OK		"ok"
#define PROTO_K_ERROR		"error"
#define PROTO_K_ID		"id"
#define PROTO_K_RELOAD		"reload"
#define PROTO_K_OLD		"old"
#define PROTO_K_NEW		"new"

/* Progress of a running reload: the keys of P (see above). */
#define PROTO_K_PHASE		"phase"
#define PROTO_K_ELAPSED		"elapsed"
#define PROTO_K_BUDGET		"budget"
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

/* A decoded, validated request: what the daemon acts on. */
enum proto_cmd {
	CMD_STATUS,
	CMD_RELOAD,
	CMD_STOP,
	CMD_SET_WARMUP,
};

struct proto_request {
	enum proto_cmd	 cmd;
	int		 wait;		/* reload */
	int		 progress;	/* reload, with wait */
	double		 seconds;	/* set-warmup */
};

#define PROTO_WARMUP_MAX	3600.0

/*
 * Decode one complete message (as framed by proto_frame) into req.
 * 0 on success; -1 with a one-line reason in err, fit to send back.
 */
int	proto_request_decode(const char *, size_t, struct proto_request *,
	    char *, size_t);

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
/* A complete {"ok": false, "error": msg} reply into sbuf. */
void	proto_error_reply(msgpack_sbuffer *, const char *);

#endif
