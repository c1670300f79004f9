/*
 * The projector: consumes the event topic and folds every event into the
 * RocksDB projections, exactly once. Consumed offsets are written in the same
 * WriteBatch as the state they produced, so a crash at any point resumes
 * where the last batch ended. Events that cannot be decoded or applied go to
 * the dead-letter topic with the reason in a header; the projector never
 * stalls on them. A store that refuses writes (a full disk) does stall it,
 * without ending it: the batch is written again until the store takes it
 * (see xl_projector_stats_t.stalled).
 *
 * It runs conf.threads workers, threads of its own: worker w consumes the
 * partitions p with p % threads == w, with its own consumer, batches and
 * offsets, so each partition is still projected exactly once and in order.
 * What crosses partitions needs no order between the workers: an
 * execution's events all come from one partition (ingest keys them by the
 * root of their lineage) and its fold reads no other execution, the flow
 * aggregates are commutative merge operands, and the feed is numbered and
 * written under one mutex (projector/fold.h); the projections are the same
 * for any number of workers. It must never block the HTTP event loop:
 * progress is reported through the on_applied callback, from a worker
 * thread, after the batch is durable (execlogd hands it to the one
 * publisher of progress, projector/progress.h, whose subscribers hear it on
 * their own loops).
 */
#ifndef XL_PROJECTOR_PROJECTOR_H
#define XL_PROJECTOR_PROJECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "projector/cache.h"
#include "projector/store.h"

typedef struct st_xl_projector_t xl_projector_t;

/** Called after a batch is durable: every message of partition below next_offset is applied. */
typedef void (*xl_projector_applied_cb)(void *ctx, int32_t partition, int64_t next_offset);

typedef struct st_xl_projector_conf_t {
    const char *topic;     /* events topic */
    const char *dlq_topic; /* dead-letter topic */
    const char *group_id;  /* consumer group */
    /* identity of the log the stored offsets refer to; NULL: the cluster id
     * the brokers report. The embedded broker passes a fresh value at each
     * start, since its log starts empty. */
    const char *log_identity;
    /* librdkafka properties (names without the "kafka." prefix), as
     * name/value pairs: props[2*i], props[2*i+1]; borrowed during create */
    const char *const *kafka_props;
    size_t nkafka_props;
    xl_projector_applied_cb on_applied;
    void *ctx;
    /* 1: assign every partition directly instead of joining the group: a
     * replica reads the whole log, and a group would only add its join delay
     * at every start (up to its session timeout after a kill -9) */
    int assign_all;
    /* 1: commit each batch's positions to group_id, for Kafka's own tools
     * (consumer-group lag); never read back: the store holds the truth */
    int commit_positions;
    /* answers of the read path, borrowed (NULL: none): each batch invalidates
     * the executions it changed once durable, before on_applied reports it */
    xl_cache_t *cache;
    /* workers (0 counts as 1, at most XL_PROJECTOR_MAX_THREADS); more than one needs assign_all */
    int threads;
} xl_projector_conf_t;

#define XL_PROJECTOR_MAX_THREADS 64

typedef struct st_xl_projector_stats_t {
    uint64_t applied;    /* events applied (new) */
    uint64_t duplicates; /* deliveries recognised as already applied */
    uint64_t anomalies;  /* events that broke the state machine */
    uint64_t dlq;        /* messages sent to the dead-letter topic */
    uint64_t batches;
    int64_t lag; /* messages behind the high watermarks, -1 unknown */
    /* how far behind in time: on the partitions that are behind, the age of
     * the last event applied (its Kafka timestamp); 0 caught up, -1 unknown */
    int64_t lag_ms;
    int failed;  /* 1 once a fatal error stopped the thread (see the log) */
    /* 1 while the store refuses to write (a full disk): the batch in hand is
     * held and retried with a backoff, nothing newer is projected, and
     * stall_reason holds the store's error ("" otherwise); lag stays current */
    int stalled;
    char stall_reason[512];
} xl_projector_stats_t;

/**
 * @brief Create the consumer (not started). store is borrowed for the
 * projector's lifetime. @return NULL with err filled on failure.
 */
xl_projector_t *xl_projector_create(const xl_projector_conf_t *conf, xl_store_t *store, char *err, size_t errlen);
/** @brief Start the projector thread. @return 0 or negative with err. */
int xl_projector_start(xl_projector_t *proj, char *err, size_t errlen);
/**
 * @brief Stop the thread (writing the batch in hand; one the store refuses is
 * dropped, and the next start consumes it again), close the consumer, free.
 */
void xl_projector_destroy(xl_projector_t *proj);
/* Partitions whose lag xl_projector_get_lags reports (the first ones, by number). */
#define XL_PROJECTOR_MAX_LAGS 256

/**
 * @brief Messages each partition is behind its high watermark (-1: not
 * assigned or unknown), as of the last batch; safe from any thread.
 * @return the number of partitions written to lags (at most n).
 */
size_t xl_projector_get_lags(xl_projector_t *proj, int64_t *lags, size_t n);

/**
 * @brief The end of the log as the projector last saw it, so that a reader
 * can tell a position that cannot exist from one not projected yet: the
 * topic's partition count (from the brokers at start and every 30 s), and
 * in ends[p], for p below n and that count, the high watermark of partition
 * p (the offset its next message gets) as of the last batch (every second
 * while stalled), or -1 when not known (not assigned here). Safe from any
 * thread.
 * @return the number of partitions of the topic; 0 while unknown (start-up).
 */
size_t xl_projector_get_log_ends(xl_projector_t *proj, int64_t *ends, size_t n);

/** @brief A consistent copy of the counters; safe from any thread. */
void xl_projector_get_stats(xl_projector_t *proj, xl_projector_stats_t *stats);

#endif
