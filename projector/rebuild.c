/*
 * Rebuild of the projections (see rebuild.h).
 *
 * From the archive: the positions of every archived event are read first
 * (24 bytes an event, in memory), then the derived column families are
 * dropped and the events are folded again, each with the position it was
 * first read from, through xl_fold: the same code as the projector, so the
 * same bytes. The order is (partition, offset), the order the log had, when
 * every execution's events sit on one partition at increasing offsets; the
 * archive of a store that followed several logs (an embedded broker
 * restarted: its offsets start again at 0) breaks that, and then the order
 * is (audit_id, seq), the archive's own order, in which a second scan of the
 * archive hands the frames over (in log order each is a point read). Both
 * keep each execution's events in sequence, which is all the projections
 * depend on (fold.h), so both give the same digest. Each
 * event must come out of the fold with the seq it is archived under; if one
 * does not, the archive is inconsistent and the rebuild stops.
 *
 * From Kafka: everything is dropped and the topic is read from its beginning
 * up to the high watermarks of the start, with assign() (no group, nothing
 * committed to Kafka), and folded with the cluster's identity as the log
 * identity of the offsets.
 *
 * This file must never write to Kafka and never write the store but through
 * xl_fold and the rebuild calls of store.h.
 */
#include "projector/rebuild.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "projector/apply.h"
#include "projector/fold.h"
#include "projector/kconf.h"
#include "projector/store.h"
#include "schemas/base/array.h"
#include "schemas/base/log.h"

#define BATCH 16384            /* messages per WriteBatch */
#define PROGRESS_TTY_MS 200    /* redraw of the bar */
#define PROGRESS_PLAIN_MS 2000 /* a plain line this often */
#define KAFKA_WAIT_MS 10000    /* metadata, watermarks, cluster id */
#define KAFKA_STALL_MS 60000   /* no message for this long before the end: give up */
#define POLL_MS 200

/* ---- progress ---- */

typedef struct st_xl_rebuild_progress_t {
    int on, tty;
    const char *what;
    uint64_t total;
    double start, last;
} xl_rebuild_progress_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_init(xl_rebuild_progress_t *pr, int on, const char *what, uint64_t total)
{
    pr->on = on;
    pr->tty = on && isatty(STDERR_FILENO);
    pr->what = what;
    pr->total = total;
    pr->start = pr->last = now_s();
}

static void progress_show(xl_rebuild_progress_t *pr, uint64_t done, int final)
{
    if (!pr->on)
        return;
    double t = now_s();
    if (!final && (t - pr->last) * 1000 < (pr->tty ? PROGRESS_TTY_MS : PROGRESS_PLAIN_MS))
        return;
    pr->last = t;
    double rate = t > pr->start ? (double)done / (t - pr->start) : 0;
    double frac = pr->total != 0 ? (double)done / (double)pr->total : 1;
    if (frac > 1)
        frac = 1;
    if (pr->tty) {
        char bar[41];
        int fill = (int)(frac * 40);
        for (int i = 0; i != 40; ++i)
            bar[i] = i < fill ? '#' : '-';
        bar[40] = '\0';
        fprintf(stderr, "\rrebuild [%s] %5.1f%% %" PRIu64 "/%" PRIu64 " %s %.0f/s%s", bar, frac * 100, done, pr->total,
                pr->what, rate, final ? "\n" : "");
    } else {
        fprintf(stderr, "rebuild: %" PRIu64 "/%" PRIu64 " %s (%.0f%%), %.0f/s\n", done, pr->total, pr->what, frac * 100,
                rate);
    }
    fflush(stderr);
}

/* ---- folding ---- */

typedef struct st_xl_rebuild_t {
    const xl_rebuild_conf_t *conf;
    xl_store_t *store;
    xl_fold_t *fold;
    const char *identity; /* NULL: no offsets (from the archive) */
    xl_rebuild_stats_t stats;
    char *err;
    size_t errlen;
} xl_rebuild_t;

static int flush_batch(xl_rebuild_t *rb)
{
    int ret = 0;
    if (xl_fold_count(rb->fold) != 0)
        ret = xl_fold_commit(rb->fold, rb->identity, rb->err, rb->errlen);
    xl_fold_reset(rb->fold);
    return ret;
}

/* Fold one message into the batch; a full batch is written. want_seq 0: from Kafka, anything goes. */
static int fold_one(xl_rebuild_t *rb, const xl_fold_msg_t *msg, uint32_t want_seq, int64_t want_audit)
{
    xl_fold_result_t res;
    int ret;

    if ((ret = xl_fold_add(rb->fold, msg, &res, rb->err, rb->errlen)) != 0)
        return ret;
    ++rb->stats.messages;
    switch (res.outcome) {
    case XL_APPLY_NEW:
    case XL_APPLY_ANOMALY:
        ++rb->stats.applied;
        break;
    case XL_APPLY_DUPLICATE:
        ++rb->stats.duplicates;
        break;
    default:
        ++rb->stats.rejected;
        if (want_seq == 0)
            xl_log_debug("rebuild", "[%d] @ %" PRId64 " skipped: %s", (int)msg->partition, msg->offset, res.reason);
        break;
    }
    if (want_seq != 0 && (res.audit_id != want_audit || res.seq != want_seq ||
                          (res.outcome != XL_APPLY_NEW && res.outcome != XL_APPLY_ANOMALY))) {
        snprintf(rb->err, rb->errlen,
                 "the archive is inconsistent: event %" PRId64 "/%u replays as %s with seq %u (%s); "
                 "rebuild --from-kafka if the topic still holds it",
                 want_audit, want_seq, xl_apply_outcome_name(res.outcome), res.seq, res.reason);
        return -EIO;
    }
    return xl_fold_count(rb->fold) >= BATCH ? flush_batch(rb) : 0;
}

/* ---- from the archive ---- */

typedef struct st_xl_rebuild_entry_t {
    int64_t audit_id;
    int64_t offset;
    int32_t partition;
    uint32_t seq;
} xl_rebuild_entry_t;

typedef struct st_xl_rebuild_entries_t {
    xl_rebuild_entry_t *v;
    size_t n, cap;
    int in_log_order; /* every execution on one partition at increasing offsets, so far */
} xl_rebuild_entries_t;

static int collect(void *ctx, const xl_store_archived_t *ev)
{
    xl_rebuild_entries_t *es = ctx;
    XL_ROOM_OR_RETURN(es->v, es->n, es->cap, 65536);
    /* the scan is in (audit_id, seq) order: compare with the previous event of the same execution */
    if (es->n != 0) {
        const xl_rebuild_entry_t *prev = &es->v[es->n - 1];
        if (prev->audit_id == ev->audit_id && (prev->partition != ev->pos.partition || prev->offset >= ev->pos.offset))
            es->in_log_order = 0;
    }
    es->v[es->n++] = (xl_rebuild_entry_t){ev->audit_id, ev->pos.offset, ev->pos.partition, ev->seq};
    return 0;
}

static int by_position(const void *a, const void *b)
{
    const xl_rebuild_entry_t *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->audit_id != y->audit_id) /* equal positions only in a hand-made archive: stay deterministic */
        return x->audit_id < y->audit_id ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static uint64_t count_executions(const xl_rebuild_entries_t *es)
{
    uint64_t n = 0;
    for (size_t i = 0; i != es->n; ++i)
        n += i == 0 || es->v[i].audit_id != es->v[i - 1].audit_id;
    return n;
}

/* The second pass over the archive, when it is folded in its own (audit_id, seq) order. */
typedef struct st_xl_rebuild_pass_t {
    xl_rebuild_t *rb;
    const xl_rebuild_entries_t *es;
    xl_rebuild_progress_t *pr;
    size_t i; /* events folded */
    int ret;  /* why the pass stopped */
} xl_rebuild_pass_t;

/* Fold the next archived event: the one the first pass saw at this place (the archive is not written meanwhile). */
static int fold_archived(void *ctx, const xl_store_archived_t *ev)
{
    xl_rebuild_pass_t *pass = ctx;
    xl_rebuild_t *rb = pass->rb;
    const xl_rebuild_entry_t *e = pass->i < pass->es->n ? &pass->es->v[pass->i] : NULL;
    if (e == NULL || e->audit_id != ev->audit_id || e->seq != ev->seq) {
        snprintf(rb->err, rb->errlen, "archived event %" PRId64 "/%u: the archive changed during the rebuild",
                 ev->audit_id, ev->seq);
        return pass->ret = -EIO;
    }
    xl_fold_msg_t msg = {e->partition, e->offset, ev->frame, ev->len};
    if ((pass->ret = fold_one(rb, &msg, e->seq, e->audit_id)) != 0)
        return pass->ret;
    progress_show(pass->pr, ++pass->i, 0);
    return 0;
}

static int from_archive(xl_rebuild_t *rb)
{
    xl_rebuild_entries_t es = {NULL, 0, 0, 1};
    xl_rebuild_progress_t pr;
    xl_buf_t frame;
    int ret;

    xl_buf_init(&frame);
    if ((ret = xl_store_scan_archive(rb->store, collect, &es)) != 0) {
        snprintf(rb->err, rb->errlen, "reading the archive: %s",
                 ret == -ENOMEM ? "out of memory" : "malformed or unreadable");
        goto fail;
    }
    rb->stats.executions = count_executions(&es);
    rb->stats.order = es.in_log_order;
    if (es.in_log_order)
        qsort(es.v, es.n, sizeof(*es.v), by_position);
    else
        xl_log_info("rebuild", "the archive holds events of several logs (offsets restart): folding in (audit_id, seq) "
                               "order");
    if ((ret = xl_store_reset(rb->store, XL_STORE_RESET_DERIVED, rb->err, rb->errlen)) != 0)
        goto fail;
    if ((rb->fold = xl_fold_create(rb->store, rb->err, rb->errlen)) == NULL) {
        ret = -ENOMEM;
        goto fail;
    }
    if ((ret = xl_fold_fresh_store(rb->fold)) != 0) { /* the projections were just dropped */
        snprintf(rb->err, rb->errlen, "rebuild: out of memory");
        goto fail;
    }
    xl_fold_keep_archive(rb->fold); /* each event comes back with its seq and position: checked in fold_one */

    progress_init(&pr, rb->conf->progress, "events", es.n);
    double t0 = now_s();
    if (!es.in_log_order) {
        /* the archive's own order: one more scan reads the frames in sequence, no point read each */
        xl_rebuild_pass_t pass = {rb, &es, &pr, 0, 0};
        if ((ret = xl_store_scan_archive(rb->store, fold_archived, &pass)) != 0) {
            if (pass.ret == 0)
                snprintf(rb->err, rb->errlen, "reading the archive: %s",
                         ret == -ENOMEM ? "out of memory" : "malformed or unreadable");
            goto fail;
        }
        if (pass.i != es.n) {
            snprintf(rb->err, rb->errlen, "the archive changed during the rebuild (%zu events, then %zu)", es.n,
                     pass.i);
            ret = -EIO;
            goto fail;
        }
    }
    for (size_t i = 0; es.in_log_order && i != es.n; ++i) {
        const xl_rebuild_entry_t *e = &es.v[i];
        xl_buf_reset(&frame);
        if ((ret = xl_store_get_event(rb->store, e->audit_id, e->seq, &frame)) != 0) {
            snprintf(rb->err, rb->errlen, "archived event %" PRId64 "/%u: cannot read it back (%d)", e->audit_id,
                     e->seq, ret);
            goto fail;
        }
        xl_fold_msg_t msg = {e->partition, e->offset, frame.base, frame.len};
        if ((ret = fold_one(rb, &msg, e->seq, e->audit_id)) != 0)
            goto fail;
        progress_show(&pr, i + 1, 0);
    }
    if ((ret = flush_batch(rb)) != 0)
        goto fail;
    rb->stats.seconds = now_s() - t0;
    progress_show(&pr, es.n, 1);

fail:
    xl_buf_dispose(&frame);
    free(es.v);
    return ret;
}

/* ---- from Kafka ---- */

typedef struct st_xl_rebuild_part_t {
    int64_t end;  /* high watermark at the start: read up to it */
    int64_t next; /* next offset to fold */
    int done;
} xl_rebuild_part_t;

static rd_kafka_t *kafka_consumer(const xl_rebuild_conf_t *conf, char *err, size_t errlen)
{
    const xl_kconf_spec_t spec = {.client = XL_KCONF_REBUILD, .props = conf->kafka_props, .nprops = conf->nkafka_props};
    rd_kafka_conf_t *kconf = xl_kconf_build(&spec, err, errlen);
    rd_kafka_t *rk;
    if (kconf == NULL)
        return NULL;
    if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, err, errlen)) == NULL)
        rd_kafka_conf_destroy(kconf);
    return rk;
}

/* Partitions of the topic and their watermarks. @return the count, or negative with err. */
static int kafka_partitions(rd_kafka_t *rk, const char *topic, xl_rebuild_part_t **parts, uint64_t *total, char *err,
                            size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t kerr;
    int n = -EIO;

    if (rkt == NULL) {
        snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -EIO;
    }
    if ((kerr = rd_kafka_metadata(rk, 0, rkt, &md, KAFKA_WAIT_MS)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "metadata of %s: %s", topic, rd_kafka_err2str(kerr));
        goto fail;
    }
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].partition_cnt <= 0) {
        snprintf(err, errlen, "topic %s: %s", topic,
                 md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not found");
        goto fail;
    }
    n = md->topics[0].partition_cnt;
    if ((*parts = calloc((size_t)n, sizeof(**parts))) == NULL) {
        snprintf(err, errlen, "out of memory");
        n = -ENOMEM;
        goto fail;
    }
    *total = 0;
    for (int p = 0; p != n; ++p) {
        int64_t lo, hi;
        if ((kerr = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, KAFKA_WAIT_MS)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "watermarks of %s [%d]: %s", topic, p, rd_kafka_err2str(kerr));
            free(*parts);
            *parts = NULL;
            n = -EIO;
            goto fail;
        }
        if (lo > 0)
            xl_log_warn("rebuild",
                        "%s [%d] starts at offset %" PRId64 ": the events before it are no longer in the "
                        "topic and will not be in the rebuilt archive",
                        topic, p, lo);
        (*parts)[p] = (xl_rebuild_part_t){hi, lo, lo >= hi};
        *total += (uint64_t)(hi - lo);
    }

fail:
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int from_kafka(xl_rebuild_t *rb)
{
    const xl_rebuild_conf_t *conf = rb->conf;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *assignment = NULL;
    xl_rebuild_part_t *parts = NULL;
    xl_rebuild_progress_t pr;
    char *identity = NULL;
    uint64_t total = 0;
    int nparts, ret = -EIO;

    if (conf->topic == NULL) {
        snprintf(rb->err, rb->errlen, "no topic");
        return -EINVAL;
    }
    if ((rk = kafka_consumer(conf, rb->err, rb->errlen)) == NULL)
        return -EINVAL;
    if ((identity = rd_kafka_clusterid(rk, KAFKA_WAIT_MS)) == NULL) {
        snprintf(rb->err, rb->errlen, "no cluster id from the brokers within %d ms", KAFKA_WAIT_MS);
        goto fail;
    }
    if ((nparts = kafka_partitions(rk, conf->topic, &parts, &total, rb->err, rb->errlen)) < 0) {
        ret = nparts;
        goto fail;
    }
    xl_log_info("rebuild", "log identity %s, %s: %d partitions, %" PRIu64 " messages", identity, conf->topic, nparts,
                total);
    if (total == 0) {
        /* most likely the wrong topic or cluster (brokers may even create a topic on a metadata request) */
        snprintf(rb->err, rb->errlen, "topic %s holds no messages on %s: nothing to rebuild from (the store is kept)",
                 conf->topic, identity);
        ret = -EINVAL;
        goto fail;
    }

    /* only now, with the topic known to be readable: drop everything */
    if ((ret = xl_store_reset(rb->store, XL_STORE_RESET_ALL, rb->err, rb->errlen)) != 0)
        goto fail;
    if ((rb->fold = xl_fold_create(rb->store, rb->err, rb->errlen)) == NULL) {
        ret = -ENOMEM;
        goto fail;
    }
    if ((ret = xl_fold_fresh_store(rb->fold)) != 0) { /* everything was just dropped */
        snprintf(rb->err, rb->errlen, "rebuild: out of memory");
        goto fail;
    }
    rb->identity = identity;

    int remaining = 0;
    assignment = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p != nparts; ++p) {
        if (parts[p].done)
            continue;
        rd_kafka_topic_partition_list_add(assignment, conf->topic, p)->offset = parts[p].next;
        ++remaining;
    }
    rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, assignment);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(rb->err, rb->errlen, "assign: %s", rd_kafka_err2str(kerr));
        ret = -EIO;
        goto fail;
    }

    progress_init(&pr, conf->progress, "messages", total);
    double t0 = now_s(), last_msg = t0;
    while (remaining > 0) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, POLL_MS);
        if (rkm == NULL) {
            /* nothing is arriving: write what we have, and give up after a long silence */
            if ((ret = flush_batch(rb)) != 0)
                goto fail;
            if ((now_s() - last_msg) * 1000 > KAFKA_STALL_MS) {
                snprintf(rb->err, rb->errlen, "no message from %s for %d s before its end", conf->topic,
                         KAFKA_STALL_MS / 1000);
                ret = -EIO;
                goto fail;
            }
            continue;
        }
        int32_t p = rkm->partition;
        int in_range = p >= 0 && p < nparts;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end, also where the last offsets hold no message (transaction markers, compaction) */
            if (in_range && !parts[p].done && rkm->offset >= parts[p].end) {
                parts[p].done = 1;
                --remaining;
            }
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            xl_log_warn("rebuild", "consumer: %s", rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            if (rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(rb->err, rb->errlen, "fatal consumer error");
                ret = -EIO;
                goto fail;
            }
            continue;
        }
        last_msg = now_s();
        if (in_range && rkm->offset >= parts[p].next && rkm->offset < parts[p].end) {
            xl_fold_msg_t msg = {p, rkm->offset, rkm->payload, rkm->len};
            ret = fold_one(rb, &msg, 0, 0);
            parts[p].next = rkm->offset + 1;
            if (ret == 0 && parts[p].next >= parts[p].end && !parts[p].done) {
                parts[p].done = 1;
                --remaining;
            }
            progress_show(&pr, rb->stats.messages, 0);
        }
        rd_kafka_message_destroy(rkm);
        if (ret != 0)
            goto fail;
    }
    if ((ret = flush_batch(rb)) != 0)
        goto fail;
    rb->stats.seconds = now_s() - t0;
    progress_show(&pr, rb->stats.messages, 1);
    ret = 0;

fail:
    if (assignment != NULL)
        rd_kafka_topic_partition_list_destroy(assignment);
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        if (identity != NULL)
            rd_kafka_mem_free(rk, identity);
        rd_kafka_destroy(rk);
    }
    free(parts);
    return ret;
}

static int count_one(void *ctx, int64_t created_ms, int64_t audit_id)
{
    ++*(uint64_t *)ctx;
    return 0;
}

int xl_rebuild_run(const xl_rebuild_conf_t *conf, char *err, size_t errlen)
{
    xl_rebuild_t rb = {.conf = conf, .err = err, .errlen = errlen};
    struct stat sb;
    int ret;

    if (conf->store_dir == NULL || stat(conf->store_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "no store at %s", conf->store_dir != NULL ? conf->store_dir : "(null)");
        return -ENOENT;
    }
    if ((rb.store = xl_store_open_for_rebuild(conf->store_dir, err, errlen)) == NULL)
        return -EIO;
    if ((ret = conf->from_kafka ? from_kafka(&rb) : from_archive(&rb)) != 0)
        goto fail;
    if ((ret = xl_store_rebuild_done(rb.store, err, errlen)) != 0)
        goto fail;
    if (conf->from_kafka) {
        xl_buf_t prefix;
        xl_buf_init(&prefix);
        rb.stats.executions = 0;
        if (xl_store_index_prefix(&prefix, XL_IX_ALL, NULL, NULL, 0, 0) == 0)
            xl_store_index_scan(rb.store, prefix.base, prefix.len, 0, NULL, count_one, &rb.stats.executions);
        xl_buf_dispose(&prefix);
    }
    if (conf->stats != NULL)
        *conf->stats = rb.stats;

fail:
    xl_fold_destroy(rb.fold);
    xl_store_close(rb.store);
    return ret;
}
