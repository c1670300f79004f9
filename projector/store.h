/*
 * The RocksDB layout of the projections, and the reads the API and the
 * ingest path make on it.
 *
 * Column families (one per concern):
 *   default  meta: "cluster" -> identity of the log the last batch came from,
 *            "state_fp" -> be64 fingerprint of the state schema the values use,
 *            "rebuild" -> present while a rebuild has not finished
 *   state    be64(audit_id) -> Avro ExecutionState body
 *   events   be64(audit_id) be32(seq) -> be32(partition) be64(offset) and the
 *            event's single-object frame, as it was on the topic (the archive;
 *            kept forever; the position is where the event was read)
 *   idem     'e' be64(audit_id) event_id -> be32(seq) be32(partition) be64(offset)
 *            'c' tenant_id 0x00 event_id 0x00 be64(audit_id) -> be32(partition) be64(offset)
 *            (the log position answers a repeated write like the first one)
 *   index    the secondary indexes (xl_index_t): u8 index, its scope and value
 *            (length-prefixed strings), then be64(created_ms with the sign bit
 *            flipped, so that order is numeric) be64(audit_id) -> empty
 *   agg      per-flow aggregates: 'A' be32(len) flow_id (across tenants) or
 *            'T' be32(len) tenant be32(len) flow_id -> counts by status, the
 *            latest run and a histogram of durations with fixed buckets
 *   feed     be64(feed_seq) -> be64(audit_id) be32(seq): this replica's apply order
 *   offsets  identity 0x00 be32(partition) -> be64(next offset to consume)
 *
 * Everything in state, events, idem, index and agg is a function of the topic
 * alone (each execution's events in log order; aggregates are sums and
 * maxima, so the interleaving of partitions does not matter): that is what
 * the digest covers. The feed (apply order), offsets and meta legitimately
 * differ between replicas and are left out.
 *
 * A null tenant_id is stored as the empty tenant in every tenant-scoped key.
 *
 * Offsets are keyed by the identity of the log they refer to: a new log (a
 * fresh embedded broker, another cluster) starts from its beginning without
 * any reset, and offsets of an earlier log are never mistaken for this one's.
 * They stay behind (a few bytes per partition per log).
 *
 * Reads are safe from any thread. Only the projector (or a rebuild) writes,
 * and always in one WriteBatch together with the offsets it consumed.
 */
#ifndef XL_PROJECTOR_STORE_H
#define XL_PROJECTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/base/position.h"
#include "schemas/buf.h"
#include "schemas/event.h"

typedef struct st_xl_store_t xl_store_t;

/**
 * @brief Open (creating if missing) the store in dir. A store an interrupted
 * rebuild left incomplete is refused (err says to run `execlogd rebuild`),
 * and so is a file system with less than 64 MiB free (err: "cannot open the
 * store in DIR: no space left on device (N free, ...)").
 * @param sync_writes  1: every batch is fsync'ed before it counts as written
 * @return the store (close with xl_store_close), or NULL with err filled.
 */
xl_store_t *xl_store_open(const char *dir, int sync_writes, char *err, size_t errlen);
void xl_store_close(xl_store_t *store);

/**
 * @brief Current state of one execution.
 * @return 0 (st owns memory: xl_state_dispose), -ENOENT, or -EIO with err.
 */
int xl_store_get_state(xl_store_t *store, xl_codec_t *codec, int64_t audit_id, xl_state_t *st, char *err,
                       size_t errlen);

/** @brief seq of the event (audit_id, event_id) if archived. @return 0 or -ENOENT or -EIO. */
int xl_store_get_event_seq(xl_store_t *store, int64_t audit_id, const char *event_id, size_t event_id_len,
                           uint32_t *seq, xl_pos_t *pos /* NULL, or filled with where it was read */);

/**
 * @brief Lowest audit ID created with (tenant_id, event_id), so that every
 * replica answers a repeated create the same way; with partition >= 0, the
 * lowest one read from that partition. @return 0, -ENOENT or -EIO.
 */
int xl_store_find_create(xl_store_t *store, const char *tenant_id, size_t tenant_len, const char *event_id,
                         size_t event_id_len, int32_t partition, int64_t *audit_id,
                         xl_pos_t *pos /* NULL or filled */);

/** @brief The archived frame of event seq of audit_id, appended to out. @return 0, -ENOENT, -EIO. */
int xl_store_get_event(xl_store_t *store, int64_t audit_id, uint32_t seq, xl_buf_t *out);

/** @brief Stored next offset of partition for the given log identity. @return 0, -ENOENT. */
int xl_store_get_offset(xl_store_t *store, const char *identity, int32_t partition, int64_t *next_offset);

/** @brief Number of executions and archived events (approximate, for /metrics). */
void xl_store_estimate(xl_store_t *store, uint64_t *executions, uint64_t *events);

/**
 * @brief Identity of the log the last written batch came from, appended to
 * out (no NUL). @return 0, -ENOENT (nothing written yet), -ENOMEM or -EIO.
 */
int xl_store_get_identity(xl_store_t *store, xl_buf_t *out);

/**
 * Called by xl_store_scan_events for each archived event: its seq, where it
 * was read from, and its frame as it was on the topic. pos and frame are
 * borrowed for the call. Non-zero stops the scan.
 */
typedef int (*xl_store_event_cb)(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len);

/**
 * @brief Archived events of audit_id in seq order: ascending from seq
 * from_seq on (seq >= from_seq), or descending from from_seq down (seq <=
 * from_seq; from_seq 0 = from the last event).
 * @return 0 (also when there are none), the callback's non-zero value, or -EIO.
 */
int xl_store_scan_events(xl_store_t *store, int64_t audit_id, uint32_t from_seq, int descending, xl_store_event_cb cb,
                         void *ctx);

/** The secondary indexes, in the column family "index". */
typedef enum en_xl_index_t {
    XL_IX_ALL,      /* every execution                           key: (tenant)            */
    XL_IX_FLOW,     /* by flow_id                                key: (tenant) flow_id    */
    XL_IX_STATUS,   /* by CURRENT status (moves on change)       key: (tenant) status     */
    XL_IX_MESSAGE,  /* by message_id (when it has one)           key: (tenant) message_id */
    XL_IX_RETRIES,  /* attempts whose parent_audit_id = id       key: id                  */
    XL_IX_CHILDREN, /* executions whose parent_execution_id = id key: id                  */
    XL_IX_LINEAGE,  /* every attempt whose root_audit_id = id    key: id (the root too)   */
    XL_IX_TREE,     /* the call tree whose top_execution_id = id key: id (the top too)    */
    XL_IX__COUNT
} xl_index_t;

/**
 * @brief Build the scan prefix of one index into out (reset first).
 * @param tenant  NULL: across all tenants (the first four indexes are kept
 *                twice: per tenant, and across tenants); a null base or ""
 *                is the executions without a tenant. Ignored by the last four.
 * @param str     the flow_id (XL_IX_FLOW) or message_id (XL_IX_MESSAGE); borrowed
 * @param status  for XL_IX_STATUS
 * @param id      for XL_IX_RETRIES, XL_IX_CHILDREN, XL_IX_LINEAGE, XL_IX_TREE
 * @return 0, -EINVAL (unknown index, a missing str, a status out of range) or -ENOMEM.
 */
int xl_store_index_prefix(xl_buf_t *out, xl_index_t ix, const xl_str_t *tenant, const xl_str_t *str, int status,
                          int64_t id);

/** Called by xl_store_index_scan for each entry. Non-zero stops the scan. */
typedef int (*xl_store_index_cb)(void *ctx, int64_t created_ms, int64_t audit_id);

/**
 * @brief Visit the entries under prefix (from xl_store_index_prefix) in key
 * order, (created_ms, audit_id) ascending, or newest first when descending,
 * starting strictly after `after` ({created_ms, audit_id}) when not NULL.
 * prefix is borrowed for the call.
 * @return 0, the callback's non-zero value, or -EIO.
 */
int xl_store_index_scan(xl_store_t *store, const void *prefix, size_t prefix_len, int descending,
                        const int64_t after[2], xl_store_index_cb cb, void *ctx);

/** An iterator over the indexes, for several scans that share its setup and its view of the store. */
typedef struct st_xl_store_index_iter_t xl_store_index_iter_t;

/**
 * @brief An iterator for xl_store_index_iter_scan.
 * @return NULL when out of memory; free with xl_store_index_iter_destroy.
 */
xl_store_index_iter_t *xl_store_index_iter_create(xl_store_t *store);
/** @brief Free the iterator (NULL is fine). */
void xl_store_index_iter_destroy(xl_store_index_iter_t *iter);
/**
 * @brief xl_store_index_scan through iter: every scan of one iterator sees
 * the store as it was when the iterator was created.
 */
int xl_store_index_iter_scan(xl_store_index_iter_t *iter, const void *prefix, size_t prefix_len, int descending,
                             const int64_t after[2], xl_store_index_cb cb, void *ctx);

/** Per-flow aggregates, exact (kept per tenant and across tenants). */
typedef struct st_xl_flow_summary_t {
    uint64_t total;                       /* executions of the flow */
    uint64_t by_status[XL_STATUS__COUNT]; /* executions currently in each status */
    int64_t latest_audit_id;              /* newest by created_ms, then audit_id */
    int64_t latest_created_ms;
    uint64_t ended;     /* in a terminal status */
    uint64_t succeeded; /* succeeded + warning */
    /* durations (ended_ms - started_ms, or - created_ms if it never started)
     * of the ended executions, from the histogram: the upper bound of the
     * bucket holding the nearest rank (exact below 16 ms, else at most 12.5%
     * above the true value); -1 if none ended */
    int64_t p50_ms, p95_ms, p99_ms;
} xl_flow_summary_t;

/**
 * @brief Summary of one flow. tenant NULL: across tenants (a null base or ""
 * is the executions without a tenant). flow_id is borrowed.
 * @return 0, -ENOENT (no execution of that flow), or -EIO.
 */
int xl_store_get_flow_summary(xl_store_t *store, const xl_str_t *tenant, const char *flow_id, size_t flow_len,
                              xl_flow_summary_t *out);

/** Called by xl_store_scan_flows for each flow (flow_id borrowed for the call). Non-zero stops the scan. */
typedef int (*xl_store_flow_cb)(void *ctx, const char *flow_id, size_t flow_len, const xl_flow_summary_t *sum);

/**
 * @brief Visit every flow of one scope (tenant NULL: across tenants; a null
 * base or "" is the executions without a tenant) with its summary, in key
 * order (shorter flow IDs first, then byte order), starting strictly after
 * the flow `after` (NULL: from the first). Arguments borrowed for the call.
 * @return 0, the callback's non-zero value, -ENOMEM or -EIO.
 */
int xl_store_scan_flows(xl_store_t *store, const xl_str_t *tenant, const char *after, size_t after_len,
                        xl_store_flow_cb cb, void *ctx);

/** The histogram behind the percentiles: bucket of a duration, and the largest duration a bucket holds. */
#define XL_STORE_HIST_BUCKETS 488
int xl_store_hist_bucket(int64_t duration_ms);
int64_t xl_store_hist_upper(int bucket);

/** Called by xl_store_feed_scan for each applied event. Non-zero stops the scan. */
typedef int (*xl_store_feed_cb)(void *ctx, uint64_t feed_seq, int64_t audit_id, uint32_t seq);

/**
 * @brief The feed: every archived event (new or anomaly) in this replica's
 * apply order, feed_seq from 1, one more per event. Replica-local (not in
 * the digest); a rebuild renumbers it. Visits feed_seq > after, ascending.
 * @return 0, the callback's non-zero value, or -EIO.
 */
int xl_store_feed_scan(xl_store_t *store, uint64_t after, xl_store_feed_cb cb, void *ctx);
/** @brief The last feed_seq written, 0 when the feed is empty. */
uint64_t xl_store_feed_last(xl_store_t *store);

/**
 * @brief A RocksDB integer property summed over the column families, e.g.
 * "rocksdb.estimate-live-data-size", "rocksdb.total-sst-files-size",
 * "rocksdb.estimate-num-keys". @return the sum, or -1 if unknown.
 */
int64_t xl_store_property(xl_store_t *store, const char *name);

#define XL_STORE_DIGEST_HEX_LEN 64

/**
 * @brief SHA-256 of the projections derived from the topic: the column
 * families state, events, idem, index and agg, in that order, each in key
 * order, read from one snapshot. The feed, offsets and meta are left out
 * since they legitimately differ between replicas. Two replicas that applied
 * the same log have the same digest, and a rebuild keeps it.
 * @param hex  receives XL_STORE_DIGEST_HEX_LEN lower-case hex digits and a NUL
 * @return 0, or -EIO / -ENOMEM with err filled.
 */
int xl_store_digest(xl_store_t *store, char hex[XL_STORE_DIGEST_HEX_LEN + 1], char *err, size_t errlen);

/*
 * Write side (the projector only): a batch gathers the puts of many events
 * and is written atomically, offsets included, by xl_store_batch_commit.
 * A batch belongs to one thread.
 */
typedef struct st_xl_store_batch_t xl_store_batch_t;

/** @brief An empty batch on store (borrowed). @return NULL on allocation failure; free with xl_store_batch_destroy. */
xl_store_batch_t *xl_store_batch_create(xl_store_t *store);
/** @brief Free a batch (NULL is fine); puts not committed are dropped. */
void xl_store_batch_destroy(xl_store_batch_t *batch);
/** @brief Drop every put not yet committed. */
void xl_store_batch_clear(xl_store_batch_t *batch);
/** @brief Mark the batch as it is now, for xl_store_batch_undo. */
void xl_store_batch_mark(xl_store_batch_t *batch);
/** @brief Drop every put made since the last xl_store_batch_mark (and that mark). */
void xl_store_batch_undo(xl_store_batch_t *batch);
/** @brief Number of puts in the batch. */
size_t xl_store_batch_count(xl_store_batch_t *batch);

/** @brief Put the encoded state of st->audit_id (st borrowed). @return 0 or negative with err. */
int xl_store_batch_put_state(xl_store_batch_t *batch, xl_codec_t *codec, const xl_state_t *st, char *err,
                             size_t errlen);
/** @brief Archive an event's frame (copied) as seq of audit_id, read at pos. @return 0 or -ENOMEM. */
int xl_store_batch_put_event(xl_store_batch_t *batch, int64_t audit_id, uint32_t seq, const xl_pos_t *pos,
                             const void *frame, size_t len);
/** @brief Index (audit_id, event_id) -> seq, for xl_store_get_event_seq. @return 0 or -ENOMEM. */
int xl_store_batch_put_event_seq(xl_store_batch_t *batch, int64_t audit_id, const char *event_id, size_t event_id_len,
                                 uint32_t seq, const xl_pos_t *pos);
/**
 * @brief Index a create (tenant_id, event_id) -> audit_id, for
 * xl_store_find_create. @return 0, -ENOMEM, or -EINVAL if tenant_id or
 * event_id contains a NUL byte (the key could not be told apart).
 */
int xl_store_batch_put_create(xl_store_batch_t *batch, const char *tenant_id, size_t tenant_len, const char *event_id,
                              size_t event_id_len, int64_t audit_id, const xl_pos_t *pos);
/**
 * @brief Put the next offset of partition for the log identity (a C string
 * without NUL bytes), and record identity as the log of the last batch.
 * @return 0 or -ENOMEM.
 */
int xl_store_batch_put_offset(xl_store_batch_t *batch, const char *identity, int32_t partition, int64_t next_offset);

/**
 * @brief Index an execution: every key of st when it is new (old_status
 * XL_STATUS_NONE), else move its XL_IX_STATUS keys from old_status to
 * st->status if they differ (the other keys never change: they come from
 * the create). st is borrowed. @return 0 or -ENOMEM.
 */
int xl_store_batch_put_index(xl_store_batch_t *batch, const xl_state_t *st, int old_status);

/**
 * A change to one flow's aggregates: counts may be negative (an execution
 * leaving a status); latest is a maximum (0/0: none).
 */
typedef struct st_xl_store_flow_delta_t {
    int64_t total;
    int64_t by_status[XL_STATUS__COUNT];
    int64_t latest_created_ms, latest_audit_id;
    int64_t hist[XL_STORE_HIST_BUCKETS];
} xl_store_flow_delta_t;

/**
 * @brief Add delta to the stored aggregates of (tenant, flow_id) (tenant
 * NULL: across tenants): read now, written with the batch. Each key must be
 * added at most once per batch (sum the deltas first). Borrowed arguments.
 * @return 0, or -EIO / -ENOMEM with err filled.
 */
int xl_store_batch_add_flow(xl_store_batch_t *batch, const xl_str_t *tenant, const xl_str_t *flow_id,
                            const xl_store_flow_delta_t *delta, char *err, size_t errlen);

/** @brief Append feed_seq -> (audit_id, seq) to the feed. @return 0 or -ENOMEM. */
int xl_store_batch_put_feed(xl_store_batch_t *batch, uint64_t feed_seq, int64_t audit_id, uint32_t seq);

/**
 * @brief Write every put atomically (fsync'ed first when the store was
 * opened with sync_writes), then empty the batch. On failure nothing was
 * written and the batch is kept. While less than 64 MiB are free the write
 * is refused before it reaches RocksDB, and accepted again as soon as there
 * is room. Should RocksDB itself meet a full disk (a flush, or another
 * process filling the disk), it refuses every write until it has recovered
 * by itself: it checks every 5 s and resumes once 64 MiB are free; other
 * write errors may leave it refusing writes until a restart.
 * @return 0, or -ENOSPC (less than 64 MiB free) or -EIO with err filled.
 */
int xl_store_batch_commit(xl_store_batch_t *batch, char *err, size_t errlen);

/*
 * Rebuild support (projector/rebuild.c only; nothing else may call these).
 */

/** What xl_store_reset drops. */
typedef enum en_xl_store_reset_t {
    XL_STORE_RESET_DERIVED, /* state, idem, index, agg, feed: all but the archive and offsets */
    XL_STORE_RESET_ALL,     /* the archive, every offset and the log identity too */
} xl_store_reset_t;

/**
 * @brief Open like xl_store_open, also when an unfinished rebuild is marked
 * (xl_store_open refuses such a store: its projections are incomplete).
 */
xl_store_t *xl_store_open_for_rebuild(const char *dir, char *err, size_t errlen);

/**
 * @brief Mark a rebuild as started (durably), then drop and recreate the
 * column families `what` names. Until xl_store_rebuild_done, xl_store_open
 * refuses the store. @return 0 or -EIO with err filled.
 */
int xl_store_reset(xl_store_t *store, xl_store_reset_t what, char *err, size_t errlen);

/** @brief Flush everything to disk and clear the rebuild mark. @return 0 or -EIO with err filled. */
int xl_store_rebuild_done(xl_store_t *store, char *err, size_t errlen);

/** One archived event as xl_store_scan_archive sees it. */
typedef struct st_xl_store_archived_t {
    int64_t audit_id;
    uint32_t seq;
    xl_pos_t pos;
    const void *frame; /* borrowed for the call */
    size_t len;
} xl_store_archived_t;

/**
 * @brief Every archived event of every execution, in (audit_id, seq) order,
 * from one snapshot. Non-zero from cb stops. @return 0, cb's value, or -EIO.
 */
int xl_store_scan_archive(xl_store_t *store, int (*cb)(void *ctx, const xl_store_archived_t *ev), void *ctx);

#endif
