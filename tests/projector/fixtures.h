/*
 * Scaffolding shared by the projector tests in tests/projector/: string views
 * of literals, removing a test directory tree, a monotonic clock, a bare
 * event of one execution to fill in, encoding an event into a frame, opening
 * a store with a fold on it, and the librdkafka handle that hosts a mock
 * cluster. Helpers only: every check stays in the tests themselves.
 */
#ifndef XL_TESTS_PROJECTOR_FIXTURES_H
#define XL_TESTS_PROJECTOR_FIXTURES_H

#include <ftw.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "projector/fold.h"
#include "projector/store.h"
#include "schemas/event.h"

/* XL_REQUIRE for the phases in void functions: give up the phase, not the binary */
#define XL_REQUIRE_V(cond, ...)                                                                                        \
    do {                                                                                                               \
        int ok_ = (cond) ? 1 : 0;                                                                                      \
        XL_CHECK(ok_, __VA_ARGS__);                                                                                    \
        if (!ok_)                                                                                                      \
            return;                                                                                                    \
    } while (0)

static inline xl_str_t str_of(const char *s)
{
    return (xl_str_t){(char *)s, s != NULL ? strlen(s) : 0};
}

static inline int fx_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Remove dir and everything under it (a mkdtemp directory of a test). */
static inline void rm_tree(const char *dir)
{
    nftw(dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * An event of execution audit, its own root, at time t (ingested at t + 1);
 * everything else zero for the caller to fill in. Strings point at the
 * caller's (usually literals).
 */
static inline xl_event_t fx_event(int type, int64_t audit, const char *event_id, int64_t t)
{
    xl_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.status = XL_STATUS_NONE;
    ev.audit_id = audit;
    ev.root_audit_id = audit;
    ev.event_id = str_of(event_id);
    ev.time_ms = t;
    ev.ingest_time_ms = t + 1;
    return ev;
}

/* Encode ev, appending to out (initialised or reset by the caller); prints the error. */
static inline int fx_encode(xl_codec_t *codec, const xl_event_t *ev, xl_buf_t *out)
{
    char err[256];
    if (xl_event_encode(codec, ev, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "encode: %s\n", err);
        return -1;
    }
    return 0;
}

/* Open the store at dir (*store, NULL on failure) and a fold on it; NULL with err on failure. */
static inline xl_fold_t *fx_fold_open(const char *dir, xl_store_t **store, char *err, size_t errlen)
{
    *store = xl_store_open(dir, 0, err, errlen);
    return *store != NULL ? xl_fold_create(*store, err, errlen) : NULL;
}

/* A quiet producer handle to host a mock cluster on (rd_kafka_mock_cluster_new); NULL with err. */
static inline rd_kafka_t *fx_mock_handle(char *err, size_t errlen)
{
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set(mconf, "log_level", "3", err, errlen);
    return rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, errlen);
}

/*
 * A one-broker mock cluster on a handle of its own (*mock_rk: destroy it after the cluster) with topic of npart
 * partitions and, unless dlq is NULL, a one-partition dead-letter topic. NULL with err on failure.
 */
static inline rd_kafka_mock_cluster_t *fx_mock_cluster(rd_kafka_t **mock_rk, const char *topic, int npart,
                                                       const char *dlq, char *err, size_t errlen)
{
    rd_kafka_mock_cluster_t *mc = NULL;
    if ((*mock_rk = fx_mock_handle(err, errlen)) == NULL)
        return NULL;
    if ((mc = rd_kafka_mock_cluster_new(*mock_rk, 1)) == NULL)
        snprintf(err, errlen, "rd_kafka_mock_cluster_new failed");
    else if (rd_kafka_mock_topic_create(mc, topic, npart, 1) != RD_KAFKA_RESP_ERR_NO_ERROR ||
             (dlq != NULL && rd_kafka_mock_topic_create(mc, dlq, 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR))
        snprintf(err, errlen, "cannot create the mock topics");
    else
        return mc;
    if (mc != NULL)
        rd_kafka_mock_cluster_destroy(mc);
    return NULL;
}

#endif
