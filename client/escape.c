/* SPDX-License-Identifier: MIT */
/*
 * escape.c: see escape.h.  One pass over the bytes; each unit (a byte or
 * a whole UTF-8 character) is rendered into a small buffer first, so a
 * unit that does not fit is dropped whole and "..." marks the cut.
 */
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "utf8.h"

size_t
escape_text(char *dst, size_t dstlen, const char *src, size_t n)
{
	const unsigned char	*s = (const unsigned char *)src;
	unsigned long		 cp;
	size_t			 i = 0, o = 0, k, ulen;
	char			 unit[16];

	if (dstlen == 0)
		return 0;
	while (i < n) {
		k = utf8_decode(s + i, n - i, &cp);
		if (k == 0) {
			snprintf(unit, sizeof unit, "\\x%02x", s[i]);
			k = 1;
		} else if (cp == '\\')
			snprintf(unit, sizeof unit, "\\\\");
		else if (cp == '\n')
			snprintf(unit, sizeof unit, "\\n");
		else if (cp == '\r')
			snprintf(unit, sizeof unit, "\\r");
		else if (cp == '\t')
			snprintf(unit, sizeof unit, "\\t");
		else if (cp < 0x20 || cp == 0x7f)
			snprintf(unit, sizeof unit, "\\x%02lx", cp);
		else if (cp >= 0x80 && cp <= 0x9f)
			snprintf(unit, sizeof unit, "\\u%04lx", cp);
		else {
			memcpy(unit, s + i, k);
			unit[k] = '\0';
		}
		ulen = strlen(unit);
		/* Keep room for "..." unless this is the last unit. */
		if (o + ulen + (i + k < n ? 3 : 0) >= dstlen) {
			if (o + 3 < dstlen) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, unit, ulen);
		o += ulen;
		i += k;
	}
	dst[o] = '\0';
	return o;
}

size_t
escape_cstr(char *dst, size_t dstlen, const char *s)
{
	return escape_text(dst, dstlen, s, strlen(s));
}
