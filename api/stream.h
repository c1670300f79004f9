/*
 * Responses that follow the projection: the event history of an execution
 * (paged, and long-polled with ?wait=), and Server-Sent Events of every new
 * event (GET /v1/stream). Both are woken by the projector's progress
 * reports (xl_stream_notify), never by polling the store on a timer.
 *
 * A held response is an xl_http_hold (ingest/http.h), started and fed with
 * h2o_send; the client going away releases everything the request holds. SSE event ids are feed sequence numbers: they are valid on the
 * replica that issued them (the feed is replica-local).
 *
 * Loop thread only.
 */
#ifndef XL_API_STREAM_H
#define XL_API_STREAM_H

#include <h2o.h>

#include "api/auth.h"
#include "api/query.h"

typedef struct st_xl_stream_t xl_stream_t;

/**
 * @brief The streams reading store with codec on loop (all borrowed for the
 * streams' lifetime); they keep their counters in *stats (borrowed too;
 * several loops' streams may share it: updated atomically).
 * keepalive_ms is how often an idle SSE stream gets a comment line.
 * @return NULL on allocation failure; free with xl_stream_destroy.
 */
xl_stream_t *xl_stream_create(xl_store_t *store, xl_codec_t *codec, h2o_loop_t *loop, xl_stream_stats_t *stats,
                              int keepalive_ms);
/** @brief Free; every request still held is detached (their connections are gone by then). */
void xl_stream_destroy(xl_stream_t *stream);

/** @brief The projection moved: wake the long polls and streams that have something new. */
void xl_stream_notify(xl_stream_t *stream);

/** @brief Graceful shutdown: answer every long poll with what it has, end every SSE stream. */
void xl_stream_shutdown(xl_stream_t *stream);

/** GET /v1/executions/{audit_id}/events (after_seq, before_seq, limit, reverse, wait) */
void xl_stream_events(xl_stream_t *stream, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id);

/** GET /v1/stream (flow_id, tenant_id, type; Last-Event-ID or last_event_id; max_events, timeout) */
void xl_stream_sse(xl_stream_t *stream, h2o_req_t *req, const xl_principal_t *who);

#endif
