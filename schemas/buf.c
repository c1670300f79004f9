/*
 * Growable byte buffer (see buf.h). Growth doubles; never shrinks.
 */
#include "schemas/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xl_buf_init(xl_buf_t *buf)
{
    buf->base = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void xl_buf_dispose(xl_buf_t *buf)
{
    free(buf->base);
    xl_buf_init(buf);
}

int xl_buf_reserve(xl_buf_t *buf, size_t n)
{
    if (buf->cap - buf->len >= n)
        return 0;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap - buf->len < n)
        cap *= 2;
    char *p = realloc(buf->base, cap);
    if (p == NULL)
        return -ENOMEM;
    buf->base = p;
    buf->cap = cap;
    return 0;
}

int xl_buf_append(xl_buf_t *buf, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (xl_buf_reserve(buf, n) != 0)
        return -ENOMEM;
    memcpy(buf->base + buf->len, p, n);
    buf->len += n;
    return 0;
}

int xl_buf_append_be64(xl_buf_t *buf, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; --i, v >>= 8)
        b[i] = (unsigned char)v;
    return xl_buf_append(buf, b, sizeof(b));
}

int xl_buf_append_be32(xl_buf_t *buf, uint32_t v)
{
    unsigned char b[4];
    for (int i = 3; i >= 0; --i, v >>= 8)
        b[i] = (unsigned char)v;
    return xl_buf_append(buf, b, sizeof(b));
}

int xl_buf_appendf(xl_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    /* one more for vsnprintf's NUL, which is not counted in len */
    if (xl_buf_reserve(buf, (size_t)n + 1) != 0)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(buf->base + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return 0;
}
