/*
 * Tests of ingest/validate.c: each kind of write (create, append, retry,
 * cancel, batch line) accepts exactly the fields of the README's contract,
 * fills the event from them, and names the offending field for every error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>
#include <jansson.h>

#include "ingest/validate.h"
#include "tests/test.h"

static h2o_mem_pool_t pool;

/* The result of one validation: the event, the errors, and the parsed body (kept alive for ev's strings). */
typedef struct {
    json_t *obj;
    json_t *errors;
    xl_event_t ev;
    size_t n;
} result_t;

static void result_free(result_t *r)
{
    json_decref(r->obj);
    json_decref(r->errors);
    memset(r, 0, sizeof(*r));
}

static result_t run(const char *json, int kind)
{
    result_t r;
    json_error_t jerr;
    memset(&r, 0, sizeof(r));
    r.obj = json_loads(json, 0, &jerr);
    if (r.obj == NULL) {
        fprintf(stderr, "bad test JSON %s: %s\n", json, jerr.text);
        abort();
    }
    r.errors = json_array();
    r.n = xl_validate_write(r.obj, kind, &r.ev, r.errors, &pool);
    return r;
}

/* Does errors name field? */
static int names(json_t *errors, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        const char *reason = json_string_value(json_object_get(e, "reason"));
        if (f != NULL && strcmp(f, field) == 0 && reason != NULL && reason[0] != '\0')
            return 1;
    }
    return 0;
}

static char *dump(json_t *j)
{
    static char buf[2048];
    char *s = json_dumps(j, JSON_COMPACT);
    snprintf(buf, sizeof(buf), "%s", s != NULL ? s : "?");
    free(s);
    return buf;
}

#define CHECK_VALID(json, kind)                                                                                        \
    do {                                                                                                               \
        result_t r_ = run(json, kind);                                                                                 \
        XL_CHECK(r_.n == 0 && json_array_size(r_.errors) == 0, "%s rejected: %s", json, dump(r_.errors));           \
        result_free(&r_);                                                                                              \
    } while (0)

/* invalid, with field among the errors */
#define CHECK_INVALID(json, kind, field)                                                                               \
    do {                                                                                                               \
        result_t r_ = run(json, kind);                                                                                 \
        XL_CHECK(r_.n > 0 && r_.n == json_array_size(r_.errors), "%s accepted (n=%zu)", json, r_.n);                \
        XL_CHECK(names(r_.errors, field), "%s: errors do not name '%s': %s", json, field, dump(r_.errors));         \
        result_free(&r_);                                                                                              \
    } while (0)

#define CHECK_XSTR(s, text) XL_CHECK_STR((s).base != NULL ? (s).base : "(null)", (s).base != NULL ? (s).len : 6, text)
#define CHECK_XNULL(s) XL_CHECK((s).base == NULL, "%s is not null", #s)

static void test_create(void)
{
    XL_PHASE("create: every field");
    result_t r = run("{\"flow_id\":\"nightly\",\"flow_name\":\"Nightly load\",\"tenant_id\":\"acme\","
                     "\"message_id\":\"msg-42\",\"trigger_type\":\"schedule\",\"started_by\":\"cron\","
                     "\"parent_audit_id\":1234,\"parent_execution_id\":5678,\"attributes\":{\"env\":\"prod\",\"k\":\"\"},"
                     "\"event_id\":\"run-1\",\"time\":1700000000000,\"message\":\"hello\"}",
                     XL_WRITE_CREATE);
    XL_CHECK(r.n == 0, "valid create rejected: %s", dump(r.errors));
    CHECK_XSTR(r.ev.flow_id, "nightly");
    CHECK_XSTR(r.ev.flow_name, "Nightly load");
    CHECK_XSTR(r.ev.tenant_id, "acme");
    CHECK_XSTR(r.ev.message_id, "msg-42");
    CHECK_XSTR(r.ev.trigger_type, "schedule");
    CHECK_XSTR(r.ev.started_by, "cron");
    CHECK_XSTR(r.ev.event_id, "run-1");
    CHECK_XSTR(r.ev.message, "hello");
    XL_CHECK_INT(r.ev.parent_audit_id, 1234);
    XL_CHECK_INT(r.ev.parent_execution_id, 5678);
    XL_CHECK_INT(r.ev.time_ms, 1700000000000LL);
    XL_CHECK_INT(r.ev.type, XL_EVENT_CREATED);
    XL_CHECK_INT(r.ev.status, XL_STATUS_NONE);
    XL_CHECK_INT(r.ev.audit_id, 0);
    XL_CHECK_INT(r.ev.nattributes, 2);
    int env = 0, k = 0;
    for (size_t i = 0; i < r.ev.nattributes; ++i) {
        xl_attr_t *a = &r.ev.attributes[i];
        if (a->key.len == 3 && memcmp(a->key.base, "env", 3) == 0)
            env = a->value.len == 4 && memcmp(a->value.base, "prod", 4) == 0;
        if (a->key.len == 1 && a->key.base[0] == 'k')
            k = a->value.len == 0;
    }
    XL_CHECK(env && k, "attributes not read back: env=%d k=%d", env, k);
    result_free(&r);

    XL_PHASE("create: minimal");
    r = run("{\"flow_id\":\"f\"}", XL_WRITE_CREATE);
    XL_CHECK(r.n == 0, "%s", dump(r.errors));
    CHECK_XSTR(r.ev.flow_id, "f");
    CHECK_XNULL(r.ev.flow_name);
    CHECK_XNULL(r.ev.tenant_id);
    CHECK_XNULL(r.ev.event_id);
    XL_CHECK_INT(r.ev.time_ms, 0);
    XL_CHECK_INT(r.ev.parent_audit_id, 0);
    XL_CHECK_INT(r.ev.nattributes, 0);
    result_free(&r);

    XL_PHASE("create: nulls mean absent");
    r = run("{\"flow_id\":\"f\",\"flow_name\":null,\"tenant_id\":null,\"parent_audit_id\":null}", XL_WRITE_CREATE);
    XL_CHECK(r.n == 0, "%s", dump(r.errors));
    CHECK_XNULL(r.ev.flow_name);
    CHECK_XNULL(r.ev.tenant_id);
    XL_CHECK_INT(r.ev.parent_audit_id, 0);
    result_free(&r);

    XL_PHASE("create: errors");
    CHECK_INVALID("{}", XL_WRITE_CREATE, "flow_id");
    CHECK_INVALID("{\"flow_name\":\"x\"}", XL_WRITE_CREATE, "flow_id");
    CHECK_INVALID("{\"flow_id\":null}", XL_WRITE_CREATE, "flow_id"); /* required: null is not a value */
    CHECK_INVALID("{\"flow_id\":5}", XL_WRITE_CREATE, "flow_id");
    CHECK_INVALID("{\"flow_id\":\"\"}", XL_WRITE_CREATE, "flow_id");
    CHECK_INVALID("{\"flow_id\":[\"f\"]}", XL_WRITE_CREATE, "flow_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"flow_name\":7}", XL_WRITE_CREATE, "flow_name");
    CHECK_INVALID("{\"flow_id\":\"f\",\"tenant_id\":\"\"}", XL_WRITE_CREATE, "tenant_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"event_id\":\"\"}", XL_WRITE_CREATE, "event_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"event_id\":12}", XL_WRITE_CREATE, "event_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"flw_name\":\"x\"}", XL_WRITE_CREATE, "flw_name");
    CHECK_INVALID("{\"flow_id\":\"f\",\"type\":\"started\"}", XL_WRITE_CREATE, "type");
    CHECK_INVALID("{\"flow_id\":\"f\",\"task\":\"t\"}", XL_WRITE_CREATE, "task");
    CHECK_INVALID("{\"flow_id\":\"f\",\"metrics\":{}}", XL_WRITE_CREATE, "metrics");
    CHECK_INVALID("{\"flow_id\":\"f\",\"warnings\":[]}", XL_WRITE_CREATE, "warnings");
    CHECK_INVALID("{\"flow_id\":\"f\",\"error\":{\"class\":\"c\"}}", XL_WRITE_CREATE, "error");
    CHECK_INVALID("{\"flow_id\":\"f\",\"audit_id\":5}", XL_WRITE_CREATE, "audit_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"parent_audit_id\":0}", XL_WRITE_CREATE, "parent_audit_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"parent_audit_id\":-3}", XL_WRITE_CREATE, "parent_audit_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"parent_audit_id\":\"12\"}", XL_WRITE_CREATE, "parent_audit_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"parent_audit_id\":1.5}", XL_WRITE_CREATE, "parent_audit_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"parent_audit_id\":9007199254740992}", XL_WRITE_CREATE, "parent_audit_id");
    CHECK_VALID("{\"flow_id\":\"f\",\"parent_audit_id\":9007199254740991}", XL_WRITE_CREATE);
    CHECK_INVALID("{\"flow_id\":\"f\",\"parent_execution_id\":0}", XL_WRITE_CREATE, "parent_execution_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"time\":-1}", XL_WRITE_CREATE, "time");
    CHECK_INVALID("{\"flow_id\":\"f\",\"time\":\"now\"}", XL_WRITE_CREATE, "time");
    CHECK_INVALID("{\"flow_id\":\"f\",\"time\":1.5}", XL_WRITE_CREATE, "time");
    CHECK_INVALID("{\"flow_id\":\"f\",\"attributes\":{\"a\":1}}", XL_WRITE_CREATE, "attributes.a");
    CHECK_INVALID("{\"flow_id\":\"f\",\"attributes\":[\"a\"]}", XL_WRITE_CREATE, "attributes");
    CHECK_INVALID("{\"flow_id\":\"f\",\"message\":5}", XL_WRITE_CREATE, "message");

    XL_PHASE("create: several errors at once");
    r = run("{\"flow_id\":5,\"bogus\":1,\"time\":-1}", XL_WRITE_CREATE);
    XL_CHECK_INT(r.n, 3);
    XL_CHECK(names(r.errors, "flow_id") && names(r.errors, "bogus") && names(r.errors, "time"), "%s",
             dump(r.errors));
    result_free(&r);

    XL_PHASE("create: errors are appended, the count is of new ones");
    r.obj = json_loads("{\"bogus\":1,\"flow_id\":\"f\"}", 0, NULL);
    r.errors = json_array();
    xl_validate_error(r.errors, "earlier", "kept");
    r.n = xl_validate_write(r.obj, XL_WRITE_CREATE, &r.ev, r.errors, &pool);
    XL_CHECK_INT(r.n, 1);
    XL_CHECK_INT(json_array_size(r.errors), 2);
    XL_CHECK(names(r.errors, "earlier") && names(r.errors, "bogus"), "%s", dump(r.errors));
    result_free(&r);

    XL_PHASE("create: string limits");
    size_t len = XL_FIELD_MAX_TEXT + 64;
    char *json = malloc(len + 64), *big = malloc(len + 1);
    memset(big, 'x', len);
    big[XL_FIELD_MAX_STRING] = '\0';
    snprintf(json, len + 64, "{\"flow_id\":\"%s\"}", big);
    CHECK_VALID(json, XL_WRITE_CREATE);
    big[XL_FIELD_MAX_STRING] = 'x';
    big[XL_FIELD_MAX_STRING + 1] = '\0';
    snprintf(json, len + 64, "{\"flow_id\":\"%s\"}", big);
    CHECK_INVALID(json, XL_WRITE_CREATE, "flow_id");
    big[XL_FIELD_MAX_STRING + 1] = 'x';
    big[XL_FIELD_MAX_TEXT] = '\0';
    snprintf(json, len + 64, "{\"flow_id\":\"f\",\"message\":\"%s\"}", big);
    CHECK_VALID(json, XL_WRITE_CREATE);
    big[XL_FIELD_MAX_TEXT] = 'x';
    big[XL_FIELD_MAX_TEXT + 1] = '\0';
    snprintf(json, len + 64, "{\"flow_id\":\"f\",\"message\":\"%s\"}", big);
    CHECK_INVALID(json, XL_WRITE_CREATE, "message");
    free(json);
    free(big);
}

static void test_append(void)
{
    XL_PHASE("append: every field");
    result_t r = run("{\"type\":\"progress\",\"event_id\":\"e-1\",\"time\":42,\"message\":\"m\",\"task\":\"extract\","
                     "\"error\":{\"class\":\"IOError\",\"message\":\"disk full\",\"stack\":\"at x\"},"
                     "\"warnings\":[\"w1\",\"w2\"],\"metrics\":{\"rows\":1200,\"neg\":-5},\"attributes\":{\"a\":\"b\"}}",
                     XL_WRITE_APPEND);
    XL_CHECK(r.n == 0, "valid append rejected: %s", dump(r.errors));
    XL_CHECK_INT(r.ev.type, XL_EVENT_PROGRESS);
    CHECK_XSTR(r.ev.event_id, "e-1");
    CHECK_XSTR(r.ev.message, "m");
    CHECK_XSTR(r.ev.task, "extract");
    XL_CHECK_INT(r.ev.time_ms, 42);
    XL_CHECK_INT(r.ev.error.present, 1);
    CHECK_XSTR(r.ev.error.class_, "IOError");
    CHECK_XSTR(r.ev.error.message, "disk full");
    CHECK_XSTR(r.ev.error.stack, "at x");
    XL_CHECK_INT(r.ev.nwarnings, 2);
    if (r.ev.nwarnings == 2) {
        CHECK_XSTR(r.ev.warnings[0], "w1");
        CHECK_XSTR(r.ev.warnings[1], "w2");
    }
    XL_CHECK_INT(r.ev.nmetrics, 2);
    int64_t rows = 0, neg = 0;
    for (size_t i = 0; i < r.ev.nmetrics; ++i) {
        if (r.ev.metrics[i].name.len == 4 && memcmp(r.ev.metrics[i].name.base, "rows", 4) == 0)
            rows = r.ev.metrics[i].value;
        if (r.ev.metrics[i].name.len == 3 && memcmp(r.ev.metrics[i].name.base, "neg", 3) == 0)
            neg = r.ev.metrics[i].value;
    }
    XL_CHECK_INT(rows, 1200);
    XL_CHECK_INT(neg, -5);
    XL_CHECK_INT(r.ev.nattributes, 1);
    result_free(&r);

    XL_PHASE("append: every event type by name (the controls after cancel_requested have their own routes)");
    for (int t = XL_EVENT_CREATED + 1; t < XL_EVENT_PAUSE_REQUESTED; ++t) {
        char json[128];
        snprintf(json, sizeof(json), "{\"type\":\"%s\"}", xl_event_type_name(t));
        r = run(json, XL_WRITE_APPEND);
        XL_CHECK(r.n == 0, "%s rejected: %s", json, dump(r.errors));
        XL_CHECK_INT(r.ev.type, t);
        result_free(&r);
    }

    XL_PHASE("append: error without a stack");
    r = run("{\"type\":\"failed\",\"error\":{\"class\":\"Timeout\",\"message\":\"no answer\"}}", XL_WRITE_APPEND);
    XL_CHECK(r.n == 0, "error without the optional stack rejected: %s", dump(r.errors));
    XL_CHECK_INT(r.ev.error.present, 1);
    CHECK_XSTR(r.ev.error.class_, "Timeout");
    CHECK_XNULL(r.ev.error.stack);
    result_free(&r);
    XL_PHASE("append: error with only a message, or only a class");
    CHECK_VALID("{\"type\":\"failed\",\"error\":{\"message\":\"boom\"}}", XL_WRITE_APPEND);
    CHECK_VALID("{\"type\":\"failed\",\"error\":{\"class\":\"E42\"}}", XL_WRITE_APPEND);
    XL_PHASE("append: error null means none");
    r = run("{\"type\":\"failed\",\"error\":null}", XL_WRITE_APPEND);
    XL_CHECK(r.n == 0, "%s", dump(r.errors));
    XL_CHECK_INT(r.ev.error.present, 0);
    result_free(&r);

    XL_PHASE("append: null is absent for every optional field");
    r = run("{\"type\":\"progress\",\"event_id\":null,\"time\":null,\"task\":null,\"message\":null,"
            "\"error\":null,\"warnings\":null,\"metrics\":null,\"attributes\":null}",
            XL_WRITE_APPEND);
    XL_CHECK(r.n == 0, "%s", dump(r.errors));
    XL_CHECK_INT(r.ev.time_ms, 0);
    XL_CHECK_INT(r.ev.nwarnings, 0);
    XL_CHECK_INT(r.ev.nmetrics, 0);
    XL_CHECK_INT(r.ev.nattributes, 0);
    CHECK_XNULL(r.ev.task);
    result_free(&r);
    r = run("{\"flow_id\":\"f\",\"time\":null,\"attributes\":null,\"parent_execution_id\":null}", XL_WRITE_CREATE);
    XL_CHECK(r.n == 0, "%s", dump(r.errors));
    XL_CHECK_INT(r.ev.nattributes, 0);
    result_free(&r);
    r = run("{\"type\":null}", XL_WRITE_APPEND); /* required: reported once, as missing */
    XL_CHECK(r.n == 1, "%s", dump(r.errors));
    result_free(&r);

    XL_PHASE("append: errors");
    CHECK_INVALID("{}", XL_WRITE_APPEND, "type");
    CHECK_INVALID("{\"message\":\"m\"}", XL_WRITE_APPEND, "type");
    CHECK_INVALID("{\"type\":null}", XL_WRITE_APPEND, "type");
    CHECK_INVALID("{\"type\":\"exploded\"}", XL_WRITE_APPEND, "type");
    CHECK_INVALID("{\"type\":\"STARTED\"}", XL_WRITE_APPEND, "type");
    CHECK_INVALID("{\"type\":\"created\"}", XL_WRITE_APPEND, "type");
    CHECK_INVALID("{\"type\":5}", XL_WRITE_APPEND, "type");
    CHECK_INVALID("{\"type\":\"started\",\"flow_id\":\"f\"}", XL_WRITE_APPEND, "flow_id");
    CHECK_INVALID("{\"type\":\"started\",\"tenant_id\":\"t\"}", XL_WRITE_APPEND, "tenant_id");
    CHECK_INVALID("{\"type\":\"started\",\"audit_id\":5}", XL_WRITE_APPEND, "audit_id");
    CHECK_INVALID("{\"type\":\"started\",\"parent_audit_id\":5}", XL_WRITE_APPEND, "parent_audit_id");
    CHECK_INVALID("{\"type\":\"started\",\"trigger_type\":\"api\"}", XL_WRITE_APPEND, "trigger_type");
    CHECK_INVALID("{\"type\":\"progress\",\"metrics\":{\"rows\":\"many\"}}", XL_WRITE_APPEND, "metrics.rows");
    CHECK_INVALID("{\"type\":\"progress\",\"metrics\":{\"rows\":1.5}}", XL_WRITE_APPEND, "metrics.rows");
    CHECK_INVALID("{\"type\":\"progress\",\"metrics\":{\"rows\":null}}", XL_WRITE_APPEND, "metrics.rows");
    CHECK_INVALID("{\"type\":\"progress\",\"metrics\":[1]}", XL_WRITE_APPEND, "metrics");
    CHECK_INVALID("{\"type\":\"progress\",\"metrics\":7}", XL_WRITE_APPEND, "metrics");
    CHECK_INVALID("{\"type\":\"warning\",\"warnings\":\"w\"}", XL_WRITE_APPEND, "warnings");
    CHECK_INVALID("{\"type\":\"warning\",\"warnings\":[\"ok\",1]}", XL_WRITE_APPEND, "warnings");
    CHECK_INVALID("{\"type\":\"warning\",\"warnings\":{}}", XL_WRITE_APPEND, "warnings");
    CHECK_INVALID("{\"type\":\"failed\",\"error\":\"boom\"}", XL_WRITE_APPEND, "error");
    CHECK_INVALID("{\"type\":\"failed\",\"error\":{}}", XL_WRITE_APPEND, "error");
    CHECK_INVALID("{\"type\":\"failed\",\"error\":{\"code\":1}}", XL_WRITE_APPEND, "error");
    CHECK_INVALID("{\"type\":\"failed\",\"error\":{\"class\":5,\"message\":\"m\"}}", XL_WRITE_APPEND, "error.class");
    CHECK_INVALID("{\"type\":\"failed\",\"error\":{\"class\":\"c\",\"message\":[]}}", XL_WRITE_APPEND,
                  "error.message");
    CHECK_INVALID("{\"type\":\"failed\",\"error\":{\"class\":\"c\",\"stack\":1}}", XL_WRITE_APPEND, "error.stack");
    CHECK_INVALID("{\"type\":\"log\",\"task\":\"\"}", XL_WRITE_APPEND, "task");
    CHECK_INVALID("{\"type\":\"log\",\"attributes\":{\"a\":[]}}", XL_WRITE_APPEND, "attributes.a");

    XL_PHASE("append: entry limits");
    char *json = malloc(64 * 1024);
    for (int n = XL_FIELD_MAX_ENTRIES; n <= XL_FIELD_MAX_ENTRIES + 1; ++n) {
        int len = snprintf(json, 64 * 1024, "{\"type\":\"metrics\",\"metrics\":{");
        for (int i = 0; i < n; ++i)
            len += snprintf(json + len, (size_t)(64 * 1024 - len), "%s\"m%d\":%d", i ? "," : "", i, i);
        snprintf(json + len, (size_t)(64 * 1024 - len), "}}");
        if (n == XL_FIELD_MAX_ENTRIES) {
            r = run(json, XL_WRITE_APPEND);
            XL_CHECK(r.n == 0, "%d metrics rejected: %s", n, dump(r.errors));
            XL_CHECK_INT(r.ev.nmetrics, n);
            result_free(&r);
        } else {
            CHECK_INVALID(json, XL_WRITE_APPEND, "metrics");
        }
        len = snprintf(json, 64 * 1024, "{\"type\":\"warning\",\"warnings\":[");
        for (int i = 0; i < n; ++i)
            len += snprintf(json + len, (size_t)(64 * 1024 - len), "%s\"w%d\"", i ? "," : "", i);
        snprintf(json + len, (size_t)(64 * 1024 - len), "]}");
        if (n == XL_FIELD_MAX_ENTRIES)
            CHECK_VALID(json, XL_WRITE_APPEND);
        else
            CHECK_INVALID(json, XL_WRITE_APPEND, "warnings");
    }
    free(json);
}

static void test_retry_cancel(void)
{
    XL_PHASE("retry");
    CHECK_VALID("{}", XL_WRITE_RETRY);
    result_t r = run("{\"event_id\":\"r-1\",\"trigger_type\":\"retry\",\"started_by\":\"ops\",\"attributes\":{\"a\":\"b\"},"
                     "\"time\":7,\"message\":\"again\"}",
                     XL_WRITE_RETRY);
    XL_CHECK(r.n == 0, "valid retry rejected: %s", dump(r.errors));
    CHECK_XSTR(r.ev.event_id, "r-1");
    CHECK_XSTR(r.ev.trigger_type, "retry");
    CHECK_XSTR(r.ev.started_by, "ops");
    XL_CHECK_INT(r.ev.time_ms, 7);
    XL_CHECK_INT(r.ev.type, XL_EVENT_CREATED);
    result_free(&r);
    CHECK_INVALID("{\"flow_id\":\"f\"}", XL_WRITE_RETRY, "flow_id");
    CHECK_INVALID("{\"type\":\"started\"}", XL_WRITE_RETRY, "type");
    CHECK_INVALID("{\"parent_audit_id\":5}", XL_WRITE_RETRY, "parent_audit_id");
    CHECK_INVALID("{\"tenant_id\":\"t\"}", XL_WRITE_RETRY, "tenant_id");
    CHECK_INVALID("{\"metrics\":{\"a\":1}}", XL_WRITE_RETRY, "metrics");

    XL_PHASE("cancel");
    CHECK_VALID("{}", XL_WRITE_CANCEL);
    r = run("{\"event_id\":\"c-1\",\"time\":9,\"message\":\"user asked\"}", XL_WRITE_CANCEL);
    XL_CHECK(r.n == 0, "valid cancel rejected: %s", dump(r.errors));
    CHECK_XSTR(r.ev.message, "user asked");
    CHECK_XSTR(r.ev.event_id, "c-1");
    result_free(&r);
    CHECK_INVALID("{\"type\":\"cancelled\"}", XL_WRITE_CANCEL, "type");
    CHECK_INVALID("{\"flow_id\":\"f\"}", XL_WRITE_CANCEL, "flow_id");
    CHECK_INVALID("{\"metrics\":{}}", XL_WRITE_CANCEL, "metrics");
    CHECK_INVALID("{\"trigger_type\":\"x\"}", XL_WRITE_CANCEL, "trigger_type");
}

static void test_batch(void)
{
    XL_PHASE("batch line: a create");
    result_t r = run("{\"flow_id\":\"f\",\"tenant_id\":\"t\"}", XL_WRITE_BATCH);
    XL_CHECK(r.n == 0, "%s", dump(r.errors));
    XL_CHECK_INT(r.ev.audit_id, 0);
    CHECK_XSTR(r.ev.flow_id, "f");
    result_free(&r);
    CHECK_INVALID("{\"type\":\"started\"}", XL_WRITE_BATCH, "flow_id");
    CHECK_INVALID("{\"flow_id\":\"f\",\"type\":\"started\"}", XL_WRITE_BATCH, "type");

    XL_PHASE("batch line: an append");
    r = run("{\"audit_id\":4242,\"type\":\"started\",\"metrics\":{\"a\":1}}", XL_WRITE_BATCH);
    XL_CHECK(r.n == 0, "%s", dump(r.errors));
    XL_CHECK_INT(r.ev.audit_id, 4242);
    XL_CHECK_INT(r.ev.type, XL_EVENT_STARTED);
    XL_CHECK_INT(r.ev.nmetrics, 1);
    result_free(&r);
    CHECK_INVALID("{\"audit_id\":4242}", XL_WRITE_BATCH, "type");
    CHECK_INVALID("{\"audit_id\":4242,\"type\":\"log\",\"flow_id\":\"f\"}", XL_WRITE_BATCH, "flow_id");
    CHECK_INVALID("{\"audit_id\":\"4242\",\"type\":\"log\"}", XL_WRITE_BATCH, "audit_id");
    CHECK_INVALID("{\"audit_id\":0,\"type\":\"log\"}", XL_WRITE_BATCH, "audit_id");
    CHECK_INVALID("{\"audit_id\":9007199254740992,\"type\":\"log\"}", XL_WRITE_BATCH, "audit_id");
    /* a line that names no execution cannot be an append: null is not an audit ID */
    CHECK_INVALID("{\"audit_id\":null,\"type\":\"log\"}", XL_WRITE_BATCH, "audit_id");

    XL_PHASE("not an object");
    static const char *const notobj[] = {"[]", "[{\"flow_id\":\"f\"}]", "\"flow\"", "5", "null", "true"};
    for (size_t i = 0; i < sizeof(notobj) / sizeof(notobj[0]); ++i) {
        static const int kinds[] = {XL_WRITE_CREATE, XL_WRITE_APPEND, XL_WRITE_RETRY, XL_WRITE_CANCEL, XL_WRITE_BATCH};
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); ++k) {
            json_error_t jerr;
            json_t *obj = json_loads(notobj[i], JSON_DECODE_ANY, &jerr), *errors = json_array();
            xl_event_t ev;
            size_t n = xl_validate_write(obj, kinds[k], &ev, errors, &pool);
            XL_CHECK(n == 1 && names(errors, ""), "%s as kind %d: %s", notobj[i], kinds[k], dump(errors));
            json_decref(obj);
            json_decref(errors);
        }
    }
}

/* The fields of schema version 2: structured values, the plan, the ETLWorks extras, and their bounds. */
static void test_v2_fields(void)
{
    XL_PHASE("v2: create with input, a plan and a schedule event");
    result_t r = run("{\"flow_id\":\"f\",\"input\":{\"b\": [1, 2.5, null], \"a\": \"x\"},"
                     "\"steps\":[{\"name\":\"extract\",\"type\":\"sql\"},{\"name\":\"load\",\"depends_on\":[\"extract\"]}],"
                     "\"schedule_event_id\":9007199254740991,\"schedule_event_name\":\"nightly\"}",
                     XL_WRITE_CREATE);
    XL_CHECK(r.n == 0, "valid create rejected: %s", dump(r.errors));
    CHECK_XSTR(r.ev.input, "{\"b\":[1,2.5,null],\"a\":\"x\"}"); /* compact, members in the sender's order */
    XL_CHECK(r.ev.nsteps == 2, "nsteps %zu", r.ev.nsteps);
    if (r.ev.nsteps == 2) {
        CHECK_XSTR(r.ev.steps[0].name, "extract");
        CHECK_XSTR(r.ev.steps[0].type, "sql");
        CHECK_XNULL(r.ev.steps[1].type);
        XL_CHECK_INT(r.ev.steps[1].ndepends_on, 1);
        CHECK_XSTR(r.ev.steps[1].depends_on[0], "extract");
    }
    XL_CHECK_INT(r.ev.schedule_event_id, 9007199254740991LL);
    CHECK_XSTR(r.ev.schedule_event_name, "nightly");
    result_free(&r);
    CHECK_VALID("{\"flow_id\":\"f\",\"input\":\"just a string\"}", XL_WRITE_CREATE);
    CHECK_VALID("{\"flow_id\":\"f\",\"input\":null}", XL_WRITE_CREATE);

    XL_PHASE("v2: append with output, log, code and file metrics");
    r = run("{\"type\":\"failed\",\"output\":[true],\"log\":\"l1\\nl2\",\"code\":\"select 1\",\"error_location\":3,"
            "\"file_metrics\":[{\"name\":\"in.csv\",\"metrics\":{\"records\":10}},{\"name\":\"out.csv\"}]}",
            XL_WRITE_APPEND);
    XL_CHECK(r.n == 0, "valid append rejected: %s", dump(r.errors));
    CHECK_XSTR(r.ev.output, "[true]");
    CHECK_XSTR(r.ev.log, "l1\nl2");
    CHECK_XSTR(r.ev.code, "select 1");
    XL_CHECK_INT(r.ev.error_location, 3);
    XL_CHECK(r.ev.nfile_metrics == 2, "nfile_metrics %zu", r.ev.nfile_metrics);
    if (r.ev.nfile_metrics == 2) {
        CHECK_XSTR(r.ev.file_metrics[0].name, "in.csv");
        XL_CHECK(r.ev.file_metrics[0].nmetrics == 1 && r.ev.file_metrics[0].metrics[0].value == 10, "file metric");
        XL_CHECK_INT(r.ev.file_metrics[1].nmetrics, 0);
    }
    result_free(&r);

    XL_PHASE("v2: a control names a task");
    r = run("{\"task\":\"load\"}", XL_WRITE_CANCEL);
    XL_CHECK(r.n == 0, "control with task rejected: %s", dump(r.errors));
    CHECK_XSTR(r.ev.task, "load");
    result_free(&r);

    XL_PHASE("v2: bounds and shapes");
    char *big = malloc(XL_FIELD_MAX_JSON + 64);
    if (big == NULL)
        return;
    int n = snprintf(big, 32, "{\"flow_id\":\"f\",\"input\":\"");
    memset(big + n, 'x', XL_FIELD_MAX_JSON - 1); /* with its quotes: 1 byte over */
    strcpy(big + n + XL_FIELD_MAX_JSON - 1, "\"}");
    CHECK_INVALID(big, XL_WRITE_CREATE, "input");
    big[n + XL_FIELD_MAX_JSON - 2] = '"'; /* exactly the limit */
    strcpy(big + n + XL_FIELD_MAX_JSON - 1, "}");
    CHECK_VALID(big, XL_WRITE_CREATE);
    free(big);
    CHECK_INVALID("{\"flow_id\":\"f\",\"steps\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", XL_WRITE_CREATE, "steps");
    CHECK_INVALID("{\"flow_id\":\"f\",\"steps\":[{\"name\":\"a\",\"depends_on\":[\"b\"]}]}", XL_WRITE_CREATE, "steps");
    CHECK_INVALID("{\"flow_id\":\"f\",\"steps\":[{\"name\":\"\"}]}", XL_WRITE_CREATE, "steps");
    CHECK_INVALID("{\"flow_id\":\"f\",\"steps\":[{\"name\":\"a\",\"extra\":1}]}", XL_WRITE_CREATE, "steps");
    CHECK_INVALID("{\"flow_id\":\"f\",\"steps\":{}}", XL_WRITE_CREATE, "steps");
    CHECK_INVALID("{\"flow_id\":\"f\",\"schedule_event_id\":9007199254740992}", XL_WRITE_CREATE, "schedule_event_id");
    CHECK_INVALID("{\"type\":\"failed\",\"error_location\":0}", XL_WRITE_APPEND, "error_location");
    CHECK_INVALID("{\"type\":\"metrics\",\"file_metrics\":[{\"name\":\"a\",\"metrics\":{\"r\":\"1\"}}]}",
                  XL_WRITE_APPEND, "file_metrics");
    CHECK_INVALID("{\"type\":\"metrics\",\"file_metrics\":[{\"metrics\":{}}]}", XL_WRITE_APPEND, "file_metrics");
    CHECK_INVALID("{\"type\":\"progress\",\"steps\":[]}", XL_WRITE_APPEND, "steps");
    CHECK_INVALID("{\"flow_id\":\"f\",\"output\":1}", XL_WRITE_CREATE, "output");
    CHECK_INVALID("{\"task\":\"t\"}", XL_WRITE_RETRY, "task");
    CHECK_VALID("{\"type\":\"task_cancelled\",\"task\":\"t\"}", XL_WRITE_APPEND);
    CHECK_INVALID("{\"type\":\"pause_requested\"}", XL_WRITE_APPEND, "type"); /* a route of its own */
    CHECK_INVALID("{\"type\":\"retry_requested\"}", XL_WRITE_APPEND, "type");
}

/* ---- the fast path (xl_validate_scan) against the full one ------------------------------ */

static int xstr_eq(const xl_str_t *a, const xl_str_t *b)
{
    if ((a->base == NULL) != (b->base == NULL))
        return 0;
    return a->base == NULL || (a->len == b->len && memcmp(a->base, b->base, a->len) == 0);
}

/* The first field in which two events differ, or NULL. */
static const char *event_diff(const xl_event_t *a, const xl_event_t *b)
{
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
#define S_(f) {#f, offsetof(xl_event_t, f)}
        S_(event_id), S_(flow_id), S_(flow_name), S_(tenant_id), S_(message_id), S_(trigger_type), S_(started_by),
        S_(task), S_(message), S_(input), S_(output), S_(log), S_(code), S_(schedule_event_name), S_(traceparent),
        S_(error.class_), S_(error.message), S_(error.stack),
#undef S_
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); ++i)
        if (!xstr_eq((const xl_str_t *)((const char *)a + strs[i].off),
                     (const xl_str_t *)((const char *)b + strs[i].off)))
            return strs[i].name;
#define INT_(f)                                                                                                        \
    if (a->f != b->f)                                                                                                  \
        return #f;
    INT_(audit_id) INT_(parent_audit_id) INT_(root_audit_id) INT_(parent_execution_id) INT_(retries) INT_(type)
    INT_(status) INT_(time_ms) INT_(ingest_time_ms) INT_(error_location) INT_(schedule_event_id)
    INT_(top_execution_id) INT_(error.present) INT_(nwarnings) INT_(nsteps) INT_(nfile_metrics) INT_(nmetrics)
    INT_(nattributes)
#undef INT_
    for (size_t i = 0; i < a->nmetrics; ++i)
        if (!xstr_eq(&a->metrics[i].name, &b->metrics[i].name) || a->metrics[i].value != b->metrics[i].value)
            return "metrics";
    for (size_t i = 0; i < a->nattributes; ++i)
        if (!xstr_eq(&a->attributes[i].key, &b->attributes[i].key) ||
            !xstr_eq(&a->attributes[i].value, &b->attributes[i].value))
            return "attributes";
    return NULL;
}

static const int scan_kinds[] = {XL_WRITE_BATCH, XL_WRITE_CREATE, XL_WRITE_APPEND, XL_WRITE_RETRY, XL_WRITE_CANCEL};

/*
 * Feed line to both paths for every kind: where the fast path takes a line,
 * the full path must accept it too and fill the same event. @return the
 * kinds (bits) the fast path took.
 */
static int compare_paths(const char *line, size_t len)
{
    int took = 0;
    for (size_t k = 0; k < sizeof(scan_kinds) / sizeof(scan_kinds[0]); ++k) {
        int kind = scan_kinds[k];
        xl_event_t fast, full;
        if (!xl_validate_scan(line, len, kind, &fast, &pool))
            continue;
        took |= kind;
        json_error_t jerr;
        json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        XL_CHECK(obj != NULL, "the fast path took a line jansson refuses (kind %d): %.*s: %s", kind, (int)len, line,
                 jerr.text);
        if (obj == NULL)
            continue;
        json_t *errors = json_array();
        size_t n = xl_validate_write(obj, kind, &full, errors, &pool);
        XL_CHECK(n == 0, "the fast path took a line the full path refuses (kind %d): %.*s: %s", kind, (int)len, line,
                 dump(errors));
        if (n == 0) {
            const char *d = event_diff(&fast, &full);
            XL_CHECK(d == NULL, "kind %d: %s differs between the paths for %.*s", kind, d, (int)len, line);
        }
        json_decref(errors);
        json_decref(obj);
    }
    return took;
}

static void test_scan(void)
{
    XL_PHASE("scan: the common shapes take the fast path and match the full path");
    static const struct {
        const char *line;
        int kinds; /* where the fast path must take it */
    } common[] = {
        {"{\"audit_id\":377666547677184,\"type\":\"progress\",\"metrics\":{\"rows\":1}}", XL_WRITE_BATCH},
        {"{\"type\":\"progress\",\"metrics\":{\"rows\":1,\"bytes\":-20}}", XL_WRITE_APPEND},
        {" { \"audit_id\" : 12 ,\t\"type\" : \"log\" , \"message\" : \"caf\xc3\xa9\" }\r  ", XL_WRITE_BATCH},
        {"{\"audit_id\":12,\"type\":\"task_started\",\"task\":\"t1\",\"time\":0,\"event_id\":\"e-1\"}", XL_WRITE_BATCH},
        {"{\"audit_id\":12,\"type\":\"succeeded\",\"message\":\"\",\"attributes\":{\"k\":\"v\",\"k2\":\"\"}}",
         XL_WRITE_BATCH},
        {"{\"audit_id\":12,\"type\":\"metrics\",\"metrics\":{}}", XL_WRITE_BATCH},
        {"{\"flow_id\":\"bench-f1\",\"flow_name\":\"Bench flow 1\",\"tenant_id\":\"bench\","
         "\"trigger_type\":\"schedule\","
         "\"started_by\":\"bench\"}",
         XL_WRITE_BATCH | XL_WRITE_CREATE},
        {"{\"flow_id\":\"f\",\"parent_audit_id\":9007199254740991,\"schedule_event_id\":3,"
         "\"attributes\":{\"a\":\"b\"}}",
         XL_WRITE_BATCH | XL_WRITE_CREATE},
        {"{\"audit_id\":12,\"type\":\"failed\",\"error_location\":3,\"code\":\"E1\",\"log\":\"x\"}", XL_WRITE_BATCH},
        {"{\"event_id\":\"ev\",\"message\":\"please\"}", XL_WRITE_CANCEL},
        {"{\"started_by\":\"bob\",\"trigger_type\":\"manual\"}", XL_WRITE_RETRY},
    };
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); ++i) {
        int took = compare_paths(common[i].line, strlen(common[i].line));
        XL_CHECK((took & common[i].kinds) == common[i].kinds, "fast path not taken for %s (kinds %d of %d)",
                 common[i].line, took, common[i].kinds);
    }

    XL_PHASE("scan: what the fast path leaves to the full path");
    static const char *const unusual[] = {
        "{\"audit_id\":12,\"type\":\"log\",\"message\":\"a\\nb\"}",         /* an escape */
        "{\"audit_id\":12,\"type\":\"log\",\"type\":\"log\"}",               /* a key twice */
        "{\"audit_id\":12,\"type\":\"log\",\"metrics\":{\"a\":1,\"a\":2}}",  /* a metric twice */
        "{\"audit_id\":012,\"type\":\"log\"}",                               /* a leading zero */
        "{\"audit_id\":12,\"type\":\"log\",\"time\":1.5}",                   /* a fraction */
        "{\"audit_id\":12,\"type\":\"log\",\"time\":1e3}",                   /* an exponent */
        "{\"audit_id\":12,\"type\":\"log\",\"time\":-1}",                    /* out of range */
        "{\"audit_id\":0,\"type\":\"log\"}",                                 /* not an audit ID */
        "{\"audit_id\":9007199254740992,\"type\":\"log\"}",                  /* above 2^53 - 1 */
        "{\"audit_id\":1234567890123456789,\"type\":\"log\"}",               /* 19 digits */
        "{\"audit_id\":null,\"type\":\"log\"}",                              /* null */
        "{\"audit_id\":12,\"type\":\"created\"}",                            /* not a type to append */
        "{\"audit_id\":12,\"type\":\"pause_requested\"}",                    /* a control's own route */
        "{\"audit_id\":12,\"type\":\"exploded\"}",                           /* no such type */
        "{\"audit_id\":12}",                                                 /* type is required */
        "{\"flow_id\":\"\"}",                                                /* an empty identifier */
        "{\"audit_id\":12,\"type\":\"log\",\"colour\":\"red\"}",             /* an unknown field */
        "{\"audit_id\":12,\"type\":\"log\",\"flow_id\":\"f\"}",              /* a create's field on an append */
        "{\"audit_id\":12,\"type\":\"log\",\"warnings\":[\"w\"]}",           /* an array */
        "{\"audit_id\":12,\"type\":\"log\",\"error\":{\"class\":\"E\"}}",    /* a nested record */
        "{\"audit_id\":12,\"type\":\"log\",\"metrics\":{\"a\":\"1\"}}",      /* a string metric */
        "{\"audit_id\":12,\"type\":\"log\",\"attributes\":{\"a\":1}}",       /* an integer attribute */
        "{\"audit_id\":12,\"type\":\"log\",\"metrics\":{\"a\":1,\"b\":\"x\"}}", /* mixed */
        "{\"audit_id\":12,\"type\":\"log\",\"message\":\"\xff\"}",           /* not UTF-8 */
        "{\"audit_id\":12,\"type\":\"log\",\"message\":\"a\tb\"}",           /* a control character */
        "{\"audit_id\":12,\"type\":\"log\"} x",                              /* trailing bytes */
        "{\"audit_id\":12,\"type\":\"log\",}",                               /* a trailing comma */
        "{\"audit_id\":12,\"type\":\"log\"",                                 /* truncated */
        "[{\"audit_id\":12,\"type\":\"log\"}]",                              /* not an object */
        "{}",
        "",
    };
    for (size_t i = 0; i < sizeof(unusual) / sizeof(unusual[0]); ++i)
        XL_CHECK(compare_paths(unusual[i], strlen(unusual[i])) == 0, "the fast path took %s", unusual[i]);

    XL_PHASE("scan: mutated lines never make the paths disagree");
    /* every single-byte change, cut and insertion of a few telling bytes, on lines of each common shape */
    static const char *const bases[] = {
        "{\"audit_id\":12,\"type\":\"progress\",\"metrics\":{\"rows\":1,\"b\":-2},\"message\":\"m\",\"time\":5}",
        "{\"flow_id\":\"f\",\"tenant_id\":\"t\",\"parent_audit_id\":7,\"attributes\":{\"k\":\"v\"},\"event_id\":\"e\"}",
    };
    static const char bytes[] = "\"\\{}[]:,-0129 .eEa\x01\xc3";
    char buf[256];
    size_t took = 0;
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); ++b) {
        size_t len = strlen(bases[b]);
        for (size_t at = 0; at < len; ++at) {
            for (size_t c = 0; c < sizeof(bytes) - 1; ++c) {
                memcpy(buf, bases[b], len); /* replace */
                buf[at] = bytes[c];
                took += compare_paths(buf, len) != 0;
                memcpy(buf, bases[b], at); /* insert */
                buf[at] = bytes[c];
                memcpy(buf + at + 1, bases[b] + at, len - at);
                took += compare_paths(buf, len + 1) != 0;
            }
            took += compare_paths(bases[b], at) != 0; /* cut */
        }
    }
    XL_CHECK(took > 50, "the mutations exercised the fast path only %zu times", took);
}

int main(void)
{
    h2o_mem_init_pool(&pool);
    test_v2_fields();
    test_create();
    test_append();
    test_retry_cancel();
    test_batch();
    test_scan();
    h2o_mem_clear_pool(&pool);
    return xl_test_finish();
}
