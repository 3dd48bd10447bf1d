/*
 * fuzz_request.c: libFuzzer target for what a control client controls.
 *
 * The input is a byte stream as the daemon's socket delivers it, fed
 * through the same path as daemon/control.c: proto_frame() to find each
 * message, proto_request_decode() to validate it against the command
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
#include "proto.h"

int
fuzz_request_one(const uint8_t *data, size_t size)
{
	struct proto_request	 req;
	const char		*buf = (const char *)data, *why;
	char			 err[256];
	size_t			 msglen;
	int			 handled = 0;

	while (size > 0 && handled < 64) {
		if (proto_frame(buf, size, &msglen, &why) != PROTO_COMPLETE)
			break;
		if (msglen == 0 || msglen > size)
			__builtin_trap();	/* framing must make progress */
		if (proto_request_decode(buf, msglen, &req, err,
		    sizeof err) == 0) {
			if (req.cmd > CMD_SET_WARMUP)
				__builtin_trap();
			if (req.cmd == CMD_SET_WARMUP &&
			    !(req.seconds > 0 && req.seconds <= 3600))
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

int
fuzz_history_one(const uint8_t *data, size_t size)
{
	struct history	h;
	size_t		skipped;
	int		n;

	memset(&h, 0, sizeof h);
	n = history_parse(&h, (const char *)data, size, &skipped);
	if (n < 0 || skipped > size || h.count > HISTORY_MAX)
		__builtin_trap();
	history_clear(&h);
	return 0;
}
