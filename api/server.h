/*
 * The HTTP server: one per h2o event loop (http.threads of them, each on its
 * own thread, see server.c), serving HTTP/1.1 and h2c (prior
 * knowledge) on the plain listener, h2 and HTTP/1.1 (ALPN) on the TLS
 * listener, and the route table that maps every method and path of the API
 * to its handler, the role it needs and the query parameters it takes. It
 * owns no data: the store, the write path and the projector are borrowed
 * from execlogd's main.
 *
 * Without a tokens file it serves only loopback addresses (protected mode);
 * it refuses to bind anything else.
 */
#ifndef XL_API_SERVER_H
#define XL_API_SERVER_H

#include <h2o.h>
#include <jansson.h>

#include "ingest/ingest.h"
#include "projector/progress.h"
#include "projector/projector.h"
#include "projector/store.h"

typedef struct st_xl_server_t xl_server_t;

typedef struct st_xl_server_conf_t {
    const char *listen;     /* host:port, HTTP/1.1 and h2c */
    const char *listen_tls; /* host:port, h2 and HTTP/1.1 over TLS; NULL: none */
    const char *tls_cert;   /* PEM files for listen_tls */
    const char *tls_key;
    const char *auth_tokens; /* tokens file; NULL: unauthenticated, loopback only */
    const char *data_dir;    /* holds cursor.key, the page-token key (created once) */
    size_t max_body;
    int idle_timeout_ms;       /* idle or slow clients */
    int wait_max_ms;           /* longest min_position wait */
    int stream_keepalive_ms;   /* SSE comment lines */
    xl_store_t *store;         /* borrowed */
    xl_projector_t *projector; /* borrowed; NULL if this process does not project */
    /* borrowed; the server subscribes on its loop (progress wakes min_position
     * waits, long polls and SSE streams); NULL: nothing is heard */
    xl_progress_t *progress;
    xl_cache_t *cache;         /* answers of GET /v1/executions/{id}, borrowed; NULL: none */
    json_t *info;              /* GET /v1/info body; reference stolen */
    int64_t ready_max_lag;     /* /readyz threshold */
    int write_only;            /* role ingest: the read routes answer 405 (the projection is for the write rules) */
    /* the service manager's readiness protocol (sd_notify): called on the loop thread with "READY=1" once
     * GET /readyz would first answer 200, and "STOPPING=1" when the stop begins; NULL: not told */
    void (*notify)(void *ctx, const char *state);
    void *notify_ctx;
    /* http.threads > 1: the servers of loops 1.. name the first loop's server, whose ports they bind too
     * (reuse_port: SO_REUSEPORT on every listener) and whose HTTP metrics and counters they share */
    xl_server_t *first; /* NULL: this is the first */
    size_t loop_index;  /* 1.. for the others (execlog_http_loop_requests_total{loop=}) */
    int reuse_port;
} xl_server_conf_t;

/** @brief Create the event loop (the write path needs it before the server listens). */
h2o_loop_t *xl_server_loop_create(void);

/**
 * @brief Bind the listeners on loop and prepare the routes.
 * ingest may be NULL (a read-only replica answers writes with 405).
 * @return the server (xl_server_destroy) or NULL with err filled.
 */
xl_server_t *xl_server_create(const xl_server_conf_t *conf, h2o_loop_t *loop, xl_ingest_t *ingest, char *err,
                              size_t errlen);
/**
 * @brief Release the server (the other loops' servers before the first's,
 * whose metrics they use). @return 0, or 1 when clients still held
 * connections: then the server and its event loop are left in place for the
 * exiting process (libh2o 2.2 cannot dispose a context with connections).
 */
int xl_server_destroy(xl_server_t *srv);

/**
 * @brief Run the loop until *stop becomes non-zero (a signal handler sets
 * it), then stop accepting, answer what is held (long polls, streams,
 * min_position waits) and let writes in flight be acknowledged, for at most
 * drain_ms. Tells conf->notify READY=1 once ready, STOPPING=1 at the stop.
 */
void xl_server_run(xl_server_t *srv, volatile int *stop, int drain_ms);

/**
 * @brief The projector and the write path are about to be destroyed: from
 * now on the server no longer uses them (writes and /readyz answer 503,
 * /metrics leaves their counters out). Call after xl_server_run and before
 * xl_projector_destroy / xl_ingest_destroy.
 */
void xl_server_detach(xl_server_t *srv);

/** @brief Run the loop briefly so that answers already sent reach their sockets. */
void xl_server_flush(xl_server_t *srv);

/**
 * @brief Parse one value of the min_position parameter, "P:O[,P:O...]" (a
 * partition 0..INT32_MAX and an offset >= 0 each, as a write answers its
 * position), appending to want[*n .. max). value is borrowed for the call.
 * Pure: no request, no answer.
 * @return 0 with *n advanced, or -EINVAL (malformed, or more than max in all;
 * want[*n ..] may then hold part of the value).
 */
int xl_server_parse_positions(const char *value, size_t vlen, xl_pos_t *want, size_t max, size_t *n);

/* One row of the route table, as tests and documents see it (the handler stays private). */
typedef struct st_xl_server_route_info_t {
    const char *method;  /* "GET" */
    const char *pattern; /* "/v1/executions/{id}": {id} is an audit ID segment, {name} any one segment */
    int role;            /* the least role (xl_role_t); XL_ROLE_NONE: public */
    const char *params;  /* the query parameters it takes, comma-separated; NULL: any (not checked) */
    int all_tenants;     /* shows every tenant's data: a tenant's token gets 403 */
} xl_server_route_info_t;

/**
 * @brief Row i of the route table (rows count from 0). Static strings, valid
 * for the life of the process; no server needed.
 * @return 0 with *info filled, or -ENOENT past the last row.
 */
int xl_server_route_info(size_t i, xl_server_route_info_t *info);

/** @brief The port the plain listener is bound to (useful with port 0). */
int xl_server_port(xl_server_t *srv);
/** @brief The port of the TLS listener, 0 if none. */
int xl_server_tls_port(xl_server_t *srv);

#endif
