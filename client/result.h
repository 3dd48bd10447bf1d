/* SPDX-License-Identifier: MIT */
/*
 * result.h: the one JSON object `gwctl --json` prints for a reload, a
 * deploy or a rollback, made for deploy tools (the Ansible role in
 * contrib/ansible reads it).  Its keys are always all present, in one
 * order, whatever happened: gwctl(1), RESULT OBJECT, is the contract.
 */
#ifndef GW_RESULT_H
#define GW_RESULT_H

#include <stdio.h>

#include <msgpack.h>

/*
 * The object for a daemon's final reply to a reload, deploy or rollback
 * (with --no-wait, its acceptance), for the daemon called name.
 */
void	result_print(FILE *, const char *, const msgpack_object *);
/* The object when no reply was read: gwctl's own error code and message. */
void	result_print_error(FILE *, const char *, const char *, const char *);

#endif
