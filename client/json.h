/* SPDX-License-Identifier: MIT */
/*
 * json.h: print a msgpack object as JSON, for `gwctl --json` and scripts.
 */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <stdio.h>

#include <msgpack.h>

void	json_print(FILE *, const msgpack_object *);
/* A C string as a JSON string. */
void	json_print_string(FILE *, const char *);
/* {"ok": false, "error": msg, "code": code}: gwctl's own errors under
 * --json, shaped as the daemon's, with a code scripts can decide on. */
void	json_print_error(FILE *, const char *, const char *);

#endif
