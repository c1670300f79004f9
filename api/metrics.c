/*
 * HTTP metrics (see metrics.h). Each route keeps a short list of the status
 * codes it answered, each with a counter and a fixed-bucket histogram.
 */
#include "api/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* upper bounds in seconds, Prometheus' default buckets with a finer start */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

typedef struct st_code_t {
    int status;
    uint64_t count;
    double sum;
    uint64_t le[NBUCKETS]; /* non-cumulative; summed when rendered */
} code_t;

typedef struct st_route_stats_t {
    const char *label;
    code_t *codes;
    size_t ncodes;
} route_stats_t;

struct st_xl_metrics_t {
    route_stats_t *routes;
    size_t nroutes;
};

xl_metrics_t *xl_metrics_create(const char *const *routes, size_t nroutes)
{
    xl_metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->routes = calloc(nroutes, sizeof(*m->routes))) == NULL) {
        free(m);
        return NULL;
    }
    m->nroutes = nroutes;
    for (size_t i = 0; i < nroutes; ++i)
        m->routes[i].label = routes[i];
    return m;
}

void xl_metrics_destroy(xl_metrics_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nroutes; ++i)
        free(m->routes[i].codes);
    free(m->routes);
    free(m);
}

void xl_metrics_observe(xl_metrics_t *m, size_t route, int status, double seconds)
{
    if (route >= m->nroutes)
        return;
    route_stats_t *r = &m->routes[route];
    code_t *c = NULL;
    for (size_t i = 0; i < r->ncodes && c == NULL; ++i)
        if (r->codes[i].status == status)
            c = &r->codes[i];
    if (c == NULL) {
        code_t *codes = realloc(r->codes, (r->ncodes + 1) * sizeof(*codes));
        if (codes == NULL)
            return; /* a lost sample, not a lost request */
        r->codes = codes;
        c = &r->codes[r->ncodes++];
        memset(c, 0, sizeof(*c));
        c->status = status;
    }
    ++c->count;
    c->sum += seconds;
    for (size_t b = 0; b < NBUCKETS; ++b) {
        if (seconds <= buckets[b]) {
            ++c->le[b];
            break;
        }
    }
}

void xl_metrics_escape(const char *s, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 3 < outlen; ++i) {
        char ch = s[i];
        if (ch == '\\' || ch == '"') {
            out[n++] = '\\';
            out[n++] = ch;
        } else if (ch == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = ch;
        }
    }
    if (outlen > 0)
        out[n < outlen ? n : outlen - 1] = '\0';
}

int xl_metrics_family(xl_buf_t *out, const char *name, const char *type, const char *help)
{
    return xl_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int xl_metrics_sample(xl_buf_t *out, const char *name, const char *labels, double value)
{
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    if (isinf(value))
        return xl_buf_appendf(out, "%s%s%s%s %s\n", name, open, labels, close, value > 0 ? "+Inf" : "-Inf");
    if (value == floor(value) && fabs(value) < 9e15)
        return xl_buf_appendf(out, "%s%s%s%s %.0f\n", name, open, labels, close, value);
    return xl_buf_appendf(out, "%s%s%s%s %.9g\n", name, open, labels, close, value);
}

int xl_metrics_render_http(const xl_metrics_t *m, xl_buf_t *out)
{
    char route[256], labels[512];
    int ret = 0;
    ret |= xl_metrics_family(out, "execlog_http_requests_total", "counter",
                             "HTTP requests answered, by route pattern and status code (499: the client went away "
                             "before the answer)");
    for (size_t i = 0; i < m->nroutes; ++i) {
        const route_stats_t *r = &m->routes[i];
        xl_metrics_escape(r->label, strlen(r->label), route, sizeof(route));
        for (size_t j = 0; j < r->ncodes; ++j) {
            snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\"", route, r->codes[j].status);
            ret |= xl_metrics_sample(out, "execlog_http_requests_total", labels, (double)r->codes[j].count);
        }
    }
    ret |= xl_metrics_family(out, "execlog_http_request_duration_seconds", "histogram",
                             "time from the request to the end of its answer, by route pattern and status code");
    for (size_t i = 0; i < m->nroutes; ++i) {
        const route_stats_t *r = &m->routes[i];
        xl_metrics_escape(r->label, strlen(r->label), route, sizeof(route));
        for (size_t j = 0; j < r->ncodes; ++j) {
            const code_t *c = &r->codes[j];
            uint64_t cum = 0;
            for (size_t b = 0; b < NBUCKETS; ++b) {
                cum += c->le[b];
                snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\",le=\"%g\"", route, c->status, buckets[b]);
                ret |= xl_metrics_sample(out, "execlog_http_request_duration_seconds_bucket", labels, (double)cum);
            }
            snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\",le=\"+Inf\"", route, c->status);
            ret |= xl_metrics_sample(out, "execlog_http_request_duration_seconds_bucket", labels, (double)c->count);
            snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\"", route, c->status);
            ret |= xl_metrics_sample(out, "execlog_http_request_duration_seconds_sum", labels, c->sum);
            ret |= xl_metrics_sample(out, "execlog_http_request_duration_seconds_count", labels, (double)c->count);
        }
    }
    return ret != 0 ? -ENOMEM : 0;
}
