/*
 * Tests of api/metrics.c: counters and cumulative histogram buckets by route
 * and status code, label escaping, and the Prometheus text format.
 */
#include <string.h>

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
    static const char *const routes[] = {"GET /v1/executions/{id}", "GET \"odd\\route\""};
    xl_buf_t out;
    XL_PHASE("observe");
    xl_metrics_t *m = xl_metrics_create(routes, 2);
    XL_REQUIRE(m != NULL, "create");
    xl_metrics_observe(m, 0, 200, 0.0003);
    xl_metrics_observe(m, 0, 200, 0.002);
    xl_metrics_observe(m, 0, 404, 20.0);
    xl_metrics_observe(m, 1, 499, 0.5);
    xl_metrics_observe(m, 7, 200, 0.1); /* no such route: ignored */
    xl_buf_init(&out);
    XL_CHECK_INT(xl_metrics_render_http(m, &out), 0);
    xl_buf_append(&out, "", 1);
    --out.len;

    XL_PHASE("render");
    XL_CHECK(has_line(&out, "# TYPE execlog_http_requests_total counter"), "counter family:\n%s", out.base);
    XL_CHECK(has_line(&out, "execlog_http_requests_total{route=\"GET /v1/executions/{id}\",code=\"200\"} 2"),
             "200s counted");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{route=\"GET /v1/executions/{id}\",code=\"404\"} 1"),
             "404s counted");
    XL_CHECK(has_line(&out, "execlog_http_requests_total{route=\"GET \\\"odd\\\\route\\\"\",code=\"499\"} 1"),
             "labels escaped");
    XL_CHECK(has_line(&out, "# TYPE execlog_http_request_duration_seconds histogram"), "histogram family");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{route=\"GET /v1/executions/{id}\","
                            "code=\"200\",le=\"0.00025\"} 0"),
             "below the first sample");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{route=\"GET /v1/executions/{id}\","
                            "code=\"200\",le=\"0.0005\"} 1"),
             "buckets are cumulative (1)");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{route=\"GET /v1/executions/{id}\","
                            "code=\"200\",le=\"0.0025\"} 2"),
             "buckets are cumulative (2)");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{route=\"GET /v1/executions/{id}\","
                            "code=\"404\",le=\"10\"} 0"),
             "20 s is above the last finite bucket");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_bucket{route=\"GET /v1/executions/{id}\","
                            "code=\"404\",le=\"+Inf\"} 1"),
             "+Inf holds everything");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_count{route=\"GET /v1/executions/{id}\","
                            "code=\"200\"} 2"),
             "count");
    XL_CHECK(has_line(&out, "execlog_http_request_duration_seconds_sum{route=\"GET /v1/executions/{id}\","
                            "code=\"200\"} 0.0023"),
             "sum");

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
