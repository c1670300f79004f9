/*
 * Embedded broker (see embedded.h). The mock cluster needs an rd_kafka_t of
 * its own for bookkeeping; that handle is never used to produce.
 */
#include "ingest/embedded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <openssl/rand.h>

struct st_xl_embedded_t {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    char identity[64];
};

xl_embedded_t *xl_embedded_create(int brokers, int partitions, const char *const *topics, char *err, size_t errlen)
{
    xl_embedded_t *emb = calloc(1, sizeof(*emb));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    unsigned char nonce[12];

    /* quiet the bookkeeping handle: it has no brokers of its own to reach */
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    if ((emb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen)) == NULL) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if ((emb->mcluster = rd_kafka_mock_cluster_new(emb->rk, brokers)) == NULL) {
        snprintf(err, errlen, "cannot start the embedded broker");
        goto fail;
    }
    for (size_t i = 0; topics[i] != NULL; ++i) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(emb->mcluster, topics[i], partitions, brokers < 3 ? brokers : 3);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "cannot create topic %s: %s", topics[i], rd_kafka_err2str(e));
            goto fail;
        }
    }
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        snprintf(err, errlen, "no randomness for the log identity");
        goto fail;
    }
    int n = snprintf(emb->identity, sizeof(emb->identity), "embedded-");
    for (size_t i = 0; i < sizeof(nonce); ++i)
        n += snprintf(emb->identity + n, sizeof(emb->identity) - (size_t)n, "%02x", nonce[i]);
    return emb;
fail:
    xl_embedded_destroy(emb);
    return NULL;
}

void xl_embedded_destroy(xl_embedded_t *emb)
{
    if (emb == NULL)
        return;
    if (emb->mcluster != NULL)
        rd_kafka_mock_cluster_destroy(emb->mcluster);
    if (emb->rk != NULL)
        rd_kafka_destroy(emb->rk);
    free(emb);
}

const char *xl_embedded_bootstraps(const xl_embedded_t *emb) { return rd_kafka_mock_cluster_bootstraps(emb->mcluster); }

const char *xl_embedded_identity(const xl_embedded_t *emb) { return emb->identity; }

void *xl_embedded_mock(xl_embedded_t *emb) { return emb->mcluster; }
