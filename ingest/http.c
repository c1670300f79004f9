/*
 * HTTP answer helpers (see http.h). Every answer sets Content-Length before
 * h2o_send_inline (libh2o 2.2 needs it to avoid chunked HTTP/1.1 answers).
 */
#include "ingest/http.h"

#include "schemas/utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *reason_phrase(int status)
{
    static const struct {
        int status;
        const char *phrase;
    } table[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {400, "Bad Request"},
        {304, "Not Modified"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); ++i)
        if (table[i].status == status)
            return table[i].phrase;
    return "Unknown";
}

/* A fixed answer for when the real one cannot be built (out of memory): never a status below 100. */
static const char fallback_problem[] = "{\"type\":\"urn:execlog:problem:internal\",\"title\":\"Internal error\","
                                       "\"status\":500,\"detail\":\"the answer could not be built\"}";

static void send_body(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
    if (status < 100 || status > 599 || body == NULL) {
        status = 500;
        type = "application/problem+json";
        body = fallback_problem;
        len = sizeof(fallback_problem) - 1;
    }
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_send_inline(req, body, len);
}

/* obj serialised into the pool, reference stolen; NULL when obj is NULL or cannot be dumped. */
static const char *dump_into_pool(h2o_req_t *req, json_t *obj, size_t *len)
{
    char *body = NULL;
    *len = obj != NULL ? json_dumpb(obj, NULL, 0, JSON_COMPACT) : 0;
    if (*len != 0) {
        body = h2o_mem_alloc_pool(&req->pool, *len + 1);
        json_dumpb(obj, body, *len, JSON_COMPACT);
    }
    json_decref(obj);
    return body;
}

void xl_http_send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    send_body(req, status, "application/json", body, len);
}

void xl_http_send_json_obj(h2o_req_t *req, int status, json_t *obj)
{
    size_t len;
    const char *body = dump_into_pool(req, obj, &len);
    send_body(req, status, "application/json", body, len);
}

json_t *xl_http_text(const char *s, size_t len)
{
    if (s == NULL)
        return json_null();
    if (xl_utf8_valid(s, len))
        return json_stringn_nocheck(s, len);
    char *fixed = malloc(len * 3 + 1);
    if (fixed == NULL)
        return NULL;
    json_t *v = json_stringn_nocheck(fixed, xl_utf8_repair(s, len, fixed));
    free(fixed);
    return v;
}

json_t *xl_http_problem_new(h2o_req_t *req, int status, const char *slug, const char *title, const char *detail)
{
    char type[128];
    snprintf(type, sizeof(type), "urn:execlog:problem:%s", slug);
    /* detail and instance may quote what the client sent: repaired, never a NULL document */
    json_t *problem = json_object();
    if (problem == NULL)
        return NULL;
    json_object_set_new(problem, "type", json_string(type));
    json_object_set_new(problem, "title", xl_http_text(title, strlen(title)));
    json_object_set_new(problem, "status", json_integer(status));
    json_object_set_new(problem, "detail", xl_http_text(detail, strlen(detail)));
    json_object_set_new(problem, "instance", xl_http_text(req->path_normalized.base, req->path_normalized.len));
    return problem;
}

void xl_http_send_problem_obj(h2o_req_t *req, json_t *problem)
{
    int status = (int)json_integer_value(json_object_get(problem, "status"));
    size_t len;
    const char *body = dump_into_pool(req, problem, &len);
    send_body(req, status, "application/problem+json", body, len);
}

void xl_http_send_problem(h2o_req_t *req, int status, const char *slug, const char *title, json_t *extra,
                          const char *detail_fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(detail, sizeof(detail), detail_fmt, ap);
    va_end(ap);
    json_t *problem = xl_http_problem_new(req, status, slug, title, detail);
    if (extra != NULL) {
        if (problem != NULL)
            json_object_update(problem, extra);
        json_decref(extra);
    }
    xl_http_send_problem_obj(req, problem);
}

void xl_http_add_header(h2o_req_t *req, const h2o_token_t *token, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, v.base, v.len);
}

int xl_http_parse_id(const char *s, size_t len, int64_t max, int64_t *out)
{
    if (len == 0 || len > 19)
        return -EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        if (v > (max - (s[i] - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0)
        return -EINVAL;
    *out = v;
    return 0;
}

int xl_http_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static h2o_iovec_t decode(h2o_mem_pool_t *pool, const char *s, size_t len, int plus_is_space)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = xl_http_hexval(s[i + 1])) >= 0 && (lo = xl_http_hexval(s[i + 2])) >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = s[i] == '+' && plus_is_space ? ' ' : s[i];
        }
    }
    out[n] = '\0';
    return h2o_iovec_init(out, n);
}

h2o_iovec_t xl_http_percent_decode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    return decode(pool, s, len, 1);
}

h2o_iovec_t xl_http_path_decode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    return decode(pool, s, len, 0);
}

int xl_http_query_next(h2o_req_t *req, const char *name, size_t *pos, h2o_iovec_t *value)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *start = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    const char *p = start + *pos;
    size_t nlen = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : stop;
            *value = xl_http_percent_decode(&req->pool, v, (size_t)(stop - v));
            *pos = (size_t)(stop - start) + 1;
            return 1;
        }
        p = stop + 1;
    }
    *pos = (size_t)(end - start) + 1;
    return 0;
}

int xl_http_query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value)
{
    size_t pos = 0;
    return xl_http_query_next(req, name, &pos, value);
}

int xl_http_query_unknown(h2o_req_t *req, const char *allowed, h2o_iovec_t *name)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t alen = strlen(allowed);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t klen = (size_t)((eq ? eq : stop) - p);
        int known = klen == 0; /* "a=1&&b=2" or a trailing '&' */
        for (const char *a = allowed; !known && a < allowed + alen;) {
            const char *comma = memchr(a, ',', (size_t)(allowed + alen - a));
            size_t n = (size_t)((comma ? comma : allowed + alen) - a);
            known = n == klen && memcmp(a, p, n) == 0;
            a += n + 1;
        }
        if (!known) {
            *name = h2o_iovec_init(p, klen);
            return 1;
        }
        p = stop + 1;
    }
    return 0;
}

int xl_http_query_not_utf8(h2o_req_t *req, h2o_iovec_t *name)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        h2o_iovec_t decoded = xl_http_percent_decode(&req->pool, p, (size_t)(stop - p));
        if (!xl_utf8_valid(decoded.base, decoded.len)) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            *name = h2o_iovec_init(p, (size_t)((eq ? eq : stop) - p));
            return 1;
        }
        p = stop + 1;
    }
    return 0;
}

int xl_http_header(h2o_req_t *req, const char *name, h2o_iovec_t *value)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return 0;
    *value = req->headers.entries[i].value;
    return 1;
}

/* n lower-case hex digits at s, not all '0' unless zero_ok */
static int lower_hex(const char *s, size_t n, int zero_ok)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        nonzero |= s[i] != '0';
    }
    return zero_ok || nonzero;
}

int xl_http_traceparent(h2o_req_t *req, h2o_iovec_t *value)
{
    h2o_iovec_t v;
    if (!xl_http_header(req, "traceparent", &v))
        return 0;
    /* version 00 is exactly 55 bytes; a later version may append "-..." fields */
    const char *s = v.base;
    if (v.len < 55 || (v.len > 55 && (s[0] == '0' && s[1] == '0')) || (v.len > 55 && s[55] != '-') ||
        !lower_hex(s, 2, 1) || (s[0] == 'f' && s[1] == 'f') || s[2] != '-' || !lower_hex(s + 3, 32, 0) ||
        s[35] != '-' || !lower_hex(s + 36, 16, 0) || s[52] != '-' || !lower_hex(s + 53, 2, 1))
        return 0;
    *value = h2o_iovec_init(s, 55);
    return 1;
}

/* ---- held requests ---------------------------------------------------------------------- */

/* The hold this loop thread made last, while its request is not answered (xl_http_held). */
static __thread xl_http_hold_t *latest_hold;

static void hold_gone(xl_http_hold_t *hold)
{
    if (hold->req == NULL)
        return;
    hold->req = NULL;
    if (hold->cb->gone != NULL)
        hold->cb->gone(hold);
}

static void hold_stop(h2o_generator_t *self, h2o_req_t *req)
{
    hold_gone(H2O_STRUCT_FROM_MEMBER(xl_http_hold_t, super, self));
}

static void hold_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    xl_http_hold_t *hold = H2O_STRUCT_FROM_MEMBER(xl_http_hold_t, super, self);
    if (hold->cb->proceed != NULL)
        hold->cb->proceed(hold);
}

/* the request's pool is released: a request still held was never answered */
static void hold_dispose(void *self)
{
    xl_http_hold_t *hold = self;
    if (latest_hold == hold)
        latest_hold = NULL;
    hold_gone(hold);
    if (hold->cb->dispose != NULL)
        hold->cb->dispose(hold);
}

xl_http_hold_t *xl_http_hold(h2o_req_t *req, size_t size, const xl_http_hold_callbacks_t *cb)
{
    if (size < sizeof(xl_http_hold_t))
        size = sizeof(xl_http_hold_t);
    xl_http_hold_t *hold = h2o_mem_alloc_shared(&req->pool, size, hold_dispose);
    memset(hold, 0, size); /* the pool does not zero */
    hold->super.proceed = hold_proceed;
    hold->super.stop = hold_stop;
    hold->req = req;
    hold->cb = cb;
    latest_hold = hold;
    return hold;
}

int xl_http_held(h2o_req_t *req)
{
    return latest_hold != NULL && latest_hold->req == req && latest_hold->cb->waits;
}

h2o_req_t *xl_http_hold_release(xl_http_hold_t *hold)
{
    h2o_req_t *req = hold->req;
    hold->req = NULL;
    return req;
}

void xl_http_hold_start(xl_http_hold_t *hold)
{
    h2o_start_response(hold->req, &hold->super);
}
