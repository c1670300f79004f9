/*
 * Catching up before "not found": on a cluster of execlog nodes, an
 * execution created through another node may be in the log but not yet in
 * this node's projection. Before the write path answers 404 for an execution
 * it does not know, it waits (bounded by the write's own timeout) until the
 * local projection has reached the end of the log as it was when the
 * question arose; only then is "not found" the truth.
 *
 * The log end is asked of the brokers (a ListOffsets round trip per
 * partition) on a thread of this module, never on the event loop; questions
 * that arrive while one is in flight share the next answer. Everything else
 * runs on the loop thread.
 */
#ifndef XL_INGEST_CATCHUP_H
#define XL_INGEST_CATCHUP_H

#include <h2o.h>
#include <stdint.h>

#include "ingest/producer.h"

typedef struct st_xl_catchup_t xl_catchup_t;

/** One waiter; the caller owns it (embedded in its request state) and keeps it until cb or cancel. */
typedef struct st_xl_catchup_wait_t {
    /* called on the loop thread once the projection reached the log end, or
     * with failed = 1 when the log end could not be read */
    void (*cb)(struct st_xl_catchup_wait_t *w);
    int failed;
    /* private */
    h2o_linklist_t link;
    uint64_t generation; /* the question it waits for the answer of */
    int64_t *want;       /* log end per partition, once answered */
    size_t nwant;
} xl_catchup_wait_t;

/**
 * @brief Start the module on loop; prod is borrowed (it reads the log end
 * through it) and must outlive the module. @return NULL with err on failure.
 */
xl_catchup_t *xl_catchup_create(h2o_loop_t *loop, xl_producer_t *prod, int timeout_ms, char *err, size_t errlen);
/** @brief Stop the thread; waiters still registered are dropped without a call. NULL is fine. */
void xl_catchup_destroy(xl_catchup_t *cu);

/** @brief Call w->cb once the projection has reached the log end as of now. */
void xl_catchup_wait(xl_catchup_t *cu, xl_catchup_wait_t *w);
/** @brief Forget w (no call follows); harmless if it is not waiting. */
void xl_catchup_cancel(xl_catchup_t *cu, xl_catchup_wait_t *w);
/** @brief Projector progress (loop thread): partition is durable below next_offset. */
void xl_catchup_applied(xl_catchup_t *cu, int32_t partition, int64_t next_offset);

#endif
