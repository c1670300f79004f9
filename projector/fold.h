/*
 * One batch of the projector, without Kafka: log messages are folded in
 * order into in-batch copies of their executions' states (so several events
 * of one execution in one batch fold in sequence), checked for idempotency
 * against the store and against the batch itself, and turned into the puts of
 * one WriteBatch, which xl_fold_commit writes together with the next offset
 * of every partition the batch touched.
 *
 * Batch boundaries never change the result: folding a log in batches of any
 * size gives byte-identical projections, and so does any interleaving of
 * executions that keeps each execution's events in order (the feed, which
 * records the apply order, aside). The projector thread feeds it from
 * Kafka; a rebuild can feed it from anywhere. A fold belongs to one thread.
 *
 * Folds may commit concurrently (the projector's workers, each with its own
 * partitions): they then share one feed (xl_fold_feed_t), whose seqs are
 * numbered and written under its mutex at the moment of the write, so the
 * feed has no gap and every reader sees it grow in order.
 */
#ifndef XL_PROJECTOR_FOLD_H
#define XL_PROJECTOR_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "projector/store.h"

typedef struct st_xl_fold_t xl_fold_t;
/* The feed's counter, shared by folds that commit to one store concurrently. */
typedef struct st_xl_fold_feed_t xl_fold_feed_t;

/** One message of the log; value is borrowed for the call to xl_fold_add. */
typedef struct st_xl_fold_msg_t {
    int32_t partition;
    int64_t offset;
    const void *value; /* the event's single-object frame */
    size_t len;
} xl_fold_msg_t;

typedef struct st_xl_fold_result_t {
    int outcome;      /* xl_apply_outcome_t; XL_APPLY_REJECTED also for a frame that does not decode */
    int64_t audit_id; /* 0 if the frame did not decode */
    uint32_t seq;     /* archive seq (NEW, ANOMALY) */
    char reason[256]; /* REJECTED: the dead-letter reason; ANOMALY: what broke the state machine */
} xl_fold_result_t;

/** The next offset of a partition once the batch is written. */
typedef struct st_xl_fold_offset_t {
    int32_t partition;
    int64_t next_offset;
} xl_fold_offset_t;

/**
 * @brief A fold writing to store (borrowed for its lifetime).
 * @return NULL with err filled on failure; free with xl_fold_destroy.
 */
xl_fold_t *xl_fold_create(xl_store_t *store, char *err, size_t errlen);
/** @brief Free a fold (NULL is fine); a batch in hand is dropped, not written. */
void xl_fold_destroy(xl_fold_t *fold);

/**
 * @brief A feed counter for store (borrowed), from the last feed_seq it holds.
 * @return NULL when out of memory; free with xl_fold_feed_destroy.
 */
xl_fold_feed_t *xl_fold_feed_create(xl_store_t *store);
/** @brief Free a feed counter (NULL is fine) once no fold uses it. */
void xl_fold_feed_destroy(xl_fold_feed_t *feed);
/**
 * @brief Number the feed of every commit of fold from feed (borrowed, shared
 * with the other folds of the store) instead of its own counter. Call before
 * the first xl_fold_add.
 */
void xl_fold_share_feed(xl_fold_t *fold, xl_fold_feed_t *feed);

/**
 * @brief The archive already holds every event this fold will see, under the
 * seq and position it will give them (a rebuild from the archive): do not
 * write them again. Everything derived from them is still written.
 */
void xl_fold_keep_archive(xl_fold_t *fold);

/**
 * @brief The store held no projections when this fold began (a rebuild
 * dropped them), and nothing but this fold writes them: reads of what the
 * fold never wrote are answered without the store. Call before the first
 * xl_fold_add. @return 0 or -ENOMEM.
 */
int xl_fold_fresh_store(xl_fold_t *fold);

/**
 * @brief Fold one message into the batch in hand. The message's offset
 * counts as consumed whatever the outcome (a REJECTED one must be
 * dead-lettered by the caller before xl_fold_commit).
 * @return 0 with res filled, or negative (store read error, -ENOMEM) with
 * err filled: the batch is then unusable and must be reset, not committed.
 */
int xl_fold_add(xl_fold_t *fold, const xl_fold_msg_t *msg, xl_fold_result_t *res, char *err, size_t errlen);

/** @brief Messages added since the last reset. */
size_t xl_fold_count(const xl_fold_t *fold);

/**
 * @brief Partitions the batch in hand touched and their next offsets, valid
 * until the next xl_fold_add or xl_fold_reset. @return the array, *n entries.
 */
const xl_fold_offset_t *xl_fold_offsets(const xl_fold_t *fold, size_t *n);

/**
 * @brief Write the batch atomically: the states it changed, their index
 * entries and their share of the per-flow aggregates, its archive,
 * idempotency and feed entries, and the offsets for the log identity (a C
 * string; NULL writes no offsets: a rebuild from the archive, whose positions
 * may come from several logs). The batch stays readable (xl_fold_offsets)
 * until xl_fold_reset.
 * @return 0; -EAGAIN with err filled: the store refused the write (a full
 * disk), nothing was written and the batch is kept: call again (with the
 * same identity, no xl_fold_add in between) to retry the same write, or
 * reset; any other negative value with err filled: nothing was written and
 * the batch is unusable: reset it.
 */
int xl_fold_commit(xl_fold_t *fold, const char *identity, char *err, size_t errlen);

/**
 * @brief The executions whose state the batch in hand wrote (valid after a
 * successful xl_fold_commit, until xl_fold_reset): fn(ctx, audit_id) for each.
 */
void xl_fold_each_changed(const xl_fold_t *fold, void (*fn)(void *ctx, int64_t audit_id), void *ctx);

/** @brief Forget the batch in hand (after a commit, or instead of one). */
void xl_fold_reset(xl_fold_t *fold);

#endif
