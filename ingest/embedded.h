/*
 * The embedded broker: librdkafka's mock cluster, in process, speaking the
 * Kafka protocol over TCP on 127.0.0.1 (kcat and any Kafka client can attach
 * to its bootstrap list). It keeps each partition in memory only and prunes
 * old data, so the write path acknowledges a write only once the projector
 * has made it durable on local disk. Each start is a new, empty log with a
 * new identity.
 */
#ifndef XL_INGEST_EMBEDDED_H
#define XL_INGEST_EMBEDDED_H

#include <stddef.h>

typedef struct st_xl_embedded_t xl_embedded_t;

/**
 * @brief Start brokers and create the topics (NULL-terminated list), each with
 * partitions partitions. @return the broker (xl_embedded_destroy) or NULL with err.
 */
xl_embedded_t *xl_embedded_create(int brokers, int partitions, const char *const *topics, char *err, size_t errlen);
void xl_embedded_destroy(xl_embedded_t *emb);

/** @brief "127.0.0.1:port,..." (borrowed, valid until destroy). */
const char *xl_embedded_bootstraps(const xl_embedded_t *emb);
/** @brief A fresh random identity of this log, e.g. "embedded-3f2a...". */
const char *xl_embedded_identity(const xl_embedded_t *emb);
/** @brief The mock cluster, for fault injection in tests (rd_kafka_mock_cluster_t *). */
void *xl_embedded_mock(xl_embedded_t *emb);

#endif
