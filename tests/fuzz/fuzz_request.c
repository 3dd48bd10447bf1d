/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request.c: libFuzzer target for what a control client controls.
 *
 * The input is a byte stream as the daemon's socket delivers it, fed
 * through the same path as daemon/control.c: proto_frame() to find each
 * message, cmd_decode() to validate it against the command
 * table, repeated for pipelined requests.  A second target exercises the
 * history file parser, since a corrupt file must never be fatal either.
 *
 * Built two ways: with -fsanitize=fuzzer for `make fuzz`, and with
 * replay.c's main() for `make unit`, which runs the seed corpus and every
 * kept crasher as regression tests.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "history.h"
#include "cmd.h"
#include "proto.h"
#include "setting.h"

int
fuzz_request_one(const uint8_t *data, size_t size)
{
	struct cmd_request	 req;
	const char		*buf = (const char *)data, *why;
	char			 err[256];
	size_t			 msglen;
	int			 handled = 0;

	while (size > 0 && handled < 64) {
		if (proto_frame(buf, size, &msglen, &why) != PROTO_COMPLETE)
			break;
		if (msglen == 0 || msglen > size)
			__builtin_trap();	/* framing must make progress */
		if (cmd_decode(buf, msglen, &req, err,
		    sizeof err) == 0) {
			if (req.cmd >= CMD_COUNT)
				__builtin_trap();
			/* A decoded setting is always within its table's
			 * limits. */
			if ((req.cmd == CMD_SET_WARMUP || req.cmd == CMD_SET) &&
			    (req.setting == NULL || setting_check(req.setting,
			    req.value, err, sizeof err) == -1))
				__builtin_trap();
		} else if (strlen(err) == 0 || memchr(err, '\n',
		    strlen(err)) != NULL)
			__builtin_trap();	/* one-line reasons only */
		buf += msglen;
		size -= msglen;
		handled++;
	}
	return 0;
}

/* A number read back is absent (negative) or within [0, max]. */
static int
bad_seconds(double v, double max)
{
	return !(v == -1 || (v >= 0 && v <= max));
}

/* Every phase time of e, the same. */
static int
bad_phases(const struct reload_entry *e)
{
	enum reload_phase	p;

	for (p = 0; p < PHASE_COUNT; p++)
		if (bad_seconds(e->t_phase[p], HISTORY_SECONDS_MAX))
			return 1;
	return 0;
}

int
fuzz_history_one(const uint8_t *data, size_t size)
{
	const struct reload_entry	*e;
	struct history			 h;
	size_t				 skipped, work = 0;
	unsigned			 i;
	int				 n;

	memset(&h, 0, sizeof h);
	n = history_parse_counted(&h, (const char *)data, size, &skipped,
	    &work);
	if (n < 0 || skipped > size || h.count > HISTORY_MAX)
		__builtin_trap();
	/* Linear, whatever the bytes: one step per byte for the loop, the
	 * checksum, and the decoding or the scan for a magic. */
	if (work > 3 * size)
		__builtin_trap();
	for (i = 0; i < h.count; i++) {
		e = history_at(&h, i);
		if (e->id < 1 || e->id > HISTORY_ID_MAX ||
		    (i > 0 && e->id <= history_at(&h, i - 1)->id) ||
		    e->old_master < 0 || e->old_master > HISTORY_PID_MAX ||
		    e->new_master < 0 || e->new_master > HISTORY_PID_MAX ||
		    e->workers < 0 || e->workers > HISTORY_WORKERS_MAX ||
		    !(e->started >= 0 && e->started <= HISTORY_TIME_MAX) ||
		    bad_seconds(e->duration, HISTORY_SECONDS_MAX) ||
		    bad_phases(e) ||
		    (e->result == RESULT_FAILED && e->reason == NULL))
			__builtin_trap();
	}
	history_clear(&h);
	return 0;
}
