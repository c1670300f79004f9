/*
 * The events topic on a real Kafka cluster: created by execlog when it is
 * missing, checked when it exists. Runs once at start-up, before the
 * producer and the projector, with a short-lived admin client; it never
 * changes an existing topic (that is the operator's call).
 */
#ifndef XL_INGEST_TOPIC_H
#define XL_INGEST_TOPIC_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_xl_topic_conf_t {
    const char *name;
    int partitions;         /* for a new topic */
    int replication_factor; /* for a new topic; -1: the brokers' default */
    int64_t retention_ms;   /* for a new topic; -1: kept forever */
    const char *const *kafka_props; /* librdkafka name/value pairs (bootstrap.servers, security), borrowed */
    size_t nkafka_props;
    int timeout_ms; /* bound on each admin request */
    int check;      /* 1: read the settings of an existing topic and refuse bad ones */
} xl_topic_conf_t;

/** What xl_topic_ensure found or did. */
typedef struct st_xl_topic_info_t {
    int created;    /* 1: execlog created it now */
    int partitions; /* the topic's partition count */
    int replication_factor;
} xl_topic_info_t;

/**
 * @brief Make sure the topic exists with settings execlog can live with:
 * create it when missing; refuse one whose cleanup.policy compacts or deletes
 * by key (an execution's events share a key: compaction would drop all but
 * the last). Warns (log) about a max.message.bytes below an event's largest
 * frame, and about a replication factor or min.insync.replicas that cannot
 * survive a broker loss.
 * @return 0 with info filled, or negative with err saying why and what to do.
 */
int xl_topic_ensure(const xl_topic_conf_t *conf, xl_topic_info_t *info, char *err, size_t errlen);

#endif
