/*
 * Tests for schemas/event.c: round trips of every event type with every field
 * filled and with every optional field null, arrays and maps of 0, 1 and many
 * entries, the name tables, encode-side validation, every way a frame can be
 * broken (empty, bad magic, unknown fingerprint, each truncation, trailing
 * bytes, oversize, hostile length prefixes and counts, random bytes and
 * mutations with a fixed seed), older writer schemas, the state codec, and
 * codecs on several threads at once.
 */
#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/event.h"
#include "schemas/fingerprint.h"
#include "tests/test.h"

/*
 * XL_REQUIRE for helpers that return void: stop the binary at once. cond is
 * evaluated once (it often encodes or writes something).
 */
#define MUST(cond, ...)                                                                                                \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            ++xl_test_passed;                                                                                          \
        } else {                                                                                                       \
            ++xl_test_failed;                                                                                          \
            fprintf(stderr, "%s:%d: [%s] required check failed: %s: ", __FILE__, __LINE__, xl_test_phase, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            exit(xl_test_finish());                                                                                    \
        }                                                                                                              \
    } while (0)

static xl_codec_t *codec;
static char err[512];

static xl_str_t S(const char *s)
{
    return (xl_str_t){(char *)s, strlen(s)};
}
static xl_str_t SN(const char *s, size_t n)
{
    return (xl_str_t){(char *)s, n};
}

/* ---- comparison --------------------------------------------------------------- */

static int str_eq(const xl_str_t *a, const xl_str_t *b)
{
    if ((a->base == NULL) != (b->base == NULL))
        return 0;
    return a->len == b->len && (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

static int error_eq(const xl_error_t *a, const xl_error_t *b)
{
    if (a->present != b->present)
        return 0;
    return !a->present ||
           (str_eq(&a->class_, &b->class_) && str_eq(&a->message, &b->message) && str_eq(&a->stack, &b->stack));
}

static int lists_eq(size_t na, const xl_str_t *wa, size_t nb, const xl_str_t *wb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; ++i)
        if (!str_eq(&wa[i], &wb[i]))
            return 0;
    return 1;
}

static int metrics_eq(size_t na, const xl_metric_t *a, size_t nb, const xl_metric_t *b)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; ++i)
        if (!str_eq(&a[i].name, &b[i].name) || a[i].value != b[i].value)
            return 0;
    return 1;
}

static int attrs_eq(size_t na, const xl_attr_t *a, size_t nb, const xl_attr_t *b)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; ++i)
        if (!str_eq(&a[i].key, &b[i].key) || !str_eq(&a[i].value, &b[i].value))
            return 0;
    return 1;
}

static int tasks_eq(size_t na, const xl_task_t *a, size_t nb, const xl_task_t *b)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; ++i)
        if (!str_eq(&a[i].name, &b[i].name) || a[i].status != b[i].status || a[i].started_ms != b[i].started_ms ||
            a[i].ended_ms != b[i].ended_ms || a[i].attempts != b[i].attempts || !str_eq(&a[i].message, &b[i].message))
            return 0;
    return 1;
}

static int anomalies_eq(size_t na, const xl_anomaly_t *a, size_t nb, const xl_anomaly_t *b)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; ++i)
        if (a[i].seq != b[i].seq || a[i].type != b[i].type || a[i].status != b[i].status)
            return 0;
    return 1;
}

#define DIFF(cond, name)                                                                                               \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            return name;                                                                                               \
    } while (0)

/* NULL if equal, else the first field that differs */
static const char *event_diff(const xl_event_t *a, const xl_event_t *b)
{
    DIFF(str_eq(&a->event_id, &b->event_id), "event_id");
    DIFF(a->audit_id == b->audit_id, "audit_id");
    DIFF(a->parent_audit_id == b->parent_audit_id, "parent_audit_id");
    DIFF(a->root_audit_id == b->root_audit_id, "root_audit_id");
    DIFF(a->parent_execution_id == b->parent_execution_id, "parent_execution_id");
    DIFF(a->retries == b->retries, "retries");
    DIFF(str_eq(&a->flow_id, &b->flow_id), "flow_id");
    DIFF(str_eq(&a->flow_name, &b->flow_name), "flow_name");
    DIFF(str_eq(&a->tenant_id, &b->tenant_id), "tenant_id");
    DIFF(str_eq(&a->message_id, &b->message_id), "message_id");
    DIFF(a->type == b->type, "type");
    DIFF(a->status == b->status, "status");
    DIFF(a->time_ms == b->time_ms, "time_ms");
    DIFF(a->ingest_time_ms == b->ingest_time_ms, "ingest_time_ms");
    DIFF(str_eq(&a->trigger_type, &b->trigger_type), "trigger_type");
    DIFF(str_eq(&a->started_by, &b->started_by), "started_by");
    DIFF(str_eq(&a->task, &b->task), "task");
    DIFF(str_eq(&a->message, &b->message), "message");
    DIFF(error_eq(&a->error, &b->error), "error");
    DIFF(lists_eq(a->nwarnings, a->warnings, b->nwarnings, b->warnings), "warnings");
    DIFF(metrics_eq(a->nmetrics, a->metrics, b->nmetrics, b->metrics), "metrics");
    DIFF(attrs_eq(a->nattributes, a->attributes, b->nattributes, b->attributes), "attributes");
    return NULL;
}

static const char *state_diff(const xl_state_t *a, const xl_state_t *b)
{
    DIFF(a->audit_id == b->audit_id, "audit_id");
    DIFF(a->parent_audit_id == b->parent_audit_id, "parent_audit_id");
    DIFF(a->root_audit_id == b->root_audit_id, "root_audit_id");
    DIFF(a->parent_execution_id == b->parent_execution_id, "parent_execution_id");
    DIFF(a->retries == b->retries, "retries");
    DIFF(str_eq(&a->flow_id, &b->flow_id), "flow_id");
    DIFF(str_eq(&a->flow_name, &b->flow_name), "flow_name");
    DIFF(str_eq(&a->tenant_id, &b->tenant_id), "tenant_id");
    DIFF(str_eq(&a->message_id, &b->message_id), "message_id");
    DIFF(str_eq(&a->trigger_type, &b->trigger_type), "trigger_type");
    DIFF(str_eq(&a->started_by, &b->started_by), "started_by");
    DIFF(a->status == b->status, "status");
    DIFF(a->created_ms == b->created_ms, "created_ms");
    DIFF(a->started_ms == b->started_ms, "started_ms");
    DIFF(a->ended_ms == b->ended_ms, "ended_ms");
    DIFF(a->updated_ms == b->updated_ms, "updated_ms");
    DIFF(a->last_seq == b->last_seq, "last_seq");
    DIFF(a->anomalies == b->anomalies, "anomalies");
    DIFF(str_eq(&a->message, &b->message), "message");
    DIFF(error_eq(&a->error, &b->error), "error");
    DIFF(lists_eq(a->nwarnings, a->warnings, b->nwarnings, b->warnings), "warnings");
    DIFF(metrics_eq(a->nmetrics, a->metrics, b->nmetrics, b->metrics), "metrics");
    DIFF(attrs_eq(a->nattributes, a->attributes, b->nattributes, b->attributes), "attributes");
    DIFF(a->log_partition == b->log_partition, "log_partition");
    DIFF(a->log_offset == b->log_offset, "log_offset");
    DIFF(tasks_eq(a->ntasks, a->tasks, b->ntasks, b->tasks), "tasks");
    DIFF(anomalies_eq(a->nanomaly_list, a->anomaly_list, b->nanomaly_list, b->anomaly_list), "anomaly_list");
    DIFF(a->warnings_total == b->warnings_total, "warnings_total");
    DIFF(a->top_execution_id == b->top_execution_id, "top_execution_id");
    DIFF(str_eq(&a->input, &b->input), "input");
    DIFF(str_eq(&a->output, &b->output), "output");
    DIFF(str_eq(&a->code, &b->code), "code");
    DIFF(a->error_location == b->error_location, "error_location");
    DIFF(a->schedule_event_id == b->schedule_event_id, "schedule_event_id");
    DIFF(str_eq(&a->schedule_event_name, &b->schedule_event_name), "schedule_event_name");
    DIFF(a->nfile_metrics == b->nfile_metrics, "file_metrics");
    for (size_t i = 0; i < a->nfile_metrics; ++i)
        DIFF(str_eq(&a->file_metrics[i].name, &b->file_metrics[i].name) &&
                 metrics_eq(a->file_metrics[i].nmetrics, a->file_metrics[i].metrics, b->file_metrics[i].nmetrics,
                            b->file_metrics[i].metrics),
             "file_metrics");
    DIFF(a->control_type == b->control_type, "control_type");
    DIFF(a->control_seq == b->control_seq, "control_seq");
    DIFF(str_eq(&a->control_event_id, &b->control_event_id), "control_event_id");
    return NULL;
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; ++i)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* ---- samples ------------------------------------------------------------------ */

static xl_str_t warnings3[3];
static xl_metric_t metrics3[3];
static xl_attr_t attrs3[3];
static xl_task_t tasks3[3];
static xl_anomaly_t anomalies2[2];

static void samples_init(void)
{
    warnings3[0] = S("disk almost full");
    warnings3[1] = S("");
    warnings3[2] = S("r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80");
    /* the projector passes them sorted; the codec keeps whatever order it is given */
    metrics3[0] = (xl_metric_t){S("rows_read"), 1234567};
    metrics3[1] = (xl_metric_t){S("bytes"), -1};
    metrics3[2] = (xl_metric_t){S("a"), INT64_MAX};
    attrs3[0] = (xl_attr_t){S("zone"), S("eu-west-1")};
    attrs3[1] = (xl_attr_t){S("empty"), S("")};
    attrs3[2] = (xl_attr_t){S("nul"), SN("a\0b", 3)};
    tasks3[0] = (xl_task_t){S(""), XL_STATUS_RUNNING, 0, 0, 0, {NULL, 0}}; /* progress without a start */
    tasks3[1] = (xl_task_t){S("extract"), XL_STATUS_FAILED, 10, 20, UINT32_MAX, S("boom")};
    tasks3[2] = (xl_task_t){S("load \xe2\x82\xac"), XL_STATUS_SUCCEEDED, 1, INT64_MAX, 2, SN("x\0y", 3)};
    anomalies2[0] = (xl_anomaly_t){7, XL_EVENT_STARTED, XL_STATUS_SUCCEEDED};
    anomalies2[1] = (xl_anomaly_t){UINT32_MAX, XL_EVENT_LOG, XL_STATUS_CANCELLED};
}

static xl_event_t full_event(int type)
{
    xl_event_t ev = {
        .event_id = S("evt-0001"),
        .audit_id = 4242,
        .parent_audit_id = 4241,
        .root_audit_id = 4200,
        .parent_execution_id = 17,
        .retries = 2,
        .flow_id = S("flow-etl-nightly"),
        .flow_name = S("Nightly ETL"),
        .tenant_id = S("acme"),
        .message_id = S("msg-\xe2\x82\xac"),
        .type = type,
        .status = type % XL_STATUS__COUNT,
        .time_ms = 1700000000123LL,
        .ingest_time_ms = 1700000000456LL,
        .trigger_type = S("schedule"),
        .started_by = S("scheduler@acme"),
        .task = S("extract"),
        .message = SN("line 1\nline 2\0tail", 18),
        .error = {.present = 1, .class_ = S("IOError"), .message = S("connection reset"), .stack = S("at x()\nat y()")},
        .nwarnings = 3,
        .warnings = warnings3,
        .nmetrics = 3,
        .metrics = metrics3,
        .nattributes = 3,
        .attributes = attrs3,
    };
    return ev;
}

static xl_event_t minimal_event(int type)
{
    xl_event_t ev = {
        .event_id = S("e"),
        .audit_id = 1,
        .root_audit_id = 1,
        .flow_id = S("f"),
        .type = type,
        .status = XL_STATUS_NONE,
        .time_ms = 0,
        .ingest_time_ms = 0,
    };
    return ev;
}

static xl_state_t full_state(void)
{
    xl_state_t st = {
        .audit_id = XL_AUDIT_ID_MAX,
        .parent_audit_id = 99,
        .root_audit_id = 98,
        .parent_execution_id = 7,
        .retries = 1,
        .flow_id = S("flow"),
        .flow_name = S("Flow"),
        .tenant_id = S("t"),
        .message_id = S("m"),
        .trigger_type = S("api"),
        .started_by = S("alice"),
        .status = XL_STATUS_WARNING,
        .created_ms = 1,
        .started_ms = 2,
        .ended_ms = 3,
        .updated_ms = 4,
        .last_seq = UINT32_MAX,
        .anomalies = 5,
        .message = S("done"),
        .error = {.present = 1, .class_ = S("E"), .message = S("m"), .stack = {NULL, 0}},
        .nwarnings = 3,
        .warnings = warnings3,
        .nmetrics = 3,
        .metrics = metrics3,
        .nattributes = 3,
        .attributes = attrs3,
        .log_partition = 11,
        .log_offset = INT64_MAX,
        .ntasks = 3,
        .tasks = tasks3,
        .nanomaly_list = 2,
        .anomaly_list = anomalies2,
    };
    return st;
}

/* ---- helpers ------------------------------------------------------------------ */

static int roundtrip(const xl_event_t *in, xl_event_t *out, xl_buf_t *frame)
{
    xl_buf_reset(frame);
    int rc = xl_event_encode(codec, in, frame, err, sizeof(err));
    XL_CHECK(rc == 0, "encode: %d %s", rc, err);
    if (rc != 0)
        return rc;
    rc = xl_event_decode(codec, frame->base, frame->len, out, err, sizeof(err));
    XL_CHECK(rc == 0, "decode: %d %s", rc, err);
    return rc;
}

static void check_roundtrip(const xl_event_t *in)
{
    xl_buf_t frame;
    xl_event_t out;
    xl_buf_init(&frame);
    if (roundtrip(in, &out, &frame) == 0) {
        const char *d = event_diff(in, &out);
        XL_CHECK(d == NULL, "field %s differs after the round trip", d);
        xl_event_dispose(&out);
        XL_CHECK(is_zero(&out, sizeof(out)), "dispose leaves the struct zeroed");
    }
    xl_buf_dispose(&frame);
}

/* decode must return expect; a failure must leave ev zeroed and say why */
static void check_decode_fails(const void *data, size_t len, int expect, const char *what)
{
    xl_event_t ev;
    memset(&ev, 0xa5, sizeof(ev));
    err[0] = '\0';
    int rc = xl_event_decode(codec, data, len, &ev, err, sizeof(err));
    XL_CHECK(rc == expect, "%s: rc %d, expected %d (%s)", what, rc, expect, err);
    if (rc == 0) {
        xl_event_dispose(&ev);
        return;
    }
    XL_CHECK(is_zero(&ev, sizeof(ev)), "%s: ev not zeroed", what);
    XL_CHECK(err[0] != '\0', "%s: no error message", what);
}

static void check_encode_fails(const xl_event_t *ev, int expect, const char *what)
{
    xl_buf_t out;
    xl_buf_init(&out);
    xl_buf_append(&out, "pre", 3);
    err[0] = '\0';
    int rc = xl_event_encode(codec, ev, &out, err, sizeof(err));
    XL_CHECK(rc == expect, "%s: rc %d, expected %d (%s)", what, rc, expect, err);
    XL_CHECK(out.len == 3 && memcmp(out.base, "pre", 3) == 0, "%s: out changed", what);
    XL_CHECK(err[0] != '\0', "%s: no error message", what);
    xl_buf_dispose(&out);
}

/* a valid header for a hand-made body */
static void frame_header(xl_buf_t *b, uint64_t fp)
{
    unsigned char h[10] = {0xc3, 0x01};
    for (int i = 0; i < 8; ++i, fp >>= 8)
        h[2 + i] = (unsigned char)fp;
    xl_buf_append(b, h, sizeof(h));
}

static void put_varint(xl_buf_t *b, int64_t v)
{
    uint64_t n = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char c;
    while (n & ~UINT64_C(0x7f)) {
        c = (unsigned char)((n & 0x7f) | 0x80);
        xl_buf_append(b, &c, 1);
        n >>= 7;
    }
    c = (unsigned char)n;
    xl_buf_append(b, &c, 1);
}

static void put_string(xl_buf_t *b, const char *s)
{
    put_varint(b, (int64_t)strlen(s));
    xl_buf_append(b, s, strlen(s));
}

static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);
static uint64_t rng(void)
{
    /* xorshift64*: fixed seed, same sequence on every run */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_names(void)
{
    XL_PHASE("names");
    for (int i = 0; i < XL_STATUS__COUNT; ++i) {
        const char *n = xl_status_name(i);
        XL_CHECK(n != NULL && xl_status_parse(n, strlen(n)) == i, "status %d", i);
    }
    for (int i = 0; i < XL_EVENT__COUNT; ++i) {
        const char *n = xl_event_type_name(i);
        XL_CHECK(n != NULL && xl_event_type_parse(n, strlen(n)) == i, "type %d", i);
    }
    XL_CHECK(strcmp(xl_status_name(XL_STATUS_CANCELLED), "cancelled") == 0, "cancelled");
    XL_CHECK(strcmp(xl_event_type_name(XL_EVENT_CANCEL_REQUESTED), "cancel_requested") == 0, "cancel_requested");
    XL_CHECK(strcmp(xl_event_type_name(XL_EVENT_LOG), "log") == 0, "log");
    XL_CHECK(xl_status_name(XL_STATUS_NONE) == NULL, "none has no name");
    XL_CHECK(xl_status_name(XL_STATUS__COUNT) == NULL, "past the end");
    XL_CHECK(xl_event_type_name(-1) == NULL && xl_event_type_name(XL_EVENT__COUNT) == NULL, "out of range");
    XL_CHECK_INT(xl_status_parse("runningX", 7), XL_STATUS_RUNNING); /* length, not NUL, ends the name */
    XL_CHECK_INT(xl_status_parse("run", 3), -1);
    XL_CHECK_INT(xl_status_parse("Running", 7), -1);
    XL_CHECK_INT(xl_status_parse("queued\0x", 8), -1);
    XL_CHECK_INT(xl_status_parse(NULL, 0), -1);
    XL_CHECK_INT(xl_event_type_parse("", 0), -1);
    XL_CHECK_INT(xl_event_type_parse("task_failed", 11), XL_EVENT_TASK_FAILED);
}

static void test_str(void)
{
    xl_str_t s = {NULL, 0};
    XL_PHASE("xl_str_set");
    XL_CHECK_INT(xl_str_set(&s, "abc", 3), 0);
    XL_CHECK(s.base != NULL && s.len == 3 && memcmp(s.base, "abc", 3) == 0 && s.base[3] == '\0', "copy + NUL");
    XL_CHECK_INT(xl_str_set(&s, "", 0), 0);
    XL_CHECK(s.base != NULL && s.len == 0, "empty is not null");
    XL_CHECK_INT(xl_str_set(&s, s.base, s.len), 0); /* self-assignment */
    XL_CHECK(s.base != NULL && s.len == 0, "self-assignment");
    XL_CHECK_INT(xl_str_set(&s, NULL, 5), 0);
    XL_CHECK(s.base == NULL && s.len == 0, "NULL sets null");
    XL_CHECK_INT(xl_str_set(&s, "x\0y", 3), 0);
    XL_CHECK(s.len == 3 && memcmp(s.base, "x\0y", 3) == 0, "embedded NUL kept");
    xl_str_clear(&s);
    XL_CHECK(s.base == NULL && s.len == 0, "clear");
    xl_str_clear(&s);
}

static void test_roundtrips(void)
{
    xl_buf_t frame;
    xl_event_t ev, out;
    char phase[64];
    uint64_t fp = xl_event_schema_fingerprint();

    xl_buf_init(&frame);
    for (int t = 0; t < XL_EVENT__COUNT; ++t) {
        snprintf(phase, sizeof(phase), "full %s", xl_event_type_name(t));
        XL_PHASE(phase);
        ev = full_event(t);
        check_roundtrip(&ev);

        /* the frame: C3 01, then the fingerprint little-endian */
        xl_buf_reset(&frame);
        XL_CHECK_INT(xl_event_encode(codec, &ev, &frame, err, sizeof(err)), 0);
        XL_CHECK(frame.len > 10 && (unsigned char)frame.base[0] == 0xc3 && frame.base[1] == 0x01, "magic");
        uint64_t got = 0;
        for (int i = 7; i >= 0; --i)
            got = (got << 8) | (unsigned char)frame.base[2 + i];
        XL_CHECK(got == fp, "fingerprint %016" PRIx64 " in the frame, expected %016" PRIx64, got, fp);

        snprintf(phase, sizeof(phase), "minimal %s", xl_event_type_name(t));
        XL_PHASE(phase);
        ev = minimal_event(t);
        check_roundtrip(&ev);
        if (roundtrip(&ev, &out, &frame) == 0) {
            XL_CHECK(out.flow_name.base == NULL && out.tenant_id.base == NULL && out.message_id.base == NULL &&
                         out.trigger_type.base == NULL && out.started_by.base == NULL && out.task.base == NULL &&
                         out.message.base == NULL,
                     "optional strings decode as null");
            XL_CHECK_INT(out.status, XL_STATUS_NONE);
            XL_CHECK(!out.error.present && out.error.class_.base == NULL, "no error");
            XL_CHECK(out.nwarnings == 0 && out.warnings == NULL && out.nmetrics == 0 && out.metrics == NULL &&
                         out.nattributes == 0 && out.attributes == NULL,
                     "empty lists are NULL");
            XL_CHECK_INT(out.parent_audit_id, 0);
            XL_CHECK_INT(out.parent_execution_id, 0);
            xl_event_dispose(&out);
        }
    }

    XL_PHASE("empty non-null strings");
    ev = minimal_event(XL_EVENT_LOG);
    ev.event_id = S("");
    ev.flow_id = S("");
    ev.flow_name = S("");
    ev.message = S("");
    ev.error = (xl_error_t){.present = 1, .class_ = S(""), .message = S(""), .stack = S("")};
    check_roundtrip(&ev);
    if (roundtrip(&ev, &out, &frame) == 0) {
        XL_CHECK(out.flow_name.base != NULL && out.flow_name.len == 0, "empty flow_name is not null");
        XL_CHECK(out.event_id.base != NULL && out.event_id.base[0] == '\0', "NUL-terminated");
        XL_CHECK(out.error.stack.base != NULL && out.error.stack.len == 0, "empty stack is not null");
        xl_event_dispose(&out);
    }

    XL_PHASE("error without stack");
    ev = full_event(XL_EVENT_FAILED);
    ev.error.stack = (xl_str_t){NULL, 0};
    check_roundtrip(&ev);

    XL_PHASE("extreme integers");
    ev = full_event(XL_EVENT_METRICS);
    ev.audit_id = INT64_MIN;
    ev.parent_audit_id = -1;
    ev.root_audit_id = INT64_MAX;
    ev.parent_execution_id = INT64_MIN;
    ev.retries = INT32_MIN;
    ev.time_ms = INT64_MIN;
    ev.ingest_time_ms = INT64_MAX;
    check_roundtrip(&ev);
    ev.retries = INT32_MAX;
    ev.time_ms = -1;
    check_roundtrip(&ev);

    XL_PHASE("one entry each");
    ev = full_event(XL_EVENT_PROGRESS);
    ev.nwarnings = ev.nmetrics = ev.nattributes = 1;
    check_roundtrip(&ev);

    XL_PHASE("many entries");
    {
        enum { N = 1000 };
        static xl_str_t w[N];
        static xl_metric_t m[N];
        static xl_attr_t a[N];
        static char names[N][16], vals[N][24];
        for (int i = 0; i < N; ++i) {
            /* descending, to see that the wire order is the given order */
            snprintf(names[i], sizeof(names[i]), "k%05d", N - i);
            snprintf(vals[i], sizeof(vals[i]), "value %d", i * 7);
            w[i] = S(vals[i]);
            m[i] = (xl_metric_t){S(names[i]), (int64_t)i * 1000003 - 500};
            a[i] = (xl_attr_t){S(names[i]), S(vals[i])};
        }
        ev = full_event(XL_EVENT_METRICS);
        ev.nwarnings = ev.nmetrics = ev.nattributes = N;
        ev.warnings = w;
        ev.metrics = m;
        ev.attributes = a;
        check_roundtrip(&ev);
    }

    XL_PHASE("big string");
    {
        size_t n = 300 * 1024;
        char *big = malloc(n);
        for (size_t i = 0; i < n; ++i)
            big[i] = (char)('a' + i % 26);
        ev = full_event(XL_EVENT_LOG);
        ev.message = SN(big, n);
        check_roundtrip(&ev);
        free(big);
    }

    XL_PHASE("encode appends");
    {
        xl_buf_t out2;
        xl_buf_init(&out2);
        xl_buf_append(&out2, "HDR", 3);
        ev = full_event(XL_EVENT_STARTED);
        XL_CHECK_INT(xl_event_encode(codec, &ev, &out2, err, sizeof(err)), 0);
        size_t first = out2.len - 3;
        ev = minimal_event(XL_EVENT_CREATED);
        XL_CHECK_INT(xl_event_encode(codec, &ev, &out2, err, sizeof(err)), 0);
        XL_CHECK(memcmp(out2.base, "HDR", 3) == 0, "prefix kept");
        XL_CHECK_INT(xl_event_decode(codec, out2.base + 3, first, &out, err, sizeof(err)), 0);
        XL_CHECK_INT(out.type, XL_EVENT_STARTED);
        xl_event_dispose(&out);
        XL_CHECK_INT(xl_event_decode(codec, out2.base + 3 + first, out2.len - 3 - first, &out, err, sizeof(err)), 0);
        XL_CHECK_INT(out.type, XL_EVENT_CREATED);
        xl_event_dispose(&out);
        xl_buf_dispose(&out2);
    }

    XL_PHASE("deterministic bytes");
    {
        xl_buf_t a, b;
        xl_buf_init(&a);
        xl_buf_init(&b);
        ev = full_event(XL_EVENT_WARNING);
        xl_event_encode(codec, &ev, &a, err, sizeof(err));
        ev = minimal_event(XL_EVENT_LOG);
        xl_event_encode(codec, &ev, &b, err, sizeof(err)); /* something else in between */
        xl_buf_reset(&b);
        ev = full_event(XL_EVENT_WARNING);
        xl_event_encode(codec, &ev, &b, err, sizeof(err));
        XL_CHECK(a.len == b.len && memcmp(a.base, b.base, a.len) == 0, "same event, same bytes");
        xl_buf_dispose(&a);
        xl_buf_dispose(&b);
    }
    xl_buf_dispose(&frame);
}

static void test_encode_errors(void)
{
    xl_event_t ev;
    xl_metric_t dup[2];
    xl_attr_t bad[1];

    XL_PHASE("encode errors");
    ev = full_event(XL_EVENT_CREATED);
    ev.event_id = (xl_str_t){NULL, 0};
    check_encode_fails(&ev, -EINVAL, "null event_id");
    ev = full_event(XL_EVENT_CREATED);
    ev.flow_id = (xl_str_t){NULL, 0};
    check_encode_fails(&ev, -EINVAL, "null flow_id");
    ev = full_event(XL_EVENT__COUNT);
    ev.status = XL_STATUS_QUEUED;
    check_encode_fails(&ev, -EINVAL, "type past the end");
    ev = full_event(-1);
    ev.status = XL_STATUS_QUEUED;
    check_encode_fails(&ev, -EINVAL, "negative type");
    ev = full_event(XL_EVENT_CREATED);
    ev.status = XL_STATUS__COUNT;
    check_encode_fails(&ev, -EINVAL, "status past the end");
    ev.status = -2;
    check_encode_fails(&ev, -EINVAL, "status below none");
    ev = full_event(XL_EVENT_FAILED);
    ev.error.class_ = (xl_str_t){NULL, 0};
    check_encode_fails(&ev, -EINVAL, "error without class");
    ev = full_event(XL_EVENT_METRICS);
    dup[0] = (xl_metric_t){S("x"), 1};
    dup[1] = (xl_metric_t){S("x"), 2};
    ev.metrics = dup;
    ev.nmetrics = 2;
    check_encode_fails(&ev, -EINVAL, "duplicate metric");
    dup[1] = (xl_metric_t){SN("x\0y", 3), 2};
    check_encode_fails(&ev, -EINVAL, "NUL in a metric name");
    dup[1] = (xl_metric_t){{NULL, 0}, 2};
    check_encode_fails(&ev, -EINVAL, "null metric name");
    ev = full_event(XL_EVENT_LOG);
    bad[0] = (xl_attr_t){S("k"), {NULL, 0}};
    ev.attributes = bad;
    ev.nattributes = 1;
    check_encode_fails(&ev, -EINVAL, "null attribute value");
    ev = full_event(XL_EVENT_LOG);
    ev.warnings = (xl_str_t[]){S("a"), {NULL, 0}};
    ev.nwarnings = 2;
    check_encode_fails(&ev, -EINVAL, "null warning");

    XL_PHASE("encode oversize");
    {
        size_t n = XL_EVENT_MAX_FRAME; /* with the other fields, more than the frame limit */
        char *big = calloc(1, n);
        ev = full_event(XL_EVENT_LOG);
        ev.message = SN(big, n);
        check_encode_fails(&ev, -EMSGSIZE, "message of XL_EVENT_MAX_FRAME bytes");
        free(big);
    }

    XL_PHASE("codec still works after errors");
    ev = full_event(XL_EVENT_SUCCEEDED);
    check_roundtrip(&ev);
}

static void test_decode_errors(void)
{
    xl_buf_t frame, b;
    xl_event_t ev = full_event(XL_EVENT_FAILED);
    char what[64];
    uint64_t fp = xl_event_schema_fingerprint();

    xl_buf_init(&frame);
    xl_buf_init(&b);
    XL_PHASE("decode errors: setup");
    MUST(xl_event_encode(codec, &ev, &frame, err, sizeof(err)) == 0, "encode: %s", err);

    XL_PHASE("decode errors");
    check_decode_fails(NULL, 0, -EBADMSG, "empty");
    check_decode_fails("\xc3", 1, -EBADMSG, "one byte");
    check_decode_fails("\xc3\x01", 2, -EBADMSG, "magic only");

    xl_buf_append(&b, frame.base, frame.len);
    b.base[0] = 0x00;
    check_decode_fails(b.base, b.len, -EBADMSG, "bad magic byte 0");
    b.base[0] = (char)0xc3;
    b.base[1] = 0x02;
    check_decode_fails(b.base, b.len, -EBADMSG, "bad magic byte 1");
    b.base[1] = 0x01;
    b.base[2] ^= 0x01;
    check_decode_fails(b.base, b.len, -ENOENT, "unknown fingerprint");
    b.base[2] ^= 0x01;
    /* the fingerprint big-endian is another, unknown one */
    for (int i = 0; i < 8; ++i)
        b.base[2 + i] = (char)(fp >> (56 - 8 * i));
    check_decode_fails(b.base, b.len, -ENOENT, "fingerprint in the wrong byte order");

    for (size_t n = 0; n < frame.len; ++n) {
        snprintf(what, sizeof(what), "truncated to %zu of %zu", n, frame.len);
        check_decode_fails(frame.base, n, -EBADMSG, what);
    }
    xl_buf_reset(&b);
    xl_buf_append(&b, frame.base, frame.len);
    xl_buf_append(&b, "\0", 1);
    check_decode_fails(b.base, b.len, -EBADMSG, "one trailing byte");
    xl_buf_append(&b, "garbage", 7);
    check_decode_fails(b.base, b.len, -EBADMSG, "trailing garbage");

    {
        char *big = calloc(1, XL_EVENT_MAX_FRAME + 1);
        memcpy(big, frame.base, frame.len);
        check_decode_fails(big, XL_EVENT_MAX_FRAME + 1, -EMSGSIZE, "one byte over the limit");
        free(big);
    }

    /* hand-made bodies: event_id's length prefix is the first thing in the body */
    static const int64_t lengths[] = {INT64_MAX, INT64_C(1) << 62, INT64_C(1) << 33, 1 << 20, 100, -1, -3, INT64_MIN};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); ++i) {
        xl_buf_reset(&b);
        frame_header(&b, fp);
        put_varint(&b, lengths[i]);
        xl_buf_append(&b, "abcdefgh", 8);
        snprintf(what, sizeof(what), "string length prefix %" PRId64, lengths[i]);
        check_decode_fails(b.base, b.len, -EBADMSG, what);
    }

    /* a valid prefix up to the warnings array, then hostile block counts */
    static const int64_t counts[] = {INT64_MIN, INT64_MAX, -(INT64_C(1) << 40), INT64_C(1) << 40, 1000};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); ++i) {
        xl_buf_reset(&b);
        frame_header(&b, fp);
        put_string(&b, "e"); /* event_id */
        put_varint(&b, 1);   /* audit_id */
        put_varint(&b, 0);   /* parent_audit_id: null */
        put_varint(&b, 1);   /* root_audit_id */
        put_varint(&b, 0);   /* parent_execution_id: null */
        put_varint(&b, 0);   /* retries */
        put_string(&b, "f"); /* flow_id */
        for (int k = 0; k < 3; ++k)
            put_varint(&b, 0); /* flow_name, tenant_id, message_id: null */
        put_varint(&b, 0);     /* type */
        put_varint(&b, 0);     /* status: null */
        put_varint(&b, 5);     /* time */
        put_varint(&b, 6);     /* ingest_time */
        for (int k = 0; k < 4; ++k)
            put_varint(&b, 0); /* trigger_type, started_by, task, message */
        put_varint(&b, 0);     /* error: null */
        size_t good = b.len;
        /* sanity: completed with three empty collections and the eleven version-2 fields
         * (nulls and empty arrays, all a zero byte) it is a valid frame */
        for (int k = 0; k < 3 + 11; ++k)
            put_varint(&b, 0);
        check_decode_fails(b.base, b.len, 0, "hand-made frame");
        b.len = good;
        put_varint(&b, counts[i]);
        if (counts[i] < 0)
            put_varint(&b, 2); /* block size */
        put_string(&b, "w");
        put_varint(&b, 0);
        put_varint(&b, 0);
        put_varint(&b, 0);
        snprintf(what, sizeof(what), "array block count %" PRId64, counts[i]);
        check_decode_fails(b.base, b.len, -EBADMSG, what);

        /* enum index and union branch out of range */
        if (i == 0) {
            b.len = good;
            put_varint(&b, 0);
            put_varint(&b, 0);
            put_varint(&b, 0);
            size_t type_at = 10 + 1 + 1 /* e */ + 1 + 1 + 1 + 1 + 1 + 1 + 1 /* f */ + 3;
            b.base[type_at] = 2 * XL_EVENT__COUNT; /* zig-zag of XL_EVENT__COUNT */
            check_decode_fails(b.base, b.len, -EBADMSG, "event type index past the enum");
            b.base[type_at] = 1; /* -1 */
            check_decode_fails(b.base, b.len, -EBADMSG, "negative event type index");
            b.base[type_at] = 0;
            b.base[type_at + 1] = 4; /* status union branch 2 */
            check_decode_fails(b.base, b.len, -EBADMSG, "union branch 2");
            b.base[type_at + 1] = 2;
            b.base[type_at + 2] = 2 * XL_STATUS__COUNT; /* branch 1, then status index past the enum */
            check_decode_fails(b.base, b.len, -EBADMSG, "status index past the enum");
        }
    }

    XL_PHASE("map key with NUL on the wire");
    xl_buf_reset(&b);
    {
        xl_event_t m = minimal_event(XL_EVENT_METRICS);
        xl_metric_t one = {S("ab"), 7};
        m.metrics = &one;
        m.nmetrics = 1;
        MUST(xl_event_encode(codec, &m, &b, err, sizeof(err)) == 0, "%s", err);
        char *key = memmem(b.base, b.len, "ab", 2);
        MUST(key != NULL, "key not found in the frame");
        key[1] = '\0';
        check_decode_fails(b.base, b.len, -EBADMSG, "NUL in a metric name");
    }

    XL_PHASE("overlong varint");
    xl_buf_reset(&b);
    frame_header(&b, fp);
    xl_buf_append(&b,
                  "\x02"
                  "e",
                  2);
    xl_buf_append(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10); /* 10th byte > 1 */
    check_decode_fails(b.base, b.len, -EBADMSG, "varint over 64 bits");
    b.len = 12;
    xl_buf_append(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    check_decode_fails(b.base, b.len, -EBADMSG, "11-byte varint");

    xl_buf_dispose(&frame);
    xl_buf_dispose(&b);
}

static void test_random(void)
{
    xl_buf_t frame, b;
    xl_event_t ev, out, again;
    int ok = 0, bad = 0, unknown = 0;
    uint64_t fp = xl_event_schema_fingerprint();

    XL_PHASE("random bytes");
    xl_buf_init(&frame);
    xl_buf_init(&b);
    ev = full_event(XL_EVENT_TASK_FAILED);
    MUST(xl_event_encode(codec, &ev, &frame, err, sizeof(err)) == 0, "%s", err);

    for (int iter = 0; iter < 20000; ++iter) {
        xl_buf_reset(&b);
        uint64_t r = rng();
        switch (iter % 5) {
        case 0: /* pure noise */
        case 1: /* noise behind the magic: a random fingerprint */
        case 2: /* noise behind a valid header, so the body walk sees it */
            if (iter % 5 == 1)
                xl_buf_append(&b, "\xc3\x01", 2);
            if (iter % 5 == 2)
                frame_header(&b, fp);
            for (size_t n = rng() % 300; n > 0; --n) {
                unsigned char c = (unsigned char)rng();
                xl_buf_append(&b, &c, 1);
            }
            break;
        case 3: /* a valid frame with a few bytes of the body changed */
            xl_buf_append(&b, frame.base, frame.len);
            for (int k = (int)(r % 4) + 1; k > 0; --k)
                b.base[10 + rng() % (frame.len - 10)] = (char)rng();
            break;
        default: /* a valid frame cut or extended at a random place */
            xl_buf_append(&b, frame.base, frame.len);
            b.len = 10 + (size_t)(r % (frame.len - 10 + 1));
            if (r & 1) {
                unsigned char c = (unsigned char)(r >> 8);
                xl_buf_append(&b, &c, 1);
            }
            break;
        }
        int rc = xl_event_decode(codec, b.base, b.len, &out, err, sizeof(err));
        if (rc == 0) {
            ++ok;
            /* whatever decodes must re-encode and decode to the same values */
            xl_buf_t re;
            xl_buf_init(&re);
            int rc2 = xl_event_encode(codec, &out, &re, err, sizeof(err));
            XL_CHECK(rc2 == 0, "iteration %d: re-encode: %d %s", iter, rc2, err);
            if (rc2 == 0 && xl_event_decode(codec, re.base, re.len, &again, err, sizeof(err)) == 0) {
                const char *d = event_diff(&out, &again);
                XL_CHECK(d == NULL, "iteration %d: %s differs after re-encoding", iter, d);
                xl_event_dispose(&again);
            }
            xl_buf_dispose(&re);
            xl_event_dispose(&out);
        } else {
            XL_CHECK(rc == -EBADMSG || rc == -ENOENT, "iteration %d: rc %d (%s)", iter, rc, err);
            XL_CHECK(is_zero(&out, sizeof(out)), "iteration %d: not zeroed", iter);
            if (rc == -ENOENT)
                ++unknown;
            else
                ++bad;
        }
    }
    printf("random: %d decoded, %d malformed, %d unknown fingerprint\n", ok, bad, unknown);
    XL_CHECK(bad > 10000, "the fuzz loop mostly hit malformed frames (%d)", bad);
    XL_CHECK(unknown > 3000, "noise behind the magic mostly has an unknown fingerprint (%d)", unknown);
    XL_CHECK(ok > 0, "some mutations still decode (%d)", ok);
    xl_buf_dispose(&frame);
    xl_buf_dispose(&b);
}

/* An older writer: fewer fields, another order, a field the reader lacks, int
 * metrics, a plain string where the reader has a union, fewer enum symbols. */
static const char old_schema[] =
    "{\"type\":\"record\",\"name\":\"ExecutionEvent\",\"namespace\":\"execlog\",\"fields\":["
    "{\"name\":\"audit_id\",\"type\":\"long\"},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"legacy\",\"type\":\"string\"},"
    "{\"name\":\"root_audit_id\",\"type\":\"long\"},"
    "{\"name\":\"retries\",\"type\":\"int\"},"
    "{\"name\":\"flow_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"EventType\",\"symbols\":[\"created\",\"started\","
    "\"progress\"]}},"
    "{\"name\":\"time\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"ingest_time\",\"type\":\"long\"},"
    "{\"name\":\"message\",\"type\":\"string\"},"
    "{\"name\":\"metrics\",\"type\":{\"type\":\"map\",\"values\":\"int\"}}"
    "]}";

static void test_old_writer(void)
{
    avro_schema_t schema = NULL;
    avro_value_iface_t *cls = NULL;
    avro_value_t rec, f, child;
    xl_buf_t frame;
    xl_event_t out;
    uint64_t fp = 0;
    char body[256];

    XL_PHASE("old writer: body");
    xl_buf_init(&frame);
    MUST(avro_schema_from_json_length(old_schema, strlen(old_schema), &schema) == 0, "%s", avro_strerror());
    cls = avro_generic_class_from_schema(schema);
    MUST(cls != NULL && avro_generic_value_new(cls, &rec) == 0, "%s", avro_strerror());
    avro_value_get_by_name(&rec, "audit_id", &f, NULL);
    avro_value_set_long(&f, 77);
    avro_value_get_by_name(&rec, "event_id", &f, NULL);
    avro_value_set_string(&f, "old-1");
    avro_value_get_by_name(&rec, "legacy", &f, NULL);
    avro_value_set_string(&f, "ignored by the reader");
    avro_value_get_by_name(&rec, "root_audit_id", &f, NULL);
    avro_value_set_long(&f, 70);
    avro_value_get_by_name(&rec, "retries", &f, NULL);
    avro_value_set_int(&f, 3);
    avro_value_get_by_name(&rec, "flow_id", &f, NULL);
    avro_value_set_string(&f, "flow-old");
    avro_value_get_by_name(&rec, "type", &f, NULL);
    avro_value_set_enum(&f, 2);
    avro_value_get_by_name(&rec, "time", &f, NULL);
    avro_value_set_long(&f, 1600000000000LL);
    avro_value_get_by_name(&rec, "ingest_time", &f, NULL);
    avro_value_set_long(&f, 1600000000001LL);
    avro_value_get_by_name(&rec, "message", &f, NULL);
    avro_value_set_string(&f, "hello from v0");
    avro_value_get_by_name(&rec, "metrics", &f, NULL);
    avro_value_add(&f, "rows", &child, NULL, NULL);
    avro_value_set_int(&child, -5);
    avro_value_add(&f, "bytes", &child, NULL, NULL);
    avro_value_set_int(&child, 2000000000);
    avro_writer_t w = avro_writer_memory(body, sizeof(body));
    MUST(avro_value_write(w, &rec) == 0, "%s", avro_strerror());
    size_t blen = (size_t)avro_writer_tell(w);
    avro_writer_free(w);

    XL_PHASE("old writer: unknown before it is added");
    xl_codec_t *fresh = xl_codec_create(err, sizeof(err));
    MUST(fresh != NULL, "%s", err);
    XL_CHECK_INT(xl_codec_add_event_schema(fresh, old_schema, strlen(old_schema), &fp, err, sizeof(err)), 0);
    frame_header(&frame, fp);
    xl_buf_append(&frame, body, blen);
    check_decode_fails(frame.base, frame.len, -ENOENT, "old fingerprint on the shared codec");

    XL_PHASE("old writer: resolved");
    XL_CHECK_INT(xl_codec_add_event_schema(codec, old_schema, strlen(old_schema), NULL, err, sizeof(err)), 0);
    XL_CHECK_INT(xl_codec_add_event_schema(codec, old_schema, strlen(old_schema), NULL, err, sizeof(err)), 0);
    int rc = xl_event_decode(codec, frame.base, frame.len, &out, err, sizeof(err));
    XL_CHECK(rc == 0, "decode: %d %s", rc, err);
    if (rc == 0) {
        XL_CHECK_STR(out.event_id.base, out.event_id.len, "old-1");
        XL_CHECK_INT(out.audit_id, 77);
        XL_CHECK_INT(out.root_audit_id, 70);
        XL_CHECK_INT(out.retries, 3);
        XL_CHECK_STR(out.flow_id.base, out.flow_id.len, "flow-old");
        XL_CHECK_INT(out.type, XL_EVENT_PROGRESS);
        XL_CHECK_INT(out.time_ms, 1600000000000LL);
        XL_CHECK_INT(out.ingest_time_ms, 1600000000001LL);
        XL_CHECK(out.message.base != NULL, "message is set");
        if (out.message.base != NULL)
            XL_CHECK_STR(out.message.base, out.message.len, "hello from v0");
        XL_CHECK_INT(out.nmetrics, 2);
        if (out.nmetrics == 2) {
            XL_CHECK_STR(out.metrics[0].name.base, out.metrics[0].name.len, "rows");
            XL_CHECK_INT(out.metrics[0].value, -5);
            XL_CHECK_STR(out.metrics[1].name.base, out.metrics[1].name.len, "bytes");
            XL_CHECK_INT(out.metrics[1].value, 2000000000);
        }
        /* defaults for what the writer lacks */
        XL_CHECK_INT(out.parent_audit_id, 0);
        XL_CHECK_INT(out.parent_execution_id, 0);
        XL_CHECK_INT(out.status, XL_STATUS_NONE);
        XL_CHECK(out.flow_name.base == NULL && out.tenant_id.base == NULL && out.task.base == NULL, "null strings");
        XL_CHECK(!out.error.present && out.nwarnings == 0 && out.nattributes == 0, "empty lists");
        xl_event_dispose(&out);
    }
    for (size_t n = 10; n < frame.len; ++n)
        check_decode_fails(frame.base, n, -EBADMSG, "old writer truncated");
    /* the current schema still decodes */
    xl_event_t cur = full_event(XL_EVENT_CANCELLED);
    check_roundtrip(&cur);

    XL_PHASE("old writer: rejected schemas");
    {
        static const char no_flow[] = "{\"type\":\"record\",\"name\":\"ExecutionEvent\",\"namespace\":\"execlog\","
                                      "\"fields\":[{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"audit_id\","
                                      "\"type\":\"long\"}]}";
        static const char bad_type[] =
            "{\"type\":\"record\",\"name\":\"ExecutionEvent\",\"namespace\":\"execlog\","
            "\"fields\":[{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"audit_id\","
            "\"type\":\"string\"},{\"name\":\"root_audit_id\",\"type\":\"long\"},{\"name\":"
            "\"flow_id\",\"type\":\"string\"},{\"name\":\"type\",\"type\":{\"type\":\"enum\","
            "\"name\":\"EventType\",\"symbols\":[\"created\"]}},{\"name\":\"time\",\"type\":"
            "\"long\"},{\"name\":\"ingest_time\",\"type\":\"long\"}]}";
        err[0] = '\0';
        XL_CHECK_INT(xl_codec_add_event_schema(fresh, no_flow, strlen(no_flow), NULL, err, sizeof(err)), -EINVAL);
        XL_CHECK(strstr(err, "root_audit_id") != NULL, "names the missing field: %s", err);
        err[0] = '\0';
        XL_CHECK_INT(xl_codec_add_event_schema(fresh, bad_type, strlen(bad_type), NULL, err, sizeof(err)), -EINVAL);
        XL_CHECK(err[0] != '\0', "error message");
        XL_CHECK_INT(xl_codec_add_event_schema(fresh, "\"int\"", 5, NULL, err, sizeof(err)), -EINVAL);
        XL_CHECK_INT(xl_codec_add_event_schema(fresh, "{", 1, NULL, err, sizeof(err)), -EINVAL);
        const char *cur_json = xl_event_schema_json();
        XL_CHECK_INT(xl_codec_add_event_schema(fresh, cur_json, strlen(cur_json), &fp, err, sizeof(err)), 0);
        XL_CHECK(fp == xl_event_schema_fingerprint(), "the current schema is already known");
    }
    xl_codec_destroy(fresh);
    avro_value_decref(&rec);
    avro_value_iface_decref(cls);
    avro_schema_decref(schema);
    xl_buf_dispose(&frame);
}

static void test_state(void)
{
    xl_buf_t body, b;
    xl_state_t st, out;
    char what[64];

    xl_buf_init(&body);
    xl_buf_init(&b);
    XL_PHASE("state full");
    st = full_state();
    MUST(xl_state_encode(codec, &st, &body, err, sizeof(err)) == 0, "%s", err);
    XL_CHECK((unsigned char)body.base[0] != 0xc3, "no single-object framing");
    XL_CHECK(xl_state_encoded_size(&st) == body.len, "encoded size %zu, encoded %zu", xl_state_encoded_size(&st),
             body.len);
    int rc = xl_state_decode(codec, body.base, body.len, &out, err, sizeof(err));
    XL_CHECK(rc == 0, "%d %s", rc, err);
    if (rc == 0) {
        const char *d = state_diff(&st, &out);
        XL_CHECK(d == NULL, "%s differs", d);
        xl_state_dispose(&out);
        XL_CHECK(is_zero(&out, sizeof(out)), "dispose zeroes");
    }

    XL_PHASE("state encoded size");
    {
        /* every field present, and integers at each varint length boundary */
        static const int64_t edges[] = {0, 1, -1, 63, 64, -64, -65, 8191, 8192, INT32_MAX, INT32_MIN, INT64_MAX,
                                        INT64_MIN + 1};
        static xl_metric_t fm[] = {{{(char *)"rows", 4}, -3}};
        static xl_file_metric_t files[] = {{{(char *)"a.csv", 5}, 1, fm}, {{(char *)"b.csv", 5}, 0, NULL}};
        for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); ++k) {
            xl_state_t s2 = full_state();
            s2.top_execution_id = edges[k];
            s2.input = S("{\"a\":1}");
            s2.output = S("[]");
            s2.code = S("E42");
            s2.error_location = edges[k];
            s2.schedule_event_id = 5;
            s2.schedule_event_name = S("nightly");
            s2.nfile_metrics = 2;
            s2.file_metrics = files;
            s2.control_type = XL_EVENT_PAUSE_REQUESTED;
            s2.control_seq = (uint32_t)edges[k];
            s2.control_event_id = S("ctl");
            s2.error.stack = S("at x");
            s2.retries = (int32_t)edges[k];
            s2.log_offset = edges[k];
            s2.parent_audit_id = edges[k];
            xl_buf_reset(&b);
            MUST(xl_state_encode(codec, &s2, &b, err, sizeof(err)) == 0, "%s", err);
            XL_CHECK(xl_state_encoded_size(&s2) == b.len, "edge %lld: encoded size %zu, encoded %zu",
                     (long long)edges[k], xl_state_encoded_size(&s2), b.len);
            xl_state_t back;
            int rc2 = xl_state_decode(codec, b.base, b.len, &back, err, sizeof(err));
            XL_CHECK(rc2 == 0, "edge %lld: decode %d %s", (long long)edges[k], rc2, err);
            if (rc2 == 0) {
                const char *d = state_diff(&s2, &back);
                XL_CHECK(d == NULL, "edge %lld: %s differs after the round trip", (long long)edges[k], d);
                xl_state_dispose(&back);
            }
        }
    }

    XL_PHASE("state minimal");
    memset(&st, 0, sizeof(st));
    st.flow_id = S("f");
    st.status = XL_STATUS_QUEUED;
    xl_buf_reset(&body);
    MUST(xl_state_encode(codec, &st, &body, err, sizeof(err)) == 0, "%s", err);
    XL_CHECK(xl_state_encoded_size(&st) == body.len, "minimal: encoded size %zu, encoded %zu",
             xl_state_encoded_size(&st), body.len);
    rc = xl_state_decode(codec, body.base, body.len, &out, err, sizeof(err));
    XL_CHECK(rc == 0, "%d %s", rc, err);
    if (rc == 0) {
        const char *d = state_diff(&st, &out);
        XL_CHECK(d == NULL, "%s differs", d);
        XL_CHECK(out.started_ms == 0 && out.ended_ms == 0 && out.message.base == NULL, "nulls");
        xl_state_dispose(&out);
    }

    XL_PHASE("state encode errors");
    st.status = XL_STATUS_NONE;
    xl_buf_reset(&b);
    XL_CHECK_INT(xl_state_encode(codec, &st, &b, err, sizeof(err)), -EINVAL);
    XL_CHECK_INT(b.len, 0);
    st.status = XL_STATUS_QUEUED;
    st.flow_id = (xl_str_t){NULL, 0};
    XL_CHECK_INT(xl_state_encode(codec, &st, &b, err, sizeof(err)), -EINVAL);
    st.flow_id = S("f");
    xl_task_t bad_task = {{NULL, 0}, XL_STATUS_RUNNING, 0, 0, 0, {NULL, 0}};
    st.ntasks = 1;
    st.tasks = &bad_task;
    XL_CHECK_INT(xl_state_encode(codec, &st, &b, err, sizeof(err)), -EINVAL);
    XL_CHECK(strstr(err, "name") != NULL, "names the field: %s", err);
    bad_task.name = S("t");
    bad_task.status = XL_STATUS_NONE;
    XL_CHECK_INT(xl_state_encode(codec, &st, &b, err, sizeof(err)), -EINVAL);
    st.ntasks = 0;
    xl_anomaly_t bad_anomaly = {1, XL_EVENT__COUNT, XL_STATUS_QUEUED};
    st.nanomaly_list = 1;
    st.anomaly_list = &bad_anomaly;
    XL_CHECK_INT(xl_state_encode(codec, &st, &b, err, sizeof(err)), -EINVAL);
    XL_CHECK_INT(b.len, 0);
    st.nanomaly_list = 0;

    XL_PHASE("state decode errors");
    st = full_state();
    xl_buf_reset(&body);
    MUST(xl_state_encode(codec, &st, &body, err, sizeof(err)) == 0, "%s", err);
    for (size_t n = 0; n < body.len; ++n) {
        memset(&out, 0x5a, sizeof(out));
        rc = xl_state_decode(codec, body.base, n, &out, err, sizeof(err));
        snprintf(what, sizeof(what), "state truncated to %zu", n);
        XL_CHECK(rc == -EBADMSG, "%s: rc %d", what, rc);
        XL_CHECK(is_zero(&out, sizeof(out)), "%s: not zeroed", what);
    }
    xl_buf_append(&body, "x", 1);
    XL_CHECK_INT(xl_state_decode(codec, body.base, body.len, &out, err, sizeof(err)), -EBADMSG);

    XL_PHASE("state u32 out of range");
    {
        /* written with avro-c directly: last_seq beyond 32 bits */
        avro_schema_t schema;
        avro_value_iface_t *cls;
        avro_value_t rec, f, br;
        char raw[512];
        const char *json = xl_state_schema_json();
        MUST(avro_schema_from_json_length(json, strlen(json), &schema) == 0, "%s", avro_strerror());
        cls = avro_generic_class_from_schema(schema);
        avro_generic_value_new(cls, &rec);
        for (size_t i = 0; i < avro_schema_record_size(schema); ++i) {
            avro_value_get_by_index(&rec, i, &f, NULL);
            if (avro_value_get_type(&f) == AVRO_UNION)
                avro_value_set_branch(&f, 0, &br);
        }
        avro_value_get_by_name(&rec, "flow_id", &f, NULL);
        avro_value_set_string(&f, "f");
        avro_value_get_by_name(&rec, "last_seq", &f, NULL);
        avro_value_set_long(&f, INT64_C(1) << 32);
        avro_writer_t w = avro_writer_memory(raw, sizeof(raw));
        MUST(avro_value_write(w, &rec) == 0, "%s", avro_strerror());
        rc = xl_state_decode(codec, raw, (size_t)avro_writer_tell(w), &out, err, sizeof(err));
        XL_CHECK(rc == -EBADMSG, "rc %d", rc);
        XL_CHECK(strstr(err, "last_seq") != NULL, "names the field: %s", err);
        XL_CHECK(is_zero(&out, sizeof(out)), "not zeroed");
        avro_value_get_by_name(&rec, "last_seq", &f, NULL);
        avro_value_set_long(&f, 0);
        avro_value_get_by_name(&rec, "anomalies", &f, NULL);
        avro_value_set_long(&f, -1);
        avro_writer_reset(w);
        MUST(avro_value_write(w, &rec) == 0, "%s", avro_strerror());
        XL_CHECK_INT(xl_state_decode(codec, raw, (size_t)avro_writer_tell(w), &out, err, sizeof(err)), -EBADMSG);
        avro_writer_free(w);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(schema);
    }
    xl_buf_dispose(&body);
    xl_buf_dispose(&b);
}

/* one codec per thread: codecs on different threads must not interfere */
static void *thread_main(void *arg)
{
    int *failures = arg;
    char terr[256];
    xl_codec_t *tc = xl_codec_create(terr, sizeof(terr));
    xl_buf_t frame;
    xl_event_t out;

    if (tc == NULL) {
        ++*failures;
        return NULL;
    }
    xl_buf_init(&frame);
    for (int i = 0; i < 3000; ++i) {
        xl_event_t ev = i % 2 ? full_event(i % XL_EVENT__COUNT) : minimal_event(i % XL_EVENT__COUNT);
        ev.audit_id = i;
        xl_buf_reset(&frame);
        if (xl_event_encode(tc, &ev, &frame, terr, sizeof(terr)) != 0 ||
            xl_event_decode(tc, frame.base, frame.len, &out, terr, sizeof(terr)) != 0) {
            ++*failures;
            continue;
        }
        if (event_diff(&ev, &out) != NULL)
            ++*failures;
        xl_event_dispose(&out);
    }
    xl_buf_dispose(&frame);
    xl_codec_destroy(tc);
    return NULL;
}

static void test_threads(void)
{
    enum { N = 4 };
    pthread_t th[N];
    int failures[N] = {0};

    XL_PHASE("threads");
    for (int i = 0; i < N; ++i)
        MUST(pthread_create(&th[i], NULL, thread_main, &failures[i]) == 0, "pthread_create");
    for (int i = 0; i < N; ++i) {
        pthread_join(th[i], NULL);
        XL_CHECK(failures[i] == 0, "thread %d: %d failed round trips", i, failures[i]);
    }
}

/*
 * Version 1 of the event schema (schemas/execution_event_v1.avsc): frames it
 * wrote are on every topic and in every archive. The codec knows it without
 * being told, and resolves its frames into the current event with the
 * version-2 fields at their defaults.
 */
static void test_v1_writer(void)
{
    char path[4096], *json = NULL;
    const char *src = getenv("XL_TEST_SRC");
    avro_schema_t schema = NULL;
    avro_value_iface_t *cls = NULL;
    avro_value_t rec, f, branch;
    char body[512];
    uint64_t fp = 0;
    xl_buf_t frame;
    xl_event_t out;

    XL_PHASE("v1 writer: schema file");
    snprintf(path, sizeof(path), "%s/schemas/execution_event_v1.avsc", src != NULL ? src : ".");
    FILE *fh = fopen(path, "rb");
    MUST(fh != NULL, "cannot open %s", path);
    json = calloc(1, 1 << 16);
    size_t n = fread(json, 1, (1 << 16) - 1, fh);
    fclose(fh);
    MUST(n > 0, "empty %s", path);
    XL_CHECK_INT(xl_schema_fingerprint(json, n, &fp, err, sizeof(err)), 0);
    XL_CHECK(fp != xl_event_schema_fingerprint(), "v1 and v2 have distinct fingerprints");

    XL_PHASE("v1 writer: body");
    MUST(avro_schema_from_json_length(json, n, &schema) == 0, "%s", avro_strerror());
    cls = avro_generic_class_from_schema(schema);
    MUST(cls != NULL && avro_generic_value_new(cls, &rec) == 0, "%s", avro_strerror());
    avro_value_get_by_name(&rec, "event_id", &f, NULL);
    avro_value_set_string(&f, "v1-e");
    avro_value_get_by_name(&rec, "audit_id", &f, NULL);
    avro_value_set_long(&f, 501);
    avro_value_get_by_name(&rec, "root_audit_id", &f, NULL);
    avro_value_set_long(&f, 501);
    avro_value_get_by_name(&rec, "flow_id", &f, NULL);
    avro_value_set_string(&f, "flow-v1");
    avro_value_get_by_name(&rec, "type", &f, NULL);
    avro_value_set_enum(&f, XL_EVENT_TASK_FAILED);
    avro_value_get_by_name(&rec, "status", &f, NULL);
    avro_value_set_branch(&f, 1, &branch);
    avro_value_set_enum(&branch, XL_STATUS_CANCELLED);
    avro_value_get_by_name(&rec, "time", &f, NULL);
    avro_value_set_long(&f, 1700000000000LL);
    avro_value_get_by_name(&rec, "ingest_time", &f, NULL);
    avro_value_set_long(&f, 1700000000005LL);
    avro_value_get_by_name(&rec, "task", &f, NULL);
    avro_value_set_branch(&f, 1, &branch);
    avro_value_set_string(&branch, "load");
    avro_value_get_by_name(&rec, "message", &f, NULL);
    avro_value_set_branch(&f, 1, &branch);
    avro_value_set_string(&branch, "written by v1");
    static const char *const nulls[] = {"parent_audit_id", "parent_execution_id", "flow_name", "tenant_id",
                                        "message_id",      "trigger_type",        "started_by", "error"};
    for (size_t k = 0; k < sizeof(nulls) / sizeof(nulls[0]); ++k) {
        avro_value_get_by_name(&rec, nulls[k], &f, NULL);
        avro_value_set_branch(&f, 0, &branch);
        avro_value_set_null(&branch);
    }
    avro_writer_t w = avro_writer_memory(body, sizeof(body));
    MUST(avro_value_write(w, &rec) == 0, "%s", avro_strerror());
    size_t blen = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    xl_buf_init(&frame);
    frame_header(&frame, fp);
    xl_buf_append(&frame, body, blen);

    XL_PHASE("v1 writer: decoded by a fresh codec");
    xl_codec_t *fresh = xl_codec_create(err, sizeof(err));
    MUST(fresh != NULL, "%s", err);
    int rc = xl_event_decode(fresh, frame.base, frame.len, &out, err, sizeof(err));
    XL_CHECK(rc == 0, "decode: %d %s", rc, err);
    if (rc == 0) {
        XL_CHECK_STR(out.event_id.base, out.event_id.len, "v1-e");
        XL_CHECK_INT(out.audit_id, 501);
        XL_CHECK_INT(out.type, XL_EVENT_TASK_FAILED);
        XL_CHECK_INT(out.status, XL_STATUS_CANCELLED);
        XL_CHECK_STR(out.task.base, out.task.len, "load");
        XL_CHECK_STR(out.message.base, out.message.len, "written by v1");
        XL_CHECK_INT(out.time_ms, 1700000000000LL);
        /* version-2 fields at their defaults */
        XL_CHECK(out.input.base == NULL && out.output.base == NULL && out.log.base == NULL, "null input/output/log");
        XL_CHECK(out.code.base == NULL && out.traceparent.base == NULL && out.schedule_event_name.base == NULL,
                 "null code/traceparent/schedule_event_name");
        XL_CHECK_INT(out.nsteps, 0);
        XL_CHECK_INT(out.nfile_metrics, 0);
        XL_CHECK_INT(out.error_location, 0);
        XL_CHECK_INT(out.schedule_event_id, 0);
        XL_CHECK_INT(out.top_execution_id, 0);
        xl_event_dispose(&out);
    }
    for (size_t k = 10; k < frame.len; ++k)
        check_decode_fails(frame.base, k, -EBADMSG, "v1 frame truncated");

    xl_codec_destroy(fresh);
    xl_buf_dispose(&frame);
    avro_value_decref(&rec);
    avro_value_iface_decref(cls);
    avro_schema_decref(schema);
    free(json);
}

/*
 * The codec writes Avro itself (from the field table): its bytes must be the
 * ones avro-c's own writer gives for the same value. Each body is read with
 * avro-c and written back with avro_value_write; the two must be equal.
 */
static void check_avro_c_bytes(const char *schema_json, const void *body, size_t len, const char *what)
{
    avro_schema_t schema;
    MUST(avro_schema_from_json_length(schema_json, strlen(schema_json), &schema) == 0, "%s", avro_strerror());
    avro_value_iface_t *cls = avro_generic_class_from_schema(schema);
    avro_value_t rec;
    avro_generic_value_new(cls, &rec);
    avro_reader_t r = avro_reader_memory(body, (int64_t)len);
    XL_CHECK(avro_value_read(r, &rec) == 0, "%s: avro-c reads it: %s", what, avro_strerror());
    static char again[1 << 16];
    avro_writer_t w = avro_writer_memory(again, sizeof(again));
    XL_CHECK(avro_value_write(w, &rec) == 0, "%s: avro-c writes it: %s", what, avro_strerror());
    size_t n = (size_t)avro_writer_tell(w);
    XL_CHECK(n == len && memcmp(again, body, len) == 0, "%s: %zu bytes, avro-c writes %zu other ones", what, len, n);
    avro_writer_free(w);
    avro_reader_free(r);
    avro_value_decref(&rec);
    avro_value_iface_decref(cls);
    avro_schema_decref(schema);
}

static void test_avro_c_bytes(void)
{
    XL_PHASE("encode: the bytes of avro-c's writer");
    static xl_metric_t fm[] = {{{(char *)"rows", 4}, -3}, {{(char *)"bytes", 5}, INT64_MAX}};
    static xl_file_metric_t files[] = {{{(char *)"a.csv", 5}, 2, fm}, {{(char *)"b.csv", 5}, 0, NULL}};
    static xl_str_t deps[] = {{(char *)"extract", 7}};
    static xl_step_t steps[] = {{{(char *)"extract", 7}, {(char *)"sql", 3}, 0, NULL},
                                {{(char *)"load", 4}, {NULL, 0}, 1, deps}};
    xl_buf_t b;
    xl_buf_init(&b);
    for (int type = 0; type < XL_EVENT__COUNT; ++type) {
        xl_event_t ev = type % 2 ? full_event(type) : minimal_event(type);
        if (type % 3 == 0) {
            ev.input = S("{\"a\":[1,2]}");
            ev.output = S("null");
            ev.log = S("l1\nl2");
            ev.nsteps = 2;
            ev.steps = steps;
            ev.code = S("E9");
            ev.error_location = -12345678901LL;
            ev.schedule_event_id = 64;
            ev.schedule_event_name = S("nightly");
            ev.nfile_metrics = 2;
            ev.file_metrics = files;
            ev.traceparent = S("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
            ev.top_execution_id = INT64_MIN + 1;
        }
        xl_buf_reset(&b);
        MUST(xl_event_encode(codec, &ev, &b, err, sizeof(err)) == 0, "%s", err);
        check_avro_c_bytes(xl_event_schema_json(), b.base + 10, b.len - 10, xl_event_type_name(type));
    }
    xl_state_t st = full_state();
    xl_buf_reset(&b);
    MUST(xl_state_encode(codec, &st, &b, err, sizeof(err)) == 0, "%s", err);
    check_avro_c_bytes(xl_state_schema_json(), b.base, b.len, "full state");
    xl_buf_dispose(&b);
}

int main(void)
{
    XL_PHASE("create");
    codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(codec != NULL, "xl_codec_create: %s", err);
    XL_CHECK(xl_event_schema_fingerprint() != 0, "event fingerprint");
    samples_init();

    test_names();
    test_str();
    test_roundtrips();
    test_encode_errors();
    test_decode_errors();
    test_random();
    test_old_writer();
    test_v1_writer();
    test_state();
    test_avro_c_bytes();
    test_threads();

    xl_codec_destroy(codec);
    return xl_test_finish();
}
