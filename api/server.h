/*
 * The HTTP server: one h2o event loop serving HTTP/1.1 and h2c (prior
 * knowledge) on the plain listener, and the route table that maps every
 * method and path of the API to its handler. It owns no data: the store,
 * the write path and the projector are borrowed from execlogd's main.
 */
#ifndef XL_API_SERVER_H
#define XL_API_SERVER_H

#include <h2o.h>
#include <jansson.h>

#include "ingest/ingest.h"
#include "projector/projector.h"
#include "projector/store.h"

typedef struct st_xl_server_t xl_server_t;

typedef struct st_xl_server_conf_t {
    const char *listen; /* host:port */
    size_t max_body;
    xl_store_t *store;          /* borrowed */
    xl_projector_t *projector;  /* borrowed; NULL if this process does not project */
    json_t *info;               /* GET /v1/info body; reference stolen */
    int64_t ready_max_lag;      /* /readyz threshold */
} xl_server_conf_t;

/** @brief Create the event loop (the write path needs it before the server listens). */
h2o_loop_t *xl_server_loop_create(void);

/**
 * @brief Bind the listener on loop and prepare the routes.
 * ingest may be NULL (a read-only replica answers writes with 405).
 * @return the server (xl_server_destroy) or NULL with err filled.
 */
xl_server_t *xl_server_create(const xl_server_conf_t *conf, h2o_loop_t *loop, xl_ingest_t *ingest, char *err,
                              size_t errlen);
void xl_server_destroy(xl_server_t *srv);

/**
 * @brief Run the loop until *stop becomes non-zero (a signal handler sets
 * it), then stop accepting and let writes in flight be acknowledged, for at
 * most drain_ms.
 */
void xl_server_run(xl_server_t *srv, volatile int *stop, int drain_ms);

/** @brief Run the loop briefly so that answers already sent reach their sockets. */
void xl_server_flush(xl_server_t *srv);

/** @brief The port the listener is bound to (useful with port 0). */
int xl_server_port(xl_server_t *srv);

#endif
