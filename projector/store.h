/*
 * The RocksDB layout of the projections, and the point reads the API and the
 * ingest path make on it.
 *
 * Column families (one per concern):
 *   default  meta: "cluster" -> identity of the log the last batch came from,
 *            "state_fp" -> be64 fingerprint of the state schema the values use
 *   state    be64(audit_id) -> Avro ExecutionState body
 *   events   be64(audit_id) be32(seq) -> the event's single-object frame, as
 *            it was on the topic (the archive; kept forever)
 *   idem     'e' be64(audit_id) event_id -> be32(seq) be32(partition) be64(offset)
 *            'c' tenant_id 0x00 event_id 0x00 be64(audit_id) -> be32(partition) be64(offset)
 *            (the log position answers a repeated write like the first one)
 *   offsets  identity 0x00 be32(partition) -> be64(next offset to consume)
 *
 * Offsets are keyed by the identity of the log they refer to: a new log (a
 * fresh embedded broker, another cluster) starts from its beginning without
 * any reset, and offsets of an earlier log are never mistaken for this one's.
 * They stay behind (a few bytes per partition per log).
 *
 * Reads are safe from any thread. Only the projector writes, and always in
 * one WriteBatch together with the offsets it consumed.
 */
#ifndef XL_PROJECTOR_STORE_H
#define XL_PROJECTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/buf.h"
#include "schemas/event.h"

typedef struct st_xl_store_t xl_store_t;

/** A place in the Kafka log: where an event was read from. */
typedef struct st_xl_store_pos_t {
    int32_t partition;
    int64_t offset;
} xl_store_pos_t;

/**
 * @brief Open (creating if missing) the store in dir.
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
                           uint32_t *seq, xl_store_pos_t *pos /* NULL, or filled with where it was read */);

/**
 * @brief Lowest audit ID created with (tenant_id, event_id), so that every
 * replica answers a repeated create the same way. @return 0, -ENOENT or -EIO.
 */
int xl_store_find_create(xl_store_t *store, const char *tenant_id, size_t tenant_len, const char *event_id,
                         size_t event_id_len, int64_t *audit_id, xl_store_pos_t *pos /* NULL or filled */);

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

/** Called by xl_store_scan_events for each archived event; frame is borrowed for the call. Non-zero stops. */
typedef int (*xl_store_event_cb)(void *ctx, uint32_t seq, const void *frame, size_t len);

/**
 * @brief Archived events of audit_id from seq from_seq on, in seq order.
 * @return 0 (also when there are none), the callback's non-zero value, or -EIO.
 */
int xl_store_scan_events(xl_store_t *store, int64_t audit_id, uint32_t from_seq, xl_store_event_cb cb, void *ctx);

#define XL_STORE_DIGEST_HEX_LEN 64

/**
 * @brief SHA-256 of the projections (column families state, events and idem,
 * in that order, each in key order; offsets and meta are left out since they
 * legitimately differ between replicas), read from one snapshot. Two replicas
 * that applied the same log have the same digest.
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
/** @brief Number of puts in the batch. */
size_t xl_store_batch_count(xl_store_batch_t *batch);

/** @brief Put the encoded state of st->audit_id (st borrowed). @return 0 or negative with err. */
int xl_store_batch_put_state(xl_store_batch_t *batch, xl_codec_t *codec, const xl_state_t *st, char *err,
                             size_t errlen);
/** @brief Archive an event's frame (copied) as seq of audit_id. @return 0 or -ENOMEM. */
int xl_store_batch_put_event(xl_store_batch_t *batch, int64_t audit_id, uint32_t seq, const void *frame, size_t len);
/** @brief Index (audit_id, event_id) -> seq, for xl_store_get_event_seq. @return 0 or -ENOMEM. */
int xl_store_batch_put_event_seq(xl_store_batch_t *batch, int64_t audit_id, const char *event_id, size_t event_id_len,
                                 uint32_t seq, const xl_store_pos_t *pos);
/**
 * @brief Index a create (tenant_id, event_id) -> audit_id, for
 * xl_store_find_create. @return 0, -ENOMEM, or -EINVAL if tenant_id or
 * event_id contains a NUL byte (the key could not be told apart).
 */
int xl_store_batch_put_create(xl_store_batch_t *batch, const char *tenant_id, size_t tenant_len, const char *event_id,
                              size_t event_id_len, int64_t audit_id, const xl_store_pos_t *pos);
/**
 * @brief Put the next offset of partition for the log identity (a C string
 * without NUL bytes), and record identity as the log of the last batch.
 * @return 0 or -ENOMEM.
 */
int xl_store_batch_put_offset(xl_store_batch_t *batch, const char *identity, int32_t partition, int64_t next_offset);

/**
 * @brief Write every put atomically (fsync'ed first when the store was
 * opened with sync_writes), then empty the batch. On failure nothing was
 * written and the batch is kept.
 * @return 0 or -EIO with err filled.
 */
int xl_store_batch_commit(xl_store_batch_t *batch, char *err, size_t errlen);

#endif
