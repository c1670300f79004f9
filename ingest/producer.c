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

#include "api/log.h"

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
    while (!atomic_load(&prod->stop))
        rd_kafka_poll(prod->rk, 50);
    return NULL;
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
    char sub[256];
    if (rd_kafka_conf_set(conf, name, value, sub, sizeof(sub)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.%s: %s", name, sub);
        return -EINVAL;
    }
    return 0;
}

xl_producer_t *xl_producer_create(const char *topic, const char *const *props, size_t nprops, int timeout_ms,
                                  xl_producer_report_cb cb, void *ctx, char *err, size_t errlen)
{
    xl_producer_t *prod = calloc(1, sizeof(*prod));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", timeout_ms);
    prod->cb = cb;
    prod->ctx = ctx;

    /* defaults first; the operator's kafka.* settings override them, except
     * the two that the acknowledgement contract depends on */
    if (conf_set(conf, "linger.ms", "2", err, errlen) != 0 ||
        conf_set(conf, "partitioner", "murmur2_random", err, errlen) != 0 ||
        conf_set(conf, "message.timeout.ms", timeout, err, errlen) != 0 ||
        conf_set(conf, "client.id", "execlog-ingest", err, errlen) != 0)
        goto fail;
    for (size_t i = 0; i < nprops; ++i)
        if (conf_set(conf, props[2 * i], props[2 * i + 1], err, errlen) != 0)
            goto fail;
    if (conf_set(conf, "enable.idempotence", "true", err, errlen) != 0 ||
        conf_set(conf, "acks", "all", err, errlen) != 0)
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

int xl_producer_send(xl_producer_t *prod, const void *key, size_t keylen, const void *value, size_t len, void *opaque,
                     char *err, size_t errlen)
{
    if (atomic_load(&prod->fatal)) {
        snprintf(err, errlen, "the producer hit a fatal error; restart needed");
        return -EIO;
    }
    if (rd_kafka_produce(prod->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)value, len, key, keylen,
                         opaque) != 0) {
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        snprintf(err, errlen, "%s", rd_kafka_err2str(e));
        return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ENOBUFS : -EIO;
    }
    atomic_fetch_add(&prod->sent, 1);
    return 0;
}

int xl_producer_is_fatal(xl_producer_t *prod) { return atomic_load(&prod->fatal); }

void xl_producer_counts(xl_producer_t *prod, uint64_t *sent, uint64_t *delivered, uint64_t *failed)
{
    *sent = atomic_load(&prod->sent);
    *delivered = atomic_load(&prod->delivered);
    *failed = atomic_load(&prod->failed);
}
