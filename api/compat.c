/*
 * Shared pieces of the compatibility routes (see compat.h).
 */
#include "api/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ingest/http.h"

typedef struct st_walk_t {
    xl_api_t *api;
    const xl_principal_t *who;
    xl_compat_page_t *page;
    uint64_t seen;
    int failed;
} walk_t;

static int on_entry(void *ctx, int64_t created_ms, int64_t audit_id)
{
    walk_t *w = ctx;
    xl_compat_page_t *pg = w->page;
    xl_state_t st;
    char err[256];
    if (++w->seen > XL_COMPAT_MAX_SCAN) {
        pg->truncated = 1;
        return 1;
    }
    int ret = xl_store_get_state(w->api->store, w->api->codec, audit_id, &st, err, sizeof(err));
    if (ret == -ENOENT)
        return 0; /* a rebuild in progress */
    if (ret != 0) {
        w->failed = 1;
        return 1;
    }
    if (xl_principal_sees(w->who, &st.tenant_id) && (pg->keep == NULL || pg->keep(pg->ctx, &st))) {
        if (pg->total >= pg->offset && pg->total - pg->offset < pg->size)
            json_array_append_new(pg->items, pg->render(pg->ctx, &st));
        ++pg->total;
    }
    xl_state_dispose(&st);
    return 0;
}

int xl_compat_page(xl_api_t *api, const xl_principal_t *who, xl_compat_page_t *page)
{
    walk_t w = {.api = api, .who = who, .page = page};
    xl_buf_t prefix;
    xl_buf_init(&prefix);
    page->items = json_array();
    page->total = 0;
    page->truncated = 0;
    int ret = xl_store_index_prefix(&prefix, page->ix, page->tenant, page->str, 0, 0);
    if (ret == 0)
        ret = xl_store_index_scan(api->store, prefix.base, prefix.len, page->descending, NULL, on_entry, &w);
    xl_buf_dispose(&prefix);
    if (ret < 0 || w.failed) {
        json_decref(page->items);
        page->items = NULL;
        return -EIO;
    }
    return 0;
}

int xl_compat_acked_state(xl_api_t *api, json_t *ack, xl_state_t *st)
{
    char err[256];
    json_t *aid = json_object_get(ack, "audit_id"), *seq = json_object_get(ack, "seq");
    if (!json_is_integer(aid) || !json_is_integer(seq) ||
        xl_store_get_state(api->store, api->codec, json_integer_value(aid), st, err, sizeof(err)) != 0)
        return -1;
    if ((json_int_t)st->last_seq < json_integer_value(seq)) {
        xl_state_dispose(st);
        return -1;
    }
    return 0;
}

json_t *xl_compat_time(int64_t ms)
{
    if (ms == 0)
        return json_null();
    char out[40];
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, sizeof(out) - n, ".%03dZ", (int)(ms % 1000));
    return json_string(out);
}

xl_str_t xl_compat_attribute(const xl_state_t *st, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < st->nattributes; ++i)
        if (st->attributes[i].key.base != NULL && st->attributes[i].key.len == klen &&
            memcmp(st->attributes[i].key.base, key, klen) == 0)
            return st->attributes[i].value;
    return (xl_str_t){NULL, 0};
}

void xl_compat_problem(h2o_req_t *req, int status, const char *slug, const char *title, json_t *extra,
                       const char *message_key, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (message_key != NULL) {
        if (extra == NULL)
            extra = json_object();
        json_object_set_new(extra, message_key, json_string(detail));
    }
    xl_http_send_problem(req, status, slug, title, extra, "%s", detail);
}

const xl_str_t *xl_compat_scope(const xl_principal_t *who, h2o_iovec_t want, xl_str_t *buf, int *other)
{
    *other = 0;
    if (who->tenant.base != NULL) {
        *buf = who->tenant;
        if (want.base != NULL && want.len > 0 && !h2o_memis(want.base, want.len, who->tenant.base, who->tenant.len))
            *other = 1;
        return buf;
    }
    if (want.base == NULL || want.len == 0)
        return NULL;
    buf->base = want.base;
    buf->len = want.len;
    return buf;
}

json_t *xl_compat_body_objectOrReply(h2o_req_t *req, json_t *extra, const char *message_key)
{
    json_error_t jerr;
    json_t *body = req->entity.len > 0 ? json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr)
                                       : json_object();
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        xl_compat_problem(req, 400, "invalid-body", "Invalid request body", extra, message_key,
                          "the body must be a JSON object");
        return NULL;
    }
    json_decref(extra);
    return body;
}

h2o_iovec_t xl_compat_dump(h2o_req_t *req, const json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    h2o_iovec_t v = h2o_strdup(&req->pool, text != NULL ? text : "{}", SIZE_MAX);
    free(text);
    return v;
}
