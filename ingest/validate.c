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
