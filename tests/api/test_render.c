/*
 * Tests of api/render.c: the JSON the read API shows for a state (every
 * documented key, tasks and anomalies), for one event, the ETLWorks
 * "get flow status" object (names, types, status mapping, exception and
 * warnings text, numeric flow IDs), and durations as text.
 */
#include <string.h>

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
    XL_CHECK_INT(json_integer_value(json_object_get(json_object_get(o, "metrics"), "rows")), 10);
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

int main(void)
{
    test_duration_text();
    test_state();
    test_etlworks();
    return xl_test_finish();
}
