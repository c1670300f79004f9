/*
 * Tests of api/render.c: the JSON the read API shows for a state (every
 * documented key, tasks and anomalies), for one event, the ETLWorks
 * "get flow status" object (names, types, status mapping, exception and
 * warnings text, numeric flow IDs), and durations as text; and that the
 * direct renderer (xl_render_state_buf) writes exactly what json_dumpb writes
 * for xl_render_state, on hand-made edge cases and on random states.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/compat_etlworks.h"
#include "api/render.h"
#include "tests/test.h"

#define S(lit) ((xl_str_t){(char *)(lit), sizeof(lit) - 1})

static void check_text(int64_t ms, const char *want)
{
    char out[96];
    xl_render_duration_text(ms, out, sizeof(out));
    XL_CHECK(strcmp(out, want) == 0, "%lld ms: '%s', expected '%s'", (long long)ms, out, want);
}

static void test_duration_text(void)
{
    XL_PHASE("durations as text");
    check_text(0, "0 ms");
    check_text(850, "850 ms");
    check_text(1000, "1.0 seconds");
    check_text(12500, "12.5 seconds");
    check_text(60000, "1 minute 0 seconds");
    check_text(65000, "1 minute 5 seconds");
    check_text(125000, "2 minutes 5 seconds");
    check_text(3600000 + 7000, "1 hour 0 minutes 7 seconds");
    check_text(86400000LL * 2 + 3600000 * 3 + 60000, "2 days 3 hours 1 minute");
    check_text(-5, "0 ms");
}

static xl_state_t sample_state(void)
{
    static xl_str_t warnings[] = {S("slow"), S("retrying")};
    static xl_metric_t metrics[] = {{S("rows"), 10}};
    static xl_task_t tasks[] = {{S("extract"), XL_STATUS_SUCCEEDED, 1100, 1200, 1, {NULL, 0}},
                                {S("load"), XL_STATUS_FAILED, 1250, 1300, 2, S("timeout")}};
    static xl_anomaly_t anomalies[] = {{10, XL_EVENT_STARTED, XL_STATUS_FAILED}};
    xl_state_t st;
    memset(&st, 0, sizeof(st));
    st.audit_id = 42;
    st.parent_audit_id = 41;
    st.root_audit_id = 40;
    st.retries = 2;
    st.flow_id = S("4242");
    st.flow_name = S("Nightly");
    st.tenant_id = S("acme");
    st.status = XL_STATUS_FAILED;
    st.created_ms = 1000;
    st.started_ms = 1100;
    st.ended_ms = 66100;
    st.updated_ms = 66100;
    st.last_seq = 10;
    st.anomalies = 1;
    st.error = (xl_error_t){1, S("IOError"), S("disk full"), S("at load()")};
    st.nwarnings = 2;
    st.warnings = warnings;
    st.nmetrics = 1;
    st.metrics = metrics;
    st.ntasks = 2;
    st.tasks = tasks;
    st.nanomaly_list = 1;
    st.anomaly_list = anomalies;
    st.log_partition = 3;
    st.log_offset = 17;
    return st;
}

static void test_state(void)
{
    XL_PHASE("state");
    xl_state_t st = sample_state();
    json_t *o = xl_render_state(&st);
    static const char *const keys[] = {"audit_id",   "parent_audit_id", "root_audit_id", "parent_execution_id",
                                       "retries",    "flow_id",         "flow_name",     "tenant_id",
                                       "message_id", "status",          "trigger_type",  "started_by",
                                       "created",    "started",         "ended",         "duration_ms",
                                       "updated",    "message",         "error",         "warnings",
                                       "metrics",    "attributes",      "tasks",         "events",
                                       "anomalies",  "anomaly_list",    "position"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i)
        XL_CHECK(json_object_get(o, keys[i]) != NULL, "state has no '%s'", keys[i]);
    XL_CHECK_INT(json_integer_value(json_object_get(o, "duration_ms")), 65000);
    XL_CHECK(json_is_null(json_object_get(o, "message_id")), "absent strings are null");
    json_t *t = json_array_get(json_object_get(o, "tasks"), 1);
    XL_CHECK(t != NULL && strcmp(json_string_value(json_object_get(t, "status")), "failed") == 0, "task status");
    XL_CHECK_INT(json_integer_value(json_object_get(t, "attempts")), 2);
    XL_CHECK_INT(json_integer_value(json_object_get(t, "duration_ms")), 50);
    json_t *a = json_array_get(json_object_get(o, "anomaly_list"), 0);
    XL_CHECK(a != NULL && strcmp(json_string_value(json_object_get(a, "type")), "started") == 0, "anomaly type");
    XL_CHECK_INT(json_integer_value(json_object_get(json_object_get(o, "position"), "offset")), 17);
    json_decref(o);

    XL_PHASE("attempt");
    o = xl_render_attempt(&st);
    XL_CHECK_INT(json_integer_value(json_object_get(o, "parent_audit_id")), 41);
    XL_CHECK(strcmp(json_string_value(json_object_get(json_object_get(o, "error"), "class")), "IOError") == 0,
             "attempt error");
    json_decref(o);
}

static void test_etlworks(void)
{
    XL_PHASE("ETLWorks object");
    xl_state_t st = sample_state();
    json_t *o = xl_render_etlworks(&st);
    XL_CHECK(json_is_integer(json_object_get(o, "flowId")) && json_integer_value(json_object_get(o, "flowId")) == 4242,
             "a decimal flow ID is a number");
    XL_CHECK(strcmp(json_string_value(json_object_get(o, "status")), "error") == 0, "failed -> error");
    XL_CHECK(strcmp(json_string_value(json_object_get(o, "duration")), "1 minute 5 seconds") == 0, "duration text");
    XL_CHECK(strcmp(json_string_value(json_object_get(o, "exception")), "IOError: disk full\nat load()") == 0,
             "exception: class, message and stack");
    XL_CHECK(strcmp(json_string_value(json_object_get(o, "warnings")), "slow\nretrying") == 0, "warnings text");
    XL_CHECK_INT(json_integer_value(json_object_get(o, "started")), 1100);
    XL_CHECK_INT(json_integer_value(json_object_get(o, "parentAuditId")), 41);
    json_t *m = json_array_get(json_object_get(o, "metrics"), 0);
    XL_CHECK(json_array_size(json_object_get(o, "metrics")) == 1 &&
                 strcmp(json_string_value(json_object_get(m, "name")), "rows") == 0,
             "metrics is a list of {name, value}");
    XL_CHECK_INT(json_integer_value(json_object_get(m, "value")), 10);
    static const char *const keys[] = {"auditId",  "parentAuditId", "retries",    "flowId",      "flowName",
                                       "eventId",  "eventName",     "messageId",  "tenantId",    "status",
                                       "triggerType", "startedBy",  "started",    "ended",       "duration",
                                       "code",     "exception",     "warnings",   "metrics",     "fileMetrics",
                                       "errorLocationInSql", "fileName", "records"};
    XL_CHECK_INT(json_object_size(o), 23);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i)
        XL_CHECK(json_object_get(o, keys[i]) != NULL, "key %s", keys[i]);
    XL_CHECK(json_is_string(json_object_get(o, "tenantId")), "a tenant that is no number stays a string");
    json_decref(o);

    /* the documented types: IDs from the attributes, numbers when decimal */
    static xl_attr_t attrs[] = {{S("code"), S("select 1")},
                                {S("error_location"), S("7")},
                                {S("file_metrics"), S("[{\"fileName\":\"a.csv\",\"records\":3}]")},
                                {S("schedule_event_id"), S("99")},
                                {S("schedule_event_name"), S("nightly")}};
    xl_state_t at = sample_state();
    at.attributes = attrs;
    at.nattributes = sizeof(attrs) / sizeof(attrs[0]);
    at.tenant_id = S("12");
    o = xl_render_etlworks(&at);
    XL_CHECK_INT(json_integer_value(json_object_get(o, "tenantId")), 12);
    XL_CHECK_INT(json_integer_value(json_object_get(o, "eventId")), 99);
    XL_CHECK_INT(json_integer_value(json_object_get(o, "errorLocationInSql")), 7);
    XL_CHECK(strcmp(json_string_value(json_object_get(o, "eventName")), "nightly") == 0, "eventName");
    XL_CHECK(strcmp(json_string_value(json_object_get(o, "code")), "select 1") == 0, "code");
    XL_CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(o, "fileMetrics"), 0), "records")),
                 3);
    json_decref(o);
    /* a run that succeeded after a failed task attempt reports no exception */
    at.status = XL_STATUS_SUCCEEDED;
    o = xl_render_etlworks(&at);
    XL_CHECK(json_is_null(json_object_get(o, "exception")), "no exception once the run succeeded");
    json_decref(o);

    static const struct {
        int status;
        const char *want;
    } map[] = {{XL_STATUS_QUEUED, "running"},     {XL_STATUS_RUNNING, "running"},   {XL_STATUS_PAUSED, "running"},
               {XL_STATUS_CANCELLING, "running"}, {XL_STATUS_SUCCEEDED, "success"}, {XL_STATUS_WARNING, "warning"},
               {XL_STATUS_FAILED, "error"},       {XL_STATUS_CANCELLED, "error"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); ++i) {
        st.status = map[i].status;
        o = xl_render_etlworks(&st);
        XL_CHECK(strcmp(json_string_value(json_object_get(o, "status")), map[i].want) == 0, "%s -> %s",
                 xl_status_name(map[i].status), map[i].want);
        json_decref(o);
    }
    static const char *const not_numbers[] = {"", "0042", "12a", "nightly", "12345678901234567"};
    for (size_t i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); ++i) {
        st.flow_id = (xl_str_t){(char *)not_numbers[i], strlen(not_numbers[i])};
        o = xl_render_etlworks(&st);
        XL_CHECK(json_is_string(json_object_get(o, "flowId")), "flow ID '%s' stays a string", not_numbers[i]);
        json_decref(o);
    }
}

/* ---- xl_render_state_buf against xl_render_state ------------------------------------ */

/* The fast text parses back to the tree, and is byte for byte jansson's compact dump. */
static void check_same_as(json_t *(*render_tree)(const xl_state_t *), int (*render_buf)(const xl_state_t *, xl_buf_t *),
                          const xl_state_t *st, const char *what)
{
    json_t *tree = render_tree(st);
    size_t want_len = tree != NULL ? json_dumpb(tree, NULL, 0, JSON_COMPACT) : 0;
    char *want = malloc(want_len + 1);
    XL_CHECK(tree != NULL && want != NULL, "%s: xl_render_state", what);
    if (tree == NULL || want == NULL) {
        free(want);
        json_decref(tree);
        return;
    }
    json_dumpb(tree, want, want_len, JSON_COMPACT);

    xl_buf_t out;
    xl_buf_init(&out);
    /* on top of earlier bytes: the renderer appends, it does not overwrite */
    int ret = xl_buf_append(&out, "xx", 2);
    XL_CHECK(ret == 0 && render_buf(st, &out) == 0, "%s: the direct renderer returns 0", what);
    XL_CHECK(out.len >= 2 && memcmp(out.base, "xx", 2) == 0, "%s: earlier bytes kept", what);
    const char *got = out.base + 2;
    size_t got_len = out.len - 2;

    json_error_t jerr;
    json_t *back = json_loadb(got, got_len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    XL_CHECK(back != NULL, "%s: fast text is valid JSON (%s at %d): %.*s", what, jerr.text, jerr.position,
             (int)got_len, got);
    XL_CHECK(back != NULL && json_equal(back, tree), "%s: json_equal to xl_render_state", what);
    XL_CHECK(got_len == want_len && memcmp(got, want, want_len) == 0, "%s: same bytes\n got: %.*s\nwant: %.*s", what,
             (int)got_len, got, (int)want_len, want);
    json_decref(back);
    xl_buf_dispose(&out);
    free(want);
    json_decref(tree);
}

/* the state (GET /v1/executions/{id}, lists, messages) and the attempt (lineage), each both ways */
static void check_same(const xl_state_t *st, const char *what)
{
    check_same_as(xl_render_state, xl_render_state_buf, st, what);
    char attempt[200];
    snprintf(attempt, sizeof(attempt), "%s (as an attempt)", what);
    check_same_as(xl_render_attempt, xl_render_attempt_buf, st, attempt);
}

static void test_fast_cases(void)
{
    XL_PHASE("direct rendering: hand-made states");
    xl_state_t st;
    memset(&st, 0, sizeof(st));
    check_same(&st, "all zero / null");

    st = sample_state();
    check_same(&st, "sample state");

    XL_PHASE("direct rendering: version-2 fields, task runs, a clamped duration");
    {
        xl_state_t v2 = sample_state();
        static xl_task_t tasks[1];
        static xl_task_run_t runs[2];
        static xl_metric_t fm[1];
        static xl_file_metric_t files[1];
        static xl_str_t deps[1];
        deps[0] = S("extract");
        runs[0] = (xl_task_run_t){1, XL_STATUS_FAILED, 1000, 900, {1, S("E"), S("m"), {NULL, 0}}}; /* ends first */
        runs[1] = (xl_task_run_t){2, XL_STATUS_RUNNING, 2000, 0, {0}};
        tasks[0] = (xl_task_t){.name = S("load"), .status = XL_STATUS_RUNNING, .started_ms = 1000, .attempts = 2,
                               .type = S("sql"), .ndepends_on = 1, .depends_on = deps, .input = S("{\"a\":[1,2]}"),
                               .output = S("not json"), .nruns = 2, .runs = runs};
        fm[0] = (xl_metric_t){S("records"), 12};
        files[0] = (xl_file_metric_t){S("in.csv"), 1, fm};
        v2.ntasks = 1;
        v2.tasks = tasks;
        v2.top_execution_id = 5;
        v2.input = S("[true,null]");
        v2.output = S("{\"x\":1.5}");
        v2.code = S("select 1");
        v2.error_location = 3;
        v2.nfile_metrics = 1;
        v2.file_metrics = files;
        v2.control_type = XL_EVENT_PAUSE_REQUESTED;
        v2.control_seq = 4;
        v2.control_event_id = S("ctl");
        v2.started_ms = 5000;
        v2.ended_ms = 4000; /* an end before the start */
        check_same(&v2, "version-2 fields");
        json_t *o = xl_render_state(&v2);
        XL_CHECK_INT(json_integer_value(json_object_get(o, "duration_ms")), 0);
        XL_CHECK(json_is_array(json_object_get(o, "input")), "input is a JSON value");
        XL_CHECK_INT(json_integer_value(json_object_get(o, "top_execution_id")), 5);
        json_t *t = json_array_get(json_object_get(o, "tasks"), 0);
        XL_CHECK(json_is_object(json_object_get(t, "input")), "task input is a JSON value");
        XL_CHECK(json_is_string(json_object_get(t, "output")), "text that is not JSON is a string");
        json_t *r0 = json_array_get(json_object_get(t, "runs"), 0), *r1 = json_array_get(json_object_get(t, "runs"), 1);
        XL_CHECK_INT(json_integer_value(json_object_get(r0, "attempt")), 2); /* newest first */
        XL_CHECK_INT(json_integer_value(json_object_get(r1, "duration_ms")), 0);
        XL_CHECK(strcmp(json_string_value(json_object_get(json_object_get(o, "control"), "type")),
                        "pause_requested") == 0,
                 "control");
        json_decref(o);
        json_t *sel = xl_render_select(xl_render_state(&v2), "status,top_execution_id,,nope", 29);
        XL_CHECK_INT(json_object_size(sel), 2);
        json_decref(sel);
    }

    /* every byte below 0x20, quotes, backslashes, slash, DEL, embedded NUL, UTF-8 of 2, 3 and 4 bytes */
    static char ctl[32];
    for (int i = 0; i < 32; ++i)
        ctl[i] = (char)i;
    static xl_str_t odd_warnings[] = {{ctl, sizeof(ctl)}, S("\"quoted\" \\back\\slash/ \x7f"), S(""),
                                      S("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), {NULL, 0}};
    static xl_metric_t odd_metrics[] = {{S("a\"b"), -1}, {S("\xc3\xa9t\xc3\xa9"), INT64_MAX}, {S("z\n"), INT64_MIN}};
    static xl_attr_t odd_attrs[] = {{S(""), S("empty key")}, {S("k\\"), {NULL, 0}}, {S("k\x01"), S("v\x1f")}};
    static xl_task_t odd_tasks[] = {{{NULL, 0}, -1, 0, 0, 0, {NULL, 0}},
                                    {S("t\t1"), XL_STATUS__COUNT, 5, 0, UINT32_MAX, S("m\r\n")},
                                    {S("\xe6\x97\xa5\xe6\x9c\xac"), XL_STATUS_CANCELLED, -10, -3, 7, S("")}};
    static xl_anomaly_t odd_anomalies[] = {{UINT32_MAX, -1, -1}, {0, XL_EVENT__COUNT, XL_STATUS__COUNT},
                                           {3, XL_EVENT_LOG, XL_STATUS_QUEUED}};
    st.audit_id = INT64_MAX;
    st.parent_audit_id = INT64_MIN;
    st.root_audit_id = -1;
    st.parent_execution_id = 9;
    st.retries = INT32_MIN;
    st.flow_id = S("f\"l\\o/w");
    st.flow_name = (xl_str_t){ctl, sizeof(ctl)};
    st.tenant_id = S("t\xc3\xa9nant");
    st.message_id = S("");
    st.status = -1;
    st.trigger_type = S("\x7f");
    st.started_by = S("\xf0\x9f\x98\x80");
    st.created_ms = 0;
    st.started_ms = 0;
    st.ended_ms = 5;
    st.updated_ms = -7;
    st.message = S("line1\nline2\ttab\b\f");
    st.error = (xl_error_t){1, {NULL, 0}, S("m\x00sg"), {NULL, 0}};
    st.warnings = odd_warnings;
    st.nwarnings = sizeof(odd_warnings) / sizeof(odd_warnings[0]);
    st.metrics = odd_metrics;
    st.nmetrics = sizeof(odd_metrics) / sizeof(odd_metrics[0]);
    st.attributes = odd_attrs;
    st.nattributes = sizeof(odd_attrs) / sizeof(odd_attrs[0]);
    st.tasks = odd_tasks;
    st.ntasks = sizeof(odd_tasks) / sizeof(odd_tasks[0]);
    st.anomaly_list = odd_anomalies;
    st.nanomaly_list = sizeof(odd_anomalies) / sizeof(odd_anomalies[0]);
    st.last_seq = UINT32_MAX;
    st.anomalies = UINT32_MAX;
    st.log_partition = INT32_MIN;
    st.log_offset = INT64_MIN;
    check_same(&st, "escapes, unicode, extremes, out-of-range names");

    st.status = XL_STATUS__COUNT;
    st.created_ms = 100;
    st.ended_ms = 0;
    check_same(&st, "created only, status past the table");

    /* names as a json_t object keeps them: a NULL name left out, a repeated one in its first place with its last value */
    static xl_metric_t dup_metrics[] = {{S("b"), 1}, {{NULL, 0}, 2}, {S("a"), 3}, {S("b"), 4}, {S("a"), 5}, {S("c"), 6}};
    static xl_attr_t dup_attrs[] = {{S("y"), S("1")}, {S("x"), S("2")}, {S("y"), {NULL, 0}}, {{NULL, 0}, S("n")},
                                    {S("x"), S("3")}};
    static xl_metric_t adj_metrics[] = {{S("a"), 1}, {S("a"), 2}, {S("b"), 3}};
    st.metrics = dup_metrics;
    st.nmetrics = sizeof(dup_metrics) / sizeof(dup_metrics[0]);
    st.attributes = dup_attrs;
    st.nattributes = sizeof(dup_attrs) / sizeof(dup_attrs[0]);
    check_same(&st, "unsorted and repeated metric and attribute names");
    st.metrics = adj_metrics;
    st.nmetrics = sizeof(adj_metrics) / sizeof(adj_metrics[0]);
    check_same(&st, "adjacent repeated metric names");

    /* a large state: the buffer grows many times */
    enum { NBIG = 300 };
    static xl_task_t big_tasks[NBIG];
    static char big_text[70000];
    for (size_t i = 0; i < sizeof(big_text); ++i)
        big_text[i] = (char)(i % 7 == 0 ? '\n' : i % 5 == 0 ? '"' : 'a' + (int)(i % 26));
    for (int i = 0; i < NBIG; ++i)
        big_tasks[i] = (xl_task_t){S("task"), i % XL_STATUS__COUNT, i, 2 * i, (uint32_t)i, {big_text, (size_t)i * 7}};
    memset(&st, 0, sizeof(st));
    st.audit_id = 1;
    st.message = (xl_str_t){big_text, sizeof(big_text)};
    st.tasks = big_tasks;
    st.ntasks = NBIG;
    check_same(&st, "large state");
}

/* ---- random states ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A random valid UTF-8 string into pool, or NULL (absent) now and then. */
static xl_str_t rnd_str(char **pool, int may_be_null)
{
    if (may_be_null && rnd() % 5 == 0)
        return (xl_str_t){NULL, 0};
    char *start = *pool, *p = start;
    size_t n = rnd() % 12;
    for (size_t i = 0; i < n; ++i) {
        uint32_t cp;
        switch (rnd() % 6) {
        case 0:
            cp = (uint32_t)(rnd() % 0x20); /* control, NUL included */
            break;
        case 1:
            cp = "\"\\/\x7f"[rnd() % 4];
            break;
        case 2:
            cp = 0x80 + (uint32_t)(rnd() % (0x800 - 0x80));
            break;
        case 3:
            do
                cp = 0x800 + (uint32_t)(rnd() % (0x10000 - 0x800));
            while (cp >= 0xd800 && cp <= 0xdfff);
            break;
        case 4:
            cp = 0x10000 + (uint32_t)(rnd() % (0x110000 - 0x10000));
            break;
        default:
            cp = 0x20 + (uint32_t)(rnd() % 0x5f);
        }
        if (cp < 0x80) {
            *p++ = (char)cp;
        } else if (cp < 0x800) {
            *p++ = (char)(0xc0 | cp >> 6);
            *p++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *p++ = (char)(0xe0 | cp >> 12);
            *p++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *p++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *p++ = (char)(0xf0 | cp >> 18);
            *p++ = (char)(0x80 | (cp >> 12 & 0x3f));
            *p++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *p++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *pool = p;
    return (xl_str_t){start, (size_t)(p - start)};
}

/* A random name for a map: jansson's parser refuses NUL in object keys, so none here. */
static xl_str_t rnd_key(char **pool)
{
    xl_str_t k = rnd_str(pool, 1);
    for (size_t i = 0; i < k.len; ++i)
        if (k.base[i] == '\0')
            k.base[i] = 'N';
    return k;
}

static int64_t rnd_int(void)
{
    switch (rnd() % 4) {
    case 0:
        return 0;
    case 1:
        return (int64_t)(rnd() % 100);
    case 2:
        return (int64_t)(rnd() >> 3) - ((int64_t)1 << 60); /* large, either sign; sums of two cannot overflow */
    default:
        return 1700000000000LL + (int64_t)(rnd() % 100000000);
    }
}

static void test_fast_random(void)
{
    XL_PHASE("direct rendering: random states");
    enum { N = 8 };
    static char text[64 * 1024];
    static xl_str_t warnings[N];
    static xl_metric_t metrics[N];
    static xl_attr_t attrs[N];
    static xl_task_t tasks[N];
    static xl_anomaly_t anomalies[N];
    for (int round = 0; round < 2000; ++round) {
        char *pool = text;
        xl_state_t st;
        memset(&st, 0, sizeof(st));
        st.audit_id = rnd_int();
        st.parent_audit_id = rnd_int();
        st.root_audit_id = rnd_int();
        st.parent_execution_id = rnd_int();
        st.retries = (int32_t)rnd_int();
        st.flow_id = rnd_str(&pool, 1);
        st.flow_name = rnd_str(&pool, 1);
        st.tenant_id = rnd_str(&pool, 1);
        st.message_id = rnd_str(&pool, 1);
        st.status = (int)(rnd() % (XL_STATUS__COUNT + 2)) - 1;
        st.trigger_type = rnd_str(&pool, 1);
        st.started_by = rnd_str(&pool, 1);
        st.created_ms = rnd_int();
        st.started_ms = rnd() % 2 ? st.created_ms + rnd_int() % 1000 : 0;
        st.ended_ms = rnd() % 2 ? st.created_ms + rnd_int() % 100000 : 0;
        st.updated_ms = rnd_int();
        st.message = rnd_str(&pool, 1);
        st.error = (xl_error_t){(int)(rnd() % 2), rnd_str(&pool, 1), rnd_str(&pool, 1), rnd_str(&pool, 1)};
        st.nwarnings = rnd() % N;
        for (size_t i = 0; i < st.nwarnings; ++i)
            warnings[i] = rnd_str(&pool, 1);
        st.warnings = warnings;
        /* names as the projector keeps them (sorted, unique) most of the time, arbitrary otherwise */
        int arbitrary = rnd() % 4 == 0;
        st.nmetrics = rnd() % N;
        for (size_t i = 0; i < st.nmetrics; ++i) {
            if (arbitrary) {
                metrics[i].name = rnd() % 3 ? rnd_key(&pool) : (xl_str_t){(char *)"dup", 3};
            } else {
                char *k = pool;
                pool += sprintf(pool, "m%02zu", i);
                metrics[i].name = (xl_str_t){k, (size_t)(pool - k)};
            }
            metrics[i].value = rnd_int() * (rnd() % 2 ? 1 : -1);
        }
        st.metrics = metrics;
        st.nattributes = rnd() % N;
        for (size_t i = 0; i < st.nattributes; ++i) {
            if (arbitrary) {
                attrs[i].key = rnd() % 3 ? rnd_key(&pool) : (xl_str_t){(char *)"dup", 3};
            } else {
                char *k = pool;
                pool += sprintf(pool, "a%02zu\xc3\xa9", i);
                attrs[i].key = (xl_str_t){k, (size_t)(pool - k)};
            }
            attrs[i].value = rnd_str(&pool, 1);
        }
        st.attributes = attrs;
        st.ntasks = rnd() % N;
        for (size_t i = 0; i < st.ntasks; ++i)
            tasks[i] = (xl_task_t){rnd_str(&pool, 1),         (int)(rnd() % (XL_STATUS__COUNT + 2)) - 1,
                                   rnd_int(),                 rnd() % 2 ? rnd_int() : 0,
                                   (uint32_t)(rnd() % 1000), rnd_str(&pool, 1)};
        st.tasks = tasks;
        st.nanomaly_list = rnd() % N;
        for (size_t i = 0; i < st.nanomaly_list; ++i)
            anomalies[i] = (xl_anomaly_t){(uint32_t)rnd(), (int)(rnd() % (XL_EVENT__COUNT + 2)) - 1,
                                          (int)(rnd() % (XL_STATUS__COUNT + 2)) - 1};
        st.anomaly_list = anomalies;
        st.last_seq = (uint32_t)rnd();
        st.anomalies = (uint32_t)(rnd() % 3);
        st.log_partition = (int32_t)(rnd() % 64);
        st.log_offset = rnd_int();
        char what[32];
        snprintf(what, sizeof(what), "random state %d", round);
        check_same(&st, what);
    }
}

int main(void)
{
    test_duration_text();
    test_state();
    test_etlworks();
    test_fast_cases();
    test_fast_random();
    return xl_test_finish();
}
