/*
 * Civis-shaped workflow executions (see compat_civis.h). Reads render the
 * projected state; writes are the native writes through
 * xl_ingest_handle_as (create, cancel, a resumed event, a retry), answered
 * with the execution in Civis's shape. Errors are problem+json that also
 * carry Civis's {"error","errorDescription","code"}.
 */
#include "api/compat_civis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/compat.h"
#include "ingest/http.h"
#include "api/query.h"
#include "api/render.h"
#include "ingest/validate.h"
#include "projector/apply.h"
#include "schemas/base/clock.h"

#define DEFAULT_LIMIT 20
#define MAX_LIMIT 50

/* Our status as Civis's state and mistral_state of an execution. */
static const struct {
    const char *state, *mistral;
} states[XL_STATUS__COUNT] = {
    [XL_STATUS_QUEUED] = {"queued", "running"},        [XL_STATUS_RUNNING] = {"running", "running"},
    [XL_STATUS_PAUSED] = {"paused", "paused"},         [XL_STATUS_CANCELLING] = {"running", "running"},
    [XL_STATUS_SUCCEEDED] = {"succeeded", "success"},  [XL_STATUS_WARNING] = {"succeeded", "success"},
    [XL_STATUS_FAILED] = {"failed", "error"},          [XL_STATUS_CANCELLED] = {"cancelled", "cancelled"},
    [XL_STATUS_WAITING] = {"queued", "running"},       [XL_STATUS_SKIPPED] = {"cancelled", "cancelled"},
};

/* A task's status as Civis's task mistral_state and run state. */
static const struct {
    const char *mistral, *run;
} task_states[XL_STATUS__COUNT] = {
    [XL_STATUS_QUEUED] = {"waiting", "queued"},        [XL_STATUS_RUNNING] = {"running", "running"},
    [XL_STATUS_PAUSED] = {"waiting", "running"},       [XL_STATUS_CANCELLING] = {"running", "running"},
    [XL_STATUS_SUCCEEDED] = {"success", "succeeded"},  [XL_STATUS_WARNING] = {"success", "succeeded"},
    [XL_STATUS_FAILED] = {"error", "failed"},          [XL_STATUS_CANCELLED] = {"cancelled", "cancelled"},
    [XL_STATUS_WAITING] = {"waiting", "queued"},       [XL_STATUS_SKIPPED] = {"idle", "cancelled"},
};

static int status_of(int s)
{
    return s >= 0 && s < XL_STATUS__COUNT ? s : XL_STATUS_FAILED;
}

/* A problem+json with Civis' {"error","errorDescription","code"}; detail as printf. */
__attribute__((format(printf, 5, 6))) static void civis_error(h2o_req_t *req, int status, const char *slug,
                                                             const char *error, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    xl_compat_problem(req, status, slug, "Civis request refused",
                      json_pack("{s:s, s:i}", "error", error, "code", status), "errorDescription", "%s", detail);
}

static json_t *json_attribute(const xl_state_t *st, const char *key, int (*is)(const json_t *), json_t *def)
{
    xl_str_t v = xl_compat_attribute(st, key);
    json_t *j = v.base != NULL ? json_loadb(v.base, v.len, JSON_DECODE_ANY, NULL) : NULL;
    if (j == NULL || !is(j)) {
        json_decref(j);
        return def;
    }
    json_decref(def);
    return j;
}

static int is_object(const json_t *j)
{
    return json_is_object(j);
}
static int is_array(const json_t *j)
{
    return json_is_array(j);
}

static json_t *render_user(const xl_state_t *st)
{
    return json_pack("{s:n, s:o, s:o, s:n, s:n}", "id", "name", xl_render_str(&st->started_by), "username",
                     xl_render_str(&st->started_by), "initials", "online");
}

/* The task's runs (one per attempt), newest first. */
static json_t *render_runs(const xl_state_t *st, const xl_task_t *t)
{
    json_t *runs = json_array();
    for (size_t i = t->nruns; i > 0; --i) {
        const xl_task_run_t *r = &t->runs[i - 1];
        json_array_append_new(
            runs, json_pack("{s:I, s:n, s:s, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t)r->attempt, "job_id",
                            "my_permission_level", "read", "state", task_states[status_of(r->status)].run,
                            "created_at", xl_compat_time(r->started_ms), "started_at", xl_compat_time(r->started_ms),
                            "finished_at", xl_compat_time(r->ended_ms), "error",
                            r->error.present ? xl_render_str(&r->error.message) : json_null()));
    }
    if (t->nruns > 0)
        return runs;
    /* a state of schema version 1 has no runs: one per attempt, the latest with its times */
    int s = status_of(t->status);
    for (uint32_t n = t->attempts; n >= 1; --n) {
        int latest = n == t->attempts;
        json_array_append_new(
            runs, json_pack("{s:I, s:n, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)n, "job_id",
                            "my_permission_level", "read", "state", latest ? task_states[s].run : "failed",
                            "created_at", latest ? xl_compat_time(t->started_ms) : json_null(), "started_at",
                            latest ? xl_compat_time(t->started_ms) : json_null(), "finished_at",
                            latest ? xl_compat_time(t->ended_ms) : json_null()));
    }
    return runs;
}

static json_t *render_task(const xl_state_t *st, const xl_task_t *t)
{
    int s = status_of(t->status);
    return json_pack("{s:o, s:s, s:o, s:o, s:[]}", "name", xl_render_str(&t->name), "mistral_state",
                     task_states[s].mistral, "mistral_state_info", xl_render_str(&t->message), "runs",
                     render_runs(st, t), "executions");
}

static json_t *render_summary(const xl_state_t *st)
{
    int s = status_of(st->status);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(st->audit_id));
    json_object_set_new(o, "state", json_string(states[s].state));
    json_object_set_new(o, "mistral_state", json_string(states[s].mistral));
    json_object_set_new(o, "mistral_state_info", xl_render_str(&st->message));
    json_object_set_new(o, "user", render_user(st));
    json_object_set_new(o, "started_at", xl_compat_time(st->started_ms));
    json_object_set_new(o, "finished_at", xl_compat_time(st->ended_ms));
    json_object_set_new(o, "created_at", xl_compat_time(st->created_ms));
    json_object_set_new(o, "updated_at", xl_compat_time(st->updated_ms ? st->updated_ms : st->created_ms));
    return o;
}

static json_t *render_execution(const xl_state_t *st)
{
    json_t *o = render_summary(st), *tasks = json_array();
    for (size_t i = 0; i < st->ntasks; ++i)
        json_array_append_new(tasks, render_task(st, &st->tasks[i]));
    json_object_set_new(o, "definition", json_null());
    json_object_set_new(o, "input", json_attribute(st, "input", is_object, json_object()));
    json_object_set_new(o, "included_tasks", json_attribute(st, "included_tasks", is_array, json_array()));
    json_object_set_new(o, "tasks", tasks);
    return o;
}

static int str_eq(const xl_str_t *s, h2o_iovec_t v)
{
    return s->base != NULL && h2o_memis(s->base, s->len, v.base, v.len);
}

/* Load an execution of workflow the caller may see; answers 404 itself. @return 0 or -1. */
static int load_stateOrReply(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow,
                             int64_t audit_id, xl_state_t *st)
{
    char err[256], id[24];
    int ret = xl_store_get_state(api->store, api->codec, audit_id, st, err, sizeof(err));
    if (ret != 0 && ret != -ENOENT) {
        civis_error(req, 500, "internal", "internal_server_error", "cannot read the execution: %s", err);
        return -1;
    }
    if (ret == 0 && (!xl_principal_sees(who, &st->tenant_id) || !str_eq(&st->flow_id, workflow))) {
        xl_state_dispose(st);
        ret = -ENOENT;
    }
    if (ret == -ENOENT) {
        snprintf(id, sizeof(id), "%" PRId64, audit_id);
        civis_error(req, 404, "not-found", "not_found", "The requested resource could not be found: execution %s",
                    id);
        return -1;
    }
    return 0;
}

void xl_civis_get(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow, int64_t audit_id)
{
    xl_state_t st;
    if (load_stateOrReply(api, req, who, workflow, audit_id, &st) != 0)
        return;
    xl_http_send_json_obj(req, 200, render_execution(&st));
    xl_state_dispose(&st);
}

void xl_civis_task(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow, int64_t audit_id,
                   h2o_iovec_t task)
{
    xl_state_t st;
    if (load_stateOrReply(api, req, who, workflow, audit_id, &st) != 0)
        return;
    for (size_t i = 0; i < st.ntasks; ++i)
        if (str_eq(&st.tasks[i].name, task)) {
            xl_http_send_json_obj(req, 200, render_task(&st, &st.tasks[i]));
            xl_state_dispose(&st);
            return;
        }
    xl_state_dispose(&st);
    char name[80];
    snprintf(name, sizeof(name), "%.*s", (int)(task.len < 70 ? task.len : 70), task.base);
    civis_error(req, 404, "not-found", "not_found", "The requested resource could not be found: task %s", name);
}

/* ---- list ---------------------------------------------------------------------------------- */

typedef struct st_row_t {
    int64_t key, audit_id;
} row_t;

typedef struct st_rows_t {
    row_t *rows;
    size_t n, cap;
    int order; /* 0 id, 1 created_at, 2 updated_at */
    int failed;
} rows_t;

static int rows_keep(void *ctx, const xl_state_t *st)
{
    rows_t *r = ctx;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        row_t *grown = realloc(r->rows, cap * sizeof(*grown));
        if (grown == NULL) {
            r->failed = 1;
            return 0;
        }
        r->rows = grown;
        r->cap = cap;
    }
    int64_t key = r->order == 0 ? st->audit_id : r->order == 1 ? st->created_ms : st->updated_ms;
    r->rows[r->n++] = (row_t){key, st->audit_id};
    return 0; /* nothing is rendered during the walk: the page is cut once sorted */
}

static json_t *no_render(void *ctx, const xl_state_t *st)
{
    return json_null();
}

static int row_cmp(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->audit_id < y->audit_id ? -1 : x->audit_id > y->audit_id;
}

void xl_civis_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow)
{
    static const char *const orders[] = {"id", "created_at", "updated_at"};
    h2o_iovec_t v;
    int64_t limit, page;
    rows_t rows = {0};
    int desc = 1;
    char tmp[24];

    if (xl_query_int_paramOrReply(req, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit) != 0 ||
        xl_query_int_paramOrReply(req, "page_num", 1, INT32_MAX, 1, &page) != 0)
        return;
    if (xl_http_query_param(req, "order", &v)) {
        int i = 0;
        while (i < 3 && !h2o_memis(v.base, v.len, orders[i], strlen(orders[i])))
            ++i;
        if (i == 3) {
            civis_error(req, 400, "invalid-parameter", "invalid", "order must be one of id, updated_at, created_at");
            return;
        }
        rows.order = i;
    }
    if (xl_http_query_param(req, "order_dir", &v)) {
        if (h2o_memis(v.base, v.len, H2O_STRLIT("asc")))
            desc = 0;
        else if (!h2o_memis(v.base, v.len, H2O_STRLIT("desc"))) {
            civis_error(req, 400, "invalid-parameter", "invalid", "order_dir must be asc or desc");
            return;
        }
    }
    xl_str_t flow = {workflow.base, workflow.len};
    xl_compat_page_t pg = {.ix = XL_IX_FLOW, .str = &flow, .keep = rows_keep, .render = no_render, .ctx = &rows};
    if (who->tenant.base != NULL)
        pg.tenant = &who->tenant;
    if (xl_compat_page(api, who, &pg) != 0 || rows.failed) {
        free(rows.rows);
        json_decref(pg.items);
        civis_error(req, 500, "internal", "internal_server_error", "cannot read the executions");
        return;
    }
    json_decref(pg.items);
    if (rows.n > 0)
        qsort(rows.rows, rows.n, sizeof(*rows.rows), row_cmp);
    json_t *items = json_array();
    uint64_t from = (uint64_t)(page - 1) * (uint64_t)limit;
    for (uint64_t i = from; i < rows.n && i < from + (uint64_t)limit; ++i) {
        xl_state_t st;
        char err[256];
        const row_t *r = &rows.rows[desc ? rows.n - 1 - i : i];
        if (xl_store_get_state(api->store, api->codec, r->audit_id, &st, err, sizeof(err)) != 0)
            continue;
        json_array_append_new(items, render_summary(&st));
        xl_state_dispose(&st);
    }
    /* the headers Civis's client pages with */
    snprintf(tmp, sizeof(tmp), "%zu", rows.n);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-pagination-total-entries"), 0, NULL,
                          h2o_strdup(&req->pool, tmp, SIZE_MAX).base, strlen(tmp));
    snprintf(tmp, sizeof(tmp), "%" PRId64, page);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-pagination-current-page"), 0, NULL,
                          h2o_strdup(&req->pool, tmp, SIZE_MAX).base, strlen(tmp));
    snprintf(tmp, sizeof(tmp), "%" PRId64, limit);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-pagination-per-page"), 0, NULL,
                          h2o_strdup(&req->pool, tmp, SIZE_MAX).base, strlen(tmp));
    snprintf(tmp, sizeof(tmp), "%zu", (rows.n + (size_t)limit - 1) / (size_t)limit);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-pagination-total-pages"), 0, NULL,
                          h2o_strdup(&req->pool, tmp, SIZE_MAX).base, strlen(tmp));
    free(rows.rows);
    xl_http_send_json_obj(req, 200, items);
}

/* ---- writes ----------------------------------------------------------------------------------- */

typedef struct st_answer_t {
    xl_api_t *api;
    json_t *execution; /* the execution as it will be; NULL: built from the acknowledgement */
    const char *state, *mistral;
    int code;
} answer_t;

static void on_answer_dispose(void *p)
{
    json_decref(((answer_t *)p)->execution);
}

static json_t *reshape(void *ctx, h2o_req_t *req, int *status, json_t *ack)
{
    answer_t *a = ctx;
    json_t *o = a->execution;
    xl_state_t st;
    a->execution = NULL;
    *status = a->code;
    if (xl_compat_acked_state(a->api, ack, &st) == 0) { /* the execution as it is now */
        json_decref(o);
        json_decref(ack);
        o = render_execution(&st);
        xl_state_dispose(&st);
        return o;
    }
    json_t *aid = json_object_get(ack, "audit_id");
    if (json_is_integer(aid)) /* a start or a retry: a new execution */
        json_object_set_new(o, "id", json_integer(json_integer_value(aid)));
    json_object_set_new(o, "state", json_string(a->state));
    json_object_set_new(o, "mistral_state", json_string(a->mistral));
    json_decref(ack);
    return o;
}

static answer_t *answer_new(xl_api_t *api, h2o_req_t *req, json_t *execution, int code, int status)
{
    answer_t *a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), on_answer_dispose);
    a->api = api;
    a->execution = execution;
    a->code = code;
    a->state = states[status_of(status)].state;
    a->mistral = states[status_of(status)].mistral;
    return a;
}

void xl_civis_start(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow)
{
    if (api->ingest == NULL) {
        civis_error(req, 405, "read-only", "method_not_allowed", "this execlogd runs without the ingest role");
        return;
    }
    json_t *body = xl_compat_body_objectOrReply(req, json_pack("{s:s, s:i}", "error", "invalid", "code", 400), "errorDescription");
    if (body == NULL)
        return;
    json_t *input = json_object_get(body, "input"), *included = json_object_get(body, "included_tasks"),
           *target = json_object_get(body, "target_task");
    int ok = (input == NULL || json_is_object(input) || json_is_null(input)) &&
             (target == NULL || json_is_string(target) || json_is_null(target)) &&
             (included == NULL || json_is_null(included) || json_is_array(included));
    for (size_t i = 0; ok && json_is_array(included) && i < json_array_size(included); ++i)
        ok = json_is_string(json_array_get(included, i));
    if (!ok) {
        json_decref(body);
        civis_error(req, 400, "invalid-body", "invalid",
                    "input is an object, target_task a string, included_tasks a list of strings");
        return;
    }
    json_t *attrs = json_object(), *create = json_object();
    if (json_is_object(input)) {
        char *t = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
        json_object_set_new(attrs, "input", json_string(t != NULL ? t : "{}"));
        free(t);
    }
    if (json_is_array(included)) {
        char *t = json_dumps(included, JSON_COMPACT);
        json_object_set_new(attrs, "included_tasks", json_string(t != NULL ? t : "[]"));
        free(t);
    }
    if (json_is_string(target))
        json_object_set(attrs, "target_task", target);
    json_object_set_new(create, "flow_id", xl_http_text(workflow.base, workflow.len));
    json_object_set_new(create, "trigger_type", json_string("civis"));
    int64_t now = xl_now_ms();
    json_object_set_new(create, "time", json_integer(now));
    json_object_set_new(create, "attributes", attrs);

    xl_state_t st = {0};
    st.status = XL_STATUS_QUEUED;
    st.created_ms = now;
    json_t *execution = render_execution(&st);
    json_object_set_new(execution, "input", json_is_object(input) ? json_incref(input) : json_object());
    if (json_is_array(included))
        json_object_set(execution, "included_tasks", included);
    answer_t *a = answer_new(api, req, execution, 201, XL_STATUS_QUEUED);
    h2o_iovec_t text = xl_compat_dump(req, create);
    json_decref(create);
    json_decref(body);
    xl_ingest_handle_as(api->ingest, req, XL_WRITE_CREATE, 0, 0, xl_principal_scope(who), text, reshape, a);
}

/* Civis's verbs as our control requests (POST /v1/executions/{id}/<control>); the status each leads to is the
 * state machine's (xl_apply_requested_status). */
static const struct {
    const char *action;
    int control;
} controls[] = {
    {"cancel", XL_EVENT_CANCEL_REQUESTED},
    {"resume", XL_EVENT_RESUME_REQUESTED},
    {"retry", XL_EVENT_RETRY_REQUESTED}, /* the failed tasks, or task_name only */
};

void xl_civis_control(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow,
                      int64_t audit_id, const char *action)
{
    xl_state_t st;
    size_t i = 0;
    while (i < sizeof(controls) / sizeof(controls[0]) && strcmp(controls[i].action, action) != 0)
        ++i;
    if (api->ingest == NULL || i == sizeof(controls) / sizeof(controls[0])) {
        civis_error(req, 405, "read-only", "method_not_allowed", "this execlogd does not take %s here", action);
        return;
    }
    json_t *body = xl_compat_body_objectOrReply(req, json_pack("{s:s, s:i}", "error", "invalid", "code", 400),
                                                "errorDescription");
    if (body == NULL)
        return;
    json_t *task = json_object_get(body, "task_name"), *request = json_object();
    if (task != NULL && !json_is_null(task) && (controls[i].control != XL_EVENT_RETRY_REQUESTED || !json_is_string(task))) {
        json_decref(body);
        json_decref(request);
        civis_error(req, 400, "invalid-body", "invalid", "task_name is a string, taken by retry only");
        return;
    }
    if (json_is_string(task))
        json_object_set(request, "task", task);
    json_decref(body);
    if (load_stateOrReply(api, req, who, workflow, audit_id, &st) != 0) {
        json_decref(request);
        return;
    }
    answer_t *a = answer_new(api, req, render_execution(&st), 200, xl_apply_requested_status(controls[i].control));
    xl_state_dispose(&st);
    h2o_iovec_t text = xl_compat_dump(req, request);
    json_decref(request);
    xl_ingest_handle_as(api->ingest, req, XL_WRITE_CANCEL, controls[i].control, audit_id, xl_principal_scope(who), text,
                        reshape, a);
}
