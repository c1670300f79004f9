/*
 * JSON rendering (see render.h). Field names are the API's contract
 * (snake_case, documented in the README; camelCase only for the ETLWorks
 * route); absent values render as null rather than disappearing, so clients
 * can rely on every key being there.
 */
#include "api/render.h"

#include "ingest/http.h"
#include "schemas/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

json_t *xl_render_str(const xl_str_t *s)
{
    return s->base != NULL ? xl_http_text(s->base, s->len) : json_null();
}

json_t *xl_render_select(json_t *o, const char *fields, size_t len)
{
    json_t *sel = json_object();
    for (const char *p = fields, *end = fields + len; sel != NULL && p <= end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma != NULL ? comma : end;
        char name[64];
        if (e > p && (size_t)(e - p) < sizeof(name)) {
            memcpy(name, p, (size_t)(e - p));
            name[e - p] = '\0';
            json_t *v = json_object_get(o, name);
            if (v != NULL)
                json_object_set(sel, name, v);
        }
        p = e + 1;
    }
    json_decref(o);
    return sel;
}

json_t *xl_render_status(int status)
{
    const char *name = xl_status_name(status);
    return name != NULL ? json_string(name) : json_null();
}

static json_t *opt_int(int64_t v)
{
    return v != 0 ? json_integer(v) : json_null();
}

static json_t *render_error(const xl_error_t *e)
{
    if (!e->present)
        return json_null();
    return json_pack("{s:o, s:o, s:o}", "class", xl_render_str(&e->class_), "message", xl_render_str(&e->message),
                     "stack", xl_render_str(&e->stack));
}

static json_t *render_warnings(const xl_str_t *w, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; ++i)
        json_array_append_new(a, xl_render_str(&w[i]));
    return a;
}

static json_t *render_metrics(const xl_metric_t *m, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; ++i)
        if (m[i].name.base != NULL)
            json_object_setn_new(o, m[i].name.base, m[i].name.len, json_integer(m[i].value));
    return o;
}

static json_t *render_attributes(const xl_attr_t *a, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; ++i)
        if (a[i].key.base != NULL)
            json_object_setn_new(o, a[i].key.base, a[i].key.len, xl_render_str(&a[i].value));
    return o;
}

/*
 * Durations are never negative: an end dated before the start (a client's
 * clock; ingest refuses such a write, older logs may hold one) counts as 0.
 */
static int64_t span(int64_t from, int64_t to)
{
    return to > from ? to - from : 0;
}

static json_t *duration(const xl_state_t *st)
{
    int64_t from = st->started_ms ? st->started_ms : st->created_ms;
    return st->ended_ms && from ? json_integer(span(from, st->ended_ms)) : json_null();
}

/* Structured input/output: stored as JSON text, shown as the JSON value (a string if it is not JSON). */
static json_t *json_value(const xl_str_t *s)
{
    if (s->base == NULL)
        return json_null();
    json_t *v = json_loadb(s->base, s->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    return v != NULL ? v : xl_render_str(s);
}

static json_t *render_strs(const xl_str_t *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; ++i)
        json_array_append_new(a, xl_render_str(&s[i]));
    return a;
}

static json_t *render_file_metrics(const xl_file_metric_t *f, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; ++i)
        json_array_append_new(a, json_pack("{s:o, s:o}", "name", xl_render_str(&f[i].name), "metrics",
                                           render_metrics(f[i].metrics, f[i].nmetrics)));
    return a;
}

/* What schema version 2 added to a task, after its version-1 keys. */
static void render_task_more(json_t *o, const xl_task_t *t)
{
    json_object_set_new(o, "type", xl_render_str(&t->type));
    json_object_set_new(o, "depends_on", render_strs(t->depends_on, t->ndepends_on));
    json_object_set_new(o, "error", render_error(&t->error));
    json_object_set_new(o, "input", json_value(&t->input));
    json_object_set_new(o, "output", json_value(&t->output));
    json_object_set_new(o, "metrics", render_metrics(t->metrics, t->nmetrics));
    json_object_set_new(o, "attributes", render_attributes(t->attributes, t->nattributes));
    json_t *runs = json_array();
    for (size_t k = t->nruns; k > 0; --k) { /* newest first, as the products list them */
        const xl_task_run_t *r = &t->runs[k - 1];
        json_array_append_new(runs, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "attempt", (json_int_t)r->attempt,
                                              "status", xl_render_status(r->status), "started", opt_int(r->started_ms),
                                              "ended", opt_int(r->ended_ms), "duration_ms",
                                              r->ended_ms && r->started_ms
                                                  ? json_integer(span(r->started_ms, r->ended_ms))
                                                  : json_null(),
                                              "error", render_error(&r->error)));
    }
    json_object_set_new(o, "runs", runs);
}

/* What schema version 2 added to an execution, after its version-1 keys. */
static void render_state_more(json_t *o, const xl_state_t *st)
{
    json_object_set_new(o, "top_execution_id", opt_int(st->top_execution_id));
    json_object_set_new(o, "input", json_value(&st->input));
    json_object_set_new(o, "output", json_value(&st->output));
    json_object_set_new(o, "code", xl_render_str(&st->code));
    json_object_set_new(o, "error_location", opt_int(st->error_location));
    json_object_set_new(o, "schedule_event_id", opt_int(st->schedule_event_id));
    json_object_set_new(o, "schedule_event_name", xl_render_str(&st->schedule_event_name));
    json_object_set_new(o, "file_metrics", render_file_metrics(st->file_metrics, st->nfile_metrics));
    const char *control = st->control_type != 0 ? xl_event_type_name(st->control_type) : NULL;
    json_object_set_new(o, "control", control != NULL ? json_pack("{s:s, s:I, s:o}", "type", control, "seq",
                                                                  (json_int_t)st->control_seq, "event_id",
                                                                  xl_render_str(&st->control_event_id))
                                                      : json_null());
}

static json_t *render_tasks(const xl_state_t *st)
{
    json_t *a = json_array();
    for (size_t i = 0; i < st->ntasks; ++i) {
        const xl_task_t *t = &st->tasks[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", xl_render_str(&t->name));
        json_object_set_new(o, "status", xl_render_status(t->status));
        json_object_set_new(o, "started", opt_int(t->started_ms));
        json_object_set_new(o, "ended", opt_int(t->ended_ms));
        json_object_set_new(o, "duration_ms",
                            t->ended_ms && t->started_ms ? json_integer(span(t->started_ms, t->ended_ms)) : json_null());
        json_object_set_new(o, "attempts", json_integer(t->attempts));
        json_object_set_new(o, "message", xl_render_str(&t->message));
        render_task_more(o, t);
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *render_anomalies(const xl_state_t *st)
{
    json_t *a = json_array();
    for (size_t i = 0; i < st->nanomaly_list; ++i) {
        const xl_anomaly_t *an = &st->anomaly_list[i];
        const char *type = xl_event_type_name(an->type);
        json_array_append_new(a, json_pack("{s:I, s:o, s:o}", "seq", (json_int_t)an->seq, "type",
                                           type ? json_string(type) : json_null(), "status",
                                           xl_render_status(an->status)));
    }
    return a;
}

json_t *xl_render_state(const xl_state_t *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "audit_id", json_integer(st->audit_id));
    json_object_set_new(o, "parent_audit_id", opt_int(st->parent_audit_id));
    json_object_set_new(o, "root_audit_id", json_integer(st->root_audit_id));
    json_object_set_new(o, "parent_execution_id", opt_int(st->parent_execution_id));
    json_object_set_new(o, "retries", json_integer(st->retries));
    json_object_set_new(o, "flow_id", xl_render_str(&st->flow_id));
    json_object_set_new(o, "flow_name", xl_render_str(&st->flow_name));
    json_object_set_new(o, "tenant_id", xl_render_str(&st->tenant_id));
    json_object_set_new(o, "message_id", xl_render_str(&st->message_id));
    json_object_set_new(o, "status", xl_render_status(st->status));
    json_object_set_new(o, "trigger_type", xl_render_str(&st->trigger_type));
    json_object_set_new(o, "started_by", xl_render_str(&st->started_by));
    json_object_set_new(o, "created", opt_int(st->created_ms));
    json_object_set_new(o, "started", opt_int(st->started_ms));
    json_object_set_new(o, "ended", opt_int(st->ended_ms));
    json_object_set_new(o, "duration_ms", duration(st));
    json_object_set_new(o, "updated", opt_int(st->updated_ms));
    json_object_set_new(o, "message", xl_render_str(&st->message));
    json_object_set_new(o, "error", render_error(&st->error));
    json_object_set_new(o, "warnings", render_warnings(st->warnings, st->nwarnings));
    json_object_set_new(o, "warnings_total", json_integer(st->warnings_total));
    json_object_set_new(o, "metrics", render_metrics(st->metrics, st->nmetrics));
    json_object_set_new(o, "attributes", render_attributes(st->attributes, st->nattributes));
    json_object_set_new(o, "tasks", render_tasks(st));
    json_object_set_new(o, "events", json_integer(st->last_seq));
    json_object_set_new(o, "anomalies", json_integer(st->anomalies));
    json_object_set_new(o, "anomaly_list", render_anomalies(st));
    json_object_set_new(
        o, "position",
        json_pack("{s:i, s:I}", "partition", (int)st->log_partition, "offset", (json_int_t)st->log_offset));
    render_state_more(o, st);
    return o;
}

json_t *xl_render_attempt(const xl_state_t *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "audit_id", json_integer(st->audit_id));
    json_object_set_new(o, "parent_audit_id", opt_int(st->parent_audit_id));
    json_object_set_new(o, "parent_execution_id", opt_int(st->parent_execution_id));
    json_object_set_new(o, "retries", json_integer(st->retries));
    json_object_set_new(o, "flow_id", xl_render_str(&st->flow_id));
    json_object_set_new(o, "status", xl_render_status(st->status));
    json_object_set_new(o, "created", opt_int(st->created_ms));
    json_object_set_new(o, "started", opt_int(st->started_ms));
    json_object_set_new(o, "ended", opt_int(st->ended_ms));
    json_object_set_new(o, "duration_ms", duration(st));
    json_object_set_new(o, "error", render_error(&st->error));
    return o;
}

json_t *xl_render_event(const xl_event_t *ev, uint32_t seq, const xl_pos_t *pos)
{
    json_t *o = json_object();
    const char *type = xl_event_type_name(ev->type);
    json_object_set_new(o, "seq", json_integer(seq));
    json_object_set_new(o, "audit_id", json_integer(ev->audit_id));
    json_object_set_new(o, "event_id", xl_render_str(&ev->event_id));
    json_object_set_new(o, "type", type ? json_string(type) : json_null());
    json_object_set_new(o, "status", xl_render_status(ev->status));
    json_object_set_new(o, "time", opt_int(ev->time_ms));
    json_object_set_new(o, "ingest_time", opt_int(ev->ingest_time_ms));
    json_object_set_new(o, "root_audit_id", opt_int(ev->root_audit_id));
    json_object_set_new(o, "parent_audit_id", opt_int(ev->parent_audit_id));
    json_object_set_new(o, "parent_execution_id", opt_int(ev->parent_execution_id));
    json_object_set_new(o, "retries", json_integer(ev->retries));
    json_object_set_new(o, "flow_id", xl_render_str(&ev->flow_id));
    json_object_set_new(o, "flow_name", xl_render_str(&ev->flow_name));
    json_object_set_new(o, "tenant_id", xl_render_str(&ev->tenant_id));
    json_object_set_new(o, "message_id", xl_render_str(&ev->message_id));
    json_object_set_new(o, "trigger_type", xl_render_str(&ev->trigger_type));
    json_object_set_new(o, "started_by", xl_render_str(&ev->started_by));
    json_object_set_new(o, "task", xl_render_str(&ev->task));
    json_object_set_new(o, "message", xl_render_str(&ev->message));
    json_object_set_new(o, "error", render_error(&ev->error));
    json_object_set_new(o, "warnings", render_warnings(ev->warnings, ev->nwarnings));
    json_object_set_new(o, "metrics", render_metrics(ev->metrics, ev->nmetrics));
    json_object_set_new(o, "attributes", render_attributes(ev->attributes, ev->nattributes));
    json_object_set_new(o, "input", json_value(&ev->input));
    json_object_set_new(o, "output", json_value(&ev->output));
    json_object_set_new(o, "log", xl_render_str(&ev->log));
    json_t *steps = json_array();
    for (size_t i = 0; i < ev->nsteps; ++i)
        json_array_append_new(steps, json_pack("{s:o, s:o, s:o}", "name", xl_render_str(&ev->steps[i].name), "type",
                                               xl_render_str(&ev->steps[i].type), "depends_on",
                                               render_strs(ev->steps[i].depends_on, ev->steps[i].ndepends_on)));
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "code", xl_render_str(&ev->code));
    json_object_set_new(o, "error_location", opt_int(ev->error_location));
    json_object_set_new(o, "schedule_event_id", opt_int(ev->schedule_event_id));
    json_object_set_new(o, "schedule_event_name", xl_render_str(&ev->schedule_event_name));
    json_object_set_new(o, "file_metrics", render_file_metrics(ev->file_metrics, ev->nfile_metrics));
    json_object_set_new(o, "top_execution_id", opt_int(ev->top_execution_id));
    json_object_set_new(o, "traceparent", xl_render_str(&ev->traceparent));
    json_object_set_new(
        o, "position",
        pos != NULL ? json_pack("{s:i, s:I}", "partition", (int)pos->partition, "offset", (json_int_t)pos->offset)
                    : json_null());
    return o;
}

char *xl_render_duration_text(int64_t ms, char *out, size_t outlen)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
#define PL(n) ((n) == 1 ? "" : "s")
    if (ms < 1000)
        snprintf(out, outlen, "%" PRId64 " ms", ms);
    else if (s < 60)
        snprintf(out, outlen, "%" PRId64 ".%" PRId64 " seconds", s, (ms % 1000) / 100);
    else if (m < 60)
        snprintf(out, outlen, "%" PRId64 " minute%s %" PRId64 " second%s", m, PL(m), s % 60, PL(s % 60));
    else if (h < 24)
        snprintf(out, outlen, "%" PRId64 " hour%s %" PRId64 " minute%s %" PRId64 " second%s", h, PL(h), m % 60,
                 PL(m % 60), s % 60, PL(s % 60));
    else
        snprintf(out, outlen, "%" PRId64 " day%s %" PRId64 " hour%s %" PRId64 " minute%s", d, PL(d), h % 24, PL(h % 24),
                 m % 60, PL(m % 60));
#undef PL
    return out;
}

json_t *xl_render_flow(const char *flow_id, size_t flow_len, const xl_str_t *tenant, const xl_flow_summary_t *sum,
                       json_t *latest)
{
    json_t *o = json_object(), *counts = json_object();
    json_object_set_new(o, "flow_id", xl_http_text(flow_id, flow_len));
    json_object_set_new(o, "tenant_id", tenant != NULL ? xl_render_str(tenant) : json_null());
    json_object_set_new(o, "total", json_integer((json_int_t)sum->total));
    for (int s = 0; s <= XL_STATUS_CANCELLED; ++s) /* an execution's statuses; waiting and skipped are tasks' */
        json_object_set_new(counts, xl_status_name(s), json_integer((json_int_t)sum->by_status[s]));
    json_object_set_new(o, "by_status", counts);
    json_object_set_new(o, "ended", json_integer((json_int_t)sum->ended));
    json_object_set_new(o, "succeeded", json_integer((json_int_t)sum->succeeded));
    json_object_set_new(o, "success_rate",
                        sum->ended ? json_real((double)sum->succeeded / (double)sum->ended) : json_null());
    json_object_set_new(o, "duration_ms",
                        json_pack("{s:o, s:o, s:o}", "p50", sum->p50_ms >= 0 ? json_integer(sum->p50_ms) : json_null(),
                                  "p95", sum->p95_ms >= 0 ? json_integer(sum->p95_ms) : json_null(), "p99",
                                  sum->p99_ms >= 0 ? json_integer(sum->p99_ms) : json_null()));
    json_object_set_new(o, "latest_audit_id", opt_int(sum->latest_audit_id));
    json_object_set_new(o, "latest", latest != NULL ? latest : json_null());
    return o;
}

/* ---- direct rendering ---------------------------------------------------------------
 *
 * xl_render_state_buf writes what json_dumpb(xl_render_state(st), JSON_COMPACT)
 * writes, byte for byte, with no tree, no per-value malloc and no printf: the
 * hot path of GET /v1/executions/{id}. Any member added to xl_render_state must
 * be added here in the same place; test_render.c compares both on many states.
 * Writers reserve before they write, so one failure check per piece suffices.
 */

/* Room for the longest int64 in decimal: "-9223372036854775808". */
#define INT_TEXT_MAX 20

static char *put_int(char *p, int64_t v)
{
    char tmp[INT_TEXT_MAX];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static int buf_lit(xl_buf_t *out, const char *s, size_t n)
{
    return xl_buf_append(out, s, n);
}
#define LIT(out, s) buf_lit((out), (s), sizeof(s) - 1)

static int buf_int(xl_buf_t *out, int64_t v)
{
    if (xl_buf_reserve(out, INT_TEXT_MAX) != 0)
        return -ENOMEM;
    out->len = (size_t)(put_int(out->base + out->len, v) - out->base);
    return 0;
}

static int buf_opt_int(xl_buf_t *out, int64_t v)
{
    return v != 0 ? buf_int(out, v) : LIT(out, "null");
}

/*
 * A JSON string as jansson dumps it without flags: '"' and '\\' escaped, the
 * short escapes \b \f \n \r \t, other bytes below 0x20 as \u00XX (upper-case
 * hex), everything else (UTF-8 included, '/' and DEL too) copied as is;
 * a byte that starts no valid UTF-8 sequence becomes U+FFFD.
 */
static int buf_json_string(xl_buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* worst case: every byte becomes \u00XX */
    if (n > (SIZE_MAX - 2) / 6 || xl_buf_reserve(out, n * 6 + 2) != 0)
        return -ENOMEM;
    char *p = out->base + out->len;
    *p++ = '"';
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) { /* a stored string is UTF-8 by contract; a broken one is shown repaired */
            size_t k = xl_utf8_seq(s + i, n - i);
            if (k == 0) {
                memcpy(p, XL_UTF8_REPLACEMENT, 3);
                p += 3;
            } else {
                memcpy(p, s + i, k);
                p += k;
                i += k - 1;
            }
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *p++ = (char)c;
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p++ = '"';
    out->len = (size_t)(p - out->base);
    return 0;
}

static int buf_str(xl_buf_t *out, const xl_str_t *s)
{
    return s->base != NULL ? buf_json_string(out, s->base, s->len) : LIT(out, "null");
}

static int buf_name(xl_buf_t *out, const char *name)
{
    return name != NULL ? buf_json_string(out, name, strlen(name)) : LIT(out, "null");
}

static int buf_error(xl_buf_t *out, const xl_error_t *e)
{
    if (!e->present)
        return LIT(out, "null");
    return LIT(out, "{\"class\":") || buf_str(out, &e->class_) || LIT(out, ",\"message\":") ||
                   buf_str(out, &e->message) || LIT(out, ",\"stack\":") || buf_str(out, &e->stack) || LIT(out, "}")
               ? -ENOMEM
               : 0;
}

static int str_eq(const xl_str_t *a, const xl_str_t *b)
{
    return a->len == b->len && memcmp(a->base, b->base, a->len) == 0;
}

/*
 * Map keys as a json_t object has them: a NULL name is left out, and a name
 * seen again keeps the place of its first occurrence with the value of its
 * last. The projector keeps names sorted and unique, so the O(n^2) search for
 * earlier duplicates only runs when that order is broken.
 */
static size_t key_first(const void *items, size_t size, size_t n, size_t i, int sorted)
{
    const xl_str_t *k = (const xl_str_t *)((const char *)items + i * size);
    if (sorted)
        return i;
    for (size_t j = 0; j < i; ++j) {
        const xl_str_t *kj = (const xl_str_t *)((const char *)items + j * size);
        if (kj->base != NULL && str_eq(kj, k))
            return j;
    }
    (void)n;
    return i;
}

static size_t key_last(const void *items, size_t size, size_t n, size_t i, int sorted)
{
    const xl_str_t *k = (const xl_str_t *)((const char *)items + i * size);
    size_t last = i;
    for (size_t j = i + 1; j < n; ++j) {
        const xl_str_t *kj = (const xl_str_t *)((const char *)items + j * size);
        if (kj->base != NULL && str_eq(kj, k))
            last = j;
        else if (sorted)
            break; /* sorted: equal names are adjacent */
    }
    return last;
}

/* Strictly ascending (any total order will do): then names are unique and equal ones adjacent. */
static int keys_sorted(const void *items, size_t size, size_t n)
{
    const xl_str_t *prev = NULL;
    for (size_t i = 0; i < n; ++i) {
        const xl_str_t *k = (const xl_str_t *)((const char *)items + i * size);
        if (k->base == NULL)
            return 0;
        if (prev != NULL) {
            size_t m = prev->len < k->len ? prev->len : k->len;
            int c = memcmp(prev->base, k->base, m);
            if (c > 0 || (c == 0 && prev->len >= k->len))
                return 0;
        }
        prev = k;
    }
    return 1;
}

static int buf_metrics(xl_buf_t *out, const xl_metric_t *m, size_t n)
{
    int sorted = keys_sorted(m, sizeof(*m), n), first = 1;
    if (LIT(out, "{") != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; ++i) {
        if (m[i].name.base == NULL || key_first(m, sizeof(*m), n, i, sorted) != i)
            continue;
        size_t last = sorted ? i : key_last(m, sizeof(*m), n, i, sorted);
        if ((!first && LIT(out, ",") != 0) || buf_json_string(out, m[i].name.base, m[i].name.len) != 0 ||
            LIT(out, ":") != 0 || buf_int(out, m[last].value) != 0)
            return -ENOMEM;
        first = 0;
    }
    return LIT(out, "}");
}

static int buf_attributes(xl_buf_t *out, const xl_attr_t *a, size_t n)
{
    int sorted = keys_sorted(a, sizeof(*a), n), first = 1;
    if (LIT(out, "{") != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; ++i) {
        if (a[i].key.base == NULL || key_first(a, sizeof(*a), n, i, sorted) != i)
            continue;
        size_t last = sorted ? i : key_last(a, sizeof(*a), n, i, sorted);
        if ((!first && LIT(out, ",") != 0) || buf_json_string(out, a[i].key.base, a[i].key.len) != 0 ||
            LIT(out, ":") != 0 || buf_str(out, &a[last].value) != 0)
            return -ENOMEM;
        first = 0;
    }
    return LIT(out, "}");
}

/* A structured value: its JSON text as json_value renders it (jansson only when there is one). */
static int buf_json_value(xl_buf_t *out, const xl_str_t *s)
{
    if (s->base == NULL)
        return LIT(out, "null");
    json_t *v = json_value(s);
    size_t len = v != NULL ? json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    int ret = len != 0 && xl_buf_reserve(out, len) == 0 ? 0 : -ENOMEM;
    if (ret == 0)
        out->len += json_dumpb(v, out->base + out->len, len, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return ret;
}

/* render_state_more's keys, written directly: the hot path allocates nothing without input/output. */
static int buf_state_more(xl_buf_t *out, const xl_state_t *st)
{
    if (LIT(out, ",\"top_execution_id\":") || buf_opt_int(out, st->top_execution_id) || LIT(out, ",\"input\":") ||
        buf_json_value(out, &st->input) || LIT(out, ",\"output\":") || buf_json_value(out, &st->output) ||
        LIT(out, ",\"code\":") || buf_str(out, &st->code) || LIT(out, ",\"error_location\":") ||
        buf_opt_int(out, st->error_location) || LIT(out, ",\"schedule_event_id\":") ||
        buf_opt_int(out, st->schedule_event_id) || LIT(out, ",\"schedule_event_name\":") ||
        buf_str(out, &st->schedule_event_name) || LIT(out, ",\"file_metrics\":["))
        return -ENOMEM;
    for (size_t i = 0; i < st->nfile_metrics; ++i) {
        const xl_file_metric_t *f = &st->file_metrics[i];
        if ((i > 0 && LIT(out, ",")) || LIT(out, "{\"name\":") || buf_str(out, &f->name) ||
            LIT(out, ",\"metrics\":") || buf_metrics(out, f->metrics, f->nmetrics) || LIT(out, "}"))
            return -ENOMEM;
    }
    const char *control = st->control_type != 0 ? xl_event_type_name(st->control_type) : NULL;
    if (LIT(out, "],\"control\":"))
        return -ENOMEM;
    if (control == NULL)
        return LIT(out, "null");
    return LIT(out, "{\"type\":") || buf_name(out, control) || LIT(out, ",\"seq\":") ||
                   buf_int(out, (json_int_t)st->control_seq) || LIT(out, ",\"event_id\":") ||
                   buf_str(out, &st->control_event_id) || LIT(out, "}")
               ? -ENOMEM
               : 0;
}

/* render_task_more's keys, written directly (jansson only for input/output values). */
static int buf_task_more(xl_buf_t *out, const xl_task_t *t)
{
    if (LIT(out, ",\"type\":") || buf_str(out, &t->type) || LIT(out, ",\"depends_on\":["))
        return -ENOMEM;
    for (size_t i = 0; i < t->ndepends_on; ++i)
        if ((i > 0 && LIT(out, ",")) || buf_str(out, &t->depends_on[i]))
            return -ENOMEM;
    if (LIT(out, "],\"error\":") || buf_error(out, &t->error) || LIT(out, ",\"input\":") ||
        buf_json_value(out, &t->input) || LIT(out, ",\"output\":") || buf_json_value(out, &t->output) ||
        LIT(out, ",\"metrics\":") || buf_metrics(out, t->metrics, t->nmetrics) || LIT(out, ",\"attributes\":") ||
        buf_attributes(out, t->attributes, t->nattributes) || LIT(out, ",\"runs\":["))
        return -ENOMEM;
    for (size_t k = t->nruns; k > 0; --k) {
        const xl_task_run_t *r = &t->runs[k - 1];
        if ((k < t->nruns && LIT(out, ",")) || LIT(out, "{\"attempt\":") || buf_int(out, (json_int_t)r->attempt) ||
            LIT(out, ",\"status\":") || buf_name(out, xl_status_name(r->status)) || LIT(out, ",\"started\":") ||
            buf_opt_int(out, r->started_ms) || LIT(out, ",\"ended\":") || buf_opt_int(out, r->ended_ms) ||
            LIT(out, ",\"duration_ms\":") ||
            (r->ended_ms && r->started_ms ? buf_int(out, span(r->started_ms, r->ended_ms)) : LIT(out, "null")) ||
            LIT(out, ",\"error\":") || buf_error(out, &r->error) || LIT(out, "}"))
            return -ENOMEM;
    }
    return LIT(out, "]");
}

static int buf_tasks(xl_buf_t *out, const xl_state_t *st)
{
    if (LIT(out, "[") != 0)
        return -ENOMEM;
    for (size_t i = 0; i < st->ntasks; ++i) {
        const xl_task_t *t = &st->tasks[i];
        if ((i > 0 && LIT(out, ",") != 0) || LIT(out, "{\"name\":") || buf_str(out, &t->name) ||
            LIT(out, ",\"status\":") || buf_name(out, xl_status_name(t->status)) || LIT(out, ",\"started\":") ||
            buf_opt_int(out, t->started_ms) || LIT(out, ",\"ended\":") || buf_opt_int(out, t->ended_ms) ||
            LIT(out, ",\"duration_ms\":") ||
            (t->ended_ms && t->started_ms ? buf_int(out, span(t->started_ms, t->ended_ms)) : LIT(out, "null")) ||
            LIT(out, ",\"attempts\":") || buf_int(out, t->attempts) || LIT(out, ",\"message\":") ||
            buf_str(out, &t->message) || buf_task_more(out, t) || LIT(out, "}"))
            return -ENOMEM;
    }
    return LIT(out, "]");
}

static int buf_anomalies(xl_buf_t *out, const xl_state_t *st)
{
    if (LIT(out, "[") != 0)
        return -ENOMEM;
    for (size_t i = 0; i < st->nanomaly_list; ++i) {
        const xl_anomaly_t *an = &st->anomaly_list[i];
        if ((i > 0 && LIT(out, ",") != 0) || LIT(out, "{\"seq\":") || buf_int(out, (json_int_t)an->seq) ||
            LIT(out, ",\"type\":") || buf_name(out, xl_event_type_name(an->type)) || LIT(out, ",\"status\":") ||
            buf_name(out, xl_status_name(an->status)) || LIT(out, "}"))
            return -ENOMEM;
    }
    return LIT(out, "]");
}

int xl_render_state_buf(const xl_state_t *st, xl_buf_t *out)
{
    int64_t from = st->started_ms ? st->started_ms : st->created_ms;
    size_t bytes = 512; /* the fixed text, then a guess for the strings: one reservation in the common case */
    if (xl_buf_reserve(out, bytes) != 0)
        return -ENOMEM;
    if (LIT(out, "{\"audit_id\":") || buf_int(out, st->audit_id) || LIT(out, ",\"parent_audit_id\":") ||
        buf_opt_int(out, st->parent_audit_id) || LIT(out, ",\"root_audit_id\":") || buf_int(out, st->root_audit_id) ||
        LIT(out, ",\"parent_execution_id\":") || buf_opt_int(out, st->parent_execution_id) ||
        LIT(out, ",\"retries\":") || buf_int(out, st->retries) || LIT(out, ",\"flow_id\":") ||
        buf_str(out, &st->flow_id) || LIT(out, ",\"flow_name\":") || buf_str(out, &st->flow_name) ||
        LIT(out, ",\"tenant_id\":") || buf_str(out, &st->tenant_id) || LIT(out, ",\"message_id\":") ||
        buf_str(out, &st->message_id) || LIT(out, ",\"status\":") || buf_name(out, xl_status_name(st->status)) ||
        LIT(out, ",\"trigger_type\":") || buf_str(out, &st->trigger_type) || LIT(out, ",\"started_by\":") ||
        buf_str(out, &st->started_by) || LIT(out, ",\"created\":") || buf_opt_int(out, st->created_ms) ||
        LIT(out, ",\"started\":") || buf_opt_int(out, st->started_ms) || LIT(out, ",\"ended\":") ||
        buf_opt_int(out, st->ended_ms) || LIT(out, ",\"duration_ms\":") ||
        (st->ended_ms && from ? buf_int(out, span(from, st->ended_ms)) : LIT(out, "null")) ||
        LIT(out, ",\"updated\":") || buf_opt_int(out, st->updated_ms) || LIT(out, ",\"message\":") ||
        buf_str(out, &st->message) || LIT(out, ",\"error\":") || buf_error(out, &st->error) ||
        LIT(out, ",\"warnings\":["))
        return -ENOMEM;
    for (size_t i = 0; i < st->nwarnings; ++i)
        if ((i > 0 && LIT(out, ",") != 0) || buf_str(out, &st->warnings[i]) != 0)
            return -ENOMEM;
    if (LIT(out, "],\"warnings_total\":") || buf_int(out, st->warnings_total) || LIT(out, ",\"metrics\":") || buf_metrics(out, st->metrics, st->nmetrics) || LIT(out, ",\"attributes\":") ||
        buf_attributes(out, st->attributes, st->nattributes) || LIT(out, ",\"tasks\":") || buf_tasks(out, st) ||
        LIT(out, ",\"events\":") || buf_int(out, st->last_seq) || LIT(out, ",\"anomalies\":") ||
        buf_int(out, st->anomalies) || LIT(out, ",\"anomaly_list\":") || buf_anomalies(out, st) ||
        LIT(out, ",\"position\":{\"partition\":") || buf_int(out, (int)st->log_partition) ||
        LIT(out, ",\"offset\":") || buf_int(out, (json_int_t)st->log_offset) || LIT(out, "}") ||
        buf_state_more(out, st) || LIT(out, "}"))
        return -ENOMEM;
    return 0;
}

int xl_render_attempt_buf(const xl_state_t *st, xl_buf_t *out)
{
    int64_t from = st->started_ms ? st->started_ms : st->created_ms;
    if (LIT(out, "{\"audit_id\":") || buf_int(out, st->audit_id) || LIT(out, ",\"parent_audit_id\":") ||
        buf_opt_int(out, st->parent_audit_id) || LIT(out, ",\"parent_execution_id\":") ||
        buf_opt_int(out, st->parent_execution_id) || LIT(out, ",\"retries\":") || buf_int(out, st->retries) ||
        LIT(out, ",\"flow_id\":") || buf_str(out, &st->flow_id) || LIT(out, ",\"status\":") ||
        buf_name(out, xl_status_name(st->status)) || LIT(out, ",\"created\":") || buf_opt_int(out, st->created_ms) ||
        LIT(out, ",\"started\":") || buf_opt_int(out, st->started_ms) || LIT(out, ",\"ended\":") ||
        buf_opt_int(out, st->ended_ms) || LIT(out, ",\"duration_ms\":") ||
        (st->ended_ms && from ? buf_int(out, span(from, st->ended_ms)) : LIT(out, "null")) ||
        LIT(out, ",\"error\":") || buf_error(out, &st->error) || LIT(out, "}"))
        return -ENOMEM;
    return 0;
}

int xl_render_string_buf(xl_buf_t *out, const char *s, size_t n)
{
    return buf_json_string(out, s, n);
}
