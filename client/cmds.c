/* SPDX-License-Identifier: MIT */
/*
 * cmds.c: see cmds.h.  A printer gets the reply as hostile input, like
 * every other output of gwctl: strings and numbers go through reply.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmds.h"
#include "proto.h"
#include "reply.h"
#include "show.h"


struct cmds_entry {
	/* The request's keys besides "cmd", added to m. */
	void	(*pack)(struct proto_map *, const struct ctl_args *, int);
	void	(*print)(FILE *, const struct ctl_args *, const char *,
		    const msgpack_object *);
};

static void
pack_none(struct proto_map *m, const struct ctl_args *a, int progress)
{
	(void)m;
	(void)a;
	(void)progress;
}

static void
pack_reload(struct proto_map *m, const struct ctl_args *a, int progress)
{
	proto_map_bool(m, PROTO_K_WAIT, a->wait);
	if (progress)
		proto_map_bool(m, PROTO_K_PROGRESS, 1);
}

static void
pack_deploy(struct proto_map *m, const struct ctl_args *a, int progress)
{
	pack_reload(m, a, progress);
	proto_map_str(m, PROTO_K_RELEASE, a->release);
}

static void
pack_set_warmup(struct proto_map *m, const struct ctl_args *a, int progress)
{
	(void)progress;
	proto_map_double(m, PROTO_K_SECONDS, a->value);
}

static void
pack_set(struct proto_map *m, const struct ctl_args *a, int progress)
{
	(void)progress;
	proto_map_str(m, PROTO_K_KEY, a->setting->key);
	proto_map_double(m, PROTO_K_VALUE, a->value);
}

static void
print_status(FILE *f, const struct ctl_args *a, const char *who,
    const msgpack_object *r)
{
	(void)a;
	(void)who;
	show_status(f, r);
}

static void
print_reload(FILE *f, const struct ctl_args *a, const char *who,
    const msgpack_object *r)
{
	long long	id;

	(void)a;
	(void)who;
	fprintf(f, "reload %lld requested\n", reply_int(r, PROTO_K_ID, 0,
	    UINT32_MAX, &id) == 0 ? id : 0);
}

static void
print_stop(FILE *f, const struct ctl_args *a, const char *who,
    const msgpack_object *r)
{
	(void)a;
	(void)r;
	fprintf(f, "%s: stopping\n", who);
}

/* set, set-warmup: the key is ours (the reply of set-warmup has none). */
static void
print_set(FILE *f, const struct ctl_args *a, const char *who,
    const msgpack_object *r)
{
	fprintf(f, "%s: %s %g s -> %g s (applies to the next reload)\n",
	    who, a->setting->key, reply_range(r, PROTO_K_OLD, 0, 1e9, 0),
	    reply_range(r, PROTO_K_NEW, 0, 1e9, 0));
}

/* "label  1 2 3", or "label  none"; anything not a PID shows as "?". */
static void
print_pids(FILE *f, const char *label, const msgpack_object *arr)
{
	const msgpack_object	*o;
	uint32_t		 i;

	fprintf(f, "%-12s", label);
	if (arr == NULL || arr->via.array.size == 0) {
		fprintf(f, " none\n");
		return;
	}
	for (i = 0; i < arr->via.array.size; i++) {
		o = &arr->via.array.ptr[i];
		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    o->via.u64 >= 1 && o->via.u64 <= REPLY_PID_MAX)
			fprintf(f, " %llu", (unsigned long long)o->via.u64);
		else
			fprintf(f, " ?");
	}
	fprintf(f, "\n");
}

/* A reload's new or draining generation, when the reply names one. */
static void
print_generation(FILE *f, const msgpack_object *r, const char *role,
    const char *master_key, const char *workers_key)
{
	char	pid[16], label[16];

	reply_pid(r, master_key, pid, sizeof pid);
	if (strcmp(pid, "-") == 0)
		return;
	(void)snprintf(label, sizeof label, "%s master", role);
	fprintf(f, "%-12s %s\n", label, pid);
	(void)snprintf(label, sizeof label, "%s workers", role);
	print_pids(f, label, reply_array(r, workers_key));
}

static void
print_workers(FILE *f, const struct ctl_args *a, const char *who,
    const msgpack_object *r)
{
	char	pid[16];

	(void)a;
	(void)who;
	reply_pid(r, PROTO_K_MASTER, pid, sizeof pid);
	fprintf(f, "%-12s %s\n", "master", pid);
	print_pids(f, "workers", reply_array(r, PROTO_K_WORKERS));
	print_generation(f, r, "new", PROTO_K_NEW_MASTER, PROTO_K_NEW_WORKERS);
	print_generation(f, r, "old", PROTO_K_OLD_MASTER, PROTO_K_OLD_WORKERS);
	print_pids(f, "masters", reply_array(r, PROTO_K_MASTERS));
}

/* Sized by its initialisers: see cmds_check() for the ones in between. */
static const struct cmds_entry cmds[] = {
	[CMD_STATUS] =		{ pack_none,		print_status },
	[CMD_RELOAD] =		{ pack_reload,		print_reload },
	[CMD_STOP] =		{ pack_none,		print_stop },
	[CMD_SET_WARMUP] =	{ pack_set_warmup,	print_set },
	[CMD_WORKERS] =		{ pack_none,		print_workers },
	[CMD_DEPLOY] =		{ pack_deploy,		print_reload },
	[CMD_ROLLBACK] =	{ pack_reload,		print_reload },
	[CMD_SET] =		{ pack_set,		print_set },
};
_Static_assert(sizeof cmds / sizeof cmds[0] == CMD_COUNT,
    "a packer and a printer for every command");

static const struct cmds_entry *
cmds_get(enum cmd_id id)
{
	if (cmd_get(id) == NULL || cmds[id].pack == NULL ||
	    cmds[id].print == NULL)
		return NULL;
	return &cmds[id];
}

int
cmds_check(char *err, size_t errlen)
{
	size_t	i;

	for (i = 0; i < CMD_COUNT; i++) {
		if (cmds_get((enum cmd_id)i) == NULL) {
			snprintf(err, errlen, "command %s has no entry, packer "
			    "or printer", cmd_get((enum cmd_id)i) != NULL ?
			    cmd_table[i].name : "?");
			return -1;
		}
	}
	return 0;
}

void
cmds_pack(msgpack_sbuffer *sb, const struct ctl_args *a, int progress)
{
	const struct cmds_entry	*c = cmds_get(a->cmd);
	struct proto_map	 m;

	proto_map_init(&m);
	proto_map_str(&m, PROTO_K_CMD, cmd_table[a->cmd].name);
	c->pack(&m, a, progress);
	proto_map_message(&m, sb);
}

void
cmds_print(FILE *f, const struct ctl_args *a, const char *who,
    const msgpack_object *r)
{
	cmds_get(a->cmd)->print(f, a, who, r);
}
