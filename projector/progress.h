/*
 * The projector's progress, published once and heard by any number of
 * subscribers, each on its own event loop. The projector thread (or any
 * thread) publishes "partition p is applied below next_offset"; every
 * subscriber hears it later on its loop, through an h2o multithread queue,
 * with the partitions whose position moved since it last heard. Positions
 * only grow: a report at or below what was published is dropped, and
 * reports that arrive faster than a loop runs are merged (one message in
 * flight per subscriber, no allocation per report). A subscriber that joins
 * late first hears every position published so far.
 *
 * Uses h2o's multithread queue (the hand-over to an event loop) and nothing
 * else of h2o: no HTTP here. It never blocks a publisher for longer than a
 * mutex held for a table update.
 */
#ifndef XL_PROJECTOR_PROGRESS_H
#define XL_PROJECTOR_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include <h2o/multithread.h>

#include "schemas/base/position.h"

typedef struct st_xl_progress_t xl_progress_t;
typedef struct st_xl_progress_sub_t xl_progress_sub_t;

/**
 * Called on the subscriber's loop thread with the partitions whose applied
 * position grew since the last call: pos[i].offset is the next offset of
 * pos[i].partition that is not applied yet. pos is borrowed for the call.
 */
typedef void (*xl_progress_cb)(void *ctx, const xl_pos_t *pos, size_t n);

/** @brief A publisher without subscribers. @return it (free with xl_progress_destroy), or NULL (out of memory). */
xl_progress_t *xl_progress_create(void);
/** @brief Free the publisher; every subscriber must have unsubscribed. */
void xl_progress_destroy(xl_progress_t *pub);

/**
 * @brief Publish that partition is applied below next_offset. Safe from any
 * thread. A partition below 0 or a position at or below the last one
 * published is ignored.
 */
void xl_progress_publish(xl_progress_t *pub, int32_t partition, int64_t next_offset);

/**
 * @brief What was published for partition so far (its next offset not
 * applied), whether or not a subscriber heard it yet; -1 if nothing. Safe
 * from any thread.
 */
int64_t xl_progress_published(xl_progress_t *pub, int32_t partition);

/**
 * @brief Hear the progress on queue's loop: cb(ctx, ...) runs there, first
 * with what was published so far (if anything). Call on that loop's thread.
 * @return the subscription (end it with xl_progress_unsubscribe), or NULL
 * (out of memory).
 */
xl_progress_sub_t *xl_progress_subscribe(xl_progress_t *pub, h2o_multithread_queue_t *queue, xl_progress_cb cb,
                                         void *ctx);

/**
 * @brief Stop hearing the progress: what was published but not heard yet is
 * handed to the callback now, then the subscription is freed. Call on the
 * subscriber's loop thread, before its queue is destroyed.
 */
void xl_progress_unsubscribe(xl_progress_sub_t *sub);

#endif
