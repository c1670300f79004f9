/*
 * HTTP request counters and latency histograms, by route (the pattern of
 * the route table, never the raw path: the label set stays bounded) and
 * status code, and the Prometheus text exposition of them. Used on the
 * event-loop thread only; it never blocks and never allocates per request
 * once a (route, code) pair has been seen.
 */
#ifndef XL_API_METRICS_H
#define XL_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/buf.h"

typedef struct st_xl_metrics_t xl_metrics_t;

/**
 * @brief Counters for nroutes routes, labelled routes[i] (borrowed: static
 * strings that outlive the metrics).
 * @return NULL on allocation failure; free with xl_metrics_destroy.
 */
xl_metrics_t *xl_metrics_create(const char *const *routes, size_t nroutes);
void xl_metrics_destroy(xl_metrics_t *m);

/** @brief Count one answered request of route (< nroutes) with its status and duration. */
void xl_metrics_observe(xl_metrics_t *m, size_t route, int status, double seconds);

/** @brief Append the HTTP families (execlog_http_*) in Prometheus text format. @return 0 or -ENOMEM. */
int xl_metrics_render_http(const xl_metrics_t *m, xl_buf_t *out);

/** @brief Append "# HELP" and "# TYPE" lines of a family. */
int xl_metrics_family(xl_buf_t *out, const char *name, const char *type, const char *help);

/** @brief Append one sample; labels is "" or 'a="x",b="y"' (already escaped). */
int xl_metrics_sample(xl_buf_t *out, const char *name, const char *labels, double value);

/** @brief Escape a label value (backslash, quote, newline) into out (NUL-terminated, truncated to outlen). */
void xl_metrics_escape(const char *s, size_t len, char *out, size_t outlen);

#endif
