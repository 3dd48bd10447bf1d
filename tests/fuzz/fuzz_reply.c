/* SPDX-License-Identifier: MIT */
/*
 * fuzz_reply.c: libFuzzer target for what a daemon (or whoever serves its
 * socket) controls in gwctl: the byte stream of replies.  Each message is
 * framed by proto_frame() and decoded as client/conn.c does, then printed
 * every way gwctl prints a reply: status in detail and as one line, a
 * reload's outcome, a progress line, metrics, JSON and the result object.
 *
 * Beyond "no crash, no UB", the output itself is checked: it must be
 * valid UTF-8 with no control character but the newline (none at all in
 * a progress line), whatever the reply held.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "escape.h"
#include "utf8.h"
#include "fuzz.h"
#include "json.h"
#include "metrics.h"
#include "proto.h"
#include "result.h"
#include "show.h"

static void
check_text(const char *s, size_t n, int newline_ok)
{
	unsigned long	cp;
	size_t		i = 0, k;

	while (i < n) {
		if ((k = utf8_decode((const unsigned char *)s + i, n - i,
		    &cp)) == 0)
			__builtin_trap();	/* not UTF-8 */
		if ((cp < 0x20 && !(cp == '\n' && newline_ok)) ||
		    (cp >= 0x7f && cp <= 0x9f))
			__builtin_trap();	/* a raw control character */
		i += k;
	}
}

static void
print_all(FILE *f, const msgpack_object *m)
{
	struct metrics_target	t = { "app\x1b[2J", m, -1 };

	show_status(f, m);
	show_status_line(f, "app\n", m);
	show_reload(f, f, "app\a", m);
	metrics_print(f, &t, 1);
	json_print(f, m);
	result_print(f, "app\x1b", m, 1);
	result_print(f, "app", m, 0);
}

int
fuzz_reply_one(const uint8_t *data, size_t size)
{
	msgpack_unpacked	 u;
	const char		*buf = (const char *)data, *why;
	char			*out = NULL, line[256];
	size_t			 msglen, off, outlen = 0;
	FILE			*f;
	int			 handled = 0;

	while (size > 0 && handled < 16) {
		if (proto_frame(buf, size, &msglen, &why) != PROTO_COMPLETE)
			break;
		msgpack_unpacked_init(&u);
		off = 0;
		if (msgpack_unpack_next(&u, buf, msglen, &off) ==
		    MSGPACK_UNPACK_SUCCESS &&
		    u.data.type == MSGPACK_OBJECT_MAP) {
			if ((f = open_memstream(&out, &outlen)) == NULL)
				abort();
			print_all(f, &u.data);
			fclose(f);
			check_text(out, outlen, 1);
			free(out);
			out = NULL;
			if (show_progress(line, sizeof line,
			    proto_get(&u.data, "progress") ?
			    proto_get(&u.data, "progress") : &u.data,
			    1.5) == 0)
				check_text(line, strlen(line), 0);
		}
		msgpack_unpacked_destroy(&u);
		buf += msglen;
		size -= msglen;
		handled++;
	}
	return 0;
}
