/*
 * The state machine (see apply.h). One row per event type says in which
 * statuses the event is legal, from which of those it moves the execution
 * and to what, and what it does to its task. Everything else an event
 * carries (message, error, warnings, metrics, attributes) is merged the same
 * way for every type.
 *
 * Determinism is the point of this file: metrics stay sorted by name,
 * attributes by key and tasks by name, times come from the event, never from
 * the clock. An illegal event is never dropped: it is archived, counted as an
 * anomaly and listed (the last XL_STATE_MAX_ANOMALIES).
 */
#include "projector/apply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(st) (1u << XL_STATUS_##st)
#define LIVE (S(QUEUED) | S(RUNNING) | S(PAUSED) | S(CANCELLING))
#define ENDED (S(SUCCEEDED) | S(WARNING) | S(FAILED) | S(CANCELLED))
#define ANY (LIVE | ENDED)
#define CANCELLABLE (S(QUEUED) | S(RUNNING) | S(PAUSED))
#define KEEP XL_STATUS_NONE

enum {
    F_CREATE = 1,  /* makes a new execution; illegal when it exists */
    F_WARNED = 2,  /* the target becomes `warning` if the execution has warnings */
    F_WARNING = 4, /* a warning event: its message counts as a warning */
};

/* What an event does to the task it names. */
enum {
    T_NONE = 0,
    T_START,    /* running; first start time kept, end cleared, attempts + 1 */
    T_PROGRESS, /* status kept (running if the task is new) */
    T_FINISH,   /* succeeded, ended now */
    T_FAIL,     /* failed, ended now */
};

typedef struct st_xl_apply_rule_t {
    unsigned legal_in; /* statuses in which the event is legal; else an anomaly */
    unsigned moves;    /* of those, the statuses it moves to `to` (the rest stay) */
    int to;
    unsigned flags;
    int task; /* T_*: what it does to its task */
} xl_apply_rule_t;

/*
 * Activity (progress, task_*) needs a live execution; reports (warning,
 * metrics, log) are legal at any time, since executors flush them late.
 */
/* clang-format off */
static const xl_apply_rule_t rules[XL_EVENT__COUNT] = {
    /* event                          legal in                          moves from                        to                    flags      task */
    [XL_EVENT_CREATED]          = {0,                                0,                                XL_STATUS_QUEUED,     F_CREATE,  T_NONE},
    [XL_EVENT_STARTED]          = {S(QUEUED) | S(PAUSED),            S(QUEUED) | S(PAUSED),            XL_STATUS_RUNNING,    0,         T_NONE},
    [XL_EVENT_PROGRESS]         = {LIVE,                             S(QUEUED),                        XL_STATUS_RUNNING,    0,         T_NONE},
    [XL_EVENT_PAUSED]           = {S(RUNNING),                       S(RUNNING),                       XL_STATUS_PAUSED,     0,         T_NONE},
    [XL_EVENT_RESUMED]          = {S(PAUSED),                        S(PAUSED),                        XL_STATUS_RUNNING,    0,         T_NONE},
    [XL_EVENT_WARNING]          = {ANY,                              0,                                KEEP,                 F_WARNING, T_NONE},
    [XL_EVENT_SUCCEEDED]        = {LIVE,                             LIVE,                             XL_STATUS_SUCCEEDED,  F_WARNED,  T_NONE},
    [XL_EVENT_FAILED]           = {LIVE,                             LIVE,                             XL_STATUS_FAILED,     0,         T_NONE},
    [XL_EVENT_CANCEL_REQUESTED] = {CANCELLABLE,                      CANCELLABLE,                      XL_STATUS_CANCELLING, 0,         T_NONE},
    [XL_EVENT_CANCELLED]        = {LIVE,                             LIVE,                             XL_STATUS_CANCELLED,  0,         T_NONE},
    [XL_EVENT_TASK_STARTED]     = {LIVE,                             S(QUEUED),                        XL_STATUS_RUNNING,    0,         T_START},
    [XL_EVENT_TASK_PROGRESS]    = {LIVE,                             0,                                KEEP,                 0,         T_PROGRESS},
    [XL_EVENT_TASK_FINISHED]    = {LIVE,                             0,                                KEEP,                 0,         T_FINISH},
    [XL_EVENT_TASK_FAILED]      = {LIVE,                             0,                                KEEP,                 0,         T_FAIL},
    [XL_EVENT_METRICS]          = {ANY,                              0,                                KEEP,                 0,         T_NONE},
    [XL_EVENT_LOG]              = {ANY,                              0,                                KEEP,                 0,         T_NONE},
};
/* clang-format on */

static const char *const outcome_names[XL_APPLY__COUNT] = {
    [XL_APPLY_NEW] = "new",
    [XL_APPLY_DUPLICATE] = "duplicate",
    [XL_APPLY_ANOMALY] = "anomaly",
    [XL_APPLY_REJECTED] = "rejected",
};

const char *xl_apply_outcome_name(int outcome)
{
    if (outcome < 0 || outcome >= XL_APPLY__COUNT)
        return "unknown";
    return outcome_names[outcome];
}

static unsigned status_bit(int status)
{
    if (status < 0 || status >= XL_STATUS__COUNT)
        return 0; /* a corrupt status is legal nowhere: every event is an anomaly */
    return 1u << status;
}

int xl_apply_is_terminal(int status)
{
    return (status_bit(status) & ENDED) != 0;
}

/* Name of a status for reasons, also when out of range (a corrupt state). */
static const char *status_name(int status)
{
    const char *name = status >= 0 && status < XL_STATUS__COUNT ? xl_status_name(status) : NULL;
    return name != NULL ? name : "?";
}

/* Replace dst with a copy of src, leaving dst untouched on failure. */
static int str_assign(xl_str_t *dst, const xl_str_t *src)
{
    xl_str_t tmp = {NULL, 0};
    if (xl_str_set(&tmp, src->base, src->len) != 0)
        return -ENOMEM;
    xl_str_clear(dst);
    *dst = tmp;
    return 0;
}

/* Byte order of names (shorter first on a common prefix): the sort of metrics and attributes. */
static int str_cmp(const xl_str_t *a, const xl_str_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n != 0 ? memcmp(a->base, b->base, n) : 0;
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Lower bound of name in a sorted array of elements of size `size` whose first member is the name. */
static size_t sorted_find(const void *base, size_t n, size_t size, const xl_str_t *name, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp((const xl_str_t *)((const char *)base + mid * size), name);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n && str_cmp((const xl_str_t *)((const char *)base + lo * size), name) == 0;
    return lo;
}

/* Open a zeroed slot at index at of a malloc'ed array of n elements. */
static int array_insert(void **base, size_t *n, size_t size, size_t at)
{
    char *p = realloc(*base, (*n + 1) * size);
    if (p == NULL)
        return -ENOMEM;
    memmove(p + (at + 1) * size, p + at * size, (*n - at) * size);
    memset(p + at * size, 0, size);
    *base = p;
    ++*n;
    return 0;
}

/*
 * Past XL_STATE_MAX_METRICS (XL_STATE_MAX_ATTRIBUTES) names, new names are
 * not tracked (the event stays in the history): ingest refuses such writes,
 * so only another producer's events meet this bound, and it keeps every state
 * readable and small whatever the log holds.
 */
static int merge_metrics(xl_state_t *st, const xl_event_t *ev)
{
    for (size_t i = 0; i != ev->nmetrics; ++i) {
        const xl_metric_t *m = &ev->metrics[i];
        int found;
        size_t at = sorted_find(st->metrics, st->nmetrics, sizeof(*st->metrics), &m->name, &found);
        if (!found && st->nmetrics >= XL_STATE_MAX_METRICS)
            continue;
        if (!found) {
            xl_str_t name = {NULL, 0};
            if (xl_str_set(&name, m->name.base != NULL ? m->name.base : "", m->name.len) != 0)
                return -ENOMEM;
            if (array_insert((void **)&st->metrics, &st->nmetrics, sizeof(*st->metrics), at) != 0) {
                xl_str_clear(&name);
                return -ENOMEM;
            }
            st->metrics[at].name = name;
        }
        st->metrics[at].value = m->value;
    }
    return 0;
}

static int merge_attributes(xl_state_t *st, const xl_event_t *ev)
{
    for (size_t i = 0; i != ev->nattributes; ++i) {
        const xl_attr_t *a = &ev->attributes[i];
        int found;
        size_t at = sorted_find(st->attributes, st->nattributes, sizeof(*st->attributes), &a->key, &found);
        if (!found && st->nattributes >= XL_STATE_MAX_ATTRIBUTES)
            continue;
        if (!found) {
            xl_str_t key = {NULL, 0};
            if (xl_str_set(&key, a->key.base != NULL ? a->key.base : "", a->key.len) != 0)
                return -ENOMEM;
            if (array_insert((void **)&st->attributes, &st->nattributes, sizeof(*st->attributes), at) != 0) {
                xl_str_clear(&key);
                return -ENOMEM;
            }
            st->attributes[at].key = key;
        }
        if (str_assign(&st->attributes[at].value, &a->value) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* Keep the last XL_STATE_MAX_WARNINGS: the oldest drops out; warnings_total counts every one. */
static int append_warning(xl_state_t *st, const xl_str_t *w)
{
    if (st->warnings_total != UINT32_MAX)
        ++st->warnings_total;
    if (st->nwarnings >= XL_STATE_MAX_WARNINGS) {
        xl_str_clear(&st->warnings[0]);
        memmove(st->warnings, st->warnings + 1, (st->nwarnings - 1) * sizeof(*st->warnings));
        st->warnings[st->nwarnings - 1] = (xl_str_t){NULL, 0};
        --st->nwarnings;
    }
    if (array_insert((void **)&st->warnings, &st->nwarnings, sizeof(*st->warnings), st->nwarnings) != 0)
        return -ENOMEM;
    /* a null warning is stored as an empty one: the schema's items are non-null strings */
    return xl_str_set(&st->warnings[st->nwarnings - 1], w->base != NULL ? w->base : "", w->len) != 0 ? -ENOMEM : 0;
}

static int merge_warnings(xl_state_t *st, const xl_event_t *ev, unsigned flags)
{
    for (size_t i = 0; i != ev->nwarnings; ++i)
        if (append_warning(st, &ev->warnings[i]) != 0)
            return -ENOMEM;
    if ((flags & F_WARNING) && ev->nwarnings == 0 && ev->message.base != NULL)
        return append_warning(st, &ev->message);
    return 0;
}

static int merge_error(xl_state_t *st, const xl_error_t *error)
{
    if (!error->present)
        return 0;
    if (str_assign(&st->error.class_, &error->class_) != 0 || str_assign(&st->error.message, &error->message) != 0 ||
        str_assign(&st->error.stack, &error->stack) != 0)
        return -ENOMEM;
    st->error.present = 1;
    return 0;
}

/*
 * The task the event names ("" when it names none), created on first use
 * and kept sorted by name. Past XL_STATE_MAX_TASKS new names are not
 * tracked (the events are still archived).
 */
static int apply_task(xl_state_t *st, const xl_event_t *ev, int what, int64_t when)
{
    const xl_str_t none = {"", 0};
    const xl_str_t *name = ev->task.base != NULL ? &ev->task : &none;
    int found;
    size_t at = sorted_find(st->tasks, st->ntasks, sizeof(*st->tasks), name, &found);

    if (!found) {
        if (st->ntasks >= XL_STATE_MAX_TASKS)
            return 0;
        xl_str_t copy = {NULL, 0};
        if (xl_str_set(&copy, name->base, name->len) != 0)
            return -ENOMEM;
        if (array_insert((void **)&st->tasks, &st->ntasks, sizeof(*st->tasks), at) != 0) {
            xl_str_clear(&copy);
            return -ENOMEM;
        }
        st->tasks[at].name = copy;
        st->tasks[at].status = XL_STATUS_RUNNING;
    }
    xl_task_t *task = &st->tasks[at];
    switch (what) {
    case T_START:
        task->status = XL_STATUS_RUNNING;
        if (task->started_ms == 0)
            task->started_ms = when;
        task->ended_ms = 0;
        if (task->attempts != UINT32_MAX)
            task->attempts += 1;
        break;
    case T_FINISH:
    case T_FAIL:
        task->status = what == T_FINISH ? XL_STATUS_SUCCEEDED : XL_STATUS_FAILED;
        task->ended_ms = when;
        break;
    default: /* T_PROGRESS: only the message */
        break;
    }
    if (ev->message.base != NULL && str_assign(&task->message, &ev->message) != 0)
        return -ENOMEM;
    return 0;
}

/* List an anomaly (seq already stamped); the oldest drops out past XL_STATE_MAX_ANOMALIES. */
static int list_anomaly(xl_state_t *st, int type, int status)
{
    if (st->nanomaly_list >= XL_STATE_MAX_ANOMALIES) {
        memmove(st->anomaly_list, st->anomaly_list + 1, (st->nanomaly_list - 1) * sizeof(*st->anomaly_list));
        --st->nanomaly_list;
    }
    if (array_insert((void **)&st->anomaly_list, &st->nanomaly_list, sizeof(*st->anomaly_list), st->nanomaly_list) != 0)
        return -ENOMEM;
    st->anomaly_list[st->nanomaly_list - 1] = (xl_anomaly_t){st->last_seq, type, status};
    return 0;
}

/* What every accepted event carries into the state, whatever its type. */
static int merge_payload(xl_state_t *st, const xl_event_t *ev, unsigned flags)
{
    if (ev->message.base != NULL && str_assign(&st->message, &ev->message) != 0)
        return -ENOMEM;
    if (merge_error(st, &ev->error) != 0 || merge_warnings(st, ev, flags) != 0 || merge_metrics(st, ev) != 0 ||
        merge_attributes(st, ev) != 0)
        return -ENOMEM;
    return 0;
}

/* The client's time of the event; the ingest time if the client sent none. */
static int64_t event_time(const xl_event_t *ev)
{
    return ev->time_ms != 0 ? ev->time_ms : ev->ingest_time_ms;
}

/* Bookkeeping shared by NEW and ANOMALY: the event takes the next archive seq. */
static void stamp(xl_state_t *st, const xl_event_t *ev, const xl_apply_origin_t *origin, xl_apply_result_t *res)
{
    st->last_seq += 1;
    st->updated_ms = ev->ingest_time_ms;
    st->log_partition = origin->partition;
    st->log_offset = origin->offset;
    res->seq = st->last_seq;
}

static void move_to(xl_state_t *st, int to, int64_t when)
{
    st->status = to;
    if (to == XL_STATUS_RUNNING && st->started_ms == 0)
        st->started_ms = when;
    if (xl_apply_is_terminal(to) && st->ended_ms == 0)
        st->ended_ms = when;
}

__attribute__((format(printf, 2, 3))) static int reject(xl_apply_result_t *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    res->outcome = XL_APPLY_REJECTED;
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    return 0;
}

static int apply_create(xl_state_t *st, const xl_event_t *ev, const xl_apply_origin_t *origin, xl_apply_result_t *res)
{
    memset(st, 0, sizeof(*st));
    st->audit_id = ev->audit_id;
    st->parent_audit_id = ev->parent_audit_id;
    st->root_audit_id = ev->root_audit_id;
    st->parent_execution_id = ev->parent_execution_id;
    st->retries = ev->retries;
    if (str_assign(&st->flow_id, &ev->flow_id) != 0 || str_assign(&st->flow_name, &ev->flow_name) != 0 ||
        str_assign(&st->tenant_id, &ev->tenant_id) != 0 || str_assign(&st->message_id, &ev->message_id) != 0 ||
        str_assign(&st->trigger_type, &ev->trigger_type) != 0 || str_assign(&st->started_by, &ev->started_by) != 0)
        return -ENOMEM;
    st->status = XL_STATUS_QUEUED;
    st->created_ms = event_time(ev);
    if (merge_payload(st, ev, rules[XL_EVENT_CREATED].flags) != 0)
        return -ENOMEM;
    stamp(st, ev, origin, res);
    res->outcome = XL_APPLY_NEW;
    return 0;
}

int xl_apply_event(xl_state_t *st, int exists, const xl_event_t *ev, int seen, const xl_apply_origin_t *origin,
                   xl_apply_result_t *res)
{
    memset(res, 0, sizeof(*res));

    if (seen) {
        res->outcome = XL_APPLY_DUPLICATE;
        return 0;
    }
    if (ev->type < 0 || ev->type >= XL_EVENT__COUNT)
        return reject(res, "unknown event type %d", ev->type);
    const char *type_name = xl_event_type_name(ev->type);
    if (ev->audit_id <= 0 || ev->audit_id > XL_AUDIT_ID_MAX)
        return reject(res, "%s: audit_id %lld out of range", type_name, (long long)ev->audit_id);
    if (ev->time_ms < 0 || ev->ingest_time_ms < 0)
        return reject(res, "%s: negative time", type_name);

    const xl_apply_rule_t *rule = &rules[ev->type];
    if (rule->flags & F_CREATE) {
        /* a repeated create of the same event was caught by `seen`; another one is a conflict */
        if (exists)
            return reject(res, "%s: execution %lld already exists", type_name, (long long)ev->audit_id);
        return apply_create(st, ev, origin, res);
    }
    if (!exists)
        return reject(res, "%s: unknown execution %lld", type_name, (long long)ev->audit_id);
    if (st->last_seq == UINT32_MAX)
        return reject(res, "%s: archive of execution %lld is full", type_name, (long long)ev->audit_id);

    unsigned from = status_bit(st->status);
    if ((rule->legal_in & from) == 0) {
        /* kept in the history and flagged, never dropped; the status stands */
        if (st->anomalies != UINT32_MAX)
            st->anomalies += 1;
        stamp(st, ev, origin, res);
        if (list_anomaly(st, ev->type, st->status) != 0)
            return -ENOMEM;
        res->outcome = XL_APPLY_ANOMALY;
        snprintf(res->reason, sizeof(res->reason), "%s not allowed in status %s", type_name, status_name(st->status));
        return 0;
    }

    if (merge_payload(st, ev, rule->flags) != 0)
        return -ENOMEM;
    if (rule->task != T_NONE && apply_task(st, ev, rule->task, event_time(ev)) != 0)
        return -ENOMEM;
    if (rule->moves & from) {
        int to = rule->to;
        if ((rule->flags & F_WARNED) && st->nwarnings != 0)
            to = XL_STATUS_WARNING;
        move_to(st, to, event_time(ev));
    }
    stamp(st, ev, origin, res);
    res->outcome = XL_APPLY_NEW;
    return 0;
}
