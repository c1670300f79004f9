/*
 * The one place that builds librdkafka configurations. Every Kafka client of
 * execlog (the ingest producer, the node-ID claim, the admin clients, the
 * projector's consumer and dead-letter producer, the rebuild consumer, the
 * bench) gets its rd_kafka_conf_t here, in three layers, each overriding the
 * one before:
 *   1. defaults: the client's row of the table in kconf.c, then the caller's
 *      defaults (values known only at run time, e.g. a timeout);
 *   2. the operator's kafka.* settings (bootstrap.servers, security, tuning);
 *   3. what must not be overridden: the row's locked settings, then the
 *      caller's (e.g. a group ID per node), because a contract rests on them
 *      (acks=all and idempotence behind an acknowledged write).
 * It lives in projector/ because that is the lowest folder that knows Kafka
 * and every folder that builds a client (projector/, ingest/, api/, ops/bench)
 * may include it. It sets no callbacks and no opaque: those stay with the
 * client. It never logs.
 */
#ifndef XL_PROJECTOR_KCONF_H
#define XL_PROJECTOR_KCONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

/** The Kafka clients of execlog, one table row each (kconf.c). */
typedef enum en_xl_kconf_client_t {
    XL_KCONF_INGEST_PRODUCER, /* ingest/producer.c: the acknowledged write path */
    XL_KCONF_CLAIM,           /* ingest/claim.c: the member of a node ID's group */
    XL_KCONF_ADMIN,           /* ingest/topic.c, ingest/claim.c: short-lived admin requests */
    XL_KCONF_PROJECTOR,       /* projector/projector.c: the consumer that folds the topic */
    XL_KCONF_DLQ_PRODUCER,    /* projector/projector.c: the dead-letter producer */
    XL_KCONF_REBUILD,         /* projector/rebuild.c: the consumer of a rebuild */
    XL_KCONF__COUNT
} xl_kconf_client_t;

/**
 * What one configuration is built from. Every list is name/value pairs laid
 * out flat (name0, value0, name1, value1, ...), borrowed for the call.
 */
typedef struct st_xl_kconf_spec_t {
    xl_kconf_client_t client;
    const char *const *defaults; /* after the row's defaults; NULL if none */
    size_t ndefaults;            /* pairs */
    const char *const *props;    /* the operator's kafka.* settings; NULL if none */
    size_t nprops;               /* pairs */
    const char *const *locked;   /* after the row's locked settings; NULL if none */
    size_t nlocked;              /* pairs */
} xl_kconf_spec_t;

/**
 * @brief Build the configuration of one client: defaults, then operator
 * settings, then what must not be overridden.
 * @return a configuration the caller owns (hand it to rd_kafka_new, or free
 * it with rd_kafka_conf_destroy), or NULL with err filled as
 * "kafka.NAME: why" (an unknown name or a bad value).
 */
rd_kafka_conf_t *xl_kconf_build(const xl_kconf_spec_t *spec, char *err, size_t errlen);

#endif
