/*
 * A growable byte buffer: bytes travel as (pointer, length), never as C
 * strings. Used by the codecs and the RocksDB key/value builders.
 * It never aborts: an allocation failure is a -ENOMEM return.
 */
#ifndef XL_SCHEMAS_BUF_H
#define XL_SCHEMAS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_xl_buf_t {
    char *base;
    size_t len;
    size_t cap;
} xl_buf_t;

/** @brief An empty buffer; release with xl_buf_dispose. */
void xl_buf_init(xl_buf_t *buf);
void xl_buf_dispose(xl_buf_t *buf);
/** @brief Make room for n more bytes. @return 0 or -ENOMEM. */
int xl_buf_reserve(xl_buf_t *buf, size_t n);
/** @brief Append n bytes. @return 0 or -ENOMEM. */
int xl_buf_append(xl_buf_t *buf, const void *p, size_t n);
/** @brief Append a big-endian integer (sortable keys). */
int xl_buf_append_be64(xl_buf_t *buf, uint64_t v);
int xl_buf_append_be32(xl_buf_t *buf, uint32_t v);
/** @brief Append printf-formatted text (no NUL counted in len). */
int xl_buf_appendf(xl_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void xl_buf_reset(xl_buf_t *buf) { buf->len = 0; }

static inline uint64_t xl_be64_get(const void *p)
{
    const unsigned char *b = p;
    return ((uint64_t)b[0] << 56) | ((uint64_t)b[1] << 48) | ((uint64_t)b[2] << 40) | ((uint64_t)b[3] << 32) |
           ((uint64_t)b[4] << 24) | ((uint64_t)b[5] << 16) | ((uint64_t)b[6] << 8) | (uint64_t)b[7];
}
static inline uint32_t xl_be32_get(const void *p)
{
    const unsigned char *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

#endif
