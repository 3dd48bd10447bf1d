/* SPDX-License-Identifier: MIT */
/*
 * utf8.h: one strict UTF-8 decoder, for everything that escapes text it
 * did not write: the daemon's JSON log lines (log.c) and gwctl's output
 * for terminals and for JSON (client/escape.c, client/json.c).  One copy,
 * so that what counts as a character, and as a control character, is the
 * same everywhere.
 */
#ifndef GW_UTF8_H
#define GW_UTF8_H

#include <stddef.h>

/*
 * The length of the valid UTF-8 sequence at s (at most n bytes) and its
 * code point in *cp; 0 if s does not start one (bad, overlong, surrogate,
 * beyond U+10FFFF or cut short).
 */
size_t	utf8_decode(const unsigned char *, size_t, unsigned long *);

/* 1 if the code point is a control character: C0, DEL or C1. */
int	utf8_is_control(unsigned long);

#endif
