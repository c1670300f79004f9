/*
 * Tests of projector/rebuild.c on real RocksDB stores in a fresh mkdtemp
 * directory: a rebuild from the archive keeps the digest, also when the
 * archive holds events of two logs whose offsets overlap (an embedded broker
 * restarted), and keeps the offsets; an inconsistent archive stops the
 * rebuild and leaves the store marked, which xl_store_open then refuses; a
 * rebuild from Kafka (librdkafka's mock cluster in this process) rebuilds
 * archive, projections and offsets from the topic, skipping a poison message
 * and a re-delivery, to the digest of a fold of the same log; the plain
 * progress lines when stderr is not a terminal.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "projector/apply.h"
#include "projector/fold.h"
#include "projector/rebuild.h"
#include "projector/store.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

#define TOPIC "execlog.events"
#define NPART 3
#define MAX_MSGS 4096

/* A message of a log: its frame and where it sits. */
typedef struct st_msg_t {
    xl_buf_t frame;
    int32_t partition;
    int64_t offset;
} msg_t;

typedef struct st_log_t {
    msg_t m[MAX_MSGS];
    size_t n;
    pthread_mutex_t mu; /* delivery reports fill it from librdkafka's thread */
} log_t;

static int encode_event(xl_codec_t *codec, xl_buf_t *out, int type, int64_t audit, const char *event_id, int64_t t,
                        const char *task)
{
    xl_event_t ev = fx_event(type, audit, event_id, t);
    ev.flow_id = str_of(audit % 2 ? "odd" : "even");
    ev.tenant_id = str_of("acme");
    ev.task = str_of(task);
    xl_buf_reset(out);
    return fx_encode(codec, &ev, out);
}

/* The events of execution audit: a life with tasks, a late (illegal) event; seq i -> step i. */
static int life_of(xl_codec_t *codec, xl_buf_t frames[6], int64_t audit, int64_t t)
{
    char id[6][32];
    static const int types[6] = {XL_EVENT_CREATED,       XL_EVENT_STARTED,   XL_EVENT_TASK_STARTED,
                                 XL_EVENT_TASK_FINISHED, XL_EVENT_SUCCEEDED, XL_EVENT_STARTED};
    for (int i = 0; i != 6; ++i) {
        snprintf(id[i], sizeof(id[i]), "%" PRId64 "-%d", audit, i);
        xl_buf_init(&frames[i]);
        if (encode_event(codec, &frames[i], types[i], audit, id[i], t + 100 * i, i == 2 || i == 3 ? "load" : NULL) != 0)
            return -1;
    }
    return 0;
}

/* Fold msgs in order into the store at dir, with identity (NULL: no offsets). */
static int fold_msgs(const char *dir, msg_t *msgs, size_t n, const char *identity,
                     char hex[XL_STORE_DIGEST_HEX_LEN + 1])
{
    char err[256];
    xl_fold_result_t res;
    int ret = -1;
    xl_store_t *store;
    xl_fold_t *fold = fx_fold_open(dir, &store, err, sizeof(err));
    if (fold == NULL)
        goto fail;
    for (size_t i = 0; i != n; ++i) {
        xl_fold_msg_t msg = {msgs[i].partition, msgs[i].offset, msgs[i].frame.base, msgs[i].frame.len};
        if (xl_fold_add(fold, &msg, &res, err, sizeof(err)) != 0)
            goto fail;
        if (xl_fold_count(fold) == 17 || i + 1 == n) {
            if (xl_fold_commit(fold, identity, err, sizeof(err)) != 0)
                goto fail;
            xl_fold_reset(fold);
        }
    }
    ret = hex != NULL ? xl_store_digest(store, hex, err, sizeof(err)) : 0;

fail:
    if (ret != 0)
        fprintf(stderr, "fold_msgs: %s\n", err);
    xl_fold_destroy(fold);
    xl_store_close(store);
    return ret;
}

static int digest_of(const char *dir, char hex[XL_STORE_DIGEST_HEX_LEN + 1])
{
    char err[256];
    xl_store_t *store = xl_store_open(dir, 0, err, sizeof(err));
    if (store == NULL) {
        fprintf(stderr, "open %s: %s\n", dir, err);
        return -1;
    }
    int ret = xl_store_digest(store, hex, err, sizeof(err));
    xl_store_close(store);
    return ret;
}

static void test_generations(const char *root, xl_codec_t *codec)
{
    char dir[600], err[256], before[XL_STORE_DIGEST_HEX_LEN + 1], after[XL_STORE_DIGEST_HEX_LEN + 1];
    xl_buf_t a[6], b[6], c[6];
    msg_t gen1[8], gen2[10];
    xl_rebuild_stats_t stats;

    XL_PHASE("generations: two logs whose offsets overlap");
    snprintf(dir, sizeof(dir), "%s/gen", root);
    if (life_of(codec, a, 1001, 1000) != 0 || life_of(codec, b, 1002, 2000) != 0 || life_of(codec, c, 1003, 3000) != 0)
        XL_CHECK(0, "encode");
    /* log 1: 1001's first four events and 1002's first four, on partition 0 */
    for (int i = 0; i != 4; ++i) {
        gen1[2 * i] = (msg_t){a[i], 0, 2 * i};
        gen1[2 * i + 1] = (msg_t){b[i], 0, 2 * i + 1};
    }
    /* log 2 (offsets start again at 0): the rest of 1001 and 1002 on partition 0, and 1003 on partition 1 */
    gen2[0] = (msg_t){a[4], 0, 0};
    gen2[1] = (msg_t){b[4], 0, 1};
    gen2[2] = (msg_t){a[5], 0, 2};
    gen2[3] = (msg_t){b[5], 0, 3};
    for (int i = 0; i != 6; ++i)
        gen2[4 + i] = (msg_t){c[i], 1, i};
    XL_CHECK_INT(fold_msgs(dir, gen1, 8, "log-1", NULL), 0);
    XL_CHECK_INT(fold_msgs(dir, gen2, 10, "log-2", before), 0);

    XL_PHASE("generations: the rebuild folds in (audit_id, seq) order and keeps digest and offsets");
    xl_rebuild_conf_t conf = {.store_dir = dir, .progress = 0, .stats = &stats};
    XL_REQUIRE_V(xl_rebuild_run(&conf, err, sizeof(err)) == 0, "rebuild: %s", err);
    XL_CHECK_INT(stats.order, 0);
    XL_CHECK_INT(stats.messages, 18);
    XL_CHECK_INT(stats.applied, 18);
    XL_CHECK_INT(stats.executions, 3);
    XL_CHECK_INT(digest_of(dir, after), 0);
    XL_CHECK(strcmp(before, after) == 0, "digest %s became %s", before, after);
    xl_store_t *store = xl_store_open(dir, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open: %s", err);
    int64_t off;
    XL_CHECK_INT(xl_store_get_offset(store, "log-2", 1, &off), 0);
    XL_CHECK_INT(off, 6);
    XL_CHECK_INT(xl_store_get_offset(store, "log-1", 0, &off), 0);
    XL_CHECK_INT(off, 8);
    xl_state_t st;
    XL_REQUIRE_V(xl_store_get_state(store, codec, 1001, &st, err, sizeof(err)) == 0, "state: %s", err);
    XL_CHECK_INT(st.status, XL_STATUS_SUCCEEDED);
    XL_CHECK_INT(st.anomalies, 1);
    XL_CHECK_INT(st.log_offset, 2); /* the position of its last event, in log 2 */
    XL_CHECK(st.ntasks == 1 && st.tasks[0].status == XL_STATUS_SUCCEEDED, "tasks");
    xl_state_dispose(&st);
    XL_CHECK_INT(xl_store_feed_last(store), 18);
    xl_store_close(store);

    XL_PHASE("generations: a single log folds in (partition, offset) order, to the same digest");
    snprintf(dir, sizeof(dir), "%s/one-log", root);
    XL_CHECK_INT(fold_msgs(dir, gen2 + 4, 6, "log-2", before), 0);
    XL_REQUIRE_V(xl_rebuild_run(&conf, err, sizeof(err)) == 0, "rebuild: %s", err);
    XL_CHECK_INT(stats.order, 1);
    XL_CHECK_INT(digest_of(dir, after), 0);
    XL_CHECK(strcmp(before, after) == 0, "digest %s became %s", before, after);

    XL_PHASE("an inconsistent archive stops the rebuild, and the store stays marked");
    store = xl_store_open(dir, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open: %s", err);
    xl_store_batch_t *batch = xl_store_batch_create(store);
    xl_pos_t pos = {1, 99};
    XL_CHECK_INT(xl_store_batch_put_event(batch, 1003, 9, &pos, c[1].base, c[1].len), 0); /* seqs 7, 8 missing */
    XL_CHECK_INT(xl_store_batch_commit(batch, err, sizeof(err)), 0);
    xl_store_batch_destroy(batch);
    xl_store_close(store);
    err[0] = '\0';
    XL_CHECK_INT(xl_rebuild_run(&conf, err, sizeof(err)), -EIO);
    XL_CHECK(strstr(err, "inconsistent") != NULL && strstr(err, "1003/9") != NULL, "error: %s", err);
    err[0] = '\0';
    XL_CHECK(xl_store_open(dir, 0, err, sizeof(err)) == NULL, "a store mid-rebuild opened");
    XL_CHECK(strstr(err, "execlogd rebuild") != NULL, "error: %s", err);

    XL_PHASE("no store there");
    xl_rebuild_conf_t nowhere = {.store_dir = "/nonexistent/xl-store"};
    XL_CHECK_INT(xl_rebuild_run(&nowhere, err, sizeof(err)), -ENOENT);
    for (int i = 0; i != 6; ++i) {
        xl_buf_dispose(&a[i]);
        xl_buf_dispose(&b[i]);
        xl_buf_dispose(&c[i]);
    }
}

/* ---- from Kafka ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    log_t *log = opaque;
    pthread_mutex_lock(&log->mu);
    if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR && log->n < MAX_MSGS) {
        msg_t *m = &log->m[log->n++];
        xl_buf_init(&m->frame);
        xl_buf_append(&m->frame, rkm->payload, rkm->len);
        m->partition = rkm->partition;
        m->offset = rkm->offset;
    } else if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "delivery: %s\n", rd_kafka_err2str(rkm->err));
    }
    pthread_mutex_unlock(&log->mu);
}

static int by_position(const void *pa, const void *pb)
{
    const msg_t *a = pa, *b = pb;
    if (a->partition != b->partition)
        return a->partition - b->partition;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

static int produce(rd_kafka_t *prk, int64_t key, const xl_buf_t *frame)
{
    char k[32];
    snprintf(k, sizeof(k), "%" PRId64, key);
    return rd_kafka_producev(prk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(k, strlen(k)), RD_KAFKA_V_VALUE(frame->base, frame->len),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR
               ? 0
               : -1;
}

static void test_from_kafka(const char *root, xl_codec_t *codec)
{
    char err[512], dir_fold[600], dir_kafka[600], want[XL_STORE_DIGEST_HEX_LEN + 1], got[XL_STORE_DIGEST_HEX_LEN + 1];
    log_t *log = calloc(1, sizeof(*log));
    xl_rebuild_stats_t stats;

    XL_PHASE("from kafka: a mock cluster with a log of 150 executions, a re-delivery and a poison message");
    pthread_mutex_init(&log->mu, NULL);
    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = fx_mock_cluster(&mock_rk, TOPIC, NPART, NULL, err, sizeof(err));
    XL_REQUIRE_V(mcluster != NULL, "mock cluster: %s", err);
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(pconf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(pconf, "linger.ms", "5", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
    rd_kafka_conf_set_opaque(pconf, log);
    rd_kafka_t *prk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
    XL_REQUIRE_V(prk != NULL, "producer: %s", err);
    int perr = 0;
    for (int64_t audit = 2000; audit != 2150; ++audit) {
        xl_buf_t life[6];
        perr |= life_of(codec, life, audit, 1700000000000LL + audit);
        for (int i = 0; i != 6; ++i)
            perr |= produce(prk, audit, &life[i]);
        if (audit == 2010)
            perr |= produce(prk, audit, &life[3]); /* a re-delivery */
        for (int i = 0; i != 6; ++i)
            xl_buf_dispose(&life[i]);
    }
    xl_buf_t poison;
    xl_buf_init(&poison);
    xl_buf_append(&poison, "poison", 6);
    perr |= produce(prk, 2020, &poison);
    xl_buf_dispose(&poison);
    XL_REQUIRE_V(perr == 0 && rd_kafka_flush(prk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR, "produce");
    XL_REQUIRE_V(log->n == 150 * 6 + 2, "%zu delivered", log->n);
    char *cluster_id = rd_kafka_clusterid(prk, 5000);
    XL_REQUIRE_V(cluster_id != NULL, "cluster id");

    XL_PHASE("from kafka: the reference is a fold of the same log, with the cluster's identity");
    qsort(log->m, log->n, sizeof(log->m[0]), by_position);
    snprintf(dir_fold, sizeof(dir_fold), "%s/fold", root);
    XL_CHECK_INT(fold_msgs(dir_fold, log->m, log->n, cluster_id, want), 0);

    XL_PHASE("from kafka: a store with other content is rebuilt from the topic alone");
    snprintf(dir_kafka, sizeof(dir_kafka), "%s/kafka", root);
    {
        xl_buf_t stale[6];
        msg_t msgs[6];
        life_of(codec, stale, 77, 1);
        for (int i = 0; i != 6; ++i)
            msgs[i] = (msg_t){stale[i], 0, 1000 + i};
        XL_CHECK_INT(fold_msgs(dir_kafka, msgs, 6, "an-old-log", NULL), 0);
        for (int i = 0; i != 6; ++i)
            xl_buf_dispose(&stale[i]);
    }
    const char *props[] = {"bootstrap.servers", bootstraps, "log_level", "3"};
    xl_rebuild_conf_t conf = {.store_dir = dir_kafka,
                              .from_kafka = 1,
                              .topic = TOPIC,
                              .kafka_props = props,
                              .nkafka_props = 2,
                              .progress = 1,
                              .stats = &stats};
    XL_REQUIRE_V(xl_rebuild_run(&conf, err, sizeof(err)) == 0, "rebuild: %s", err);
    XL_CHECK_INT(stats.messages, log->n);
    XL_CHECK_INT(stats.applied, 150 * 6);
    XL_CHECK_INT(stats.duplicates, 1);
    XL_CHECK_INT(stats.rejected, 1);
    XL_CHECK_INT(stats.executions, 150);
    XL_CHECK_INT(digest_of(dir_kafka, got), 0);
    XL_CHECK(strcmp(want, got) == 0, "rebuilt from kafka %s, folded %s", got, want);

    XL_PHASE("from kafka: offsets and identity of the topic; the old log's are gone");
    xl_store_t *store = xl_store_open(dir_kafka, 0, err, sizeof(err));
    XL_REQUIRE_V(store != NULL, "open: %s", err);
    int64_t next[NPART] = {0};
    for (size_t i = 0; i != log->n; ++i)
        if (log->m[i].offset + 1 > next[log->m[i].partition])
            next[log->m[i].partition] = log->m[i].offset + 1;
    for (int p = 0; p != NPART; ++p) {
        int64_t off = -1;
        XL_CHECK_INT(xl_store_get_offset(store, cluster_id, p, &off), 0);
        XL_CHECK(off == next[p], "partition %d: %" PRId64 ", the log ends at %" PRId64, p, off, next[p]);
    }
    int64_t off;
    XL_CHECK_INT(xl_store_get_offset(store, "an-old-log", 0, &off), -ENOENT);
    xl_state_t st;
    XL_CHECK_INT(xl_store_get_state(store, codec, 77, &st, err, sizeof(err)), -ENOENT);
    xl_buf_t id;
    xl_buf_init(&id);
    XL_CHECK_INT(xl_store_get_identity(store, &id), 0);
    XL_CHECK_STR(id.base, id.len, cluster_id);
    xl_buf_dispose(&id);
    xl_store_close(store);

    XL_PHASE("from kafka: an unknown topic fails before anything is dropped");
    const char *topic = conf.topic;
    conf.topic = "no.such.topic";
    conf.progress = 0;
    err[0] = '\0';
    XL_CHECK(xl_rebuild_run(&conf, err, sizeof(err)) < 0, "rebuilt from a missing topic");
    XL_CHECK(err[0] != '\0', "no error text");
    conf.topic = topic;
    XL_CHECK_INT(digest_of(dir_kafka, got), 0); /* still opens: not marked */
    XL_CHECK(strcmp(want, got) == 0, "the failed rebuild changed the store");

    rd_kafka_mem_free(prk, cluster_id);
    rd_kafka_destroy(prk);
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_rk);
    for (size_t i = 0; i != log->n; ++i)
        xl_buf_dispose(&log->m[i].frame);
    pthread_mutex_destroy(&log->mu);
    free(log);
}

static void test_progress_lines(const char *root, xl_codec_t *codec)
{
    char dir[600], err[256], line[256], path[700];
    xl_buf_t life[6];
    msg_t msgs[6];

    XL_PHASE("progress: plain lines when stderr is not a terminal");
    snprintf(dir, sizeof(dir), "%s/progress", root);
    life_of(codec, life, 5, 1);
    for (int i = 0; i != 6; ++i)
        msgs[i] = (msg_t){life[i], 0, i};
    XL_CHECK_INT(fold_msgs(dir, msgs, 6, "p", NULL), 0);
    snprintf(path, sizeof(path), "%s/stderr.txt", root);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *f = fopen(path, "w+");
    XL_REQUIRE_V(f != NULL && saved >= 0, "redirect");
    dup2(fileno(f), STDERR_FILENO);
    xl_rebuild_conf_t conf = {.store_dir = dir, .progress = 1};
    int ret = xl_rebuild_run(&conf, err, sizeof(err));
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    XL_CHECK_INT(ret, 0);
    rewind(f);
    int lines = 0, final = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        ++lines;
        XL_CHECK(strchr(line, '\r') == NULL, "a carriage return in a plain line: %s", line);
        final |= strncmp(line, "rebuild: 6/6 events (100%)", 26) == 0;
    }
    fclose(f);
    XL_CHECK(lines >= 1 && final, "%d lines, final line seen %d", lines, final);
    for (int i = 0; i != 6; ++i)
        xl_buf_dispose(&life[i]);
}

int main(void)
{
    char err[256], root[] = "/tmp/xl-test-rebuild-XXXXXX";
    XL_PHASE("setup");
    XL_REQUIRE(mkdtemp(root) != NULL, "mkdtemp: %s", strerror(errno));
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(codec != NULL, "codec: %s", err);
    test_generations(root, codec);
    test_progress_lines(root, codec);
    test_from_kafka(root, codec);
    xl_codec_destroy(codec);
    rm_tree(root);
    return xl_test_finish();
}
