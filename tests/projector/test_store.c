/*
 * Tests of projector/store.c against a real RocksDB in a fresh mkdtemp
 * directory (removed at the end): states, the event archive and its order,
 * the idempotency index (lowest audit ID per create), offsets per log
 * identity, the replica digest, and that all of it survives a reopen.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projector/store.h"
#include "tests/test.h"

static const xl_store_pos_t xl_test_pos = {1, 42};

static xl_str_t str_of(const char *s)
{
    return (xl_str_t){(char *)s, s != NULL ? strlen(s) : 0};
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void state_of(xl_state_t *st, int64_t audit, int status, uint32_t last_seq)
{
    memset(st, 0, sizeof(*st));
    st->audit_id = audit;
    st->root_audit_id = audit;
    st->flow_id = str_of("flow-a");
    st->tenant_id = str_of("acme");
    st->status = status;
    st->created_ms = 1000;
    st->updated_ms = 2000;
    st->last_seq = last_seq;
}

/* A recognisable fake frame for (audit, seq). */
static size_t frame_of(char *buf, size_t size, int64_t audit, uint32_t seq)
{
    return (size_t)snprintf(buf, size, "frame:%lld:%u", (long long)audit, seq);
}

/* The batch every replica gets in the digest test; extra adds one more event. */
static int feed(xl_store_t *store, xl_codec_t *codec, const char *identity, int extra)
{
    char err[256], frame[64];
    xl_store_batch_t *batch = xl_store_batch_create(store);
    if (batch == NULL)
        return -ENOMEM;
    int ret = 0;
    for (int64_t audit = 100; audit != 110 && ret == 0; ++audit) {
        xl_state_t st;
        state_of(&st, audit, XL_STATUS_RUNNING, 3);
        ret = xl_store_batch_put_state(batch, codec, &st, err, sizeof(err));
        for (uint32_t seq = 1; seq <= 3 && ret == 0; ++seq) {
            size_t n = frame_of(frame, sizeof(frame), audit, seq);
            char eid[16];
            snprintf(eid, sizeof(eid), "ev-%u", seq);
            ret = xl_store_batch_put_event(batch, audit, seq, frame, n) ||
                  xl_store_batch_put_event_seq(batch, audit, eid, strlen(eid), seq, &xl_test_pos);
        }
        if (ret == 0)
            ret = xl_store_batch_put_create(batch, "acme", 4, "req", 3, audit, &xl_test_pos);
    }
    if (extra && ret == 0)
        ret = xl_store_batch_put_event(batch, 100, 4, "extra", 5);
    if (ret == 0)
        ret = xl_store_batch_put_offset(batch, identity, 0, 42);
    if (ret == 0)
        ret = xl_store_batch_commit(batch, err, sizeof(err));
    xl_store_batch_destroy(batch);
    return ret;
}

typedef struct st_scan_t {
    uint32_t seqs[512];
    size_t n;
    int order_ok;
    int frames_ok;
    int64_t audit;
} scan_t;

static int on_event(void *ctx, uint32_t seq, const void *frame, size_t len)
{
    scan_t *scan = ctx;
    char want[64];
    size_t n = frame_of(want, sizeof(want), scan->audit, seq);
    if (n != len || memcmp(want, frame, len) != 0)
        scan->frames_ok = 0;
    if (scan->n != 0 && scan->seqs[scan->n - 1] >= seq)
        scan->order_ok = 0;
    if (scan->n < sizeof(scan->seqs) / sizeof(scan->seqs[0]))
        scan->seqs[scan->n++] = seq;
    return 0;
}

static int stop_after_two(void *ctx, uint32_t seq, const void *frame, size_t len)
{
    return ++*(int *)ctx == 2 ? 7 : 0;
}

int main(void)
{
    char err[256] = "", dir[] = "/tmp/xl-test-store-XXXXXX", dir_a[512], dir_b[512];
    char frame[64];
    xl_buf_t buf;
    xl_state_t st;
    uint32_t seq;
    int64_t audit, off;

    xl_buf_init(&buf);
    XL_PHASE("setup");
    XL_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(dir_a, sizeof(dir_a), "%s/a", dir);
    snprintf(dir_b, sizeof(dir_b), "%s/b", dir);
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(codec != NULL, "xl_codec_create: %s", err);

    XL_PHASE("open");
    xl_store_t *store = xl_store_open(dir_a, 1, err, sizeof(err));
    XL_REQUIRE(store != NULL, "xl_store_open: %s", err);
    xl_store_batch_t *batch = xl_store_batch_create(store);
    XL_REQUIRE(batch != NULL, "xl_store_batch_create");

    XL_PHASE("open: a file where the directory should be fails with a message");
    {
        char path[600];
        snprintf(path, sizeof(path), "%s/not-a-dir", dir);
        FILE *f = fopen(path, "w");
        XL_REQUIRE(f != NULL, "fopen");
        fclose(f);
        char e2[256] = "";
        XL_CHECK(xl_store_open(path, 0, e2, sizeof(e2)) == NULL, "opened a file as a store");
        XL_CHECK(e2[0] != '\0', "no error text");
        remove(path);
    }

    XL_PHASE("empty store");
    XL_CHECK_INT(xl_store_get_state(store, codec, 1, &st, err, sizeof(err)), -ENOENT);
    XL_CHECK_INT(xl_store_get_event_seq(store, 1, "x", 1, &seq, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_find_create(store, "acme", 4, "req-1", 5, &audit, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_get_event(store, 1, 1, &buf), -ENOENT);
    XL_CHECK_INT(xl_store_get_offset(store, "log-A", 0, &off), -ENOENT);
    XL_CHECK_INT(xl_store_get_identity(store, &buf), -ENOENT);

    XL_PHASE("uncommitted puts are not visible, and clear drops them");
    state_of(&st, 5, XL_STATUS_QUEUED, 1);
    XL_CHECK_INT(xl_store_batch_put_state(batch, codec, &st, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_count(batch), 1);
    xl_state_t got;
    XL_CHECK_INT(xl_store_get_state(store, codec, 5, &got, err, sizeof(err)), -ENOENT);
    xl_store_batch_clear(batch);
    XL_CHECK_INT(xl_store_batch_count(batch), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_get_state(store, codec, 5, &got, err, sizeof(err)), -ENOENT);

    XL_PHASE("put and get state");
    xl_metric_t metrics[] = {{str_of("bytes"), 7}, {str_of("rows"), 3}};
    state_of(&st, 5, XL_STATUS_RUNNING, 2);
    st.metrics = metrics;
    st.nmetrics = 2;
    st.message = str_of("half way");
    XL_CHECK_INT(xl_store_batch_put_state(batch, codec, &st, err, sizeof(err)), 0);
    state_of(&st, 6, XL_STATUS_FAILED, 9);
    XL_CHECK_INT(xl_store_batch_put_state(batch, codec, &st, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_count(batch), 0);
    XL_REQUIRE(xl_store_get_state(store, codec, 5, &got, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(got.audit_id, 5);
    XL_CHECK_INT(got.status, XL_STATUS_RUNNING);
    XL_CHECK_INT(got.last_seq, 2);
    XL_CHECK_INT(got.nmetrics, 2);
    XL_CHECK_STR(got.message.base, got.message.len, "half way");
    XL_CHECK_STR(got.tenant_id.base, got.tenant_id.len, "acme");
    xl_state_dispose(&got);
    XL_REQUIRE(xl_store_get_state(store, codec, 6, &got, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(got.status, XL_STATUS_FAILED);
    XL_CHECK_INT(got.last_seq, 9);
    xl_state_dispose(&got);

    XL_PHASE("put and get state: a later batch overwrites");
    state_of(&st, 5, XL_STATUS_SUCCEEDED, 3);
    XL_CHECK_INT(xl_store_batch_put_state(batch, codec, &st, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_REQUIRE(xl_store_get_state(store, codec, 5, &got, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(got.status, XL_STATUS_SUCCEEDED);
    XL_CHECK_INT(got.nmetrics, 0);
    xl_state_dispose(&got);

    XL_PHASE("event archive: 300 events of 7 between neighbours 6 and 8, in reverse put order");
    for (uint32_t s = 300; s >= 1; --s) {
        size_t n = frame_of(frame, sizeof(frame), 7, s);
        XL_CHECK_INT(xl_store_batch_put_event(batch, 7, s, frame, n), 0);
    }
    XL_CHECK_INT(xl_store_batch_put_event(batch, 6, 1, "six", 3), 0);
    XL_CHECK_INT(xl_store_batch_put_event(batch, 8, 1, "eight", 5), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);

    XL_PHASE("event archive: point reads");
    xl_buf_reset(&buf);
    XL_CHECK_INT(xl_store_get_event(store, 7, 256, &buf), 0);
    XL_CHECK_STR(buf.base, buf.len, "frame:7:256");
    xl_buf_reset(&buf);
    XL_CHECK_INT(xl_store_get_event(store, 7, 301, &buf), -ENOENT);
    XL_CHECK_INT(buf.len, 0);
    XL_CHECK_INT(xl_store_get_event(store, 6, 1, &buf), 0);
    XL_CHECK_STR(buf.base, buf.len, "six");

    XL_PHASE("event archive: a scan is in seq order (also across 255/256) and stays in its execution");
    scan_t *scan = calloc(1, sizeof(*scan));
    XL_REQUIRE(scan != NULL, "calloc");
    scan->order_ok = scan->frames_ok = 1;
    scan->audit = 7;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 1, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 300);
    XL_CHECK(scan->order_ok, "seqs out of order");
    XL_CHECK(scan->frames_ok, "a frame differs");
    XL_CHECK_INT(scan->seqs[0], 1);
    XL_CHECK_INT(scan->seqs[299], 300);
    memset(scan, 0, sizeof(*scan));
    scan->order_ok = scan->frames_ok = 1;
    scan->audit = 7;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 250, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 51);
    XL_CHECK_INT(scan->seqs[0], 250);
    memset(scan, 0, sizeof(*scan));
    XL_CHECK_INT(xl_store_scan_events(store, 9, 1, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 0);
    int calls = 0;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 1, stop_after_two, &calls), 7);
    XL_CHECK_INT(calls, 2);
    free(scan);

    XL_PHASE("idempotency: event seqs");
    XL_CHECK_INT(xl_store_batch_put_event_seq(batch, 7, "ev-1", 4, 1, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_event_seq(batch, 7, "ev-10", 5, 10, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_event_seq(batch, 8, "ev-1", 4, 3, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    seq = 0;
    xl_store_pos_t pos = {0, 0};
    XL_CHECK_INT(xl_store_get_event_seq(store, 7, "ev-1", 4, &seq, &pos), 0);
    XL_CHECK(pos.partition == xl_test_pos.partition && pos.offset == xl_test_pos.offset, "position %d/%lld",
             (int)pos.partition, (long long)pos.offset);
    XL_CHECK_INT(seq, 1);
    XL_CHECK_INT(xl_store_get_event_seq(store, 7, "ev-10", 5, &seq, NULL), 0);
    XL_CHECK_INT(seq, 10);
    XL_CHECK_INT(xl_store_get_event_seq(store, 8, "ev-1", 4, &seq, NULL), 0);
    XL_CHECK_INT(seq, 3);
    XL_CHECK_INT(xl_store_get_event_seq(store, 7, "ev-2", 4, &seq, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_get_event_seq(store, 7, "ev-", 3, &seq, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_get_event_seq(store, 9, "ev-1", 4, &seq, NULL), -ENOENT);

    XL_PHASE("idempotency: find_create answers the lowest audit ID, across batches");
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t1", 2, "req-1", 5, 900, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t1", 2, "req-1", 5, 1000, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t1", 2, "req-10", 6, 5, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t1x", 3, "req-1", 5, 3, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "", 0, "req-1", 5, 77, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-1", 5, &audit, NULL), 0);
    XL_CHECK_INT(audit, 900);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t1", 2, "req-1", 5, 256, &xl_test_pos), 0); /* lower, later */
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-1", 5, &audit, NULL), 0);
    XL_CHECK_INT(audit, 256);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-10", 6, &audit, NULL), 0);
    XL_CHECK_INT(audit, 5);
    XL_CHECK_INT(xl_store_find_create(store, "t1x", 3, "req-1", 5, &audit, NULL), 0);
    XL_CHECK_INT(audit, 3);
    XL_CHECK_INT(xl_store_find_create(store, "", 0, "req-1", 5, &audit, NULL), 0);
    XL_CHECK_INT(audit, 77);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req", 3, &audit, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_find_create(store, "t2", 2, "req-1", 5, &audit, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_find_create(store, "t", 1, "1", 1, &audit, NULL), -ENOENT);

    XL_PHASE("idempotency: ids with a NUL byte cannot be indexed nor found");
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t\0x", 3, "r", 1, 1, &xl_test_pos), -EINVAL);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t", 1, "r\0", 2, 1, &xl_test_pos), -EINVAL);
    XL_CHECK_INT(xl_store_batch_count(batch), 0);
    XL_CHECK_INT(xl_store_find_create(store, "t1\0", 3, "req-1", 5, &audit, NULL), -ENOENT);

    XL_PHASE("offsets are kept per log identity");
    XL_CHECK_INT(xl_store_batch_put_offset(batch, "log-A", 0, 10), 0);
    XL_CHECK_INT(xl_store_batch_put_offset(batch, "log-A", 1, 20), 0);
    XL_CHECK_INT(xl_store_batch_put_offset(batch, "log-AB", 0, 99), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_put_offset(batch, "log-B", 0, 5), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    off = -1;
    XL_CHECK_INT(xl_store_get_offset(store, "log-A", 0, &off), 0);
    XL_CHECK_INT(off, 10);
    XL_CHECK_INT(xl_store_get_offset(store, "log-A", 1, &off), 0);
    XL_CHECK_INT(off, 20);
    XL_CHECK_INT(xl_store_get_offset(store, "log-AB", 0, &off), 0);
    XL_CHECK_INT(off, 99);
    XL_CHECK_INT(xl_store_get_offset(store, "log-B", 0, &off), 0);
    XL_CHECK_INT(off, 5);
    XL_CHECK_INT(xl_store_get_offset(store, "log-B", 1, &off), -ENOENT);
    XL_CHECK_INT(xl_store_get_offset(store, "log-C", 0, &off), -ENOENT);
    XL_CHECK_INT(xl_store_get_offset(store, "log-A", 2, &off), -ENOENT);
    xl_buf_reset(&buf);
    XL_CHECK_INT(xl_store_get_identity(store, &buf), 0);
    XL_CHECK_STR(buf.base, buf.len, "log-B");

    XL_PHASE("offsets: a later batch moves them");
    XL_CHECK_INT(xl_store_batch_put_offset(batch, "log-A", 0, 11), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_get_offset(store, "log-A", 0, &off), 0);
    XL_CHECK_INT(off, 11);

    XL_PHASE("estimate");
    uint64_t nexec = 0, nevents = 0;
    xl_store_estimate(store, &nexec, &nevents);
    XL_CHECK(nexec >= 1, "executions %llu", (unsigned long long)nexec);
    XL_CHECK(nevents >= 100, "events %llu", (unsigned long long)nevents);

    XL_PHASE("reopen: everything is still there");
    char digest_before[XL_STORE_DIGEST_HEX_LEN + 1], digest_after[XL_STORE_DIGEST_HEX_LEN + 1];
    XL_CHECK_INT(xl_store_digest(store, digest_before, err, sizeof(err)), 0);
    xl_store_batch_destroy(batch);
    xl_store_close(store);
    store = xl_store_open(dir_a, 0, err, sizeof(err));
    XL_REQUIRE(store != NULL, "reopen: %s", err);
    batch = xl_store_batch_create(store);
    XL_REQUIRE(batch != NULL, "xl_store_batch_create");
    XL_REQUIRE(xl_store_get_state(store, codec, 6, &got, err, sizeof(err)) == 0, "get_state: %s", err);
    XL_CHECK_INT(got.last_seq, 9);
    xl_state_dispose(&got);
    xl_buf_reset(&buf);
    XL_CHECK_INT(xl_store_get_event(store, 7, 300, &buf), 0);
    XL_CHECK_STR(buf.base, buf.len, "frame:7:300");
    XL_CHECK_INT(xl_store_get_event_seq(store, 7, "ev-10", 5, &seq, NULL), 0);
    XL_CHECK_INT(seq, 10);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-1", 5, &audit, NULL), 0);
    XL_CHECK_INT(audit, 256);
    XL_CHECK_INT(xl_store_get_offset(store, "log-A", 0, &off), 0);
    XL_CHECK_INT(off, 11);
    XL_CHECK_INT(xl_store_get_offset(store, "log-B", 0, &off), 0);
    XL_CHECK_INT(off, 5);
    XL_CHECK_INT(xl_store_digest(store, digest_after, err, sizeof(err)), 0);
    XL_CHECK(strcmp(digest_before, digest_after) == 0, "digest %s became %s", digest_before, digest_after);
    xl_store_batch_destroy(batch);
    xl_store_close(store);

    XL_PHASE("digest: two replicas fed the same batches agree, offsets aside");
    char dir_c[512], da[XL_STORE_DIGEST_HEX_LEN + 1], db[XL_STORE_DIGEST_HEX_LEN + 1];
    snprintf(dir_c, sizeof(dir_c), "%s/c", dir);
    xl_store_t *a = xl_store_open(dir_b, 0, err, sizeof(err));
    XL_REQUIRE(a != NULL, "open b: %s", err);
    xl_store_t *b = xl_store_open(dir_c, 0, err, sizeof(err));
    XL_REQUIRE(b != NULL, "open c: %s", err);
    XL_CHECK_INT(xl_store_digest(a, da, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_digest(b, db, err, sizeof(err)), 0);
    XL_CHECK(strcmp(da, db) == 0, "empty stores differ");
    XL_CHECK_INT(feed(a, codec, "cluster-1", 0), 0);
    XL_CHECK_INT(feed(b, codec, "cluster-2", 0), 0);
    XL_CHECK_INT(xl_store_digest(a, da, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_digest(b, db, err, sizeof(err)), 0);
    XL_CHECK_INT(strlen(da), XL_STORE_DIGEST_HEX_LEN);
    XL_CHECK(strspn(da, "0123456789abcdef") == XL_STORE_DIGEST_HEX_LEN, "not lower-case hex: %s", da);
    XL_CHECK(strcmp(da, db) == 0, "replicas differ: %s vs %s", da, db);
    XL_CHECK(strcmp(da, digest_after) != 0, "different content, same digest");

    XL_PHASE("digest: one more event makes them differ");
    XL_CHECK_INT(feed(b, codec, "cluster-2", 1), 0);
    XL_CHECK_INT(xl_store_digest(b, db, err, sizeof(err)), 0);
    XL_CHECK(strcmp(da, db) != 0, "digest did not change");
    XL_CHECK_INT(feed(a, codec, "cluster-1", 1), 0);
    XL_CHECK_INT(xl_store_digest(a, da, err, sizeof(err)), 0);
    XL_CHECK(strcmp(da, db) == 0, "replicas differ again: %s vs %s", da, db);

    XL_PHASE("digest: a different state value makes them differ");
    xl_store_batch_t *bb = xl_store_batch_create(b);
    XL_REQUIRE(bb != NULL, "batch");
    state_of(&st, 100, XL_STATUS_PAUSED, 3);
    XL_CHECK_INT(xl_store_batch_put_state(bb, codec, &st, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(bb, err, sizeof(err)), 0);
    xl_store_batch_destroy(bb);
    XL_CHECK_INT(xl_store_digest(b, db, err, sizeof(err)), 0);
    XL_CHECK(strcmp(da, db) != 0, "digest did not change");

    xl_store_close(a);
    xl_store_close(b);
    xl_codec_destroy(codec);
    xl_buf_dispose(&buf);
    rm_tree(dir);
    return xl_test_finish();
}
