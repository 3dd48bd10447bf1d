/* SPDX-License-Identifier: MIT */
/*
 * escape.h: make text from a reply safe to print.  A reply's strings
 * (reason, note, names) come from the daemon's history file and from
 * gunicorn's output: hostile input.  Nothing gwctl prints may move the
 * cursor, ring the bell, retitle the terminal or forge a line.
 */
#ifndef GW_ESCAPE_H
#define GW_ESCAPE_H

#include <stddef.h>

/*
 * src[0..n) into dst (always NUL-terminated, dstlen > 0) for a terminal or
 * a log: printable ASCII and valid UTF-8 pass through, a backslash becomes
 * "\\", \n \r \t stay visible as "\n" "\r" "\t", every other control byte
 * (C0, DEL) and C1 code point as "\xNN" or "\u0085", and bytes that are not
 * valid UTF-8 as "\xNN".  Never cuts an escape or a character in two; a
 * string that does not fit ends in "...".  Returns strlen(dst).
 */
size_t	escape_text(char *, size_t, const char *, size_t);

/* The same for a C string. */
size_t	escape_cstr(char *, size_t, const char *);

#endif
