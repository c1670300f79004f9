/*
 * HTTP server and route table (see server.h).
 *
 * libh2o 2.2 gives the whole request body to the handler, so the route
 * table below is the one place that decides what a (method, path) means.
 * A path that matches no row answers 404, a known path with another method
 * 405 with Allow; both as problem+json.
 */
#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/http.h"
#include "api/log.h"
#include "api/read.h"

/* Bodies up to this many bytes are read so that an oversized one gets a problem+json 413. */
#define XL_SERVER_HARD_BODY_LIMIT (64 * 1024 * 1024)

typedef struct st_route_t {
    const char *method;
    const char *pattern; /* "{id}" stands for one path segment holding an audit ID */
    int writes;          /* needs the write path */
    void (*fn)(xl_server_t *srv, h2o_req_t *req, int64_t id);
} route_t;

struct st_xl_server_t {
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_loop_t *loop;
    h2o_socket_t *listener;
    int port;
    int ctx_ready;
    xl_api_t api;
};

typedef struct st_handler_t {
    h2o_handler_t super;
    xl_server_t *srv;
} handler_t;

/* ---- adapters from the route table to the modules ------------------------- */

static void r_create(xl_server_t *srv, h2o_req_t *req, int64_t id) { xl_ingest_handle_create(srv->api.ingest, req); }
static void r_append(xl_server_t *srv, h2o_req_t *req, int64_t id)
{
    xl_ingest_handle_append(srv->api.ingest, req, id);
}
static void r_retry(xl_server_t *srv, h2o_req_t *req, int64_t id) { xl_ingest_handle_retry(srv->api.ingest, req, id); }
static void r_cancel(xl_server_t *srv, h2o_req_t *req, int64_t id)
{
    xl_ingest_handle_cancel(srv->api.ingest, req, id);
}
static void r_batch(xl_server_t *srv, h2o_req_t *req, int64_t id) { xl_ingest_handle_batch(srv->api.ingest, req); }
static void r_execution(xl_server_t *srv, h2o_req_t *req, int64_t id) { xl_read_execution(&srv->api, req, id); }
static void r_info(xl_server_t *srv, h2o_req_t *req, int64_t id) { xl_read_info(&srv->api, req); }
static void r_healthz(xl_server_t *srv, h2o_req_t *req, int64_t id) { xl_read_healthz(&srv->api, req); }
static void r_readyz(xl_server_t *srv, h2o_req_t *req, int64_t id) { xl_read_readyz(&srv->api, req); }

static const route_t routes[] = {
    {"POST", "/v1/executions", 1, r_create},
    {"GET", "/v1/executions/{id}", 0, r_execution},
    {"POST", "/v1/executions/{id}/events", 1, r_append},
    {"POST", "/v1/executions/{id}/retry", 1, r_retry},
    {"POST", "/v1/executions/{id}/cancel", 1, r_cancel},
    {"POST", "/v1/events", 1, r_batch},
    {"GET", "/v1/info", 0, r_info},
    {"GET", "/healthz", 0, r_healthz},
    {"GET", "/readyz", 0, r_readyz},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/*
 * Match path (no query) against pattern. @return 1 on a match (id filled),
 * 0 on no match, -1 when the shape matches but the ID is not a valid one.
 */
static int match(const char *pattern, const char *path, size_t len, int64_t *id)
{
    const char *p = pattern, *s = path, *end = path + len;
    while (*p != '\0') {
        if (strncmp(p, "{id}", 4) == 0) {
            const char *seg = s;
            while (s < end && *s != '/')
                ++s;
            int bad = xl_http_parse_id(seg, (size_t)(s - seg), XL_AUDIT_ID_MAX, id) != 0;
            p += 4;
            if (*p == '\0' && s != end)
                return 0;
            if (*p != '\0' && (s == end || *s != *p))
                return 0;
            if (bad) {
                /* the rest of the shape must still match for this to be "this route" */
                int64_t ignored;
                int rest = *p == '\0' ? 1 : match(p, s, (size_t)(end - s), &ignored);
                return rest != 0 ? -1 : 0;
            }
            continue;
        }
        if (s == end || *s != *p)
            return 0;
        ++p;
        ++s;
    }
    return s == end ? 1 : 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    xl_server_t *srv = ((handler_t *)self)->srv;
    size_t plen = req->path_normalized.len;
    const char *path = req->path_normalized.base;
    char allow[64] = "";
    int path_known = 0;
    for (size_t i = 0; i < NROUTES; ++i) {
        int64_t id = 0;
        int m = match(routes[i].pattern, path, plen, &id);
        if (m == 0)
            continue;
        path_known = 1;
        if (!h2o_memis(req->method.base, req->method.len, routes[i].method, strlen(routes[i].method))) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", routes[i].method);
            continue;
        }
        if (m < 0) {
            xl_http_send_problem(req, 404, "not-found", "Execution not found", NULL,
                                 "an audit ID is a positive integer up to 2^53-1");
            return 0;
        }
        if (routes[i].writes && srv->api.ingest == NULL) {
            xl_http_send_problem(req, 405, "read-only", "This node does not accept writes", NULL,
                                 "this execlogd runs without the ingest role");
            return 0;
        }
        routes[i].fn(srv, req, id);
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

/* ---- listener --------------------------------------------------------------- */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    xl_server_t *srv = listener->data;
    if (err != NULL)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&srv->accept_ctx, sock);
}

static int open_listener(const char *listen_at, int *port, char *err, size_t errlen)
{
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
    int gai = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "listen: %s: %s", listen_at, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
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

h2o_loop_t *xl_server_loop_create(void) { return h2o_evloop_create(); }

xl_server_t *xl_server_create(const xl_server_conf_t *conf, h2o_loop_t *loop, xl_ingest_t *ingest, char *err,
                              size_t errlen)
{
    xl_server_t *srv = calloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->api.store = conf->store;
    srv->api.projector = conf->projector;
    srv->api.ingest = ingest;
    srv->api.info = conf->info;
    srv->api.ready_max_lag = conf->ready_max_lag;
    if ((srv->api.codec = xl_codec_create(err, errlen)) == NULL)
        goto fail;

    h2o_config_init(&srv->globalconf);
    /* h2o buffers a body up to this before any handler runs; bodies between
     * max_body and it get our problem+json 413, larger ones h2o's own refusal */
    srv->globalconf.max_request_entity_size = conf->max_body * 16 > XL_SERVER_HARD_BODY_LIMIT
                                                  ? conf->max_body * 16
                                                  : XL_SERVER_HARD_BODY_LIMIT;
    h2o_hostconf_t *hostconf = h2o_config_register_host(&srv->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    handler_t *handler = (handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->srv = srv;
    h2o_context_init(&srv->ctx, loop, &srv->globalconf);
    srv->ctx_ready = 1;
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->globalconf.hosts;

    int fd = open_listener(conf->listen, &srv->port, err, errlen);
    if (fd < 0)
        goto fail;
    srv->listener = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    srv->listener->data = srv;
    h2o_socket_read_start(srv->listener, on_accept);
    return srv;
fail:
    xl_server_destroy(srv);
    return NULL;
}

void xl_server_run(xl_server_t *srv, volatile int *stop, int drain_ms)
{
    while (!*stop)
        h2o_evloop_run(srv->loop, 200);
    /* stop accepting, then let the writes in flight be acknowledged (bounded) */
    if (srv->listener != NULL) {
        h2o_socket_read_stop(srv->listener);
        h2o_socket_close(srv->listener);
        srv->listener = NULL;
    }
    h2o_context_request_shutdown(&srv->ctx); /* GOAWAY to HTTP/2 clients */
    uint64_t deadline = h2o_now(srv->loop) + (uint64_t)drain_ms;
    while (srv->api.ingest != NULL && xl_ingest_pending(srv->api.ingest) > 0 && h2o_now(srv->loop) < deadline)
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
    while (h2o_timeout_is_linked(&srv->ctx.http2._graceful_shutdown_timeout) && h2o_now(srv->loop) < deadline);
    if (h2o_timeout_is_linked(&srv->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&srv->ctx.http2._graceful_shutdown_timeout);
}

int xl_server_port(xl_server_t *srv) { return srv->port; }

void xl_server_destroy(xl_server_t *srv)
{
    if (srv == NULL)
        return;
    if (srv->listener != NULL) {
        h2o_socket_read_stop(srv->listener);
        h2o_socket_close(srv->listener);
    }
    if (srv->ctx_ready) {
        h2o_context_dispose(&srv->ctx);
        h2o_config_dispose(&srv->globalconf);
    }
    if (srv->api.codec != NULL)
        xl_codec_destroy(srv->api.codec);
    json_decref(srv->api.info);
    free(srv);
}
