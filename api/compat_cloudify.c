/*
 * Cloudify-shaped executions (see compat_cloudify.h). Reads render the
 * projected state as Cloudify's Execution resource; writes become the
 * native writes (create, cancel, an event) through xl_ingest_handle_as, so
 * they are validated, acknowledged and idempotent exactly like /v1, and the
 * answer is reshaped into an Execution. Errors are problem+json that also
 * carry Cloudify's {"message","error_code"}, which its client raises as
 * CloudifyClientError.
 */
#include "api/compat_cloudify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <inttypes.h>
#include <string.h>

#include "api/compat.h"
#include "ingest/http.h"
#include "api/query.h"
#include "api/render.h"
#include "ingest/validate.h"
#include "projector/apply.h"
#include "schemas/base/clock.h"

#define DEFAULT_SIZE 1000
#define MAX_SIZE 1000

/* Our status as Cloudify's status and status_display. */
static const struct {
    const char *status, *display;
} statuses[XL_STATUS__COUNT] = {
    [XL_STATUS_QUEUED] = {"pending", "pending"},         [XL_STATUS_RUNNING] = {"started", "running"},
    [XL_STATUS_PAUSED] = {"started", "running"},         [XL_STATUS_CANCELLING] = {"cancelling", "cancelling"},
    [XL_STATUS_SUCCEEDED] = {"terminated", "completed"}, [XL_STATUS_WARNING] = {"terminated", "completed"},
    [XL_STATUS_FAILED] = {"failed", "failed"},           [XL_STATUS_CANCELLED] = {"cancelled", "cancelled"},
    [XL_STATUS_WAITING] = {"pending", "pending"},         [XL_STATUS_SKIPPED] = {"cancelled", "cancelled"},
};

/* The fields of an Execution (what _include may name). */
static const char *const fields[] = {"id", "workflow_id", "blueprint_id", "deployment_id", "status", "status_display",
                                     "error", "created_at", "started_at", "ended_at", "created_by", "tenant_name",
                                     "parameters", "is_system_workflow", "visibility", "resource_availability"};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* A problem+json with Cloudify's {"message","error_code"}; detail as printf. */
__attribute__((format(printf, 5, 6))) static void cfy_error(h2o_req_t *req, int status, const char *slug,
                                                           const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    xl_compat_problem(req, status, slug, "Cloudify request refused", json_pack("{s:s}", "error_code", code), "message",
                      "%s", detail);
}

static json_t *error_text(const xl_error_t *e)
{
    if (!e->present)
        return json_string("");
    xl_buf_t b;
    xl_buf_init(&b);
    xl_buf_appendf(&b, "%.*s", (int)e->message.len, e->message.base ? e->message.base : "");
    if (e->stack.base != NULL && e->stack.len > 0)
        xl_buf_appendf(&b, "\n%.*s", (int)e->stack.len, e->stack.base);
    json_t *t = xl_http_text(b.base ? b.base : "", b.len);
    xl_buf_dispose(&b);
    return t;
}

static json_t *render_execution(const xl_state_t *st)
{
    char id[24];
    int s = st->status >= 0 && st->status < XL_STATUS__COUNT ? st->status : XL_STATUS_FAILED;
    xl_str_t blueprint = xl_compat_attribute(st, "blueprint_id"), params = xl_compat_attribute(st, "parameters");
    json_t *p = params.base != NULL ? json_loadb(params.base, params.len, 0, NULL) : NULL;
    if (p == NULL || !json_is_object(p)) {
        json_decref(p);
        p = json_object();
    }
    snprintf(id, sizeof(id), "%" PRId64, st->audit_id);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "workflow_id", xl_render_str(&st->flow_name));
    json_object_set_new(o, "blueprint_id", xl_render_str(&blueprint));
    json_object_set_new(o, "deployment_id", xl_render_str(&st->flow_id));
    json_object_set_new(o, "status", json_string(statuses[s].status));
    json_object_set_new(o, "status_display", json_string(statuses[s].display));
    json_object_set_new(o, "error", error_text(&st->error));
    json_object_set_new(o, "created_at", xl_compat_time(st->created_ms));
    json_object_set_new(o, "started_at", xl_compat_time(st->started_ms));
    json_object_set_new(o, "ended_at", xl_compat_time(st->ended_ms));
    json_object_set_new(o, "created_by", xl_render_str(&st->started_by));
    json_object_set_new(o, "tenant_name", xl_render_str(&st->tenant_id));
    json_object_set_new(o, "parameters", p);
    json_object_set_new(o, "is_system_workflow", json_false());
    json_object_set_new(o, "visibility", json_string("tenant"));
    json_object_set_new(o, "resource_availability", json_string("tenant"));
    return o;
}

/* ---- _include ------------------------------------------------------------------------ */

/* The fields ?_include= names (a bit each; all when absent). @return 0, or -1 (answered 400). */
static int parse_includeOrReply(h2o_req_t *req, uint32_t *mask)
{
    h2o_iovec_t v;
    *mask = (1u << NFIELDS) - 1;
    if (!xl_http_query_param(req, "_include", &v))
        return 0;
    *mask = 0;
    for (const char *s = v.base, *end = v.base + v.len; s <= end;) {
        const char *comma = memchr(s, ',', (size_t)(end - s)), *e = comma ? comma : end;
        size_t i = 0;
        while (i < NFIELDS && !h2o_memis(s, (size_t)(e - s), fields[i], strlen(fields[i])))
            ++i;
        if (i == NFIELDS) {
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(e - s < 60 ? e - s : 60), s);
            cfy_error(req, 400, "invalid-parameter", "no_such_include_field_error",
                      "_include names %s, which an Execution does not have", name);
            return -1;
        }
        *mask |= 1u << i;
        s = e + 1;
    }
    return 0;
}

static json_t *include(json_t *o, uint32_t mask)
{
    for (size_t i = 0; i < NFIELDS; ++i)
        if (!(mask & (1u << i)))
            json_object_del(o, fields[i]);
    return o;
}

static int tenant_header(h2o_req_t *req, h2o_iovec_t *v)
{
    *v = h2o_iovec_init(NULL, 0);
    return xl_http_header(req, "tenant", v);
}

/* Load an execution the caller (and the Tenant header) may see; answers 404 itself. @return 0 or -1. */
static int load_stateOrReply(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id,
                             xl_state_t *st)
{
    char err[256];
    h2o_iovec_t tenant;
    int ret = xl_store_get_state(api->store, api->codec, audit_id, st, err, sizeof(err));
    if (ret != 0 && ret != -ENOENT) {
        cfy_error(req, 500, "internal", "internal_server_error", "cannot read the execution: %s", err);
        return -1;
    }
    if (ret == 0 && (!xl_principal_sees(who, &st->tenant_id) ||
                     (tenant_header(req, &tenant) && tenant.len > 0 &&
                      !(st->tenant_id.base != NULL &&
                        h2o_memis(tenant.base, tenant.len, st->tenant_id.base, st->tenant_id.len))))) {
        xl_state_dispose(st);
        ret = -ENOENT;
    }
    if (ret == -ENOENT) {
        char id[24];
        snprintf(id, sizeof(id), "%" PRId64, audit_id);
        cfy_error(req, 404, "not-found", "not_found_error", "Requested `Execution` with ID `%s` was not found", id);
        return -1;
    }
    return 0;
}

/* ---- reads ------------------------------------------------------------------------------ */

void xl_cloudify_get(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id)
{
    xl_state_t st;
    uint32_t mask;
    if (parse_includeOrReply(req, &mask) != 0 || load_stateOrReply(api, req, who, audit_id, &st) != 0)
        return;
    xl_http_send_json_obj(req, 200, include(render_execution(&st), mask));
    xl_state_dispose(&st);
}

typedef struct st_list_t {
    h2o_iovec_t workflow, id, created_by;
    int status_any; /* no status filter */
    unsigned status_mask; /* bits of our statuses whose Cloudify status was asked for */
    uint32_t include;
} list_t;

static int str_eq(const xl_str_t *s, h2o_iovec_t v)
{
    return s->base != NULL && h2o_memis(s->base, s->len, v.base, v.len);
}

static int list_keep(void *ctx, const xl_state_t *st)
{
    list_t *l = ctx;
    char id[24];
    if (l->workflow.base != NULL && !str_eq(&st->flow_name, l->workflow))
        return 0;
    if (l->created_by.base != NULL && !str_eq(&st->started_by, l->created_by))
        return 0;
    if (l->id.base != NULL) {
        snprintf(id, sizeof(id), "%" PRId64, st->audit_id);
        if (!h2o_memis(l->id.base, l->id.len, id, strlen(id)))
            return 0;
    }
    return l->status_any || (st->status >= 0 && st->status < XL_STATUS__COUNT && (l->status_mask & (1u << st->status)));
}

static json_t *list_render(void *ctx, const xl_state_t *st)
{
    return include(render_execution(st), ((list_t *)ctx)->include);
}

void xl_cloudify_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who)
{
    list_t l = {.status_any = 1};
    h2o_iovec_t v, deployment = {NULL, 0}, tenant;
    int64_t offset, size;
    xl_str_t flow, tbuf;
    int other;
    size_t pos = 0;

    if (parse_includeOrReply(req, &l.include) != 0 ||
        xl_query_int_paramOrReply(req, "_offset", 0, INT32_MAX, 0, &offset) != 0 ||
        xl_query_int_paramOrReply(req, "_size", 0, MAX_SIZE, DEFAULT_SIZE, &size) != 0)
        return;
    int descending = 0;
    if (xl_http_query_param(req, "_sort", &v)) {
        if (h2o_memis(v.base, v.len, H2O_STRLIT("-created_at")))
            descending = 1;
        else if (!h2o_memis(v.base, v.len, H2O_STRLIT("created_at"))) {
            cfy_error(req, 400, "invalid-parameter", "bad_parameters_error",
                      "_sort takes created_at or -created_at");
            return;
        }
    }
    while (xl_http_query_next(req, "status", &pos, &v)) {
        int any = 0;
        for (int s = 0; s < XL_STATUS__COUNT; ++s)
            if (h2o_memis(v.base, v.len, statuses[s].status, strlen(statuses[s].status))) {
                l.status_mask |= 1u << s;
                any = 1;
            }
        l.status_any = 0;
        if (!any && !h2o_memis(v.base, v.len, H2O_STRLIT("queued")) &&
            !h2o_memis(v.base, v.len, H2O_STRLIT("scheduled")) &&
            !h2o_memis(v.base, v.len, H2O_STRLIT("force_cancelling")) &&
            !h2o_memis(v.base, v.len, H2O_STRLIT("kill_cancelling"))) {
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(v.len < 60 ? v.len : 60), v.base);
            cfy_error(req, 400, "invalid-parameter", "bad_parameters_error", "status %s is not a Cloudify status",
                      name);
            return;
        }
    }
    if (xl_http_query_param(req, "workflow_id", &v))
        l.workflow = v;
    if (xl_http_query_param(req, "id", &v))
        l.id = v;
    if (xl_http_query_param(req, "created_by", &v))
        l.created_by = v;
    xl_http_query_param(req, "deployment_id", &deployment);
    tenant_header(req, &tenant);

    xl_compat_page_t page = {.ix = XL_IX_ALL,
                             .descending = descending,
                             .offset = (uint64_t)offset,
                             .size = (uint64_t)size,
                             .keep = list_keep,
                             .render = list_render,
                             .ctx = &l};
    page.tenant = xl_compat_scope(who, tenant, &tbuf, &other);
    if (deployment.base != NULL) {
        flow = (xl_str_t){deployment.base, deployment.len};
        page.ix = XL_IX_FLOW;
        page.str = &flow;
    }
    if (other) {
        page.items = json_array(); /* another tenant's: nothing to see */
    } else if (xl_compat_page(api, who, &page) != 0) {
        cfy_error(req, 500, "internal", "internal_server_error", "cannot read the executions index");
        return;
    }
    json_t *pagination = json_pack("{s:I, s:I, s:I}", "total", (json_int_t)page.total, "offset", (json_int_t)offset,
                                   "size", (json_int_t)size);
    xl_http_send_json_obj(req, 200,
                          json_pack("{s:o, s:{s:o}}", "items", page.items, "metadata", "pagination", pagination));
}

/* ---- writes -------------------------------------------------------------------------------- */

/* What an acknowledged write answers: the Execution as it will be. */
typedef struct st_answer_t {
    xl_api_t *api;
    json_t *execution; /* NULL for a start: built from the acknowledgement */
    const char *status, *display;
    int code;
    json_t *start; /* a start: the fields known from the request */
    uint32_t include; /* ?_include= */
} answer_t;

static void on_answer_dispose(void *p)
{
    answer_t *a = p;
    json_decref(a->execution);
    json_decref(a->start);
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
        return include(o, a->include);
    }
    if (o == NULL) { /* a start, not projected yet */
        char id[24];
        json_t *aid = json_object_get(ack, "audit_id");
        snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, json_is_integer(aid) ? json_integer_value(aid) : 0);
        o = a->start;
        a->start = NULL;
        json_object_set_new(o, "id", json_string(id));
    }
    json_object_set_new(o, "status", json_string(a->status));
    json_object_set_new(o, "status_display", json_string(a->display));
    json_decref(ack);
    return include(o, a->include);
}

static answer_t *answer_new(xl_api_t *api, h2o_req_t *req, uint32_t mask, int code, const char *status,
                            const char *display)
{
    answer_t *a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), on_answer_dispose);
    memset(a, 0, sizeof(*a));
    a->api = api;
    a->include = mask;
    a->code = code;
    a->status = status;
    a->display = display;
    return a;
}

static int writableOrReply(xl_api_t *api, h2o_req_t *req)
{
    if (api->ingest != NULL)
        return 0;
    cfy_error(req, 405, "read-only", "method_not_allowed_error", "this execlogd runs without the ingest role");
    return -1;
}

static const char *string_member(json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

void xl_cloudify_start(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who)
{
    h2o_iovec_t tenant;
    uint32_t mask;
    if (writableOrReply(api, req) != 0 || parse_includeOrReply(req, &mask) != 0)
        return;
    json_t *body = xl_compat_body_objectOrReply(req, json_pack("{s:s}", "error_code", "bad_parameters_error"), "message");
    if (body == NULL)
        return;
    const char *deployment = string_member(body, "deployment_id"), *workflow = string_member(body, "workflow_id");
    json_t *params = json_object_get(body, "parameters");
    if (deployment == NULL || workflow == NULL || (params != NULL && !json_is_null(params) && !json_is_object(params))) {
        json_decref(body);
        cfy_error(req, 400, "invalid-body", "bad_parameters_error",
                  "deployment_id and workflow_id are required strings; parameters is an object");
        return;
    }
    json_t *attrs = json_object(), *create = json_object();
    if (json_is_object(params) && json_object_size(params) > 0) {
        char *text = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
        json_object_set_new(attrs, "parameters", json_string(text != NULL ? text : "{}"));
        free(text);
    }
    if (string_member(body, "blueprint_id") != NULL)
        json_object_set_new(attrs, "blueprint_id", json_string(string_member(body, "blueprint_id")));
    json_object_set_new(create, "flow_id", json_string(deployment));
    json_object_set_new(create, "flow_name", json_string(workflow));
    json_object_set_new(create, "trigger_type", json_string("cloudify"));
    int64_t now = xl_now_ms();
    json_object_set_new(create, "time", json_integer(now));
    if (string_member(body, "created_by") != NULL)
        json_object_set_new(create, "started_by", json_string(string_member(body, "created_by")));
    if (tenant_header(req, &tenant) && tenant.len > 0)
        json_object_set_new(create, "tenant_id", xl_http_text(tenant.base, tenant.len));
    else if (who->tenant.base != NULL)
        json_object_set_new(create, "tenant_id", xl_render_str(&who->tenant));
    if (string_member(body, "id") != NULL) /* Cloudify lets a client name its execution: our idempotency key */
        json_object_set_new(create, "event_id", json_string(string_member(body, "id")));
    json_object_set_new(create, "attributes", attrs);

    answer_t *a = answer_new(api, req, mask, 201, statuses[XL_STATUS_QUEUED].status, statuses[XL_STATUS_QUEUED].display);
    xl_state_t st = {0};
    st.status = XL_STATUS_QUEUED;
    st.created_ms = now;
    st.flow_id = (xl_str_t){(char *)deployment, strlen(deployment)};
    st.flow_name = (xl_str_t){(char *)workflow, strlen(workflow)};
    json_t *t = json_object_get(create, "tenant_id"), *by = json_object_get(create, "started_by");
    if (json_is_string(t))
        st.tenant_id = (xl_str_t){(char *)json_string_value(t), json_string_length(t)};
    if (json_is_string(by))
        st.started_by = (xl_str_t){(char *)json_string_value(by), json_string_length(by)};
    a->start = render_execution(&st);
    json_object_set_new(a->start, "parameters", json_is_object(params) ? json_incref(params) : json_object());
    if (string_member(body, "blueprint_id") != NULL)
        json_object_set_new(a->start, "blueprint_id", json_string(string_member(body, "blueprint_id")));
    h2o_iovec_t text = xl_compat_dump(req, create);
    json_decref(create);
    json_decref(body);
    xl_ingest_handle_as(api->ingest, req, XL_WRITE_CREATE, 0, 0, xl_principal_scope(who), text, reshape, a);
}

/* A write on an existing execution, answered 200 with the Execution in its new status. */
/* control: the control request's event type (kind XL_WRITE_CANCEL), or 0 for an event of event's type. */
static void write_on(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id, int kind,
                     int control, json_t *event)
{
    json_t *type = json_object_get(event, "type");
    int new_status = xl_apply_requested_status(
        control ? control : xl_event_type_parse(json_string_value(type), json_string_length(type)));
    if (new_status < 0 || new_status >= XL_STATUS__COUNT)
        new_status = XL_STATUS_RUNNING; /* an event that asks for no status (none of the table's) */
    xl_state_t st;
    uint32_t mask;
    if (parse_includeOrReply(req, &mask) != 0 || load_stateOrReply(api, req, who, audit_id, &st) != 0) {
        json_decref(event);
        return;
    }
    answer_t *a = answer_new(api, req, mask, 200, statuses[new_status].status, statuses[new_status].display);
    a->execution = render_execution(&st);
    json_t *err = json_object_get(event, "error");
    if (json_is_object(err))
        json_object_set(a->execution, "error", json_object_get(err, "message"));
    xl_state_dispose(&st);
    h2o_iovec_t text = xl_compat_dump(req, event);
    json_decref(event);
    xl_ingest_handle_as(api->ingest, req, kind, control, audit_id, xl_principal_scope(who), text, reshape, a);
}

/* Cloudify's actions as our control requests (POST /v1/executions/{id}/<control>); the status each leads to
 * is the state machine's (xl_apply_requested_status). */
static const struct {
    const char *action;
    int control;
} actions[] = {
    {"cancel", XL_EVENT_CANCEL_REQUESTED},
    {"force-cancel", XL_EVENT_FORCE_CANCEL_REQUESTED},
    {"kill", XL_EVENT_FORCE_CANCEL_REQUESTED},
    {"resume", XL_EVENT_RESUME_REQUESTED},
    {"force-resume", XL_EVENT_RETRY_REQUESTED}, /* "resume ... by retrying their failed tasks" */
};

void xl_cloudify_action(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id)
{
    if (writableOrReply(api, req) != 0)
        return;
    json_t *body = xl_compat_body_objectOrReply(req, json_pack("{s:s}", "error_code", "bad_parameters_error"), "message");
    if (body == NULL)
        return;
    const char *action = string_member(body, "action");
    char name[64];
    snprintf(name, sizeof(name), "%.60s", action != NULL ? action : "(none)");
    json_decref(body); /* action is gone with it: name holds its text */
    action = name;
    size_t i = 0;
    while (i < sizeof(actions) / sizeof(actions[0]) && strcmp(actions[i].action, action) != 0)
        ++i;
    if (i == sizeof(actions) / sizeof(actions[0])) {
        cfy_error(req, 400, "invalid-body", "bad_parameters_error",
                  "action %s is not one of cancel, force-cancel, kill, resume, force-resume", name);
        return;
    }
    write_on(api, req, who, audit_id, XL_WRITE_CANCEL, actions[i].control,
             json_pack("{s:s}", "message", actions[i].action));
}

/* Cloudify statuses a PATCH (the executor's report) may set: an event of ours, or the cancel request. */
static const struct {
    const char *status;
    int type; /* xl_event_type_t */
} updates[] = {
    {"started", XL_EVENT_STARTED},
    {"terminated", XL_EVENT_SUCCEEDED},
    {"failed", XL_EVENT_FAILED},
    {"cancelled", XL_EVENT_CANCELLED},
    {"cancelling", XL_EVENT_CANCEL_REQUESTED},
    {"force_cancelling", XL_EVENT_CANCEL_REQUESTED},
    {"kill_cancelling", XL_EVENT_CANCEL_REQUESTED},
};

void xl_cloudify_update(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id)
{
    if (writableOrReply(api, req) != 0)
        return;
    json_t *body = xl_compat_body_objectOrReply(req, json_pack("{s:s}", "error_code", "bad_parameters_error"), "message");
    if (body == NULL)
        return;
    const char *status = string_member(body, "status"), *error = string_member(body, "error");
    size_t i = 0;
    while (status != NULL && i < sizeof(updates) / sizeof(updates[0]) && strcmp(updates[i].status, status) != 0)
        ++i;
    if (status == NULL || i == sizeof(updates) / sizeof(updates[0])) {
        char name[64];
        snprintf(name, sizeof(name), "%.60s", status != NULL ? status : "(none)");
        json_decref(body);
        cfy_error(req, 400, "invalid-body", "invalid_exception_status_update",
                  "status %s cannot be set: one of started, terminated, failed, cancelled, cancelling", name);
        return;
    }
    int type = updates[i].type, control = xl_apply_is_control(type);
    json_t *event = json_object();
    if (!control)
        json_object_set_new(event, "type", json_string(xl_event_type_name(type)));
    if (error != NULL && type == XL_EVENT_FAILED)
        json_object_set_new(event, "error", json_pack("{s:s, s:s}", "class", "CloudifyError", "message", error));
    json_decref(body);
    write_on(api, req, who, audit_id, control ? XL_WRITE_CANCEL : XL_WRITE_APPEND, control ? type : 0, event);
}
