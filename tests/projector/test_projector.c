/*
 * Tests of projector/projector.c against librdkafka's mock cluster (one
 * in-process broker, a 4-partition event topic and a dead-letter topic):
 * projection of produced events with their seqs and stored offsets,
 * duplicates, anomalies, rejections and a poison message (dead-lettered with
 * its reason, the events behind it still projected), fetch errors injected
 * by the mock, a restart that resumes from the stored offsets without
 * re-applying anything, and a second replica (another group, the cluster id
 * as log identity) that reaches the same digest.
 *
 * Every wait is bounded (WAIT_MS) so a broken projector fails, never hangs.
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
#include <time.h>

#include "projector/projector.h"
#include "projector/store.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

#define TOPIC "execlog.events"
#define DLQ_TOPIC "execlog.dlq"
#define NPART 4
#define WAIT_MS 20000
#define IDENTITY "test-log-1"
#define NEXEC 20
#define FIRST_AUDIT 1000
#define KAFKA_API_FETCH 1 /* Kafka protocol ApiKey of FetchRequest */

/* ---- helpers ---- */

/* Next offsets per partition: what the producer got acknowledged, or what a projector reported applied. */
typedef struct st_marks_t {
    pthread_mutex_t mu;
    int64_t next[NPART];
    int errors;
} marks_t;

static void marks_init(marks_t *m)
{
    pthread_mutex_init(&m->mu, NULL);
    for (int p = 0; p != NPART; ++p)
        m->next[p] = 0;
    m->errors = 0;
}

static void marks_raise(marks_t *m, int32_t partition, int64_t next)
{
    pthread_mutex_lock(&m->mu);
    if (partition >= 0 && partition < NPART && next > m->next[partition])
        m->next[partition] = next;
    pthread_mutex_unlock(&m->mu);
}

static void marks_copy(marks_t *m, int64_t out[NPART])
{
    pthread_mutex_lock(&m->mu);
    memcpy(out, m->next, sizeof(m->next));
    pthread_mutex_unlock(&m->mu);
}

static void on_applied(void *ctx, int32_t partition, int64_t next_offset)
{
    marks_raise(ctx, partition, next_offset);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    marks_t *m = opaque;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_lock(&m->mu);
        ++m->errors;
        pthread_mutex_unlock(&m->mu);
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(rkm->err));
        return;
    }
    marks_raise(m, rkm->partition, rkm->offset + 1);
}

/* Wait until applied has reached produced on every partition. @return 1 if so within WAIT_MS. */
static int wait_caught_up(marks_t *applied, marks_t *produced)
{
    int64_t want[NPART], have[NPART], deadline = now_ms() + WAIT_MS;
    marks_copy(produced, want);
    for (;;) {
        marks_copy(applied, have);
        int ok = 1;
        for (int p = 0; p != NPART; ++p)
            ok &= have[p] >= want[p];
        if (ok)
            return 1;
        if (now_ms() > deadline) {
            for (int p = 0; p != NPART; ++p)
                fprintf(stderr, "partition %d: applied %" PRId64 ", produced %" PRId64 "\n", p, have[p], want[p]);
            return 0;
        }
        sleep_ms(10);
    }
}

static xl_event_t event_of(int type, int64_t audit, const char *event_id, int64_t t)
{
    xl_event_t ev = fx_event(type, audit, event_id, t);
    ev.flow_id = str_of("nightly");
    ev.tenant_id = str_of("acme");
    return ev;
}

static int produce_raw(rd_kafka_t *prk, const char *key, const void *value, size_t len)
{
    rd_kafka_resp_err_t err =
        rd_kafka_producev(prk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
    return err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

/* Encode ev and produce it keyed by its root audit ID (decimal); the frame is left in frame if not NULL. */
static int produce_event(rd_kafka_t *prk, xl_codec_t *codec, const xl_event_t *ev, xl_buf_t *frame)
{
    char err[256], key[32];
    xl_buf_t buf;
    xl_buf_init(&buf);
    int ret = xl_event_encode(codec, ev, &buf, err, sizeof(err));
    if (ret != 0) {
        fprintf(stderr, "encode: %s\n", err);
    } else {
        snprintf(key, sizeof(key), "%" PRId64, ev->root_audit_id);
        ret = produce_raw(prk, key, buf.base, buf.len);
        if (frame != NULL) {
            xl_buf_reset(frame);
            xl_buf_append(frame, buf.base, buf.len);
        }
    }
    xl_buf_dispose(&buf);
    return ret;
}

static int flush_ok(rd_kafka_t *prk, marks_t *produced)
{
    if (rd_kafka_flush(prk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    pthread_mutex_lock(&produced->mu);
    int errors = produced->errors;
    pthread_mutex_unlock(&produced->mu);
    return errors == 0;
}

static xl_projector_t *start_projector(xl_store_t *store, const char *group, const char *identity,
                                       const char *bootstraps, marks_t *applied)
{
    char err[512];
    /* the mock coordinator waits session.timeout.ms - 1 s after a member leaves
     * before it elects again (45 s by default): keep it short for the restart */
    const char *props[] = {"bootstrap.servers",     bootstraps, "session.timeout.ms",       "4000",
                           "heartbeat.interval.ms", "1000",     "reconnect.backoff.max.ms", "500"};
    xl_projector_conf_t conf = {
        .topic = TOPIC,
        .dlq_topic = DLQ_TOPIC,
        .group_id = group,
        .log_identity = identity,
        .kafka_props = props,
        .nkafka_props = sizeof(props) / sizeof(props[0]) / 2,
        .on_applied = on_applied,
        .ctx = applied,
    };
    xl_projector_t *proj = xl_projector_create(&conf, store, err, sizeof(err));
    if (proj == NULL) {
        fprintf(stderr, "xl_projector_create: %s\n", err);
        return NULL;
    }
    if (xl_projector_start(proj, err, sizeof(err)) != 0) {
        fprintf(stderr, "xl_projector_start: %s\n", err);
        xl_projector_destroy(proj);
        return NULL;
    }
    return proj;
}

/* A dead letter as read back from the DLQ topic. */
typedef struct st_dead_t {
    char key[64];
    char reason[256];
    char source[256];
    xl_buf_t value;
} dead_t;

static void header_text(rd_kafka_headers_t *hdrs, const char *name, char *out, size_t size)
{
    const void *val = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (hdrs != NULL && rd_kafka_header_get_last(hdrs, name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(out, size, "%.*s", (int)len, (const char *)val);
}

/* Read want messages of the DLQ topic from its beginning. @return how many were read within WAIT_MS. */
static int read_dlq(const char *bootstraps, dead_t *dead, int want)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", "dlq-reader", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, DLQ_TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    int n = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    while (n < want && now_ms() < deadline) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (rkm == NULL)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            dead_t *d = &dead[n++];
            rd_kafka_headers_t *hdrs = NULL;
            rd_kafka_message_headers(rkm, &hdrs);
            snprintf(d->key, sizeof(d->key), "%.*s", (int)rkm->key_len, (const char *)rkm->key);
            header_text(hdrs, "execlog-dlq-reason", d->reason, sizeof(d->reason));
            header_text(hdrs, "execlog-source", d->source, sizeof(d->source));
            xl_buf_init(&d->value);
            xl_buf_append(&d->value, rkm->payload, rkm->len);
        }
        rd_kafka_message_destroy(rkm);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static void check_offsets(xl_store_t *store, const char *identity, marks_t *produced)
{
    int64_t want[NPART];
    marks_copy(produced, want);
    for (int p = 0; p != NPART; ++p) {
        int64_t next = -1;
        int ret = xl_store_get_offset(store, identity, p, &next);
        if (want[p] == 0) {
            XL_CHECK(ret == -ENOENT, "partition %d holds no message, yet has an offset", p);
        } else {
            XL_CHECK(ret == 0 && next == want[p], "partition %d: stored %" PRId64 " (ret %d), produced up to %" PRId64,
                     p, next, ret, want[p]);
        }
    }
}

/* ---- the test ---- */

int main(void)
{
    char err[512], dir[] = "/tmp/xl-test-projector-XXXXXX", dir_a[600], dir_b[600];
    xl_projector_stats_t stats;
    xl_state_t st;
    xl_buf_t frame, got;
    marks_t produced, applied_a, applied_a2, applied_b;
    int64_t audit;
    uint32_t seq;

    xl_buf_init(&frame);
    xl_buf_init(&got);
    marks_init(&produced);
    marks_init(&applied_a);
    marks_init(&applied_a2);
    marks_init(&applied_b);

    XL_PHASE("setup: directories and codec");
    XL_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(dir_a, sizeof(dir_a), "%s/a", dir);
    snprintf(dir_b, sizeof(dir_b), "%s/b", dir);
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(codec != NULL, "xl_codec_create: %s", err);

    XL_PHASE("setup: mock cluster on a dedicated producer handle");
    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = fx_mock_cluster(&mock_rk, TOPIC, NPART, DLQ_TOPIC, err, sizeof(err));
    XL_REQUIRE(mcluster != NULL, "mock cluster: %s", err);
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);

    XL_PHASE("setup: test producer");
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    XL_REQUIRE(rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps, err, sizeof(err)) == RD_KAFKA_CONF_OK &&
                   rd_kafka_conf_set(pconf, "enable.idempotence", "true", err, sizeof(err)) == RD_KAFKA_CONF_OK &&
                   rd_kafka_conf_set(pconf, "linger.ms", "5", err, sizeof(err)) == RD_KAFKA_CONF_OK,
               "producer conf: %s", err);
    rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
    rd_kafka_conf_set_opaque(pconf, &produced);
    rd_kafka_t *prk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
    XL_REQUIRE(prk != NULL, "rd_kafka_new: %s", err);

    XL_PHASE("setup: stores");
    xl_store_t *store_a = xl_store_open(dir_a, 0, err, sizeof(err));
    XL_REQUIRE(store_a != NULL, "xl_store_open: %s", err);
    xl_store_t *store_b = xl_store_open(dir_b, 0, err, sizeof(err));
    XL_REQUIRE(store_b != NULL, "xl_store_open: %s", err);

    XL_PHASE("create: bad configuration is refused with a message");
    {
        xl_projector_conf_t bad = {.topic = TOPIC, .dlq_topic = DLQ_TOPIC};
        err[0] = '\0';
        XL_CHECK(xl_projector_create(&bad, store_a, err, sizeof(err)) == NULL, "created without a group");
        XL_CHECK(err[0] != '\0', "no error text");
        const char *props[] = {"no.such.property", "1"};
        xl_projector_conf_t bad2 = {
            .topic = TOPIC, .dlq_topic = DLQ_TOPIC, .group_id = "g", .kafka_props = props, .nkafka_props = 1};
        err[0] = '\0';
        XL_CHECK(xl_projector_create(&bad2, store_a, err, sizeof(err)) == NULL, "created with a bogus property");
        XL_CHECK(strstr(err, "no.such.property") != NULL, "error: %s", err);
    }

    /* ---- phase 1: a fleet of executions ---- */
    XL_PHASE("project: produce 20 executions x 4 events");
    xl_buf_t created_frame;
    xl_buf_init(&created_frame);
    for (int i = 0; i != NEXEC; ++i) {
        int64_t a = FIRST_AUDIT + i, t = 1700000000000LL + i * 1000;
        char cid[32];
        snprintf(cid, sizeof(cid), "c-%" PRId64, a);
        xl_event_t ev = event_of(XL_EVENT_CREATED, a, cid, t);
        XL_CHECK_INT(produce_event(prk, codec, &ev, i == 3 ? &created_frame : NULL), 0);
        ev = event_of(XL_EVENT_STARTED, a, "s", t + 10);
        XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
        xl_metric_t metrics[] = {{str_of("rows"), i}, {str_of("bytes"), 100 * i}};
        ev = event_of(XL_EVENT_PROGRESS, a, "p", t + 20);
        ev.metrics = metrics;
        ev.nmetrics = 2;
        XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
        ev = event_of(XL_EVENT_SUCCEEDED, a, "ok", t + 30);
        XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
    }
    XL_REQUIRE(flush_ok(prk, &produced), "produce failed");

    XL_PHASE("project: start replica A and wait for it to catch up");
    int64_t t0 = now_ms();
    xl_projector_t *proj = start_projector(store_a, "g-a", IDENTITY, bootstraps, &applied_a);
    XL_REQUIRE(proj != NULL, "start");
    XL_REQUIRE(wait_caught_up(&applied_a, &produced), "replica A did not catch up within %d ms", WAIT_MS);
    fprintf(stderr, "replica A caught up in %" PRId64 " ms\n", now_ms() - t0);

    XL_PHASE("project: counters");
    xl_projector_get_stats(proj, &stats);
    XL_CHECK_INT(stats.applied, NEXEC * 4);
    XL_CHECK_INT(stats.duplicates, 0);
    XL_CHECK_INT(stats.anomalies, 0);
    XL_CHECK_INT(stats.dlq, 0);
    XL_CHECK_INT(stats.failed, 0);
    XL_CHECK(stats.batches >= 1, "batches %" PRIu64, stats.batches);

    XL_PHASE("project: states, seqs and archive");
    for (int i = 0; i != NEXEC; ++i) {
        int64_t a = FIRST_AUDIT + i, t = 1700000000000LL + i * 1000;
        if (xl_store_get_state(store_a, codec, a, &st, err, sizeof(err)) != 0) {
            XL_CHECK(0, "execution %" PRId64 " missing: %s", a, err);
            continue;
        }
        XL_CHECK_INT(st.status, XL_STATUS_SUCCEEDED);
        XL_CHECK_INT(st.last_seq, 4);
        XL_CHECK_INT(st.created_ms, t);
        XL_CHECK_INT(st.started_ms, t + 10);
        XL_CHECK_INT(st.ended_ms, t + 30);
        XL_CHECK_INT(st.updated_ms, t + 31);
        XL_CHECK(st.nmetrics == 2 && st.metrics[1].value == i, "metrics of %" PRId64, a);
        xl_state_dispose(&st);
        XL_CHECK_INT(xl_store_get_event_seq(store_a, a, "p", 1, &seq, NULL), 0);
        XL_CHECK_INT(seq, 3);
        char cid[32];
        snprintf(cid, sizeof(cid), "c-%" PRId64, a);
        XL_CHECK_INT(xl_store_find_create(store_a, "acme", 4, cid, strlen(cid), -1, &audit, NULL), 0);
        XL_CHECK_INT(audit, a);
    }
    xl_buf_reset(&got);
    XL_CHECK_INT(xl_store_get_event(store_a, FIRST_AUDIT + 3, 1, &got), 0);
    XL_CHECK(got.len == created_frame.len && memcmp(got.base, created_frame.base, got.len) == 0,
             "the archive holds the exact bytes of the topic");
    check_offsets(store_a, IDENTITY, &produced);

    /* ---- phase 2: what must not be applied (twice) ---- */
    XL_PHASE("edge cases: a re-delivery, an anomaly, a rejection and a poison message");
    xl_event_t ev = event_of(XL_EVENT_STARTED, FIRST_AUDIT, "s", 1700000000010LL);
    XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0); /* the same event again */
    ev = event_of(XL_EVENT_STARTED, FIRST_AUDIT, "s-late", 1700000009000LL);
    XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0); /* after succeeded */
    ev = event_of(XL_EVENT_PROGRESS, 5555, "p", 1700000009000LL);
    XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0); /* nobody created 5555 */
    static const char poison[] = "\x00not avro at all";
    char poison_key[32];
    snprintf(poison_key, sizeof(poison_key), "%d", FIRST_AUDIT + 1);
    XL_CHECK_INT(produce_raw(prk, poison_key, poison, sizeof(poison) - 1), 0);
    ev = event_of(XL_EVENT_WARNING, FIRST_AUDIT + 1, "after-poison", 1700000009000LL);
    ev.message = str_of("still here");
    XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0); /* same key: behind the poison */
    XL_REQUIRE(flush_ok(prk, &produced), "produce failed");
    XL_REQUIRE(wait_caught_up(&applied_a, &produced), "replica A stalled on the edge cases");

    XL_PHASE("edge cases: counters");
    xl_projector_get_stats(proj, &stats);
    XL_CHECK_INT(stats.applied, NEXEC * 4 + 1);
    XL_CHECK_INT(stats.duplicates, 1);
    XL_CHECK_INT(stats.anomalies, 1);
    XL_CHECK_INT(stats.dlq, 2);
    XL_CHECK_INT(stats.failed, 0);

    XL_PHASE("edge cases: states");
    XL_REQUIRE(xl_store_get_state(store_a, codec, FIRST_AUDIT, &st, err, sizeof(err)) == 0, "%s", err);
    XL_CHECK_INT(st.status, XL_STATUS_SUCCEEDED);
    XL_CHECK_INT(st.last_seq, 5); /* the anomaly is archived, the duplicate is not */
    XL_CHECK_INT(st.anomalies, 1);
    xl_state_dispose(&st);
    XL_CHECK_INT(xl_store_get_event_seq(store_a, FIRST_AUDIT, "s-late", 6, &seq, NULL), 0);
    XL_CHECK_INT(seq, 5);
    XL_REQUIRE(xl_store_get_state(store_a, codec, FIRST_AUDIT + 1, &st, err, sizeof(err)) == 0, "%s", err);
    XL_CHECK_INT(st.last_seq, 5);
    XL_CHECK_STR(st.message.base, st.message.len, "still here");
    xl_state_dispose(&st);
    XL_CHECK_INT(xl_store_get_state(store_a, codec, 5555, &st, err, sizeof(err)), -ENOENT);
    check_offsets(store_a, IDENTITY, &produced);

    XL_PHASE("edge cases: the dead-letter topic holds both, with reasons and sources");
    dead_t dead[4];
    memset(dead, 0, sizeof(dead));
    int ndead = read_dlq(bootstraps, dead, 2);
    XL_CHECK_INT(ndead, 2);
    int saw_poison = 0, saw_reject = 0;
    for (int i = 0; i < ndead; ++i) {
        if (strcmp(dead[i].key, poison_key) == 0) {
            saw_poison = 1;
            XL_CHECK(strstr(dead[i].reason, "undecodable") != NULL, "reason: %s", dead[i].reason);
            XL_CHECK(strncmp(dead[i].source, TOPIC "/", strlen(TOPIC) + 1) == 0, "source: %s", dead[i].source);
            XL_CHECK_MEM(dead[i].value.base, dead[i].value.len, poison, sizeof(poison) - 1);
        } else if (strcmp(dead[i].key, "5555") == 0) {
            saw_reject = 1;
            XL_CHECK(strncmp(dead[i].reason, "rejected:", 9) == 0, "reason: %s", dead[i].reason);
            XL_CHECK(strstr(dead[i].reason, "unknown execution") != NULL, "reason: %s", dead[i].reason);
        }
        xl_buf_dispose(&dead[i].value);
    }
    XL_CHECK(saw_poison, "the poison message is not in the DLQ");
    XL_CHECK(saw_reject, "the rejected event is not in the DLQ");

    /* ---- phase 3: transient errors ---- */
    XL_PHASE("fetch errors: the projector rides them out");
    rd_kafka_mock_push_request_errors(mcluster, KAFKA_API_FETCH, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    for (int i = 0; i != 5; ++i) {
        int64_t a = FIRST_AUDIT + NEXEC + i;
        char cid[32];
        snprintf(cid, sizeof(cid), "c-%" PRId64, a);
        ev = event_of(XL_EVENT_CREATED, a, cid, 1700000100000LL);
        XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
        ev = event_of(XL_EVENT_STARTED, a, "s", 1700000100010LL);
        XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
    }
    XL_REQUIRE(flush_ok(prk, &produced), "produce failed");
    XL_REQUIRE(wait_caught_up(&applied_a, &produced), "replica A did not recover from fetch errors");
    xl_projector_get_stats(proj, &stats);
    XL_CHECK_INT(stats.applied, NEXEC * 4 + 1 + 10);
    XL_CHECK_INT(stats.failed, 0);
    XL_CHECK(stats.lag == 0, "lag %" PRId64, stats.lag);

    /* ---- phase 4: restart ---- */
    XL_PHASE("restart: resumes from the stored offsets, re-applies nothing");
    xl_projector_destroy(proj);
    char digest_a[XL_STORE_DIGEST_HEX_LEN + 1], digest_b[XL_STORE_DIGEST_HEX_LEN + 1];
    XL_CHECK_INT(xl_store_digest(store_a, digest_a, err, sizeof(err)), 0);
    proj = start_projector(store_a, "g-a", IDENTITY, bootstraps, &applied_a2);
    XL_REQUIRE(proj != NULL, "restart");
    /* the assignment reports the stored offsets; then give a wrong seek time to show */
    XL_REQUIRE(wait_caught_up(&applied_a2, &produced), "the restarted projector did not report its offsets");
    sleep_ms(1000);
    xl_projector_get_stats(proj, &stats);
    XL_CHECK_INT(stats.applied, 0);
    XL_CHECK_INT(stats.duplicates, 0);
    XL_CHECK_INT(stats.dlq, 0);
    char digest_now[XL_STORE_DIGEST_HEX_LEN + 1];
    XL_CHECK_INT(xl_store_digest(store_a, digest_now, err, sizeof(err)), 0);
    XL_CHECK(strcmp(digest_a, digest_now) == 0, "the projections changed without new events");

    XL_PHASE("restart: new events are applied once");
    ev = event_of(XL_EVENT_LOG, FIRST_AUDIT + 2, "late-log", 1700000200000LL);
    XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
    ev = event_of(XL_EVENT_CREATED, 2000, "c-2000", 1700000200000LL);
    XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
    XL_REQUIRE(flush_ok(prk, &produced), "produce failed");
    XL_REQUIRE(wait_caught_up(&applied_a2, &produced), "the restarted projector did not catch up");
    xl_projector_get_stats(proj, &stats);
    XL_CHECK_INT(stats.applied, 2);
    XL_CHECK_INT(stats.duplicates, 0);
    XL_CHECK_INT(xl_store_get_state(store_a, codec, 2000, &st, err, sizeof(err)), 0);
    xl_state_dispose(&st);
    check_offsets(store_a, IDENTITY, &produced);

    /* ---- phase 5: a second replica ---- */
    XL_PHASE("replica B: another group, the cluster id as identity, the same digest");
    t0 = now_ms();
    xl_projector_t *proj_b = start_projector(store_b, "g-b", NULL, bootstraps, &applied_b);
    XL_REQUIRE(proj_b != NULL, "start B");
    XL_REQUIRE(wait_caught_up(&applied_b, &produced), "replica B did not catch up");
    fprintf(stderr, "replica B caught up in %" PRId64 " ms\n", now_ms() - t0);
    xl_projector_get_stats(proj_b, &stats);
    XL_CHECK_INT(stats.applied, NEXEC * 4 + 1 + 10 + 2);
    XL_CHECK_INT(stats.duplicates, 1);
    XL_CHECK_INT(stats.anomalies, 1);
    XL_CHECK_INT(stats.dlq, 2);
    XL_CHECK_INT(xl_store_digest(store_a, digest_a, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_digest(store_b, digest_b, err, sizeof(err)), 0);
    XL_CHECK(strcmp(digest_a, digest_b) == 0, "replicas differ: %s vs %s", digest_a, digest_b);
    char *cluster_id = rd_kafka_clusterid(prk, 5000);
    XL_CHECK(cluster_id != NULL, "no cluster id");
    if (cluster_id != NULL) {
        xl_buf_reset(&got);
        XL_CHECK_INT(xl_store_get_identity(store_b, &got), 0);
        XL_CHECK_STR(got.base, got.len, cluster_id);
        check_offsets(store_b, cluster_id, &produced);
        rd_kafka_mem_free(prk, cluster_id);
    }

    XL_PHASE("replica B: one more event keeps them equal");
    ev = event_of(XL_EVENT_FAILED, 2000, "f", 1700000300000LL);
    ev.error = (xl_error_t){1, str_of("Boom"), str_of("it broke"), {NULL, 0}};
    XL_CHECK_INT(produce_event(prk, codec, &ev, NULL), 0);
    XL_REQUIRE(flush_ok(prk, &produced), "produce failed");
    XL_REQUIRE(wait_caught_up(&applied_a2, &produced) && wait_caught_up(&applied_b, &produced), "catch up");
    XL_CHECK_INT(xl_store_digest(store_a, digest_a, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_store_digest(store_b, digest_b, err, sizeof(err)), 0);
    XL_CHECK(strcmp(digest_a, digest_b) == 0, "replicas differ: %s vs %s", digest_a, digest_b);
    XL_CHECK(strcmp(digest_a, digest_now) != 0, "the digest did not move");

    XL_PHASE("teardown");
    xl_projector_destroy(proj_b);
    xl_projector_destroy(proj);
    rd_kafka_destroy(prk);
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_rk);
    xl_store_close(store_a);
    xl_store_close(store_b);
    xl_codec_destroy(codec);
    xl_buf_dispose(&created_frame);
    xl_buf_dispose(&frame);
    xl_buf_dispose(&got);
    rm_tree(dir);
    return xl_test_finish();
}
