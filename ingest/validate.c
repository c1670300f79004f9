/*
 * Write-body validation (see validate.h). One row per accepted field: the
 * kinds of write that accept it, how to read it, and where it goes.
 */
#include "ingest/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/utf8.h"

#define XL_STR_(x) #x
#define XL_STR(x) XL_STR_(x)

typedef enum {
    T_STRING,
    T_TEXT,
    T_ID,
    T_TIME,
    T_TYPE,
    T_ERROR,
    T_WARNINGS,
    T_METRICS,
    T_ATTRIBUTES,
    T_JSON,    /* any JSON value, kept as compact text (at most XL_FIELD_MAX_JSON) */
    T_STEPS,   /* [{name, type, depends_on}] */
    T_FILES,   /* [{name, metrics}] */
    T_LINE,    /* a positive integer (a line number) */
} field_type_t;

#define K_NEW (XL_WRITE_CREATE | XL_WRITE_RETRY)
#define K_ANY (XL_WRITE_CREATE | XL_WRITE_APPEND | XL_WRITE_RETRY | XL_WRITE_CANCEL)
#define OFF(f) offsetof(xl_event_t, f)

static const struct {
    const char *name;
    int kinds;    /* writes that accept the field */
    int required; /* writes that require it */
    field_type_t type;
    size_t offset;
} fields[] = {
    {"event_id", K_ANY, 0, T_STRING, OFF(event_id)},
    {"flow_id", XL_WRITE_CREATE, XL_WRITE_CREATE, T_STRING, OFF(flow_id)},
    {"flow_name", XL_WRITE_CREATE, 0, T_STRING, OFF(flow_name)},
    {"tenant_id", XL_WRITE_CREATE, 0, T_STRING, OFF(tenant_id)},
    {"message_id", XL_WRITE_CREATE, 0, T_STRING, OFF(message_id)},
    {"trigger_type", K_NEW, 0, T_STRING, OFF(trigger_type)},
    {"started_by", K_NEW, 0, T_STRING, OFF(started_by)},
    {"parent_audit_id", XL_WRITE_CREATE, 0, T_ID, OFF(parent_audit_id)},
    {"parent_execution_id", XL_WRITE_CREATE, 0, T_ID, OFF(parent_execution_id)},
    {"audit_id", XL_WRITE_BATCH, 0, T_ID, OFF(audit_id)},
    {"type", XL_WRITE_APPEND, XL_WRITE_APPEND, T_TYPE, OFF(type)},
    {"time", K_ANY, 0, T_TIME, OFF(time_ms)},
    {"task", XL_WRITE_APPEND | XL_WRITE_CANCEL, 0, T_STRING, OFF(task)}, /* controls: retry-failed-tasks only */
    {"message", K_ANY, 0, T_TEXT, OFF(message)},
    {"error", XL_WRITE_APPEND, 0, T_ERROR, OFF(error)},
    {"warnings", XL_WRITE_APPEND, 0, T_WARNINGS, 0},
    {"metrics", XL_WRITE_APPEND, 0, T_METRICS, 0},
    {"attributes", K_NEW | XL_WRITE_APPEND, 0, T_ATTRIBUTES, 0},
    {"input", K_NEW | XL_WRITE_APPEND, 0, T_JSON, OFF(input)},
    {"output", XL_WRITE_APPEND, 0, T_JSON, OFF(output)},
    {"log", XL_WRITE_APPEND, 0, T_TEXT, OFF(log)},
    {"steps", XL_WRITE_CREATE, 0, T_STEPS, 0},
    {"code", XL_WRITE_APPEND, 0, T_TEXT, OFF(code)},
    {"error_location", XL_WRITE_APPEND, 0, T_LINE, OFF(error_location)},
    {"schedule_event_id", K_NEW, 0, T_ID, OFF(schedule_event_id)},
    {"schedule_event_name", K_NEW, 0, T_STRING, OFF(schedule_event_name)},
    {"file_metrics", XL_WRITE_APPEND, 0, T_FILES, 0},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

void xl_validate_error(json_t *errors, const char *field, const char *reason)
{
    /* never dropped: a field name that is not UTF-8 is shown repaired */
    size_t len = strlen(field);
    char *fixed = malloc(len * 3 + 1);
    json_t *e = json_object();
    if (fixed == NULL || e == NULL) {
        free(fixed);
        json_decref(e);
        return;
    }
    json_object_set_new(e, "field", json_stringn_nocheck(fixed, xl_utf8_repair(field, len, fixed)));
    json_object_set_new(e, "reason", json_string(reason));
    json_array_append_new(errors, e);
    free(fixed);
}

/* An error about one member of an object field ("metrics.<key>"): the key is cut, at a character boundary. */
static void entry_error(json_t *errors, const char *prefix, const char *key, const char *reason)
{
    char field[160];
    size_t n = 0, len = strlen(key), k;
    while (n < len && (k = xl_utf8_seq(key + n, len - n)) != 0 && n + k <= 100)
        n += k;
    snprintf(field, sizeof(field), "%s.%.*s%s", prefix, (int)n, key, n < len ? "..." : "");
    xl_validate_error(errors, field, reason);
}

static int read_string(json_t *v, size_t max, xl_str_t *out)
{
    if (!json_is_string(v))
        return -1;
    size_t len = json_string_length(v);
    if (len > max)
        return -2;
    out->base = (char *)json_string_value(v);
    out->len = len;
    return 0;
}

/* a string field; null means absent. Identifier-like strings must not be empty. */
static void check_string(json_t *errors, const char *name, json_t *v, size_t max, int allow_empty, xl_str_t *out)
{
    char reason[96];
    if (v == NULL || json_is_null(v)) /* absent and null are the same */
        return;
    int r = read_string(v, max, out);
    if (r == -1) {
        xl_validate_error(errors, name, "must be a string");
    } else if (r == -2) {
        snprintf(reason, sizeof(reason), "must be at most %zu bytes", max);
        xl_validate_error(errors, name, reason);
    } else if (!allow_empty && out->len == 0) {
        xl_validate_error(errors, name, "must not be empty");
        out->base = NULL;
    }
}

static void check_error(json_t *errors, json_t *v, xl_error_t *out)
{
    if (json_is_null(v))
        return;
    if (!json_is_object(v)) {
        xl_validate_error(errors, "error", "must be an object with class, message and optional stack");
        return;
    }
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item)
    {
        if (strcmp(key, "class") != 0 && strcmp(key, "message") != 0 && strcmp(key, "stack") != 0)
            xl_validate_error(errors, "error", "unknown member (expected class, message, stack)");
    }
    size_t before = json_array_size(errors);
    xl_str_t empty = {(char *)"", 0};
    out->class_ = empty;
    out->message = empty;
    check_string(errors, "error.class", json_object_get(v, "class"), XL_FIELD_MAX_STRING, 0, &out->class_);
    check_string(errors, "error.message", json_object_get(v, "message"), XL_FIELD_MAX_TEXT, 1, &out->message);
    check_string(errors, "error.stack", json_object_get(v, "stack"), XL_FIELD_MAX_TEXT, 1, &out->stack);
    if (json_object_get(v, "class") == NULL && json_object_get(v, "message") == NULL)
        xl_validate_error(errors, "error", "needs at least class or message");
    out->present = json_array_size(errors) == before;
}

static int check_entries(json_t *errors, const char *name, size_t n)
{
    if (n <= XL_FIELD_MAX_ENTRIES)
        return 0;
    char reason[64];
    snprintf(reason, sizeof(reason), "at most %d entries", XL_FIELD_MAX_ENTRIES);
    xl_validate_error(errors, name, reason);
    return -1;
}

static void check_warnings(json_t *errors, json_t *v, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    if (!json_is_array(v)) {
        xl_validate_error(errors, "warnings", "must be an array of strings");
        return;
    }
    if (check_entries(errors, "warnings", json_array_size(v)) != 0)
        return;
    ev->warnings = h2o_mem_alloc_pool(pool, sizeof(xl_str_t) * (json_array_size(v) + 1));
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (read_string(item, XL_FIELD_MAX_TEXT, &ev->warnings[ev->nwarnings]) != 0) {
            xl_validate_error(errors, "warnings", "must be an array of strings");
            return;
        }
        ++ev->nwarnings;
    }
}

static void check_metrics(json_t *errors, json_t *v, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    if (!json_is_object(v)) {
        xl_validate_error(errors, "metrics", "must be an object of integers");
        return;
    }
    if (check_entries(errors, "metrics", json_object_size(v)) != 0)
        return;
    ev->metrics = h2o_mem_alloc_pool(pool, sizeof(xl_metric_t) * (json_object_size(v) + 1));
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item)
    {
        if (!json_is_integer(item)) {
            entry_error(errors, "metrics", key, "must be an integer");
            continue;
        }
        if (strlen(key) > XL_FIELD_MAX_STRING) {
            entry_error(errors, "metrics", key, "a name is at most " XL_STR(XL_FIELD_MAX_STRING) " bytes");
            continue;
        }
        xl_metric_t *m = &ev->metrics[ev->nmetrics++];
        m->name.base = (char *)key;
        m->name.len = strlen(key);
        m->value = json_integer_value(item);
    }
}

static void check_attributes(json_t *errors, json_t *v, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    if (!json_is_object(v)) {
        xl_validate_error(errors, "attributes", "must be an object of strings");
        return;
    }
    if (check_entries(errors, "attributes", json_object_size(v)) != 0)
        return;
    ev->attributes = h2o_mem_alloc_pool(pool, sizeof(xl_attr_t) * (json_object_size(v) + 1));
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item)
    {
        xl_attr_t *a = &ev->attributes[ev->nattributes];
        if (read_string(item, XL_FIELD_MAX_TEXT, &a->value) != 0) {
            entry_error(errors, "attributes", key, "must be a string");
            continue;
        }
        if (strlen(key) > XL_FIELD_MAX_STRING) {
            entry_error(errors, "attributes", key, "a key is at most " XL_STR(XL_FIELD_MAX_STRING) " bytes");
            continue;
        }
        a->key.base = (char *)key;
        a->key.len = strlen(key);
        ++ev->nattributes;
    }
}

/* Any JSON value, kept as its compact text in pool; null means absent. */
static void check_json(json_t *errors, const char *name, json_t *v, xl_str_t *out, h2o_mem_pool_t *pool)
{
    if (json_is_null(v))
        return;
    size_t len = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (len == 0 || len > XL_FIELD_MAX_JSON) {
        xl_validate_error(errors, name, "must be a JSON value of at most " XL_STR(XL_FIELD_MAX_JSON) " bytes (compact)");
        return;
    }
    out->base = h2o_mem_alloc_pool(pool, len + 1);
    out->len = json_dumpb(v, out->base, len, JSON_COMPACT | JSON_ENCODE_ANY);
    out->base[out->len] = '\0';
}

/* A string array (depends_on), at most max entries, each a non-empty identifier-like string. */
static int read_names(json_t *v, size_t max, xl_str_t **out, size_t *n, h2o_mem_pool_t *pool)
{
    if (!json_is_array(v) || json_array_size(v) > max)
        return -1;
    *out = h2o_mem_alloc_pool(pool, sizeof(xl_str_t) * (json_array_size(v) + 1));
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (read_string(item, XL_FIELD_MAX_STRING, &(*out)[i]) != 0 || (*out)[i].len == 0)
            return -1;
    }
    *n = json_array_size(v);
    return 0;
}

static int str_same(const xl_str_t *a, const xl_str_t *b)
{
    return a->len == b->len && memcmp(a->base, b->base, a->len) == 0;
}

/* steps: [{name, type?, depends_on?}], names unique, dependencies among the plan's names. */
static void check_steps(json_t *errors, json_t *v, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    if (!json_is_array(v)) {
        xl_validate_error(errors, "steps", "must be an array of {name, type, depends_on}");
        return;
    }
    if (check_entries(errors, "steps", json_array_size(v)) != 0)
        return;
    ev->steps = h2o_mem_alloc_pool(pool, sizeof(xl_step_t) * (json_array_size(v) + 1));
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        xl_step_t *step = &ev->steps[i];
        memset(step, 0, sizeof(*step));
        const char *key;
        json_t *m;
        int bad = !json_is_object(item);
        if (!bad) {
            json_object_foreach(item, key, m)
            {
                if (strcmp(key, "name") != 0 && strcmp(key, "type") != 0 && strcmp(key, "depends_on") != 0)
                    bad = 1;
            }
        }
        json_t *deps = bad ? NULL : json_object_get(item, "depends_on");
        json_t *type = bad ? NULL : json_object_get(item, "type");
        if (bad || read_string(json_object_get(item, "name"), XL_FIELD_MAX_STRING, &step->name) != 0 ||
            step->name.len == 0 ||
            (type != NULL && !json_is_null(type) && read_string(type, XL_FIELD_MAX_STRING, &step->type) != 0) ||
            (deps != NULL && read_names(deps, XL_FIELD_MAX_DEPENDS, &step->depends_on, &step->ndepends_on, pool) != 0)) {
            xl_validate_error(errors, "steps",
                              "each step is {name: non-empty string, type: string, depends_on: at most "
                              XL_STR(XL_FIELD_MAX_DEPENDS) " step names}");
            return;
        }
        for (size_t k = 0; k < i; ++k)
            if (str_same(&ev->steps[k].name, &step->name)) {
                xl_validate_error(errors, "steps", "step names must be unique");
                return;
            }
    }
    ev->nsteps = json_array_size(v);
    for (size_t s = 0; s < ev->nsteps; ++s)
        for (size_t d = 0; d < ev->steps[s].ndepends_on; ++d) {
            size_t k;
            for (k = 0; k < ev->nsteps && !str_same(&ev->steps[k].name, &ev->steps[s].depends_on[d]); ++k)
                ;
            if (k == ev->nsteps) {
                xl_validate_error(errors, "steps", "depends_on must name steps of the plan");
                return;
            }
        }
}

/* file_metrics: [{name, metrics: {name: integer}}] */
static void check_files(json_t *errors, json_t *v, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    if (!json_is_array(v)) {
        xl_validate_error(errors, "file_metrics", "must be an array of {name, metrics}");
        return;
    }
    if (check_entries(errors, "file_metrics", json_array_size(v)) != 0)
        return;
    ev->file_metrics = h2o_mem_alloc_pool(pool, sizeof(xl_file_metric_t) * (json_array_size(v) + 1));
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        xl_file_metric_t *f = &ev->file_metrics[i];
        memset(f, 0, sizeof(*f));
        json_t *metrics = json_is_object(item) ? json_object_get(item, "metrics") : NULL;
        if (!json_is_object(item) || json_object_size(item) != 1 + (metrics != NULL) ||
            read_string(json_object_get(item, "name"), XL_FIELD_MAX_STRING, &f->name) != 0 || f->name.len == 0 ||
            (metrics != NULL && (!json_is_object(metrics) || json_object_size(metrics) > XL_FIELD_MAX_ENTRIES))) {
            xl_validate_error(errors, "file_metrics",
                              "each entry is {name: non-empty string, metrics: at most " XL_STR(
                                  XL_FIELD_MAX_ENTRIES) " integers}");
            return;
        }
        if (metrics == NULL)
            continue;
        f->metrics = h2o_mem_alloc_pool(pool, sizeof(xl_metric_t) * (json_object_size(metrics) + 1));
        const char *key;
        json_t *m;
        json_object_foreach(metrics, key, m)
        {
            if (!json_is_integer(m) || strlen(key) > XL_FIELD_MAX_STRING) {
                xl_validate_error(errors, "file_metrics", "metrics are integers named by at most "
                                                          XL_STR(XL_FIELD_MAX_STRING) " bytes");
                return;
            }
            f->metrics[f->nmetrics++] = (xl_metric_t){{(char *)key, strlen(key)}, json_integer_value(m)};
        }
    }
    ev->nfile_metrics = json_array_size(v);
}

static void check_field(json_t *errors, size_t i, json_t *v, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    char *dst = (char *)ev + fields[i].offset;
    const char *name = fields[i].name;
    int t;
    /* null is the same as absent, for every field alike (clients write unset optional members as null); a
     * required field that is null is then reported missing */
    if (json_is_null(v))
        return;
    switch (fields[i].type) {
    case T_STRING:
        check_string(errors, name, v, XL_FIELD_MAX_STRING, 0, (xl_str_t *)dst);
        break;
    case T_TEXT:
        check_string(errors, name, v, XL_FIELD_MAX_TEXT, 1, (xl_str_t *)dst);
        break;
    case T_ID:
        if (json_is_null(v))
            break;
        if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > XL_AUDIT_ID_MAX)
            xl_validate_error(errors, name, "must be a positive integer audit ID");
        else
            *(int64_t *)dst = json_integer_value(v);
        break;
    case T_TIME:
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            xl_validate_error(errors, name, "must be milliseconds since the epoch (a non-negative integer)");
        else
            *(int64_t *)dst = json_integer_value(v);
        break;
    case T_TYPE:
        /* the users' controls after cancel_requested have routes of their own (POST .../pause, ...) */
        if (!json_is_string(v) ||
            (t = xl_event_type_parse(json_string_value(v), json_string_length(v))) < 0 || t == XL_EVENT_CREATED ||
            t >= XL_EVENT_PAUSE_REQUESTED) {
            char reason[512];
            int n = snprintf(reason, sizeof(reason), "must be one of:");
            for (int k = XL_EVENT_CREATED + 1; k < XL_EVENT_PAUSE_REQUESTED && n < (int)sizeof(reason) - 32; ++k)
                n += snprintf(reason + n, sizeof(reason) - (size_t)n, " %s", xl_event_type_name(k));
            xl_validate_error(errors, name, reason);
        } else {
            *(int *)dst = t;
        }
        break;
    case T_ERROR:
        check_error(errors, v, (xl_error_t *)dst);
        break;
    case T_WARNINGS:
        check_warnings(errors, v, ev, pool);
        break;
    case T_METRICS:
        check_metrics(errors, v, ev, pool);
        break;
    case T_ATTRIBUTES:
        check_attributes(errors, v, ev, pool);
        break;
    case T_JSON:
        check_json(errors, name, v, (xl_str_t *)dst, pool);
        break;
    case T_STEPS:
        check_steps(errors, v, ev, pool);
        break;
    case T_FILES:
        check_files(errors, v, ev, pool);
        break;
    case T_LINE:
        if (json_is_null(v))
            break;
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            xl_validate_error(errors, name, "must be a positive integer (a line number)");
        else
            *(int64_t *)dst = json_integer_value(v);
        break;
    }
}

size_t xl_validate_write(json_t *obj, int kind, xl_event_t *ev, json_t *errors, h2o_mem_pool_t *pool)
{
    size_t before = json_array_size(errors);
    memset(ev, 0, sizeof(*ev));
    ev->type = XL_EVENT_CREATED;
    ev->status = XL_STATUS_NONE;
    if (!json_is_object(obj)) {
        xl_validate_error(errors, "", "the body must be a JSON object");
        return json_array_size(errors) - before;
    }
    /* a batch line is a create unless it names an execution */
    int effective = kind;
    if (kind & XL_WRITE_BATCH)
        effective = XL_WRITE_BATCH | (json_object_get(obj, "audit_id") != NULL ? XL_WRITE_APPEND : XL_WRITE_CREATE);

    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i;
        for (i = 0; i < NFIELDS; ++i)
            if (strcmp(fields[i].name, key) == 0)
                break;
        if (i == NFIELDS || (fields[i].kinds & effective) == 0) {
            xl_validate_error(errors, key, "unknown field");
            continue;
        }
        check_field(errors, i, v, ev, pool);
    }
    for (size_t i = 0; i < NFIELDS; ++i) {
        if (!(fields[i].required & effective))
            continue;
        json_t *v = json_object_get(obj, fields[i].name);
        if (v == NULL || json_is_null(v))
            xl_validate_error(errors, fields[i].name, "is required");
    }
    /* a batch line that names an execution must name a real one */
    if ((effective & XL_WRITE_BATCH) && (effective & XL_WRITE_APPEND) && json_is_null(json_object_get(obj, "audit_id")))
        xl_validate_error(errors, "audit_id", "must be a positive integer audit ID (omit it to start an execution)");
    return json_array_size(errors) - before;
}

/* ---- the fast path: a flat line scanned without a JSON tree ------------------------------ */

#define SCAN_MAX_MEMBERS 32
#define SCAN_MAX_ENTRIES 16 /* of a metrics or attributes object: its duplicate check is quadratic; more: full path */

typedef struct st_scan_t {
    const char *p, *end;
} scan_t;

typedef enum { V_STRING, V_INT, V_OBJECT } scan_value_t;

typedef struct st_scan_member_t {
    xl_str_t key;
    scan_value_t kind;
    xl_str_t str; /* V_STRING */
    int64_t num;  /* V_INT */
    scan_t inner; /* V_OBJECT: from its '{' */
    size_t count; /* V_OBJECT: members */
    int all_ints; /* V_OBJECT: every value an integer (else every value a string) */
} scan_member_t;

static void scan_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        ++s->p;
}

static int scan_char(scan_t *s, char c)
{
    scan_ws(s);
    if (s->p == s->end || *s->p != c)
        return 0;
    ++s->p;
    return 1;
}

/* A string without escapes or control characters, valid UTF-8: borrowed as it is in the line. */
static int scan_string(scan_t *s, xl_str_t *out)
{
    if (!scan_char(s, '"'))
        return -1;
    const char *b = s->p;
    unsigned high = 0;
    for (; s->p < s->end && *s->p != '"'; ++s->p) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '\\' || c < 0x20)
            return -1;
        high |= c & 0x80;
    }
    if (s->p == s->end)
        return -1;
    out->base = (char *)b;
    out->len = (size_t)(s->p - b);
    ++s->p;
    return high && !xl_utf8_valid(out->base, out->len) ? -1 : 0;
}

/* An integer as jansson reads one (no leading zero, no fraction or exponent), of at most 18 digits. */
static int scan_int(scan_t *s, int64_t *out)
{
    scan_ws(s);
    int neg = s->p < s->end && *s->p == '-';
    const char *d = s->p + neg, *e = d;
    int64_t v = 0;
    for (; e < s->end && *e >= '0' && *e <= '9'; ++e)
        if (e - d < 18) /* longer ones are refused below; no overflow on the way */
            v = v * 10 + (*e - '0');
    size_t n = (size_t)(e - d);
    if (n == 0 || n > 18 || (*d == '0' && (n > 1 || neg)) || (e < s->end && (*e == '.' || *e == 'e' || *e == 'E')))
        return -1;
    s->p = e;
    *out = neg ? -v : v;
    return 0;
}

static int same_key(const xl_str_t *a, const xl_str_t *b)
{
    return a->len == b->len && memcmp(a->base, b->base, a->len) == 0;
}

/* One "key": value of a flat object (value an integer if ints, else a string). */
static int scan_entry(scan_t *s, int ints, xl_str_t *key, int64_t *num, xl_str_t *str)
{
    if (scan_string(s, key) != 0 || !scan_char(s, ':'))
        return -1;
    return ints ? scan_int(s, num) : scan_string(s, str);
}

/* A flat object of integers or of strings: checked and counted (no key twice), filled later. */
static int scan_inner(scan_t *s, scan_member_t *m)
{
    m->inner = *s;
    if (!scan_char(s, '{'))
        return -1;
    m->count = 0;
    m->all_ints = -1;
    if (scan_char(s, '}'))
        return 0;
    do {
        xl_str_t key, str;
        int64_t num;
        if (scan_string(s, &key) != 0 || !scan_char(s, ':'))
            return -1;
        scan_ws(s);
        int is_int = s->p < s->end && *s->p != '"';
        if (m->all_ints != -1 && m->all_ints != is_int)
            return -1;
        m->all_ints = is_int;
        if ((is_int ? scan_int(s, &num) : scan_string(s, &str)) != 0)
            return -1;
        if (++m->count > SCAN_MAX_ENTRIES)
            return -1;
    } while (scan_char(s, ','));
    if (!scan_char(s, '}'))
        return -1;
    /* no key twice (jansson refuses that line) */
    scan_t a = m->inner;
    scan_char(&a, '{');
    for (size_t i = 0; i < m->count; ++i) {
        xl_str_t ki, kj, v;
        int64_t num;
        scan_entry(&a, m->all_ints, &ki, &num, &v);
        scan_char(&a, ',');
        scan_t b = a;
        for (size_t j = i + 1; j < m->count; ++j) {
            scan_entry(&b, m->all_ints, &kj, &num, &v);
            scan_char(&b, ',');
            if (same_key(&ki, &kj))
                return -1;
        }
    }
    return 0;
}

/* metrics (integers) or attributes (strings) from a scanned flat object, in the line's order. */
static int scan_fill_entries(const scan_member_t *m, field_type_t type, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    if (m->kind != V_OBJECT || (m->count != 0 && m->all_ints != (type == T_METRICS)))
        return -1;
    scan_t s = m->inner;
    scan_char(&s, '{');
    if (type == T_METRICS)
        ev->metrics = h2o_mem_alloc_pool(pool, sizeof(xl_metric_t) * (m->count + 1));
    else
        ev->attributes = h2o_mem_alloc_pool(pool, sizeof(xl_attr_t) * (m->count + 1));
    for (size_t i = 0; i < m->count; ++i) {
        xl_str_t key, str;
        int64_t num;
        scan_entry(&s, type == T_METRICS, &key, &num, &str);
        scan_char(&s, ',');
        if (key.len > XL_FIELD_MAX_STRING || (type == T_ATTRIBUTES && str.len > XL_FIELD_MAX_TEXT))
            return -1;
        if (type == T_METRICS)
            ev->metrics[ev->nmetrics++] = (xl_metric_t){key, num};
        else
            ev->attributes[ev->nattributes++] = (xl_attr_t){key, str};
    }
    return 0;
}

/* One member into ev, as check_field takes it when it is valid. @return 0, or -1: not for the fast path. */
static int scan_field(size_t i, const scan_member_t *m, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    char *dst = (char *)ev + fields[i].offset;
    int t;
    switch (fields[i].type) {
    case T_STRING:
    case T_TEXT: {
        size_t max = fields[i].type == T_STRING ? XL_FIELD_MAX_STRING : XL_FIELD_MAX_TEXT;
        if (m->kind != V_STRING || m->str.len > max || (fields[i].type == T_STRING && m->str.len == 0))
            return -1;
        *(xl_str_t *)dst = m->str;
        return 0;
    }
    case T_ID:
    case T_TIME:
    case T_LINE: {
        int64_t lo = fields[i].type == T_TIME ? 0 : 1, hi = fields[i].type == T_ID ? XL_AUDIT_ID_MAX : INT64_MAX;
        if (m->kind != V_INT || m->num < lo || m->num > hi)
            return -1;
        *(int64_t *)dst = m->num;
        return 0;
    }
    case T_TYPE:
        if (m->kind != V_STRING || (t = xl_event_type_parse(m->str.base, m->str.len)) < 0 || t == XL_EVENT_CREATED ||
            t >= XL_EVENT_PAUSE_REQUESTED)
            return -1;
        *(int *)dst = t;
        return 0;
    case T_METRICS:
    case T_ATTRIBUTES:
        return scan_fill_entries(m, fields[i].type, ev, pool);
    default: /* error, warnings, JSON values, steps, files: the full path */
        return -1;
    }
}

int xl_validate_scan(const char *src, size_t len, int kind, xl_event_t *ev, h2o_mem_pool_t *pool)
{
    scan_t s = {src, src + len};
    scan_member_t m[SCAN_MAX_MEMBERS];
    size_t n = 0;
    int has_audit_id = 0;

    if (len == 0 || !scan_char(&s, '{') || scan_char(&s, '}'))
        return 0;
    do {
        scan_member_t *mm = &m[n];
        if (n == SCAN_MAX_MEMBERS || scan_string(&s, &mm->key) != 0 || !scan_char(&s, ':'))
            return 0;
        scan_ws(&s);
        if (s.p == s.end)
            return 0;
        if (*s.p == '"') {
            mm->kind = V_STRING;
            if (scan_string(&s, &mm->str) != 0)
                return 0;
        } else if (*s.p == '{') {
            mm->kind = V_OBJECT;
            if (scan_inner(&s, mm) != 0)
                return 0;
        } else {
            mm->kind = V_INT;
            if (scan_int(&s, &mm->num) != 0)
                return 0;
        }
        for (size_t j = 0; j < n; ++j)
            if (same_key(&m[j].key, &mm->key))
                return 0;
        has_audit_id |= mm->key.len == 8 && memcmp(mm->key.base, "audit_id", 8) == 0;
        ++n;
    } while (scan_char(&s, ','));
    if (!scan_char(&s, '}'))
        return 0;
    scan_ws(&s);
    if (s.p != s.end)
        return 0;

    /* the same reading of the fields as xl_validate_write, for a body without an error */
    int effective = kind;
    if (kind & XL_WRITE_BATCH)
        effective = XL_WRITE_BATCH | (has_audit_id ? XL_WRITE_APPEND : XL_WRITE_CREATE);
    memset(ev, 0, sizeof(*ev));
    ev->type = XL_EVENT_CREATED;
    ev->status = XL_STATUS_NONE;
    int seen[NFIELDS] = {0};
    for (size_t k = 0; k < n; ++k) {
        size_t i;
        for (i = 0; i < NFIELDS; ++i)
            if (strncmp(fields[i].name, m[k].key.base, m[k].key.len) == 0 && fields[i].name[m[k].key.len] == '\0')
                break;
        if (i == NFIELDS || (fields[i].kinds & effective) == 0 || scan_field(i, &m[k], ev, pool) != 0)
            return 0;
        seen[i] = 1;
    }
    for (size_t i = 0; i < NFIELDS; ++i)
        if ((fields[i].required & effective) && !seen[i])
            return 0;
    return 1;
}
