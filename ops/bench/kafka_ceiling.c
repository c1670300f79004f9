/*
 * Ceiling for the write path, and the projector's pre-fill: a raw librdkafka
 * producer (idempotent, acks=all, the ingest producer's settings) of the same
 * Avro events execlogd produces, encoded with our codec (schemas/event.h).
 *
 *   xl_bench_kafka --bootstrap B --topic T --seconds S
 *       produce as fast as the acknowledgements allow for S seconds; events
 *       are encoded once into a pool and cycled, so this measures Kafka only
 *   xl_bench_kafka --bootstrap B --topic T --count N --ids FILE
 *       produce N "progress" events for the executions of FILE (one
 *       "audit_id flow_id" per line) with fresh event IDs, keyed like ingest
 *       (root audit ID as decimal text), wait for every delivery report
 *   xl_bench_kafka --bootstrap B --topic T --watermarks 1
 *       the sums of the low and high watermarks over the topic's partitions
 *       (a low watermark above 0 means the broker pruned the log)
 *   xl_bench_kafka --bootstrap B --topic T --create P --replication R --seconds S
 *       on a real cluster (no automatic topic creation): first create T as
 *       execlogd creates its events topic (P partitions, replication factor R,
 *       retention.ms=-1, cleanup.policy=delete, max.message.bytes=2 MiB) and
 *       wait until every partition has a leader, then produce as above
 *   xl_bench_kafka --bootstrap B --topic T1,T2,... --delete 1
 *       delete those topics (the bench's own, at the end of a cluster run)
 *
 * Prints one JSON object on stdout ("brokers": the brokers in the cluster's
 * metadata). It never writes anything but the topic(s) it is given.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "projector/kconf.h"
#include "schemas/event.h"

#define POOL 4096

typedef struct {
    char key[24];
    size_t keylen;
    xl_buf_t frame;
} frame_t;

static unsigned long long delivered, failed;
static char first_error[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void uuid4(char out[37])
{
    unsigned char r[16];
    uint64_t a = next_rand(), b = next_rand();
    memcpy(r, &a, 8);
    memcpy(r + 8, &b, 8);
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++delivered;
    } else {
        if (failed++ == 0)
            snprintf(first_error, sizeof(first_error), "%s", rd_kafka_err2str(msg->err));
    }
}

/* The event ingest builds for POST /v1/executions/{id}/events {"type":"progress","metrics":{"rows":1}}. */
static int encode_progress(xl_codec_t *codec, int64_t audit_id, const char *flow_id, xl_buf_t *out, char *err,
                           size_t errlen)
{
    char event_id[37], flow_name[64];
    uuid4(event_id);
    /* ingest copies the execution's lineage fields into every append: the
     * bench creates "bench-fN" with the name "Bench flow N" */
    unsigned flow_no;
    xl_str_t name = {NULL, 0};
    if (sscanf(flow_id, "bench-f%u", &flow_no) == 1)
        name = (xl_str_t){flow_name, (size_t)snprintf(flow_name, sizeof(flow_name), "Bench flow %u", flow_no)};
    xl_metric_t metric = {.name = {(char *)"rows", 4}, .value = 1};
    int64_t now = wall_ms();
    xl_event_t ev = {
        .event_id = {event_id, 36},
        .audit_id = audit_id,
        .root_audit_id = audit_id,
        .flow_id = {(char *)flow_id, strlen(flow_id)},
        .flow_name = name,
        .tenant_id = {(char *)"bench", 5},
        .type = XL_EVENT_PROGRESS,
        .status = XL_STATUS_RUNNING,
        .time_ms = now,
        .ingest_time_ms = now,
        .nmetrics = 1,
        .metrics = &metric,
    };
    return xl_event_encode(codec, &ev, out, err, errlen);
}

static rd_kafka_t *make_producer(const char *bootstrap, char *err, size_t errlen)
{
    /* the ingest producer's settings (projector/kconf.c), nothing more */
    const char *const defaults[] = {"message.timeout.ms", "10000"};
    const char *const props[] = {"bootstrap.servers", bootstrap, "client.id", "execlog-bench"};
    const xl_kconf_spec_t spec = {
        .client = XL_KCONF_INGEST_PRODUCER, .defaults = defaults, .ndefaults = 1, .props = props, .nprops = 2};
    rd_kafka_conf_t *conf = xl_kconf_build(&spec, err, errlen);
    if (conf == NULL)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (rk == NULL)
        goto fail;
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Produce one message, serving delivery reports while the queue is full. */
static int produce(rd_kafka_topic_t *rkt, rd_kafka_t *rk, const frame_t *f)
{
    for (;;) {
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, f->frame.base, f->frame.len, f->key, f->keylen, NULL) == 0)
            return 0;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return -1;
        rd_kafka_poll(rk, 1);
    }
}

/* Wait for the one admin result of type on q; err is set unless it arrived without a request-level error. */
static rd_kafka_event_t *admin_result(rd_kafka_queue_t *q, rd_kafka_event_type_t type, int timeout_ms, char *err,
                                      size_t errlen)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
    if (ev == NULL) {
        snprintf(err, errlen, "no answer from the cluster within %d ms", timeout_ms);
        return NULL;
    }
    if (rd_kafka_event_type(ev) != type || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "%s", rd_kafka_event_error_string(ev) ? rd_kafka_event_error_string(ev) : "failed");
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* Create topic with execlogd's settings for its events topic (ingest/topic.c), then wait until every partition
 * has a leader. @return 0, or -1 with err. */
static int create_topic(rd_kafka_t *rk, const char *topic, int partitions, int replication, char *err, size_t errlen)
{
    char sub[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, replication, sub, sizeof(sub));
    if (nt == NULL) {
        snprintf(err, errlen, "topic %s: %s", topic, sub);
        return -1;
    }
    rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", "2097152");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, 30000, sub, sizeof(sub));
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_event_t *ev = admin_result(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, 35000, sub, sizeof(sub));
    rd_kafka_queue_destroy(q);
    if (ev == NULL) {
        snprintf(err, errlen, "cannot create topic %s: %s", topic, sub);
        return -1;
    }
    size_t n;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    rd_kafka_resp_err_t e = n == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) { /* a fresh topic: one that exists already is not what was asked for */
        snprintf(err, errlen, "cannot create topic %s: %s", topic,
                 n == 1 && rd_kafka_topic_result_error_string(res[0]) ? rd_kafka_topic_result_error_string(res[0])
                                                                      : rd_kafka_err2str(e));
        rd_kafka_event_destroy(ev);
        return -1;
    }
    rd_kafka_event_destroy(ev);
    /* the brokers learn of a new topic asynchronously: wait until its metadata shows every leader */
    for (int waited = 0; waited < 30000; waited += 100) {
        const struct rd_kafka_metadata *md;
        int ok = 0;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int i = 0; i < md->topic_cnt; ++i) {
                const struct rd_kafka_metadata_topic *t = &md->topics[i];
                if (strcmp(t->topic, topic) != 0 || t->err != RD_KAFKA_RESP_ERR_NO_ERROR ||
                    t->partition_cnt != partitions)
                    continue;
                ok = 1;
                for (int p = 0; p < t->partition_cnt; ++p)
                    ok &= t->partitions[p].leader >= 0 && t->partitions[p].err == RD_KAFKA_RESP_ERR_NO_ERROR;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (ok)
            return 0;
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    snprintf(err, errlen, "topic %s created, but its partitions have no leaders after 30 s", topic);
    return -1;
}

/* Delete the comma-separated topics; one that does not exist is not an error. */
static int delete_topics(const char *bootstrap, const char *list)
{
    char err[512];
    rd_kafka_t *rk = make_producer(bootstrap, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    char *names = strdup(list), *save = NULL;
    rd_kafka_DeleteTopic_t *dt[32];
    size_t n = 0;
    for (char *t = strtok_r(names, ",", &save); t != NULL && n < 32; t = strtok_r(NULL, ",", &save))
        dt[n++] = rd_kafka_DeleteTopic_new(t);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, 30000, err, sizeof(err));
    rd_kafka_DeleteTopics(rk, dt, n, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_DeleteTopic_destroy_array(dt, n);
    int ret = 1, deleted = 0, absent = 0;
    rd_kafka_event_t *ev = admin_result(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, 35000, err, sizeof(err));
    if (ev != NULL) {
        size_t nres;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &nres);
        ret = 0;
        for (size_t i = 0; i < nres; ++i) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                ++deleted;
            } else if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                ++absent;
            } else {
                fprintf(stderr, "delete %s: %s\n", rd_kafka_topic_result_name(res[i]), rd_kafka_err2str(e));
                ret = 1;
            }
        }
        rd_kafka_event_destroy(ev);
    } else {
        fprintf(stderr, "delete topics: %s\n", err);
    }
    printf("{\"deleted\":%d,\"absent\":%d,\"requested\":%zu}\n", deleted, absent, n);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    free(names);
    return ret;
}

static int print_watermarks(const char *bootstrap, const char *topic)
{
    char err[512];
    rd_kafka_t *rk = make_producer(bootstrap, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
        fprintf(stderr, "no metadata for %s\n", topic);
        return 1;
    }
    long long low_sum = 0, high_sum = 0;
    int pruned = 0, n = md->topics[0].partition_cnt;
    for (int p = 0; p < n; ++p) {
        int64_t low, high;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[p].id, &low,
                                                                 &high, 10000);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "watermarks of %s [%d]: %s\n", topic, p, rd_kafka_err2str(e));
            return 1;
        }
        low_sum += low;
        high_sum += high;
        pruned += low > 0;
    }
    printf("{\"topic\":\"%s\",\"partitions\":%d,\"low_sum\":%lld,\"high_sum\":%lld,\"partitions_pruned\":%d,"
           "\"brokers\":%d}\n",
           topic, n, low_sum, high_sum, pruned, md->broker_cnt);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *ids_path = NULL;
    double seconds = 0;
    long count = 0;
    int watermarks = 0, create_partitions = 0, replication = -1, del = 0;
    char err[512];
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--bootstrap") == 0)
            bootstrap = argv[i + 1];
        else if (strcmp(argv[i], "--topic") == 0)
            topic = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--count") == 0)
            count = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--ids") == 0)
            ids_path = argv[i + 1];
        else if (strcmp(argv[i], "--watermarks") == 0)
            watermarks = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--create") == 0)
            create_partitions = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--replication") == 0)
            replication = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--delete") == 0)
            del = atoi(argv[i + 1]);
    }
    if (bootstrap != NULL && topic != NULL && watermarks)
        return print_watermarks(bootstrap, topic);
    if (bootstrap != NULL && topic != NULL && del)
        return delete_topics(bootstrap, topic);
    if (bootstrap == NULL || topic == NULL || (seconds <= 0 && (count <= 0 || ids_path == NULL))) {
        fprintf(stderr,
                "usage: %s --bootstrap B --topic T ([--create P --replication R] --seconds S | --count N --ids FILE |"
                " --watermarks 1 | --delete 1)\n",
                argv[0]);
        return 2;
    }
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    if (codec == NULL) {
        fprintf(stderr, "codec: %s\n", err);
        return 1;
    }
    rng ^= (uint64_t)wall_ms() * 0x2545F4914F6CDD1DULL;

    /* the executions: from the file, or made up (a topic of its own) */
    size_t nids = 0, capids = 1024;
    int64_t *ids = malloc(capids * sizeof(*ids));
    char (*flows)[64] = malloc(capids * sizeof(*flows));
    if (ids_path != NULL) {
        FILE *fp = fopen(ids_path, "r");
        if (fp == NULL) {
            fprintf(stderr, "%s: %s\n", ids_path, strerror(errno));
            return 1;
        }
        long long id;
        char flow[64];
        while (fscanf(fp, "%lld %63s", &id, flow) == 2) {
            if (nids == capids) {
                capids *= 2;
                ids = realloc(ids, capids * sizeof(*ids));
                flows = realloc(flows, capids * sizeof(*flows));
            }
            ids[nids] = id;
            snprintf(flows[nids], sizeof(flows[nids]), "%s", flow);
            ++nids;
        }
        fclose(fp);
        if (nids == 0) {
            fprintf(stderr, "%s: no executions\n", ids_path);
            return 1;
        }
    } else {
        for (nids = 0; nids < 1000; ++nids) {
            ids[nids] = (int64_t)(1000000 + nids) << 8;
            snprintf(flows[nids], sizeof(flows[nids]), "bench-f%zu", nids % 100);
        }
    }

    rd_kafka_t *rk = make_producer(bootstrap, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    if (create_partitions > 0 && create_topic(rk, topic, create_partitions, replication, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);

    /* encode: the pool for the timed mode, every event for the counted mode */
    size_t nframes = count > 0 ? (size_t)count : POOL;
    frame_t *frames = calloc(nframes, sizeof(*frames));
    double t0 = now_s();
    size_t bytes = 0;
    for (size_t i = 0; i < nframes; ++i) {
        size_t k = i % nids;
        xl_buf_init(&frames[i].frame);
        frames[i].keylen = (size_t)snprintf(frames[i].key, sizeof(frames[i].key), "%" PRId64, ids[k]);
        if (encode_progress(codec, ids[k], flows[k], &frames[i].frame, err, sizeof(err)) != 0) {
            fprintf(stderr, "encode: %s\n", err);
            return 1;
        }
        bytes += frames[i].frame.len;
    }
    double encode_us = (now_s() - t0) * 1e6 / (double)nframes;

    /* metadata and the producer ID first, so start-up is not timed */
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "no metadata for %s from %s\n", topic, bootstrap);
        return 1;
    }
    int partitions = md->topic_cnt > 0 ? md->topics[0].partition_cnt : 0;
    int brokers = md->broker_cnt, replicas = partitions > 0 ? md->topics[0].partitions[0].replica_cnt : 0;
    rd_kafka_metadata_destroy(md);
    /* a warm-up message only in the timed mode (its own topic): in the
     * counted mode every message is an event the projector must apply once */
    if (count == 0 &&
        (produce(rkt, rk, &frames[0]) != 0 || rd_kafka_flush(rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        fprintf(stderr, "warm-up message not delivered: %s\n", first_error);
        return 1;
    }
    delivered = failed = 0;

    unsigned long long produced = 0;
    double start = now_s(), elapsed;
    if (count > 0) {
        for (size_t i = 0; i < nframes; ++i) {
            if (produce(rkt, rk, &frames[i]) != 0)
                break;
            ++produced;
            if ((i & 1023) == 0)
                rd_kafka_poll(rk, 0);
        }
        rd_kafka_flush(rk, 60000);
        elapsed = now_s() - start;
    } else {
        double end = start + seconds;
        for (size_t i = 0;; ++i) {
            if ((i & 1023) == 0) {
                rd_kafka_poll(rk, 0);
                if (now_s() >= end)
                    break;
            }
            if (produce(rkt, rk, &frames[i % nframes]) != 0)
                break;
            ++produced;
        }
        /* count what was acknowledged within the window, then drain */
        elapsed = now_s() - start;
        unsigned long long in_window = delivered;
        rd_kafka_flush(rk, 30000);
        delivered = in_window;
    }
    printf("{\"topic\":\"%s\",\"partitions\":%d,\"replicas\":%d,\"brokers\":%d,\"produced\":%llu,\"delivered\":%llu,"
           "\"failed\":%llu,\"seconds\":%.3f,\"events_per_s\":%.1f,\"frame_bytes_avg\":%.1f,\"encode_us\":%.3f,"
           "\"first_error\":\"%s\"}\n",
           topic, partitions, replicas, brokers, produced, delivered, failed, elapsed, (double)delivered / elapsed,
           (double)bytes / (double)nframes, encode_us, first_error);

    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    for (size_t i = 0; i < nframes; ++i)
        xl_buf_dispose(&frames[i].frame);
    free(frames);
    free(ids);
    free(flows);
    xl_codec_destroy(codec);
    return failed == 0 ? 0 : 1;
}
