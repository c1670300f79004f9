/*
 * The events topic (see topic.h): librdkafka's admin API, synchronously, at
 * start-up only. Errors are copied into err where they enter.
 */
#include "ingest/topic.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "projector/kconf.h"
#include "schemas/base/log.h"
#include "schemas/event.h"

/* The largest record batch a topic must take: one event of XL_EVENT_MAX_FRAME, its key and headers. */
#define XL_TOPIC_MAX_MESSAGE 2097152
#define XL_STR_(x) #x
#define XL_STR(x) XL_STR_(x)

/* A cluster answers DescribeConfigs in milliseconds; one that does not, does not support it. */
#define DESCRIBE_TIMEOUT_MS 2000

/* The topic's partition and replica counts from the cluster's metadata. @return 1 found, 0 missing, <0 error. */
static int describe(rd_kafka_t *rk, const char *name, int timeout_ms, xl_topic_info_t *info, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    /* all topics: asking for one by name may make a broker auto-create it with its defaults */
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "cannot read the cluster's metadata: %s", rd_kafka_err2str(e));
        return -EIO;
    }
    int found = 0;
    for (int i = 0; i < md->topic_cnt && !found; ++i) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];
        if (strcmp(t->topic, name) != 0 || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        found = 1;
        info->partitions = t->partition_cnt;
        info->replication_factor = t->partition_cnt > 0 ? t->partitions[0].replica_cnt : 0;
    }
    rd_kafka_metadata_destroy(md);
    return found;
}

/* Options bounding an admin request: one left behind would hold up rd_kafka_destroy. */
static rd_kafka_AdminOptions_t *admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms)
{
    char sub[128];
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, sub, sizeof(sub));
    return opts;
}

/* Wait for the one admin result of type on q. @return the event (rd_kafka_event_destroy) or NULL. */
static rd_kafka_event_t *await(rd_kafka_queue_t *q, rd_kafka_event_type_t type, int timeout_ms, char *err,
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

static int create(rd_kafka_t *rk, const xl_topic_conf_t *conf, char *err, size_t errlen)
{
    char sub[256], retention[32];
    int ret = -EIO;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(conf->name, conf->partitions, conf->replication_factor, sub, sizeof(sub));
    rd_kafka_event_t *ev = NULL;
    if (nt == NULL) {
        snprintf(err, errlen, "topic %s: %s", conf->name, sub);
        goto out;
    }
    snprintf(retention, sizeof(retention), "%" PRId64, conf->retention_ms);
    rd_kafka_NewTopic_set_config(nt, "retention.ms", retention);
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", XL_STR(XL_TOPIC_MAX_MESSAGE));
    rd_kafka_AdminOptions_t *opts = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, conf->timeout_ms);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    if ((ev = await(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, conf->timeout_ms, sub, sizeof(sub))) == NULL) {
        snprintf(err, errlen, "cannot create topic %s: %s", conf->name, sub);
        goto out;
    }
    size_t n;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    rd_kafka_resp_err_t e = n == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) { /* another node won */
        snprintf(err, errlen, "cannot create topic %s (%d partitions, replication factor %d): %s", conf->name,
                 conf->partitions, conf->replication_factor,
                 n == 1 && rd_kafka_topic_result_error_string(res[0]) ? rd_kafka_topic_result_error_string(res[0])
                                                                       : rd_kafka_err2str(e));
        goto out;
    }
    ret = e == RD_KAFKA_RESP_ERR_NO_ERROR ? 1 : 0;
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (nt != NULL)
        rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return ret;
}

/* The topic's settings that execlog depends on. @return 0, or -EINVAL (refused) / -EIO with err. */
static int check_configs(rd_kafka_t *rk, const xl_topic_conf_t *conf, const xl_topic_info_t *info, char *err,
                         size_t errlen)
{
    char sub[256];
    int ret = -EIO;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, conf->name);
    rd_kafka_event_t *ev = NULL;
    int timeout_ms = conf->timeout_ms < DESCRIBE_TIMEOUT_MS ? conf->timeout_ms : DESCRIBE_TIMEOUT_MS;
    rd_kafka_AdminOptions_t *opts = admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    rd_kafka_DescribeConfigs(rk, &cr, 1, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    if ((ev = await(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms, sub, sizeof(sub))) == NULL) {
        snprintf(err, errlen, "cannot read the settings of topic %s: %s", conf->name, sub);
        goto out;
    }
    size_t nres, nconf;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    if (nres != 1 || rd_kafka_ConfigResource_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "cannot read the settings of topic %s: %s", conf->name,
                 nres == 1 ? rd_kafka_ConfigResource_error_string(res[0]) : "no answer");
        goto out;
    }
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(res[0], &nconf);
    long min_isr = 1;
    ret = 0;
    for (size_t i = 0; i < nconf && ret == 0; ++i) {
        const char *name = rd_kafka_ConfigEntry_name(entries[i]), *value = rd_kafka_ConfigEntry_value(entries[i]);
        if (value == NULL)
            continue;
        if (strcmp(name, "cleanup.policy") == 0 && strstr(value, "compact") != NULL) {
            snprintf(err, errlen,
                     "topic %s has cleanup.policy=%s: compaction keeps only the last event of each key, and all the "
                     "events of an execution share one; use cleanup.policy=delete (with retention.ms=-1 to keep "
                     "everything) or another topic",
                     conf->name, value);
            ret = -EINVAL;
        } else if (strcmp(name, "max.message.bytes") == 0 && atol(value) < XL_TOPIC_MAX_MESSAGE) {
            /* Kafka's default (1 MiB + 12) is a little short of the largest event with its batch */
            xl_log_warn("kafka",
                        "topic %s has max.message.bytes=%s: the largest events (%d bytes and their record batch) "
                        "would be refused (503); %d is enough",
                        conf->name, value, XL_EVENT_MAX_FRAME, XL_TOPIC_MAX_MESSAGE);
        } else if (strcmp(name, "min.insync.replicas") == 0) {
            min_isr = atol(value);
        } else if (strcmp(name, "retention.ms") == 0 && atol(value) >= 0) {
            xl_log_info("kafka", "topic %s keeps events for %s ms; the event archive in each replica's store keeps "
                                 "them beyond",
                        conf->name, value);
        }
    }
    if (ret == 0 && (info->replication_factor < 3 || min_isr < 2))
        xl_log_warn("kafka",
                    "topic %s has replication factor %d and min.insync.replicas=%ld: an acknowledged write (acks=all) "
                    "survives the loss of a broker only with at least 3 and 2",
                    conf->name, info->replication_factor, min_isr);
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    return ret;
}

int xl_topic_ensure(const xl_topic_conf_t *conf, xl_topic_info_t *info, char *err, size_t errlen)
{
    char sub[256];
    int ret = -EINVAL;
    rd_kafka_t *rk = NULL;
    const xl_kconf_spec_t spec = {.client = XL_KCONF_ADMIN, .props = conf->kafka_props, .nprops = conf->nkafka_props};
    rd_kafka_conf_t *kconf = xl_kconf_build(&spec, err, errlen);
    memset(info, 0, sizeof(*info));
    if (kconf == NULL)
        goto out;
    if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, sub, sizeof(sub))) == NULL) {
        snprintf(err, errlen, "kafka: %s", sub);
        goto out;
    }
    kconf = NULL;
    int found = describe(rk, conf->name, conf->timeout_ms, info, err, errlen);
    if (found < 0) {
        ret = found;
        goto out;
    }
    if (!found) {
        int made = create(rk, conf, err, errlen);
        if (made < 0) {
            ret = made;
            goto out;
        }
        info->created = made;
        /* the new topic's metadata reaches every broker shortly after */
        for (int i = 0; i < 50 && (found = describe(rk, conf->name, conf->timeout_ms, info, err, errlen)) == 0; ++i)
            rd_kafka_poll(rk, 100);
        if (found <= 0) {
            if (found == 0)
                snprintf(err, errlen, "topic %s was created but does not show in the cluster's metadata", conf->name);
            ret = found < 0 ? found : -EIO;
            goto out;
        }
        if (made)
            xl_log_info("kafka", "created topic %s: %d partitions, replication factor %d, retention.ms=%" PRId64,
                        conf->name, info->partitions, info->replication_factor, conf->retention_ms);
    }
    ret = conf->check ? check_configs(rk, conf, info, err, errlen) : 0;
    if (ret == -EIO) {
        /* a broker that cannot describe topics (librdkafka's mock cluster cannot) is not a reason to stop */
        xl_log_warn("kafka", "%s; its settings are not checked", err);
        ret = 0;
    }
out:
    if (kconf != NULL)
        rd_kafka_conf_destroy(kconf);
    if (rk != NULL)
        rd_kafka_destroy(rk);
    return ret;
}
