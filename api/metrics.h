/*
 * HTTP request counters and latency histograms, by method, route (the
 * pattern of the route table, never the raw path: the label set stays
 * bounded) and status code, and the Prometheus text exposition of them.
 * Held answers (SSE streams, long polls, min_position waits) have their own
 * histogram, so that they never stretch the request latency. Used on the
 * event-loop threads (one set for all, under a mutex held only for an
 * update or a rendering); it never allocates per request once a (method,
 * route, code) triple has been seen. Also the process_*
 * family of Prometheus' client libraries (CPU, memory, descriptors, start).
 */
#ifndef XL_API_METRICS_H
#define XL_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/buf.h"

typedef struct st_xl_metrics_t xl_metrics_t;

/** The labels of one route: method NULL takes the request's (the row of requests no route took). */
typedef struct st_xl_metrics_route_t {
    const char *method;
    const char *route;
} xl_metrics_route_t;

/**
 * @brief Counters for nroutes routes, labelled routes[i] (its strings
 * borrowed: static strings that outlive the metrics).
 * @return NULL on allocation failure; free with xl_metrics_destroy.
 */
xl_metrics_t *xl_metrics_create(const xl_metrics_route_t *routes, size_t nroutes);
void xl_metrics_destroy(xl_metrics_t *m);

/**
 * @brief Count one answered request of route (< nroutes) with its status and
 * duration; held: it was held (a stream, a long poll, a min_position wait),
 * counted apart from the answers' latency. method: used only by a route
 * without one, a static string from a bounded set (NULL: "other").
 */
void xl_metrics_observe(xl_metrics_t *m, size_t route, const char *method, int status, double seconds, int held);

/** @brief Append the HTTP families (execlog_http_*) in Prometheus text format. @return 0 or -ENOMEM. */
int xl_metrics_render_http(xl_metrics_t *m, xl_buf_t *out);

/** @brief Count one request taken by HTTP loop number loop (0..255; execlog_http_loop_requests_total). */
void xl_metrics_count_loop(xl_metrics_t *m, size_t loop);

/** @brief Append the process_* families (from /proc/self; those it cannot read are left out). @return 0 or -ENOMEM. */
int xl_metrics_render_process(xl_buf_t *out);

/** @brief Append "# HELP" and "# TYPE" lines of a family. */
int xl_metrics_family(xl_buf_t *out, const char *name, const char *type, const char *help);

/** @brief Append one sample; labels is "" or 'a="x",b="y"' (already escaped). */
int xl_metrics_sample(xl_buf_t *out, const char *name, const char *labels, double value);

/** @brief Escape a label value (backslash, quote, newline) into out (NUL-terminated, truncated to outlen). */
void xl_metrics_escape(const char *s, size_t len, char *out, size_t outlen);

#endif
