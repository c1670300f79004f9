/*
 * Small HTTP helpers shared by the read API (api/) and the write API
 * (ingest/): JSON and RFC 9457 problem+json answers, path and query parsing.
 * Everything is allocated from req->pool; nothing here frees or blocks.
 * A helper that sends the answer says so in its name (..._send_...).
 */
#ifndef XL_INGEST_HTTP_H
#define XL_INGEST_HTTP_H

#include <h2o.h>
#include <jansson.h>
#include <stdint.h>

/**
 * @brief A JSON string of (s, len) that is always valid: bytes that are not
 * UTF-8 become U+FFFD (text a client sent, echoed back). NULL s gives null.
 * @return a new reference, NULL only when out of memory.
 */
json_t *xl_http_text(const char *s, size_t len);

/**
 * Every sender below answers 500 with a fixed problem document when it is
 * handed a NULL body or object or a status outside 100..599, so a reply never
 * goes out with a status h2o cannot encode.
 */

/** @brief Send body as application/json with the given status. body is copied. */
void xl_http_send_json(h2o_req_t *req, int status, const char *body, size_t len);

/** @brief Serialise obj (reference stolen) and send it as application/json. */
void xl_http_send_json_obj(h2o_req_t *req, int status, json_t *obj);

/**
 * @brief Send an RFC 9457 problem: {"type","title","status","detail","instance"}.
 * slug names the problem type (urn:execlog:problem:<slug>); extra, if not
 * NULL, is merged into the object (reference stolen), e.g. {"errors":[...]}.
 */
void xl_http_send_problem(h2o_req_t *req, int status, const char *slug, const char *title, json_t *extra,
                          const char *detail_fmt, ...) __attribute__((format(printf, 6, 7)));

/**
 * @brief A problem object (the same members as above) to send later with
 * xl_http_send_problem_obj, or to embed in a batch answer.
 */
json_t *xl_http_problem_new(h2o_req_t *req, int status, const char *slug, const char *title, const char *detail);
/** @brief Send a problem object built by xl_http_problem_new (reference stolen). */
void xl_http_send_problem_obj(h2o_req_t *req, json_t *problem);

/** @brief Add a response header (name and value are copied into the pool). */
void xl_http_add_header(h2o_req_t *req, const h2o_token_t *token, const char *value);

/** @brief Parse a positive decimal integer <= max from (s, len). @return 0 or -EINVAL. */
int xl_http_parse_id(const char *s, size_t len, int64_t max, int64_t *out);

/** @brief Value of one hex digit (either case), or -1. */
int xl_http_hexval(int c);

/**
 * @brief Find query parameter name in req's query string; value is
 * percent-decoded into the pool. @return 1 found, 0 absent.
 */
int xl_http_query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value);

/** @brief Percent-decode a path segment into the pool ('+' stays '+'). */
h2o_iovec_t xl_http_path_decode(h2o_mem_pool_t *pool, const char *s, size_t len);

/**
 * @brief Percent-decode a query-string value into the pool ('+' becomes ' ';
 * a '%' without two hex digits after it stays as it is).
 * @return the decoded bytes (NUL-terminated, the NUL not counted), never
 * longer than len; they live as long as pool.
 */
h2o_iovec_t xl_http_percent_decode(h2o_mem_pool_t *pool, const char *s, size_t len);

/**
 * @brief Iterate over every occurrence of query parameter name (a repeatable
 * one): *pos starts at 0 and is advanced. value is percent-decoded into the
 * pool. @return 1 found (value filled), 0 no more.
 */
int xl_http_query_next(h2o_req_t *req, const char *name, size_t *pos, h2o_iovec_t *value);

/**
 * @brief The first query parameter whose name is not in allowed (a
 * comma-separated list, "" for none). @return 1 with name (raw) filled, or 0.
 */
int xl_http_query_unknown(h2o_req_t *req, const char *allowed, h2o_iovec_t *name);

/**
 * @brief The first query parameter whose name or percent-decoded value is
 * not valid UTF-8 (no identifier or filter can be). @return 1 with name
 * (raw, borrowed from req) filled, or 0.
 */
int xl_http_query_not_utf8(h2o_req_t *req, h2o_iovec_t *name);

/** @brief A request header by lower-case name. @return 1 found (value borrowed from req), 0 absent. */
int xl_http_header(h2o_req_t *req, const char *name, h2o_iovec_t *value);

/**
 * @brief The request's W3C trace context header when it is well-formed
 * ("vv-<32 hex>-<16 hex>-ff", lower-case, version not ff, IDs not all zero);
 * a malformed one is ignored, as the W3C spec asks.
 * @return 1 with value borrowed from req, or 0.
 */
int xl_http_traceparent(h2o_req_t *req, h2o_iovec_t *value);

/*
 * Holding a request whose answer is not ready: a write waiting for its
 * acknowledgement, a read waiting for a log position, the digest thread, a
 * long poll, an SSE stream. This is the one way to do it. The hold lives in
 * req->pool and is the request's h2o_generator_t once started, so the client
 * going away is seen once, whichever way it goes (the started response
 * stopped, or the request's pool released before an answer): gone(hold) runs,
 * hold->req is NULL from then on, and the owner releases what the request
 * held. The owner answers either with xl_http_hold_release then any
 * xl_http_send_* on the request it returns, or, for a stream, starts the
 * response with xl_http_hold_start and feeds it with h2o_send on hold->req,
 * releasing with the final one.
 */
typedef struct st_xl_http_hold_t xl_http_hold_t;

typedef struct st_xl_http_hold_callbacks_t {
    void (*gone)(xl_http_hold_t *hold);    /* the client went away while held; NULL: nothing to do */
    void (*proceed)(xl_http_hold_t *hold); /* started holds: h2o sent what it had and wants more */
    void (*dispose)(xl_http_hold_t *hold); /* the pool is released (always, the last call); NULL: nothing */
    int waits; /* 1: the client asked to wait (a long poll, a stream, a position), so the time held is not
                * request latency (xl_http_held); 0: a write waiting for its acknowledgement, the digest */
} xl_http_hold_callbacks_t;

struct st_xl_http_hold_t {
    h2o_generator_t super; /* for h2o: started by xl_http_hold_start */
    h2o_req_t *req;        /* the held request; NULL once released or gone */
    const xl_http_hold_callbacks_t *cb;
    void *owner; /* for the owner's use (e.g. a heap object that outlives the request) */
};

/**
 * @brief Hold req. size (at least sizeof(xl_http_hold_t)) bytes are taken
 * from req->pool, the hold first: an owner that lives as long as the
 * request embeds the hold as its first member and asks for its own size.
 * The memory is zeroed but for the hold's fields; cb is borrowed for the
 * request's lifetime (a static table).
 * @return the hold; it lives as long as req->pool.
 */
xl_http_hold_t *xl_http_hold(h2o_req_t *req, size_t size, const xl_http_hold_callbacks_t *cb);

/**
 * @brief Right after a handler returns, on its loop thread: whether it left
 * req held in a wait the client asked for (callbacks with waits set: a
 * stream, a long poll, a position). @return 1 held so, else 0.
 */
int xl_http_held(h2o_req_t *req);

/**
 * @brief Stop holding: gone no longer runs. For a hold not started, answer
 * the returned request at once with any xl_http_send_*; for a started one,
 * call it right before the final h2o_send.
 * @return the request, or NULL when the client is gone.
 */
h2o_req_t *xl_http_hold_release(xl_http_hold_t *hold);

/**
 * @brief Start the response of a held request (status and headers set):
 * from now on it is fed with h2o_send(hold->req, ...), and proceed runs when
 * h2o wants more. The request stays held until xl_http_hold_release.
 */
void xl_http_hold_start(xl_http_hold_t *hold);

#endif
