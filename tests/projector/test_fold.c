/*
 * Tests of projector/fold.c, the batch without Kafka, on a real RocksDB in a
 * fresh mkdtemp directory: idempotency within a batch and across batches,
 * several events of one execution folding in order inside one batch, dead
 * letters (undecodable, rejected), offsets per partition, a reset that writes
 * nothing, the feed (no gap after a reset), a commit without offsets, and
 * that batch boundaries never change the projections (the same log folded in
 * batches of 1, of 7 and all at once gives one digest), nor does another
 * interleaving of the partitions (the feed, left out of the digest, aside).
 */
#include <avro.h>
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projector/apply.h"
#include "projector/fold.h"
#include "projector/store.h"
#include "schemas/fingerprint.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

#define MAX_LOG 128

/* A log: frames with their partition and offset. */
typedef struct st_log_t {
    xl_buf_t frames[MAX_LOG];
    int32_t partition[MAX_LOG];
    int64_t offset[MAX_LOG];
    size_t n;
    int64_t next[4];
} log_t;

static int log_event(log_t *log, xl_codec_t *codec, int32_t partition, int type, int64_t audit, const char *event_id,
                     int64_t t)
{
    xl_event_t ev = fx_event(type, audit, event_id, t);
    ev.flow_id = str_of("flow");
    ev.tenant_id = str_of("acme");
    xl_metric_t m = {str_of("n"), t};
    if (type == XL_EVENT_METRICS) {
        ev.metrics = &m;
        ev.nmetrics = 1;
    }
    xl_buf_t *frame = &log->frames[log->n];
    xl_buf_init(frame);
    if (fx_encode(codec, &ev, frame) != 0)
        return -1;
    log->partition[log->n] = partition;
    log->offset[log->n] = log->next[partition]++;
    ++log->n;
    return 0;
}

static int log_raw(log_t *log, int32_t partition, const char *bytes)
{
    xl_buf_t *frame = &log->frames[log->n];
    xl_buf_init(frame);
    xl_buf_append(frame, bytes, strlen(bytes));
    log->partition[log->n] = partition;
    log->offset[log->n] = log->next[partition]++;
    ++log->n;
    return 0;
}

static void log_dispose(log_t *log)
{
    for (size_t i = 0; i != log->n; ++i)
        xl_buf_dispose(&log->frames[i]);
}

static int add(xl_fold_t *fold, const log_t *log, size_t i, xl_fold_result_t *res)
{
    char err[256];
    xl_fold_msg_t msg = {log->partition[i], log->offset[i], log->frames[i].base, log->frames[i].len};
    int ret = xl_fold_add(fold, &msg, res, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "xl_fold_add: %s\n", err);
    return ret;
}

/*
 * Fold the whole log into a fresh store under dir in batches of batch_size,
 * in the log's order, or partition by partition from the last when
 * by_partition (another interleaving with each partition in order); digest into hex.
 */
static int fold_log(const char *dir, const log_t *log, size_t batch_size, int by_partition,
                    char hex[XL_STORE_DIGEST_HEX_LEN + 1], int64_t next[4])
{
    char err[256];
    xl_fold_result_t res;
    int ret = -1;
    size_t order[MAX_LOG], n = 0;
    xl_store_t *store;
    xl_fold_t *fold = fx_fold_open(dir, &store, err, sizeof(err));
    if (fold == NULL)
        goto fail;
    for (int p = by_partition ? 3 : 0; p >= 0; --p)
        for (size_t i = 0; i != log->n; ++i)
            if (!by_partition || log->partition[i] == p)
                order[n++] = i;
    for (size_t k = 0; k != log->n; ++k) {
        size_t i = order[k];
        if (add(fold, log, i, &res) != 0)
            goto fail;
        if (xl_fold_count(fold) == batch_size || k + 1 == log->n) {
            if (xl_fold_commit(fold, "log", err, sizeof(err)) != 0)
                goto fail;
            xl_fold_reset(fold);
        }
    }
    if (xl_store_digest(store, hex, err, sizeof(err)) != 0)
        goto fail;
    for (int p = 0; p != 4; ++p)
        if (xl_store_get_offset(store, "log", p, &next[p]) != 0)
            next[p] = -1;
    ret = 0;

fail:
    if (ret != 0)
        fprintf(stderr, "fold_log(%zu): %s\n", batch_size, err);
    xl_fold_destroy(fold);
    xl_store_close(store);
    return ret;
}

typedef struct st_feed_t {
    int64_t e[8][3];
    size_t n;
} feed_t;

static int on_feed(void *ctx, uint64_t feed_seq, int64_t audit_id, uint32_t seq)
{
    feed_t *f = ctx;
    if (f->n < 8) {
        f->e[f->n][0] = (int64_t)feed_seq;
        f->e[f->n][1] = audit_id;
        f->e[f->n][2] = seq;
    }
    ++f->n;
    return 0;
}

static int count_ix(void *ctx, int64_t created_ms, int64_t audit_id)
{
    ++*(int *)ctx;
    return 0;
}

/*
 * A frame written with schema version 1 (schemas/execution_event_v1.avsc),
 * as an older execlogd wrote it: the fold must still decode and apply it.
 */
static int v1_frame(int type, int64_t audit, const char *event_id, int64_t t, xl_buf_t *out)
{
    char path[4096], json[1 << 16], body[512];
    const char *src = getenv("XL_TEST_SRC");
    snprintf(path, sizeof(path), "%s/schemas/execution_event_v1.avsc", src != NULL ? src : ".");
    FILE *fh = fopen(path, "rb");
    if (fh == NULL)
        return -1;
    size_t n = fread(json, 1, sizeof(json) - 1, fh);
    fclose(fh);
    uint64_t fp;
    avro_schema_t schema;
    if (xl_schema_fingerprint(json, n, &fp, NULL, 0) != 0 || avro_schema_from_json_length(json, n, &schema) != 0)
        return -1;
    avro_value_iface_t *cls = avro_generic_class_from_schema(schema);
    avro_value_t rec, f, b;
    avro_generic_value_new(cls, &rec);
    static const char *const nulls[] = {"parent_audit_id", "parent_execution_id", "flow_name", "tenant_id",
                                        "message_id",      "status",              "trigger_type", "started_by",
                                        "task",            "message",             "error"};
    for (size_t k = 0; k < sizeof(nulls) / sizeof(nulls[0]); ++k) {
        avro_value_get_by_name(&rec, nulls[k], &f, NULL);
        avro_value_set_branch(&f, 0, &b);
        avro_value_set_null(&b);
    }
    avro_value_get_by_name(&rec, "event_id", &f, NULL);
    avro_value_set_string(&f, event_id);
    avro_value_get_by_name(&rec, "audit_id", &f, NULL);
    avro_value_set_long(&f, audit);
    avro_value_get_by_name(&rec, "root_audit_id", &f, NULL);
    avro_value_set_long(&f, audit);
    avro_value_get_by_name(&rec, "flow_id", &f, NULL);
    avro_value_set_string(&f, "flow-v1");
    avro_value_get_by_name(&rec, "type", &f, NULL);
    avro_value_set_enum(&f, type);
    avro_value_get_by_name(&rec, "time", &f, NULL);
    avro_value_set_long(&f, t);
    avro_value_get_by_name(&rec, "ingest_time", &f, NULL);
    avro_value_set_long(&f, t + 1);
    avro_value_get_by_name(&rec, "message", &f, NULL);
    avro_value_set_branch(&f, 1, &b);
    avro_value_set_string(&b, "from v1");
    avro_writer_t w = avro_writer_memory(body, sizeof(body));
    int rc = avro_value_write(w, &rec);
    size_t blen = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(cls);
    avro_schema_decref(schema);
    if (rc != 0)
        return -1;
    unsigned char h[10] = {0xc3, 0x01};
    for (int i = 0; i < 8; ++i, fp >>= 8)
        h[2 + i] = (unsigned char)fp;
    return xl_buf_append(out, h, sizeof(h)) != 0 || xl_buf_append(out, body, blen) != 0 ? -1 : 0;
}

/* Version-1 frames (a create and a start) and a version-2 task event fold into one execution. */
static void test_v1_fold(const char *dir, xl_codec_t *codec)
{
    char err[256], path[600];
    xl_fold_result_t res;
    xl_buf_t frames[3];
    XL_PHASE("v1 frames: decode and fold");
    for (int i = 0; i < 3; ++i)
        xl_buf_init(&frames[i]);
    XL_CHECK_INT(v1_frame(XL_EVENT_CREATED, 900, "v1-c", 1000, &frames[0]), 0);
    XL_CHECK_INT(v1_frame(XL_EVENT_STARTED, 900, "v1-s", 1100, &frames[1]), 0);
    xl_event_t ev = fx_event(XL_EVENT_TASK_STARTED, 900, "v2-t", 1200);
    ev.flow_id = str_of("flow-v1");
    ev.task = str_of("load");
    XL_CHECK_INT(fx_encode(codec, &ev, &frames[2]), 0);
    snprintf(path, sizeof(path), "%s/v1", dir);
    xl_store_t *store = NULL;
    xl_fold_t *fold = fx_fold_open(path, &store, err, sizeof(err));
    XL_CHECK(fold != NULL, "open: %s", err);
    for (int i = 0; fold != NULL && i < 3; ++i) {
        xl_fold_msg_t msg = {0, i, frames[i].base, frames[i].len};
        XL_CHECK_INT(xl_fold_add(fold, &msg, &res, err, sizeof(err)), 0);
        XL_CHECK(res.outcome == XL_APPLY_NEW, "frame %d: %s (%s)", i, xl_apply_outcome_name(res.outcome), res.reason);
    }
    if (fold != NULL) {
        XL_CHECK_INT(xl_fold_commit(fold, "log", err, sizeof(err)), 0);
        xl_state_t st;
        XL_CHECK_INT(xl_store_get_state(store, codec, 900, &st, err, sizeof(err)), 0);
        XL_CHECK_INT(st.status, XL_STATUS_RUNNING);
        XL_CHECK_INT(st.top_execution_id, 900); /* a v1 create without a caller is its own top */
        XL_CHECK_STR(st.message.base, st.message.len, "from v1");
        XL_CHECK(st.ntasks == 1 && st.tasks[0].nruns == 1 && st.tasks[0].runs[0].attempt == 1, "v2 task run");
        XL_CHECK(st.input.base == NULL && st.nfile_metrics == 0, "v2 fields at their defaults");
        xl_state_dispose(&st);
        xl_fold_destroy(fold);
    }
    xl_store_close(store);
    for (int i = 0; i < 3; ++i)
        xl_buf_dispose(&frames[i]);
}

/* Fold one event of execution 950 (flow "reopen") and commit it as its own batch. */
static int fold_one(xl_fold_t *fold, xl_codec_t *codec, int type, const char *id, int64_t t, int64_t offset)
{
    char err[256];
    xl_fold_result_t res;
    xl_buf_t frame;
    xl_buf_init(&frame);
    xl_event_t ev = fx_event(type, 950, id, t);
    ev.flow_id = str_of("reopen");
    ev.task = str_of(type == XL_EVENT_TASK_FAILED ? "t" : NULL);
    int ret = fx_encode(codec, &ev, &frame);
    xl_fold_msg_t msg = {1, offset, frame.base, frame.len};
    if (ret == 0)
        ret = xl_fold_add(fold, &msg, &res, err, sizeof(err));
    if (ret == 0 && res.outcome != XL_APPLY_NEW)
        ret = -1;
    if (ret == 0)
        ret = xl_fold_commit(fold, "log", err, sizeof(err));
    xl_fold_reset(fold);
    xl_buf_dispose(&frame);
    return ret;
}

/* A failed execution retried within itself: one histogram sample, its last duration. */
static void test_reopen_histogram(const char *dir, xl_codec_t *codec)
{
    char err[256], path[600];
    xl_flow_summary_t sum;
    XL_PHASE("reopen: the flow histogram keeps one sample per execution");
    snprintf(path, sizeof(path), "%s/reopen", dir);
    xl_store_t *store = NULL;
    xl_fold_t *fold = fx_fold_open(path, &store, err, sizeof(err));
    XL_CHECK(fold != NULL, "open: %s", err);
    if (fold == NULL) {
        xl_store_close(store);
        return;
    }
    XL_CHECK_INT(fold_one(fold, codec, XL_EVENT_CREATED, "c", 1000, 0), 0);
    XL_CHECK_INT(fold_one(fold, codec, XL_EVENT_STARTED, "s", 1000, 1), 0);
    XL_CHECK_INT(fold_one(fold, codec, XL_EVENT_TASK_FAILED, "tf", 1005, 2), 0);
    XL_CHECK_INT(fold_one(fold, codec, XL_EVENT_FAILED, "f", 1010, 3), 0);
    XL_CHECK_INT(xl_store_get_flow_summary(store, NULL, "reopen", 6, &sum), 0);
    XL_CHECK(sum.ended == 1 && sum.by_status[XL_STATUS_FAILED] == 1 && sum.p50_ms == 10, "failed after 10 ms: %llu %lld",
             (unsigned long long)sum.ended, (long long)sum.p50_ms);
    XL_CHECK_INT(fold_one(fold, codec, XL_EVENT_RETRY_REQUESTED, "r", 1020, 4), 0);
    XL_CHECK_INT(xl_store_get_flow_summary(store, NULL, "reopen", 6, &sum), 0);
    XL_CHECK(sum.ended == 0 && sum.by_status[XL_STATUS_RUNNING] == 1 && sum.p50_ms == -1,
             "running again: its sample is taken back (%llu, %lld)", (unsigned long long)sum.ended,
             (long long)sum.p50_ms);
    XL_CHECK_INT(fold_one(fold, codec, XL_EVENT_SUCCEEDED, "ok", 1012, 5), 0); /* 12 ms after the start */
    XL_CHECK_INT(xl_store_get_flow_summary(store, NULL, "reopen", 6, &sum), 0);
    XL_CHECK(sum.total == 1 && sum.ended == 1 && sum.succeeded == 1 && sum.p50_ms == 12,
             "one sample, the last duration (%llu, %lld)", (unsigned long long)sum.ended, (long long)sum.p50_ms);
    xl_fold_destroy(fold);
    xl_store_close(store);
}

int main(void)
{
    char err[256] = "", dir[] = "/tmp/xl-test-fold-XXXXXX", path[600];
    xl_fold_result_t res;
    xl_state_t st;
    xl_buf_t buf;
    uint32_t seq;
    int64_t next;

    xl_buf_init(&buf);
    XL_PHASE("setup");
    XL_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(codec != NULL, "xl_codec_create: %s", err);
    snprintf(path, sizeof(path), "%s/one", dir);
    xl_store_t *store = xl_store_open(path, 0, err, sizeof(err));
    XL_REQUIRE(store != NULL, "xl_store_open: %s", err);
    xl_fold_t *fold = xl_fold_create(store, err, sizeof(err));
    XL_REQUIRE(fold != NULL, "xl_fold_create: %s", err);

    log_t *log = calloc(1, sizeof(*log));
    XL_REQUIRE(log != NULL, "calloc");
    /* batch 1: offsets 0..6 of partition 0, offsets 0..1 of partition 2 */
    log_event(log, codec, 0, XL_EVENT_CREATED, 10, "c", 100);
    log_event(log, codec, 0, XL_EVENT_STARTED, 10, "s", 200);
    log_event(log, codec, 0, XL_EVENT_STARTED, 10, "s", 200); /* re-delivery, same batch */
    log_event(log, codec, 0, XL_EVENT_METRICS, 10, "m", 300);
    log_raw(log, 0, "garbage");
    log_event(log, codec, 0, XL_EVENT_PROGRESS, 99, "p", 300); /* unknown execution */
    log_event(log, codec, 0, XL_EVENT_PAUSED, 10, "pause", 400);
    log_event(log, codec, 2, XL_EVENT_CREATED, 20, "c", 100);
    log_event(log, codec, 2, XL_EVENT_CREATED, 20, "c-again", 110); /* another create of 20 */

    XL_PHASE("one batch: outcomes in order");
    static const int want[] = {XL_APPLY_NEW,      XL_APPLY_NEW, XL_APPLY_DUPLICATE, XL_APPLY_NEW,     XL_APPLY_REJECTED,
                               XL_APPLY_REJECTED, XL_APPLY_NEW, XL_APPLY_NEW,       XL_APPLY_REJECTED};
    static const uint32_t want_seq[] = {1, 2, 0, 3, 0, 0, 4, 1, 0};
    for (size_t i = 0; i != 9; ++i) {
        XL_REQUIRE(add(fold, log, i, &res) == 0, "add %zu", i);
        XL_CHECK(res.outcome == want[i], "message %zu: %s (%s)", i, xl_apply_outcome_name(res.outcome), res.reason);
        XL_CHECK(res.seq == want_seq[i], "message %zu: seq %u", i, res.seq);
    }
    XL_CHECK_INT(xl_fold_count(fold), 9);

    XL_PHASE("one batch: dead-letter reasons");
    XL_REQUIRE(add(fold, log, 4, &res) == 0, "add");
    XL_CHECK(strncmp(res.reason, "undecodable event: ", 19) == 0, "reason: %s", res.reason);
    XL_CHECK_INT(res.audit_id, 0);
    XL_REQUIRE(add(fold, log, 5, &res) == 0, "add");
    XL_CHECK(strncmp(res.reason, "rejected: ", 10) == 0 && strstr(res.reason, "unknown execution 99") != NULL,
             "reason: %s", res.reason);
    XL_CHECK_INT(res.audit_id, 99);
    XL_REQUIRE(add(fold, log, 8, &res) == 0, "add");
    XL_CHECK(strstr(res.reason, "already exists") != NULL, "reason: %s", res.reason);

    XL_PHASE("one batch: nothing is visible before the commit");
    XL_CHECK_INT(xl_store_get_state(store, codec, 10, &st, err, sizeof(err)), -ENOENT);
    XL_CHECK_INT(xl_store_get_offset(store, "L", 0, &next), -ENOENT);

    XL_PHASE("one batch: offsets of the touched partitions");
    size_t noffsets;
    const xl_fold_offset_t *offsets = xl_fold_offsets(fold, &noffsets);
    XL_REQUIRE(noffsets == 2, "noffsets = %zu", noffsets);
    XL_CHECK(offsets[0].partition == 0 && offsets[0].next_offset == 7, "p%d next %lld", (int)offsets[0].partition,
             (long long)offsets[0].next_offset);
    XL_CHECK(offsets[1].partition == 2 && offsets[1].next_offset == 2, "p%d next %lld", (int)offsets[1].partition,
             (long long)offsets[1].next_offset);

    XL_PHASE("one batch: commit writes states, archive, index and offsets");
    XL_REQUIRE(xl_fold_commit(fold, "L", err, sizeof(err)) == 0, "commit: %s", err);
    xl_fold_reset(fold);
    XL_CHECK_INT(xl_fold_count(fold), 0);
    XL_REQUIRE(xl_store_get_state(store, codec, 10, &st, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(st.status, XL_STATUS_PAUSED);
    XL_CHECK_INT(st.last_seq, 4);
    XL_CHECK_INT(st.started_ms, 200);
    XL_CHECK_INT(st.log_partition, 0);
    XL_CHECK_INT(st.log_offset, 6);
    XL_CHECK(st.nmetrics == 1 && st.metrics[0].value == 300, "metrics");
    xl_state_dispose(&st);
    XL_REQUIRE(xl_store_get_state(store, codec, 20, &st, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(st.last_seq, 1);
    XL_CHECK_INT(st.created_ms, 100);
    xl_state_dispose(&st);
    XL_CHECK_INT(xl_store_get_state(store, codec, 99, &st, err, sizeof(err)), -ENOENT);
    XL_CHECK_INT(xl_store_get_event_seq(store, 10, "s", 1, &seq, NULL), 0);
    XL_CHECK_INT(seq, 2);
    XL_CHECK_INT(xl_store_get_event_seq(store, 10, "pause", 5, &seq, NULL), 0);
    XL_CHECK_INT(seq, 4);
    XL_CHECK_INT(xl_store_get_event_seq(store, 20, "c-again", 7, &seq, NULL), -ENOENT);
    xl_buf_reset(&buf);
    XL_CHECK_INT(xl_store_get_event(store, 10, 3, &buf), 0);
    XL_CHECK_MEM(buf.base, buf.len, log->frames[3].base, log->frames[3].len);
    xl_buf_reset(&buf);
    XL_CHECK_INT(xl_store_get_event(store, 10, 5, &buf), -ENOENT);
    int64_t audit = 0;
    XL_CHECK_INT(xl_store_find_create(store, "acme", 4, "c", 1, -1, &audit, NULL), 0);
    XL_CHECK_INT(audit, 10);
    XL_CHECK_INT(xl_store_get_offset(store, "L", 0, &next), 0);
    XL_CHECK_INT(next, 7);
    XL_CHECK_INT(xl_store_get_offset(store, "L", 2, &next), 0);
    XL_CHECK_INT(next, 2);
    XL_CHECK_INT(xl_store_get_offset(store, "L", 1, &next), -ENOENT);

    XL_PHASE("next batch: a re-delivery is recognised from the store");
    log_event(log, codec, 0, XL_EVENT_STARTED, 10, "s", 200);  /* 9 */
    log_event(log, codec, 0, XL_EVENT_RESUMED, 10, "r", 500);  /* 10 */
    log_event(log, codec, 0, XL_EVENT_STARTED, 10, "s2", 600); /* 11: running already: anomaly */
    XL_REQUIRE(add(fold, log, 9, &res) == 0, "add");
    XL_CHECK_INT(res.outcome, XL_APPLY_DUPLICATE);
    XL_REQUIRE(add(fold, log, 10, &res) == 0, "add");
    XL_CHECK_INT(res.outcome, XL_APPLY_NEW);
    XL_CHECK_INT(res.seq, 5);
    XL_REQUIRE(add(fold, log, 11, &res) == 0, "add");
    XL_CHECK_INT(res.outcome, XL_APPLY_ANOMALY);
    XL_CHECK_INT(res.seq, 6);
    XL_CHECK(strstr(res.reason, "started not allowed in status running") != NULL, "reason: %s", res.reason);

    XL_PHASE("next batch: a reset instead of a commit writes nothing");
    xl_fold_reset(fold);
    XL_REQUIRE(xl_store_get_state(store, codec, 10, &st, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(st.last_seq, 4);
    XL_CHECK_INT(st.status, XL_STATUS_PAUSED);
    xl_state_dispose(&st);
    XL_CHECK_INT(xl_store_get_offset(store, "L", 0, &next), 0);
    XL_CHECK_INT(next, 7);

    XL_PHASE("next batch: the same messages again, committed");
    XL_CHECK_INT(xl_store_feed_last(store), 5); /* 4 events of 10, the create of 20 */
    for (size_t i = 9; i != 12; ++i)
        XL_REQUIRE(add(fold, log, i, &res) == 0, "add");
    XL_CHECK_INT(res.seq, 6);
    XL_REQUIRE(xl_fold_commit(fold, "L", err, sizeof(err)) == 0, "commit: %s", err);
    xl_fold_reset(fold);

    XL_PHASE("feed: one entry per archived event, in apply order, no gap after the reset");
    XL_CHECK_INT(xl_store_feed_last(store), 7);
    {
        feed_t f = {.n = 0};
        XL_CHECK_INT(xl_store_feed_scan(store, 3, on_feed, &f), 0);
        XL_CHECK_INT(f.n, 4);
        static const int64_t want_feed[4][3] = {{4, 10, 4}, {5, 20, 1}, {6, 10, 5}, {7, 10, 6}};
        for (size_t i = 0; i != 4 && i < f.n; ++i)
            XL_CHECK(f.e[i][0] == want_feed[i][0] && f.e[i][1] == want_feed[i][1] && f.e[i][2] == want_feed[i][2],
                     "feed entry %zu: %lld -> %lld/%lld", i, (long long)f.e[i][0], (long long)f.e[i][1],
                     (long long)f.e[i][2]);
    }
    XL_REQUIRE(xl_store_get_state(store, codec, 10, &st, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(st.last_seq, 6);
    XL_CHECK_INT(st.anomalies, 1);
    XL_CHECK_INT(st.status, XL_STATUS_RUNNING);
    xl_state_dispose(&st);
    XL_CHECK_INT(xl_store_get_offset(store, "L", 0, &next), 0);
    XL_CHECK_INT(next, 10);

    XL_PHASE("events without an idempotency key are all applied");
    log_event(log, codec, 1, XL_EVENT_LOG, 20, "", 700); /* 12 */
    XL_REQUIRE(add(fold, log, 12, &res) == 0, "add");
    XL_CHECK_INT(res.outcome, XL_APPLY_NEW);
    XL_REQUIRE(add(fold, log, 12, &res) == 0, "add");
    XL_CHECK_INT(res.outcome, XL_APPLY_NEW);
    XL_CHECK_INT(res.seq, 3);

    XL_PHASE("a commit without an identity writes everything but offsets");
    XL_REQUIRE(xl_fold_commit(fold, NULL, err, sizeof(err)) == 0, "commit: %s", err);
    xl_fold_reset(fold);
    XL_REQUIRE(xl_store_get_state(store, codec, 20, &st, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(st.last_seq, 3);
    xl_state_dispose(&st);
    XL_CHECK_INT(xl_store_get_offset(store, "L", 1, &next), -ENOENT);
    XL_CHECK_INT(xl_store_feed_last(store), 9);

    XL_PHASE("flow aggregates and indexes follow the fold");
    {
        xl_flow_summary_t sum;
        xl_str_t acme = str_of("acme");
        XL_REQUIRE(xl_store_get_flow_summary(store, &acme, "flow", 4, &sum) == 0, "summary");
        XL_CHECK_INT(sum.total, 2);
        XL_CHECK_INT(sum.by_status[XL_STATUS_RUNNING], 1); /* 10: paused, then resumed */
        XL_CHECK_INT(sum.by_status[XL_STATUS_QUEUED], 1);  /* 20 */
        XL_CHECK_INT(sum.ended, 0);
        XL_CHECK_INT(sum.latest_audit_id, 20); /* both created at 100: the higher audit ID */
        XL_CHECK_INT(sum.p50_ms, -1);
        xl_buf_t prefix;
        xl_buf_init(&prefix);
        int count = 0;
        XL_CHECK_INT(xl_store_index_prefix(&prefix, XL_IX_STATUS, NULL, NULL, XL_STATUS_PAUSED, 0), 0);
        XL_CHECK_INT(xl_store_index_scan(store, prefix.base, prefix.len, 0, NULL, count_ix, &count), 0);
        XL_CHECK_INT(count, 0); /* 10 left paused: its key moved */
        XL_CHECK_INT(xl_store_index_prefix(&prefix, XL_IX_STATUS, &acme, NULL, XL_STATUS_RUNNING, 0), 0);
        XL_CHECK_INT(xl_store_index_scan(store, prefix.base, prefix.len, 0, NULL, count_ix, &count), 0);
        XL_CHECK_INT(count, 1);
        xl_buf_dispose(&prefix);
    }
    xl_fold_destroy(fold);
    xl_store_close(store);

    XL_PHASE("batch boundaries: a longer log over 3 partitions");
    for (int64_t a = 1; a <= 8; ++a) {
        int32_t p = (int32_t)(a % 3);
        char cid[24]; /* one create, one idempotency key: a shared key would make them one execution */
        snprintf(cid, sizeof(cid), "c%lld", (long long)a);
        log_event(log, codec, p, XL_EVENT_CREATED, a, cid, 1000 * a);
        log_event(log, codec, p, XL_EVENT_STARTED, a, "s", 1000 * a + 1);
        if (a % 2 == 0)
            log_event(log, codec, p, XL_EVENT_STARTED, a, "s", 1000 * a + 1); /* duplicate */
        log_event(log, codec, p, XL_EVENT_METRICS, a, "m1", 1000 * a + 2);
        if (a % 3 == 0)
            log_raw(log, p, "\xc3\x01 not really");
        log_event(log, codec, p, a % 4 == 0 ? XL_EVENT_FAILED : XL_EVENT_SUCCEEDED, a, "end", 1000 * a + 3);
        if (a % 4 == 1)
            log_event(log, codec, p, XL_EVENT_PAUSED, a, "late", 1000 * a + 4); /* anomaly */
        log_event(log, codec, p, XL_EVENT_METRICS, a, "m2", 1000 * a + 5);
    }
    XL_REQUIRE(log->n <= MAX_LOG, "log too long");
    char d1[XL_STORE_DIGEST_HEX_LEN + 1], d7[XL_STORE_DIGEST_HEX_LEN + 1], dall[XL_STORE_DIGEST_HEX_LEN + 1];
    int64_t n1[4], n7[4], nall[4];
    snprintf(path, sizeof(path), "%s/b1", dir);
    XL_REQUIRE(fold_log(path, log, 1, 0, d1, n1) == 0, "batches of 1");
    snprintf(path, sizeof(path), "%s/b7", dir);
    XL_REQUIRE(fold_log(path, log, 7, 0, d7, n7) == 0, "batches of 7");
    snprintf(path, sizeof(path), "%s/ball", dir);
    XL_REQUIRE(fold_log(path, log, MAX_LOG, 0, dall, nall) == 0, "one batch");
    XL_CHECK(strcmp(d1, d7) == 0, "batches of 1 and of 7 differ: %s %s", d1, d7);
    XL_CHECK(strcmp(d1, dall) == 0, "batches of 1 and one batch differ: %s %s", d1, dall);
    char dpart[XL_STORE_DIGEST_HEX_LEN + 1];
    int64_t npart[4];
    snprintf(path, sizeof(path), "%s/bpart", dir);
    XL_REQUIRE(fold_log(path, log, 5, 1, dpart, npart) == 0, "partition by partition");
    XL_CHECK(strcmp(d1, dpart) == 0, "another interleaving of the partitions differs: %s %s", d1, dpart);
    for (int p = 0; p != 4; ++p) {
        XL_CHECK(n1[p] == n7[p] && n1[p] == nall[p], "partition %d offsets %lld %lld %lld", p, (long long)n1[p],
                 (long long)n7[p], (long long)nall[p]);
        XL_CHECK(n1[p] == (log->next[p] != 0 ? log->next[p] : -1), "partition %d at %lld, log has %lld", p,
                 (long long)n1[p], (long long)log->next[p]);
    }

    XL_PHASE("creates sharing an event_id: the first of a partition wins, whatever the interleaving");
    log_dispose(log);
    memset(log, 0, sizeof(*log));
    log_event(log, codec, 1, XL_EVENT_CREATED, 31, "same", 100); /* two nodes took the same create */
    log_event(log, codec, 1, XL_EVENT_CREATED, 32, "same", 101);
    log_event(log, codec, 1, XL_EVENT_STARTED, 31, "s", 102);
    log_event(log, codec, 2, XL_EVENT_CREATED, 33, "same", 103); /* another partition: another execution */
    log_event(log, codec, 2, XL_EVENT_STARTED, 33, "s", 104);
    {
        static const int want[] = {XL_APPLY_NEW, XL_APPLY_DUPLICATE, XL_APPLY_NEW, XL_APPLY_NEW, XL_APPLY_NEW};
        snprintf(path, sizeof(path), "%s/same", dir);
        xl_store_t *st_store;
        xl_fold_t *f = fx_fold_open(path, &st_store, err, sizeof(err));
        XL_REQUIRE(f != NULL, "fold: %s", err);
        for (size_t i = 0; i != log->n; ++i) {
            XL_REQUIRE(add(f, log, i, &res) == 0, "add %zu", i);
            XL_CHECK(res.outcome == want[i], "message %zu: %s", i, xl_apply_outcome_name(res.outcome));
        }
        XL_REQUIRE(xl_fold_commit(f, "log", err, sizeof(err)) == 0, "commit: %s", err);
        int64_t audit = 0;
        XL_CHECK_INT(xl_store_find_create(st_store, "acme", 4, "same", 4, -1, &audit, NULL), 0);
        XL_CHECK_INT(audit, 31);
        XL_CHECK_INT(xl_store_find_create(st_store, "acme", 4, "same", 4, 2, &audit, NULL), 0);
        XL_CHECK_INT(audit, 33);
        XL_CHECK_INT(xl_store_get_state(st_store, codec, 32, &st, err, sizeof(err)), -ENOENT);
        xl_fold_destroy(f);
        xl_store_close(st_store);
        char dsame[XL_STORE_DIGEST_HEX_LEN + 1], drev[XL_STORE_DIGEST_HEX_LEN + 1];
        int64_t nsame[4], nrev[4];
        snprintf(path, sizeof(path), "%s/same1", dir);
        XL_REQUIRE(fold_log(path, log, 1, 0, dsame, nsame) == 0, "in log order");
        snprintf(path, sizeof(path), "%s/same2", dir);
        XL_REQUIRE(fold_log(path, log, 2, 1, drev, nrev) == 0, "partition by partition, the last first");
        XL_CHECK(strcmp(dsame, drev) == 0, "the interleaving changed the projection: %s %s", dsame, drev);
    }

    test_v1_fold(dir, codec);
    test_reopen_histogram(dir, codec);
    log_dispose(log);
    free(log);
    xl_codec_destroy(codec);
    xl_buf_dispose(&buf);
    rm_tree(dir);
    return xl_test_finish();
}
