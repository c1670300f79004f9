/*
 * UTF-8 validity (see utf8.h): the table of RFC 3629 section 4, by hand.
 */
#include "schemas/utf8.h"

#include <string.h>

static int in(unsigned char c, unsigned char lo, unsigned char hi)
{
    return c >= lo && c <= hi;
}

size_t xl_utf8_seq(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return 0;
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    /* the second byte's range depends on the first (no overlongs, no surrogates, <= U+10FFFF) */
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (in(c, 0xC2, 0xDF)) {
        len = 2;
    } else if (in(c, 0xE0, 0xEF)) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (in(c, 0xF0, 0xF4)) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || !in(p[1], lo, hi))
        return 0;
    for (size_t i = 2; i < len; ++i)
        if (!in(p[i], 0x80, 0xBF))
            return 0;
    return len;
}

int xl_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) { /* ASCII runs are the common case */
            ++i;
            continue;
        }
        size_t k = xl_utf8_seq(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

size_t xl_utf8_repair(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = xl_utf8_seq(s + i, n - i);
        if (k == 0) {
            memcpy(out + o, XL_UTF8_REPLACEMENT, 3);
            o += 3;
            ++i;
        } else {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        }
    }
    return o;
}
