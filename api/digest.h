/*
 * GET /v1/admin/digest: the SHA-256 digest of the projections, to compare
 * replicas. It reads every key, so it runs on a thread of its own and its
 * answer comes back to the loop through a receiver; one digest runs at a
 * time per loop (a second request gets 503 busy).
 */
#ifndef XL_API_DIGEST_H
#define XL_API_DIGEST_H

#include <h2o.h>
#include <h2o/multithread.h>

#include "projector/store.h"

typedef struct st_xl_digest_t xl_digest_t;

/**
 * @brief The digest endpoint of one loop, answering through queue (the loop's).
 * @return NULL when out of memory; free with xl_digest_destroy.
 */
xl_digest_t *xl_digest_create(h2o_multithread_queue_t *queue, xl_store_t *store);
/** @brief Answer req: start the digest, or 503 while one runs. Loop thread. */
void xl_digest_handle(xl_digest_t *dg, h2o_req_t *req);
/** @brief 1 while a digest runs or its answer has not gone out. */
int xl_digest_running(const xl_digest_t *dg);
/**
 * @brief Wait for the thread, answer its request now if still there, and free
 * (before the store closes and before the queue goes). NULL is fine.
 */
void xl_digest_destroy(xl_digest_t *dg);

#endif
