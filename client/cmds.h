/* SPDX-License-Identifier: MIT */
/*
 * cmds.h: gwctl's side of the command table (cmd.h): for each command,
 * the packer of its request and the printer of an ok reply for people,
 * in one table indexed by enum cmd_id and checked against CMD_COUNT.
 */
#ifndef GW_CMDS_H
#define GW_CMDS_H

#include <stdio.h>

#include <msgpack.h>

#include "parser.h"

/* 0 if every command has its packer and printer; else -1 and its name
 * (or number) in a one-line reason. */
int	cmds_check(char *, size_t);
/* The request for a->cmd, into sb (initialised here); progress asks a
 * waited reload for progress messages. */
void	cmds_pack(msgpack_sbuffer *, const struct ctl_args *, int);
/* An ok reply to a->cmd from the daemon called who (escaped), on out. */
void	cmds_print(FILE *, const struct ctl_args *, const char *,
	    const msgpack_object *);

#endif
