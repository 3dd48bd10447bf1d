/*
 * json.h: print a msgpack object as JSON, for `gwctl --json` and scripts.
 */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <stdio.h>

#include <msgpack.h>

void	json_print(FILE *, const msgpack_object *);

#endif
