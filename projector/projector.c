/*
 * The projector's workers (see projector.h): consume, fold, write, report.
 * Everything below up to "the workers, as one projector" is one worker: a
 * thread with its own consumer of its share of the partitions, dead-letter
 * producer, fold and batch, sharing nothing with the others but the store,
 * the feed's counter (fold.h), the cache and on_applied (both thread-safe).
 * The projector merges their counters, lags and log ends.
 *
 * A batch is every message that is ready when the thread wakes up (up to
 * MAX_BATCH, or until MAX_DEAD_LETTERS of them were dead-lettered). Each
 * message goes through fold.c (decode, idempotency, the state machine, the
 * puts); what cannot be projected goes to the dead-letter
 * topic. The dead letters are delivered before the batch is written, so an
 * offset never passes a message that is neither projected nor dead-lettered;
 * the batch is then written in one WriteBatch with the next offset of every
 * partition it touched, and only then is on_applied called.
 *
 * Offsets live in the store, keyed by the identity of the log; the group's
 * committed offsets are never used (auto commit and offset store are off).
 * On every assignment the consumer is positioned from the store, and what
 * was consumed before a rebalance is written first.
 *
 * A batch the store refuses (a full disk) is held: the assigned partitions
 * are paused, the same write is retried with a backoff (RETRY_MIN_MS doubling
 * to RETRY_MAX_MS) while the consumer is still served, and the stall is
 * published (xl_projector_stats_t.stalled, logged once when it starts and
 * once when it ends) with the lag kept current from the brokers. A rebalance
 * meanwhile drops the held batch instead: a partition that stays assigned is
 * sought back to its batch's first offset ("rewind"), and any message that
 * arrives for a partition with a rewind pending is discarded until the seek
 * is done. A pause moves librdkafka's fetch position to the last message it
 * handed out, past any it handed out and we discarded, so a rewind is only
 * settled by the first message after a seek, never by the seek alone.
 *
 * The positions are committed to the consumer group after each batch, for
 * Kafka's own tools (consumer-group lag) only: they are never read back, the
 * store's offsets are the truth. This file must never write the store but
 * through xl_fold_commit, and never skip a message unrecorded.
 */
#include "projector/projector.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "projector/apply.h"
#include "projector/fold.h"
#include "projector/kconf.h"
#include "schemas/base/clock.h"
#include "schemas/base/log.h"
#include "schemas/base/thread.h"

#define MAX_BATCH 16384 /* a catch-up's batches: the fold, the sort and the fsync are paid per batch */
#define MAX_DEAD_LETTERS 1024 /* a batch also ends at this many dead letters */
#define POLL_MS 100
#define IDENTITY_WAIT_MS 1000
#define DLQ_FLUSH_MS 1000
#define DLQ_RETRY_MS 1000
#define CLOSE_FLUSH_MS 5000
#define RETRY_MIN_MS 100  /* first wait before a refused batch is written again */
#define RETRY_MAX_MS 5000 /* the wait doubles up to this */
#define STALL_LAG_MS 1000 /* while stalled, the lag is asked from the brokers this often */
#define WATERMARK_QUERY_MS 1000
#define SEEK_MS 5000
#define METADATA_REFRESH_MS 30000 /* the topic's partition count, for xl_projector_get_log_ends */
#define METADATA_MS 500

#define HDR_REASON "execlog-dlq-reason"
#define HDR_SOURCE "execlog-source"

enum { DLQ_PENDING, DLQ_DELIVERED, DLQ_FAILED };

typedef struct st_xl_projector_dlq_t {
    rd_kafka_message_t *rkm; /* the original, owned by the batch */
    char reason[256];
    char source[320]; /* topic/partition/offset */
    int state;
} xl_projector_dlq_t;

/* Partition bookkeeping, indexed by partition number. */
typedef struct st_xl_projector_part_t {
    int64_t committed; /* next offset durable in the store, -1 unknown */
    int assigned;
    int64_t rewind; /* seek the consumer back to this offset, discarding messages until then; -1: none */
    int sought;     /* a seek to rewind is done, and no pause since: the next message is the one wanted */
    int64_t end;    /* highest high watermark seen since assigned, -1 none */
    int64_t applied_ts; /* Kafka timestamp (ms) of the last message applied, 0: none yet */
} xl_projector_part_t;

typedef struct st_xl_projector_worker_t xl_projector_worker_t;

/* One worker: its thread, consumer, dead-letter producer, fold and batch. */
struct st_xl_projector_worker_t {
    int index, count; /* worker index of count: its partitions are those p with p % count == index */
    /* workers stalled now, shared: the stall is logged when the first starts, and when the last ends */
    atomic_int *nstalled;
    char *topic, *dlq_topic, *identity;
    xl_projector_applied_cb on_applied;
    void *ctx;
    int assign_all;       /* consume every partition without a group (a replica reads the whole log) */
    int commit_positions; /* commit positions to the group for Kafka's tools (never read back) */
    xl_cache_t *cache;    /* answers to invalidate after each batch (borrowed, NULL: none) */

    /* for any thread to read, under lags_mutex: the lag and high watermark of each partition at
     * the last batch (xl_projector_get_lags, xl_projector_get_log_ends), the topic's partition
     * count (0: unknown), and why the store refuses the batch in hand ("" when it does not) */
    pthread_mutex_t lags_mutex;
    int64_t lags[XL_PROJECTOR_MAX_LAGS];
    size_t nlags;
    int64_t ends[XL_PROJECTOR_MAX_LAGS];
    size_t nends;
    size_t partition_count;
    char stall_reason[512];

    xl_store_t *store;
    rd_kafka_t *rk;     /* consumer */
    rd_kafka_t *dlq_rk; /* dead-letter producer */
    pthread_t thread;
    int started;
    atomic_int stop;

    /* the batch in hand (projector thread only) */
    xl_fold_t *fold;
    rd_kafka_message_t *msgs[MAX_BATCH];
    size_t nmsgs;
    xl_projector_dlq_t dlq[MAX_DEAD_LETTERS];
    size_t ndlq;
    uint64_t n_applied, n_duplicates, n_anomalies, n_dlq;
    xl_projector_part_t *parts;
    size_t nparts;
    size_t npartitions;        /* partitions of the topic, 0 unknown */
    uint64_t metadata_due_ms;  /* next refresh of npartitions */
    int held;                  /* the store refused the batch in hand: it is retried, nothing else consumed */
    int paused;                /* the assigned partitions are paused (while held) */
    int retry_ms;              /* wait before the next attempt of the held batch */
    unsigned attempts;         /* writes refused since the stall began */
    uint64_t stalled_since_ms; /* monotonic */

    /* counters of written batches, read from any thread */
    atomic_uint_fast64_t applied, duplicates, anomalies, dlq_count, batches;
    atomic_int_fast64_t lag, lag_ms;
    atomic_int failed;
    atomic_int stalled;
};

static void worker_destroy(xl_projector_worker_t *proj);

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void fail_thread(xl_projector_worker_t *proj, const char *what)
{
    if (!atomic_exchange(&proj->failed, 1))
        xl_log_error("projector", "stopped: %s", what);
}

/* ---- partitions ---- */

static xl_projector_part_t *part_get(xl_projector_worker_t *proj, int32_t partition)
{
    if (partition < 0)
        return NULL;
    if ((size_t)partition >= proj->nparts) {
        size_t n = (size_t)partition + 1;
        xl_projector_part_t *parts = realloc(proj->parts, n * sizeof(*parts));
        if (parts == NULL)
            return NULL;
        for (size_t i = proj->nparts; i != n; ++i)
            parts[i] = (xl_projector_part_t){-1, 0, -1, 0, -1};
        proj->parts = parts;
        proj->nparts = n;
    }
    return &proj->parts[partition];
}

/*
 * Messages between the written offsets and the high watermarks, published
 * with the watermarks themselves. Normally the watermarks librdkafka last saw
 * fetching; while a batch is held the partitions are paused, so those stand
 * still and the brokers are asked instead. A mark never goes below the
 * highest one seen since the assignment, so the lag never reads low.
 */
static void update_lag(xl_projector_worker_t *proj)
{
    int64_t lag = 0, lag_ms = 0, lags[XL_PROJECTOR_MAX_LAGS], ends[XL_PROJECTOR_MAX_LAGS];
    int64_t now_ms = xl_now_ms();
    size_t nlags = proj->nparts < XL_PROJECTOR_MAX_LAGS ? proj->nparts : XL_PROJECTOR_MAX_LAGS;
    /* a worker the topic has no partition for is never behind */
    int known = proj->assign_all && proj->npartitions != 0 && proj->npartitions <= (size_t)proj->index;
    for (size_t p = 0; p != proj->nparts; ++p) {
        xl_projector_part_t *part = &proj->parts[p];
        int64_t lo, hi;
        rd_kafka_resp_err_t err;
        if (p < nlags)
            lags[p] = ends[p] = -1;
        if (!part->assigned)
            continue;
        if (proj->held)
            err = rd_kafka_query_watermark_offsets(proj->rk, proj->topic, (int32_t)p, &lo, &hi, WATERMARK_QUERY_MS);
        else
            err = rd_kafka_get_watermark_offsets(proj->rk, proj->topic, (int32_t)p, &lo, &hi);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
            continue;
        /* after a stall, librdkafka's cached mark lags what the brokers said until it fetches again */
        if (hi < part->end)
            hi = part->end;
        part->end = hi;
        int64_t pos = part->committed >= 0 ? part->committed : lo;
        int64_t behind = pos >= 0 && hi > pos ? hi - pos : 0;
        lag += behind;
        /* behind with nothing applied yet: the age is not known */
        int64_t age = behind == 0 ? 0 : part->applied_ts > 0 ? now_ms - part->applied_ts : -1;
        if (lag_ms >= 0 && (age < 0 || age > lag_ms))
            lag_ms = age < 0 ? -1 : age;
        if (p < nlags) {
            lags[p] = behind;
            ends[p] = hi;
        }
        known = 1;
    }
    atomic_store(&proj->lag, known ? lag : -1);
    atomic_store(&proj->lag_ms, known ? lag_ms : -1);
    pthread_mutex_lock(&proj->lags_mutex);
    memcpy(proj->lags, lags, nlags * sizeof(lags[0]));
    proj->nlags = nlags;
    memcpy(proj->ends, ends, nlags * sizeof(ends[0]));
    proj->nends = nlags;
    proj->partition_count = proj->npartitions;
    pthread_mutex_unlock(&proj->lags_mutex);
}

/* The number of partitions of the topic, from the brokers; kept as it was when they do not answer. */
static void refresh_partition_count(xl_projector_worker_t *proj)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(proj->rk, proj->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt == NULL)
        return;
    if (rd_kafka_metadata(proj->rk, 0, rkt, &md, METADATA_MS) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0)
        proj->npartitions = (size_t)md->topics[0].partition_cnt;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    proj->metadata_due_ms = (uint64_t)xl_mono_ms() + METADATA_REFRESH_MS;
}

/* ---- a store that refuses writes ---- */

/* The store refused a batch: publish why, and log it when the stall begins. */
static void stall_note(xl_projector_worker_t *proj, const char *err)
{
    pthread_mutex_lock(&proj->lags_mutex); /* the flag and its reason change together */
    snprintf(proj->stall_reason, sizeof(proj->stall_reason), "%s", err);
    int was = atomic_exchange(&proj->stalled, 1);
    pthread_mutex_unlock(&proj->lags_mutex);
    ++proj->attempts;
    if (was)
        return;
    proj->stalled_since_ms = (uint64_t)xl_mono_ms();
    proj->attempts = 1;
    if (atomic_fetch_add(proj->nstalled, 1) != 0)
        return; /* another worker said it */
    xl_log_error("projector",
                 "store write failing: projection stalled, the batch of %zu messages is kept and written again "
                 "every %d ms to %d s until the store takes it: %s",
                 proj->nmsgs, RETRY_MIN_MS, RETRY_MAX_MS / 1000, err);
}

/* A batch was written: if the store had been refusing them, say that it takes them again. */
static void stall_end(xl_projector_worker_t *proj)
{
    if (!atomic_load(&proj->stalled))
        return;
    pthread_mutex_lock(&proj->lags_mutex);
    proj->stall_reason[0] = '\0';
    atomic_store(&proj->stalled, 0);
    pthread_mutex_unlock(&proj->lags_mutex);
    if (atomic_fetch_sub(proj->nstalled, 1) != 1)
        return; /* another worker is still refused */
    xl_log_warn("projector", "store writes again: projection resumed after %.1f s stalled (%u writes refused)",
                (double)((uint64_t)xl_mono_ms() - proj->stalled_since_ms) / 1000.0, proj->attempts);
}

/* Pause (1) or resume (0) fetching every partition assigned to the consumer. */
static void pause_assigned(xl_projector_worker_t *proj, int pause)
{
    /* pausing moves the fetch position back to librdkafka's, undoing a seek */
    for (size_t p = 0; pause && p != proj->nparts; ++p)
        proj->parts[p].sought = 0;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err = rd_kafka_assignment(proj->rk, &parts);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && parts->cnt > 0)
        err = pause ? rd_kafka_pause_partitions(proj->rk, parts) : rd_kafka_resume_partitions(proj->rk, parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        xl_log_warn("projector", "%s partitions: %s", pause ? "pause" : "resume", rd_kafka_err2str(err));
    if (parts != NULL)
        rd_kafka_topic_partition_list_destroy(parts);
    proj->paused = pause;
}

/*
 * Seek every assigned partition with a rewind pending back to it (retried on
 * the next turn if refused); the rewind stays until its message arrives.
 */
static void seek_rewinds(xl_projector_worker_t *proj)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t p = 0; p != proj->nparts; ++p) {
        const xl_projector_part_t *part = &proj->parts[p];
        if (!part->assigned || part->rewind < 0 || part->sought)
            continue;
        if (list == NULL)
            list = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(list, proj->topic, (int32_t)p)->offset = part->rewind;
    }
    if (list == NULL)
        return;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(proj->rk, list, SEEK_MS);
    if (error != NULL) {
        xl_log_warn("projector", "seek back: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else {
        for (int i = 0; i != list->cnt; ++i) {
            rd_kafka_topic_partition_t *tp = &list->elems[i];
            if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                xl_log_warn("projector", "seek [%d] back to %lld: %s", (int)tp->partition, (long long)tp->offset,
                            rd_kafka_err2str(tp->err));
                continue;
            }
            xl_log_info("projector", "%s [%d] consumed again from %lld", proj->topic, (int)tp->partition,
                        (long long)tp->offset);
            proj->parts[tp->partition].sought = 1;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* ---- dead letters ---- */

/* Delivery report of a dead letter (served by rd_kafka_flush/poll on the projector thread). */
static void dlq_delivered(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    xl_projector_dlq_t *entry = rkm->_private;
    if (entry == NULL)
        return;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        xl_log_error("projector", "dead letter of %s not delivered: %s", entry->source, rd_kafka_err2str(rkm->err));
        entry->state = DLQ_FAILED;
    } else {
        entry->state = DLQ_DELIVERED;
    }
}

static void dlq_produce(xl_projector_worker_t *proj, xl_projector_dlq_t *entry)
{
    const rd_kafka_message_t *rkm = entry->rkm;

    entry->state = DLQ_PENDING;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(proj->dlq_rk, RD_KAFKA_V_TOPIC(proj->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(rkm->key, rkm->key_len), RD_KAFKA_V_VALUE(rkm->payload, rkm->len),
                              RD_KAFKA_V_HEADER(HDR_REASON, entry->reason, (ssize_t)strlen(entry->reason)),
                              RD_KAFKA_V_HEADER(HDR_SOURCE, entry->source, (ssize_t)strlen(entry->source)),
                              RD_KAFKA_V_OPAQUE(entry), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            xl_log_error("projector", "dead letter to %s: %s", proj->dlq_topic, rd_kafka_err2str(err));
            entry->state = DLQ_FAILED; /* produced again by dlq_flush */
            return;
        }
        rd_kafka_poll(proj->dlq_rk, 100);
    }
}

static void dead_letter(xl_projector_worker_t *proj, rd_kafka_message_t *rkm, const char *reason)
{
    xl_projector_dlq_t *entry = &proj->dlq[proj->ndlq++];
    entry->rkm = rkm;
    snprintf(entry->reason, sizeof(entry->reason), "%s", reason);
    snprintf(entry->source, sizeof(entry->source), "%s/%d/%lld", rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
             (long long)rkm->offset);
    xl_log_warn("projector", "dead letter %s: %s", entry->source, entry->reason);
    dlq_produce(proj, entry);
    ++proj->n_dlq;
}

/*
 * Wait until every dead letter of the batch is delivered, producing the
 * failed ones again: a poison message must not be skipped unrecorded. Gives
 * up only when the projector is stopping (after one last flush) or the
 * producer hit a fatal error.
 * @return 0, or -ECANCELED / -EIO: the batch must not be written.
 */
static int dlq_flush(xl_projector_worker_t *proj)
{
    int last_chance = 0;
    for (;;) {
        size_t pending = 0, failed = 0;
        for (size_t i = 0; i != proj->ndlq; ++i) {
            pending += proj->dlq[i].state == DLQ_PENDING;
            failed += proj->dlq[i].state == DLQ_FAILED;
        }
        if (pending == 0 && failed == 0)
            return 0;
        if (rd_kafka_fatal_error(proj->dlq_rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return -EIO;
        if (atomic_load(&proj->stop)) {
            if (last_chance)
                return -ECANCELED;
            last_chance = 1;
            rd_kafka_flush(proj->dlq_rk, CLOSE_FLUSH_MS);
            continue;
        }
        if (pending != 0) {
            rd_kafka_flush(proj->dlq_rk, DLQ_FLUSH_MS);
            continue;
        }
        sleep_ms(DLQ_RETRY_MS);
        for (size_t i = 0; i != proj->ndlq; ++i)
            if (proj->dlq[i].state == DLQ_FAILED)
                dlq_produce(proj, &proj->dlq[i]);
    }
}

/* ---- the batch ---- */

/* Fold one message; the batch owns rkm from here on. @return 0, or negative: fatal. */
static int project_message(xl_projector_worker_t *proj, rd_kafka_message_t *rkm)
{
    char err[256];
    xl_fold_result_t res;
    xl_fold_msg_t msg = {rkm->partition, rkm->offset, rkm->payload, rkm->len};

    proj->msgs[proj->nmsgs++] = rkm;
    if (xl_fold_add(proj->fold, &msg, &res, err, sizeof(err)) != 0) {
        xl_log_error("projector", "%s [%d] @ %lld: %s", rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                     (long long)rkm->offset, err);
        return -EIO;
    }
    switch (res.outcome) {
    case XL_APPLY_NEW:
        ++proj->n_applied;
        break;
    case XL_APPLY_DUPLICATE:
        ++proj->n_duplicates;
        break;
    case XL_APPLY_ANOMALY:
        ++proj->n_anomalies;
        xl_log_info("projector", "anomaly: execution %lld seq %u: %s", (long long)res.audit_id, res.seq, res.reason);
        break;
    default:
        dead_letter(proj, rkm, res.reason);
        break;
    }
    return 0;
}

/* Forget the batch in hand (after it was written, or when it cannot be). */
static void batch_reset(xl_projector_worker_t *proj)
{
    xl_fold_reset(proj->fold);
    for (size_t i = 0; i != proj->nmsgs; ++i)
        rd_kafka_message_destroy(proj->msgs[i]);
    proj->nmsgs = 0;
    proj->ndlq = 0;
    proj->n_applied = proj->n_duplicates = proj->n_anomalies = proj->n_dlq = 0;
}

/*
 * Drop the batch in hand unwritten, and have each partition it read from
 * consumed again from its first message in it (see seek_rewinds).
 */
static void batch_drop(xl_projector_worker_t *proj)
{
    for (size_t i = 0; i != proj->nmsgs; ++i) {
        xl_projector_part_t *part = part_get(proj, proj->msgs[i]->partition);
        if (part != NULL && (part->rewind < 0 || proj->msgs[i]->offset < part->rewind)) {
            part->rewind = proj->msgs[i]->offset;
            part->sought = 0;
        }
    }
    batch_reset(proj);
}

static void cache_forget(void *cache, int64_t audit_id)
{
    xl_cache_invalidate(cache, audit_id);
}

/*
 * Write the batch in hand once its dead letters are delivered, then report
 * it. @return 0; -EAGAIN: the store refused the write (published by
 * stall_note), the batch is kept as it is and the caller holds it for a
 * retry or drops it (batch_drop); other negative: the batch was not written
 * and is dropped (the thread must stop, and the next start resumes from the
 * store).
 */
static int batch_commit(xl_projector_worker_t *proj)
{
    char err[512];
    int ret = 0;

    if (proj->nmsgs == 0)
        return 0;
    if ((ret = dlq_flush(proj)) != 0) {
        xl_log_error("projector", "dead letters undelivered: their batch (%zu messages) is not written", proj->nmsgs);
        goto fail;
    }
    if ((ret = xl_fold_commit(proj->fold, proj->identity, err, sizeof(err))) != 0) {
        if (ret == -EAGAIN) {
            stall_note(proj, err);
            return ret;
        }
        xl_log_error("projector", "store: %s", err);
        goto fail;
    }
    stall_end(proj);
    /* durable: no cached answer of a changed execution may outlive this batch, and readers
     * waiting for its positions are released by on_applied below, so this comes first */
    if (proj->cache != NULL)
        xl_fold_each_changed(proj->fold, cache_forget, proj->cache);

    atomic_fetch_add(&proj->applied, proj->n_applied);
    atomic_fetch_add(&proj->duplicates, proj->n_duplicates);
    atomic_fetch_add(&proj->anomalies, proj->n_anomalies);
    atomic_fetch_add(&proj->dlq_count, proj->n_dlq);
    atomic_fetch_add(&proj->batches, 1);
    for (size_t i = 0; i != proj->nmsgs; ++i) {
        xl_projector_part_t *part = part_get(proj, proj->msgs[i]->partition);
        int64_t ts = rd_kafka_message_timestamp(proj->msgs[i], NULL);
        if (part != NULL && ts > part->applied_ts)
            part->applied_ts = ts;
    }
    size_t n;
    const xl_fold_offset_t *offsets = xl_fold_offsets(proj->fold, &n);
    rd_kafka_topic_partition_list_t *visible = proj->commit_positions ? rd_kafka_topic_partition_list_new((int)n) : NULL;
    for (size_t i = 0; i != n; ++i) {
        xl_projector_part_t *part = part_get(proj, offsets[i].partition);
        if (part != NULL)
            part->committed = offsets[i].next_offset;
        if (proj->on_applied != NULL)
            proj->on_applied(proj->ctx, offsets[i].partition, offsets[i].next_offset);
        if (visible != NULL)
            rd_kafka_topic_partition_list_add(visible, proj->topic, offsets[i].partition)->offset =
                offsets[i].next_offset;
    }
    if (visible != NULL) {
        /* for Kafka's own tools only (consumer-group lag): the store's offsets are the truth */
        rd_kafka_commit(proj->rk, visible, 1);
        rd_kafka_topic_partition_list_destroy(visible);
    }

fail:
    batch_reset(proj);
    return ret;
}

/* ---- librdkafka callbacks ---- */

/* librdkafka's syslog levels, 0 (emerg) to 7 (debug), as ours. */
static const int log_levels[8] = {XL_LOG_ERROR, XL_LOG_ERROR, XL_LOG_ERROR, XL_LOG_ERROR,
                                  XL_LOG_WARN,  XL_LOG_INFO,  XL_LOG_INFO,  XL_LOG_DEBUG};

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int xl_level = level >= 0 && level < 8 ? log_levels[level] : XL_LOG_DEBUG;
    /* the caller's props go to both handles; consumer-only ones are expected on the producer */
    if (rd_kafka_type(rk) == RD_KAFKA_PRODUCER && strcmp(fac, "CONFWARN") == 0 &&
        strstr(buf, "is a consumer property") != NULL)
        xl_level = XL_LOG_DEBUG;
    xl_log(xl_level, "projector", "rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    xl_projector_worker_t *proj = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        xl_log_error("projector", "%s: fatal: %s", rd_kafka_name(rk), fatal);
        fail_thread(proj, rk == proj->rk ? "fatal consumer error" : "fatal dead-letter producer error");
        return;
    }
    /* transient: librdkafka reconnects and retries by itself */
    xl_log_warn("projector", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

/* Position every assigned partition at the offset the store holds for this log. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    xl_projector_worker_t *proj = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    /* what was consumed so far belongs to the old assignment: write it first; if the
     * store refuses it, drop it: it is consumed again, from the store's offsets by
     * whoever is assigned its partitions, or here from its first message (rewind) */
    int ret = batch_commit(proj);
    if (ret == -EAGAIN)
        batch_drop(proj);
    else if (ret != 0)
        fail_thread(proj, "batch not written at rebalance");
    proj->held = 0;
    /* a partition keeps its pause across rebalances: resume before the assignment changes,
     * so that no partition comes back paused (those kept are sought back first, see above) */
    if (proj->paused)
        pause_assigned(proj, 0);

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i != parts->cnt; ++i) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            xl_projector_part_t *part = part_get(proj, tp->partition);
            int64_t next;
            if (xl_store_get_offset(proj->store, proj->identity, tp->partition, &next) == 0) {
                tp->offset = next;
                xl_log_info("projector", "assigned %s [%d] from stored offset %lld", tp->topic, (int)tp->partition,
                            (long long)next);
                if (proj->on_applied != NULL)
                    proj->on_applied(proj->ctx, tp->partition, next);
            } else {
                tp->offset = RD_KAFKA_OFFSET_BEGINNING;
                next = -1;
                xl_log_info("projector", "assigned %s [%d] from the beginning (nothing stored for %s)", tp->topic,
                            (int)tp->partition, proj->identity);
            }
            if (part != NULL) {
                part->assigned = 1;
                part->committed = next;
                part->rewind = -1; /* positioned from the store */
                part->sought = 0;
                part->end = -1;
            }
        }
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
    } else {
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            xl_log_error("projector", "rebalance: %s", rd_kafka_err2str(err));
        for (int i = 0; i != parts->cnt; ++i) {
            xl_projector_part_t *part = part_get(proj, parts->elems[i].partition);
            if (part != NULL) {
                part->assigned = 0;
                part->rewind = -1; /* its next owner starts from the store */
                part->sought = 0;
            }
        }
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    }
    if (error != NULL) {
        xl_log_error("projector", "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        xl_log_error("projector", "rebalance: %s", rd_kafka_err2str(aerr));
    }
}

/* ---- the thread ---- */

static int resolve_identity(xl_projector_worker_t *proj)
{
    while (proj->identity == NULL) {
        if (atomic_load(&proj->stop))
            return -ECANCELED;
        char *id = rd_kafka_clusterid(proj->rk, IDENTITY_WAIT_MS);
        if (id == NULL) {
            xl_log_warn("projector", "waiting for the cluster id of the brokers");
            continue;
        }
        proj->identity = strdup(id);
        rd_kafka_mem_free(proj->rk, id);
        if (proj->identity == NULL)
            return -ENOMEM;
    }
    xl_log_info("projector", "log identity %s", proj->identity);
    return 0;
}

/*
 * The worker's partitions of the topic (p % count == index; all of them for
 * one worker), assigned directly: a replica reads every partition, so there
 * is no group to join, and no wait for a rebalance at start. npartitions
 * gets the topic's partition count.
 * @return the list (empty when the topic has no partition for this worker;
 * destroy with rd_kafka_topic_partition_list_destroy), or NULL when stopping.
 */
static rd_kafka_topic_partition_list_t *all_partitions(xl_projector_worker_t *proj, size_t *npartitions)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(proj->rk, proj->topic, NULL);
    rd_kafka_topic_partition_list_t *parts = NULL;
    while (parts == NULL && !atomic_load(&proj->stop)) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(proj->rk, 0, rkt, &md, IDENTITY_WAIT_MS);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0 &&
            md->topics[0].partition_cnt > 0) {
            parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
            for (int i = 0; i != md->topics[0].partition_cnt; ++i)
                if (md->topics[0].partitions[i].id % proj->count == proj->index)
                    rd_kafka_topic_partition_list_add(parts, proj->topic, md->topics[0].partitions[i].id);
            *npartitions = (size_t)md->topics[0].partition_cnt;
        } else {
            xl_log_warn("projector", "waiting for the partitions of %s: %s", proj->topic,
                        rd_kafka_err2str(err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : md->topics[0].err));
        }
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return parts;
}

/*
 * One consumed record: an error to log, or a message to project; but while a
 * batch is held, or until its partition's seek back has taken effect, a
 * message is discarded and its partition rewound to it (consumed again
 * later). @return 0 or negative (fatal).
 */
static int consume_one(xl_projector_worker_t *proj, rd_kafka_message_t *rkm)
{
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            xl_log_warn("projector", "consumer: %s: %s", rd_kafka_err2name(rkm->err), rd_kafka_message_errstr(rkm));
        rd_kafka_message_destroy(rkm);
        return rd_kafka_fatal_error(proj->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR ? -EIO : 0;
    }
    xl_projector_part_t *part = part_get(proj, rkm->partition);
    if (part == NULL) {
        rd_kafka_message_destroy(rkm);
        return -ENOMEM;
    }
    if (!proj->held && part->rewind >= 0 && part->sought && rkm->offset >= part->rewind) {
        part->rewind = -1; /* the first message after the seek: from here on as usual (a gap is the log's) */
    } else if (proj->held || part->rewind >= 0) {
        if (part->rewind < 0 || rkm->offset < part->rewind) {
            part->rewind = rkm->offset;
            part->sought = 0;
        }
        rd_kafka_message_destroy(rkm);
        return 0;
    }
    return project_message(proj, rkm);
}

/*
 * The batch in hand was refused by the store: wait out the backoff while
 * serving the consumer (its partitions paused, the lag asked from the
 * brokers), then write it again. A rebalance meanwhile may drop it (held
 * becomes 0). @return 0, or negative: fatal.
 */
static int retry_held(xl_projector_worker_t *proj)
{
    uint64_t until = (uint64_t)xl_mono_ms() + (uint64_t)proj->retry_ms, lag_due = 0;
    for (uint64_t now = (uint64_t)xl_mono_ms(); now < until && proj->held && !atomic_load(&proj->stop); now = (uint64_t)xl_mono_ms()) {
        if (now >= lag_due) {
            update_lag(proj);
            lag_due = now + STALL_LAG_MS;
        }
        uint64_t left = until - now;
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(proj->rk, left < POLL_MS ? (int)left : POLL_MS);
        if (rkm != NULL && consume_one(proj, rkm) != 0)
            return -EIO;
        rd_kafka_poll(proj->dlq_rk, 0);
    }
    if (!proj->held)
        return 0; /* dropped by a rebalance: consumed again */
    int ret = batch_commit(proj); /* also once more when stopping; xl_projector_destroy drops it if refused */
    if (ret == -EAGAIN) {
        proj->retry_ms = proj->retry_ms * 2 < RETRY_MAX_MS ? proj->retry_ms * 2 : RETRY_MAX_MS;
        return 0;
    }
    proj->held = 0;
    return ret;
}

static void *run(void *arg)
{
    xl_projector_worker_t *proj = arg;
    xl_thread_name("xl-proj/%d", proj->index);
    rd_kafka_topic_partition_list_t *topics = NULL;
    rd_kafka_resp_err_t err;

    if (resolve_identity(proj) != 0) {
        if (!atomic_load(&proj->stop))
            fail_thread(proj, "no log identity");
        goto fail;
    }
    if (proj->assign_all) {
        if ((topics = all_partitions(proj, &proj->npartitions)) == NULL)
            goto fail;
        proj->metadata_due_ms = (uint64_t)xl_mono_ms() + METADATA_REFRESH_MS;
        on_rebalance(proj->rk, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, topics, proj);
        goto consume;
    }
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, proj->topic, RD_KAFKA_PARTITION_UA);
    if ((err = rd_kafka_subscribe(proj->rk, topics)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        xl_log_error("projector", "subscribe %s: %s", proj->topic, rd_kafka_err2str(err));
        fail_thread(proj, "cannot subscribe");
        goto fail;
    }

consume:
    while (!atomic_load(&proj->stop) && !atomic_load(&proj->failed)) {
        if (proj->held) {
            if (retry_held(proj) != 0) {
                if (!atomic_load(&proj->stop))
                    fail_thread(proj, "batch not written");
                goto fail;
            }
            continue;
        }
        seek_rewinds(proj);
        if (proj->paused)
            pause_assigned(proj, 0);
        if ((uint64_t)xl_mono_ms() >= proj->metadata_due_ms)
            refresh_partition_count(proj);
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(proj->rk, POLL_MS);
        /* a batch is what is ready now: waiting for more would only add latency */
        while (rkm != NULL) {
            if (consume_one(proj, rkm) != 0 || atomic_load(&proj->failed)) {
                batch_reset(proj);
                fail_thread(proj, "cannot project (see above)");
                goto fail;
            }
            if (proj->nmsgs == MAX_BATCH || proj->ndlq == MAX_DEAD_LETTERS)
                break;
            rkm = rd_kafka_consumer_poll(proj->rk, 0);
        }
        int ret = batch_commit(proj);
        if (ret == -EAGAIN) {
            /* keep it and write it again later; consume nothing else meanwhile */
            proj->held = 1;
            proj->retry_ms = RETRY_MIN_MS;
            pause_assigned(proj, 1);
        } else if (ret != 0) {
            if (!atomic_load(&proj->stop))
                fail_thread(proj, "batch not written");
            goto fail;
        }
        update_lag(proj);
        rd_kafka_poll(proj->dlq_rk, 0); /* serve the producer's errors and logs */
    }

fail:
    if (topics != NULL)
        rd_kafka_topic_partition_list_destroy(topics);
    return NULL;
}

/*
 * The positions committed for Kafka's tools: a refusal (the operator's group
 * has other members, a coordinator moves) costs only their view of the lag.
 */
static void on_positions_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets,
                                   void *opaque)
{
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        xl_log_debug("projector", "positions not committed to the group (for Kafka's tools only): %s",
                     rd_kafka_err2str(err));
}

/* ---- lifecycle ---- */

/* the client's configuration (projector/kconf.c), with the callbacks every client of the projector has */
static rd_kafka_conf_t *make_conf(xl_kconf_client_t client, const char *group_id, const xl_projector_conf_t *conf,
                                  char *err, size_t errlen)
{
    const char *const group[] = {"group.id", group_id};
    const xl_kconf_spec_t spec = {.client = client,
                                  .defaults = group,
                                  .ndefaults = group_id != NULL ? 1 : 0,
                                  .props = conf->kafka_props,
                                  .nprops = conf->nkafka_props};
    rd_kafka_conf_t *kconf = xl_kconf_build(&spec, err, errlen);
    if (kconf == NULL)
        return NULL;
    rd_kafka_conf_set_log_cb(kconf, on_log);
    rd_kafka_conf_set_error_cb(kconf, on_error);
    return kconf;
}

static xl_projector_worker_t *worker_create(const xl_projector_conf_t *conf, xl_store_t *store, xl_fold_feed_t *feed,
                                            atomic_int *nstalled, int index, int count, char *err, size_t errlen)
{
    xl_projector_worker_t *proj = NULL;
    rd_kafka_conf_t *kconf = NULL;

    if (conf->topic == NULL || conf->dlq_topic == NULL || conf->group_id == NULL) {
        snprintf(err, errlen, "projector: topic, dlq_topic and group_id are required");
        goto fail;
    }
    if ((proj = calloc(1, sizeof(*proj))) == NULL)
        goto nomem;
    pthread_mutex_init(&proj->lags_mutex, NULL);
    proj->store = store;
    proj->on_applied = conf->on_applied;
    proj->ctx = conf->ctx;
    atomic_store(&proj->lag, -1);
    if ((proj->topic = strdup(conf->topic)) == NULL || (proj->dlq_topic = strdup(conf->dlq_topic)) == NULL)
        goto nomem;
    if (conf->log_identity != NULL && (proj->identity = strdup(conf->log_identity)) == NULL)
        goto nomem;
    proj->assign_all = conf->assign_all;
    proj->commit_positions = conf->commit_positions;
    proj->cache = conf->cache;
    proj->index = index;
    proj->count = count;
    proj->nstalled = nstalled;
    if ((proj->fold = xl_fold_create(store, err, errlen)) == NULL)
        goto fail;
    xl_fold_share_feed(proj->fold, feed);

    if ((kconf = make_conf(XL_KCONF_PROJECTOR, conf->group_id, conf, err, errlen)) == NULL)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(kconf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(kconf, on_positions_committed);
    rd_kafka_conf_set_opaque(kconf, proj);
    if ((proj->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, err, errlen)) == NULL)
        goto fail;
    kconf = NULL;                         /* owned by rk */
    rd_kafka_poll_set_consumer(proj->rk); /* errors and rebalances arrive through rd_kafka_consumer_poll */

    if ((kconf = make_conf(XL_KCONF_DLQ_PRODUCER, NULL, conf, err, errlen)) == NULL)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(kconf, dlq_delivered);
    rd_kafka_conf_set_opaque(kconf, proj);
    if ((proj->dlq_rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, err, errlen)) == NULL)
        goto fail;
    return proj;

nomem:
    snprintf(err, errlen, "projector: out of memory");
fail:
    if (kconf != NULL)
        rd_kafka_conf_destroy(kconf);
    worker_destroy(proj);
    return NULL;
}

static int worker_start(xl_projector_worker_t *proj, char *err, size_t errlen)
{
    if (proj->started) {
        snprintf(err, errlen, "projector: already started");
        return -EALREADY;
    }
    int ret = pthread_create(&proj->thread, NULL, run, proj);
    if (ret != 0) {
        snprintf(err, errlen, "projector: pthread_create: %s", strerror(ret));
        return -ret;
    }
    proj->started = 1;
    return 0;
}

static void worker_destroy(xl_projector_worker_t *proj)
{
    if (proj == NULL)
        return;
    atomic_store(&proj->stop, 1);
    if (proj->started)
        pthread_join(proj->thread, NULL);
    /* a batch the store refused is dropped unwritten (the next start consumes it again from the
     * store's offsets); its messages must be released first: rd_kafka_destroy waits for them */
    if (proj->fold != NULL && proj->nmsgs != 0) {
        xl_log_warn("projector",
                    "stopping with %zu messages the store did not take: the next start consumes them again from the "
                    "log (if the log still holds them: an embedded broker's does not survive the restart)",
                    proj->nmsgs);
        batch_reset(proj);
    }
    if (proj->rk != NULL) {
        /* leaves the group; the revocation runs on_rebalance here, with no batch in hand */
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(proj->rk);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            xl_log_warn("projector", "consumer close: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(proj->rk);
    }
    if (proj->dlq_rk != NULL) {
        if (rd_kafka_flush(proj->dlq_rk, CLOSE_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_purge(proj->dlq_rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(proj->dlq_rk, 100);
        }
        rd_kafka_destroy(proj->dlq_rk);
    }
    if (proj->fold != NULL) {
        batch_reset(proj);
        xl_fold_destroy(proj->fold);
    }
    free(proj->parts);
    pthread_mutex_destroy(&proj->lags_mutex);
    free(proj->identity);
    free(proj->dlq_topic);
    free(proj->topic);
    free(proj);
}

static size_t worker_get_lags(xl_projector_worker_t *proj, int64_t *lags, size_t n)
{
    pthread_mutex_lock(&proj->lags_mutex);
    size_t count = proj->nlags < n ? proj->nlags : n;
    memcpy(lags, proj->lags, count * sizeof(lags[0]));
    pthread_mutex_unlock(&proj->lags_mutex);
    return count;
}

static size_t worker_get_log_ends(xl_projector_worker_t *proj, int64_t *ends, size_t n)
{
    pthread_mutex_lock(&proj->lags_mutex);
    size_t count = proj->partition_count;
    for (size_t p = 0; p < n && p < count; ++p)
        ends[p] = p < proj->nends ? proj->ends[p] : -1;
    pthread_mutex_unlock(&proj->lags_mutex);
    return count;
}

static void worker_get_stats(xl_projector_worker_t *proj, xl_projector_stats_t *stats)
{
    stats->applied = atomic_load(&proj->applied);
    stats->duplicates = atomic_load(&proj->duplicates);
    stats->anomalies = atomic_load(&proj->anomalies);
    stats->dlq = atomic_load(&proj->dlq_count);
    stats->batches = atomic_load(&proj->batches);
    stats->lag = atomic_load(&proj->lag);
    stats->lag_ms = atomic_load(&proj->lag_ms);
    stats->failed = atomic_load(&proj->failed);
    pthread_mutex_lock(&proj->lags_mutex);
    stats->stalled = atomic_load(&proj->stalled);
    snprintf(stats->stall_reason, sizeof(stats->stall_reason), "%s", stats->stalled ? proj->stall_reason : "");
    pthread_mutex_unlock(&proj->lags_mutex);
}

/* ---- the workers, as one projector ---- */

struct st_xl_projector_t {
    xl_fold_feed_t *feed; /* the feed's counter, shared by the workers' folds */
    atomic_int nstalled;  /* workers whose batch the store refuses now */
    xl_projector_worker_t **workers;
    int nworkers;
};

xl_projector_t *xl_projector_create(const xl_projector_conf_t *conf, xl_store_t *store, char *err, size_t errlen)
{
    int n = conf->threads > 0 ? conf->threads : 1;
    xl_projector_t *proj = NULL;

    if (n > 1 && !conf->assign_all) {
        snprintf(err, errlen, "projector: %d threads need assign_all (a consumer group assigns one consumer)", n);
        return NULL;
    }
    if (n > XL_PROJECTOR_MAX_THREADS) {
        snprintf(err, errlen, "projector: %d threads, at most %d", n, XL_PROJECTOR_MAX_THREADS);
        return NULL;
    }
    if ((proj = calloc(1, sizeof(*proj))) == NULL ||
        (proj->workers = calloc((size_t)n, sizeof(*proj->workers))) == NULL ||
        (proj->feed = xl_fold_feed_create(store)) == NULL) {
        snprintf(err, errlen, "projector: out of memory");
        goto fail;
    }
    for (; proj->nworkers != n; ++proj->nworkers) {
        xl_projector_worker_t *w =
            worker_create(conf, store, proj->feed, &proj->nstalled, proj->nworkers, n, err, errlen);
        if (w == NULL)
            goto fail;
        proj->workers[proj->nworkers] = w;
    }
    return proj;

fail:
    xl_projector_destroy(proj);
    return NULL;
}

int xl_projector_start(xl_projector_t *proj, char *err, size_t errlen)
{
    for (int i = 0; i != proj->nworkers; ++i) {
        int ret = worker_start(proj->workers[i], err, errlen);
        if (ret != 0)
            return ret; /* those started are stopped by xl_projector_destroy */
    }
    return 0;
}

void xl_projector_destroy(xl_projector_t *proj)
{
    if (proj == NULL)
        return;
    /* all stop at once, each writing the batch in hand */
    for (int i = 0; i != proj->nworkers; ++i)
        atomic_store(&proj->workers[i]->stop, 1);
    for (int i = 0; i != proj->nworkers; ++i)
        worker_destroy(proj->workers[i]);
    free(proj->workers);
    xl_fold_feed_destroy(proj->feed); /* after the folds that share it */
    free(proj);
}

/* Each partition belongs to one worker; the others report it -1 (not assigned): the highest wins. */
static size_t merge_max(int64_t *into, size_t n, size_t count, const int64_t *from, size_t nfrom)
{
    for (size_t p = 0; p != nfrom && p != n; ++p)
        if (p >= count || from[p] > into[p])
            into[p] = from[p];
    return nfrom > count ? (nfrom < n ? nfrom : n) : count;
}

size_t xl_projector_get_lags(xl_projector_t *proj, int64_t *lags, size_t n)
{
    int64_t mine[XL_PROJECTOR_MAX_LAGS];
    size_t count = 0;
    for (int i = 0; i != proj->nworkers; ++i) {
        size_t got = worker_get_lags(proj->workers[i], mine, n < XL_PROJECTOR_MAX_LAGS ? n : XL_PROJECTOR_MAX_LAGS);
        count = merge_max(lags, n, count, mine, got);
    }
    return count;
}

size_t xl_projector_get_log_ends(xl_projector_t *proj, int64_t *ends, size_t n)
{
    int64_t mine[XL_PROJECTOR_MAX_LAGS];
    size_t partitions = 0, count = 0;
    size_t cap = n < XL_PROJECTOR_MAX_LAGS ? n : XL_PROJECTOR_MAX_LAGS;
    for (int i = 0; i != proj->nworkers; ++i) {
        size_t got = worker_get_log_ends(proj->workers[i], mine, cap);
        count = merge_max(ends, n, count, mine, got < cap ? got : cap);
        if (got > partitions)
            partitions = got;
    }
    for (size_t p = count; p < n && p < partitions; ++p)
        ends[p] = -1;
    return partitions;
}

void xl_projector_get_stats(xl_projector_t *proj, xl_projector_stats_t *stats)
{
    xl_projector_stats_t one;
    memset(stats, 0, sizeof(*stats));
    for (int i = 0; i != proj->nworkers; ++i) {
        worker_get_stats(proj->workers[i], &one);
        stats->applied += one.applied;
        stats->duplicates += one.duplicates;
        stats->anomalies += one.anomalies;
        stats->dlq += one.dlq;
        stats->batches += one.batches;
        /* behind: the sum, unknown if any worker's is; in time: the worst */
        stats->lag = stats->lag < 0 || one.lag < 0 ? -1 : stats->lag + one.lag;
        if (stats->lag_ms < 0 || one.lag_ms < 0)
            stats->lag_ms = -1;
        else if (one.lag_ms > stats->lag_ms)
            stats->lag_ms = one.lag_ms;
        stats->failed |= one.failed;
        if (one.stalled && !stats->stalled) {
            stats->stalled = 1;
            memcpy(stats->stall_reason, one.stall_reason, sizeof(stats->stall_reason));
        }
    }
}
