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

/* What a reload, deploy or rollback came to, as "result" says it. */
enum result_kind {
	RESULT_OK,		/* the new generation serves */
	RESULT_FAILED,		/* it did not; the old one serves */
	RESULT_DOWN,		/* it did not, and nothing serves */
	RESULT_ACCEPTED,	/* --no-wait: queued */
	RESULT_REFUSED,		/* the daemon answered, but no reload ran */
	RESULT_UNKNOWN,		/* sent, but no final reply: it may run on */
	RESULT_ERROR,		/* not sent: the daemon was not reached */
};

/*
 * The one decision, for the object and for gwctl's exit status alike:
 * what the final reply says (waited: gwctl asked for the outcome, not
 * only for the request's acceptance).
 */
enum result_kind result_outcome(const msgpack_object *, int);
/* Its name: "ok", "failed", ... */
const char	*result_name(enum result_kind);

/* The object for a daemon's final reply, for the daemon called name. */
void	result_print(FILE *, const char *, const msgpack_object *, int);
/* The object when no reply was read: RESULT_UNKNOWN or RESULT_ERROR, with
 * gwctl's own error code and message. */
void	result_print_error(FILE *, const char *, enum result_kind,
	    const char *, const char *);

#endif
