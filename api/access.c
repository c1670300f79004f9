/*
 * The access log's line (see access.h): logfmt, with every value that is
 * not a plain word quoted and escaped, so that a hostile path or header can
 * neither break the line nor forge a field.
 */
#include "api/access.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "schemas/base/log.h"

typedef struct st_out_t {
    char *base;
    size_t len, cap; /* cap excludes the final NUL */
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (n > o->cap - o->len)
        n = o->cap - o->len;
    memcpy(o->base + o->len, s, n);
    o->len += n;
}

/* Characters a value may hold unquoted: letters, digits and ._:/{}*@+-, (one table lookup each). */
static unsigned char plain_chars[256];
static pthread_once_t plain_once = PTHREAD_ONCE_INIT;

static void plain_init(void)
{
    for (int c = 0; c < 256; ++c)
        plain_chars[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                         (c != 0 && strchr("._:/{}*@+-,", c) != NULL);
}

static int is_plain(unsigned char c) { return plain_chars[c]; }

/* " key=value": bare when plain, else quoted with escapes. */
static void field(out_t *o, const char *key, const char *v, size_t n)
{
    int plain = n > 0;
    for (size_t i = 0; i < n && plain; ++i)
        plain = v[i] != '\0' && is_plain((unsigned char)v[i]);
    put(o, " ", o->len > 0 ? 1 : 0);
    put(o, key, strlen(key));
    put(o, "=", 1);
    if (plain) {
        put(o, v, n);
        return;
    }
    put(o, "\"", 1);
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)v[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            put(o, esc, (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c));
        } else {
            put(o, (const char *)&c, 1);
        }
    }
    put(o, "\"", 1);
}

static void field_s(out_t *o, const char *key, const char *v)
{
    if (v != NULL && *v != '\0')
        field(o, key, v, strlen(v));
}

/* " key=N" for an unsigned integer; with decimals > 0, N / 10^decimals with that many digits after the point. */
static void field_u(out_t *o, const char *key, uint64_t v, int decimals)
{
    char d[32], *p = d + sizeof(d);
    int i = 0;
    do {
        if (i++ == decimals && decimals > 0)
            *--p = '.';
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || i <= decimals);
    field(o, key, p, (size_t)(d + sizeof(d) - p));
}

size_t xl_access_format(const xl_access_rec_t *rec, char *buf, size_t outlen)
{
    if (outlen == 0)
        return 0;
    out_t o = {buf, 0, outlen - 1};
    pthread_once(&plain_once, plain_init);
    field_s(&o, "id", rec->id);
    field_s(&o, "remote", rec->remote);
    if (rec->method != NULL)
        field(&o, "method", rec->method, rec->method_len);
    field_s(&o, "route", rec->route);
    if (rec->path != NULL)
        field(&o, "path", rec->path, rec->path_len > 512 ? 512 : rec->path_len);
    field_u(&o, "status", rec->status > 0 ? (uint64_t)rec->status : 0, 0);
    field_u(&o, "duration_ms", rec->seconds > 0 ? (uint64_t)(rec->seconds * 1e6) : 0, 3); /* whole µs */
    field_u(&o, "bytes", rec->bytes, 0);
    field_u(&o, "held", rec->held ? 1 : 0, 0);
    if (rec->who != NULL) {
        field_s(&o, "role", xl_role_name(rec->who->role));
        if (rec->who->role != XL_ROLE_NONE) {
            if (rec->who->tenant.base != NULL)
                field(&o, "tenant", rec->who->tenant.base, rec->who->tenant.len);
            else
                field_s(&o, "tenant", "*");
        }
        field_s(&o, "token", rec->who->token_id);
    }
    field_s(&o, "auth", rec->auth_error);
    if (rec->traceparent != NULL)
        field(&o, "traceparent", rec->traceparent, rec->traceparent_len);
    buf[o.len] = '\0';
    return o.len;
}

void xl_access_log(const xl_access_rec_t *rec)
{
    char line[3072];
    if (!xl_log_access_enabled())
        return;
    size_t n = xl_access_format(rec, line, sizeof(line));
    xl_log_access(line, n);
}

int xl_access_request_id(const char *given, size_t len, char out[65])
{
    static const char ok[] = "._:/+=@-";
    int sane = given != NULL && len > 0 && len <= 64;
    for (size_t i = 0; i < len && sane; ++i) {
        unsigned char c = (unsigned char)given[i];
        sane = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != '\0' && strchr(ok, c) != NULL);
    }
    if (sane) {
        memcpy(out, given, len);
        out[len] = '\0';
        return 1;
    }
    /* 64 bits from a per-thread splitmix64 sequence whose start is random: unique in practice, cheap per
     * request (RAND_bytes per request cost more than the lookup it labelled) */
    static __thread uint64_t state;
    static __thread int seeded;
    if (!seeded) {
        if (RAND_bytes((unsigned char *)&state, sizeof(state)) != 1) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            state = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)pthread_self();
        }
        seeded = 1;
    }
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i, z >>= 4)
        out[i] = hex[z & 15];
    out[16] = '\0';
    return 0;
}
