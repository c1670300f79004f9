/*
 * The read endpoints. Each handler answers exactly once, from reads of the
 * RocksDB projections; none of them writes. Every handler checks what the
 * caller may see: an execution of another tenant is answered 404, exactly
 * like one that does not exist, and lists leave such executions out.
 */
#ifndef XL_API_READ_H
#define XL_API_READ_H

#include <h2o.h>
#include <h2o/multithread.h>
#include <jansson.h>
#include <pthread.h>

#include "api/auth.h"
#include "api/metrics.h"
#include "api/query.h"
#include "ingest/ingest.h"
#include "projector/projector.h"
#include "projector/store.h"

typedef struct st_xl_stream_t xl_stream_t;

#define XL_CURSOR_KEY_LEN 32

/** What the handlers read from; owned by the server, used on its loop thread only. */
typedef struct st_xl_api_t {
    xl_store_t *store;
    xl_codec_t *codec;
    xl_projector_t *projector; /* NULL when this process does not project */
    xl_cache_t *cache;         /* answers of xl_read_execution, filled here, invalidated by the projector; NULL: none */
    xl_ingest_t *ingest;       /* NULL when this process does not ingest */
    json_t *info;
    int64_t ready_max_lag; /* /readyz: most events the projector may be behind */
    h2o_loop_t *loop;
    xl_stream_t *stream;   /* long polls and SSE streams (api/stream.h; the server's to call) */
    xl_stream_stats_t stream_stats; /* kept by the streams of every loop (in the first loop's api), shown by /metrics */
    struct st_xl_api_t *first;      /* the api of the first HTTP loop (itself there): the shared counters */
    xl_metrics_t *metrics; /* HTTP counters */
    /* the projection's progress, heard by the server's progress subscription: applied[p] is the
     * next offset of partition p not yet applied, -1 while unknown */
    int64_t *applied;
    size_t napplied;
    uint64_t applied_batches; /* progress reports received */
    /* projector apply rate: samples of (ms, events applied) */
    struct {
        uint64_t at_ms, applied;
    } rate[16];
    size_t nrate;
    unsigned char cursor_key[XL_CURSOR_KEY_LEN]; /* authenticates page tokens */
    size_t nwaiting;                             /* reads waiting for their min_position, every loop (first) */
    int stopping; /* shutting down: /readyz answers 503 */
} xl_api_t;

/** GET /v1/executions/{audit_id} (?as_of=ms replays the archive up to that time) */
void xl_read_execution(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id);
/** GET /v1/messages/{message_id}: the executions started for a message, newest first */
void xl_read_message(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t message_id);
/** GET /v1/executions/{audit_id}/lineage: the retry chain and the child executions */
void xl_read_lineage(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id);
/** GET /v1/flows/{flow_id}: counts, percentiles, success rate and the latest run */
void xl_read_flow(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t flow_id);
/** GET /v1/executions: filtered list with a keyset page token (list.c) */
void xl_read_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who);

/* Bytes of the arguments' hash a page token carries. */
#define XL_LIST_TOKEN_HASH_LEN 8

/**
 * @brief Decode a page token of GET /v1/executions (list.c): its base64url
 * (canonical form only), version byte and HMAC, made with cursor_key
 * (borrowed), are checked. Pure: no request, no answer.
 * @return 0 with args_hash (the hash of the arguments it was issued for; the
 * caller compares it) and last (created_ms, audit_id of the last key seen)
 * filled; -EINVAL when it is not a page token of this API, -EBADMSG when it
 * was altered or made with another key, -ENOMEM (outputs untouched on failure).
 */
int xl_list_token_decode(const unsigned char cursor_key[XL_CURSOR_KEY_LEN], const char *token, size_t len,
                         unsigned char args_hash[XL_LIST_TOKEN_HASH_LEN], int64_t last[2]);
/** GET /v1/schemas */
void xl_read_schemas(xl_api_t *api, h2o_req_t *req);
/** GET /v1/info */
/** @brief GET /v1/info; show_brokers: 1 for a caller who may see the Kafka bootstrap list (admins of every tenant). */
void xl_read_info(xl_api_t *api, h2o_req_t *req, int show_brokers);
/** GET /healthz: the process serves. */
void xl_read_healthz(xl_api_t *api, h2o_req_t *req);
/** GET /readyz: 200 while the projector runs and is at most ready_max_lag events behind, else 503. */
void xl_read_readyz(xl_api_t *api, h2o_req_t *req);
/**
 * @brief Why GET /readyz would answer 503 (buf may hold the text), or NULL
 * when it would answer 200. Loop thread.
 */
const char *xl_read_not_ready(xl_api_t *api, char *buf, size_t len);
/** GET /metrics: Prometheus text format (metrics of the whole process). */
void xl_read_metrics(xl_api_t *api, h2o_req_t *req);

/** @brief Record a progress report (loop thread). */
void xl_api_note_applied(xl_api_t *api, int32_t partition, int64_t next_offset);
#endif
