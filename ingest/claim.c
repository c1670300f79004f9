/*
 * The claim on an ingest node ID (see claim.h). A thread polls the group's
 * consumer so that it keeps its membership; the consumer is never assigned
 * anything to fetch.
 */
#include "ingest/claim.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "projector/kconf.h"
#include "schemas/base/log.h"
#include "schemas/base/thread.h"

/* The broker's smallest session timeout: a node killed outright frees its ID this long after. */
#define CLAIM_SESSION_MS 6000
/* A cluster answers DescribeConsumerGroups in milliseconds; one that does not, does not support it. */
#define DESCRIBE_TIMEOUT_MS 2000
#define XL_STR_(x) #x
#define XL_STR(x) XL_STR_(x)

struct st_xl_claim_t {
    rd_kafka_t *rk;
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    atomic_int joined;
};

/* Whatever the group hands us, we fetch nothing: membership is the point. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    xl_claim_t *claim = opaque;
    rd_kafka_assign(rk, NULL);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        atomic_store(&claim->joined, 1);
}

static void *poll_main(void *arg)
{
    xl_claim_t *claim = arg;
    xl_thread_name("xl-claim");
    while (!atomic_load(&claim->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(claim->rk, 200);
        if (m != NULL)
            rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* Members of group other than ours (client.id names the node). @return the count, or -1 with err. */
static int other_members(rd_kafka_t *rk, const char *group, const char *client, int timeout_ms, char *who,
                         size_t wholen, char *err, size_t errlen)
{
    int n = -1;
    char sub[128];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    /* bounded: a request left behind would hold up rd_kafka_destroy */
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, sub, sizeof(sub));
    rd_kafka_DescribeConsumerGroups(rk, &group, 1, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "cannot describe group %s: %s", group,
                 ev != NULL ? rd_kafka_event_error_string(ev) : "no answer");
        goto out;
    }
    size_t ngroups;
    const rd_kafka_ConsumerGroupDescription_t **groups =
        rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), &ngroups);
    if (ngroups != 1 || rd_kafka_ConsumerGroupDescription_error(groups[0]) != NULL) {
        snprintf(err, errlen, "cannot describe group %s: %s", group,
                 ngroups == 1 ? rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(groups[0]))
                              : "no answer");
        goto out;
    }
    n = 0;
    for (size_t i = 0; i < rd_kafka_ConsumerGroupDescription_member_count(groups[0]); ++i) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(groups[0], i);
        const char *id = rd_kafka_MemberDescription_client_id(m);
        if (id != NULL && strcmp(id, client) == 0)
            continue; /* this node, or what is left of its previous run */
        if (n++ == 0)
            snprintf(who, wholen, "%s on %s", id != NULL ? id : "(unknown)", rd_kafka_MemberDescription_host(m));
    }
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    return n;
}

/*
 * Members of group other than ours, asked with a short-lived admin client
 * before joining. @return the count; -1 with err filled (bad settings), or
 * -1 with err empty and why in who: the cluster cannot tell.
 */
static int members_before(const char *const *props, size_t nprops, const char *group, const char *client, char *who,
                          size_t wholen, char *err, size_t errlen)
{
    char sub[256];
    const xl_kconf_spec_t spec = {.client = XL_KCONF_ADMIN, .props = props, .nprops = nprops};
    err[0] = '\0';
    rd_kafka_conf_t *conf = xl_kconf_build(&spec, err, errlen);
    if (conf == NULL)
        return -1;
    rd_kafka_t *admin = rd_kafka_new(RD_KAFKA_PRODUCER, conf, sub, sizeof(sub));
    if (admin == NULL) {
        snprintf(err, errlen, "kafka: %s", sub);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int n = other_members(admin, group, client, DESCRIBE_TIMEOUT_MS, who, wholen, sub, sizeof(sub));
    if (n < 0)
        snprintf(who, wholen, "%s", sub);
    rd_kafka_destroy(admin);
    return n;
}

xl_claim_t *xl_claim_create(const char *const *props, size_t nprops, const char *topic, int node_id,
                            const char *instance, int timeout_ms, char *err, size_t errlen)
{
    char group[320], client[96], who[300] = "", sub[256];
    xl_claim_t *claim = calloc(1, sizeof(*claim));
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    /* per topic: two execlog services on one cluster number their nodes apart */
    snprintf(group, sizeof(group), "execlog-ingest-%s-node-%d", topic, node_id);
    snprintf(client, sizeof(client), "execlog-claim-%s", instance);
    if (claim == NULL)
        goto fail;
    /* a node holding the ID is seen at once, before joining (the join would
     * wait for it to rejoin); the check after the join settles two nodes
     * that started together */
    int others = members_before(props, nprops, group, client, who, sizeof(who), err, errlen);
    if (others < 0 && err[0] == '\0') {
        /* a cluster that cannot describe groups (librdkafka's mock cluster cannot) cannot be asked */
        xl_log_warn("ingest", "ingest.node.id %d is not checked for uniqueness: %s", node_id, who);
        return claim;
    }
    if (others != 0)
        goto taken;
    /* the claim's own settings win: the operator's kafka.* are for connecting */
    const char *const own[] = {"group.id", group, "client.id", client, "session.timeout.ms", XL_STR(CLAIM_SESSION_MS)};
    const xl_kconf_spec_t spec = {
        .client = XL_KCONF_CLAIM, .props = props, .nprops = nprops, .locked = own, .nlocked = sizeof(own) / sizeof(own[0]) / 2};
    if ((conf = xl_kconf_build(&spec, err, errlen)) == NULL)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, claim);
    if ((claim->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, sub, sizeof(sub))) == NULL) {
        snprintf(err, errlen, "claim of ingest.node.id %d: %s", node_id, sub);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(claim->rk);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(claim->rk, topics);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "claim of ingest.node.id %d: subscribe: %s", node_id, rd_kafka_err2str(e));
        goto fail;
    }
    if (pthread_create(&claim->thread, NULL, poll_main, claim) != 0) {
        snprintf(err, errlen, "cannot start the claim thread");
        goto fail;
    }
    claim->thread_started = 1;
    /* a previous run killed outright is waited for until its session expires */
    if (timeout_ms < 2 * CLAIM_SESSION_MS)
        timeout_ms = 2 * CLAIM_SESSION_MS;
    for (int waited = 0; !atomic_load(&claim->joined) && waited < timeout_ms; waited += 50)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    if (!atomic_load(&claim->joined)) {
        snprintf(err, errlen, "claim of ingest.node.id %d: group %s not joined within %d ms", node_id, group,
                 timeout_ms);
        goto fail;
    }
    others = other_members(claim->rk, group, client, timeout_ms, who, sizeof(who), err, errlen);
taken:
    if (others < 0)
        goto fail;
    if (others > 0) {
        snprintf(err, errlen,
                 "ingest.node.id %d is taken by another execlogd (%s): audit IDs would collide; give every ingest "
                 "node its own ID",
                 node_id, who);
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(topics);
    xl_log_info("ingest", "ingest.node.id %d claimed (group %s)", node_id, group);
    return claim;
fail:
    if (topics != NULL)
        rd_kafka_topic_partition_list_destroy(topics);
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    xl_claim_destroy(claim);
    return NULL;
}

void xl_claim_destroy(xl_claim_t *claim)
{
    if (claim == NULL)
        return;
    atomic_store(&claim->stop, 1);
    if (claim->thread_started)
        pthread_join(claim->thread, NULL);
    if (claim->rk != NULL) {
        rd_kafka_consumer_close(claim->rk);
        rd_kafka_destroy(claim->rk);
    }
    free(claim);
}
