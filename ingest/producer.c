/*
 * Kafka producer (see producer.h). A dedicated thread polls for delivery
 * reports so that the HTTP event loop never calls into librdkafka's poll.
 */
#include "ingest/producer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "projector/kconf.h"
#include "schemas/base/log.h"
#include "schemas/base/thread.h"

struct st_xl_producer_t {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    atomic_int fatal;
    atomic_uint_fast64_t sent, delivered, failed;
    xl_producer_report_cb cb;
    void *ctx;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    xl_producer_t *prod = opaque;
    if (msg->err) {
        atomic_fetch_add(&prod->failed, 1);
        prod->cb(prod->ctx, msg->_private, -EIO, rd_kafka_err2str(msg->err), msg->partition, -1);
    } else {
        atomic_fetch_add(&prod->delivered, 1);
        prod->cb(prod->ctx, msg->_private, 0, NULL, msg->partition, msg->offset);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    xl_producer_t *prod = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        atomic_store(&prod->fatal, 1);
        xl_log_error("producer", "fatal Kafka error, writes will fail until restart: %s", buf);
    } else {
        xl_log_warn("producer", "Kafka: %s: %s", rd_kafka_err2name(err), reason);
    }
}

static void *poll_main(void *arg)
{
    xl_producer_t *prod = arg;
    xl_thread_name("xl-produce");
    while (!atomic_load(&prod->stop))
        rd_kafka_poll(prod->rk, 50);
    return NULL;
}

xl_producer_t *xl_producer_create(const char *topic, const char *const *props, size_t nprops, int timeout_ms,
                                  xl_producer_report_cb cb, void *ctx, char *err, size_t errlen)
{
    xl_producer_t *prod = calloc(1, sizeof(*prod));
    rd_kafka_conf_t *conf = NULL;
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", timeout_ms);
    if (prod == NULL) {
        snprintf(err, errlen, "producer: out of memory");
        return NULL;
    }
    prod->cb = cb;
    prod->ctx = ctx;

    /* projector/kconf.c: the operator's kafka.* settings cannot change the
     * two that the acknowledgement contract depends on (acks, idempotence) */
    const char *const defaults[] = {"message.timeout.ms", timeout};
    const xl_kconf_spec_t spec = {
        .client = XL_KCONF_INGEST_PRODUCER, .defaults = defaults, .ndefaults = 1, .props = props, .nprops = nprops};
    if ((conf = xl_kconf_build(&spec, err, errlen)) == NULL)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, prod);

    if ((prod->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen)) == NULL)
        goto fail;
    conf = NULL; /* owned by rk now */
    if ((prod->rkt = rd_kafka_topic_new(prod->rk, topic, NULL)) == NULL) {
        snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    if (pthread_create(&prod->thread, NULL, poll_main, prod) != 0) {
        snprintf(err, errlen, "cannot start the producer thread");
        goto fail;
    }
    prod->thread_started = 1;
    return prod;
fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    xl_producer_destroy(prod, 0);
    return NULL;
}

void xl_producer_destroy(xl_producer_t *prod, int timeout_ms)
{
    if (prod == NULL)
        return;
    if (prod->rk != NULL && rd_kafka_flush(prod->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* what is left gets a delivery report with an error: never a silent drop */
        xl_log_warn("producer", "%d messages not delivered at shutdown", rd_kafka_outq_len(prod->rk));
        rd_kafka_purge(prod->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 100 && rd_kafka_outq_len(prod->rk) > 0; ++i)
            rd_kafka_poll(prod->rk, 10);
    }
    atomic_store(&prod->stop, 1);
    if (prod->thread_started)
        pthread_join(prod->thread, NULL);
    if (prod->rkt != NULL)
        rd_kafka_topic_destroy(prod->rkt);
    if (prod->rk != NULL)
        rd_kafka_destroy(prod->rk);
    free(prod);
}

static rd_kafka_headers_t *make_headers(const xl_producer_headers_t *h)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
    if (h->type != NULL)
        rd_kafka_header_add(hdrs, "execlog-type", -1, h->type, -1);
    if (h->tenant != NULL)
        rd_kafka_header_add(hdrs, "execlog-tenant", -1, h->tenant, (ssize_t)h->tenant_len);
    if (h->schema != NULL)
        rd_kafka_header_add(hdrs, "execlog-schema", -1, h->schema, -1);
    if (h->traceparent != NULL)
        rd_kafka_header_add(hdrs, "traceparent", -1, h->traceparent, (ssize_t)h->traceparent_len);
    return hdrs;
}

int xl_producer_send(xl_producer_t *prod, const void *key, size_t keylen, const void *value, size_t len,
                     const xl_producer_headers_t *headers, void *opaque, char *err, size_t errlen)
{
    if (atomic_load(&prod->fatal)) {
        snprintf(err, errlen, "the producer hit a fatal error; restart needed");
        return -EIO;
    }
    rd_kafka_headers_t *hdrs = headers != NULL ? make_headers(headers) : NULL;
    rd_kafka_resp_err_t e =
        rd_kafka_producev(prod->rk, RD_KAFKA_V_RKT(prod->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_KEY(key, keylen),
                          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (hdrs != NULL) /* owned by the message only when it was queued */
            rd_kafka_headers_destroy(hdrs);
        snprintf(err, errlen, "%s", rd_kafka_err2str(e));
        return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ENOBUFS : -EIO;
    }
    atomic_fetch_add(&prod->sent, 1);
    return 0;
}

int xl_producer_log_end(xl_producer_t *prod, int timeout_ms, int64_t **ends, size_t *n, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    const char *topic = rd_kafka_topic_name(prod->rkt);
    rd_kafka_resp_err_t e = rd_kafka_metadata(prod->rk, 0, prod->rkt, &md, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "metadata of %s: %s", topic, rd_kafka_err2str(e));
        return -EIO;
    }
    int cnt = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    if (cnt <= 0) {
        snprintf(err, errlen, "topic %s has no partitions in the cluster's metadata", topic);
        return -EIO;
    }
    int64_t *out = calloc((size_t)cnt, sizeof(*out));
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int p = 0; p < cnt; ++p) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(prod->rk, topic, p, &lo, &hi, timeout_ms);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "log end of %s [%d]: %s", topic, p, rd_kafka_err2str(e));
            free(out);
            return -EIO;
        }
        out[p] = hi;
    }
    *ends = out;
    *n = (size_t)cnt;
    return 0;
}

/* MurmurHash2 with Kafka's seed and byte order (org.apache.kafka.common.utils.Utils.murmur2). */
static uint32_t murmur2(const unsigned char *data, size_t len)
{
    const uint32_t m = 0x5bd1e995, seed = 0x9747b28c;
    const int r = 24;
    uint32_t h = seed ^ (uint32_t)len;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t k = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                     (uint32_t)data[i + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (len - i) {
    case 3:
        h ^= (uint32_t)data[i + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[i + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[i];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t xl_producer_partition_of(const void *key, size_t len, int32_t nparts)
{
    if (nparts < 1)
        return 0;
    return (int32_t)((murmur2(key, len) & 0x7fffffff) % (uint32_t)nparts);
}

int xl_producer_is_fatal(xl_producer_t *prod) { return atomic_load(&prod->fatal); }

void xl_producer_counts(xl_producer_t *prod, uint64_t *sent, uint64_t *delivered, uint64_t *failed)
{
    *sent = atomic_load(&prod->sent);
    *delivered = atomic_load(&prod->delivered);
    *failed = atomic_load(&prod->failed);
}
