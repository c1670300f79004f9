/*
 * The read endpoints. Each handler answers exactly once, from point reads of
 * the RocksDB projections; none of them writes.
 */
#ifndef XL_API_READ_H
#define XL_API_READ_H

#include <h2o.h>
#include <jansson.h>

#include "ingest/ingest.h"
#include "projector/projector.h"
#include "projector/store.h"

/** What the handlers read from; owned by the server, used on its loop thread only. */
typedef struct st_xl_api_t {
    xl_store_t *store;
    xl_codec_t *codec;
    xl_projector_t *projector; /* NULL when this process does not project */
    xl_ingest_t *ingest;       /* NULL when this process does not ingest */
    json_t *info;
    int64_t ready_max_lag; /* /readyz: most events the projector may be behind */
} xl_api_t;

/** GET /v1/executions/{audit_id} */
void xl_read_execution(xl_api_t *api, h2o_req_t *req, int64_t audit_id);
/** GET /v1/info */
void xl_read_info(xl_api_t *api, h2o_req_t *req);
/** GET /healthz: the process serves. */
void xl_read_healthz(xl_api_t *api, h2o_req_t *req);
/** GET /readyz: 200 while the projector runs and is at most ready_max_lag events behind, else 503. */
void xl_read_readyz(xl_api_t *api, h2o_req_t *req);

#endif
