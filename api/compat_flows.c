/*
 * The list of flows (see compat_flows.h): a scan of the per-flow aggregates
 * (xl_store_scan_flows), one point read of each flow's latest run. The page
 * token is the hex of the last flow ID listed: a position, not a secret (it
 * lets a caller see nothing more than the same request without it).
 */
#include "api/compat_flows.h"

#include <errno.h>
#include <string.h>

#include "api/compat.h"
#include "ingest/http.h"
#include "api/render.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 500
#define MAX_FLOW_ID 4096

typedef struct st_flows_t {
    xl_api_t *api;
    const xl_principal_t *who;
    const xl_str_t *scope;
    json_t *items;
    size_t limit;
    int more;
    char last[MAX_FLOW_ID];
    size_t last_len;
} flows_t;

/* The Flows product's steps: each task of the latest run, with its type and depends_on from the step plan,
 * is_skipped when the run ended before it started. */
static json_t *render_steps(const xl_state_t *st)
{
    json_t *a = json_array();
    for (size_t i = 0; i < st->ntasks; ++i) {
        const xl_task_t *t = &st->tasks[i];
        json_t *deps = json_array();
        for (size_t d = 0; d < t->ndepends_on; ++d)
            json_array_append_new(deps, xl_render_str(&t->depends_on[d]));
        json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:b, s:I}", "name", xl_render_str(&t->name),
                                           "status", xl_render_status(t->status), "type", xl_render_str(&t->type),
                                           "depends_on", deps, "is_skipped", t->status == XL_STATUS_SKIPPED,
                                           "attempts", (json_int_t)t->attempts));
    }
    return a;
}

static json_t *latest_run(const xl_state_t *st)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o}", "audit_id", (json_int_t)st->audit_id, "status",
                     xl_render_status(st->status), "created", xl_compat_time(st->created_ms), "started",
                     xl_compat_time(st->started_ms), "ended", xl_compat_time(st->ended_ms));
}

static int on_flow(void *ctx, const char *flow_id, size_t flow_len, const xl_flow_summary_t *sum)
{
    flows_t *f = ctx;
    xl_state_t st;
    char err[256];
    if (json_array_size(f->items) >= f->limit) {
        f->more = 1;
        return 1;
    }
    json_t *latest = NULL, *name = json_null(), *run = json_null(), *steps = json_array(), *modified = json_null();
    size_t steps_count = 0;
    if (sum->latest_audit_id != 0 &&
        xl_store_get_state(f->api->store, f->api->codec, sum->latest_audit_id, &st, err, sizeof(err)) == 0) {
        if (xl_principal_sees(f->who, &st.tenant_id)) {
            latest = xl_render_state(&st);
            json_decref(name);
            json_decref(run);
            json_decref(steps);
            json_decref(modified);
            name = xl_render_str(&st.flow_name);
            run = latest_run(&st);
            steps = render_steps(&st);
            steps_count = st.ntasks;
            modified = xl_compat_time(st.updated_ms);
        }
        xl_state_dispose(&st);
    }
    json_t *o = xl_render_flow(flow_id, flow_len, f->scope, sum, latest);
    json_object_set_new(o, "id", xl_http_text(flow_id, flow_len));
    json_object_set_new(o, "name", name);
    json_object_set_new(o, "latest_run", run);
    json_object_set_new(o, "steps_count", json_integer((json_int_t)steps_count));
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "modification_date", modified);
    json_array_append_new(f->items, o);
    f->last_len = flow_len < sizeof(f->last) ? flow_len : sizeof(f->last);
    memcpy(f->last, flow_id, f->last_len);
    return 0;
}

void xl_flows_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who)
{
    h2o_iovec_t v, want = {NULL, 0};
    int64_t limit;
    xl_str_t tbuf;
    int other;
    char after[MAX_FLOW_ID];
    size_t after_len = 0;
    int has_after = 0;

    if (xl_query_int_paramOrReply(req, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit) != 0)
        return;
    if (xl_http_query_param(req, "page_token", &v)) {
        int ok = v.len % 2 == 0 && v.len / 2 <= sizeof(after) && v.len > 0;
        for (size_t i = 0; ok && i < v.len; i += 2) {
            int hi = xl_http_hexval(v.base[i]), lo = xl_http_hexval(v.base[i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok)
                after[i / 2] = (char)(hi << 4 | lo);
        }
        if (!ok) {
            xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                 "page_token is the next_page_token of a previous page");
            return;
        }
        after_len = v.len / 2;
        has_after = 1;
    }
    xl_http_query_param(req, "tenant_id", &want);
    flows_t f = {.api = api, .who = who, .items = json_array(), .limit = (size_t)limit};
    f.scope = xl_compat_scope(who, want, &tbuf, &other);
    if (!other) {
        int ret = xl_store_scan_flows(api->store, f.scope, has_after ? after : NULL, after_len, on_flow, &f);
        if (ret < 0) {
            json_decref(f.items);
            xl_http_send_problem(req, 500, "internal", "Cannot read the flow aggregates", NULL, "see the log");
            return;
        }
    }
    json_t *next = json_null();
    if (f.more) {
        char *hex = h2o_mem_alloc_pool(&req->pool, f.last_len * 2 + 1);
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < f.last_len; ++i) {
            hex[2 * i] = digits[(unsigned char)f.last[i] >> 4];
            hex[2 * i + 1] = digits[(unsigned char)f.last[i] & 15];
        }
        hex[f.last_len * 2] = '\0';
        next = json_string(hex);
    }
    xl_http_send_json_obj(req, 200, json_pack("{s:o, s:o}", "items", f.items, "next_page_token", next));
}
