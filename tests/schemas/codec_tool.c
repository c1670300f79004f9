/*
 * codec_tool: the C side of the cross-implementation test with python3-avro
 * (test_cross_avro.py). It writes sample events and states with the execlog
 * codec, each with the JSON the other side must read back, and decodes what
 * python3-avro wrote, printing it as the same JSON.
 *
 *   codec_tool encode-samples DIR   event-NN.bin/.json, state-NN.bin/.json
 *   codec_tool decode FILE          a single-object event frame -> JSON
 *   codec_tool decode-state FILE    a plain Avro state body -> JSON
 *   codec_tool fingerprint          the two schema fingerprints, hex
 *
 * The JSON uses the Avro field names; times are integers (ms), optional
 * integers that are 0 are null, maps are [key, value] pairs in wire order.
 * Exit status: 0, 1 for a codec error (message on stderr), 2 for misuse.
 * It is a test tool: it must never be linked into the service.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/event.h"

static xl_str_t S(const char *s)
{
    return (xl_str_t){(char *)s, strlen(s)};
}
static xl_str_t SN(const char *s, size_t n)
{
    return (xl_str_t){(char *)s, n};
}
static const xl_str_t NUL_STR = {NULL, 0};

/* ---- to JSON ------------------------------------------------------------------- */

static json_t *jstr(const xl_str_t *s)
{
    if (s->base == NULL)
        return json_null();
    json_t *j = json_stringn(s->base, s->len);
    if (j == NULL) {
        fprintf(stderr, "codec_tool: string is not UTF-8\n");
        exit(1);
    }
    return j;
}

static json_t *jopt_long(int64_t v)
{
    return v == 0 ? json_null() : json_integer(v);
}

static json_t *jerror(const xl_error_t *e)
{
    if (!e->present)
        return json_null();
    return json_pack("{s:o,s:o,s:o}", "class", jstr(&e->class_), "message", jstr(&e->message), "stack",
                     jstr(&e->stack));
}

static json_t *jlists(json_t *obj, size_t nw, const xl_str_t *w, size_t nm, const xl_metric_t *m, size_t na,
                      const xl_attr_t *a)
{
    json_t *warnings = json_array(), *metrics = json_array(), *attrs = json_array();
    for (size_t i = 0; i < nw; ++i)
        json_array_append_new(warnings, jstr(&w[i]));
    for (size_t i = 0; i < nm; ++i)
        json_array_append_new(metrics, json_pack("[o,I]", jstr(&m[i].name), (json_int_t)m[i].value));
    for (size_t i = 0; i < na; ++i)
        json_array_append_new(attrs, json_pack("[o,o]", jstr(&a[i].key), jstr(&a[i].value)));
    json_object_set_new(obj, "warnings", warnings);
    json_object_set_new(obj, "metrics", metrics);
    json_object_set_new(obj, "attributes", attrs);
    return obj;
}

static json_t *jpairs(size_t nm, const xl_metric_t *m)
{
    json_t *metrics = json_array();
    for (size_t i = 0; i < nm; ++i)
        json_array_append_new(metrics, json_pack("[o,I]", jstr(&m[i].name), (json_int_t)m[i].value));
    return metrics;
}

static json_t *jstrs(size_t n, const xl_str_t *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; ++i)
        json_array_append_new(a, jstr(&s[i]));
    return a;
}

static json_t *jfile_metrics(size_t n, const xl_file_metric_t *f)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; ++i)
        json_array_append_new(a, json_pack("{s:o,s:o}", "name", jstr(&f[i].name), "metrics",
                                           jpairs(f[i].nmetrics, f[i].metrics)));
    return a;
}

static json_t *event_json(const xl_event_t *ev)
{
    json_t *j = json_object();
    json_object_set_new(j, "event_id", jstr(&ev->event_id));
    json_object_set_new(j, "audit_id", json_integer(ev->audit_id));
    json_object_set_new(j, "parent_audit_id", jopt_long(ev->parent_audit_id));
    json_object_set_new(j, "root_audit_id", json_integer(ev->root_audit_id));
    json_object_set_new(j, "parent_execution_id", jopt_long(ev->parent_execution_id));
    json_object_set_new(j, "retries", json_integer(ev->retries));
    json_object_set_new(j, "flow_id", jstr(&ev->flow_id));
    json_object_set_new(j, "flow_name", jstr(&ev->flow_name));
    json_object_set_new(j, "tenant_id", jstr(&ev->tenant_id));
    json_object_set_new(j, "message_id", jstr(&ev->message_id));
    json_object_set_new(j, "type", json_string(xl_event_type_name(ev->type)));
    json_object_set_new(j, "status",
                        ev->status == XL_STATUS_NONE ? json_null() : json_string(xl_status_name(ev->status)));
    json_object_set_new(j, "time", json_integer(ev->time_ms));
    json_object_set_new(j, "ingest_time", json_integer(ev->ingest_time_ms));
    json_object_set_new(j, "trigger_type", jstr(&ev->trigger_type));
    json_object_set_new(j, "started_by", jstr(&ev->started_by));
    json_object_set_new(j, "task", jstr(&ev->task));
    json_object_set_new(j, "message", jstr(&ev->message));
    json_object_set_new(j, "error", jerror(&ev->error));
    jlists(j, ev->nwarnings, ev->warnings, ev->nmetrics, ev->metrics, ev->nattributes, ev->attributes);
    json_object_set_new(j, "input", jstr(&ev->input));
    json_object_set_new(j, "output", jstr(&ev->output));
    json_object_set_new(j, "log", jstr(&ev->log));
    json_t *steps = json_array();
    for (size_t i = 0; i < ev->nsteps; ++i)
        json_array_append_new(steps, json_pack("{s:o,s:o,s:o}", "name", jstr(&ev->steps[i].name), "type",
                                               jstr(&ev->steps[i].type), "depends_on",
                                               jstrs(ev->steps[i].ndepends_on, ev->steps[i].depends_on)));
    json_object_set_new(j, "steps", steps);
    json_object_set_new(j, "code", jstr(&ev->code));
    json_object_set_new(j, "error_location", jopt_long(ev->error_location));
    json_object_set_new(j, "schedule_event_id", jopt_long(ev->schedule_event_id));
    json_object_set_new(j, "schedule_event_name", jstr(&ev->schedule_event_name));
    json_object_set_new(j, "file_metrics", jfile_metrics(ev->nfile_metrics, ev->file_metrics));
    json_object_set_new(j, "traceparent", jstr(&ev->traceparent));
    json_object_set_new(j, "top_execution_id", jopt_long(ev->top_execution_id));
    return j;
}

static json_t *state_json(const xl_state_t *st)
{
    json_t *j = json_object();
    json_object_set_new(j, "audit_id", json_integer(st->audit_id));
    json_object_set_new(j, "parent_audit_id", jopt_long(st->parent_audit_id));
    json_object_set_new(j, "root_audit_id", json_integer(st->root_audit_id));
    json_object_set_new(j, "parent_execution_id", jopt_long(st->parent_execution_id));
    json_object_set_new(j, "retries", json_integer(st->retries));
    json_object_set_new(j, "flow_id", jstr(&st->flow_id));
    json_object_set_new(j, "flow_name", jstr(&st->flow_name));
    json_object_set_new(j, "tenant_id", jstr(&st->tenant_id));
    json_object_set_new(j, "message_id", jstr(&st->message_id));
    json_object_set_new(j, "trigger_type", jstr(&st->trigger_type));
    json_object_set_new(j, "started_by", jstr(&st->started_by));
    json_object_set_new(j, "status", json_string(xl_status_name(st->status)));
    json_object_set_new(j, "created_ms", json_integer(st->created_ms));
    json_object_set_new(j, "started_ms", jopt_long(st->started_ms));
    json_object_set_new(j, "ended_ms", jopt_long(st->ended_ms));
    json_object_set_new(j, "updated_ms", json_integer(st->updated_ms));
    json_object_set_new(j, "last_seq", json_integer(st->last_seq));
    json_object_set_new(j, "anomalies", json_integer(st->anomalies));
    json_object_set_new(j, "message", jstr(&st->message));
    json_object_set_new(j, "error", jerror(&st->error));
    jlists(j, st->nwarnings, st->warnings, st->nmetrics, st->metrics, st->nattributes, st->attributes);
    json_object_set_new(j, "log_partition", json_integer(st->log_partition));
    json_object_set_new(j, "log_offset", json_integer(st->log_offset));
    json_t *tasks = json_array(), *anomalies = json_array();
    for (size_t i = 0; i < st->ntasks; ++i) {
        const xl_task_t *t = &st->tasks[i];
        json_t *jt = json_pack("{s:o,s:s,s:o,s:o,s:I,s:o}", "name", jstr(&t->name), "status",
                               xl_status_name(t->status), "started_ms", jopt_long(t->started_ms), "ended_ms",
                               jopt_long(t->ended_ms), "attempts", (json_int_t)t->attempts, "message",
                               jstr(&t->message));
        json_object_set_new(jt, "type", jstr(&t->type));
        json_object_set_new(jt, "depends_on", jstrs(t->ndepends_on, t->depends_on));
        json_object_set_new(jt, "error", jerror(&t->error));
        json_object_set_new(jt, "input", jstr(&t->input));
        json_object_set_new(jt, "output", jstr(&t->output));
        json_object_set_new(jt, "metrics", jpairs(t->nmetrics, t->metrics));
        json_t *attrs = json_array(), *runs = json_array();
        for (size_t k = 0; k < t->nattributes; ++k)
            json_array_append_new(attrs, json_pack("[o,o]", jstr(&t->attributes[k].key), jstr(&t->attributes[k].value)));
        json_object_set_new(jt, "attributes", attrs);
        for (size_t k = 0; k < t->nruns; ++k) {
            const xl_task_run_t *r = &t->runs[k];
            json_array_append_new(runs, json_pack("{s:I,s:s,s:o,s:o,s:o}", "attempt", (json_int_t)r->attempt, "status",
                                                  xl_status_name(r->status), "started_ms", jopt_long(r->started_ms),
                                                  "ended_ms", jopt_long(r->ended_ms), "error", jerror(&r->error)));
        }
        json_object_set_new(jt, "runs", runs);
        json_array_append_new(tasks, jt);
    }
    for (size_t i = 0; i < st->nanomaly_list; ++i) {
        const xl_anomaly_t *a = &st->anomaly_list[i];
        json_array_append_new(anomalies, json_pack("{s:I,s:s,s:s}", "seq", (json_int_t)a->seq, "type",
                                                   xl_event_type_name(a->type), "status", xl_status_name(a->status)));
    }
    json_object_set_new(j, "tasks", tasks);
    json_object_set_new(j, "anomaly_list", anomalies);
    json_object_set_new(j, "warnings_total", json_integer(st->warnings_total));
    json_object_set_new(j, "top_execution_id", jopt_long(st->top_execution_id));
    json_object_set_new(j, "input", jstr(&st->input));
    json_object_set_new(j, "output", jstr(&st->output));
    json_object_set_new(j, "code", jstr(&st->code));
    json_object_set_new(j, "error_location", jopt_long(st->error_location));
    json_object_set_new(j, "schedule_event_id", jopt_long(st->schedule_event_id));
    json_object_set_new(j, "schedule_event_name", jstr(&st->schedule_event_name));
    json_object_set_new(j, "file_metrics", jfile_metrics(st->nfile_metrics, st->file_metrics));
    json_object_set_new(j, "control_type", json_integer(st->control_type));
    json_object_set_new(j, "control_seq", json_integer(st->control_seq));
    json_object_set_new(j, "control_event_id", jstr(&st->control_event_id));
    return j;
}

/* ---- samples ------------------------------------------------------------------- */

#define NBIG 200
static xl_str_t big_w[NBIG];
static xl_metric_t big_m[NBIG];
static xl_attr_t big_a[NBIG];
static char big_names[NBIG][16], big_vals[NBIG][32];
static char *long_text;

static xl_str_t w3[3];
static xl_metric_t m3[3];
static xl_attr_t a3[3];
static xl_task_t t2[2];
static xl_anomaly_t an2[2];

static void samples_init(void)
{
    for (int i = 0; i < NBIG; ++i) {
        snprintf(big_names[i], sizeof(big_names[i]), "key_%03d", (i * 37) % NBIG);
        snprintf(big_vals[i], sizeof(big_vals[i]), "v\xc3\xa4lue %d", i);
        big_w[i] = S(big_vals[i]);
        big_m[i] =
            (xl_metric_t){S(big_names[i]), (int64_t)i * INT64_C(46116860184273879) - INT64_C(4611686018427387904)};
        big_a[i] = (xl_attr_t){S(big_names[i]), S(big_vals[i])};
    }
    long_text = malloc(100 * 1024 + 1);
    for (int i = 0; i < 100 * 1024; ++i)
        long_text[i] = (char)(' ' + i % 95);
    w3[0] = S("retrying step 2");
    w3[1] = S("");
    w3[2] = S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x90\x8d");
    m3[0] = (xl_metric_t){S("rows_read"), 1000000};
    m3[1] = (xl_metric_t){S("errors"), -3};
    m3[2] = (xl_metric_t){S("bytes_written"), INT64_MAX};
    a3[0] = (xl_attr_t){S("host"), S("node-7")};
    a3[1] = (xl_attr_t){S("nul"), SN("a\0b", 3)};
    a3[2] = (xl_attr_t){S("\xc3\xbc"
                          "ber"),
                        S("")};
    t2[0] = (xl_task_t){S("extract"), XL_STATUS_SUCCEEDED, 1600000000010LL, 1600000000020LL, 2, S("ok \xe2\x9c\x93")};
    t2[1] = (xl_task_t){S(""), XL_STATUS_RUNNING, 0, 0, 0, NUL_STR};
    an2[0] = (xl_anomaly_t){3, XL_EVENT_STARTED, XL_STATUS_SUCCEEDED};
    an2[1] = (xl_anomaly_t){UINT32_MAX, XL_EVENT_TASK_FAILED, XL_STATUS_CANCELLED};
}

/* n-th sample event: every type, full, minimal and mixed fillings */
static xl_event_t sample_event(int n)
{
    int type = n % XL_EVENT__COUNT;
    xl_event_t ev = {
        .event_id = S("ev-0"),
        .audit_id = 1000 + n,
        .root_audit_id = 1000,
        .flow_id = S("flow-x"),
        .type = type,
        .status = XL_STATUS_NONE,
        .time_ms = 1700000000000LL + n,
        .ingest_time_ms = 1700000000500LL + n,
    };
    switch (n % 3) {
    case 0: /* everything */
        ev.parent_audit_id = XL_AUDIT_ID_MAX;
        ev.parent_execution_id = 999;
        ev.retries = n;
        ev.flow_name = S("Flow \"X\" \\ tab\t");
        ev.tenant_id = S("tenant-\xc3\xa9");
        ev.message_id = S("m-1");
        ev.status = n % XL_STATUS__COUNT;
        ev.trigger_type = S("schedule");
        ev.started_by = S("bob");
        ev.task = S("load");
        ev.message = SN("two\nlines\0and a NUL", 19);
        ev.error = (xl_error_t){.present = 1, .class_ = S("ValueError"), .message = S("bad row 7"), .stack = S("tb")};
        ev.nwarnings = 3;
        ev.warnings = w3;
        ev.nmetrics = 3;
        ev.metrics = m3;
        ev.nattributes = 3;
        ev.attributes = a3;
        break;
    case 1: /* every optional field null, every list empty */
        break;
    default: /* mixed: empty strings, one entry, error without stack */
        ev.event_id = S("");
        ev.flow_id = S("");
        ev.flow_name = S("");
        ev.status = XL_STATUS_CANCELLED;
        ev.retries = -1;
        ev.error = (xl_error_t){.present = 1, .class_ = S(""), .message = S("m"), .stack = NUL_STR};
        ev.nwarnings = 1;
        ev.warnings = w3;
        ev.nmetrics = 1;
        ev.metrics = m3 + 1;
        ev.nattributes = 1;
        ev.attributes = a3 + 2;
        break;
    }
    return ev;
}

#define NEXTRA 3
static xl_event_t extra_event(int k)
{
    xl_event_t ev = sample_event(0);
    switch (k) {
    case 0: /* big collections in a non-sorted order */
        ev.nwarnings = ev.nmetrics = ev.nattributes = NBIG;
        ev.warnings = big_w;
        ev.metrics = big_m;
        ev.attributes = big_a;
        break;
    case 1: /* extremes; times stay inside python's datetime range */
        ev.audit_id = INT64_MIN;
        ev.root_audit_id = INT64_MAX;
        ev.parent_audit_id = -1;
        ev.parent_execution_id = INT64_MIN;
        ev.retries = INT32_MIN;
        ev.time_ms = -62135596800000LL;        /* 0001-01-01 */
        ev.ingest_time_ms = 253402300799999LL; /* 9999-12-31T23:59:59.999 */
        break;
    default: /* a long message */
        ev.message = SN(long_text, 100 * 1024);
        break;
    }
    return ev;
}

static xl_state_t sample_state(int n)
{
    xl_state_t st = {
        .audit_id = 5000 + n,
        .root_audit_id = 5000,
        .flow_id = S("flow-s"),
        .status = n % XL_STATUS__COUNT,
        .created_ms = 1600000000000LL,
        .updated_ms = 1600000009999LL,
    };
    if (n % 2 == 0) {
        st.parent_audit_id = 4999;
        st.parent_execution_id = 1;
        st.retries = 4;
        st.flow_name = S("S");
        st.tenant_id = S("t");
        st.message_id = S("mid");
        st.trigger_type = S("api");
        st.started_by = S("carol");
        st.warnings_total = 77;
        st.started_ms = 1600000000001LL;
        st.ended_ms = 1600000000002LL;
        st.last_seq = UINT32_MAX;
        st.anomalies = 2;
        st.message = S("last words");
        st.error = (xl_error_t){.present = 1, .class_ = S("E"), .message = S("msg"), .stack = S("s")};
        st.nwarnings = 3;
        st.warnings = w3;
        st.nmetrics = 3;
        st.metrics = m3;
        st.nattributes = 3;
        st.attributes = a3;
        st.log_partition = 31;
        st.log_offset = INT64_MAX;
        st.ntasks = 2;
        st.tasks = t2;
        st.nanomaly_list = 2;
        st.anomaly_list = an2;
    }
    return st;
}

/* ---- modes --------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, int n, const char *ext, const void *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s-%02d.%s", dir, name, n, ext);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || fwrite(p, 1, len, fp) != len || fclose(fp) != 0) {
        fprintf(stderr, "codec_tool: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_json(const char *dir, const char *name, int n, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    int rc = write_file(dir, name, n, "json", text, strlen(text));
    free(text);
    json_decref(j);
    return rc;
}

static int encode_samples(xl_codec_t *codec, const char *dir)
{
    char err[256];
    xl_buf_t buf;
    int n = 0, rc = 0;

    samples_init();
    xl_buf_init(&buf);
    for (int i = 0; i < 2 * XL_EVENT__COUNT + NEXTRA && rc == 0; ++i, ++n) {
        xl_event_t ev = i < 2 * XL_EVENT__COUNT ? sample_event(i) : extra_event(i - 2 * XL_EVENT__COUNT);
        xl_buf_reset(&buf);
        if ((rc = xl_event_encode(codec, &ev, &buf, err, sizeof(err))) != 0) {
            fprintf(stderr, "codec_tool: encode sample %d: %s\n", i, err);
            break;
        }
        rc = write_file(dir, "event", i, "bin", buf.base, buf.len);
        if (rc == 0)
            rc = write_json(dir, "event", i, event_json(&ev));
    }
    for (int i = 0; i < 4 && rc == 0; ++i) {
        xl_state_t st = sample_state(i);
        xl_buf_reset(&buf);
        if ((rc = xl_state_encode(codec, &st, &buf, err, sizeof(err))) != 0) {
            fprintf(stderr, "codec_tool: encode state %d: %s\n", i, err);
            break;
        }
        rc = write_file(dir, "state", i, "bin", buf.base, buf.len);
        if (rc == 0)
            rc = write_json(dir, "state", i, state_json(&st));
    }
    xl_buf_dispose(&buf);
    free(long_text);
    return rc == 0 ? 0 : 1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *data = NULL;
    long n;
    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0 ||
        (data = malloc((size_t)n + 1)) == NULL || fread(data, 1, (size_t)n, fp) != (size_t)n) {
        fprintf(stderr, "codec_tool: cannot read %s\n", path);
        free(data);
        data = NULL;
    } else {
        *len = (size_t)n;
    }
    if (fp != NULL)
        fclose(fp);
    return data;
}

static int decode(xl_codec_t *codec, const char *path, int state)
{
    char err[256];
    size_t len = 0;
    char *data = read_file(path, &len);
    json_t *j = NULL;
    int rc;

    if (data == NULL)
        return 1;
    if (state) {
        xl_state_t st;
        if ((rc = xl_state_decode(codec, data, len, &st, err, sizeof(err))) == 0) {
            j = state_json(&st);
            xl_state_dispose(&st);
        }
    } else {
        xl_event_t ev;
        if ((rc = xl_event_decode(codec, data, len, &ev, err, sizeof(err))) == 0) {
            j = event_json(&ev);
            xl_event_dispose(&ev);
        }
    }
    free(data);
    if (rc != 0) {
        fprintf(stderr, "codec_tool: decode %s: %s (%s)\n", path, err, strerror(-rc));
        return 1;
    }
    json_dumpf(j, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(j);
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    int rc = 2;
    xl_codec_t *codec = NULL;

    if (argc < 2)
        goto usage;
    if ((codec = xl_codec_create(err, sizeof(err))) == NULL) {
        fprintf(stderr, "codec_tool: %s\n", err);
        return 1;
    }
    if (strcmp(argv[1], "encode-samples") == 0 && argc == 3)
        rc = encode_samples(codec, argv[2]);
    else if (strcmp(argv[1], "decode") == 0 && argc == 3)
        rc = decode(codec, argv[2], 0);
    else if (strcmp(argv[1], "decode-state") == 0 && argc == 3)
        rc = decode(codec, argv[2], 1);
    else if (strcmp(argv[1], "fingerprint") == 0 && argc == 2)
        rc = printf("%016" PRIx64 " %016" PRIx64 "\n", xl_event_schema_fingerprint(), xl_state_schema_fingerprint()) > 0
                 ? 0
                 : 1;
    else
        goto usage;
    xl_codec_destroy(codec);
    return rc;

usage:
    xl_codec_destroy(codec);
    fprintf(stderr, "usage: codec_tool encode-samples DIR | decode FILE | decode-state FILE | fingerprint\n");
    return 2;
}
