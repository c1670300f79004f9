/*
 * The projector with several workers (projector.threads) against
 * librdkafka's mock cluster hosted in this process: one log of thousands of
 * events over many partitions (flows spanning partitions, retries and
 * children of executions on other partitions than their parent, duplicates,
 * anomalies and poison frames) is projected by one worker into one store and
 * by four into another. The two digests must be equal, and equal to that of
 * a rebuild of the first store from its archive. While the four workers
 * project, a reader follows the feed as the SSE streams do and must see it
 * grow without a gap; at the end both feeds hold every applied event once,
 * numbered 1..n.
 *
 * Last, without Kafka, two folds sharing one feed on a small tmpfs (root
 * only; skipped otherwise): a write the full disk refuses takes its feed
 * entries back, the other fold commits meanwhile, and the retry numbers its
 * events after it, so the feed stays 1..n with each event once.
 *
 * XL_PARALLEL_THREADS sets the second projector's workers (default 4).
 */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "projector/apply.h"
#include "projector/projector.h"
#include "projector/rebuild.h"
#include "projector/store.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

#define TOPIC "execlog.events"
#define DLQ_TOPIC "execlog.dlq"
#define NPART 8
#define NLINEAGES 600
#define MAX_EXECS (NLINEAGES * 3)
#define NPOISON 5
#define WAIT_MS 60000
#define IDENTITY "parallel-log"
#define FIRST_AUDIT 5000

static const char *const tenants[] = {"acme", "beta", "gamma"};
static const char *const flows[] = {"nightly", "hourly", "etl", "report", "sync"};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

/* ---- the generated log ---- */

typedef struct st_exec_t {
    int64_t audit, root, parent_audit, parent_exec, top;
    int32_t retries;
    int tenant, flow;
    int nsteps, next; /* events to send, and sent so far */
    int fails;        /* ends failed (else succeeded) */
} exec_t;

static exec_t execs[MAX_EXECS];
static size_t nexecs;

static exec_t *add_exec(int64_t audit, int tenant, int flow)
{
    exec_t *e = &execs[nexecs++];
    memset(e, 0, sizeof(*e));
    e->audit = e->root = audit;
    e->tenant = tenant;
    e->flow = flow;
    e->nsteps = 4 + (int)(rnd() % 2); /* the 5th: a start after the end, an anomaly */
    e->fails = rnd() % 4 == 0;
    return e;
}

static void generate(void)
{
    int64_t audit = FIRST_AUDIT;
    for (int l = 0; l != NLINEAGES; ++l) {
        int tenant = (int)(rnd() % 3), flow = (int)(rnd() % 5);
        exec_t *root = add_exec(audit++, tenant, flow);
        if (rnd() % 10 < 4) { /* a child in the call tree, keyed by itself: another partition */
            exec_t *c = add_exec(audit++, tenant, flow);
            c->parent_exec = c->top = root->audit;
        }
        if (rnd() % 10 < 3) { /* a retry of the root, in its lineage, on its own partition */
            exec_t *r = add_exec(audit++, tenant, flow);
            r->parent_audit = r->root = root->audit;
            r->retries = 1;
        }
    }
}

static const int step_types[] = {XL_EVENT_CREATED, XL_EVENT_STARTED, XL_EVENT_PROGRESS, XL_EVENT_SUCCEEDED,
                                  XL_EVENT_STARTED};

/* Encode the next event of e into out. */
static int encode_step(xl_codec_t *codec, const exec_t *e, int step, xl_buf_t *out)
{
    char event_id[48];
    snprintf(event_id, sizeof(event_id), "ev-%" PRId64 "-%d", e->audit, step);
    int type = step == 3 && e->fails ? XL_EVENT_FAILED : step_types[step];
    int64_t t = 1700000000000LL + e->audit * 1000 + step * 97 + (e->audit % 7) * 13;
    xl_event_t ev = fx_event(type, e->audit, event_id, t);
    ev.root_audit_id = e->root;
    ev.parent_audit_id = e->parent_audit;
    ev.parent_execution_id = e->parent_exec;
    ev.top_execution_id = e->top;
    ev.retries = e->retries;
    ev.tenant_id = str_of(tenants[e->tenant]);
    ev.flow_id = str_of(flows[e->flow]);
    ev.flow_name = str_of(flows[e->flow]);
    xl_buf_reset(out);
    return fx_encode(codec, &ev, out);
}

static int produce(rd_kafka_t *prk, int32_t partition, const void *value, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(prk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(partition),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                    RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(prk, 100);
    }
}

/* Interleave the executions' events at random (each execution's in order), with re-deliveries and poison. */
static size_t produce_log(rd_kafka_t *prk, xl_codec_t *codec)
{
    size_t sent = 0, left = nexecs;
    size_t order[MAX_EXECS];
    xl_buf_t frame;
    xl_buf_init(&frame);
    for (size_t i = 0; i != nexecs; ++i)
        order[i] = i;
    while (left != 0) {
        size_t k = rnd() % left;
        exec_t *e = &execs[order[k]];
        int32_t partition = (int32_t)(e->audit % NPART);
        if (encode_step(codec, e, e->next, &frame) != 0 || produce(prk, partition, frame.base, frame.len) != 0)
            break;
        ++sent;
        if (rnd() % 20 == 0 && produce(prk, partition, frame.base, frame.len) == 0) /* delivered twice */
            ++sent;
        if (++e->next == e->nsteps)
            order[k] = order[--left];
        if (rnd() % 1000 == 0 && produce(prk, (int32_t)(rnd() % NPART), "\x00poison", 7) == 0)
            ++sent;
    }
    for (int i = 0; i != NPOISON; ++i)
        if (produce(prk, i % NPART, "\x00not avro", 9) == 0)
            ++sent;
    xl_buf_dispose(&frame);
    return sent;
}

/* ---- following the projection ---- */

typedef struct st_marks_t {
    pthread_mutex_t mu;
    int64_t next[NPART];
} marks_t;

static void on_applied(void *ctx, int32_t partition, int64_t next_offset)
{
    marks_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    if (partition >= 0 && partition < NPART && next_offset > m->next[partition])
        m->next[partition] = next_offset;
    pthread_mutex_unlock(&m->mu);
}

static int caught_up(marks_t *m, const int64_t ends[NPART])
{
    int ok = 1;
    pthread_mutex_lock(&m->mu);
    for (int p = 0; p != NPART; ++p)
        ok &= m->next[p] >= ends[p];
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* A reader of the feed, as an SSE stream follows it: from the last seq it saw, never skipping one. */
typedef struct st_follower_t {
    xl_store_t *store;
    atomic_int stop;
    uint64_t last;
    uint64_t gaps, scans;
} follower_t;

static int follow_cb(void *ctx, uint64_t feed_seq, int64_t audit_id, uint32_t seq)
{
    follower_t *f = ctx;
    if (feed_seq != f->last + 1) {
        if (f->gaps++ == 0)
            fprintf(stderr, "feed: saw %" PRIu64 " after %" PRIu64 "\n", feed_seq, f->last);
    }
    f->last = feed_seq;
    return 0;
}

static void *follow(void *arg)
{
    follower_t *f = arg;
    while (!atomic_load(&f->stop)) {
        xl_store_feed_scan(f->store, f->last, follow_cb, f);
        ++f->scans;
        sleep_ms(1);
    }
    xl_store_feed_scan(f->store, f->last, follow_cb, f);
    return NULL;
}

/* The whole feed: numbered 1..n, each archived event once. */
typedef struct st_feedcheck_t {
    uint64_t n, out_of_order;
    xl_buf_t seen; /* audit_id be64, seq be32, per entry */
} feedcheck_t;

static int feed_all_cb(void *ctx, uint64_t feed_seq, int64_t audit_id, uint32_t seq)
{
    feedcheck_t *c = ctx;
    if (feed_seq != ++c->n)
        ++c->out_of_order;
    uint64_t key = (uint64_t)audit_id << 20 | seq;
    xl_buf_append(&c->seen, &key, sizeof(key));
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void check_feed(xl_store_t *store, const char *name, uint64_t *count)
{
    feedcheck_t c = {0};
    xl_buf_init(&c.seen);
    XL_CHECK_INT(xl_store_feed_scan(store, 0, feed_all_cb, &c), 0);
    XL_CHECK(c.out_of_order == 0, "%s: feed numbered 1..n (%" PRIu64 " out of place)", name, c.out_of_order);
    XL_CHECK(c.n == xl_store_feed_last(store), "%s: last feed seq %" PRIu64 " = entries %" PRIu64, name,
             xl_store_feed_last(store), c.n);
    size_t n = c.seen.len / sizeof(uint64_t);
    uint64_t *keys = (uint64_t *)c.seen.base;
    if (n > 1)
        qsort(keys, n, sizeof(*keys), cmp_u64);
    size_t dups = 0;
    for (size_t i = 1; i < n; ++i)
        dups += keys[i] == keys[i - 1];
    XL_CHECK(dups == 0, "%s: each event fed once (%zu twice)", name, dups);
    *count = c.n;
    xl_buf_dispose(&c.seen);
}

/* Project the whole log into a fresh store at dir with threads workers; the digest into hex. */
static void project(const char *dir, int threads, const char *bootstraps, const int64_t ends[NPART], char *hex,
                    uint64_t *fed, uint64_t *applied)
{
    char err[512];
    marks_t marks = {.mu = PTHREAD_MUTEX_INITIALIZER};
    xl_store_t *store = xl_store_open(dir, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open %s: %s", dir, err);
    const char *props[] = {"bootstrap.servers", bootstraps};
    xl_projector_conf_t conf = {.topic = TOPIC,
                                .dlq_topic = DLQ_TOPIC,
                                .group_id = "parallel-test",
                                .log_identity = IDENTITY,
                                .kafka_props = props,
                                .nkafka_props = 1,
                                .on_applied = on_applied,
                                .ctx = &marks,
                                .assign_all = 1,
                                .threads = threads};
    follower_t follower = {.store = store};
    pthread_t reader;
    pthread_create(&reader, NULL, follow, &follower);
    xl_projector_t *proj = xl_projector_create(&conf, store, err, sizeof(err));
    XL_CHECK(proj != NULL, "create with %d workers: %s", threads, err);
    if (proj != NULL && xl_projector_start(proj, err, sizeof(err)) == 0) {
        int64_t deadline = now_ms() + WAIT_MS;
        while (!caught_up(&marks, ends) && now_ms() < deadline)
            sleep_ms(20);
        XL_CHECK(caught_up(&marks, ends), "%d workers: every partition applied to its end", threads);
        xl_projector_stats_t stats;
        xl_projector_get_stats(proj, &stats);
        XL_CHECK(stats.failed == 0 && stats.stalled == 0, "%d workers: neither failed nor stalled", threads);
        XL_CHECK(stats.dlq >= NPOISON, "%d workers: poison dead-lettered (%" PRIu64 ")", threads, stats.dlq);
        int64_t lags[XL_PROJECTOR_MAX_LAGS], log_ends[NPART];
        /* the lag is published after on_applied: give the last batch's update a moment */
        for (int i = 0; i != 100 && (stats.lag != 0 || stats.applied == 0); ++i) {
            sleep_ms(20);
            xl_projector_get_stats(proj, &stats);
        }
        XL_CHECK_INT(stats.lag, 0);
        XL_CHECK_INT(xl_projector_get_lags(proj, lags, XL_PROJECTOR_MAX_LAGS), NPART);
        XL_CHECK_INT(xl_projector_get_log_ends(proj, log_ends, NPART), NPART);
        for (int p = 0; p != NPART; ++p) {
            XL_CHECK(lags[p] == 0, "%d workers: partition %d lag %" PRId64, threads, p, lags[p]);
            XL_CHECK(log_ends[p] == ends[p], "%d workers: partition %d end %" PRId64 " = %" PRId64, threads, p,
                     log_ends[p], ends[p]);
        }
        *applied = stats.applied;
    } else if (proj != NULL) {
        XL_CHECK(0, "start: %s", err);
    }
    xl_projector_destroy(proj);
    atomic_store(&follower.stop, 1);
    pthread_join(reader, NULL);
    XL_CHECK(follower.gaps == 0, "%d workers: a reader of the feed never skipped a seq (%" PRIu64 " gaps in %" PRIu64
             " scans)", threads, follower.gaps, follower.scans);
    char name[32];
    snprintf(name, sizeof(name), "%d workers", threads);
    check_feed(store, name, fed);
    XL_CHECK(follower.last == *fed, "%d workers: the reader saw the whole feed", threads);
    XL_CHECK_INT(xl_store_digest(store, hex, err, sizeof(err)), 0);
    xl_store_close(store);
}

/* Fold the whole life of execution audit (4 events) into fold, as messages of partition. */
static int fold_exec(xl_fold_t *fold, xl_codec_t *codec, int64_t audit, int32_t partition)
{
    char err[256];
    exec_t e = {.audit = audit, .root = audit, .nsteps = 4};
    xl_buf_t frame;
    xl_fold_result_t res;
    int ret = 0;
    xl_buf_init(&frame);
    for (int step = 0; step != 4 && ret == 0; ++step) {
        xl_fold_msg_t msg = {partition, audit * 10 + step, NULL, 0};
        if ((ret = encode_step(codec, &e, step, &frame)) == 0) {
            msg.value = frame.base;
            msg.len = frame.len;
            ret = xl_fold_add(fold, &msg, &res, err, sizeof(err));
            if (ret == 0 && res.outcome != XL_APPLY_NEW)
                ret = -1;
        }
    }
    xl_buf_dispose(&frame);
    return ret;
}

/* Fill dir's file system with the file path until about left bytes are free. @return 0 or -1. */
static int fill_disk(const char *dir, const char *path, uint64_t left)
{
    struct statvfs sv;
    static char block[1 << 20];
    if (statvfs(dir, &sv) != 0)
        return -1;
    uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    for (uint64_t n = 0; avail > left && n + sizeof(block) < avail - left; n += sizeof(block))
        if (fwrite(block, 1, sizeof(block), f) != sizeof(block))
            break;
    return fclose(f) == 0 ? 0 : -1;
}

static void refused_write_renumbered(xl_codec_t *codec)
{
    char err[512], dir[] = "/tmp/xl-par-full-XXXXXX", store_dir[600], filler[600];
    XL_REQUIRE_V(mkdtemp(dir) != NULL, "mkdtemp");
    if (geteuid() != 0 || mount("tmpfs", dir, "tmpfs", 0, "size=200m") != 0) {
        printf("skipped: the refused write needs root to mount a tmpfs\n");
        rm_tree(dir);
        return;
    }
    snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    xl_store_t *store = xl_store_open(store_dir, 0, err, sizeof(err));
    XL_CHECK(store != NULL, "open on tmpfs: %s", err);
    xl_fold_feed_t *feed = store != NULL ? xl_fold_feed_create(store) : NULL;
    xl_fold_t *a = feed != NULL ? xl_fold_create(store, err, sizeof(err)) : NULL;
    xl_fold_t *b = a != NULL ? xl_fold_create(store, err, sizeof(err)) : NULL;
    if (b != NULL) {
        xl_fold_share_feed(a, feed);
        xl_fold_share_feed(b, feed);
        XL_CHECK_INT(fold_exec(a, codec, 101, 0), 0);
        XL_CHECK_INT(fold_exec(b, codec, 102, 1), 0);
        XL_CHECK_INT(fill_disk(dir, filler, 16 << 20), 0);
        XL_CHECK_INT(xl_fold_commit(a, "full-log", err, sizeof(err)), -EAGAIN);
        XL_CHECK(strstr(err, "no space left") != NULL, "refused for the space: %s", err);
        XL_CHECK_INT(xl_store_feed_last(store), 0);
        XL_CHECK_INT(remove(filler), 0);
        XL_CHECK_INT(xl_fold_commit(b, "full-log", err, sizeof(err)), 0); /* takes feed 1..4 meanwhile */
        XL_CHECK_INT(xl_fold_commit(a, "full-log", err, sizeof(err)), 0); /* the retry: 5..8 */
        uint64_t fed = 0;
        check_feed(store, "after a refused write", &fed);
        XL_CHECK_INT(fed, 8);
        int64_t audit = 0;
        uint32_t seq = 0;
        feedcheck_t c = {0};
        xl_buf_init(&c.seen);
        XL_CHECK_INT(xl_store_feed_scan(store, 0, feed_all_cb, &c), 0);
        if (c.seen.len == 8 * sizeof(uint64_t)) {
            uint64_t first, fifth;
            memcpy(&first, c.seen.base, sizeof(first));
            memcpy(&fifth, c.seen.base + 4 * sizeof(fifth), sizeof(fifth));
            audit = (int64_t)(first >> 20);
            seq = (uint32_t)(fifth & 0xfffff);
            XL_CHECK(audit == 102 && (int64_t)(fifth >> 20) == 101 && seq == 1,
                     "feed 1 is execution 102 (%" PRId64 "), feed 5 execution 101 seq 1", audit);
        }
        xl_buf_dispose(&c.seen);
    }
    xl_fold_destroy(b);
    xl_fold_destroy(a);
    xl_fold_feed_destroy(feed);
    xl_store_close(store);
    umount(dir);
    rm_tree(dir);
}

int main(void)
{
    char err[512];
    const char *env = getenv("XL_PARALLEL_THREADS");
    int threads = env != NULL && atoi(env) > 0 ? atoi(env) : 4;

    XL_PHASE("setup: mock cluster, the log");
    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = fx_mock_cluster(&mock_rk, TOPIC, NPART, DLQ_TOPIC, err, sizeof(err));
    XL_REQUIRE(mcluster != NULL, "mock cluster: %s", err);
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);

    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(pconf, "linger.ms", "5", err, sizeof(err));
    rd_kafka_t *prk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
    XL_REQUIRE(prk != NULL, "producer: %s", err);
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(codec != NULL, "codec: %s", err);
    generate();
    size_t sent = produce_log(prk, codec);
    XL_REQUIRE(rd_kafka_flush(prk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR, "flush");
    int64_t ends[NPART], total = 0;
    for (int p = 0; p != NPART; ++p) {
        int64_t lo;
        XL_REQUIRE(rd_kafka_query_watermark_offsets(prk, TOPIC, p, &lo, &ends[p], 5000) == RD_KAFKA_RESP_ERR_NO_ERROR,
                   "watermarks of %d", p);
        total += ends[p];
    }
    XL_REQUIRE(total == (int64_t)sent && sent > 4000, "%zu messages of %zu executions in the log (%" PRId64 ")", sent,
               nexecs, total);

    char dir_one[] = "/tmp/xl-par-one-XXXXXX", dir_many[] = "/tmp/xl-par-many-XXXXXX";
    XL_REQUIRE(mkdtemp(dir_one) != NULL && mkdtemp(dir_many) != NULL, "mkdtemp");
    char one[XL_STORE_DIGEST_HEX_LEN + 1] = "", many[XL_STORE_DIGEST_HEX_LEN + 1] = "",
         rebuilt[XL_STORE_DIGEST_HEX_LEN + 1] = "";
    uint64_t fed_one = 0, fed_many = 0, applied_one = 0, applied_many = 0;

    XL_PHASE("one worker");
    project(dir_one, 1, bootstraps, ends, one, &fed_one, &applied_one);

    XL_PHASE("several workers");
    project(dir_many, threads, bootstraps, ends, many, &fed_many, &applied_many);

    XL_PHASE("same projections");
    XL_CHECK(applied_one > 4000 && applied_one == applied_many, "events applied: %" PRIu64 " and %" PRIu64,
             applied_one, applied_many);
    XL_CHECK(fed_one == fed_many && fed_one >= applied_one, "feeds: %" PRIu64 " and %" PRIu64 " entries", fed_one,
             fed_many);
    XL_CHECK(one[0] != '\0' && strcmp(one, many) == 0, "digest with 1 worker %s = with %d %s", one, threads, many);

    XL_PHASE("a rebuild gives the same digest");
    xl_rebuild_conf_t rconf = {.store_dir = dir_many};
    XL_CHECK_INT(xl_rebuild_run(&rconf, err, sizeof(err)), 0);
    xl_store_t *store = xl_store_open(dir_many, 0, err, sizeof(err));
    XL_CHECK(store != NULL, "reopen: %s", err);
    if (store != NULL) {
        XL_CHECK_INT(xl_store_digest(store, rebuilt, err, sizeof(err)), 0);
        XL_CHECK(strcmp(rebuilt, one) == 0, "rebuilt %s = projected %s", rebuilt, one);
        xl_store_close(store);
    }

    XL_PHASE("a refused write gives its feed seqs back");
    refused_write_renumbered(codec);

    rm_tree(dir_one);
    rm_tree(dir_many);
    xl_codec_destroy(codec);
    rd_kafka_destroy(prk);
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_rk);
    return xl_test_finish();
}
