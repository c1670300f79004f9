/*
 * Tests of api/metrics.c: counters and cumulative histogram buckets by
 * method, route and status code, held answers apart from the latency, label
 * escaping, the process_* family, and the Prometheus text format.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/metrics.h"
#include "tests/test.h"

static int has_line(const xl_buf_t *out, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = out->base; p != NULL && p < out->base + out->len;) {
        const char *nl = memchr(p, '\n', (size_t)(out->base + out->len - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(out->base + out->len - p);
        if (len == n && memcmp(p, line, n) == 0)
            return 1;
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

int main(void)
{
    static const xl_metrics_route_t routes[] = {
        {"GET", "/v1/executions/{id}"}, {"GET", "\"odd\\route\""}, {"GET", "/v1/stream"}, {NULL, "unmatched"}};
    xl_buf_t out;
    XL_PHASE("observe");
    xl_metrics_t *m = xl_metrics_create(routes, 4);
    XL_REQUIRE(m != NULL, "create");
    xl_metrics_observe(m, 0, "POST", 200, 0.0003, 0); /* the route's method wins */
    xl_metrics_observe(m, 0, "GET", 200, 0.002, 0);
    xl_metrics_observe(m, 0, "GET", 404, 20.0, 0);
    xl_metrics_observe(m, 1, "GET", 499, 0.5, 0);
    xl_metrics_observe(m, 2, "GET", 200, 0.001, 0);  /* an SSE stream refused at once: an answer */
    xl_metrics_observe(m, 2, "GET", 200, 42.0, 1);   /* a stream held for 42 s */
    xl_metrics_observe(m, 2, "GET", 200, 7200.0, 1); /* ... and one for two hours */
    xl_metrics_observe(m, 3, "PUT", 404, 0.001, 0);
    xl_metrics_observe(m, 3, "DELETE", 405, 0.001, 0);
    xl_metrics_observe(m, 3, NULL, 404, 0.001, 0);
    xl_metrics_observe(m, 7, "GET", 200, 0.1, 0); /* no such route: ignored */
    xl_buf_init(&out);
    XL_CHECK_INT(xl_metrics_render_http(m, &out), 0);
    xl_buf_append(&out, "", 1);
    --out.len;

    XL_PHASE("render");
    XL_CHECK(has_line(&out, "# TYPE execlog_http_requests_total counter"), "counter family:\n%s", out.base);
    XL_CHECK(has_line(&out, "execlog_http_requests_total{method=\"GET\",route=\"/v1/executions/{id}\",code=\"200\"} 2"),
             "200s counted");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{method=\"GET\",route=\"/v1/executions/{id}\",code=\"404\"} 1"),
             "404s counted");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{method=\"GET\",route=\"\\\"odd\\\\route\\\"\",code=\"499\"} 1"),
             "labels escaped");
    XL_CHECK(has_line(&out, "# TYPE execlog_http_request_duration_seconds histogram"), "histogram family");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/executions/{id}\","
                            "code=\"200\",le=\"0.00025\"} 0"),
             "below the first sample");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/executions/{id}\","
                            "code=\"200\",le=\"0.0005\"} 1"),
             "buckets are cumulative (1)");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/executions/{id}\","
                            "code=\"200\",le=\"0.0025\"} 2"),
             "buckets are cumulative (2)");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/executions/{id}\","
                            "code=\"404\",le=\"10\"} 0"),
             "20 s is above the last finite bucket");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/executions/{id}\","
                            "code=\"404\",le=\"+Inf\"} 1"),
             "+Inf holds everything");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/executions/{id}\","
                            "code=\"200\"} 2"),
             "count");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_sum{method=\"GET\",route=\"/v1/executions/{id}\","
                            "code=\"200\"} 0.0023"),
             "sum");

    XL_PHASE("held");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{method=\"GET\",route=\"/v1/stream\",code=\"200\"} 3"),
             "requests_total counts held answers too");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/stream\","
                            "code=\"200\"} 1"),
             "held answers stay out of the latency histogram");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/stream\","
                            "code=\"200\",le=\"+Inf\"} 1"),
             "... also out of its +Inf bucket");
    XL_CHECK(has_line(&out, "# TYPE execlog_http_held_seconds histogram"), "held family");
    XL_CHECK(has_line(&out, "execlog_http_held_seconds_bucket{method=\"GET\",route=\"/v1/stream\",code=\"200\","
                            "le=\"60\"} 1"),
             "a 42 s stream is below 60 s");
    XL_CHECK(has_line(&out, "execlog_http_held_seconds_bucket{method=\"GET\",route=\"/v1/stream\",code=\"200\","
                            "le=\"3600\"} 1"),
             "a two-hour stream is above the last finite held bucket");
    XL_CHECK(has_line(&out, "execlog_http_held_seconds_count{method=\"GET\",route=\"/v1/stream\",code=\"200\"} 2"),
             "held count");
    XL_CHECK(has_line(&out, "execlog_http_held_seconds_sum{method=\"GET\",route=\"/v1/stream\",code=\"200\"} 7242"),
             "held sum");
    XL_CHECK(strstr(out.base, "execlog_http_held_seconds_count{method=\"GET\",route=\"/v1/executions/{id}\"") ==
                 NULL,
             "no held series for a route that held nothing");

    XL_PHASE("method");
    XL_CHECK(strstr(out.base, "method=\"POST\"") == NULL, "a route's method is its own, whatever is passed");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{method=\"PUT\",route=\"unmatched\",code=\"404\"} 1"),
             "unmatched: the request's method");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{method=\"DELETE\",route=\"unmatched\",code=\"405\"} 1"),
             "unmatched 405");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{method=\"other\",route=\"unmatched\",code=\"404\"} 1"),
             "unmatched, no method: other");

    XL_PHASE("process");
    for (volatile unsigned long spin = 0; clock() < CLOCKS_PER_SEC / 20; ++spin) /* some CPU time to count */
        ;
    xl_buf_reset(&out);
    XL_CHECK_INT(xl_metrics_render_process(&out), 0);
    xl_buf_append(&out, "", 1);
    --out.len;
    static const char *const families[] = {"process_cpu_seconds_total",  "process_resident_memory_bytes",
                                           "process_virtual_memory_bytes", "process_open_fds",
                                           "process_max_fds",            "process_start_time_seconds"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); ++i) {
        char want[96];
        snprintf(want, sizeof(want), "\n%s ", families[i]);
        const char *at = strstr(out.base, want);
        XL_CHECK(at != NULL, "%s rendered:\n%s", families[i], out.base);
        if (at == NULL)
            continue;
        double v = strtod(at + strlen(want), NULL);
        XL_CHECK(v > 0, "%s > 0 (%g)", families[i], v);
    }
    const char *rss = strstr(out.base, "\nprocess_resident_memory_bytes ");
    const char *vsz = strstr(out.base, "\nprocess_virtual_memory_bytes ");
    if (rss != NULL && vsz != NULL)
        XL_CHECK(strtod(rss + 31, NULL) <= strtod(vsz + 30, NULL) && strtod(rss + 31, NULL) > 1e6,
                 "1 MB < resident memory <= virtual memory");
    const char *start = strstr(out.base, "\nprocess_start_time_seconds ");
    if (start != NULL) {
        double t = strtod(start + 28, NULL), now = (double)time(NULL);
        XL_CHECK(t <= now + 2 && t > now - 120, "start time is this process's (%f, now %f)", t, now);
    }
    const char *fds = strstr(out.base, "\nprocess_open_fds ");
    if (fds != NULL) {
        /* three more descriptors are three more */
        double before = strtod(fds + 18, NULL);
        int p[2], extra = dup(0);
        XL_REQUIRE(pipe(p) == 0 && extra >= 0, "pipe");
        xl_buf_reset(&out);
        xl_metrics_render_process(&out);
        xl_buf_append(&out, "", 1);
        fds = strstr(out.base, "\nprocess_open_fds ");
        XL_CHECK(fds != NULL && strtod(fds + 18, NULL) == before + 3, "open fds follow the process (%s)",
                 fds != NULL ? fds + 1 : "none");
        close(p[0]);
        close(p[1]);
        close(extra);
    }

    XL_PHASE("samples");
    xl_buf_reset(&out);
    xl_metrics_sample(&out, "a", "", 3);
    xl_metrics_sample(&out, "b", "x=\"1\"", -1);
    xl_metrics_sample(&out, "c", "", 0.25);
    XL_CHECK_STR(out.base, out.len, "a 3\nb{x=\"1\"} -1\nc 0.25\n");
    xl_buf_dispose(&out);
    xl_metrics_destroy(m);
    return xl_test_finish();
}
