/*
 * What the compatibility routes (compat_*.c: Cloudify, Civis, the flows
 * list) share: a filtered, counted page over one index of the projections,
 * ISO 8601 times, attributes by key, and errors in problem+json with extra
 * members a product's own client reads. Each route stays a thin shape over
 * the same RocksDB projections the /v1 routes read; none of them writes
 * except through the ingest path.
 */
#ifndef XL_API_COMPAT_H
#define XL_API_COMPAT_H

#include <jansson.h>
#include <stdint.h>

#include "api/read.h"

/* Most executions one compatibility list examines (its total counts at most these). */
#define XL_COMPAT_MAX_SCAN 10000

/** Decides whether a state belongs to the page's set (1) or not (0). */
typedef int (*xl_compat_keep_cb)(void *ctx, const xl_state_t *st);
/** Renders one kept state as an item (a new reference). */
typedef json_t *(*xl_compat_render_cb)(void *ctx, const xl_state_t *st);

typedef struct st_xl_compat_page_t {
    xl_index_t ix;          /* XL_IX_ALL or XL_IX_FLOW */
    const xl_str_t *tenant; /* NULL: every tenant (the caller's visibility still applies) */
    const xl_str_t *str;    /* the flow_id for XL_IX_FLOW */
    int descending;         /* newest first */
    uint64_t offset, size;  /* the page: items [offset, offset + size) of the kept ones */
    xl_compat_keep_cb keep; /* NULL: keep all */
    xl_compat_render_cb render;
    void *ctx;
    /* out */
    json_t *items;
    uint64_t total;  /* kept states seen */
    int truncated;   /* XL_COMPAT_MAX_SCAN reached */
} xl_compat_page_t;

/**
 * @brief Walk the page's index, keep what the caller may see and keep()
 * accepts, count them and render those of the page into page->items (a new
 * array). @return 0, or -EIO (items then NULL).
 */
int xl_compat_page(xl_api_t *api, const xl_principal_t *who, xl_compat_page_t *page);

/**
 * @brief The state a write's acknowledgement (ack: {"audit_id","seq",...})
 * made, when the projection already holds it (ingest.ack=projected, or a
 * repeat of an earlier request): then the answer can show the execution as
 * it is rather than as it is expected to become.
 * @return 0 (st to dispose), or -1 (not there yet, or unreadable).
 */
int xl_compat_acked_state(xl_api_t *api, json_t *ack, xl_state_t *st);

/** @brief ms since the epoch as ISO 8601 UTC with milliseconds ("2026-12-03T01:05:06.123Z"); null for 0. */
json_t *xl_compat_time(int64_t ms);

/** @brief The value of attribute key of st (a null string when absent). */
xl_str_t xl_compat_attribute(const xl_state_t *st, const char *key);

/**
 * @brief A problem+json answer that also carries a product's own error
 * members: extra (stolen, may be NULL) is merged, and when message_key is not
 * NULL the detail is repeated under that name (Cloudify's "message").
 */
void xl_compat_problem(h2o_req_t *req, int status, const char *slug, const char *title, json_t *extra,
                       const char *message_key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/**
 * @brief The tenant a compatibility read is scoped to: the caller's own when
 * its token is confined (then *other is set if want names another one),
 * else want (NULL or empty: every tenant). buf is storage for the result.
 */
const xl_str_t *xl_compat_scope(const xl_principal_t *who, h2o_iovec_t want, xl_str_t *buf, int *other);

/** @brief o (borrowed) serialised compactly into req's pool ("{}" when it cannot be). */
h2o_iovec_t xl_compat_dump(h2o_req_t *req, const json_t *o);

/**
 * @brief Parse a JSON object body; answers 400 itself (through
 * xl_compat_problem, with extra and message_key). extra is stolen either way.
 * @return the object or NULL.
 */
json_t *xl_compat_body_objectOrReply(h2o_req_t *req, json_t *extra, const char *message_key);

#endif
