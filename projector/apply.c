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
#define PAUSABLE (S(QUEUED) | S(RUNNING))
#define KEEP XL_STATUS_NONE

enum {
    F_CREATE = 1,  /* makes a new execution; illegal when it exists */
    F_WARNED = 2,  /* the target becomes `warning` if the execution has warnings */
    F_WARNING = 4, /* a warning event: its message counts as a warning */
    F_LOG = 8,     /* a log event: its message is a log line, the status message stays */
    F_CONTROL = 16, /* a user's control request: remembered (control_type/seq/event_id) */
    F_RETRY = 32,   /* retry of failed tasks: they wait again; a failed execution runs again */
};

/* What an event does to the task it names. */
enum {
    T_NONE = 0,
    T_START,    /* running; first start time kept, end cleared, attempts + 1 */
    T_PROGRESS, /* status kept (running if the task is new) */
    T_FINISH,   /* succeeded, ended now */
    T_FAIL,     /* failed, ended now */
    T_WAIT,     /* waiting (not started; a retry may start it) */
    T_SKIP,     /* skipped, ended now */
    T_CANCEL,   /* cancelled, ended now */
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
 * Control requests (*_requested) are the users' pause, resume, cancel,
 * force-cancel and retry of failed tasks: they move the status at once (an
 * executor's confirmation — paused, resumed, cancelled — is then legal and
 * moves nothing). A retry of failed tasks is the one way out of `failed`:
 * the execution runs again. The ingest path asks this table (xl_apply_check)
 * before it writes a control request, so a user's request is never an anomaly.
 */
/* clang-format off */
static const xl_apply_rule_t rules[XL_EVENT__COUNT] = {
    /* event                                legal in                          moves from                        to                    flags                  task */
    [XL_EVENT_CREATED]                = {0,                                0,                                XL_STATUS_QUEUED,     F_CREATE,              T_NONE},
    [XL_EVENT_STARTED]                = {S(QUEUED) | S(PAUSED),            S(QUEUED) | S(PAUSED),            XL_STATUS_RUNNING,    0,                     T_NONE},
    [XL_EVENT_PROGRESS]               = {LIVE,                             S(QUEUED),                        XL_STATUS_RUNNING,    0,                     T_NONE},
    [XL_EVENT_PAUSED]                 = {S(RUNNING) | S(PAUSED),           S(RUNNING),                       XL_STATUS_PAUSED,     0,                     T_NONE},
    [XL_EVENT_RESUMED]                = {S(PAUSED) | S(RUNNING),           S(PAUSED),                        XL_STATUS_RUNNING,    0,                     T_NONE},
    [XL_EVENT_WARNING]                = {ANY,                              0,                                KEEP,                 F_WARNING,             T_NONE},
    [XL_EVENT_SUCCEEDED]              = {LIVE,                             LIVE,                             XL_STATUS_SUCCEEDED,  F_WARNED,              T_NONE},
    [XL_EVENT_FAILED]                 = {LIVE,                             LIVE,                             XL_STATUS_FAILED,     0,                     T_NONE},
    [XL_EVENT_CANCEL_REQUESTED]       = {CANCELLABLE | S(CANCELLING),      CANCELLABLE,                      XL_STATUS_CANCELLING, F_CONTROL,             T_NONE},
    [XL_EVENT_CANCELLED]              = {LIVE,                             LIVE,                             XL_STATUS_CANCELLED,  0,                     T_NONE},
    [XL_EVENT_TASK_STARTED]           = {LIVE,                             S(QUEUED),                        XL_STATUS_RUNNING,    0,                     T_START},
    [XL_EVENT_TASK_PROGRESS]          = {LIVE,                             0,                                KEEP,                 0,                     T_PROGRESS},
    [XL_EVENT_TASK_FINISHED]          = {LIVE,                             0,                                KEEP,                 0,                     T_FINISH},
    [XL_EVENT_TASK_FAILED]            = {LIVE,                             0,                                KEEP,                 0,                     T_FAIL},
    [XL_EVENT_METRICS]                = {ANY,                              0,                                KEEP,                 0,                     T_NONE},
    [XL_EVENT_LOG]                    = {ANY,                              0,                                KEEP,                 F_LOG,                 T_NONE},
    [XL_EVENT_TASK_WAITING]           = {LIVE,                             0,                                KEEP,                 0,                     T_WAIT},
    [XL_EVENT_TASK_SKIPPED]           = {LIVE,                             0,                                KEEP,                 0,                     T_SKIP},
    [XL_EVENT_TASK_CANCELLED]         = {LIVE,                             0,                                KEEP,                 0,                     T_CANCEL},
    [XL_EVENT_PAUSE_REQUESTED]        = {PAUSABLE | S(PAUSED),             PAUSABLE,                         XL_STATUS_PAUSED,     F_CONTROL,             T_NONE},
    [XL_EVENT_RESUME_REQUESTED]       = {S(PAUSED) | S(RUNNING),           S(PAUSED),                        XL_STATUS_RUNNING,    F_CONTROL,             T_NONE},
    [XL_EVENT_FORCE_CANCEL_REQUESTED] = {LIVE,                             LIVE,                             XL_STATUS_CANCELLED,  F_CONTROL,             T_NONE},
    [XL_EVENT_RETRY_REQUESTED]        = {S(RUNNING) | S(PAUSED) | S(FAILED), S(FAILED),                     XL_STATUS_RUNNING,    F_CONTROL | F_RETRY,   T_NONE},
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

int xl_apply_check(int status, int type, int *to)
{
    if (type < 0 || type >= XL_EVENT__COUNT || (rules[type].flags & F_CREATE))
        return 0;
    const xl_apply_rule_t *rule = &rules[type];
    unsigned from = status_bit(status);
    if ((rule->legal_in & from) == 0)
        return 0;
    if (to != NULL)
        *to = (rule->moves & from) ? rule->to : status;
    return 1;
}

int xl_apply_requested_status(int type)
{
    if (type < 0 || type >= XL_EVENT__COUNT)
        return XL_STATUS_NONE;
    /* activity that only wakes a queued execution (progress, task_started) reports no status of its own */
    if (rules[type].flags & F_CREATE)
        return rules[type].to;
    return (rules[type].moves & ~S(QUEUED)) != 0 ? rules[type].to : XL_STATUS_NONE;
}

int xl_apply_is_control(int type)
{
    return type >= 0 && type < XL_EVENT__COUNT && (rules[type].flags & F_CONTROL) != 0;
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
 * readable and small whatever the log holds. The same merge serves the
 * execution, each task and each file of file_metrics.
 */
static int merge_metric_list(xl_metric_t **have, size_t *nhave, const xl_metric_t *src, size_t nsrc)
{
    for (size_t i = 0; i != nsrc; ++i) {
        const xl_metric_t *m = &src[i];
        int found;
        size_t at = sorted_find(*have, *nhave, sizeof(**have), &m->name, &found);
        if (!found && *nhave >= XL_STATE_MAX_METRICS)
            continue;
        if (!found) {
            xl_str_t name = {NULL, 0};
            if (xl_str_set(&name, m->name.base != NULL ? m->name.base : "", m->name.len) != 0)
                return -ENOMEM;
            if (array_insert((void **)have, nhave, sizeof(**have), at) != 0) {
                xl_str_clear(&name);
                return -ENOMEM;
            }
            (*have)[at].name = name;
        }
        (*have)[at].value = m->value;
    }
    return 0;
}

static int merge_attribute_list(xl_attr_t **have, size_t *nhave, const xl_attr_t *src, size_t nsrc)
{
    for (size_t i = 0; i != nsrc; ++i) {
        const xl_attr_t *a = &src[i];
        int found;
        size_t at = sorted_find(*have, *nhave, sizeof(**have), &a->key, &found);
        if (!found && *nhave >= XL_STATE_MAX_ATTRIBUTES)
            continue;
        if (!found) {
            xl_str_t key = {NULL, 0};
            if (xl_str_set(&key, a->key.base != NULL ? a->key.base : "", a->key.len) != 0)
                return -ENOMEM;
            if (array_insert((void **)have, nhave, sizeof(**have), at) != 0) {
                xl_str_clear(&key);
                return -ENOMEM;
            }
            (*have)[at].key = key;
        }
        if (str_assign(&(*have)[at].value, &a->value) != 0)
            return -ENOMEM;
    }
    return 0;
}

static int merge_metrics(xl_state_t *st, const xl_event_t *ev)
{
    return merge_metric_list(&st->metrics, &st->nmetrics, ev->metrics, ev->nmetrics);
}

static int merge_attributes(xl_state_t *st, const xl_event_t *ev)
{
    return merge_attribute_list(&st->attributes, &st->nattributes, ev->attributes, ev->nattributes);
}

/* file_metrics: the latest counters of each file, files sorted by name, at most XL_STATE_MAX_FILES. */
static int merge_file_metrics(xl_state_t *st, const xl_event_t *ev)
{
    for (size_t i = 0; i != ev->nfile_metrics; ++i) {
        const xl_file_metric_t *f = &ev->file_metrics[i];
        int found;
        size_t at = sorted_find(st->file_metrics, st->nfile_metrics, sizeof(*st->file_metrics), &f->name, &found);
        if (!found && st->nfile_metrics >= XL_STATE_MAX_FILES)
            continue;
        if (!found) {
            xl_str_t name = {NULL, 0};
            if (xl_str_set(&name, f->name.base != NULL ? f->name.base : "", f->name.len) != 0)
                return -ENOMEM;
            if (array_insert((void **)&st->file_metrics, &st->nfile_metrics, sizeof(*st->file_metrics), at) != 0) {
                xl_str_clear(&name);
                return -ENOMEM;
            }
            st->file_metrics[at].name = name;
        }
        xl_file_metric_t *have = &st->file_metrics[at];
        if (merge_metric_list(&have->metrics, &have->nmetrics, f->metrics, f->nmetrics) != 0)
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

static int copy_error(xl_error_t *dst, const xl_error_t *error)
{
    if (!error->present)
        return 0;
    if (str_assign(&dst->class_, &error->class_) != 0 || str_assign(&dst->message, &error->message) != 0 ||
        str_assign(&dst->stack, &error->stack) != 0)
        return -ENOMEM;
    dst->present = 1;
    return 0;
}

static void clear_error(xl_error_t *e)
{
    xl_str_clear(&e->class_);
    xl_str_clear(&e->message);
    xl_str_clear(&e->stack);
    e->present = 0;
}

/* Replace dst with src when src is given (a null src keeps dst). */
static int str_update(xl_str_t *dst, const xl_str_t *src)
{
    return src->base != NULL ? str_assign(dst, src) : 0;
}

/* Find or create (sorted by name) the task called name; NULL past XL_STATE_MAX_TASKS. */
static int task_slot(xl_state_t *st, const xl_str_t *name, xl_task_t **out)
{
    int found;
    size_t at = sorted_find(st->tasks, st->ntasks, sizeof(*st->tasks), name, &found);
    *out = NULL;
    if (!found) {
        if (st->ntasks >= XL_STATE_MAX_TASKS)
            return 0;
        xl_str_t copy = {NULL, 0};
        if (xl_str_set(&copy, name->base != NULL ? name->base : "", name->len) != 0)
            return -ENOMEM;
        if (array_insert((void **)&st->tasks, &st->ntasks, sizeof(*st->tasks), at) != 0) {
            xl_str_clear(&copy);
            return -ENOMEM;
        }
        st->tasks[at].name = copy;
        st->tasks[at].status = XL_STATUS_RUNNING;
    }
    *out = &st->tasks[at];
    return 0;
}

static xl_task_run_t *open_run(xl_task_t *task)
{
    if (task->nruns == 0 || task->runs[task->nruns - 1].status != XL_STATUS_RUNNING)
        return NULL;
    return &task->runs[task->nruns - 1];
}

/* Close the task's open run (if any) with status at when; error copied when given. */
static int close_run(xl_task_t *task, int status, int64_t when, const xl_error_t *error)
{
    xl_task_run_t *run = open_run(task);
    if (run == NULL)
        return 0;
    run->status = status;
    run->ended_ms = when;
    return error != NULL ? copy_error(&run->error, error) : 0;
}

/* A new run (attempt = attempts after the increment); the oldest drops out past XL_STATE_MAX_RUNS. */
static int start_run(xl_task_t *task, int64_t when)
{
    if (task->nruns >= XL_STATE_MAX_RUNS) {
        clear_error(&task->runs[0].error);
        memmove(task->runs, task->runs + 1, (task->nruns - 1) * sizeof(*task->runs));
        --task->nruns;
    }
    if (array_insert((void **)&task->runs, &task->nruns, sizeof(*task->runs), task->nruns) != 0)
        return -ENOMEM;
    xl_task_run_t *run = &task->runs[task->nruns - 1];
    run->attempt = task->attempts;
    run->status = XL_STATUS_RUNNING;
    run->started_ms = when;
    return 0;
}

/* A task ends with status at when: its open run with it. */
static int end_task(xl_task_t *task, int status, int64_t when, const xl_error_t *error)
{
    task->status = status;
    task->ended_ms = when;
    return close_run(task, status, when, error);
}

/*
 * The task the event names ("" when it names none), created on first use
 * and kept sorted by name. Past XL_STATE_MAX_TASKS new names are not
 * tracked (the events are still archived). Each task_started is a new run
 * (attempt); a run still open when the next one starts is closed cancelled.
 * A task event's error, input, output, metrics and attributes are the task's.
 */
static int apply_task(xl_state_t *st, const xl_event_t *ev, int what, int64_t when)
{
    const xl_str_t none = {"", 0};
    xl_task_t *task;
    if (task_slot(st, ev->task.base != NULL ? &ev->task : &none, &task) != 0)
        return -ENOMEM;
    if (task == NULL)
        return 0;
    int rc = 0;
    switch (what) {
    case T_START:
        if ((rc = close_run(task, XL_STATUS_CANCELLED, when, NULL)) != 0)
            return rc;
        task->status = XL_STATUS_RUNNING;
        if (task->started_ms == 0)
            task->started_ms = when;
        task->ended_ms = 0;
        if (task->attempts != UINT32_MAX)
            task->attempts += 1;
        clear_error(&task->error);
        rc = start_run(task, when);
        break;
    case T_FINISH:
        rc = end_task(task, XL_STATUS_SUCCEEDED, when, NULL);
        break;
    case T_FAIL:
        rc = end_task(task, XL_STATUS_FAILED, when, &ev->error);
        if (rc == 0)
            rc = copy_error(&task->error, &ev->error);
        break;
    case T_SKIP:
        rc = end_task(task, XL_STATUS_SKIPPED, when, NULL);
        break;
    case T_CANCEL:
        rc = end_task(task, XL_STATUS_CANCELLED, when, NULL);
        break;
    case T_WAIT:
        task->status = XL_STATUS_WAITING;
        task->ended_ms = 0;
        break;
    default: /* T_PROGRESS: status kept */
        break;
    }
    if (rc != 0 || str_update(&task->message, &ev->message) != 0 || str_update(&task->input, &ev->input) != 0 ||
        str_update(&task->output, &ev->output) != 0 ||
        merge_metric_list(&task->metrics, &task->nmetrics, ev->metrics, ev->nmetrics) != 0 ||
        merge_attribute_list(&task->attributes, &task->nattributes, ev->attributes, ev->nattributes) != 0)
        return -ENOMEM;
    return 0;
}

/* The step plan of a create: one waiting task per step (repeated names: the first one counts). */
static int plan_steps(xl_state_t *st, const xl_event_t *ev)
{
    for (size_t i = 0; i != ev->nsteps; ++i) {
        const xl_step_t *step = &ev->steps[i];
        int found;
        sorted_find(st->tasks, st->ntasks, sizeof(*st->tasks), &step->name, &found);
        if (found)
            continue;
        xl_task_t *task;
        if (task_slot(st, &step->name, &task) != 0)
            return -ENOMEM;
        if (task == NULL)
            return 0;
        task->status = XL_STATUS_WAITING;
        if (str_assign(&task->type, &step->type) != 0)
            return -ENOMEM;
        if (step->ndepends_on != 0) {
            if ((task->depends_on = calloc(step->ndepends_on, sizeof(*task->depends_on))) == NULL)
                return -ENOMEM;
            for (size_t k = 0; k != step->ndepends_on; ++k, ++task->ndepends_on) {
                const xl_str_t *d = &step->depends_on[k];
                if (xl_str_set(&task->depends_on[k], d->base != NULL ? d->base : "", d->len) != 0)
                    return -ENOMEM;
            }
        }
    }
    return 0;
}

/*
 * The execution ended: a task still running is closed `cancelled`, one still
 * waiting is closed `skipped`, both at the execution's end time, so no task
 * stays open after its execution (whatever the outcome).
 */
static int close_open_tasks(xl_state_t *st, int64_t when)
{
    for (size_t i = 0; i != st->ntasks; ++i) {
        xl_task_t *task = &st->tasks[i];
        int rc = 0;
        if (task->status == XL_STATUS_RUNNING || task->status == XL_STATUS_PAUSED)
            rc = end_task(task, XL_STATUS_CANCELLED, when, NULL);
        else if (task->status == XL_STATUS_WAITING)
            rc = end_task(task, XL_STATUS_SKIPPED, when, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/*
 * Retry of failed tasks: the named task (or, without a name, every task
 * that failed, or was cancelled or skipped when the execution ended) waits
 * again with its error cleared; its runs and input stay. A failed execution
 * runs again, without its error and end time.
 */
static void retry_tasks(xl_state_t *st, const xl_event_t *ev)
{
    for (size_t i = 0; i != st->ntasks; ++i) {
        xl_task_t *task = &st->tasks[i];
        int pick = ev->task.base != NULL
                       ? str_cmp(&task->name, &ev->task) == 0
                       : task->status == XL_STATUS_FAILED || task->status == XL_STATUS_CANCELLED ||
                             task->status == XL_STATUS_SKIPPED;
        if (!pick || task->status == XL_STATUS_RUNNING)
            continue;
        task->status = XL_STATUS_WAITING;
        task->ended_ms = 0;
        clear_error(&task->error);
    }
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

/*
 * What every accepted event carries into the state. A log event's message
 * is a log line (the status message stays); a task event's error, input and
 * output are its task's (the execution's error is its own outcome's, so a
 * task that failed and then recovered leaves none behind).
 */
static int merge_payload(xl_state_t *st, const xl_event_t *ev, unsigned flags, int task_event)
{
    if (!(flags & F_LOG) && str_update(&st->message, &ev->message) != 0)
        return -ENOMEM;
    if (!task_event && (copy_error(&st->error, &ev->error) != 0 || str_update(&st->input, &ev->input) != 0 ||
                        str_update(&st->output, &ev->output) != 0))
        return -ENOMEM;
    if (merge_warnings(st, ev, flags) != 0 || merge_metrics(st, ev) != 0 || merge_attributes(st, ev) != 0 ||
        merge_file_metrics(st, ev) != 0 || str_update(&st->code, &ev->code) != 0 ||
        str_update(&st->schedule_event_name, &ev->schedule_event_name) != 0)
        return -ENOMEM;
    if (ev->error_location != 0)
        st->error_location = ev->error_location;
    if (ev->schedule_event_id != 0)
        st->schedule_event_id = ev->schedule_event_id;
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

static int move_to(xl_state_t *st, int to, int64_t when)
{
    st->status = to;
    if (to == XL_STATUS_RUNNING && st->started_ms == 0)
        st->started_ms = when;
    if (xl_apply_is_terminal(to) && st->ended_ms == 0)
        st->ended_ms = when;
    if (to == XL_STATUS_SUCCEEDED || to == XL_STATUS_WARNING)
        clear_error(&st->error); /* the outcome has no error, whatever was reported on the way */
    return xl_apply_is_terminal(to) ? close_open_tasks(st, st->ended_ms) : 0;
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
    /* the call tree's root: ingest names it; frames of schema version 1 only know the parent */
    st->top_execution_id = ev->top_execution_id != 0        ? ev->top_execution_id
                           : ev->parent_execution_id != 0 ? ev->parent_execution_id
                                                          : ev->audit_id;
    if (str_assign(&st->flow_id, &ev->flow_id) != 0 || str_assign(&st->flow_name, &ev->flow_name) != 0 ||
        str_assign(&st->tenant_id, &ev->tenant_id) != 0 || str_assign(&st->message_id, &ev->message_id) != 0 ||
        str_assign(&st->trigger_type, &ev->trigger_type) != 0 || str_assign(&st->started_by, &ev->started_by) != 0)
        return -ENOMEM;
    st->status = XL_STATUS_QUEUED;
    st->created_ms = event_time(ev);
    if (merge_payload(st, ev, rules[XL_EVENT_CREATED].flags, 0) != 0 || plan_steps(st, ev) != 0)
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

    if (merge_payload(st, ev, rule->flags, rule->task != T_NONE) != 0)
        return -ENOMEM;
    if (rule->task != T_NONE && apply_task(st, ev, rule->task, event_time(ev)) != 0)
        return -ENOMEM;
    if (rule->flags & F_RETRY) {
        retry_tasks(st, ev);
        if (st->status == XL_STATUS_FAILED) {
            st->ended_ms = 0;
            clear_error(&st->error);
        }
    }
    if (rule->moves & from) {
        int to = rule->to;
        if ((rule->flags & F_WARNED) && st->nwarnings != 0)
            to = XL_STATUS_WARNING;
        if (move_to(st, to, event_time(ev)) != 0)
            return -ENOMEM;
    }
    stamp(st, ev, origin, res);
    if (rule->flags & F_CONTROL) {
        st->control_type = ev->type;
        st->control_seq = st->last_seq;
        if (str_assign(&st->control_event_id, &ev->event_id) != 0)
            return -ENOMEM;
    }
    res->outcome = XL_APPLY_NEW;
    return 0;
}
