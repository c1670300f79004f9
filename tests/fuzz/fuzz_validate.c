/*
 * libFuzzer target: xl_validate_write (ingest/validate.h), the JSON write
 * validator. Input: one byte that picks the kind of write (create, append,
 * retry, cancel, batch line), then the body, parsed as the write path parses
 * it (json_loadb, duplicates rejected).
 *
 * Properties, beyond "no crash, no leak, no UB":
 *  - every error is an object {"field": string, "reason": non-empty string};
 *  - success means the event is exactly what the body said: every member it
 *    names is in the event with its value (nothing dropped on the way: a
 *    member the validator could not report as an error must not vanish),
 *    limits hold, required members are there, unknown names never pass;
 *  - a valid write encodes to Avro and decodes back to the same event;
 *  - the write path's fast scanner (xl_validate_scan) takes only bodies the
 *    full path (json_loadb + xl_validate_write) accepts, with the same event.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <h2o.h>
#include <jansson.h>

#include "ingest/validate.h"
#include "schemas/event.h"
#include "tests/fuzz/fuzz.h"

static xl_codec_t *codec;

/* Destroyed at exit: avro-c's resolvers hold memory LeakSanitizer cannot see
 * reachable from a live codec, and would report at exit otherwise. */
static void codec_destroy(void)
{
    xl_codec_destroy(codec);
}

static const int kinds[] = {XL_WRITE_CREATE, XL_WRITE_APPEND, XL_WRITE_RETRY, XL_WRITE_CANCEL, XL_WRITE_BATCH};

/* Every member name the write API knows, whatever the kind. */
static const char *const known[] = {"event_id",
                                    "flow_id",
                                    "flow_name",
                                    "tenant_id",
                                    "message_id",
                                    "trigger_type",
                                    "started_by",
                                    "parent_audit_id",
                                    "parent_execution_id",
                                    "audit_id",
                                    "type",
                                    "time",
                                    "task",
                                    "message",
                                    "error",
                                    "warnings",
                                    "metrics",
                                    "attributes",
                                    "input",
                                    "output",
                                    "log",
                                    "steps",
                                    "code",
                                    "error_location",
                                    "schedule_event_id",
                                    "schedule_event_name",
                                    "file_metrics"};

static void warm_up(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if ((codec = xl_codec_create(err, sizeof(err))) == NULL) {
        fprintf(stderr, "fuzz_validate: %s\n", err);
        abort();
    }
    atexit(codec_destroy);
    warm_up();
    return 0;
}

/*
 * avro-c allocates the buffers of a codec's arrays, maps and records the first
 * time an event has them, and keeps them in a way LeakSanitizer cannot see as
 * reachable: libFuzzer's per-input leak check reported them for whichever
 * input came first. One event with every container, through the whole target
 * before fuzzing starts, makes those allocations part of the set-up.
 */
static void warm_up(void)
{
    static const char *const samples[] = {
        /* kind byte 'A' (65 % 5 = 0): a create; 'B' (66 % 5 = 1): an append */
        "A{\"flow_id\":\"f\",\"attributes\":{\"k\":\"v\"},\"input\":{\"a\":1},"
        "\"steps\":[{\"name\":\"s\",\"type\":\"t\",\"depends_on\":[]}]}",
        "B{\"type\":\"failed\",\"error\":{\"class\":\"E\",\"message\":\"m\",\"stack\":\"s\"},\"warnings\":[\"w\"],"
        "\"metrics\":{\"rows\":1},\"attributes\":{\"k\":\"v\"},\"task\":\"t\",\"output\":[1],\"log\":\"l\","
        "\"file_metrics\":[]}",
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); ++i)
        LLVMFuzzerTestOneInput((const uint8_t *)samples[i], strlen(samples[i]));
}

static int is_known(const char *key)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); ++i)
        if (strcmp(known[i], key) == 0)
            return 1;
    return 0;
}

static int same_json_string(const xl_str_t *s, json_t *v)
{
    return json_is_string(v) && s->base == json_string_value(v) && s->len == json_string_length(v);
}

/* A string member: absent and null leave the field null; else it is the field, within max, not empty if ident. */
static void check_string_member(json_t *obj, const char *name, const xl_str_t *s, size_t max, int ident)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL || json_is_null(v)) {
        XL_FUZZ_CHECK(s->base == NULL, "%s absent or null but set", name);
        return;
    }
    XL_FUZZ_CHECK(same_json_string(s, v), "%s is not the member's string", name);
    XL_FUZZ_CHECK(s->len <= max, "%s longer than %zu", name, max);
    XL_FUZZ_CHECK(!ident || s->len > 0, "%s empty", name);
}

static void check_id_member(json_t *obj, const char *name, int64_t id)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL || json_is_null(v)) {
        XL_FUZZ_CHECK(id == 0, "%s absent but %lld", name, (long long)id);
        return;
    }
    XL_FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) == id, "%s is not the member's integer", name);
    XL_FUZZ_CHECK(id > 0 && id <= XL_AUDIT_ID_MAX, "%s = %lld out of range", name, (long long)id);
}

static const xl_metric_t *find_metric(const xl_event_t *ev, const char *name)
{
    for (size_t i = 0; i < ev->nmetrics; ++i)
        if (ev->metrics[i].name.len == strlen(name) && memcmp(ev->metrics[i].name.base, name, strlen(name)) == 0)
            return &ev->metrics[i];
    return NULL;
}

static const xl_attr_t *find_attr(const xl_event_t *ev, const char *key)
{
    for (size_t i = 0; i < ev->nattributes; ++i)
        if (ev->attributes[i].key.len == strlen(key) && memcmp(ev->attributes[i].key.base, key, strlen(key)) == 0)
            return &ev->attributes[i];
    return NULL;
}

static void check_valid(json_t *obj, int kind, const xl_event_t *ev)
{
    const char *key;
    json_t *v;

    XL_FUZZ_CHECK(json_is_object(obj), "a body that is not an object passed");
    json_object_foreach(obj, key, v)
    {
        XL_FUZZ_CHECK(is_known(key), "unknown member \"%s\" passed", key);
    }
    int append = kind == XL_WRITE_APPEND || (kind == XL_WRITE_BATCH && json_object_get(obj, "audit_id") != NULL);

    check_string_member(obj, "event_id", &ev->event_id, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "flow_id", &ev->flow_id, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "flow_name", &ev->flow_name, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "tenant_id", &ev->tenant_id, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "message_id", &ev->message_id, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "trigger_type", &ev->trigger_type, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "started_by", &ev->started_by, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "task", &ev->task, XL_FIELD_MAX_STRING, 1);
    check_string_member(obj, "message", &ev->message, XL_FIELD_MAX_TEXT, 0);
    check_id_member(obj, "parent_audit_id", ev->parent_audit_id);
    check_id_member(obj, "parent_execution_id", ev->parent_execution_id);
    check_id_member(obj, "audit_id", ev->audit_id);
    if (kind == XL_WRITE_CREATE || (kind == XL_WRITE_BATCH && !append))
        XL_FUZZ_CHECK(ev->flow_id.base != NULL, "a create without flow_id passed");
    if (kind == XL_WRITE_BATCH && append)
        XL_FUZZ_CHECK(ev->audit_id > 0, "a batch line naming a null execution passed");

    v = json_object_get(obj, "time");
    XL_FUZZ_CHECK(v == NULL ? ev->time_ms == 0 : json_is_integer(v) && json_integer_value(v) == ev->time_ms,
                  "time is not the member's integer");
    XL_FUZZ_CHECK(ev->time_ms >= 0, "negative time passed");

    v = json_object_get(obj, "type");
    if (v == NULL) {
        XL_FUZZ_CHECK(!append, "an append without type passed");
        XL_FUZZ_CHECK(ev->type == XL_EVENT_CREATED, "type %d without a type member", ev->type);
    } else {
        XL_FUZZ_CHECK(json_is_string(v) && xl_event_type_parse(json_string_value(v), json_string_length(v)) == ev->type,
                      "type is not the member's");
        XL_FUZZ_CHECK(ev->type > XL_EVENT_CREATED && ev->type < XL_EVENT_PAUSE_REQUESTED, "type %d passed", ev->type);
    }
    XL_FUZZ_CHECK(ev->status == XL_STATUS_NONE, "a write set status %d", ev->status);

    v = json_object_get(obj, "error");
    if (v == NULL || json_is_null(v)) {
        XL_FUZZ_CHECK(!ev->error.present, "error set without an error member");
    } else {
        XL_FUZZ_CHECK(json_is_object(v) && ev->error.present, "error member not an object, or not kept");
        json_t *m;
        json_object_foreach(v, key, m)
        {
            XL_FUZZ_CHECK(strcmp(key, "class") == 0 || strcmp(key, "message") == 0 || strcmp(key, "stack") == 0,
                          "unknown error member \"%s\" passed", key);
        }
        XL_FUZZ_CHECK(json_object_get(v, "class") != NULL || json_object_get(v, "message") != NULL,
                      "an error with neither class nor message passed");
        m = json_object_get(v, "class");
        XL_FUZZ_CHECK(json_is_string(m) ? same_json_string(&ev->error.class_, m) && ev->error.class_.len > 0
                                        : ev->error.class_.base != NULL && ev->error.class_.len == 0,
                      "error.class");
        m = json_object_get(v, "message");
        XL_FUZZ_CHECK(json_is_string(m) ? same_json_string(&ev->error.message, m)
                                        : ev->error.message.base != NULL && ev->error.message.len == 0,
                      "error.message");
        m = json_object_get(v, "stack");
        XL_FUZZ_CHECK(json_is_string(m) ? same_json_string(&ev->error.stack, m) : ev->error.stack.base == NULL,
                      "error.stack");
    }

    v = json_object_get(obj, "warnings");
    XL_FUZZ_CHECK(v == NULL ? ev->nwarnings == 0 : json_is_array(v) && json_array_size(v) == ev->nwarnings,
                  "warnings: %zu kept of %zu", ev->nwarnings, json_array_size(v));
    XL_FUZZ_CHECK(ev->nwarnings <= XL_FIELD_MAX_ENTRIES, "%zu warnings passed", ev->nwarnings);
    for (size_t i = 0; i < ev->nwarnings; ++i)
        XL_FUZZ_CHECK(same_json_string(&ev->warnings[i], json_array_get(v, i)) &&
                          ev->warnings[i].len <= XL_FIELD_MAX_TEXT,
                      "warnings[%zu]", i);

    v = json_object_get(obj, "metrics");
    XL_FUZZ_CHECK(v == NULL ? ev->nmetrics == 0 : json_is_object(v) && json_object_size(v) == ev->nmetrics,
                  "metrics: %zu kept of %zu", ev->nmetrics, json_object_size(v));
    XL_FUZZ_CHECK(ev->nmetrics <= XL_FIELD_MAX_ENTRIES, "%zu metrics passed", ev->nmetrics);
    json_t *m;
    json_object_foreach(v, key, m)
    {
        const xl_metric_t *x = find_metric(ev, key);
        XL_FUZZ_CHECK(x != NULL && json_is_integer(m) && json_integer_value(m) == x->value,
                      "metric \"%.40s\" not kept as its integer", key);
    }

    v = json_object_get(obj, "attributes");
    XL_FUZZ_CHECK(v == NULL ? ev->nattributes == 0 : json_is_object(v) && json_object_size(v) == ev->nattributes,
                  "attributes: %zu kept of %zu", ev->nattributes, json_object_size(v));
    XL_FUZZ_CHECK(ev->nattributes <= XL_FIELD_MAX_ENTRIES, "%zu attributes passed", ev->nattributes);
    json_object_foreach(v, key, m)
    {
        const xl_attr_t *x = find_attr(ev, key);
        XL_FUZZ_CHECK(x != NULL && same_json_string(&x->value, m) && x->value.len <= XL_FIELD_MAX_TEXT,
                      "attribute \"%.40s\" not kept as its string", key);
    }
}

/* What the write path adds before producing, then encode and decode: the same event comes back. */
static void check_round_trip(xl_event_t *ev)
{
    char err[256] = "";
    xl_event_t back;
    xl_buf_t frame;

    if (ev->event_id.base == NULL)
        ev->event_id = (xl_str_t){(char *)"generated", 9};
    if (ev->flow_id.base == NULL)
        ev->flow_id = (xl_str_t){(char *)"from-state", 10};
    if (ev->audit_id == 0)
        ev->audit_id = 1;
    ev->root_audit_id = ev->audit_id;
    ev->ingest_time_ms = 1700000000000LL;
    xl_buf_init(&frame);
    int rc = xl_event_encode(codec, ev, &frame, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0, "a valid write does not encode: %d %s", rc, err);
    rc = xl_event_decode(codec, frame.base, frame.len, &back, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0, "a valid write's frame does not decode: %d %s", rc, err);
    const char *diff = xl_fuzz_event_diff(ev, &back);
    XL_FUZZ_CHECK(diff == NULL, "a valid write changed through Avro: %s", diff);
    xl_event_dispose(&back);
    xl_buf_dispose(&frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = kinds[data[0] % (sizeof(kinds) / sizeof(kinds[0]))];
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    xl_event_t fast;
    int scanned = xl_validate_scan((const char *)data + 1, size - 1, kind, &fast, &pool);
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);
    XL_FUZZ_CHECK(obj != NULL || !scanned, "the scanner took a body jansson refuses: %s", jerr.text);
    if (obj == NULL) {
        h2o_mem_clear_pool(&pool);
        return 0;
    }

    json_t *errors = json_array();
    xl_event_t ev;
    size_t nerr = xl_validate_write(obj, kind, &ev, errors, &pool);
    XL_FUZZ_CHECK(nerr == json_array_size(errors), "%zu errors counted, %zu listed", nerr, json_array_size(errors));
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        json_t *reason = json_object_get(e, "reason");
        XL_FUZZ_CHECK(json_is_object(e) && json_is_string(json_object_get(e, "field")) && json_is_string(reason) &&
                          json_string_length(reason) > 0,
                      "errors[%zu] is not {field, reason}", i);
    }
    XL_FUZZ_CHECK(nerr == 0 || !scanned, "the scanner took a body the validator refuses (%zu errors)", nerr);
    if (nerr == 0) {
        check_valid(obj, kind, &ev);
        if (scanned) {
            const char *diff = xl_fuzz_event_diff(&fast, &ev);
            XL_FUZZ_CHECK(diff == NULL, "the scanner's event differs from the validator's: %s", diff);
        }
        check_round_trip(&ev);
    }
    json_decref(errors);
    json_decref(obj);
    h2o_mem_clear_pool(&pool);
    return 0;
}
