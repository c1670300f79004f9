/*
 * Read endpoints (see read.h): lookups by audit ID and message ID, the
 * retry lineage, per-flow summaries, the
 * schemas, health, and the process metrics. A state "as of" a past time is
 * replayed from the event archive through the projector's own state machine
 * (projector/apply.h), so it is exactly what the projection was then.
 *
 * Nothing here blocks the loop for long: every read is a point read or a
 * bounded index scan (the digest, a full scan, is digest.c's, on a thread of its own).
 */
#include "api/read.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/http.h"
#include "api/render.h"
#include "api/query.h"
#include "projector/apply.h"

#define MAX_MESSAGE_ITEMS 1000 /* executions listed for one message ID */
#define MAX_LINEAGE_ITEMS 1000 /* attempts, and children, listed in a lineage */

/* The tenant a summary or message lookup is scoped to: the caller's own, else ?tenant_id=, else all (NULL). */
static int scope_tenantOrReply(h2o_req_t *req, const xl_principal_t *who, xl_str_t *buf, const xl_str_t **scope)
{
    h2o_iovec_t v;
    int given = xl_http_query_param(req, "tenant_id", &v);
    *scope = NULL;
    if (who->tenant.base != NULL) {
        *buf = who->tenant;
        *scope = buf;
        if (given && !h2o_memis(v.base, v.len, who->tenant.base, who->tenant.len))
            return 1; /* another tenant's: nothing to see */
        return 0;
    }
    if (given) {
        buf->base = v.base;
        buf->len = v.len;
        *scope = buf;
    }
    return 0;
}

/* ---- GET /v1/executions/{id} ------------------------------------------------------- */

typedef struct st_replay_t {
    xl_api_t *api;
    int64_t as_of;
    xl_state_t st;
    int exists;
    int failed;
    char err[256];
} replay_t;

static int on_replay_event(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    replay_t *r = ctx;
    xl_event_t ev;
    xl_apply_result_t res;
    if (xl_event_decode(r->api->codec, frame, len, &ev, r->err, sizeof(r->err)) != 0) {
        r->failed = 1;
        return 1;
    }
    if (ev.ingest_time_ms > r->as_of) { /* the log had not seen it yet: the state stops here */
        xl_event_dispose(&ev);
        return 1;
    }
    xl_apply_origin_t origin = {pos->partition, pos->offset};
    int ret = xl_apply_event(&r->st, r->exists, &ev, 0, &origin, &res);
    xl_event_dispose(&ev);
    if (ret != 0) {
        snprintf(r->err, sizeof(r->err), "out of memory replaying event %u", seq);
        r->failed = 1;
        return 1;
    }
    if (res.outcome == XL_APPLY_NEW || res.outcome == XL_APPLY_ANOMALY)
        r->exists = 1;
    return 0;
}

static void read_as_of(xl_api_t *api, h2o_req_t *req, int64_t audit_id, int64_t as_of)
{
    replay_t r;
    memset(&r, 0, sizeof(r));
    r.api = api;
    r.as_of = as_of;
    int ret = xl_store_scan_events(api->store, audit_id, 1, 0, on_replay_event, &r);
    if (ret < 0 || r.failed) {
        xl_state_dispose(&r.st);
        xl_http_send_problem(req, 500, "internal", "Cannot replay the execution", NULL, "%s",
                             r.failed ? r.err : "cannot read the event archive");
        return;
    }
    if (!r.exists) {
        xl_state_dispose(&r.st);
        xl_http_send_problem(req, 404, "not-found", "Execution not found", NULL,
                             "execution %" PRId64 " did not exist yet at %" PRId64, audit_id, as_of);
        return;
    }
    json_t *body = xl_render_state(&r.st);
    json_object_set_new(body, "as_of", json_integer(as_of));
    xl_state_dispose(&r.st);
    xl_http_send_json_obj(req, 200, body);
}

/* ---- the answer cache (projector/cache.h): GET /v1/executions/{id}, list items, lineage ---------- */

static void *cache_alloc(void *req, size_t len)
{
    return h2o_mem_alloc_pool(&((h2o_req_t *)req)->pool, len);
}

/* Answer from the cache: the same tenant rule as a stored state. @return 1 answered, 0 miss (*ticket for the fill). */
static int cache_answer(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id,
                        xl_cache_kind_t kind, uint64_t *ticket)
{
    xl_cache_answer_t a;
    if (xl_cache_get_kind(api->cache, audit_id, kind, cache_alloc, req, &a, ticket) != 1)
        return 0;
    xl_str_t tenant = {a.tenant, a.tenant_len};
    if (!xl_principal_sees(who, &tenant))
        xl_query_send_not_found(req, audit_id);
    else
        xl_http_send_json(req, 200, a.body, a.body_len);
    return 1;
}

static int cache_metrics(xl_api_t *api, xl_buf_t *out)
{
    static const struct {
        const char *name, *help;
        size_t at;
    } rows[] = {
        {"execlog_cache_hits_total", "answers taken from the answer cache (lookups, list items, lineage entries)",
         offsetof(xl_cache_stats_t, hits)},
        {"execlog_cache_misses_total", "answers the answer cache did not have: read from the store (then cached)",
         offsetof(xl_cache_stats_t, misses)},
        {"execlog_cache_evictions_total", "answers dropped from the cache for room",
         offsetof(xl_cache_stats_t, evictions)},
        {"execlog_cache_invalidations_total", "answers dropped because the projector changed their execution",
         offsetof(xl_cache_stats_t, invalidations)},
    };
    xl_cache_stats_t cs;
    int ret = 0;
    if (api->cache == NULL)
        return 0;
    xl_cache_get_stats(api->cache, &cs);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); ++i) {
        ret |= xl_metrics_family(out, rows[i].name, "counter", rows[i].help);
        ret |= xl_metrics_sample(out, rows[i].name, "", (double)*(const uint64_t *)((const char *)&cs + rows[i].at));
    }
    ret |= xl_metrics_family(out, "execlog_cache_bytes", "gauge",
                             "memory the cached answers take (http.cache.bytes at most)");
    ret |= xl_metrics_sample(out, "execlog_cache_bytes", "", (double)cs.bytes);
    ret |= xl_metrics_family(out, "execlog_cache_entries", "gauge", "answers in the cache");
    ret |= xl_metrics_sample(out, "execlog_cache_entries", "", (double)cs.entries);
    return ret;
}

void xl_read_execution(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id)
{
    xl_state_t st;
    int64_t as_of;
    uint64_t ticket = 0;
    if (xl_query_int_paramOrReply(req, "as_of", 0, INT64_MAX / 2, -1, &as_of) != 0)
        return;
    h2o_iovec_t fields;
    int selected = xl_http_query_param(req, "fields", &fields);
    /* an as_of read is a replay and a field selection another shape: neither is cached; the whole
     * current answer may come from memory */
    if (as_of < 0 && !selected && cache_answer(api, req, who, audit_id, XL_CACHE_STATE, &ticket))
        return;
    if (xl_query_stateOrReply(api->store, api->codec, req, who, audit_id, &st) != 0)
        return;
    if (as_of >= 0) {
        xl_state_dispose(&st);
        read_as_of(api, req, audit_id, as_of);
        return;
    }
    if (selected) {
        json_t *o = xl_render_select(xl_render_state(&st), fields.base, fields.len);
        xl_state_dispose(&st);
        if (o != NULL)
            xl_http_send_json_obj(req, 200, o);
        else
            xl_http_send_problem(req, 500, "internal", "Cannot render the execution", NULL, "out of memory");
        return;
    }
    /* The hot path: bytes straight from the state, no json_t tree (see xl_render_state_buf). */
    xl_buf_t body;
    xl_buf_init(&body);
    if (xl_render_state_buf(&st, &body) == 0) {
        xl_cache_put(api->cache, audit_id, ticket, st.tenant_id.base, st.tenant_id.len, body.base, body.len);
        xl_http_send_json(req, 200, body.base, body.len);
    } else
        xl_http_send_problem(req, 500, "internal", "Cannot render the execution", NULL, "out of memory");
    xl_buf_dispose(&body);
    xl_state_dispose(&st);
}

/* ---- index walks ---------------------------------------------------------------------- */

#define LIT(buf, s) xl_buf_append((buf), (s), sizeof(s) - 1)

typedef struct st_collect_t {
    xl_api_t *api;
    const xl_principal_t *who;
    xl_store_index_iter_t *iter; /* optional: the iterator the scan goes through */
    int cards;                   /* 1: the items are lineage cards (card_read), not render(state) */
    xl_buf_t card;               /* cards: the one being read */
    const xl_str_t *tenant;      /* cards: mixed is set by one of another tenant than this */
    int mixed;
    xl_buf_t items; /* the items' JSON, comma-separated, rendered straight into bytes */
    size_t nitems, max;
    int truncated;
    int64_t *ids; /* optional: the audit IDs collected */
    size_t nids;
    int (*render)(const xl_state_t *st, xl_buf_t *out);
    int failed;
} collect_t;

/*
 * A lineage card: an execution as a lineage lists it (xl_render_attempt_buf),
 * after its be64 root_audit_id and be64 parent_execution_id, kept in the
 * answer cache as its XL_CACHE_CARD entry: the projector's invalidation
 * of the execution drops it with its state's answer.
 */
#define CARD_HEAD 16

typedef struct st_card_t {
    xl_str_t tenant;
    int64_t root, parent_exec;
    const char *json;
    size_t len;
} card_t;

static void *card_alloc(void *ctx, size_t len)
{
    xl_buf_t *b = ctx;
    if (xl_buf_reserve(b, len) != 0)
        return NULL;
    b->len = len;
    return b->base;
}

/* The card of audit_id, from the cache or the store (then cached), into buf (reset): c points into it.
 * @return 0, -ENOENT, -ENOMEM or -EIO (err filled). */
static int card_read(xl_api_t *api, int64_t audit_id, xl_buf_t *buf, card_t *c, char *err, size_t errlen)
{
    xl_cache_answer_t a;
    xl_state_t st;
    uint64_t ticket = 0;
    size_t body;
    xl_buf_reset(buf);
    int ret = xl_cache_get_kind(api->cache, audit_id, XL_CACHE_CARD, card_alloc, buf, &a, &ticket);
    if (ret == 1 && a.body_len >= CARD_HEAD) {
        c->tenant = (xl_str_t){a.tenant, a.tenant_len};
        body = a.tenant_len;
        buf->len = a.tenant_len + a.body_len; /* without the NUL the cache adds */
    } else {
        snprintf(err, errlen, "out of memory");
        if ((ret = xl_store_get_state(api->store, api->codec, audit_id, &st, err, errlen)) != 0)
            return ret == -ENOENT || ret == -ENOMEM ? ret : -EIO;
        xl_buf_reset(buf);
        body = st.tenant_id.len;
        ret = xl_buf_append(buf, st.tenant_id.base != NULL ? st.tenant_id.base : "", body) ||
                      xl_buf_append_be64(buf, (uint64_t)st.root_audit_id) ||
                      xl_buf_append_be64(buf, (uint64_t)st.parent_execution_id) || xl_render_attempt_buf(&st, buf)
                  ? -ENOMEM
                  : 0;
        if (ret == 0)
            xl_cache_put_kind(api->cache, audit_id, XL_CACHE_CARD, ticket, st.tenant_id.base, body,
                              buf->base + body, buf->len - body);
        c->tenant = (xl_str_t){st.tenant_id.base != NULL ? buf->base : NULL, body};
        xl_state_dispose(&st);
        if (ret != 0)
            return ret;
    }
    c->root = (int64_t)xl_be64_get(buf->base + body);
    c->parent_exec = (int64_t)xl_be64_get(buf->base + body + 8);
    c->json = buf->base + body + CARD_HEAD;
    c->len = buf->len - body - CARD_HEAD;
    return 0;
}

/* Exactly the same tenant, none being none. */
static int same_tenant(const xl_str_t *a, const xl_str_t *b)
{
    return (a->base == NULL) == (b->base == NULL) && a->len == b->len &&
           (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

static int on_collect(void *ctx, int64_t created_ms, int64_t audit_id)
{
    collect_t *c = ctx;
    xl_state_t st;
    char err[256];
    if (c->nitems >= c->max) {
        c->truncated = 1;
        return 1;
    }
    if (c->cards) {
        card_t card;
        char err[256];
        int ret = card_read(c->api, audit_id, &c->card, &card, err, sizeof(err));
        if (ret == -ENOENT)
            return 0;
        if (ret == 0 && c->tenant != NULL && !same_tenant(&card.tenant, c->tenant))
            c->mixed = 1;
        if (ret == 0 && xl_principal_sees(c->who, &card.tenant)) {
            if ((c->nitems > 0 && xl_buf_append(&c->items, ",", 1) != 0) ||
                xl_buf_append(&c->items, card.json, card.len) != 0)
                ret = -ENOMEM;
            ++c->nitems;
            if (c->ids != NULL)
                c->ids[c->nids++] = audit_id;
        }
        c->failed = ret != 0;
        return c->failed;
    }
    int ret = xl_store_get_state(c->api->store, c->api->codec, audit_id, &st, err, sizeof(err));
    if (ret == -ENOENT)
        return 0; /* indexed in the same batch as its state: only a rebuild in progress shows this */
    if (ret != 0) {
        c->failed = 1;
        return 1;
    }
    if (xl_principal_sees(c->who, &st.tenant_id)) {
        if ((c->nitems > 0 && xl_buf_append(&c->items, ",", 1) != 0) || c->render(&st, &c->items) != 0)
            c->failed = 1;
        ++c->nitems;
        if (c->ids != NULL)
            c->ids[c->nids++] = audit_id;
    }
    xl_state_dispose(&st);
    return c->failed;
}

static int collect(xl_api_t *api, collect_t *c, xl_index_t ix, const xl_str_t *tenant, const xl_str_t *str, int64_t id,
                   int descending)
{
    xl_buf_t prefix;
    xl_buf_init(&prefix);
    int ret = xl_store_index_prefix(&prefix, ix, tenant, str, 0, id);
    if (ret == 0)
        ret = c->iter != NULL
                  ? xl_store_index_iter_scan(c->iter, prefix.base, prefix.len, descending, NULL, on_collect, c)
                  : xl_store_index_scan(api->store, prefix.base, prefix.len, descending, NULL, on_collect, c);
    xl_buf_dispose(&prefix);
    return ret < 0 || c->failed ? -EIO : 0;
}

/* ---- GET /v1/messages/{message_id} ------------------------------------------------- */

void xl_read_message(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t message_id)
{
    xl_str_t tbuf, msg = {message_id.base, message_id.len};
    const xl_str_t *scope;
    collect_t c = {.api = api, .who = who, .max = MAX_MESSAGE_ITEMS, .render = xl_render_state_buf};
    xl_buf_t body;
    xl_buf_init(&c.items);
    xl_buf_init(&body);
    if (scope_tenantOrReply(req, who, &tbuf, &scope) != 0)
        goto done;
    if (collect(api, &c, XL_IX_MESSAGE, scope, &msg, 0, 1) != 0) {
        xl_http_send_problem(req, 500, "internal", "Cannot read the message index", NULL, "see the log");
        goto done;
    }
    if (c.nitems == 0) {
        xl_http_send_problem(req, 404, "not-found", "Message not found", NULL,
                             "no execution was started for message %.*s", (int)message_id.len, message_id.base);
        goto done;
    }
    if (LIT(&body, "{\"message_id\":") || xl_render_string_buf(&body, message_id.base, message_id.len) ||
        LIT(&body, ",\"items\":[") || xl_buf_append(&body, c.items.base, c.items.len) ||
        xl_buf_appendf(&body, "],\"truncated\":%s}", c.truncated ? "true" : "false"))
        xl_http_send_problem(req, 500, "internal", "Cannot render the answer", NULL, "out of memory");
    else
        xl_http_send_json(req, 200, body.base, body.len);
done:
    xl_buf_dispose(&body);
    xl_buf_dispose(&c.items);
}

/* ---- GET /v1/executions/{id}/lineage -------------------------------------------------- */

/*
 * The answer is kept whole in the cache (XL_CACHE_LINEAGE, a derived kind:
 * any change the projector makes drops it, since a new retry or child of any
 * attempt changes it and no invalidation names those), with the tenant of
 * audit_id; a miss assembles it from the cards of its executions. Only a
 * lineage all of one tenant is kept: whoever sees audit_id then sees all of
 * it, while a mixed one lists for each caller what that caller may see.
 */
void xl_read_lineage(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id)
{
    card_t head = {0};
    xl_buf_t headbuf;
    char err[256];
    uint64_t ticket = 0;
    if (cache_answer(api, req, who, audit_id, XL_CACHE_LINEAGE, &ticket))
        return;
    xl_buf_init(&headbuf);
    int ret = card_read(api, audit_id, &headbuf, &head, err, sizeof(err));
    if (ret == -ENOENT || (ret == 0 && !xl_principal_sees(who, &head.tenant))) { /* alike: existence is not leaked */
        xl_buf_dispose(&headbuf);
        xl_query_send_not_found(req, audit_id);
        return;
    }
    if (ret != 0) {
        xl_buf_dispose(&headbuf);
        xl_http_send_problem(req, 500, "internal", "Cannot read the execution", NULL, "%s", err);
        return;
    }
    int64_t root = head.root, parent_exec = head.parent_exec;

    /* one iterator, so one view of the store, for the attempts and their children */
    xl_store_index_iter_t *iter = xl_store_index_iter_create(api->store);
    int64_t *ids = calloc(MAX_LINEAGE_ITEMS, sizeof(*ids));
    collect_t attempts = {
        .api = api, .who = who, .iter = iter, .cards = 1, .tenant = &head.tenant, .max = MAX_LINEAGE_ITEMS, .ids = ids};
    collect_t children = {
        .api = api, .who = who, .iter = iter, .cards = 1, .tenant = &head.tenant, .max = MAX_LINEAGE_ITEMS};
    xl_buf_t body;
    xl_buf_init(&attempts.items);
    xl_buf_init(&attempts.card);
    xl_buf_init(&children.items);
    xl_buf_init(&children.card);
    xl_buf_init(&body);
    int failed = ids == NULL || iter == NULL || collect(api, &attempts, XL_IX_LINEAGE, NULL, NULL, root, 0) != 0;
    for (size_t i = 0; !failed && i < attempts.nids && !children.truncated; ++i)
        failed = collect(api, &children, XL_IX_CHILDREN, NULL, NULL, ids[i], 0) != 0;
    free(ids);
    xl_store_index_iter_destroy(iter);
    /* {"audit_id","root_audit_id","parent_execution_id","attempts":[...],"children":[...],"truncated"} */
    if (failed || xl_buf_appendf(&body, "{\"audit_id\":%" PRId64 ",\"root_audit_id\":%" PRId64 ",\"parent_execution_id\":",
                                 audit_id, root) ||
        (parent_exec ? xl_buf_appendf(&body, "%" PRId64, parent_exec) : LIT(&body, "null")) ||
        LIT(&body, ",\"attempts\":[") || xl_buf_append(&body, attempts.items.base, attempts.items.len) ||
        LIT(&body, "],\"children\":[") || xl_buf_append(&body, children.items.base, children.items.len) ||
        xl_buf_appendf(&body, "],\"truncated\":%s}", attempts.truncated || children.truncated ? "true" : "false"))
        xl_http_send_problem(req, 500, "internal", "Cannot read the lineage", NULL, "see the log");
    else {
        if (!attempts.mixed && !children.mixed)
            xl_cache_put_kind(api->cache, audit_id, XL_CACHE_LINEAGE, ticket, head.tenant.base, head.tenant.len,
                              body.base, body.len);
        xl_http_send_json(req, 200, body.base, body.len);
    }
    xl_buf_dispose(&headbuf);
    xl_buf_dispose(&body);
    xl_buf_dispose(&attempts.items);
    xl_buf_dispose(&attempts.card);
    xl_buf_dispose(&children.items);
    xl_buf_dispose(&children.card);
}

/* ---- GET /v1/flows/{flow_id} ------------------------------------------------------- */

void xl_read_flow(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t flow_id)
{
    xl_str_t tbuf;
    const xl_str_t *scope;
    xl_flow_summary_t sum;
    int ret = -ENOENT;
    if (scope_tenantOrReply(req, who, &tbuf, &scope) == 0)
        ret = xl_store_get_flow_summary(api->store, scope, flow_id.base, flow_id.len, &sum);
    if (ret == -ENOENT) {
        xl_http_send_problem(req, 404, "not-found", "Flow not found", NULL, "no execution of flow %.*s",
                             (int)flow_id.len, flow_id.base);
        return;
    }
    if (ret != 0) {
        xl_http_send_problem(req, 500, "internal", "Cannot read the flow summary", NULL, "see the log");
        return;
    }
    json_t *latest = NULL;
    xl_state_t st;
    char err[256];
    if (sum.latest_audit_id != 0 &&
        xl_store_get_state(api->store, api->codec, sum.latest_audit_id, &st, err, sizeof(err)) == 0) {
        if (xl_principal_sees(who, &st.tenant_id))
            latest = xl_render_state(&st);
        xl_state_dispose(&st);
    }
    xl_http_send_json_obj(req, 200, xl_render_flow(flow_id.base, flow_id.len, scope, &sum, latest));
}

/* ---- schemas, info, health ------------------------------------------------------------- */

static json_t *schema_item(const char *name, const char *text, uint64_t fp)
{
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, fp);
    json_t *schema = json_loads(text, 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:o}", "name", name, "fingerprint", hex, "fingerprint_algorithm",
                     "CRC-64-AVRO of the parsing canonical form; little-endian after C3 01 in single-object frames",
                     "schema", schema != NULL ? schema : json_null());
}

void xl_read_schemas(xl_api_t *api, h2o_req_t *req)
{
    json_t *items = json_array();
    json_array_append_new(items,
                          schema_item("execlog.ExecutionEvent", xl_event_schema_json(), xl_event_schema_fingerprint()));
    json_array_append_new(items,
                          schema_item("execlog.ExecutionState", xl_state_schema_json(), xl_state_schema_fingerprint()));
    xl_http_send_json_obj(req, 200, json_pack("{s:o}", "items", items));
}

void xl_read_info(xl_api_t *api, h2o_req_t *req, int show_brokers)
{
    json_t *info = json_deep_copy(api->info);
    json_t *kafka = json_object_get(info, "kafka");
    /* the broker addresses let a local process write to the log directly: admins only */
    if (!show_brokers && kafka != NULL)
        json_object_set_new(kafka, "bootstrap_servers", json_null());
    xl_http_send_json_obj(req, 200, info);
}

void xl_read_healthz(xl_api_t *api, h2o_req_t *req)
{
    xl_http_send_json_obj(req, 200, json_pack("{s:s}", "status", "ok"));
}

const char *xl_read_not_ready(xl_api_t *api, char *buf, size_t len)
{
    if (api->stopping)
        return "shutting down";
    if (api->projector == NULL)
        return NULL;
    xl_projector_stats_t stats;
    xl_projector_get_stats(api->projector, &stats);
    if (stats.failed)
        return "the projector stopped on a fatal error (see the log)";
    if (stats.stalled) {
        snprintf(buf, len, "projector: store write failing: %s", stats.stall_reason);
        return buf;
    }
    if (stats.lag < 0)
        return "the projector has no partitions assigned yet";
    if (stats.lag > api->ready_max_lag)
        return "the projector is behind the log by more than readyz.max_lag events";
    return NULL;
}

void xl_read_readyz(xl_api_t *api, h2o_req_t *req)
{
    if (api->stopping) {
        xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
        xl_http_send_json_obj(req, 503, json_pack("{s:s, s:s}", "status", "not ready", "reason", "shutting down"));
        return;
    }
    if (api->projector == NULL) {
        xl_http_send_json_obj(req, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    xl_projector_stats_t stats;
    xl_projector_get_stats(api->projector, &stats);
    char stalled[sizeof(stats.stall_reason) + 64];
    const char *why = xl_read_not_ready(api, stalled, sizeof(stalled));
    json_t *body = json_pack("{s:s, s:I, s:I, s:I, s:b, s:b}", "status", why ? "not ready" : "ready", "applied",
                             (json_int_t)stats.applied, "lag", (json_int_t)stats.lag, "max_lag",
                             (json_int_t)api->ready_max_lag, "projector_failed", stats.failed, "projector_stalled",
                             stats.stalled);
    if (why != NULL) {
        /* the store's message names files: bytes, not necessarily UTF-8 */
        json_object_set_new(body, "reason", xl_http_text(why, strlen(why)));
        xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
    }
    xl_http_send_json_obj(req, why ? 503 : 200, body);
}

/* ---- progress --------------------------------------------------------------------------- */

/* A sample of the applied counter at most every second, kept for ~15 s, for the apply rate. */
static void rate_sample(xl_api_t *api, uint64_t now_ms, uint64_t applied)
{
    size_t n = sizeof(api->rate) / sizeof(api->rate[0]);
    if (api->nrate > 0 && now_ms - api->rate[api->nrate - 1].at_ms < 1000)
        return;
    if (api->nrate == n) {
        memmove(&api->rate[0], &api->rate[1], (n - 1) * sizeof(api->rate[0]));
        --api->nrate;
    }
    api->rate[api->nrate].at_ms = now_ms;
    api->rate[api->nrate].applied = applied;
    ++api->nrate;
}

void xl_api_note_applied(xl_api_t *api, int32_t partition, int64_t next_offset)
{
    if (partition < 0)
        return;
    if ((size_t)partition >= api->napplied) {
        size_t n = (size_t)partition + 1;
        int64_t *a = realloc(api->applied, n * sizeof(*a));
        if (a == NULL)
            return;
        for (size_t i = api->napplied; i < n; ++i)
            a[i] = -1;
        api->applied = a;
        api->napplied = n;
    }
    if (next_offset > api->applied[partition])
        api->applied[partition] = next_offset;
    ++api->applied_batches;
    if (api->projector != NULL) {
        xl_projector_stats_t stats;
        xl_projector_get_stats(api->projector, &stats);
        rate_sample(api, h2o_now(api->loop), stats.applied);
    }
}

/* Events applied per second over the last ~10 s of samples (and now). */
static double apply_rate(xl_api_t *api, uint64_t now_ms, uint64_t applied)
{
    rate_sample(api, now_ms, applied);
    for (size_t i = 0; i < api->nrate; ++i) {
        if (now_ms - api->rate[i].at_ms <= 10000 || i + 1 == api->nrate) {
            if (i > 0) /* the newest sample older than the window, so that the window is covered */
                --i;
            uint64_t dt = now_ms - api->rate[i].at_ms;
            return dt > 0 ? (double)(applied - api->rate[i].applied) * 1000.0 / (double)dt : 0.0;
        }
    }
    return 0.0;
}

/* ---- GET /metrics ----------------------------------------------------------------------- */

static const struct {
    const char *name, *property, *help;
} store_properties[] = {
    {"execlog_store_sst_bytes", "rocksdb.total-sst-files-size", "size of the RocksDB SST files"},
    {"execlog_store_live_data_bytes", "rocksdb.estimate-live-data-size", "estimated live data in RocksDB"},
    {"execlog_store_memtable_bytes", "rocksdb.cur-size-all-mem-tables", "size of the RocksDB memtables"},
    {"execlog_store_keys", "rocksdb.estimate-num-keys", "estimated number of RocksDB keys"},
    {"execlog_store_pending_compaction_bytes", "rocksdb.estimate-pending-compaction-bytes",
     "bytes RocksDB estimates compaction still has to rewrite"},
    {"execlog_store_running_compactions", "rocksdb.num-running-compactions", "RocksDB compactions running"},
    {"execlog_store_immutable_memtables", "rocksdb.num-immutable-mem-table", "RocksDB memtables waiting for flush"},
};

void xl_read_metrics(xl_api_t *api, h2o_req_t *req)
{
    xl_buf_t out;
    char labels[128];
    int ret = 0;
    xl_buf_init(&out);

    ret |= xl_metrics_family(&out, "execlog_build_info", "gauge", "version of this execlogd");
    ret |= xl_metrics_sample(&out, "execlog_build_info", "version=\"" XL_VERSION "\"", 1);
    char why[640]; /* a stall reason and its prefix */
    ret |= xl_metrics_family(&out, "execlog_ready", "gauge", "1 while GET /readyz answers 200");
    ret |= xl_metrics_sample(&out, "execlog_ready", "", xl_read_not_ready(api, why, sizeof(why)) == NULL ? 1 : 0);
    ret |= xl_metrics_render_http(api->metrics, &out);
    ret |= xl_metrics_render_process(&out);

    if (api->ingest != NULL) {
        xl_ingest_stats_t is;
        xl_ingest_get_stats(api->ingest, &is);
        ret |= xl_metrics_family(&out, "execlog_ingest_requests_total", "counter",
                                 "write requests answered, by result (ok, rejected: 4xx, unavailable: 503)");
        ret |= xl_metrics_sample(&out, "execlog_ingest_requests_total", "result=\"ok\"", (double)is.requests_ok);
        ret |= xl_metrics_sample(&out, "execlog_ingest_requests_total", "result=\"rejected\"",
                                 (double)is.requests_rejected);
        ret |= xl_metrics_sample(&out, "execlog_ingest_requests_total", "result=\"unavailable\"",
                                 (double)is.requests_unavailable);
        ret |= xl_metrics_family(&out, "execlog_ingest_events_produced_total", "counter",
                                 "events handed to the Kafka producer");
        ret |= xl_metrics_sample(&out, "execlog_ingest_events_produced_total", "", (double)is.produced);
        ret |= xl_metrics_family(&out, "execlog_ingest_events_delivered_total", "counter",
                                 "events Kafka acknowledged (delivery reports without error)");
        ret |= xl_metrics_sample(&out, "execlog_ingest_events_delivered_total", "", (double)is.delivered);
        ret |= xl_metrics_family(&out, "execlog_ingest_produce_errors_total", "counter",
                                 "events Kafka did not acknowledge (delivery reports with an error)");
        ret |= xl_metrics_sample(&out, "execlog_ingest_produce_errors_total", "", (double)is.delivery_failed);
        ret |= xl_metrics_family(&out, "execlog_ingest_waiting", "gauge",
                                 "writes delivered and waiting for the projection (ingest.ack=projected)");
        ret |= xl_metrics_sample(&out, "execlog_ingest_waiting", "", (double)is.waiting);
    }

    if (api->projector != NULL) {
        xl_projector_stats_t ps;
        xl_projector_get_stats(api->projector, &ps);
        ret |= xl_metrics_family(&out, "execlog_projector_events_applied_total", "counter", "events applied (new)");
        ret |= xl_metrics_sample(&out, "execlog_projector_events_applied_total", "", (double)ps.applied);
        ret |= xl_metrics_family(&out, "execlog_projector_apply_rate", "gauge",
                                 "events applied per second over the last ~10 seconds");
        ret |= xl_metrics_sample(&out, "execlog_projector_apply_rate", "",
                                 apply_rate(api, h2o_now(api->loop), ps.applied));
        ret |= xl_metrics_family(&out, "execlog_projector_duplicates_total", "counter",
                                 "deliveries recognised as already applied");
        ret |= xl_metrics_sample(&out, "execlog_projector_duplicates_total", "", (double)ps.duplicates);
        ret |= xl_metrics_family(&out, "execlog_projector_anomalies_total", "counter",
                                 "events that broke the state machine (kept and flagged)");
        ret |= xl_metrics_sample(&out, "execlog_projector_anomalies_total", "", (double)ps.anomalies);
        ret |=
            xl_metrics_family(&out, "execlog_projector_dlq_total", "counter", "messages sent to the dead-letter topic");
        ret |= xl_metrics_sample(&out, "execlog_projector_dlq_total", "", (double)ps.dlq);
        ret |= xl_metrics_family(&out, "execlog_projector_batches_total", "counter", "store batches written");
        ret |= xl_metrics_sample(&out, "execlog_projector_batches_total", "", (double)ps.batches);
        ret |= xl_metrics_family(&out, "execlog_consumer_lag", "gauge",
                                 "messages between the projection and the high watermarks, all partitions (-1: "
                                 "unknown)");
        ret |= xl_metrics_sample(&out, "execlog_consumer_lag", "", (double)ps.lag);
        ret |= xl_metrics_family(&out, "execlog_consumer_lag_seconds", "gauge",
                                 "how far behind the projection is in time: on the partitions that are behind, the "
                                 "age of the last event applied (0: caught up, -1: unknown)");
        ret |= xl_metrics_sample(&out, "execlog_consumer_lag_seconds", "",
                                 ps.lag_ms < 0 ? -1.0 : (double)ps.lag_ms / 1000.0);
        int64_t lags[XL_PROJECTOR_MAX_LAGS];
        size_t nlags = xl_projector_get_lags(api->projector, lags, XL_PROJECTOR_MAX_LAGS);
        ret |= xl_metrics_family(&out, "execlog_consumer_partition_lag", "gauge",
                                 "messages between the projection and the high watermark, per partition");
        for (size_t p = 0; p < nlags; ++p) {
            if (lags[p] < 0)
                continue;
            snprintf(labels, sizeof(labels), "partition=\"%zu\"", p);
            ret |= xl_metrics_sample(&out, "execlog_consumer_partition_lag", labels, (double)lags[p]);
        }
        ret |= xl_metrics_family(&out, "execlog_projector_failed", "gauge", "1 once the projector stopped on an error");
        ret |= xl_metrics_sample(&out, "execlog_projector_failed", "", ps.failed ? 1 : 0);
        ret |= xl_metrics_family(&out, "execlog_projector_stalled", "gauge",
                                 "1 while the store refuses the projector's writes (a full disk; see /readyz)");
        ret |= xl_metrics_sample(&out, "execlog_projector_stalled", "", ps.stalled ? 1 : 0);
    }
    ret |= xl_metrics_family(&out, "execlog_projector_applied_offset", "gauge",
                             "next offset of each partition the projection has made durable");
    for (size_t p = 0; p < api->napplied; ++p) {
        if (api->applied[p] < 0)
            continue;
        snprintf(labels, sizeof(labels), "partition=\"%zu\"", p);
        ret |= xl_metrics_sample(&out, "execlog_projector_applied_offset", labels, (double)api->applied[p]);
    }

    uint64_t executions = 0, events = 0;
    xl_store_estimate(api->store, &executions, &events);
    ret |= xl_metrics_family(&out, "execlog_store_executions", "gauge", "executions in the store (estimate)");
    ret |= xl_metrics_sample(&out, "execlog_store_executions", "", (double)executions);
    ret |= xl_metrics_family(&out, "execlog_store_events", "gauge", "archived events in the store (estimate)");
    ret |= xl_metrics_sample(&out, "execlog_store_events", "", (double)events);
    ret |= xl_metrics_family(&out, "execlog_store_feed_last", "gauge", "last feed sequence number of this replica");
    ret |= xl_metrics_sample(&out, "execlog_store_feed_last", "", (double)xl_store_feed_last(api->store));
    for (size_t i = 0; i < sizeof(store_properties) / sizeof(store_properties[0]); ++i) {
        int64_t v = xl_store_property(api->store, store_properties[i].property);
        if (v < 0)
            continue;
        ret |= xl_metrics_family(&out, store_properties[i].name, "gauge", store_properties[i].help);
        ret |= xl_metrics_sample(&out, store_properties[i].name, "", (double)v);
    }

    const xl_stream_stats_t *shared = &api->first->stream_stats;
    const xl_stream_stats_t ss = {.streams = __atomic_load_n(&shared->streams, __ATOMIC_RELAXED),
                                  .polls = __atomic_load_n(&shared->polls, __ATOMIC_RELAXED),
                                  .events_sent = __atomic_load_n(&shared->events_sent, __ATOMIC_RELAXED)};
    ret |= xl_metrics_family(&out, "execlog_sse_streams", "gauge", "open Server-Sent Events streams");
    ret |= xl_metrics_sample(&out, "execlog_sse_streams", "", (double)ss.streams);
    ret |= xl_metrics_family(&out, "execlog_sse_events_sent_total", "counter", "events sent on SSE streams");
    ret |= xl_metrics_sample(&out, "execlog_sse_events_sent_total", "", (double)ss.events_sent);
    ret |= xl_metrics_family(&out, "execlog_long_polls", "gauge", "event history requests waiting for events");
    ret |= xl_metrics_sample(&out, "execlog_long_polls", "", (double)ss.polls);
    ret |= xl_metrics_family(&out, "execlog_min_position_waits", "gauge",
                             "reads waiting until the projection reaches their min_position");
    ret |= xl_metrics_sample(&out, "execlog_min_position_waits", "", (double)__atomic_load_n(&api->first->nwaiting, __ATOMIC_RELAXED));
    ret |= cache_metrics(api, &out);

    if (ret != 0) {
        xl_buf_dispose(&out);
        xl_http_send_problem(req, 500, "internal", "Out of memory", NULL, "cannot render the metrics");
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = out.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_iovec_t body = h2o_strdup(&req->pool, out.base != NULL ? out.base : "", out.len);
    xl_buf_dispose(&out);
    h2o_send_inline(req, body.base, body.len);
}
