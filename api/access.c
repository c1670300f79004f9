/*
 * The access log's line (see access.h): logfmt, with every value that is
 * not a plain word quoted and escaped, so that a hostile path or header can
 * neither break the line nor forge a field.
 */
#include "api/access.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

static int is_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._:/{}*@+-,", c);
}

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

static void field_f(out_t *o, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void field_f(out_t *o, const char *key, const char *fmt, ...)
{
    char v[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    field(o, key, v, n < 0 ? 0 : (size_t)n < sizeof(v) ? (size_t)n : sizeof(v) - 1);
}

size_t xl_access_format(const xl_access_rec_t *rec, char *buf, size_t outlen)
{
    if (outlen == 0)
        return 0;
    out_t o = {buf, 0, outlen - 1};
    field_s(&o, "id", rec->id);
    field_s(&o, "remote", rec->remote);
    if (rec->method != NULL)
        field(&o, "method", rec->method, rec->method_len);
    field_s(&o, "route", rec->route);
    if (rec->path != NULL)
        field(&o, "path", rec->path, rec->path_len > 512 ? 512 : rec->path_len);
    field_f(&o, "status", "%d", rec->status);
    field_f(&o, "duration_ms", "%.3f", rec->seconds * 1000.0);
    field_f(&o, "bytes", "%zu", rec->bytes);
    field_f(&o, "held", "%d", rec->held ? 1 : 0);
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
    unsigned char r[8] = {0};
    if (RAND_bytes(r, sizeof(r)) != 1) {
        static unsigned long long counter; /* loop thread only */
        ++counter;
        memcpy(r, &counter, sizeof(r));
    }
    for (int i = 0; i < 8; ++i)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}
