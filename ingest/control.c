/*
 * Control requests' write rules (see control.h). One row per control: its
 * event type, its route name, and the statuses in which the request, once
 * accepted, still holds — so that asking again is answered like the first
 * time instead of being written (and flagged as an anomaly) twice.
 */
#include "ingest/control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "projector/apply.h"

#define S(st) (1u << XL_STATUS_##st)

/* clang-format off */
static const struct {
    int type;
    const char *name;
    unsigned holds_in; /* the request was accepted and its effect still stands */
} controls[] = {
    /* event type                       route name            holds in */
    {XL_EVENT_PAUSE_REQUESTED,        "pause",              S(PAUSED)},
    {XL_EVENT_RESUME_REQUESTED,       "resume",             S(RUNNING)},
    {XL_EVENT_CANCEL_REQUESTED,       "cancel",             S(CANCELLING) | S(CANCELLED)},
    {XL_EVENT_FORCE_CANCEL_REQUESTED, "force-cancel",       S(CANCELLED)},
    {XL_EVENT_RETRY_REQUESTED,        "retry-failed-tasks", S(RUNNING) | S(PAUSED)},
};
/* clang-format on */
#define NCONTROLS (sizeof(controls) / sizeof(controls[0]))

static int find(int type)
{
    for (size_t i = 0; i < NCONTROLS; ++i)
        if (controls[i].type == type)
            return (int)i;
    return -1;
}

const char *xl_control_name(int type)
{
    int i = find(type);
    return i >= 0 ? controls[i].name : NULL;
}

static int str_eq(const xl_str_t *a, const xl_str_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

/* Tasks a retry would pick (the named one, or every failed, cancelled or skipped one). */
static size_t retryable(const xl_state_t *st, const xl_str_t *task, int *named_exists)
{
    size_t n = 0;
    *named_exists = 0;
    for (size_t i = 0; i < st->ntasks; ++i) {
        const xl_task_t *t = &st->tasks[i];
        int ended_badly =
            t->status == XL_STATUS_FAILED || t->status == XL_STATUS_CANCELLED || t->status == XL_STATUS_SKIPPED;
        if (task->base != NULL && str_eq(&t->name, task)) {
            *named_exists = 1;
            n += ended_badly;
        } else if (task->base == NULL) {
            n += ended_badly;
        }
    }
    return n;
}

__attribute__((format(printf, 4, 5))) static int refuse(xl_control_decision_t *d, int status, const char *slug,
                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    d->verdict = XL_CONTROL_REFUSE;
    d->status = status;
    d->slug = slug;
    vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
    va_end(ap);
    return 0;
}

int xl_control_decide(const xl_state_t *st, int type, const xl_str_t *task, xl_control_decision_t *d)
{
    static const xl_str_t none = {NULL, 0};
    int row = find(type);
    const char *status = xl_status_name(st->status);
    memset(d, 0, sizeof(*d));
    if (row < 0)
        return -EINVAL;
    if (task == NULL)
        task = &none;
    if (task->base != NULL && type != XL_EVENT_RETRY_REQUESTED)
        return refuse(d, 422, "invalid-write", "task: only retry-failed-tasks names a task");

    int named = 0;
    size_t n = type == XL_EVENT_RETRY_REQUESTED ? retryable(st, task, &named) : 0;
    if (task->base != NULL && !named)
        return refuse(d, 422, "invalid-write", "task: execution %lld has no task \"%.*s\"",
                      (long long)st->audit_id, (int)(task->len > 64 ? 64 : task->len), task->base);

    /* the same request again, while its effect stands: the first answer, nothing written */
    unsigned bit = st->status >= 0 && st->status < 32 ? 1u << st->status : 0;
    if (st->control_type == type && st->control_event_id.base != NULL && (controls[row].holds_in & bit) &&
        (type != XL_EVENT_RETRY_REQUESTED || n == 0)) {
        d->verdict = XL_CONTROL_REPEAT;
        d->to = st->status;
        return 0;
    }
    if (!xl_apply_check(st->status, type, &d->to)) {
        if (xl_apply_is_terminal(st->status))
            return refuse(d, 409, "already-ended", "execution %lld already ended (%s); nothing to %s",
                          (long long)st->audit_id, status != NULL ? status : "?", controls[row].name);
        return refuse(d, 409, "not-allowed", "%s is not allowed while execution %lld is %s", controls[row].name,
                      (long long)st->audit_id, status != NULL ? status : "?");
    }
    if (type == XL_EVENT_RETRY_REQUESTED && n == 0)
        return refuse(d, 409, "nothing-to-retry", "execution %lld has no failed, cancelled or skipped task%s",
                      (long long)st->audit_id, task->base != NULL ? " by that name" : "");
    d->verdict = XL_CONTROL_WRITE;
    return 0;
}

int xl_control_time_ok(const xl_state_t *st, const xl_event_t *ev)
{
    int to;
    if (!xl_apply_check(st->status, ev->type, &to) || !xl_apply_is_terminal(to) || xl_apply_is_terminal(st->status))
        return 1;
    int64_t from = st->started_ms ? st->started_ms : st->created_ms;
    return ev->time_ms == 0 || from == 0 || ev->time_ms >= from;
}
