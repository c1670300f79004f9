/*
 * What the libFuzzer targets of tests/fuzz share: an assertion that names
 * what broke (and aborts, which libFuzzer reports as a crash with the input
 * saved), and deep comparisons of decoded events and states for the codec
 * round trips. Test code only: never linked into the service.
 */
#ifndef XL_TESTS_FUZZ_FUZZ_H
#define XL_TESTS_FUZZ_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "schemas/event.h"

/* A broken property: say which and where, then abort so libFuzzer keeps the input. */
#define XL_FUZZ_CHECK(cond, ...)                                                                                       \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond);                                \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* ---- deep equality of codec values (NULL string != empty string) ---- */

static inline int xl_fuzz_str_eq(const xl_str_t *a, const xl_str_t *b)
{
    if (a->base == NULL || b->base == NULL)
        return a->base == NULL && b->base == NULL;
    return a->len == b->len && memcmp(a->base, b->base, a->len) == 0;
}

static inline int xl_fuzz_error_eq(const xl_error_t *a, const xl_error_t *b)
{
    if (!a->present || !b->present)
        return a->present == b->present;
    return xl_fuzz_str_eq(&a->class_, &b->class_) && xl_fuzz_str_eq(&a->message, &b->message) &&
           xl_fuzz_str_eq(&a->stack, &b->stack);
}

static inline int xl_fuzz_lists_eq(size_t nwa, const xl_str_t *wa, size_t nwb, const xl_str_t *wb, size_t nma,
                                   const xl_metric_t *ma, size_t nmb, const xl_metric_t *mb, size_t naa,
                                   const xl_attr_t *aa, size_t nab, const xl_attr_t *ab)
{
    if (nwa != nwb || nma != nmb || naa != nab)
        return 0;
    for (size_t i = 0; i < nwa; ++i)
        if (!xl_fuzz_str_eq(&wa[i], &wb[i]))
            return 0;
    for (size_t i = 0; i < nma; ++i)
        if (!xl_fuzz_str_eq(&ma[i].name, &mb[i].name) || ma[i].value != mb[i].value)
            return 0;
    for (size_t i = 0; i < naa; ++i)
        if (!xl_fuzz_str_eq(&aa[i].key, &ab[i].key) || !xl_fuzz_str_eq(&aa[i].value, &ab[i].value))
            return 0;
    return 1;
}

/* @return NULL if equal, else the name of the first field that differs */
static inline const char *xl_fuzz_event_diff(const xl_event_t *a, const xl_event_t *b)
{
#define XL_FUZZ_SAME(f, eq)                                                                                            \
    if (!(eq))                                                                                                         \
    return #f
    XL_FUZZ_SAME(event_id, xl_fuzz_str_eq(&a->event_id, &b->event_id));
    XL_FUZZ_SAME(audit_id, a->audit_id == b->audit_id);
    XL_FUZZ_SAME(parent_audit_id, a->parent_audit_id == b->parent_audit_id);
    XL_FUZZ_SAME(root_audit_id, a->root_audit_id == b->root_audit_id);
    XL_FUZZ_SAME(parent_execution_id, a->parent_execution_id == b->parent_execution_id);
    XL_FUZZ_SAME(retries, a->retries == b->retries);
    XL_FUZZ_SAME(flow_id, xl_fuzz_str_eq(&a->flow_id, &b->flow_id));
    XL_FUZZ_SAME(flow_name, xl_fuzz_str_eq(&a->flow_name, &b->flow_name));
    XL_FUZZ_SAME(tenant_id, xl_fuzz_str_eq(&a->tenant_id, &b->tenant_id));
    XL_FUZZ_SAME(message_id, xl_fuzz_str_eq(&a->message_id, &b->message_id));
    XL_FUZZ_SAME(type, a->type == b->type);
    XL_FUZZ_SAME(status, a->status == b->status);
    XL_FUZZ_SAME(time_ms, a->time_ms == b->time_ms);
    XL_FUZZ_SAME(ingest_time_ms, a->ingest_time_ms == b->ingest_time_ms);
    XL_FUZZ_SAME(trigger_type, xl_fuzz_str_eq(&a->trigger_type, &b->trigger_type));
    XL_FUZZ_SAME(started_by, xl_fuzz_str_eq(&a->started_by, &b->started_by));
    XL_FUZZ_SAME(task, xl_fuzz_str_eq(&a->task, &b->task));
    XL_FUZZ_SAME(message, xl_fuzz_str_eq(&a->message, &b->message));
    XL_FUZZ_SAME(error, xl_fuzz_error_eq(&a->error, &b->error));
    XL_FUZZ_SAME(warnings / metrics / attributes,
                 xl_fuzz_lists_eq(a->nwarnings, a->warnings, b->nwarnings, b->warnings, a->nmetrics, a->metrics,
                                  b->nmetrics, b->metrics, a->nattributes, a->attributes, b->nattributes,
                                  b->attributes));
    return NULL;
}

static inline const char *xl_fuzz_state_diff(const xl_state_t *a, const xl_state_t *b)
{
    XL_FUZZ_SAME(audit_id, a->audit_id == b->audit_id);
    XL_FUZZ_SAME(parent_audit_id, a->parent_audit_id == b->parent_audit_id);
    XL_FUZZ_SAME(root_audit_id, a->root_audit_id == b->root_audit_id);
    XL_FUZZ_SAME(parent_execution_id, a->parent_execution_id == b->parent_execution_id);
    XL_FUZZ_SAME(retries, a->retries == b->retries);
    XL_FUZZ_SAME(flow_id, xl_fuzz_str_eq(&a->flow_id, &b->flow_id));
    XL_FUZZ_SAME(flow_name, xl_fuzz_str_eq(&a->flow_name, &b->flow_name));
    XL_FUZZ_SAME(tenant_id, xl_fuzz_str_eq(&a->tenant_id, &b->tenant_id));
    XL_FUZZ_SAME(message_id, xl_fuzz_str_eq(&a->message_id, &b->message_id));
    XL_FUZZ_SAME(trigger_type, xl_fuzz_str_eq(&a->trigger_type, &b->trigger_type));
    XL_FUZZ_SAME(started_by, xl_fuzz_str_eq(&a->started_by, &b->started_by));
    XL_FUZZ_SAME(status, a->status == b->status);
    XL_FUZZ_SAME(created_ms, a->created_ms == b->created_ms);
    XL_FUZZ_SAME(started_ms, a->started_ms == b->started_ms);
    XL_FUZZ_SAME(ended_ms, a->ended_ms == b->ended_ms);
    XL_FUZZ_SAME(updated_ms, a->updated_ms == b->updated_ms);
    XL_FUZZ_SAME(last_seq, a->last_seq == b->last_seq);
    XL_FUZZ_SAME(anomalies, a->anomalies == b->anomalies);
    XL_FUZZ_SAME(message, xl_fuzz_str_eq(&a->message, &b->message));
    XL_FUZZ_SAME(error, xl_fuzz_error_eq(&a->error, &b->error));
    XL_FUZZ_SAME(warnings / metrics / attributes,
                 xl_fuzz_lists_eq(a->nwarnings, a->warnings, b->nwarnings, b->warnings, a->nmetrics, a->metrics,
                                  b->nmetrics, b->metrics, a->nattributes, a->attributes, b->nattributes,
                                  b->attributes));
    XL_FUZZ_SAME(warnings_total, a->warnings_total == b->warnings_total);
    XL_FUZZ_SAME(log_partition, a->log_partition == b->log_partition);
    XL_FUZZ_SAME(log_offset, a->log_offset == b->log_offset);
    XL_FUZZ_SAME(ntasks, a->ntasks == b->ntasks);
    for (size_t i = 0; i < a->ntasks; ++i) {
        const xl_task_t *x = &a->tasks[i], *y = &b->tasks[i];
        XL_FUZZ_SAME(tasks, xl_fuzz_str_eq(&x->name, &y->name) && x->status == y->status &&
                                x->started_ms == y->started_ms && x->ended_ms == y->ended_ms &&
                                x->attempts == y->attempts && xl_fuzz_str_eq(&x->message, &y->message));
    }
    XL_FUZZ_SAME(nanomaly_list, a->nanomaly_list == b->nanomaly_list);
    for (size_t i = 0; i < a->nanomaly_list; ++i) {
        const xl_anomaly_t *x = &a->anomaly_list[i], *y = &b->anomaly_list[i];
        XL_FUZZ_SAME(anomaly_list, x->seq == y->seq && x->type == y->type && x->status == y->status);
    }
    return NULL;
#undef XL_FUZZ_SAME
}

/* Every byte of an object is zero (decoders zero their output on failure). */
static inline int xl_fuzz_all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; ++i)
        if (b[i] != 0)
            return 0;
    return 1;
}

/*
 * An older writer of execlog.ExecutionEvent (fewer fields, another order, a
 * field the reader lacks, int metrics, fewer enum symbols), so the targets
 * and the seeds cover frames read through avro-c's resolved writers too.
 * The same shape as tests/schemas/test_event.c's old_schema.
 */
#define XL_FUZZ_OLD_EVENT_SCHEMA                                                                                       \
    "{\"type\":\"record\",\"name\":\"ExecutionEvent\",\"namespace\":\"execlog\",\"fields\":["                          \
    "{\"name\":\"audit_id\",\"type\":\"long\"},"                                                                       \
    "{\"name\":\"event_id\",\"type\":\"string\"},"                                                                     \
    "{\"name\":\"legacy\",\"type\":\"string\"},"                                                                       \
    "{\"name\":\"root_audit_id\",\"type\":\"long\"},"                                                                  \
    "{\"name\":\"retries\",\"type\":\"int\"},"                                                                         \
    "{\"name\":\"flow_id\",\"type\":\"string\"},"                                                                      \
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"EventType\",\"symbols\":[\"created\",\"started\","      \
    "\"progress\"]}},"                                                                                                 \
    "{\"name\":\"time\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"                           \
    "{\"name\":\"ingest_time\",\"type\":\"long\"},"                                                                    \
    "{\"name\":\"message\",\"type\":\"string\"},"                                                                      \
    "{\"name\":\"metrics\",\"type\":{\"type\":\"map\",\"values\":\"int\"}}"                                            \
    "]}"

/* ---- page tokens, as api/list.c documents them (an independent encoder) ---- */

#define XL_FUZZ_TOKEN_RAW 41   /* u8 version, 8 hash bytes, be64 created_ms, be64 audit_id, 16 MAC bytes */
#define XL_FUZZ_TOKEN_CHARS 55 /* its base64url, unpadded */

static inline size_t xl_fuzz_b64url(const unsigned char *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = abc[v >> 18 & 63];
        out[n++] = abc[v >> 12 & 63];
        out[n++] = abc[v >> 6 & 63];
        out[n++] = abc[v & 63];
    }
    if (len - i == 1) {
        out[n++] = abc[in[i] >> 2];
        out[n++] = abc[(in[i] & 3) << 4];
    } else if (len - i == 2) {
        out[n++] = abc[in[i] >> 2];
        out[n++] = abc[(in[i] & 3) << 4 | in[i + 1] >> 4];
        out[n++] = abc[(in[i + 1] & 15) << 2];
    }
    return n;
}

/* The raw bytes of a page token: version 1, the arguments' hash, the last key, the HMAC-SHA256 prefix. */
static inline void xl_fuzz_token_raw(const unsigned char key[32], const unsigned char hash[8], const int64_t last[2],
                                     unsigned char raw[XL_FUZZ_TOKEN_RAW])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    raw[0] = 1;
    memcpy(raw + 1, hash, 8);
    for (int k = 0; k < 2; ++k)
        for (int i = 0; i < 8; ++i)
            raw[9 + 8 * k + i] = (unsigned char)((uint64_t)last[k] >> (56 - 8 * i));
    HMAC(EVP_sha256(), key, 32, raw, 25, mac, &maclen);
    memcpy(raw + 25, mac, 16);
}

/* A page token as GET /v1/executions issues it; out has room for XL_FUZZ_TOKEN_CHARS. */
static inline void xl_fuzz_token_encode(const unsigned char key[32], const unsigned char hash[8], const int64_t last[2],
                                        char out[XL_FUZZ_TOKEN_CHARS])
{
    unsigned char raw[XL_FUZZ_TOKEN_RAW];
    xl_fuzz_token_raw(key, hash, last, raw);
    xl_fuzz_b64url(raw, sizeof(raw), out);
}

#endif
