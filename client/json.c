/* SPDX-License-Identifier: MIT */
/*
 * json.c: msgpack to JSON.  The daemon's replies only hold maps with
 * string keys, arrays, strings, numbers, booleans and nil, which map onto
 * JSON one to one; anything else (binary, extension types, a non-finite
 * float, bytes that are not UTF-8) is printed as the nearest valid JSON
 * rather than as invalid output, since a script parsing it cannot recover
 * from that.  Control characters are always escaped, so the JSON is safe
 * on a terminal too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "utf8.h"
#include "json.h"
#include "parse.h"

static void
json_string(FILE *f, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned long		 cp;
	size_t			 i = 0, k;

	fputc('"', f);
	while (i < n) {
		/* Not UTF-8: JSON cannot carry it; U+FFFD says so. */
		if ((k = utf8_decode(p + i, n - i, &cp)) == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		switch (cp) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			/* C0, DEL and C1 controls: escaped, never raw. */
			if (utf8_is_control(cp))
				fprintf(f, "\\u%04lx", cp);
			else
				fwrite(p + i, 1, k, f);
		}
		i += k;
	}
	fputc('"', f);
}

/* The shortest form that reads back as the same double. */
static void
json_double(FILE *f, double v)
{
	char	buf[40];

	format_double(buf, sizeof buf, v);
	/* Keep it a number JSON readers see as a float. */
	if (strpbrk(buf, ".eEn") == NULL)
		strncat(buf, ".0", sizeof buf - strlen(buf) - 1);
	fputs(buf, f);
}

void
json_print(FILE *f, const msgpack_object *o)
{
	uint32_t	i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("null", f);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "true" : "false", f);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		fprintf(f, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		fprintf(f, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (isfinite(o->via.f64))
			json_double(f, o->via.f64);
		else
			fputs("null", f);
		break;
	case MSGPACK_OBJECT_STR:
		json_string(f, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		json_string(f, o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', f);
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				fputs(", ", f);
			json_print(f, &o->via.array.ptr[i]);
		}
		fputc(']', f);
		break;
	case MSGPACK_OBJECT_MAP:
		fputc('{', f);
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			if (i > 0)
				fputs(", ", f);
			if (k->type == MSGPACK_OBJECT_STR)
				json_string(f, k->via.str.ptr, k->via.str.size);
			else {
				/* JSON keys are strings: quote the value. */
				fputc('"', f);
				if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
					fprintf(f, "%llu",
					    (unsigned long long)k->via.u64);
				fputc('"', f);
			}
			fputs(": ", f);
			json_print(f, &o->via.map.ptr[i].val);
		}
		fputc('}', f);
		break;
	default:
		fputs("null", f);
		break;
	}
}

void
json_print_error(FILE *f, const char *msg, const char *code)
{
	fputs("{\"ok\": false, \"error\": ", f);
	json_string(f, msg, strlen(msg));
	fputs(", \"code\": ", f);
	json_string(f, code, strlen(code));
	fputs("}", f);
}

void
json_print_string(FILE *f, const char *s)
{
	json_string(f, s, strlen(s));
}
