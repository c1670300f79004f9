/*
 * HTTP server and route table (see server.h).
 *
 * One xl_server_t per event loop (http.threads): each has its own h2o
 * context, listeners (SO_REUSEPORT, the kernel spreads the connections),
 * streams, deadline module, progress subscription and min_position waiters,
 * so a request and everything it holds stay on the loop that accepted it.
 * The HTTP metrics and the shared counters (streams, waits) are the first
 * loop's, updated under its lock or atomically.
 *
 * libh2o 2.2 gives the whole request body to the handler, so the route
 * table below is the one place that decides what a (method, path) means,
 * which role it needs, which query parameters it takes and whether it may
 * wait for a min_position. A path that matches no row answers 404, a known
 * path with another method 405 with Allow; both as problem+json. Then, in
 * order: authentication (401), the role and tenant scope (403), unknown
 * query parameters (400), the read-your-writes wait, the handler. The web
 * console's files (api/www/ui/, built in: assets.h) are public rows of the
 * same table; the data it shows comes through the rows above, with the
 * user's token.
 *
 * Every request is counted when its pool is released (so held answers are
 * timed to their end), labelled with its method and route pattern, never its
 * path, and written to the access log (api/access.h) with its request ID.
 * Answers held past the handler (SSE streams, long polls, min_position
 * waits) are timed apart from the request latency.
 */
#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <h2o/multithread.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "api/access.h"
#include "api/assets.h"
#include "api/auth.h"
#include "api/compat_civis.h"
#include "api/compat_cloudify.h"
#include "api/compat_etlworks.h"
#include "api/compat_flows.h"
#include "ingest/http.h"
#include "schemas/base/log.h"
#include "api/metrics.h"
#include "api/deadline.h"
#include "api/digest.h"
#include "api/read.h"
#include "api/stream.h"

/* Bodies up to this many bytes are read so that an oversized one gets a problem+json 413. */
#define XL_SERVER_HARD_BODY_LIMIT (64 * 1024 * 1024)
/* Request line and headers together, beyond which a request gets 431 (h2o's own HTTP/1 bound is larger). */
#define XL_SERVER_MAX_HEADER_BYTES (64 * 1024)
/* Most positions one min_position names. */
#define MAX_POSITIONS 64
/* How long a min_position past the end of its partition's log may wait for
 * this node to see the log grow (a write acknowledged elsewhere) before 400. */
#define POSITION_GRACE_MS 1000

typedef struct st_route_args_t {
    int64_t id;       /* {id} */
    h2o_iovec_t name; /* {name}, percent-decoded */
    h2o_iovec_t name2; /* a second {name} in the same pattern, percent-decoded */
} route_args_t;

enum {
    R_WRITES = 1,      /* needs the write path */
    R_MIN_POS = 2,     /* takes min_position (read-your-writes) */
    R_ALL_TENANTS = 4, /* shows data of every tenant: a tenant's token may not */
    R_SERVICE = 8,     /* about the node itself: served whatever its role */
};

typedef struct st_route_t {
    const char *method;
    const char *pattern; /* "{id}": a segment holding an audit ID; "{name}": any one segment (at most two) */
    int role;            /* least role (xl_role_t); XL_ROLE_NONE: public */
    int flags;
    const char *params; /* the query parameters it takes (comma-separated); NULL: not checked */
    void (*fn)(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a);
    const char *label; /* "METHOD pattern", for the metrics */
} route_t;

struct st_xl_server_t {
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx, accept_ctx_tls;
    h2o_loop_t *loop;
    h2o_socket_t *listener, *listener_tls;
    int port, tls_port;
    int ctx_ready;
    xl_api_t api;
    xl_auth_t *auth; /* NULL: protected mode, everyone is an admin on loopback */
    h2o_multithread_queue_t *queue;
    xl_digest_t *digest; /* GET /v1/admin/digest */
    xl_progress_sub_t *progress; /* the projector's progress, heard on the loop */
    xl_progress_t *publisher;    /* the same, as published (borrowed; NULL: none) */
    h2o_linklist_t waiters; /* waiter_t.link: reads waiting for their min_position */
    h2o_timeout_t wait_timeout;
    h2o_timeout_t grace_timeout; /* POSITION_GRACE_MS: a min_position past the log end */
    h2o_linklist_t inflight; /* obs_t.link: requests not yet counted */
    xl_deadline_t *deadline; /* cuts clients too slow to send a request; counts the open connections */
    h2o_timeout_entry_t goaway_sent; /* in ctx.one_sec_timeout after h2o's own graceful-shutdown entry */
    int wait_max_ms;
    int stopping; /* SIGTERM: nothing new is held */
    void (*notify)(void *ctx, const char *state);
    void *notify_ctx;
    int write_only; /* role ingest: read routes answer 405 */
    size_t loop_index;   /* 0 for the first loop's server, which owns the shared parts */
    xl_server_t *first;  /* the first loop's server (itself there) */
    xl_server_t *next_lingering;
};

typedef struct st_handler_t {
    h2o_handler_t super;
    xl_server_t *srv;
} handler_t;

/* ---- adapters from the route table to the modules ------------------------------------- */

static void r_create(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_create(srv->api.ingest, req, xl_principal_scope(who));
}
static void r_append(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_append(srv->api.ingest, req, a->id, xl_principal_scope(who));
}
static void r_retry(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_retry(srv->api.ingest, req, a->id, xl_principal_scope(who));
}
static void r_cancel(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_cancel(srv->api.ingest, req, a->id, xl_principal_scope(who));
}
static void r_pause(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_control(srv->api.ingest, req, a->id, XL_EVENT_PAUSE_REQUESTED, xl_principal_scope(who));
}
static void r_resume(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_control(srv->api.ingest, req, a->id, XL_EVENT_RESUME_REQUESTED, xl_principal_scope(who));
}
static void r_force_cancel(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_control(srv->api.ingest, req, a->id, XL_EVENT_FORCE_CANCEL_REQUESTED, xl_principal_scope(who));
}
static void r_retry_failed(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_control(srv->api.ingest, req, a->id, XL_EVENT_RETRY_REQUESTED, xl_principal_scope(who));
}
static void r_batch(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_ingest_handle_batch(srv->api.ingest, req, xl_principal_scope(who));
}
static void r_execution(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_execution(&srv->api, req, who, a->id);
}
static void r_list(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_list(&srv->api, req, who);
}
static void r_lineage(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_lineage(&srv->api, req, who, a->id);
}
static void r_events(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_stream_events(srv->api.stream, req, who, a->id);
}
static void r_message(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_message(&srv->api, req, who, a->name);
}
static void r_flow(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_flow(&srv->api, req, who, a->name);
}
static void r_flows(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_flows_list(&srv->api, req, who);
}
static void r_civis_list(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_civis_list(&srv->api, req, who, a->name);
}
static void r_civis_start(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_civis_start(&srv->api, req, who, a->name);
}
static void r_civis_get(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_civis_get(&srv->api, req, who, a->name, a->id);
}
static void r_civis_task(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_civis_task(&srv->api, req, who, a->name, a->id, a->name2);
}
static void r_civis_cancel(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_civis_control(&srv->api, req, who, a->name, a->id, "cancel");
}
static void r_civis_resume(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_civis_control(&srv->api, req, who, a->name, a->id, "resume");
}
static void r_civis_retry(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_civis_control(&srv->api, req, who, a->name, a->id, "retry");
}
static void r_etlworks(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_etlworks(&srv->api, req, who, a->name);
}
/* Cloudify's paths carry the API version: v3 and v3.1 (its client's default) are served alike. */
static int cloudify_versionOrReply(h2o_req_t *req, const route_args_t *a)
{
    if (h2o_memis(a->name.base, a->name.len, H2O_STRLIT("v3")) ||
        h2o_memis(a->name.base, a->name.len, H2O_STRLIT("v3.1")))
        return 0;
    xl_http_send_problem(req, 404, "no-route", "No such endpoint", NULL, "the Cloudify API is served as v3 and v3.1");
    return -1;
}
static void r_cfy_list(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    if (cloudify_versionOrReply(req, a) == 0)
        xl_cloudify_list(&srv->api, req, who);
}
static void r_cfy_start(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    if (cloudify_versionOrReply(req, a) == 0)
        xl_cloudify_start(&srv->api, req, who);
}
static void r_cfy_get(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    if (cloudify_versionOrReply(req, a) == 0)
        xl_cloudify_get(&srv->api, req, who, a->id);
}
static void r_cfy_action(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    if (cloudify_versionOrReply(req, a) == 0)
        xl_cloudify_action(&srv->api, req, who, a->id);
}
static void r_cfy_update(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    if (cloudify_versionOrReply(req, a) == 0)
        xl_cloudify_update(&srv->api, req, who, a->id);
}
static void r_stream(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_stream_sse(srv->api.stream, req, who);
}
static void r_schemas(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_schemas(&srv->api, req);
}
static void r_info(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_info(&srv->api, req, who->role >= XL_ROLE_ADMIN && who->tenant.base == NULL);
}
static void r_digest(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_digest_handle(srv->digest, req);
}
static void r_metrics(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_metrics(&srv->api, req);
}
static void r_healthz(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    xl_read_healthz(&srv->api, req);
}
static void tell_ready(xl_server_t *srv);
static void r_readyz(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    tell_ready(srv); /* before its first 200 */
    xl_read_readyz(&srv->api, req);
}
/* the document of every route (api/www/v1/openapi.json, built into the binary) */
static void r_openapi(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    const xl_asset_t *doc = xl_asset_find(H2O_STRLIT("/v1/openapi.json"));
    if (doc == NULL) {
        xl_http_send_problem(req, 500, "internal", "No API document", NULL, "this build has no /v1/openapi.json");
        return;
    }
    xl_asset_send(req, doc);
}

/* The web console (api/www/ui/): its files are public, the data it shows comes from the routes above. */
/* 302 to /ui/ (not h2o_send_redirect: it drops the headers set so far, X-Request-Id among them). */
static void r_to_console(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    static const char body[] = "<!DOCTYPE html><title>Moved</title><a href=\"/ui/\">/ui/</a>\n";
    req->res.status = 302;
    req->res.reason = "Found";
    req->res.content_length = sizeof(body) - 1;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, H2O_STRLIT("/ui/"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/html; charset=utf-8"));
    h2o_send_inline(req, body, sizeof(body) - 1);
}
static void r_console(xl_server_t *srv, h2o_req_t *req, const xl_principal_t *who, const route_args_t *a)
{
    h2o_iovec_t path = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/ui/")),
                                  a->name.base != NULL ? a->name : h2o_iovec_init(H2O_STRLIT("index.html")));
    const xl_asset_t *asset = xl_asset_find(path.base, path.len);
    if (asset == NULL) {
        xl_http_send_problem(req, 404, "not-found", "No such file", NULL, "the console has no file %.*s",
                             (int)(path.len < 200 ? path.len : 200), path.base);
        return;
    }
    xl_asset_send(req, asset);
}

/* the service manager's READY=1, sent once per process (tell_ready) */
static void (*ready_notify)(void *ctx, const char *state);
static void *ready_notify_ctx;
static int ready_told;

#define READER XL_ROLE_READER
#define WRITER XL_ROLE_WRITER
#define ADMIN XL_ROLE_ADMIN
#define PUBLIC XL_ROLE_NONE
#define ROUTE(m, p, role, flags, params, fn)                                                                           \
    {                                                                                                                  \
        m, p, role, flags, params, fn, m " " p                                                                         \
    }
/* clang-format off */
static const route_t routes[] = {
    /*    method  pattern                        role    flags                   query parameters */
    ROUTE("POST", "/v1/executions",              WRITER, R_WRITES,               NULL,                        r_create),
    ROUTE("GET",  "/v1/executions",              READER, R_MIN_POS,              "flow_id,tenant_id,status,message_id,parent_execution_id,top_execution_id,fields,created_gte,created_lt,order_by,limit,page_token,min_position", r_list),
    ROUTE("GET",  "/v1/executions/{id}",         READER, R_MIN_POS,              "as_of,fields,min_position", r_execution),
    ROUTE("GET",  "/v1/executions/{id}/lineage", READER, R_MIN_POS,              "min_position",              r_lineage),
    ROUTE("GET",  "/v1/executions/{id}/events",  READER, R_MIN_POS,              "after_seq,before_seq,limit,reverse,wait,min_position", r_events),
    ROUTE("POST", "/v1/executions/{id}/events",  WRITER, R_WRITES,               NULL,                        r_append),
    ROUTE("POST", "/v1/executions/{id}/retry",   WRITER, R_WRITES,               NULL,                        r_retry),
    ROUTE("POST", "/v1/executions/{id}/cancel",  WRITER, R_WRITES,               NULL,                        r_cancel),
    ROUTE("POST", "/v1/executions/{id}/pause",   WRITER, R_WRITES,               NULL,                        r_pause),
    ROUTE("POST", "/v1/executions/{id}/resume",  WRITER, R_WRITES,               NULL,                        r_resume),
    ROUTE("POST", "/v1/executions/{id}/force-cancel", WRITER, R_WRITES,          NULL,                        r_force_cancel),
    ROUTE("POST", "/v1/executions/{id}/retry-failed-tasks", WRITER, R_WRITES,    NULL,                        r_retry_failed),
    ROUTE("POST", "/v1/events",                  WRITER, R_WRITES,               NULL,                        r_batch),
    ROUTE("GET",  "/v1/messages/{name}",         READER, R_MIN_POS,              "tenant_id,min_position",    r_message),
    ROUTE("GET",  "/v1/flows",                   READER, R_MIN_POS,              "tenant_id,limit,page_token,min_position", r_flows),
    ROUTE("GET",  "/v1/flows/{name}",            READER, R_MIN_POS,              "tenant_id,min_position",    r_flow),
    ROUTE("GET",  "/rest/v1/executions/{name}",  READER, R_MIN_POS,              "auditId,messageId,tenant_id,min_position", r_etlworks),
    ROUTE("GET",  "/plugins/dashboard/rest/v1/flows/{name}", READER, R_MIN_POS,  "auditId,messageId,tenant_id,min_position", r_etlworks),
    /* Cloudify (api/compat_cloudify.c) */
    ROUTE("GET",  "/api/{name}/executions",      READER, R_MIN_POS,              "deployment_id,workflow_id,status,id,created_by,_include,_offset,_size,_sort,_include_system_workflows,_get_all_results,min_position", r_cfy_list),
    ROUTE("POST", "/api/{name}/executions",      WRITER, R_WRITES,               NULL,                        r_cfy_start),
    ROUTE("GET",  "/api/{name}/executions/{id}", READER, R_MIN_POS,              "_include,min_position",     r_cfy_get),
    ROUTE("POST", "/api/{name}/executions/{id}", WRITER, R_WRITES,               NULL,                        r_cfy_action),
    ROUTE("PATCH", "/api/{name}/executions/{id}", WRITER, R_WRITES,              NULL,                        r_cfy_update),
    /* Civis (api/compat_civis.c) */
    ROUTE("GET",  "/workflows/{name}/executions", READER, R_MIN_POS,             "limit,page_num,order,order_dir,iterator,min_position", r_civis_list),
    ROUTE("POST", "/workflows/{name}/executions", WRITER, R_WRITES,              NULL,                        r_civis_start),
    ROUTE("GET",  "/workflows/{name}/executions/{id}", READER, R_MIN_POS,        "min_position",              r_civis_get),
    ROUTE("GET",  "/workflows/{name}/executions/{id}/tasks/{name}", READER, R_MIN_POS, "min_position",        r_civis_task),
    ROUTE("POST", "/workflows/{name}/executions/{id}/cancel", WRITER, R_WRITES,  NULL,                        r_civis_cancel),
    ROUTE("POST", "/workflows/{name}/executions/{id}/resume", WRITER, R_WRITES,  NULL,                        r_civis_resume),
    ROUTE("POST", "/workflows/{name}/executions/{id}/retry",  WRITER, R_WRITES,  NULL,                        r_civis_retry),
    ROUTE("GET",  "/v1/stream",                  READER, 0,                      "flow_id,tenant_id,type,last_event_id,max_events,timeout", r_stream),
    ROUTE("GET",  "/v1/schemas",                 READER, R_SERVICE,              "",                          r_schemas),
    ROUTE("GET",  "/v1/info",                    READER, R_SERVICE,              "",                          r_info),
    ROUTE("GET",  "/v1/admin/digest",            ADMIN,  R_ALL_TENANTS,          "",                          r_digest),
    ROUTE("GET",  "/metrics",                    READER, R_ALL_TENANTS | R_SERVICE, "",                         r_metrics),
    ROUTE("GET",  "/healthz",                    PUBLIC, R_SERVICE,              NULL,                        r_healthz),
    ROUTE("GET",  "/readyz",                     PUBLIC, R_SERVICE,              NULL,                        r_readyz),
    ROUTE("GET",  "/v1/openapi.json",            PUBLIC, R_SERVICE,              "",                          r_openapi),
    ROUTE("GET",  "/",                           PUBLIC, R_SERVICE,              NULL,                        r_to_console),
    ROUTE("GET",  "/ui",                         PUBLIC, R_SERVICE,              NULL,                        r_to_console),
    ROUTE("GET",  "/ui/",                        PUBLIC, R_SERVICE,              NULL,                        r_console),
    ROUTE("GET",  "/ui/{name}",                  PUBLIC, R_SERVICE,              NULL,                        r_console),
};
/* clang-format on */
#define NROUTES (sizeof(routes) / sizeof(routes[0]))
#define ROUTE_UNMATCHED NROUTES /* the metrics label of requests no route took */

int xl_server_route_info(size_t i, xl_server_route_info_t *info)
{
    if (i >= NROUTES)
        return -ENOENT;
    *info = (xl_server_route_info_t){routes[i].method, routes[i].pattern, routes[i].role, routes[i].params,
                                     (routes[i].flags & R_ALL_TENANTS) != 0};
    return 0;
}

/* Without a tokens file (loopback only) every caller may do everything. */
static const xl_principal_t open_admin = {XL_ROLE_ADMIN, {NULL, 0}, NULL};

/*
 * Match path (raw, no query) against pattern. @return 1 on a match (args
 * filled), 0 on no match, -1 when the shape matches but the ID is not a
 * valid one.
 */
static int match(const char *pattern, const char *path, size_t len, route_args_t *a)
{
    const char *p = pattern, *s = path, *end = path + len;
    int bad = 0;
    while (*p != '\0') {
        int is_id = *p == '{' && strncmp(p, "{id}", 4) == 0, is_name = *p == '{' && strncmp(p, "{name}", 6) == 0;
        if (is_id || is_name) {
            const char *seg = s;
            while (s < end && *s != '/')
                ++s;
            if (is_id) {
                bad |= xl_http_parse_id(seg, (size_t)(s - seg), XL_AUDIT_ID_MAX, &a->id) != 0;
                p += 4;
            } else {
                if (s == seg)
                    return 0;
                *(a->name.base == NULL ? &a->name : &a->name2) = h2o_iovec_init(seg, (size_t)(s - seg));
                p += 6;
            }
            continue;
        }
        if (s == end || *s != *p)
            return 0;
        ++p;
        ++s;
    }
    if (s != end)
        return 0;
    return bad ? -1 : 1;
}

/* ---- request accounting ---------------------------------------------------------------- */

typedef struct st_obs_t {
    xl_server_t *srv; /* NULL once the server is gone */
    h2o_req_t *req;
    size_t route;
    struct timespec t0;
    int held;          /* answered from a generator after on_req returned, or a min_position wait */
    int has_who;       /* who is the authenticated caller */
    xl_principal_t who;
    char auth_error[128]; /* why a 401/403: for the access log */
    char id[65];          /* request ID, echoed in X-Request-Id */
    char remote[64];      /* peer address, taken while the connection surely exists */
    h2o_linklist_t link;
} obs_t;

/* The method label of a request no route took: one of these, else "other" (the label set stays bounded). */
static const char *const known_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

static const char *method_label(const h2o_req_t *req)
{
    for (size_t i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); ++i)
        if (h2o_memis(req->method.base, req->method.len, known_methods[i], strlen(known_methods[i])))
            return known_methods[i];
    return "other";
}

static void on_req_done(void *self)
{
    obs_t *o = self;
    if (o->srv == NULL)
        return;
    h2o_linklist_unlink(&o->link);
    h2o_req_t *req = o->req;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - o->t0.tv_sec) + (double)(t1.tv_nsec - o->t0.tv_nsec) / 1e9;
    int status = req->res.status != 0 ? req->res.status : 499; /* the client went away first */
    xl_metrics_observe(o->srv->api.metrics, o->route, method_label(req), status, dt, o->held);
    h2o_iovec_t tp = {NULL, 0};
    xl_http_traceparent(req, &tp);
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    xl_access_rec_t rec = {.id = o->id,
                           .remote = o->remote,
                           .method = req->method.base,
                           .method_len = req->method.len,
                           .route = o->route < NROUTES ? routes[o->route].pattern : "unmatched",
                           .path = req->path.base,
                           .path_len = plen,
                           .status = status,
                           .seconds = dt,
                           .bytes = req->bytes_sent,
                           .held = o->held,
                           .who = o->has_who ? &o->who : NULL,
                           .auth_error = o->auth_error,
                           .traceparent = tp.base,
                           .traceparent_len = tp.len};
    xl_access_log(&rec);
}

static obs_t *observe(xl_server_t *srv, h2o_req_t *req)
{
    obs_t *o = h2o_mem_alloc_shared(&req->pool, sizeof(*o), on_req_done);
    memset(o, 0, sizeof(*o)); /* the pool does not zero, and the list node must start unlinked */
    o->srv = srv;
    o->req = req;
    o->route = ROUTE_UNMATCHED;
    clock_gettime(CLOCK_MONOTONIC, &o->t0);
    h2o_linklist_insert(&srv->inflight, &o->link);
    h2o_iovec_t given = {NULL, 0};
    xl_http_header(req, "x-request-id", &given);
    xl_access_request_id(given.base, given.len, o->id);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, o->id, strlen(o->id));
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sslen > 0 && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, o->remote, sizeof(o->remote));
    else if (sslen > 0 && ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, o->remote, sizeof(o->remote));
    return o;
}

/* The handler returned: a request it left held (a stream, a long poll, a wait) is answered later. */
static void note_held(obs_t *o, h2o_req_t *req)
{
    o->held |= xl_http_held(req);
}

/* ---- authentication ------------------------------------------------------------------------ */

/* The password of an HTTP Basic credential (base64 "user:password"); base NULL when malformed. */
static h2o_iovec_t basic_password(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    while (len > 0 && s[0] == ' ')
        ++s, --len;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '='))
        --len;
    char *out = h2o_mem_alloc_pool(pool, len * 3 / 4 + 1);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; ++i) {
        const char *c = memchr(alphabet, s[i], 64);
        if (c == NULL || s[i] == '\0')
            return h2o_iovec_init(NULL, 0);
        acc = (acc << 6) | (uint32_t)(c - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    const char *colon = memchr(out, ':', n);
    if (colon == NULL)
        return h2o_iovec_init(NULL, 0);
    return h2o_iovec_init(colon + 1, (size_t)(out + n - colon - 1));
}

/* authorizeOrReply's checks; why tells the access log the reason of a 401/403. */
static int check_authOrReply(xl_server_t *srv, h2o_req_t *req, const route_t *r, xl_principal_t *who, char *why,
                             size_t whylen)
{
    h2o_iovec_t v;
    if (srv->auth == NULL) {
        *who = open_admin;
        return 0;
    }
    if (r->role == XL_ROLE_NONE) {
        *who = (xl_principal_t){XL_ROLE_NONE, {NULL, 0}, NULL};
        return 0;
    }
    int has_auth = xl_http_header(req, "authorization", &v);
    const char *t = NULL, *end = NULL;
    int scheme_ok = 0;
    if (!has_auth && xl_http_header(req, "authentication-token", &v)) {
        /* the header Cloudify's client sends its token in (token=...) */
        t = v.base;
        end = v.base + v.len;
        scheme_ok = 1;
    } else if (!has_auth) {
        snprintf(why, whylen, "no credentials");
        xl_http_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer realm=\"execlog\"");
        xl_http_send_problem(req, 401, "unauthorized", "Authentication required", NULL,
                             "send a bearer token: Authorization: Bearer <token>");
        return -1;
    } else if (v.len >= 6 && strncasecmp(v.base, "basic ", 6) == 0) {
        /* Basic: the password is the token, the user name is not checked (clients that only know Basic) */
        h2o_iovec_t plain = basic_password(&req->pool, v.base + 6, v.len - 6);
        t = plain.base;
        end = plain.base + plain.len;
        scheme_ok = plain.base != NULL;
    } else {
        end = v.base + v.len;
        scheme_ok = v.len >= 7 && strncasecmp(v.base, "bearer ", 7) == 0;
        t = v.base + (scheme_ok ? 7 : 0);
    }
    while (t < end && *t == ' ')
        ++t;
    while (end > t && end[-1] == ' ')
        --end;
    if (!scheme_ok || t == end || xl_auth_check(srv->auth, t, (size_t)(end - t), who) != 0) {
        snprintf(why, whylen, "%s", !scheme_ok ? "not the Bearer scheme" : t == end ? "empty token" : "unknown token");
        xl_http_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer realm=\"execlog\", error=\"invalid_token\"");
        xl_http_send_problem(req, 401, "unauthorized", "Invalid token", NULL,
                             scheme_ok ? "the bearer token is not known" : "only the Bearer scheme (or Basic with the token as password) is accepted");
        return -1;
    }
    if (who->role < r->role) {
        snprintf(why, whylen, "needs the %s role", xl_role_name(r->role));
        xl_http_send_problem(req, 403, "forbidden", "Forbidden", NULL, "%s needs the %s role; this token has %s",
                             r->label, xl_role_name(r->role), xl_role_name(who->role));
        return -1;
    }
    if ((r->flags & R_ALL_TENANTS) && who->tenant.base != NULL) {
        snprintf(why, whylen, "needs a token for all tenants");
        xl_http_send_problem(req, 403, "forbidden", "Forbidden", NULL,
                             "%s shows every tenant's data: it needs a token for all tenants (*)", r->label);
        return -1;
    }
    return 0;
}

/* @return 0 with who filled (and kept for the access log), or -1 (answered 401/403) */
static int authorizeOrReply(xl_server_t *srv, h2o_req_t *req, const route_t *r, xl_principal_t *who, obs_t *obs)
{
    *who = (xl_principal_t){XL_ROLE_NONE, {NULL, 0}, NULL};
    int ret = check_authOrReply(srv, req, r, who, obs->auth_error, sizeof(obs->auth_error));
    if (ret == 0 || who->token_id != NULL) { /* a 403 names the token it refused */
        obs->who = *who;
        obs->has_who = 1;
    }
    return ret;
}

/* ---- read-your-writes ---------------------------------------------------------------------- */

typedef struct st_waiter_t {
    xl_http_hold_t hold; /* first: the waiter lives in the request's pool */
    xl_server_t *srv;
    const route_t *route;
    route_args_t args;
    xl_principal_t who;
    xl_pos_t *want;
    size_t nwant;
    h2o_linklist_t link;
    h2o_timeout_entry_t timeout;
    h2o_timeout_entry_t grace; /* linked while a position is past the log end */
} waiter_t;

/* Stop waiting. @return the request to answer, NULL when the client is gone. */
static h2o_req_t *waiter_release(waiter_t *w)
{
    if (h2o_linklist_is_linked(&w->link)) {
        h2o_linklist_unlink(&w->link);
        __atomic_sub_fetch(&w->srv->api.first->nwaiting, 1, __ATOMIC_RELAXED);
    }
    if (h2o_timeout_is_linked(&w->timeout))
        h2o_timeout_unlink(&w->timeout);
    if (h2o_timeout_is_linked(&w->grace))
        h2o_timeout_unlink(&w->grace);
    return xl_http_hold_release(&w->hold);
}

static void on_waiter_gone(xl_http_hold_t *hold)
{
    waiter_release(H2O_STRUCT_FROM_MEMBER(waiter_t, hold, hold));
}

static const xl_http_hold_callbacks_t waiter_hold = {.gone = on_waiter_gone, .waits = 1};

static int reached(const xl_api_t *api, const xl_pos_t *want, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if ((size_t)want[i].partition >= api->napplied || api->applied[want[i].partition] <= want[i].offset)
            return 0;
    return 1;
}

static int check_positionsOrReply(xl_server_t *srv, h2o_req_t *req, const xl_pos_t *want, size_t n, int final);

/* Every position applied as the projector published it, maybe not yet heard on this loop (another loop's write). */
static int published(xl_server_t *srv, const xl_pos_t *want, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (srv->publisher == NULL || xl_progress_published(srv->publisher, want[i].partition) <= want[i].offset)
            return 0;
    return 1;
}

static void on_wait_timeout(h2o_timeout_entry_t *entry)
{
    waiter_t *w = H2O_STRUCT_FROM_MEMBER(waiter_t, timeout, entry);
    h2o_req_t *req = waiter_release(w);
    if (req == NULL)
        return;
    /* past the log end is a 400 also when read.wait.max.ms is shorter than the grace */
    if (check_positionsOrReply(w->srv, req, w->want, w->nwant, 1) < 0)
        return;
    xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
    xl_http_send_problem(req, 504, "position-not-reached", "The projection has not reached min_position", NULL,
                         "waited %d ms (read.wait.max.ms); the write is acknowledged but not yet readable here",
                         w->srv->wait_max_ms);
}

/*
 * Positions no wait can reach, as far as the projector knows the log: a
 * partition the topic does not have is answered 400 at once; an offset at or
 * past the end of its partition's log (its high watermark) is answered 400
 * when final, else reported. Unknown ends (a node without a projector, a
 * projector starting or stopped) reach nothing here: the read waits as before.
 * @return -1 (answered 400), 1 (an offset past the log end, not final), or 0.
 */
static int check_positionsOrReply(xl_server_t *srv, h2o_req_t *req, const xl_pos_t *want, size_t n, int final)
{
    int64_t ends[XL_PROJECTOR_MAX_LAGS];
    xl_projector_stats_t stats;
    if (srv->api.projector == NULL)
        return 0;
    xl_projector_get_stats(srv->api.projector, &stats);
    size_t count = xl_projector_get_log_ends(srv->api.projector, ends, XL_PROJECTOR_MAX_LAGS);
    if (count == 0 || stats.failed)
        return 0;
    int past = 0;
    for (size_t i = 0; i < n; ++i) {
        size_t p = (size_t)want[i].partition;
        if (p >= count) {
            xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                 "min_position %zu:%" PRId64 " names partition %zu, but the topic has %zu partitions "
                                 "(0 to %zu)",
                                 p, want[i].offset, p, count, count - 1);
            return -1;
        }
        if (p >= XL_PROJECTOR_MAX_LAGS || ends[p] < 0 || want[i].offset < ends[p] ||
            (p < srv->api.napplied && srv->api.applied[p] > want[i].offset))
            continue;
        if (!final) {
            past = 1;
            continue;
        }
        xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                             "min_position %zu:%" PRId64 " is past the end of the log: partition %zu ends at offset "
                             "%" PRId64 " (the next event written there gets that offset)",
                             p, want[i].offset, p, ends[p]);
        return -1;
    }
    return past;
}

/* A held read named a position past the log end: still past it after the grace, it is answered 400. */
static void on_wait_grace(h2o_timeout_entry_t *entry)
{
    waiter_t *w = H2O_STRUCT_FROM_MEMBER(waiter_t, grace, entry);
    if (reached(&w->srv->api, w->want, w->nwant) || published(w->srv, w->want, w->nwant))
        return; /* check_waiters answers it (a published position is heard on this loop soon) */
    if (check_positionsOrReply(w->srv, w->hold.req, w->want, w->nwant, 1) < 0)
        waiter_release(w); /* answered 400 */
}

int xl_server_parse_positions(const char *value, size_t vlen, xl_pos_t *want, size_t max, size_t *n)
{
    for (const char *s = value, *end = value + vlen; s <= end;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        long long part = -1, off = -1;
        int used = 0;
        char tmp[48];
        size_t len = (size_t)(e - s);
        if (len > 0 && len < sizeof(tmp)) {
            memcpy(tmp, s, len);
            tmp[len] = '\0';
            if (sscanf(tmp, "%lld:%lld%n", &part, &off, &used) != 2 || (size_t)used != len)
                part = -1;
        }
        if (part < 0 || part > INT32_MAX || off < 0 || *n == max)
            return -EINVAL;
        want[*n].partition = (int32_t)part;
        want[*n].offset = (int64_t)off;
        ++*n;
        s = e + 1;
    }
    return 0;
}

/* Parse min_position=P:O[,P:O...] (repeatable). @return the count, or -1 (answered 400). */
static int parse_positionsOrReply(h2o_req_t *req, xl_pos_t **out)
{
    h2o_iovec_t v;
    size_t pos = 0, n = 0;
    xl_pos_t *want = h2o_mem_alloc_pool(&req->pool, MAX_POSITIONS * sizeof(*want));
    while (xl_http_query_next(req, "min_position", &pos, &v)) {
        if (xl_server_parse_positions(v.base, v.len, want, MAX_POSITIONS, &n) != 0) {
            xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                 "min_position is partition:offset (as in a write's position), comma-separated "
                                 "or repeated, at most %d",
                                 MAX_POSITIONS);
            return -1;
        }
    }
    *out = want;
    return (int)n;
}

static void check_waiters(xl_server_t *srv)
{
    h2o_linklist_t *l = srv->waiters.next;
    while (l != &srv->waiters) {
        waiter_t *w = H2O_STRUCT_FROM_MEMBER(waiter_t, link, l);
        l = l->next;
        if (reached(&srv->api, w->want, w->nwant)) {
            h2o_req_t *req = waiter_release(w);
            if (req != NULL)
                w->route->fn(srv, req, &w->who, &w->args);
        }
    }
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* The media types a write body may declare (parameters such as charset aside); none at all is JSON too. */
static const char *const body_types[] = {"application/json", "application/x-ndjson", "application/ndjson"};

/* A write body's declared type: none, JSON or NDJSON; anything else is 415. @return 0, or -1 (answered). */
static int check_body_typeOrReply(h2o_req_t *req)
{
    h2o_iovec_t type;
    if (!xl_http_header(req, "content-type", &type))
        return 0;
    size_t len = type.len;
    const char *semi = memchr(type.base, ';', type.len);
    if (semi != NULL)
        len = (size_t)(semi - type.base);
    while (len > 0 && (type.base[len - 1] == ' ' || type.base[len - 1] == '\t'))
        --len;
    for (size_t i = 0; i < sizeof(body_types) / sizeof(body_types[0]); ++i)
        if (h2o_lcstris(type.base, len, body_types[i], strlen(body_types[i])))
            return 0;
    xl_http_send_problem(req, 415, "unsupported-media-type", "Unsupported media type", NULL,
                         "a write body is application/json (or application/x-ndjson for POST /v1/events), not %.*s",
                         (int)(len < 200 ? len : 200), type.base);
    return -1;
}

static size_t header_bytes(h2o_req_t *req)
{
    size_t n = req->path.len + req->authority.len + req->method.len;
    for (size_t i = 0; i < req->headers.size; ++i)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    xl_server_t *srv = ((handler_t *)self)->srv;
    obs_t *obs = observe(srv, req);
    xl_metrics_count_loop(srv->api.metrics, srv->loop_index);
    xl_deadline_request(srv->deadline, req);
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *path = req->path.base;
    char allow[64] = "";
    int path_known = 0;

    if (header_bytes(req) > XL_SERVER_MAX_HEADER_BYTES) {
        xl_http_send_problem(req, 431, "headers-too-large", "Request headers too large", NULL,
                             "the request line and headers exceed %d bytes", XL_SERVER_MAX_HEADER_BYTES);
        return 0;
    }
    for (size_t i = 0; i < NROUTES; ++i) {
        const route_t *r = &routes[i];
        route_args_t args = {0};
        xl_principal_t who;
        h2o_iovec_t unknown;
        int m = match(r->pattern, path, plen, &args);
        if (m == 0)
            continue;
        path_known = 1;
        if (!h2o_memis(req->method.base, req->method.len, r->method, strlen(r->method))) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", r->method);
            continue;
        }
        obs->route = i;
        if (m < 0) {
            xl_http_send_problem(req, 404, "not-found", "Execution not found", NULL,
                                 "an audit ID is a positive integer up to 2^53-1");
            return 0;
        }
        if (authorizeOrReply(srv, req, r, &who, obs) != 0)
            return 0;
        if (r->params != NULL && xl_http_query_unknown(req, r->params, &unknown)) {
            xl_http_send_problem(req, 400, "unknown-parameter", "Unknown query parameter", NULL,
                                 "%s takes no parameter '%.*s' (it takes: %s)", r->label, (int)unknown.len,
                                 unknown.base, *r->params ? r->params : "none");
            return 0;
        }
        if (xl_http_query_not_utf8(req, &unknown)) {
            xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                 "query parameter %.*s is not valid UTF-8 once percent-decoded", (int)unknown.len,
                                 unknown.base);
            return 0;
        }
        if (!(r->flags & (R_WRITES | R_SERVICE)) && srv->write_only) {
            xl_http_send_problem(req, 405, "write-only", "This node does not serve reads", NULL,
                                 "this execlogd runs the ingest role: read from a replica");
            return 0;
        }
        if ((r->flags & R_WRITES) && check_body_typeOrReply(req) != 0)
            return 0;
        if ((r->flags & R_WRITES) && srv->api.ingest == NULL && srv->stopping) {
            xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
            xl_http_send_problem(req, 503, "shutting-down", "Shutting down", NULL,
                                 "this execlogd is stopping; the write was not taken: retry after the restart");
            return 0;
        }
        if ((r->flags & R_WRITES) && srv->api.ingest == NULL) {
            xl_http_send_problem(req, 405, "read-only", "This node does not accept writes", NULL,
                                 "this execlogd runs without the ingest role");
            return 0;
        }
        if (args.name.base != NULL)
            args.name = xl_http_path_decode(&req->pool, args.name.base, args.name.len);
        if (args.name2.base != NULL)
            args.name2 = xl_http_path_decode(&req->pool, args.name2.base, args.name2.len);
        if (r->flags & R_MIN_POS) {
            xl_pos_t *want;
            int n = parse_positionsOrReply(req, &want);
            if (n < 0)
                return 0;
            if (n > 0 && !reached(&srv->api, want, (size_t)n) && srv->stopping) {
                xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
                xl_http_send_problem(req, 503, "shutting-down", "Shutting down", NULL,
                                     "this execlogd is stopping; retry on another replica or after the restart");
                return 0;
            }
            if (n > 0 && !reached(&srv->api, want, (size_t)n)) {
                int past = check_positionsOrReply(srv, req, want, (size_t)n, 0);
                if (past < 0)
                    return 0;
                /* hold the read until the projection has applied every named position */
                waiter_t *w = (waiter_t *)xl_http_hold(req, sizeof(*w), &waiter_hold);
                w->srv = srv;
                w->route = r;
                w->args = args;
                w->who = who;
                w->want = want;
                w->nwant = (size_t)n;
                w->timeout.cb = on_wait_timeout;
                w->grace.cb = on_wait_grace;
                h2o_linklist_insert(&srv->waiters, &w->link);
                __atomic_add_fetch(&srv->api.first->nwaiting, 1, __ATOMIC_RELAXED);
                h2o_timeout_link(srv->loop, &srv->wait_timeout, &w->timeout);
                if (past)
                    h2o_timeout_link(srv->loop, &srv->grace_timeout, &w->grace);
                obs->held = 1;
                return 0;
            }
        }
        r->fn(srv, req, &who, &args);
        note_held(obs, req);
        return 0;
    }
    if (path_known) {
        xl_http_add_header(req, H2O_TOKEN_ALLOW, allow);
        xl_http_send_problem(req, 405, "method-not-allowed", "Method not allowed", NULL, "allowed here: %s", allow);
    } else {
        xl_http_send_problem(req, 404, "no-route", "No such endpoint", NULL, "see the README for the API's routes");
    }
    return 0;
}

/* ---- progress from the projector ------------------------------------------------------------ */

static void on_progress(void *ctx, const xl_pos_t *pos, size_t n)
{
    xl_server_t *srv = ctx;
    for (size_t i = 0; i != n; ++i)
        xl_api_note_applied(&srv->api, pos[i].partition, pos[i].offset);
    check_waiters(srv);
    xl_stream_notify(srv->api.stream);
}

/* ---- listeners --------------------------------------------------------------------------------- */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *actx = listener->data;
    if (err != NULL)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL)
        return;
    if (xl_deadline_watch(H2O_STRUCT_FROM_MEMBER(xl_server_t, ctx, actx->ctx)->deadline, sock) != 0) {
        h2o_socket_close(sock); /* out of memory: the client retries */
        return;
    }
    h2o_accept(actx, sock);
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* port_override > 0: bind that port instead of listen_at's; reuse_port: SO_REUSEPORT (one listener per loop) */
static int open_listener(const char *listen_at, int loopback_only, int port_override, int reuse_port, int *port,
                         char *err, size_t errlen)
{
    char portbuf[16];
    char host[256];
    const char *colon = strrchr(listen_at, ':');
    if (colon == NULL || (size_t)(colon - listen_at) >= sizeof(host)) {
        snprintf(err, errlen, "listen: '%s' is not host:port", listen_at);
        return -1;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';
    /* [::1]:8080 */
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        ++h;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    snprintf(portbuf, sizeof(portbuf), "%d", port_override);
    int gai = getaddrinfo(*h ? h : NULL, port_override > 0 ? portbuf : colon + 1, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "listen: %s: %s", listen_at, gai_strerror(gai));
        return -1;
    }
    if (loopback_only && !is_loopback(res->ai_addr)) {
        snprintf(err, errlen,
                 "refusing to listen on %s without authentication: it is not a loopback address. Set auth.tokens "
                 "(a tokens file, see ops/tokens.example) to serve other addresses",
                 listen_at);
        freeaddrinfo(res);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "listen: cannot bind %s: %s", listen_at, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sslen);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static h2o_socket_t *start_listener(xl_server_t *srv, const char *at, int first_port, int reuse_port,
                                    h2o_accept_ctx_t *actx, int *port, char *err, size_t errlen)
{
    int fd = open_listener(at, srv->auth == NULL, first_port, reuse_port, port, err, errlen);
    if (fd < 0)
        return NULL;
    h2o_socket_t *sock = h2o_evloop_socket_create(srv->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = actx;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

static void ssl_error(const char *what, const char *file, char *err, size_t errlen)
{
    char reason[256] = "unknown error";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    snprintf(err, errlen, "tls: %s %s: %s", what, file, reason);
}

/* An SSL_CTX for h2 and HTTP/1.1 (ALPN) with the certificate and key. */
static SSL_CTX *tls_create(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_error("cannot create a context", "", err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_error("cannot load the certificate", cert, err, errlen);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ssl_error("cannot load the private key", key, err, errlen);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error("the private key does not match the certificate", key, err, errlen);
        goto fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The page-token key: 32 random bytes in <data_dir>/cursor.key, created once (so tokens survive restarts). */
static int load_cursor_key(const char *data_dir, unsigned char key[XL_CURSOR_KEY_LEN], char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/cursor.key", data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char fresh[XL_CURSOR_KEY_LEN];
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int wfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (wfd < 0 || RAND_bytes(fresh, sizeof(fresh)) != 1 || write(wfd, fresh, sizeof(fresh)) != sizeof(fresh) ||
            fsync(wfd) != 0 || close(wfd) != 0 || rename(tmp, path) != 0) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            if (wfd >= 0)
                close(wfd);
            return -1;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, key, XL_CURSOR_KEY_LEN);
    close(fd);
    if (n != XL_CURSOR_KEY_LEN) {
        snprintf(err, errlen, "%s: expected %d bytes (delete it to make a new key; page tokens then expire)", path,
                 XL_CURSOR_KEY_LEN);
        return -1;
    }
    return 0;
}

h2o_loop_t *xl_server_loop_create(void)
{
    return h2o_evloop_create();
}

xl_server_t *xl_server_create(const xl_server_conf_t *conf, h2o_loop_t *loop, xl_ingest_t *ingest, char *err,
                              size_t errlen)
{
    static xl_metrics_route_t labels[NROUTES + 1];
    xl_server_t *srv = calloc(1, sizeof(*srv)), *first = conf->first;
    SSL_CTX *ssl_ctx = NULL;
    srv->loop = loop;
    srv->first = first != NULL ? first : srv;
    srv->api.first = &srv->first->api;
    srv->loop_index = first != NULL ? conf->loop_index : 0;
    srv->wait_max_ms = conf->wait_max_ms;
    srv->write_only = conf->write_only;
    srv->notify = conf->notify;
    srv->notify_ctx = conf->notify_ctx;
    if (conf->notify != NULL) { /* the first loop's, before the others start */
        ready_notify_ctx = conf->notify_ctx;
        __atomic_store_n(&ready_notify, conf->notify, __ATOMIC_RELEASE);
    }
    h2o_linklist_init_anchor(&srv->waiters);
    h2o_linklist_init_anchor(&srv->inflight);
    srv->api.store = conf->store;
    srv->api.projector = conf->projector;
    srv->api.cache = conf->cache;
    srv->api.ingest = ingest;
    srv->api.info = conf->info;
    srv->api.ready_max_lag = conf->ready_max_lag;
    srv->api.loop = loop;
    for (size_t i = 0; i < NROUTES; ++i)
        labels[i] = (xl_metrics_route_t){routes[i].method, routes[i].pattern};
    labels[NROUTES] = (xl_metrics_route_t){NULL, "unmatched"};
    if ((srv->api.codec = xl_codec_create(err, errlen)) == NULL)
        goto fail;
    if ((srv->deadline = xl_deadline_create(loop, conf->idle_timeout_ms)) == NULL ||
        (srv->api.metrics = first != NULL ? first->api.metrics : xl_metrics_create(labels, NROUTES + 1)) == NULL ||
        (srv->api.stream = xl_stream_create(srv->api.store, srv->api.codec, loop, &srv->api.first->stream_stats,
                                            conf->stream_keepalive_ms)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (load_cursor_key(conf->data_dir, srv->api.cursor_key, err, errlen) != 0)
        goto fail;
    if (conf->auth_tokens != NULL) {
        if ((srv->auth = xl_auth_load(conf->auth_tokens, err, errlen)) == NULL)
            goto fail;
        xl_log_info("http", "auth: %zu bearer tokens from %s", xl_auth_count(srv->auth), conf->auth_tokens);
        if (xl_auth_count(srv->auth) == 0)
            xl_log_warn("http", "auth: %s lists no token: every request but the public routes gets 401",
                        conf->auth_tokens);
    } else {
        xl_log_warn("http", "no auth.tokens: requests are not authenticated (everyone is an admin); serving on "
                            "loopback addresses only (protected mode)");
    }
    if ((conf->listen_tls != NULL) != (conf->tls_cert != NULL) || (conf->tls_cert != NULL) != (conf->tls_key != NULL)) {
        snprintf(err, errlen, "listen.tls, tls.cert and tls.key go together: set all three or none");
        goto fail;
    }
    if (conf->listen_tls != NULL && (ssl_ctx = tls_create(conf->tls_cert, conf->tls_key, err, errlen)) == NULL)
        goto fail;

    srv->queue = h2o_multithread_create_queue(loop);
    if ((srv->digest = xl_digest_create(srv->queue, conf->store)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    srv->publisher = conf->progress;
    if (conf->progress != NULL &&
        (srv->progress = xl_progress_subscribe(conf->progress, srv->queue, on_progress, srv)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    h2o_timeout_init(loop, &srv->wait_timeout, (uint64_t)(conf->wait_max_ms > 0 ? conf->wait_max_ms : 1));
    h2o_timeout_init(loop, &srv->grace_timeout, POSITION_GRACE_MS);

    h2o_config_init(&srv->globalconf);
    /* h2o buffers a body up to this before any handler runs; bodies between
     * max_body and it get our problem+json 413, larger ones h2o's own refusal */
    srv->globalconf.max_request_entity_size =
        conf->max_body * 16 > XL_SERVER_HARD_BODY_LIMIT ? conf->max_body * 16 : XL_SERVER_HARD_BODY_LIMIT;
    /* idle and slow clients: HTTP/1 request reading and keep-alive, HTTP/2 idle connections, TLS handshakes */
    srv->globalconf.http1.req_timeout = (uint64_t)conf->idle_timeout_ms;
    srv->globalconf.http2.idle_timeout = (uint64_t)conf->idle_timeout_ms;
    srv->globalconf.handshake_timeout = (uint64_t)conf->idle_timeout_ms;
    srv->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("execlog/" XL_VERSION));
    h2o_hostconf_t *hostconf = h2o_config_register_host(&srv->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    handler_t *handler = (handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->srv = srv;
    h2o_context_init(&srv->ctx, loop, &srv->globalconf);
    srv->ctx_ready = 1;
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->globalconf.hosts;
    srv->accept_ctx_tls = srv->accept_ctx;
    srv->accept_ctx_tls.ssl_ctx = ssl_ctx;
    ssl_ctx = NULL; /* owned by accept_ctx_tls */

    /* the other loops bind the port the first one got (listen may say port 0) */
    if ((srv->listener = start_listener(srv, conf->listen, first != NULL ? first->port : 0, conf->reuse_port,
                                        &srv->accept_ctx, &srv->port, err, errlen)) == NULL)
        goto fail;
    if (conf->listen_tls != NULL &&
        (srv->listener_tls = start_listener(srv, conf->listen_tls, first != NULL ? first->tls_port : 0,
                                            conf->reuse_port, &srv->accept_ctx_tls, &srv->tls_port, err, errlen)) ==
            NULL)
        goto fail;
    return srv;
fail:
    if (ssl_ctx != NULL)
        SSL_CTX_free(ssl_ctx);
    xl_server_destroy(srv);
    return NULL;
}

static void close_listeners(xl_server_t *srv)
{
    h2o_socket_t **l[] = {&srv->listener, &srv->listener_tls};
    for (size_t i = 0; i < 2; ++i) {
        if (*l[i] != NULL) {
            h2o_socket_read_stop(*l[i]);
            h2o_socket_close(*l[i]);
            *l[i] = NULL;
        }
    }
}

/* READY=1 to the service manager once per process, when /readyz would first answer 200: checked every turn
 * of every loop, and by /readyz itself before it answers (any loop may answer it first) */
static void tell_ready(xl_server_t *srv)
{
    char why[600];
    void (*notify)(void *, const char *) = __atomic_load_n(&ready_notify, __ATOMIC_ACQUIRE);
    if (notify == NULL || __atomic_load_n(&ready_told, __ATOMIC_ACQUIRE) ||
        xl_read_not_ready(&srv->api, why, sizeof(why)) != NULL)
        return;
    if (__atomic_exchange_n(&ready_told, 1, __ATOMIC_ACQ_REL) == 0)
        notify(ready_notify_ctx, "READY=1");
}

/* marks when h2o's second GOAWAY has gone out (see xl_server_run) */
static void on_goaway_sent(h2o_timeout_entry_t *entry) { (void)entry; }

void xl_server_run(xl_server_t *srv, volatile int *stop, int drain_ms)
{
    tell_ready(srv);
    while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
        h2o_evloop_run(srv->loop, 200);
        tell_ready(srv);
    }
    if (srv->notify != NULL)
        srv->notify(srv->notify_ctx, "STOPPING=1");
    /* stop accepting; answer what is held; then let the writes in flight be acknowledged (bounded) */
    srv->stopping = 1;
    srv->api.stopping = 1;
    close_listeners(srv);
    while (!h2o_linklist_is_empty(&srv->waiters)) {
        waiter_t *w = H2O_STRUCT_FROM_MEMBER(waiter_t, link, srv->waiters.next);
        h2o_req_t *req = waiter_release(w);
        if (req == NULL)
            continue;
        xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
        xl_http_send_problem(req, 503, "shutting-down", "Shutting down", NULL,
                             "this execlogd is stopping; retry on another replica or after the restart");
    }
    xl_stream_shutdown(srv->api.stream);
    h2o_context_request_shutdown(&srv->ctx); /* GOAWAY to HTTP/2 clients */
    /* h2o sends its second GOAWAY from the context's one-second timer; an entry
     * linked after its own fires after it (xl_server_flush waits for that) */
    srv->goaway_sent.cb = on_goaway_sent;
    h2o_timeout_link(srv->loop, &srv->ctx.one_sec_timeout, &srv->goaway_sent);
    uint64_t deadline = h2o_now(srv->loop) + (uint64_t)drain_ms;
    while (((srv->api.ingest != NULL && xl_ingest_pending(srv->api.ingest) > 0) || xl_digest_running(srv->digest)) &&
           h2o_now(srv->loop) < deadline)
        h2o_evloop_run(srv->loop, 50);
}

void xl_server_flush(xl_server_t *srv)
{
    /* answers already handed to h2o still need the loop to reach their
     * sockets; and HTTP/2's graceful shutdown closes its connections from a
     * timer (one second after GOAWAY) that must fire before the context goes */
    uint64_t deadline = h2o_now(srv->loop) + 2000;
    do
        h2o_evloop_run(srv->loop, 20);
    while (h2o_timeout_is_linked(&srv->goaway_sent) && h2o_now(srv->loop) < deadline);
    if (h2o_timeout_is_linked(&srv->goaway_sent))
        h2o_timeout_unlink(&srv->goaway_sent);
}

void xl_server_detach(xl_server_t *srv)
{
    srv->api.projector = NULL;
    srv->api.ingest = NULL;
    srv->stopping = 1;
    srv->api.stopping = 1;
}

int xl_server_port(xl_server_t *srv)
{
    return srv->port;
}
int xl_server_tls_port(xl_server_t *srv)
{
    return srv->tls_port;
}

/* A server whose connections were still open at exit: kept, and reachable, on purpose. */
static xl_server_t *lingering;

int xl_server_destroy(xl_server_t *srv)
{
    if (srv == NULL)
        return 0;
    close_listeners(srv);
    xl_digest_destroy(srv->digest); /* answers a digest still on its way */
    srv->digest = NULL;
    if (srv->queue != NULL) {
        xl_progress_unsubscribe(srv->progress); /* hands over what is not heard yet */
        srv->progress = NULL;
    }
    /* requests that outlive us (their connections close later) must not report here */
    while (!h2o_linklist_is_empty(&srv->inflight)) {
        obs_t *o = H2O_STRUCT_FROM_MEMBER(obs_t, link, srv->inflight.next);
        h2o_linklist_unlink(&o->link);
        o->srv = NULL;
    }
    while (!h2o_linklist_is_empty(&srv->waiters))
        waiter_release(H2O_STRUCT_FROM_MEMBER(waiter_t, link, srv->waiters.next));
    xl_stream_destroy(srv->api.stream);
    if (srv->queue != NULL) {
        h2o_multithread_destroy_queue(srv->queue);
        h2o_timeout_dispose(srv->loop, &srv->wait_timeout);
        h2o_timeout_dispose(srv->loop, &srv->grace_timeout);
    }
    if (srv->ctx_ready && xl_deadline_open(srv->deadline) > 0) {
        /* libh2o 2.2 cannot close a client's idle keep-alive connection for
         * us, and disposing a context with connections asserts: the process
         * is exiting, so the context and the loop are left to it */
        xl_log_info("http", "clients still connected at exit; their connections close with the process");
        srv->next_lingering = lingering;
        lingering = srv;
        return 1;
    }
    xl_deadline_destroy(srv->deadline);
    if (srv->ctx_ready) {
        h2o_context_dispose(&srv->ctx);
        h2o_config_dispose(&srv->globalconf);
    }
    if (srv->accept_ctx_tls.ssl_ctx != NULL)
        SSL_CTX_free(srv->accept_ctx_tls.ssl_ctx);
    if (srv->api.codec != NULL)
        xl_codec_destroy(srv->api.codec);
    if (srv->first == srv)
        xl_metrics_destroy(srv->api.metrics); /* the other loops' servers are gone before the first's */
    xl_auth_destroy(srv->auth);
    free(srv->api.applied);
    json_decref(srv->api.info);
    free(srv);
    return 0;
}
