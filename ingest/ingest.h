/*
 * The write API: HTTP handlers that turn JSON state changes into Avro events
 * on the topic, and answer only once the write is acknowledged:
 *   delivered  the Kafka delivery report came back (idempotent, acks=all)
 *   projected  ...and the projector has made the event durable in RocksDB
 *              (needed on the embedded broker, whose log is in memory)
 * A request never produces anything unless it passed validation, and never
 * gets a success answer for a write that was not acknowledged: after the
 * timeout it gets 503 with Retry-After, and a retry with the same event_id
 * is answered like the first call.
 *
 * Everything here runs on the HTTP event-loop thread; the projector's
 * progress arrives there through a subscription (projector/progress.h).
 */
#ifndef XL_INGEST_INGEST_H
#define XL_INGEST_INGEST_H

#include <h2o.h>
#include <h2o/multithread.h>
#include <jansson.h>

#include "projector/progress.h"
#include "projector/store.h"

typedef struct st_xl_ingest_t xl_ingest_t;

typedef struct st_xl_ingest_conf_t {
    const char *topic;
    const char *data_dir; /* audit ID reservations */
    int node_id;
    int ack_projected; /* 1: wait for the projection (see above) */
    int catch_up;      /* 1: other nodes write too: catch up to the log end before "not found" (catchup.h) */
    int partitions;    /* of the topic; every copy of a create with an event_id goes to one partition */
    int timeout_ms;
    size_t max_body;
    /* librdkafka properties for the producer: name/value pairs, borrowed */
    const char *const *kafka_props;
    size_t nkafka_props;
    /* the projector's progress (ack_projected waits, catch-up); the write
     * path subscribes on its loop; borrowed; NULL: nothing is heard */
    xl_progress_t *progress;
} xl_ingest_conf_t;

/**
 * @brief Create the write path on loop (whose thread must call every handler).
 * store is borrowed for the ingest's lifetime.
 * @return the ingest (xl_ingest_destroy) or NULL with err filled.
 */
xl_ingest_t *xl_ingest_create(const xl_ingest_conf_t *conf, h2o_loop_t *loop, xl_store_t *store, char *err,
                              size_t errlen);
/**
 * @brief A lane of the write path on another event loop (one per HTTP loop):
 * its requests, delivery reports and projector progress stay on loop; the
 * producer, the audit IDs and the table of creates in flight (so a repeated
 * event_id is coalesced whichever loop it arrives on) are primary's. The
 * lane is freed with primary. Call on loop's thread (any number of loops at
 * once), before the producer stops.
 * @return the lane or NULL with err filled.
 */
xl_ingest_t *xl_ingest_add_lane(xl_ingest_t *primary, h2o_loop_t *loop, char *err, size_t errlen);

/**
 * @brief Stop the catch-ups and flush the producer (bounded by the timeout);
 * the last delivery reports wait on the lanes' queues. Any thread, with every
 * loop stopped; after the projector is destroyed (it reports here).
 */
void xl_ingest_stop(xl_ingest_t *primary);

/**
 * @brief After xl_ingest_stop: hear the lane's last reports, answer 503 to
 * what still waits, release its loop part. On the lane's loop thread (h2o's
 * buffers belong to the thread that runs the loop). NULL is fine.
 */
void xl_ingest_dispose_lane(xl_ingest_t *lane);

/**
 * @brief Stop (if not yet), dispose of the lanes not disposed of yet, free
 * the primary and its lanes. With one loop this is the whole teardown.
 */
void xl_ingest_destroy(xl_ingest_t *ing);

/** @brief Requests still waiting for an acknowledgement (graceful shutdown waits for 0). */
size_t xl_ingest_pending(xl_ingest_t *ing); /* of this lane */

/*
 * Handlers; each sends exactly one answer, now or once acknowledged.
 * scope is the tenant the caller is confined to (borrowed for the call), or
 * NULL for every tenant. A confined caller creates executions in its tenant
 * only (tenant_id is filled in, or 403 when it names another), and an
 * execution of another tenant is "not found" to it (404), also as the parent
 * of a retry or a child: existence is not leaked. A batch checks each line.
 */
void xl_ingest_handle_create(xl_ingest_t *ing, h2o_req_t *req, const xl_str_t *scope);
void xl_ingest_handle_append(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, const xl_str_t *scope);
void xl_ingest_handle_retry(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, const xl_str_t *scope);
void xl_ingest_handle_cancel(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, const xl_str_t *scope);
void xl_ingest_handle_batch(xl_ingest_t *ing, h2o_req_t *req, const xl_str_t *scope);
/**
 * A user's control request on an execution: type is XL_EVENT_PAUSE_REQUESTED,
 * _RESUME_, _CANCEL_, _FORCE_CANCEL_ or _RETRY_REQUESTED (ingest/control.h
 * decides: written as an event, answered as a repeat, or refused with 409).
 * xl_ingest_handle_cancel is this with XL_EVENT_CANCEL_REQUESTED.
 */
void xl_ingest_handle_control(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, int type, const xl_str_t *scope);

/**
 * A single write's success answer, reshaped before it is sent (the
 * compatibility routes): body (stolen) is the answer the native route would
 * send, *status its code; returns the body to send (a new reference; may be
 * body) and may change *status. Called on the loop thread while req lives.
 */
typedef json_t *(*xl_ingest_reshape_cb)(void *ctx, h2o_req_t *req, int *status, json_t *body);

/**
 * @brief One write of kind XL_WRITE_CREATE, _APPEND or _RETRY (control 0),
 * or a control request (kind XL_WRITE_CANCEL, control its event type as in
 * xl_ingest_handle_control), whose JSON is body (in req->pool, not req's
 * own entity), checked and acknowledged exactly as on the native routes;
 * problems are answered as there, a success through reshape (NULL: as is).
 */
void xl_ingest_handle_as(xl_ingest_t *ing, h2o_req_t *req, int kind, int control, int64_t audit_id,
                        const xl_str_t *scope, h2o_iovec_t body, xl_ingest_reshape_cb reshape, void *ctx);

/**
 * @brief The next non-blank line of an NDJSON batch body (lines end at '\n';
 * a line of only spaces, tabs and CRs is blank and skipped). *pos and *lineno
 * start at 0 and are advanced past the line; *lineno is then its physical
 * line number, from 1. Pure: no HTTP, no allocation.
 * @return 1 with line set to the bytes from its first non-blank one up to its
 * '\n' (excluded; trailing blanks kept; borrowed from body), or 0 at the end.
 */
int xl_ingest_next_line(const char *body, size_t len, size_t *pos, size_t *lineno, h2o_iovec_t *line);

typedef struct st_xl_ingest_stats_t {
    uint64_t requests_ok, requests_rejected, requests_unavailable;
    uint64_t produced, delivered, delivery_failed;
    size_t waiting; /* writes waiting for an acknowledgement */
} xl_ingest_stats_t;
void xl_ingest_get_stats(xl_ingest_t *ing, xl_ingest_stats_t *stats);

#endif
