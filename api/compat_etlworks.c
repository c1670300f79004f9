/*
 * ETLWorks-shaped flow status (see compat_etlworks.h): the projected state
 * rendered with ETLWorks' names and types. Which execution answers is found
 * through the same indexes and per-flow aggregates as /v1.
 */
#include "api/compat_etlworks.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "api/compat.h"
#include "ingest/http.h"
#include "api/render.h"

static json_t *etl_opt_int(int64_t v)
{
    return v != 0 ? json_integer(v) : json_null();
}

/* Never negative: an end dated before the start counts as 0. */
static int64_t span_ms(int64_t from, int64_t to)
{
    return to > from ? to - from : 0;
}

/* ETLWorks knows four outcomes; a live execution is "running" whatever its sub-status. */
static const char *const etlworks_status[XL_STATUS__COUNT] = {
    [XL_STATUS_QUEUED] = "running",     [XL_STATUS_RUNNING] = "running",   [XL_STATUS_PAUSED] = "running",
    [XL_STATUS_CANCELLING] = "running", [XL_STATUS_SUCCEEDED] = "success", [XL_STATUS_WARNING] = "warning",
    [XL_STATUS_FAILED] = "error",       [XL_STATUS_CANCELLED] = "error",     [XL_STATUS_WAITING] = "running",
    [XL_STATUS_SKIPPED] = "error",
};

/*
 * ETLWorks IDs are numbers: a decimal ID up to 2^53-1 is rendered as one
 * (JSON clients keep it exact); a larger one, or anything else, as a string.
 */
static json_t *etlworks_id(const xl_str_t *id)
{
    if (id->base == NULL)
        return json_null();
    int64_t v = 0;
    size_t i = 0;
    for (; i < id->len && i < 16; ++i) {
        char c = id->base[i];
        if (c < '0' || c > '9' || (i == 0 && c == '0' && id->len > 1))
            break;
        v = v * 10 + (c - '0');
    }
    if (id->len > 0 && i == id->len && v <= XL_AUDIT_ID_MAX)
        return json_integer(v);
    return xl_http_text(id->base, id->len);
}

/* An attribute's value, or a null string (absent). */
static xl_str_t attribute(const xl_state_t *st, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < st->nattributes; ++i)
        if (st->attributes[i].key.base != NULL && st->attributes[i].key.len == klen &&
            memcmp(st->attributes[i].key.base, key, klen) == 0)
            return st->attributes[i].value;
    return (xl_str_t){NULL, 0};
}

/* A decimal attribute as an integer; null when absent or not a number. */
static json_t *attribute_int(const xl_state_t *st, const char *key)
{
    xl_str_t v = attribute(st, key);
    json_t *j = v.base != NULL ? etlworks_id(&v) : json_null();
    if (!json_is_integer(j)) {
        json_decref(j);
        return json_null();
    }
    return j;
}

static json_t *etlworks_exception(const xl_state_t *st)
{
    /* only an execution that ended in error has one: a failed task attempt
     * that a later attempt made good is no exception of the run */
    if (st->status != XL_STATUS_FAILED && st->status != XL_STATUS_CANCELLED)
        return json_null();
    if (!st->error.present)
        return st->status == XL_STATUS_CANCELLED ? json_string("cancelled") : json_null();
    xl_buf_t b;
    xl_buf_init(&b);
    xl_buf_appendf(&b, "%.*s: %.*s", (int)st->error.class_.len, st->error.class_.base ? st->error.class_.base : "",
                   (int)st->error.message.len, st->error.message.base ? st->error.message.base : "");
    if (st->error.stack.base != NULL && st->error.stack.len > 0)
        xl_buf_appendf(&b, "\n%.*s", (int)st->error.stack.len, st->error.stack.base);
    json_t *exception = xl_http_text(b.base ? b.base : "", b.len);
    xl_buf_dispose(&b);
    return exception;
}

/* ETLWorks metrics are a list: [{"name","value"}] in the state's order; null when there are none. */
static json_t *etlworks_metrics(const xl_state_t *st)
{
    if (st->nmetrics == 0)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; i < st->nmetrics; ++i)
        if (st->metrics[i].name.base != NULL)
            json_array_append_new(a, json_pack("{s:o, s:I}", "name", xl_render_str(&st->metrics[i].name), "value",
                                               (json_int_t)st->metrics[i].value));
    return a;
}

/* File metrics: [{"fileName", and each counter}] from the state, else the attribute file_metrics (a JSON
 * list, as executors of schema version 1 sent them); null when there are none. */
static json_t *etlworks_file_metrics(const xl_state_t *st)
{
    if (st->nfile_metrics > 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < st->nfile_metrics; ++i) {
            const xl_file_metric_t *f = &st->file_metrics[i];
            json_t *o = json_object();
            json_object_set_new(o, "fileName", xl_render_str(&f->name));
            for (size_t m = 0; m < f->nmetrics; ++m)
                if (f->metrics[m].name.base != NULL)
                    json_object_setn_new(o, f->metrics[m].name.base, f->metrics[m].name.len,
                                         json_integer(f->metrics[m].value));
            json_array_append_new(a, o);
        }
        return a;
    }
    xl_str_t v = attribute(st, "file_metrics");
    json_t *j = v.base != NULL ? json_loadb(v.base, v.len, 0, NULL) : NULL;
    if (j == NULL || !json_is_array(j)) {
        json_decref(j);
        return json_null();
    }
    return j;
}

json_t *xl_render_etlworks(const xl_state_t *st)
{
    char text[128];
    json_t *o = json_object();
    int status = st->status >= 0 && st->status < XL_STATUS__COUNT ? st->status : XL_STATUS_FAILED;
    int64_t started = st->started_ms ? st->started_ms : st->created_ms;
    int ended = st->ended_ms != 0;
    /* the state's own fields; before schema version 2 executors sent them as attributes */
    xl_str_t event_name = st->schedule_event_name.base != NULL ? st->schedule_event_name
                                                               : attribute(st, "schedule_event_name");
    xl_str_t code = st->code.base != NULL ? st->code : attribute(st, "code");
    /* the 23 keys of the ETLWorks document, in its order */
    json_object_set_new(o, "auditId", json_integer(st->audit_id));
    json_object_set_new(o, "parentAuditId", etl_opt_int(st->parent_audit_id));
    json_object_set_new(o, "retries", json_integer(st->retries));
    json_object_set_new(o, "flowId", etlworks_id(&st->flow_id));
    json_object_set_new(o, "flowName", xl_render_str(&st->flow_name));
    json_object_set_new(o, "eventId", st->schedule_event_id ? json_integer(st->schedule_event_id)
                                                            : attribute_int(st, "schedule_event_id"));
    json_object_set_new(o, "eventName", xl_render_str(&event_name));
    json_object_set_new(o, "messageId", xl_render_str(&st->message_id));
    json_object_set_new(o, "tenantId", etlworks_id(&st->tenant_id));
    json_object_set_new(o, "status", json_string(etlworks_status[status]));
    json_object_set_new(o, "triggerType", xl_render_str(&st->trigger_type));
    json_object_set_new(o, "startedBy", xl_render_str(&st->started_by));
    json_object_set_new(o, "started", etl_opt_int(started));
    json_object_set_new(o, "ended", etl_opt_int(st->ended_ms));
    json_object_set_new(o, "duration",
                        ended && started
                            ? json_string(xl_render_duration_text(span_ms(started, st->ended_ms), text, sizeof(text)))
                            : json_null());
    json_object_set_new(o, "code", ended ? xl_render_str(&code) : json_null());
    json_object_set_new(o, "exception", etlworks_exception(st));
    json_t *warnings = json_null();
    if (st->nwarnings > 0) {
        xl_buf_t b;
        xl_buf_init(&b);
        for (size_t i = 0; i < st->nwarnings; ++i)
            xl_buf_appendf(&b, "%s%.*s", i ? "\n" : "", (int)st->warnings[i].len,
                           st->warnings[i].base ? st->warnings[i].base : "");
        warnings = xl_http_text(b.base ? b.base : "", b.len);
        xl_buf_dispose(&b);
    }
    json_object_set_new(o, "warnings", warnings);
    json_object_set_new(o, "metrics", etlworks_metrics(st));
    json_object_set_new(o, "fileMetrics", etlworks_file_metrics(st));
    json_object_set_new(o, "errorLocationInSql", !ended                ? json_null()
                                                 : st->error_location ? json_integer(st->error_location)
                                                                      : attribute_int(st, "error_location"));
    json_object_set_new(o, "fileName", json_null()); /* "currently not used" */
    json_object_set_new(o, "records", json_null());  /* "currently not used" */
    return o;
}

/* ---- GET /rest/v1/executions/{flow_id} ------------------------------------------------- */

static int same_flow(void *ctx, const xl_state_t *st)
{
    const xl_str_t *flow = ctx;
    return st->flow_id.base != NULL && st->flow_id.len == flow->len &&
           (flow->len == 0 || memcmp(st->flow_id.base, flow->base, flow->len) == 0);
}

static json_t *audit_id_of(void *ctx, const xl_state_t *st)
{
    return json_integer(st->audit_id);
}

void xl_read_etlworks(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t flow_id)
{
    xl_str_t flow = {flow_id.base, flow_id.len}, tbuf;
    h2o_iovec_t v, tenant = {NULL, 0};
    int64_t audit_id = 0;
    int other;
    xl_state_t st;
    char err[256];

    xl_http_query_param(req, "tenant_id", &tenant);
    const xl_str_t *scope = xl_compat_scope(who, tenant, &tbuf, &other);
    /* an empty auditId or messageId is absent, as in ETLWorks ("if the value ... is not empty") */
    if (xl_http_query_param(req, "auditId", &v) && v.len > 0) {
        if (xl_http_parse_id(v.base, v.len, XL_AUDIT_ID_MAX, &audit_id) != 0) {
            xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                 "auditId must be a positive integer up to 2^53-1");
            return;
        }
    } else if (xl_http_query_param(req, "messageId", &v) && v.len > 0) {
        xl_str_t msg = {v.base, v.len};
        xl_compat_page_t page = {.ix = XL_IX_MESSAGE,
                                 .tenant = scope,
                                 .str = &msg,
                                 .descending = 1,
                                 .size = 1,
                                 .keep = same_flow,
                                 .render = audit_id_of,
                                 .ctx = &flow};
        if (!other && xl_compat_page(api, who, &page) != 0) {
            xl_http_send_problem(req, 500, "internal", "Cannot read the message index", NULL, "see the log");
            return;
        }
        if (!other && json_array_size(page.items) > 0)
            audit_id = json_integer_value(json_array_get(page.items, 0));
        json_decref(page.items);
    } else {
        xl_flow_summary_t sum;
        if (!other && xl_store_get_flow_summary(api->store, scope, flow_id.base, flow_id.len, &sum) == 0)
            audit_id = sum.latest_audit_id;
    }
    int ret = audit_id != 0 ? xl_store_get_state(api->store, api->codec, audit_id, &st, err, sizeof(err)) : -ENOENT;
    if (ret != 0 && ret != -ENOENT) {
        xl_http_send_problem(req, 500, "internal", "Cannot read the execution", NULL, "%s", err);
        return;
    }
    if (ret == 0 && (!xl_principal_sees(who, &st.tenant_id) || !same_flow(&flow, &st))) {
        xl_state_dispose(&st);
        ret = -ENOENT;
    }
    if (ret == -ENOENT) {
        xl_http_send_problem(req, 404, "not-found", "Flow execution not found", NULL, "no such execution of flow %.*s",
                             (int)flow_id.len, flow_id.base);
        return;
    }
    xl_http_send_json_obj(req, 200, xl_render_etlworks(&st));
    xl_state_dispose(&st);
}
