/*
 * librdkafka configurations (see kconf.h): one row per client, its defaults
 * and the settings no operator setting may change. Read the table to know
 * how any client of execlog talks to Kafka.
 */
#include "projector/kconf.h"

#include <stdio.h>

/* clang-format off */
#define XL_KCONF_MAX_ROW 8

typedef struct st_kconf_row_t {
    const char *defaults[XL_KCONF_MAX_ROW][2];    /* overridable */
    const char *locked[XL_KCONF_MAX_ROW][2];      /* applied after the operator's settings */
} kconf_row_t;

static const kconf_row_t rows[XL_KCONF__COUNT] = {
    [XL_KCONF_INGEST_PRODUCER] = {
        {{"linger.ms",          "2"},
         {"partitioner",        "murmur2_random"},
         {"client.id",          "execlog-ingest"},
         /* the largest event (XL_EVENT_MAX_FRAME) with its key, headers and batch */
         {"message.max.bytes",  "2097152"}},
        /* an acknowledged write is on every in-sync replica, once */
        {{"enable.idempotence", "true"},
         {"acks",               "all"}}},
    [XL_KCONF_CLAIM] = {
        {{NULL}},
        /* the claim's own settings win: the operator's kafka.* are for connecting */
        {{"enable.auto.commit", "false"}}},
    [XL_KCONF_ADMIN] = {
        {{NULL}},
        {{"client.id",          "execlog-admin"}}},
    [XL_KCONF_PROJECTOR] = {
        {{"client.id",                "execlog-projector"},
         {"enable.auto.commit",       "false"}, /* offsets live in the store, with the state */
         {"enable.auto.offset.store", "false"},
         {"auto.offset.reset",        "earliest"},
         {"fetch.wait.max.ms",        "10"}},   /* the mock broker holds an empty fetch this long */
        {{NULL}}},
    [XL_KCONF_DLQ_PRODUCER] = {
        {{"client.id",          "execlog-projector-dlq"},
         {"linger.ms",          "1"},
         {"message.timeout.ms", "30000"}},      /* a failed delivery is reported, then produced again */
        /* a dead letter is written before its offset counts as consumed: it
         * must be on every in-sync replica, once */
        {{"enable.idempotence", "true"},
         {"acks",               "all"}}},
    [XL_KCONF_REBUILD] = {
        {{"client.id",                "execlog-rebuild"},
         {"group.id",                 "execlog-rebuild"}, /* required by the consumer; assign() never joins it */
         {"enable.auto.commit",       "false"},
         {"enable.auto.offset.store", "false"},
         {"enable.partition.eof",     "true"},
         {"allow.auto.create.topics", "false"},
         {"fetch.wait.max.ms",        "50"}},
        {{NULL}}},
};
/* clang-format on */

static int set(rd_kafka_conf_t *kconf, const char *name, const char *value, char *err, size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(kconf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.%s: %s", name, why);
        return -1;
    }
    return 0;
}

static int set_row(rd_kafka_conf_t *kconf, const char *const row[][2], char *err, size_t errlen)
{
    for (size_t i = 0; i != XL_KCONF_MAX_ROW && row[i][0] != NULL; ++i)
        if (set(kconf, row[i][0], row[i][1], err, errlen) != 0)
            return -1;
    return 0;
}

static int set_pairs(rd_kafka_conf_t *kconf, const char *const *pairs, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i != n; ++i)
        if (set(kconf, pairs[2 * i], pairs[2 * i + 1], err, errlen) != 0)
            return -1;
    return 0;
}

rd_kafka_conf_t *xl_kconf_build(const xl_kconf_spec_t *spec, char *err, size_t errlen)
{
    if ((unsigned)spec->client >= XL_KCONF__COUNT) {
        snprintf(err, errlen, "kafka: unknown client %d", (int)spec->client);
        return NULL;
    }
    const kconf_row_t *row = &rows[spec->client];
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    if (kconf == NULL) {
        snprintf(err, errlen, "kafka: out of memory");
        return NULL;
    }
    if (set_row(kconf, row->defaults, err, errlen) != 0 ||
        set_pairs(kconf, spec->defaults, spec->ndefaults, err, errlen) != 0 ||
        set_pairs(kconf, spec->props, spec->nprops, err, errlen) != 0 ||
        set_row(kconf, row->locked, err, errlen) != 0 ||
        set_pairs(kconf, spec->locked, spec->nlocked, err, errlen) != 0) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    return kconf;
}
