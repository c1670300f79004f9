/*
 * Tests of projector/store.c against a real RocksDB in a fresh mkdtemp
 * directory (removed at the end): states, the event archive with positions
 * and its order both ways, the idempotency index (lowest audit ID per
 * create), offsets per log identity, the replica digest, and that all of it
 * survives a reopen; then the secondary indexes (prefixes, order, cursors,
 * moves), per-flow aggregates and their histogram, the feed, properties, and
 * the rebuild mark and resets.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projector/store.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

static const xl_pos_t xl_test_pos = {1, 42};

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
            ret = xl_store_batch_put_event(batch, audit, seq, &xl_test_pos, frame, n) ||
                  xl_store_batch_put_event_seq(batch, audit, eid, strlen(eid), seq, &xl_test_pos);
        }
        if (ret == 0)
            ret = xl_store_batch_put_create(batch, "acme", 4, "req", 3, audit, &xl_test_pos);
    }
    if (extra && ret == 0)
        ret = xl_store_batch_put_event(batch, 100, 4, &xl_test_pos, "extra", 5);
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
    int pos_ok;
    int descending;
    int64_t audit;
} scan_t;

/* The archive test puts seq s of execution 7 at partition 3, offset 1000 + s. */
static int on_event(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    scan_t *scan = ctx;
    char want[64];
    size_t n = frame_of(want, sizeof(want), scan->audit, seq);
    if (n != len || memcmp(want, frame, len) != 0)
        scan->frames_ok = 0;
    if (scan->audit == 7 && (pos->partition != 3 || pos->offset != 1000 + (int64_t)seq))
        scan->pos_ok = 0;
    if (scan->n != 0 && (scan->descending ? scan->seqs[scan->n - 1] <= seq : scan->seqs[scan->n - 1] >= seq))
        scan->order_ok = 0;
    if (scan->n < sizeof(scan->seqs) / sizeof(scan->seqs[0]))
        scan->seqs[scan->n++] = seq;
    return 0;
}

static int stop_after_two(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    return ++*(int *)ctx == 2 ? 7 : 0;
}

/* ---- indexes, aggregates, feed, resets ---- */

typedef struct st_ids_t {
    int64_t audit[32];
    int64_t created[32];
    size_t n;
    int stop_at; /* stop with 9 after this many, 0: never */
} ids_t;

static int on_index(void *ctx, int64_t created_ms, int64_t audit_id)
{
    ids_t *ids = ctx;
    if (ids->n < 32) {
        ids->created[ids->n] = created_ms;
        ids->audit[ids->n] = audit_id;
    }
    ++ids->n;
    return ids->stop_at != 0 && (int)ids->n == ids->stop_at ? 9 : 0;
}

static xl_store_index_iter_t *scan_iter; /* not NULL: scan_ix goes through it */

/* Scan an index; "a,b,c" of the audit IDs visited, or "ERR <rc>". */
static const char *scan_ix(xl_store_t *store, xl_index_t ix, const char *tenant, const char *str, int status,
                           int64_t id, int descending, const int64_t *after)
{
    static char out[512];
    xl_buf_t prefix;
    xl_str_t t = str_of(tenant), v = str_of(str);
    ids_t ids = {.n = 0};
    xl_buf_init(&prefix);
    int rc = xl_store_index_prefix(&prefix, ix, tenant != NULL ? &t : NULL, str != NULL ? &v : NULL, status, id);
    if (rc == 0)
        rc = scan_iter != NULL
                 ? xl_store_index_iter_scan(scan_iter, prefix.base, prefix.len, descending, after, on_index, &ids)
                 : xl_store_index_scan(store, prefix.base, prefix.len, descending, after, on_index, &ids);
    xl_buf_dispose(&prefix);
    if (rc != 0) {
        snprintf(out, sizeof(out), "ERR %d", rc);
        return out;
    }
    out[0] = '\0';
    for (size_t i = 0; i != ids.n && i != 32; ++i)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%lld", i ? "," : "", (long long)ids.audit[i]);
    return out;
}

#define CHECK_SCAN(got, want) XL_CHECK(strcmp((got), (want)) == 0, "scan gave '%s', expected '%s'", (got), (want))

static void ix_state(xl_state_t *st, int64_t audit, const char *tenant, const char *flow, int status, int64_t created)
{
    state_of(st, audit, status, 1);
    st->tenant_id = str_of(tenant);
    st->flow_id = str_of(flow);
    st->created_ms = created;
}

static void test_indexes(xl_store_t *store)
{
    char err[256];
    xl_state_t st[6];
    xl_store_batch_t *batch = xl_store_batch_create(store);
    XL_PHASE("index: six executions across tenants, flows, statuses and lineages");
    ix_state(&st[0], 1, "acme", "f1", XL_STATUS_RUNNING, 100);
    st[0].message_id = str_of("m1");
    ix_state(&st[1], 2, "acme", "f1", XL_STATUS_QUEUED, 100); /* same time as 1: audit ID breaks the tie */
    st[1].parent_audit_id = 1;
    st[1].root_audit_id = 1;
    st[1].message_id = str_of("m1");
    ix_state(&st[2], 3, "beta", "f1", XL_STATUS_RUNNING, 50);
    st[2].parent_execution_id = 1;
    st[2].message_id = str_of("m1");
    ix_state(&st[3], 4, NULL, "f2", XL_STATUS_FAILED, -5); /* before the epoch: still in numeric order */
    ix_state(&st[4], 5, "acme", "f11", XL_STATUS_RUNNING, 200);
    st[4].parent_execution_id = 3; /* a grandchild of 1 */
    st[4].top_execution_id = 1;
    st[2].top_execution_id = 1;
    st[0].top_execution_id = 1; /* the top of its own tree */
    ix_state(&st[5], 6, "", "f2", XL_STATUS_RUNNING, 7); /* the empty tenant is the null tenant */
    st[5].parent_audit_id = 2;
    st[5].root_audit_id = 1;
    for (int i = 0; i != 6; ++i)
        XL_CHECK_INT(xl_store_batch_put_index(batch, &st[i], XL_STATUS_NONE), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);

    XL_PHASE("index: every execution, across tenants and per tenant, both ways");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 0, NULL), "4,6,3,1,2,5");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 1, NULL), "5,2,1,3,6,4");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, "acme", NULL, 0, 0, 1, NULL), "5,2,1");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, "beta", NULL, 0, 0, 0, NULL), "3");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, "", NULL, 0, 0, 0, NULL), "4,6");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, "acm", NULL, 0, 0, 0, NULL), "");

    XL_PHASE("index: by flow (a flow is not a prefix of a longer one)");
    CHECK_SCAN(scan_ix(store, XL_IX_FLOW, NULL, "f1", 0, 0, 1, NULL), "2,1,3");
    CHECK_SCAN(scan_ix(store, XL_IX_FLOW, "acme", "f1", 0, 0, 1, NULL), "2,1");
    CHECK_SCAN(scan_ix(store, XL_IX_FLOW, NULL, "f11", 0, 0, 1, NULL), "5");
    CHECK_SCAN(scan_ix(store, XL_IX_FLOW, NULL, "f", 0, 0, 1, NULL), "");
    CHECK_SCAN(scan_ix(store, XL_IX_FLOW, "", "f2", 0, 0, 0, NULL), "4,6");

    XL_PHASE("index: by status, message, retries, children, lineage");
    CHECK_SCAN(scan_ix(store, XL_IX_STATUS, NULL, NULL, XL_STATUS_RUNNING, 0, 0, NULL), "6,3,1,5");
    CHECK_SCAN(scan_ix(store, XL_IX_STATUS, "acme", NULL, XL_STATUS_RUNNING, 0, 0, NULL), "1,5");
    CHECK_SCAN(scan_ix(store, XL_IX_STATUS, NULL, NULL, XL_STATUS_FAILED, 0, 0, NULL), "4");
    CHECK_SCAN(scan_ix(store, XL_IX_MESSAGE, NULL, "m1", 0, 0, 0, NULL), "3,1,2");
    CHECK_SCAN(scan_ix(store, XL_IX_MESSAGE, "beta", "m1", 0, 0, 0, NULL), "3");
    CHECK_SCAN(scan_ix(store, XL_IX_MESSAGE, NULL, "m", 0, 0, 0, NULL), "");
    CHECK_SCAN(scan_ix(store, XL_IX_RETRIES, NULL, NULL, 0, 1, 0, NULL), "2");
    CHECK_SCAN(scan_ix(store, XL_IX_RETRIES, NULL, NULL, 0, 2, 0, NULL), "6");
    CHECK_SCAN(scan_ix(store, XL_IX_CHILDREN, NULL, NULL, 0, 1, 0, NULL), "3");
    CHECK_SCAN(scan_ix(store, XL_IX_CHILDREN, NULL, NULL, 0, 3, 0, NULL), "5");
    CHECK_SCAN(scan_ix(store, XL_IX_CHILDREN, NULL, NULL, 0, 5, 0, NULL), "");
    CHECK_SCAN(scan_ix(store, XL_IX_TREE, NULL, NULL, 0, 1, 0, NULL), "3,1,5"); /* grandchildren included */
    CHECK_SCAN(scan_ix(store, XL_IX_TREE, NULL, NULL, 0, 3, 0, NULL), "");
    CHECK_SCAN(scan_ix(store, XL_IX_LINEAGE, NULL, NULL, 0, 1, 0, NULL), "6,1,2");
    CHECK_SCAN(scan_ix(store, XL_IX_LINEAGE, NULL, NULL, 0, 3, 0, NULL), "3");

    XL_PHASE("index: cursors start strictly after, in both directions");
    int64_t after[2] = {100, 1};
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 0, after), "2,5");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 1, after), "3,6,4");
    int64_t after2[2] = {100, 2};
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 1, after2), "1,3,6,4");
    int64_t gap[2] = {60, 0}; /* not an entry: the next one on either side */
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 0, gap), "1,2,5");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 1, gap), "3,6,4");
    int64_t last[2] = {200, 5};
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 0, last), "");

    XL_PHASE("index: created times and stop come back from the scan");
    {
        xl_buf_t prefix;
        xl_buf_init(&prefix);
        ids_t ids = {.n = 0, .stop_at = 2};
        XL_CHECK_INT(xl_store_index_prefix(&prefix, XL_IX_ALL, NULL, NULL, 0, 0), 0);
        XL_CHECK_INT(xl_store_index_scan(store, prefix.base, prefix.len, 0, NULL, on_index, &ids), 9);
        XL_CHECK_INT(ids.n, 2);
        XL_CHECK_INT(ids.created[0], -5);
        XL_CHECK_INT(ids.created[1], 7);
        XL_CHECK_INT(xl_store_index_prefix(&prefix, XL_IX_STATUS, NULL, NULL, XL_STATUS__COUNT, 0), -EINVAL);
        XL_CHECK_INT(xl_store_index_prefix(&prefix, XL_IX_STATUS, NULL, NULL, -1, 0), -EINVAL);
        XL_CHECK_INT(xl_store_index_prefix(&prefix, XL_IX_FLOW, NULL, NULL, 0, 0), -EINVAL);
        XL_CHECK_INT(xl_store_index_prefix(&prefix, XL_IX__COUNT, NULL, NULL, 0, 0), -EINVAL);
        xl_buf_dispose(&prefix);
    }

    XL_PHASE("index: a status change moves only the status keys; no change writes nothing");
    st[0].status = XL_STATUS_SUCCEEDED;
    XL_CHECK_INT(xl_store_batch_put_index(batch, &st[0], XL_STATUS_RUNNING), 0);
    XL_CHECK_INT(xl_store_batch_put_index(batch, &st[1], XL_STATUS_QUEUED), 0);
    XL_CHECK_INT(xl_store_batch_count(batch), 4); /* two deletes and two puts: both scopes */
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    CHECK_SCAN(scan_ix(store, XL_IX_STATUS, NULL, NULL, XL_STATUS_RUNNING, 0, 0, NULL), "6,3,5");
    CHECK_SCAN(scan_ix(store, XL_IX_STATUS, "acme", NULL, XL_STATUS_RUNNING, 0, 0, NULL), "5");
    CHECK_SCAN(scan_ix(store, XL_IX_STATUS, NULL, NULL, XL_STATUS_SUCCEEDED, 0, 0, NULL), "1");
    CHECK_SCAN(scan_ix(store, XL_IX_STATUS, "acme", NULL, XL_STATUS_SUCCEEDED, 0, 0, NULL), "1");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 0, NULL), "4,6,3,1,2,5");

    XL_PHASE("index: one iterator, several scans, one view of the store");
    scan_iter = xl_store_index_iter_create(store);
    XL_CHECK(scan_iter != NULL, "iterator created");
    CHECK_SCAN(scan_ix(store, XL_IX_LINEAGE, NULL, NULL, 0, 1, 0, NULL), "6,1,2");
    CHECK_SCAN(scan_ix(store, XL_IX_CHILDREN, NULL, NULL, 0, 1, 0, NULL), "3");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 1, NULL), "5,2,1,3,6,4");
    CHECK_SCAN(scan_ix(store, XL_IX_ALL, NULL, NULL, 0, 0, 0, after), "2,5");
    xl_state_t late;
    ix_state(&late, 7, "acme", "f1", XL_STATUS_QUEUED, 300);
    late.parent_execution_id = 1;
    XL_CHECK_INT(xl_store_batch_put_index(batch, &late, XL_STATUS_NONE), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    CHECK_SCAN(scan_ix(store, XL_IX_CHILDREN, NULL, NULL, 0, 1, 0, NULL), "3"); /* created before the write */
    xl_store_index_iter_destroy(scan_iter);
    scan_iter = NULL;
    CHECK_SCAN(scan_ix(store, XL_IX_CHILDREN, NULL, NULL, 0, 1, 0, NULL), "3,7");
    xl_store_index_iter_destroy(NULL);
    xl_store_batch_destroy(batch);
}

typedef struct st_flow_scan_t {
    char names[128];
    uint64_t total_f1;
    int seen, stop_after;
} flow_scan_t;

static int on_flow_scan(void *ctx, const char *flow_id, size_t flow_len, const xl_flow_summary_t *sum)
{
    flow_scan_t *sc = ctx;
    size_t n = strlen(sc->names);
    snprintf(sc->names + n, sizeof(sc->names) - n, "%.*s,", (int)flow_len, flow_id);
    if (flow_len == 2 && memcmp(flow_id, "f1", 2) == 0)
        sc->total_f1 = sum->total;
    return sc->stop_after != 0 && ++sc->seen == sc->stop_after;
}

static void test_aggregates(xl_store_t *store)
{
    char err[256];
    xl_flow_summary_t sum;
    xl_str_t acme = str_of("acme"), flow = str_of("f1"), none = {NULL, 0}, empty = str_of("");
    xl_store_flow_delta_t *d = calloc(1, sizeof(*d));
    xl_store_batch_t *batch = xl_store_batch_create(store);

    XL_PHASE("histogram: exact below 16 ms, then eight buckets a power of two");
    XL_CHECK_INT(xl_store_hist_bucket(-3), 0);
    XL_CHECK_INT(xl_store_hist_bucket(0), 0);
    XL_CHECK_INT(xl_store_hist_bucket(15), 15);
    XL_CHECK_INT(xl_store_hist_upper(15), 15);
    XL_CHECK_INT(xl_store_hist_bucket(16), 16);
    XL_CHECK_INT(xl_store_hist_upper(16), 17);
    XL_CHECK_INT(xl_store_hist_bucket(INT64_MAX), XL_STORE_HIST_BUCKETS - 1);
    XL_CHECK_INT(xl_store_hist_upper(XL_STORE_HIST_BUCKETS - 1), INT64_MAX);
    int bad = 0, prev = 0;
    for (int64_t v = 0; v < ((int64_t)1 << 40); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
        int b = xl_store_hist_bucket(v);
        int64_t up = xl_store_hist_upper(b);
        /* v is in its bucket, the bucket is at most 12.5% wide, buckets never go back */
        if (up < v || (v >= 16 && (double)up > (double)v * 1.125 + 1) || (b > 0 && xl_store_hist_upper(b - 1) >= v) ||
            b < prev)
            ++bad;
        prev = b;
    }
    XL_CHECK_INT(bad, 0);

    XL_PHASE("aggregates: none yet");
    XL_CHECK_INT(xl_store_get_flow_summary(store, NULL, "f1", 2, &sum), -ENOENT);

    XL_PHASE("aggregates: a first delta, per tenant and across");
    d->total = 3;
    d->by_status[XL_STATUS_RUNNING] = 1;
    d->by_status[XL_STATUS_SUCCEEDED] = 1;
    d->by_status[XL_STATUS_FAILED] = 1;
    d->latest_created_ms = 100;
    d->latest_audit_id = 7;
    d->hist[xl_store_hist_bucket(10)] += 1;
    d->hist[xl_store_hist_bucket(1000)] += 1;
    XL_CHECK_INT(xl_store_batch_add_flow(batch, &acme, &flow, d, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_add_flow(batch, NULL, &flow, d, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_REQUIRE_V(xl_store_get_flow_summary(store, &acme, "f1", 2, &sum) == 0, "summary");
    XL_CHECK_INT(sum.total, 3);
    XL_CHECK_INT(sum.ended, 2);
    XL_CHECK_INT(sum.succeeded, 1);
    XL_CHECK_INT(sum.latest_audit_id, 7);
    XL_CHECK_INT(sum.p50_ms, 10);
    XL_CHECK_INT(sum.p95_ms, xl_store_hist_upper(xl_store_hist_bucket(1000)));
    XL_CHECK(sum.p95_ms >= 1000 && sum.p95_ms <= 1125, "p95 %lld", (long long)sum.p95_ms);

    XL_PHASE("aggregates: a move, a newer latest, an older one that does not win");
    memset(d, 0, sizeof(*d));
    d->by_status[XL_STATUS_RUNNING] = -1;
    d->by_status[XL_STATUS_WARNING] = 1;
    d->hist[xl_store_hist_bucket(5000)] += 1;
    d->latest_created_ms = 100;
    d->latest_audit_id = 9;
    XL_CHECK_INT(xl_store_batch_add_flow(batch, &acme, &flow, d, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    memset(d, 0, sizeof(*d));
    d->total = 1;
    d->by_status[XL_STATUS_QUEUED] = 1;
    d->latest_created_ms = 99;
    d->latest_audit_id = 1000;
    XL_CHECK_INT(xl_store_batch_add_flow(batch, &acme, &flow, d, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_REQUIRE_V(xl_store_get_flow_summary(store, &acme, "f1", 2, &sum) == 0, "summary");
    XL_CHECK_INT(sum.total, 4);
    XL_CHECK_INT(sum.by_status[XL_STATUS_RUNNING], 0);
    XL_CHECK_INT(sum.by_status[XL_STATUS_QUEUED], 1);
    XL_CHECK_INT(sum.by_status[XL_STATUS_WARNING], 1);
    XL_CHECK_INT(sum.ended, 3);
    XL_CHECK_INT(sum.succeeded, 2);
    XL_CHECK_INT(sum.latest_audit_id, 9);
    XL_CHECK_INT(sum.latest_created_ms, 100);
    XL_CHECK_INT(sum.p50_ms, xl_store_hist_upper(xl_store_hist_bucket(1000)));
    XL_CHECK_INT(sum.p99_ms, xl_store_hist_upper(xl_store_hist_bucket(5000)));

    XL_PHASE("aggregates: scopes are apart; no ended execution gives -1 percentiles");
    XL_REQUIRE_V(xl_store_get_flow_summary(store, NULL, "f1", 2, &sum) == 0, "summary");
    XL_CHECK_INT(sum.total, 3);
    XL_CHECK_INT(sum.latest_audit_id, 7);
    XL_CHECK_INT(xl_store_get_flow_summary(store, &none, "f1", 2, &sum), -ENOENT);
    XL_CHECK_INT(xl_store_get_flow_summary(store, &acme, "f", 1, &sum), -ENOENT);
    memset(d, 0, sizeof(*d));
    d->total = 1;
    d->by_status[XL_STATUS_QUEUED] = 1;
    XL_CHECK_INT(xl_store_batch_add_flow(batch, &none, &flow, d, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_REQUIRE_V(xl_store_get_flow_summary(store, &empty, "f1", 2, &sum) == 0, "the null tenant is the empty one");
    XL_CHECK_INT(sum.total, 1);
    XL_CHECK(sum.p50_ms == -1 && sum.p95_ms == -1 && sum.p99_ms == -1, "percentiles %lld %lld %lld",
             (long long)sum.p50_ms, (long long)sum.p95_ms, (long long)sum.p99_ms);

    XL_PHASE("aggregates: scanning a scope's flows, in key order, after a flow");
    static const char *const more[] = {"f2", "a", "zz", "f10"};
    xl_str_t globex = str_of("globex"), acm = str_of("acm");
    memset(d, 0, sizeof(*d));
    d->total = 1;
    d->by_status[XL_STATUS_QUEUED] = 1;
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); ++i) {
        xl_str_t f = str_of(more[i]);
        XL_CHECK_INT(xl_store_batch_add_flow(batch, &acme, &f, d, err, sizeof(err)), 0);
    }
    XL_CHECK_INT(xl_store_batch_add_flow(batch, &globex, &flow, d, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_add_flow(batch, &acm, &flow, d, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    flow_scan_t sc = {0};
    XL_CHECK_INT(xl_store_scan_flows(store, &acme, NULL, 0, on_flow_scan, &sc), 0);
    XL_CHECK(strcmp(sc.names, "a,f1,f2,zz,f10,") == 0, "acme's flows, shorter IDs first: %s", sc.names);
    XL_CHECK_INT(sc.total_f1, 4);
    memset(&sc, 0, sizeof(sc));
    XL_CHECK_INT(xl_store_scan_flows(store, &acme, "f2", 2, on_flow_scan, &sc), 0);
    XL_CHECK(strcmp(sc.names, "zz,f10,") == 0, "strictly after f2: %s", sc.names);
    memset(&sc, 0, sizeof(sc));
    XL_CHECK_INT(xl_store_scan_flows(store, &acm, NULL, 0, on_flow_scan, &sc), 0);
    XL_CHECK(strcmp(sc.names, "f1,") == 0, "a tenant whose name prefixes another's sees its own: %s", sc.names);
    memset(&sc, 0, sizeof(sc));
    XL_CHECK_INT(xl_store_scan_flows(store, NULL, NULL, 0, on_flow_scan, &sc), 0);
    XL_CHECK(strcmp(sc.names, "f1,") == 0, "across tenants: %s", sc.names);
    XL_CHECK_INT(sc.total_f1, 3);
    memset(&sc, 0, sizeof(sc));
    sc.stop_after = 2;
    XL_CHECK_INT(xl_store_scan_flows(store, &acme, NULL, 0, on_flow_scan, &sc), 1);
    XL_CHECK(strcmp(sc.names, "a,f1,") == 0, "the callback stops the scan: %s", sc.names);
    memset(&sc, 0, sizeof(sc));
    XL_CHECK_INT(xl_store_scan_flows(store, &globex, "zz", 2, on_flow_scan, &sc), 0);
    XL_CHECK(strcmp(sc.names, "") == 0, "nothing after the last flow: %s", sc.names);
    xl_store_batch_destroy(batch);
    free(d);
}

typedef struct st_feed_t {
    uint64_t seqs[8];
    int64_t audits[8];
    size_t n;
} feed_t;

static int on_feed(void *ctx, uint64_t feed_seq, int64_t audit_id, uint32_t seq)
{
    feed_t *f = ctx;
    if (f->n < 8) {
        f->seqs[f->n] = feed_seq;
        f->audits[f->n] = audit_id * 1000 + seq;
    }
    ++f->n;
    return 0;
}

static void test_feed_and_property(xl_store_t *store)
{
    char err[256];
    feed_t f = {.n = 0};
    xl_store_batch_t *batch = xl_store_batch_create(store);

    XL_PHASE("feed: empty, then three entries, scanned after a position");
    XL_CHECK_INT(xl_store_feed_last(store), 0);
    XL_CHECK_INT(xl_store_feed_scan(store, 0, on_feed, &f), 0);
    XL_CHECK_INT(f.n, 0);
    for (uint64_t i = 1; i <= 3; ++i)
        XL_CHECK_INT(xl_store_batch_put_feed(batch, i, 40 + (int64_t)i, (uint32_t)i), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_feed_last(store), 3);
    XL_CHECK_INT(xl_store_feed_scan(store, 1, on_feed, &f), 0);
    XL_CHECK_INT(f.n, 2);
    XL_CHECK(f.seqs[0] == 2 && f.audits[0] == 42002 && f.seqs[1] == 3 && f.audits[1] == 43003, "feed %llu %lld",
             (unsigned long long)f.seqs[0], (long long)f.audits[0]);
    f.n = 0;
    XL_CHECK_INT(xl_store_feed_scan(store, 3, on_feed, &f), 0);
    XL_CHECK_INT(f.n, 0);

    XL_PHASE("property: summed over the column families; unknown is -1");
    XL_CHECK(xl_store_property(store, "rocksdb.estimate-num-keys") >= 0, "estimate-num-keys");
    XL_CHECK(xl_store_property(store, "rocksdb.cur-size-all-mem-tables") > 0, "memtables hold the writes");
    XL_CHECK_INT(xl_store_property(store, "rocksdb.no-such-property"), -1);
    xl_store_batch_destroy(batch);
}

static int count_events(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    ++*(int *)ctx;
    return 0;
}

static void test_resets(const char *dir, xl_codec_t *codec)
{
    char err[256], d1[XL_STORE_DIGEST_HEX_LEN + 1], d2[XL_STORE_DIGEST_HEX_LEN + 1];
    xl_state_t st;
    int64_t off;
    int n;

    XL_PHASE("reset: a derived reset keeps the archive and offsets, and marks the store until done");
    xl_store_t *store = xl_store_open(dir, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open: %s", err);
    XL_REQUIRE_V(feed(store, codec, "log-R", 0) == 0, "feed");
    xl_store_batch_t *batch = xl_store_batch_create(store);
    XL_CHECK_INT(xl_store_batch_put_feed(batch, 1, 100, 1), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    xl_store_batch_destroy(batch);
    XL_CHECK_INT(xl_store_digest(store, d1, err, sizeof(err)), 0);
    xl_store_close(store);

    store = xl_store_open_for_rebuild(dir, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open for rebuild: %s", err);
    XL_CHECK_INT(xl_store_reset(store, XL_STORE_RESET_DERIVED, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_get_state(store, codec, 100, &st, err, sizeof(err)), -ENOENT);
    XL_CHECK_INT(xl_store_feed_last(store), 0);
    n = 0;
    XL_CHECK_INT(xl_store_scan_events(store, 100, 1, 0, count_events, &n), 0);
    XL_CHECK_INT(n, 3); /* feed() archives 3 events of 100 */
    XL_CHECK_INT(xl_store_get_offset(store, "log-R", 0, &off), 0);
    XL_CHECK_INT(off, 42);
    xl_store_close(store);
    err[0] = '\0';
    XL_CHECK(xl_store_open(dir, 0, err, sizeof(err)) == NULL, "a store mid-rebuild opened");
    XL_CHECK(strstr(err, "rebuild") != NULL, "error: %s", err);

    XL_PHASE("reset: done clears the mark");
    store = xl_store_open_for_rebuild(dir, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open for rebuild: %s", err);
    XL_CHECK_INT(xl_store_rebuild_done(store, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_digest(store, d2, err, sizeof(err)), 0);
    XL_CHECK(strcmp(d1, d2) != 0, "dropping the states did not change the digest");
    xl_store_close(store);
    store = xl_store_open(dir, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open after the rebuild: %s", err);

    XL_PHASE("reset: everything goes with RESET_ALL, the archive, offsets and identity included");
    xl_store_close(store);
    store = xl_store_open_for_rebuild(dir, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open for rebuild: %s", err);
    XL_CHECK_INT(xl_store_reset(store, XL_STORE_RESET_ALL, err, sizeof(err)), 0);
    n = 0;
    XL_CHECK_INT(xl_store_scan_events(store, 100, 1, 0, count_events, &n), 0);
    XL_CHECK_INT(n, 0);
    XL_CHECK_INT(xl_store_get_offset(store, "log-R", 0, &off), -ENOENT);
    xl_buf_t id;
    xl_buf_init(&id);
    XL_CHECK_INT(xl_store_get_identity(store, &id), -ENOENT);
    xl_buf_dispose(&id);
    XL_CHECK_INT(xl_store_rebuild_done(store, err, sizeof(err)), 0);
    xl_store_close(store);

    XL_PHASE("reset: an empty store has the digest of a fresh one");
    char dfresh[XL_STORE_DIGEST_HEX_LEN + 1], path[600];
    snprintf(path, sizeof(path), "%s-fresh", dir);
    store = xl_store_open(path, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open fresh: %s", err);
    XL_CHECK_INT(xl_store_digest(store, dfresh, err, sizeof(err)), 0);
    xl_store_close(store);
    store = xl_store_open(dir, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "reopen: %s", err);
    XL_CHECK_INT(xl_store_digest(store, d2, err, sizeof(err)), 0);
    XL_CHECK(strcmp(d2, dfresh) == 0, "reset store %s, fresh store %s", d2, dfresh);
    xl_store_close(store);
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
    XL_CHECK_INT(xl_store_find_create(store, "acme", 4, "req-1", 5, -1, &audit, NULL), -ENOENT);
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
        xl_pos_t at = {3, 1000 + (int64_t)s};
        XL_CHECK_INT(xl_store_batch_put_event(batch, 7, s, &at, frame, n), 0);
    }
    XL_CHECK_INT(xl_store_batch_put_event(batch, 6, 1, &xl_test_pos, "six", 3), 0);
    XL_CHECK_INT(xl_store_batch_put_event(batch, 8, 1, &xl_test_pos, "eight", 5), 0);
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
    scan->order_ok = scan->frames_ok = scan->pos_ok = 1;
    scan->audit = 7;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 1, 0, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 300);
    XL_CHECK(scan->order_ok, "seqs out of order");
    XL_CHECK(scan->frames_ok, "a frame differs");
    XL_CHECK(scan->pos_ok, "a position differs");
    XL_CHECK_INT(scan->seqs[0], 1);
    XL_CHECK_INT(scan->seqs[299], 300);
    memset(scan, 0, sizeof(*scan));
    scan->order_ok = scan->frames_ok = scan->pos_ok = 1;
    scan->audit = 7;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 250, 0, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 51);
    XL_CHECK_INT(scan->seqs[0], 250);
    memset(scan, 0, sizeof(*scan));
    XL_CHECK_INT(xl_store_scan_events(store, 9, 1, 0, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 0);
    int calls = 0;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 1, 0, stop_after_two, &calls), 7);
    XL_CHECK_INT(calls, 2);

    XL_PHASE("event archive: descending scans, from the last or from a seq, stay in their execution");
    memset(scan, 0, sizeof(*scan));
    scan->order_ok = scan->frames_ok = scan->pos_ok = 1;
    scan->descending = 1;
    scan->audit = 7;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 0, 1, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 300);
    XL_CHECK(scan->order_ok && scan->frames_ok && scan->pos_ok, "descending scan: order %d frames %d positions %d",
             scan->order_ok, scan->frames_ok, scan->pos_ok);
    XL_CHECK_INT(scan->seqs[0], 300);
    XL_CHECK_INT(scan->seqs[299], 1);
    memset(scan, 0, sizeof(*scan));
    scan->order_ok = 1;
    scan->descending = 1;
    scan->audit = 7;
    XL_CHECK_INT(xl_store_scan_events(store, 7, 256, 1, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 256);
    XL_CHECK_INT(scan->seqs[0], 256);
    XL_CHECK(scan->order_ok, "descending from 256: out of order");
    memset(scan, 0, sizeof(*scan));
    XL_CHECK_INT(xl_store_scan_events(store, 7, 999, 1, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 300); /* from past the end: from the last */
    memset(scan, 0, sizeof(*scan));
    XL_CHECK_INT(xl_store_scan_events(store, 6, 0, 1, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 1); /* 6 has one event; 7's do not leak into it */
    memset(scan, 0, sizeof(*scan));
    XL_CHECK_INT(xl_store_scan_events(store, 5, 0, 1, on_event, scan), 0);
    XL_CHECK_INT(scan->n, 0);
    free(scan);

    XL_PHASE("idempotency: event seqs");
    XL_CHECK_INT(xl_store_batch_put_event_seq(batch, 7, "ev-1", 4, 1, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_event_seq(batch, 7, "ev-10", 5, 10, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_put_event_seq(batch, 8, "ev-1", 4, 3, &xl_test_pos), 0);
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    seq = 0;
    xl_pos_t pos = {0, 0};
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
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-1", 5, -1, &audit, NULL), 0);
    XL_CHECK_INT(audit, 900);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t1", 2, "req-1", 5, 256, &xl_test_pos), 0); /* lower, later */
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-1", 5, -1, &audit, NULL), 0);
    XL_CHECK_INT(audit, 256);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-10", 6, -1, &audit, NULL), 0);
    XL_CHECK_INT(audit, 5);
    XL_CHECK_INT(xl_store_find_create(store, "t1x", 3, "req-1", 5, -1, &audit, NULL), 0);
    XL_CHECK_INT(audit, 3);
    XL_CHECK_INT(xl_store_find_create(store, "", 0, "req-1", 5, -1, &audit, NULL), 0);
    XL_CHECK_INT(audit, 77);
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req", 3, -1, &audit, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_find_create(store, "t2", 2, "req-1", 5, -1, &audit, NULL), -ENOENT);
    XL_CHECK_INT(xl_store_find_create(store, "t", 1, "1", 1, -1, &audit, NULL), -ENOENT);

    XL_PHASE("idempotency: ids with a NUL byte cannot be indexed nor found");
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t\0x", 3, "r", 1, 1, &xl_test_pos), -EINVAL);
    XL_CHECK_INT(xl_store_batch_put_create(batch, "t", 1, "r\0", 2, 1, &xl_test_pos), -EINVAL);
    XL_CHECK_INT(xl_store_batch_count(batch), 0);
    XL_CHECK_INT(xl_store_find_create(store, "t1\0", 3, "req-1", 5, -1, &audit, NULL), -ENOENT);

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
    XL_CHECK_INT(xl_store_find_create(store, "t1", 2, "req-1", 5, -1, &audit, NULL), 0);
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

    char dir_d[512], dir_e[512];
    snprintf(dir_d, sizeof(dir_d), "%s/d", dir);
    snprintf(dir_e, sizeof(dir_e), "%s/e", dir);
    xl_store_t *d = xl_store_open(dir_d, 0, err, sizeof(err));
    XL_REQUIRE(d != NULL, "open d: %s", err);
    test_indexes(d);
    test_aggregates(d);
    test_feed_and_property(d);
    xl_store_close(d);
    test_resets(dir_e, codec);

    xl_codec_destroy(codec);
    xl_buf_dispose(&buf);
    rm_tree(dir);
    return xl_test_finish();
}
