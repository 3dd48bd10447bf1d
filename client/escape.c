/* SPDX-License-Identifier: MIT */
/*
 * escape.c: see escape.h.  One pass over the bytes; each unit (a byte or
 * a whole UTF-8 character) is rendered into a small buffer first, so a
 * unit that does not fit is dropped whole and "..." marks the cut.
 */
#include <stdio.h>
#include <string.h>

#include "escape.h"

size_t
escape_utf8(const unsigned char *s, size_t n, unsigned long *cp)
{
	unsigned long	c;
	size_t		len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

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
		k = escape_utf8(s + i, n - i, &cp);
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
