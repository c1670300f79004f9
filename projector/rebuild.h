/*
 * Rebuild of the projections, offline (execlogd must not be running on the
 * store: RocksDB's lock refuses a second opener).
 *
 * From the local event archive (the fast path): every derived column family
 * (state, idem, index, agg, feed) is dropped and the archive is folded again
 * through the same code as the projector, with the positions it was read
 * from, so the digest after equals the digest before. Offsets are kept: they
 * still describe what the archive holds.
 *
 * From Kafka: everything is dropped, the archive and every offset included,
 * and the topic is folded from its beginning to the end it had when the
 * rebuild started, with offsets for the cluster's identity. Events that left
 * the topic through retention are gone from the result.
 *
 * A rebuild marks the store while it runs; an interrupted one leaves the mark
 * and execlogd refuses to start until a rebuild completes. It never sends
 * anything to Kafka (no dead letters: the projector that first read a poison
 * message sent it).
 */
#ifndef XL_PROJECTOR_REBUILD_H
#define XL_PROJECTOR_REBUILD_H

#include <stddef.h>
#include <stdint.h>

/** What a rebuild did. */
typedef struct st_xl_rebuild_stats_t {
    uint64_t messages;   /* folded: archived events, or messages read from the topic */
    uint64_t applied;    /* archived again (new or anomaly) */
    uint64_t duplicates; /* from Kafka: deliveries recognised as already applied */
    uint64_t rejected;   /* from Kafka: undecodable or rejected (not dead-lettered again) */
    uint64_t executions; /* distinct executions in the result */
    double seconds;      /* wall time of the fold */
    int order;           /* archive: 1 folded in (partition, offset) order, 0 in (audit_id, seq) order */
} xl_rebuild_stats_t;

typedef struct st_xl_rebuild_conf_t {
    const char *store_dir; /* <data.dir>/projections */
    int from_kafka;        /* 0: from the local event archive (fast path) */
    const char *topic;     /* from_kafka: the topic, and librdkafka properties as name/value pairs */
    const char *const *kafka_props;
    size_t nkafka_props;
    int progress;              /* 1: show progress on stderr (a bar on a TTY, plain lines otherwise) */
    xl_rebuild_stats_t *stats; /* NULL, or filled on success */
} xl_rebuild_conf_t;

/**
 * @brief Rebuild the projections of conf->store_dir (see above). conf is
 * borrowed for the call.
 * @return 0, or negative with err filled: -ENOENT (no store there), -EINVAL
 * (a bad setting), -EIO (RocksDB or Kafka), -ENOMEM. After a failure past the
 * start the store stays marked as mid-rebuild.
 */
int xl_rebuild_run(const xl_rebuild_conf_t *conf, char *err, size_t errlen);

#endif
