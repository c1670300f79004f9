/*
 * Tests for schemas/fingerprint.c: the Parsing Canonical Form and the
 * CRC-64-AVRO fingerprint against the Avro project's own test vectors
 * (tests/schemas/fixtures/schema-tests.txt, found through XL_TEST_SRC), the
 * spec's constants, schemas that must be rejected, and the two embedded
 * execlog schemas.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/event.h"
#include "schemas/fingerprint.h"
#include "tests/test.h"

typedef struct st_vector_t {
    char id[16];
    xl_buf_t input;
    xl_buf_t canonical;
    int has_fp;
    int64_t fp;
} vector_t;

static void vector_reset(vector_t *v)
{
    v->id[0] = '\0';
    xl_buf_reset(&v->input);
    xl_buf_reset(&v->canonical);
    v->has_fp = 0;
    v->fp = 0;
}

static void vector_run(vector_t *v, int *count)
{
    char err[256] = "";
    xl_buf_t out;
    uint64_t fp = 0;
    char phase[64];

    if (v->input.len == 0)
        return;
    snprintf(phase, sizeof(phase), "vector %s", v->id);
    XL_PHASE(phase);
    xl_buf_init(&out);
    int rc = xl_schema_canonical_form(v->input.base, v->input.len, &out, err, sizeof(err));
    XL_CHECK(rc == 0, "canonical form failed: %d %s", rc, err);
    if (rc == 0) {
        XL_CHECK_MEM(out.base, out.len, v->canonical.base, v->canonical.len);
        XL_CHECK(out.base[out.len] == '\0', "no NUL kept after the text");
    }
    rc = xl_schema_fingerprint(v->input.base, v->input.len, &fp, err, sizeof(err));
    XL_CHECK(rc == 0, "fingerprint failed: %d %s", rc, err);
    /* the fingerprint of the canonical text itself must agree */
    XL_CHECK(fp == xl_crc64_avro(v->canonical.base, v->canonical.len),
             "fingerprint %016" PRIx64 " is not the CRC of the canonical form", fp);
    if (v->has_fp)
        XL_CHECK((int64_t)fp == v->fp, "fingerprint %" PRId64 ", expected %" PRId64, (int64_t)fp, v->fp);
    xl_buf_dispose(&out);
    ++*count;
}

static char *chomp(char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* Reads the upstream format: "<<INPUT x", or "<<INPUT" ... "INPUT"; "<<canonical x"; "<<fingerprint n". */
static int run_fixture(const char *path, int *count, int *with_fp)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    vector_t v;
    int in_multiline = 0;

    if (fp == NULL)
        return -errno;
    xl_buf_init(&v.input);
    xl_buf_init(&v.canonical);
    vector_reset(&v);
    while (fgets(line, sizeof(line), fp) != NULL) {
        chomp(line);
        if (in_multiline) {
            if (strcmp(line, "INPUT") == 0) {
                in_multiline = 0;
            } else {
                xl_buf_append(&v.input, line, strlen(line));
                xl_buf_append(&v.input, "\n", 1);
            }
            continue;
        }
        if (strncmp(line, "// ", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
            vector_run(&v, count);
            vector_reset(&v);
            snprintf(v.id, sizeof(v.id), "%.3s", line + 3);
        } else if (line[0] == '#' || strncmp(line, "//", 2) == 0 || line[0] == '\0') {
            continue;
        } else if (strcmp(line, "<<INPUT") == 0) {
            in_multiline = 1;
        } else if (strncmp(line, "<<INPUT ", 8) == 0) {
            xl_buf_append(&v.input, line + 8, strlen(line + 8));
        } else if (strncmp(line, "<<canonical ", 12) == 0) {
            xl_buf_append(&v.canonical, line + 12, strlen(line + 12));
        } else if (strncmp(line, "<<fingerprint ", 14) == 0) {
            v.has_fp = 1;
            v.fp = strtoll(line + 14, NULL, 10);
            ++*with_fp;
        } else {
            fprintf(stderr, "fixture: unexpected line: %s\n", line);
            ++xl_test_failed;
        }
    }
    vector_run(&v, count);
    xl_buf_dispose(&v.input);
    xl_buf_dispose(&v.canonical);
    fclose(fp);
    return 0;
}

static void check_rejected(const char *json)
{
    char err[256] = "";
    xl_buf_t out;
    xl_buf_init(&out);
    xl_buf_append(&out, "keep", 4);
    int rc = xl_schema_canonical_form(json, strlen(json), &out, err, sizeof(err));
    XL_CHECK(rc == -EINVAL, "%s: rc %d, expected -EINVAL", json, rc);
    XL_CHECK(err[0] != '\0', "%s: no error message", json);
    XL_CHECK_STR(out.base, out.len, "keep");
    xl_buf_dispose(&out);
}

static void check_embedded(const char *json, uint64_t fp, const char *prefix, const char *const *must,
                           const char *const *must_not)
{
    char err[256] = "";
    xl_buf_t out;
    xl_buf_init(&out);
    int rc = xl_schema_canonical_form(json, strlen(json), &out, err, sizeof(err));
    XL_CHECK(rc == 0, "%d %s", rc, err);
    if (rc == 0) {
        XL_CHECK(strncmp(out.base, prefix, strlen(prefix)) == 0, "starts with %.80s", out.base);
        for (; *must != NULL; ++must)
            XL_CHECK(strstr(out.base, *must) != NULL, "lacks %s", *must);
        for (; *must_not != NULL; ++must_not)
            XL_CHECK(strstr(out.base, *must_not) == NULL, "still has %s", *must_not);
        XL_CHECK(strchr(out.base, ' ') == NULL && strchr(out.base, '\n') == NULL, "whitespace left");
        XL_CHECK(fp == xl_crc64_avro(out.base, out.len), "accessor %016" PRIx64 " is not the CRC of the form", fp);
    }
    xl_buf_dispose(&out);
}

int main(void)
{
    char path[4096];
    const char *src = getenv("XL_TEST_SRC");
    int count = 0, with_fp = 0;

    XL_PHASE("crc64 constants");
    XL_CHECK(xl_crc64_avro(NULL, 0) == XL_CRC64_AVRO_EMPTY, "empty string");
    XL_CHECK(xl_crc64_avro("", 0) == UINT64_C(0xc15d213aa4d7a795), "empty string is the spec's EMPTY");
    XL_CHECK((int64_t)xl_crc64_avro("\"int\"", 5) == INT64_C(8247732601305521295), "\"int\"");
    XL_CHECK((int64_t)xl_crc64_avro("\"null\"", 6) == INT64_C(7195948357588979594), "\"null\"");
    XL_CHECK((int64_t)xl_crc64_avro("\"string\"", 8) == INT64_C(-8142146995180207161), "\"string\"");
    XL_CHECK(xl_crc64_avro_update(xl_crc64_avro("\"in", 3), "t\"", 2) == xl_crc64_avro("\"int\"", 5),
             "update continues a fingerprint");
    XL_CHECK(xl_crc64_avro("a", 1) != xl_crc64_avro("b", 1), "differs by content");

    XL_PHASE("fixture");
    XL_REQUIRE(src != NULL, "XL_TEST_SRC is not set");
    snprintf(path, sizeof(path), "%s/tests/schemas/fixtures/schema-tests.txt", src);
    int rc = run_fixture(path, &count, &with_fp);
    XL_REQUIRE(rc == 0, "cannot read %s: %s", path, strerror(-rc));
    XL_PHASE("fixture counts");
    XL_CHECK(count >= 45, "only %d vectors ran", count);
    XL_CHECK(with_fp >= 36, "only %d vectors had fingerprints", with_fp);

    XL_PHASE("rejected schemas");
    check_rejected("");
    check_rejected("{");
    check_rejected("42");
    check_rejected("\"Nope\""); /* unknown reference */
    check_rejected("{\"type\":\"nope\"}");
    check_rejected("{\"type\":{\"type\":\"int\"}}");         /* type is not a string */
    check_rejected("{\"name\":\"foo\",\"type\":\"fixed\"}"); /* no size */
    check_rejected("{\"name\":\"foo\",\"type\":\"fixed\",\"size\":-1}");
    check_rejected("{\"name\":\"foo\",\"type\":\"fixed\",\"size\":1.5}");
    check_rejected("{\"type\":\"enum\",\"symbols\":[\"A\"]}"); /* no name */
    check_rejected("{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[\"1A\"]}");
    check_rejected("{\"type\":\"enum\",\"name\":\"e\",\"symbols\":\"A\"}");
    check_rejected("{\"type\":\"record\",\"name\":\"a-b\",\"fields\":[]}");
    check_rejected("{\"type\":\"record\",\"name\":\"r\",\"namespace\":\"x..y\",\"fields\":[]}");
    check_rejected("{\"type\":\"record\",\"name\":\"r\"}");
    check_rejected("{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\"}]}");
    check_rejected("{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":\"r2\"}]}");
    check_rejected("{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}");
    check_rejected("[{\"type\":\"fixed\",\"name\":\"f\",\"size\":1},{\"type\":\"fixed\",\"name\":\"f\",\"size\":2}]");
    check_rejected("{\"type\":\"array\"}");
    check_rejected("{\"type\":\"map\",\"items\":\"int\"}");
    check_rejected("{\"type\":\"int\",\"type\":\"long\"}"); /* duplicate key */
    /* the spec resolves a dotless reference in the enclosing namespace only */
    check_rejected("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"enum\","
                   "\"name\":\"E\",\"symbols\":[\"A\"]}},{\"name\":\"b\",\"type\":{\"type\":\"record\",\"name\":"
                   "\"S\",\"namespace\":\"x\",\"fields\":[{\"name\":\"c\",\"type\":\"E\"}]}}]}");

    XL_PHASE("canonical form appends");
    {
        xl_buf_t out;
        char err[128];
        xl_buf_init(&out);
        xl_buf_append(&out, "ab", 2);
        XL_CHECK_INT(xl_schema_canonical_form(" \"int\" ", 7, &out, err, sizeof(err)), 0);
        XL_CHECK_STR(out.base, out.len, "ab\"int\"");
        xl_buf_dispose(&out);
    }

    XL_PHASE("event schema");
    {
        static const char *const must[] = {
            "{\"name\":\"event_id\",\"type\":\"string\"}",
            "{\"name\":\"parent_audit_id\",\"type\":[\"null\",\"long\"]}",
            "{\"name\":\"time\",\"type\":\"long\"}",
            "{\"name\":\"ingest_time\",\"type\":\"long\"}",
            "{\"name\":\"type\",\"type\":{\"name\":\"execlog.EventType\",\"type\":\"enum\",\"symbols\":[\"created\","
            "\"started\",\"progress\",\"paused\",\"resumed\",\"warning\",\"succeeded\",\"failed\","
            "\"cancel_requested\",\"cancelled\",\"task_started\",\"task_progress\",\"task_finished\","
            "\"task_failed\",\"metrics\",\"log\",\"task_waiting\",\"task_skipped\",\"task_cancelled\","
            "\"pause_requested\",\"resume_requested\",\"force_cancel_requested\",\"retry_requested\"]}}",
            "{\"name\":\"status\",\"type\":[\"null\",{\"name\":\"execlog.Status\",\"type\":\"enum\",\"symbols\":"
            "[\"queued\",\"running\",\"paused\",\"cancelling\",\"succeeded\",\"warning\",\"failed\","
            "\"cancelled\",\"waiting\",\"skipped\"]}]}",
            "{\"name\":\"error\",\"type\":[\"null\",{\"name\":\"execlog.Error\",\"type\":\"record\",\"fields\":["
            "{\"name\":\"class\",\"type\":\"string\"},{\"name\":\"message\",\"type\":\"string\"},"
            "{\"name\":\"stack\",\"type\":[\"null\",\"string\"]}]}]}",
            "{\"name\":\"warnings\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}",
            "{\"name\":\"metrics\",\"type\":{\"type\":\"map\",\"values\":\"long\"}}",
            "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},",
            "{\"name\":\"steps\",\"type\":{\"type\":\"array\",\"items\":{\"name\":\"execlog.Step\"",
            "{\"name\":\"traceparent\",\"type\":[\"null\",\"string\"]},",
            "{\"name\":\"top_execution_id\",\"type\":[\"null\",\"long\"]}]}",
            NULL};
        static const char *const must_not[] = {"logicalType", "doc", "default", "namespace", NULL};
        check_embedded(xl_event_schema_json(), xl_event_schema_fingerprint(),
                       "{\"name\":\"execlog.ExecutionEvent\",\"type\":\"record\",\"fields\":[{\"name\":\"event_id\"",
                       must, must_not);
    }
    XL_PHASE("state schema");
    {
        static const char *const must[] = {
            "{\"name\":\"status\",\"type\":{\"name\":\"execlog.Status\",\"type\":\"enum\"",
            "{\"name\":\"created_ms\",\"type\":\"long\"}",
            "{\"name\":\"started_ms\",\"type\":[\"null\",\"long\"]}",
            "{\"name\":\"log_offset\",\"type\":\"long\"},",
            "{\"name\":\"tasks\",\"type\":{\"type\":\"array\",\"items\":{\"name\":\"execlog.Task\",\"type\":\"record\"",
            "{\"name\":\"status\",\"type\":\"execlog.Status\"}", /* a reference, by its full name */
            "{\"name\":\"type\",\"type\":{\"name\":\"execlog.EventType\",\"type\":\"enum\"",
            "{\"name\":\"status\",\"type\":\"execlog.Status\"}]}}},{\"name\":\"warnings_total\",\"type\":\"long\"},",
            "{\"name\":\"error\",\"type\":[\"null\",\"execlog.Error\"]}", /* a task's, by reference */
            "{\"name\":\"control_event_id\",\"type\":[\"null\",\"string\"]}]}",
            NULL};
        static const char *const must_not[] = {"logicalType", "doc", "default", NULL};
        check_embedded(xl_state_schema_json(), xl_state_schema_fingerprint(),
                       "{\"name\":\"execlog.ExecutionState\",\"type\":\"record\",\"fields\":[{\"name\":\"audit_id\"",
                       must, must_not);
        XL_CHECK(xl_state_schema_fingerprint() != xl_event_schema_fingerprint(), "distinct fingerprints");
    }
    return xl_test_finish();
}
