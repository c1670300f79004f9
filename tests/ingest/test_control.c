/*
 * Tests for ingest/control.c: what a user's control request does to an
 * execution in each situation (write it, answer it as a repeat, refuse it),
 * and the write rule on end times. Pure functions on hand-made states.
 */
#include <errno.h>
#include <string.h>

#include "ingest/control.h"
#include "tests/test.h"

static xl_str_t S(const char *s)
{
    return (xl_str_t){(char *)s, s != NULL ? strlen(s) : 0};
}

static xl_state_t state_in(int status)
{
    xl_state_t st;
    memset(&st, 0, sizeof(st));
    st.audit_id = 7;
    st.status = status;
    st.created_ms = 1000;
    return st;
}

/* A state whose last accepted control was type (event_id "ctl"). */
static xl_state_t after(int status, int type)
{
    xl_state_t st = state_in(status);
    st.control_type = type;
    st.control_seq = 3;
    st.control_event_id = S("ctl");
    return st;
}

static void check(const xl_state_t *st, int type, const char *task, int verdict, int status_or_to, const char *slug,
                  const char *what)
{
    xl_control_decision_t d;
    xl_str_t t = S(task);
    XL_PHASE(what);
    XL_CHECK_INT(xl_control_decide(st, type, task != NULL ? &t : NULL, &d), 0);
    XL_CHECK_INT(d.verdict, verdict);
    if (verdict == XL_CONTROL_REFUSE) {
        XL_CHECK_INT(d.status, status_or_to);
        XL_CHECK(d.slug != NULL && strcmp(d.slug, slug) == 0, "slug %s, expected %s", d.slug ? d.slug : "-", slug);
        XL_CHECK(d.detail[0] != '\0', "a refusal says why");
    } else {
        XL_CHECK_INT(d.to, status_or_to);
    }
}

int main(void)
{
    xl_state_t st;
    xl_task_t tasks[2];
    memset(tasks, 0, sizeof(tasks));
    tasks[0].name = S("a");
    tasks[0].status = XL_STATUS_SUCCEEDED;
    tasks[1].name = S("b");
    tasks[1].status = XL_STATUS_FAILED;

    XL_PHASE("names");
    XL_CHECK(strcmp(xl_control_name(XL_EVENT_FORCE_CANCEL_REQUESTED), "force-cancel") == 0, "force-cancel");
    XL_CHECK(strcmp(xl_control_name(XL_EVENT_RETRY_REQUESTED), "retry-failed-tasks") == 0, "retry-failed-tasks");
    XL_CHECK(xl_control_name(XL_EVENT_CANCELLED) == NULL, "not a control");
    xl_control_decision_t d;
    st = state_in(XL_STATUS_RUNNING);
    XL_CHECK_INT(xl_control_decide(&st, XL_EVENT_STARTED, NULL, &d), -EINVAL);

    st = state_in(XL_STATUS_RUNNING);
    check(&st, XL_EVENT_CANCEL_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_CANCELLING, NULL, "cancel: running");
    st = after(XL_STATUS_CANCELLING, XL_EVENT_CANCEL_REQUESTED);
    check(&st, XL_EVENT_CANCEL_REQUESTED, NULL, XL_CONTROL_REPEAT, XL_STATUS_CANCELLING, NULL, "cancel: again");
    st = after(XL_STATUS_CANCELLED, XL_EVENT_CANCEL_REQUESTED);
    check(&st, XL_EVENT_CANCEL_REQUESTED, NULL, XL_CONTROL_REPEAT, XL_STATUS_CANCELLED, NULL,
          "cancel: again once the executor confirmed");
    st = state_in(XL_STATUS_SUCCEEDED);
    check(&st, XL_EVENT_CANCEL_REQUESTED, NULL, XL_CONTROL_REFUSE, 409, "already-ended", "cancel: ended");
    st = state_in(XL_STATUS_CANCELLING); /* cancelling without a recorded request: legal, moves nothing */
    check(&st, XL_EVENT_CANCEL_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_CANCELLING, NULL, "cancel: cancelling");

    st = state_in(XL_STATUS_QUEUED);
    check(&st, XL_EVENT_PAUSE_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_PAUSED, NULL, "pause: queued");
    st = state_in(XL_STATUS_PAUSED); /* paused by the executor */
    check(&st, XL_EVENT_PAUSE_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_PAUSED, NULL, "pause: already paused");
    st = after(XL_STATUS_PAUSED, XL_EVENT_PAUSE_REQUESTED);
    check(&st, XL_EVENT_PAUSE_REQUESTED, NULL, XL_CONTROL_REPEAT, XL_STATUS_PAUSED, NULL, "pause: again");
    st = after(XL_STATUS_RUNNING, XL_EVENT_PAUSE_REQUESTED); /* resumed by the executor since */
    check(&st, XL_EVENT_PAUSE_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_PAUSED, NULL, "pause: after a resume");
    st = state_in(XL_STATUS_CANCELLING);
    check(&st, XL_EVENT_PAUSE_REQUESTED, NULL, XL_CONTROL_REFUSE, 409, "not-allowed", "pause: cancelling");
    check(&st, XL_EVENT_PAUSE_REQUESTED, "a", XL_CONTROL_REFUSE, 422, "invalid-write", "pause: names a task");

    st = state_in(XL_STATUS_QUEUED);
    check(&st, XL_EVENT_RESUME_REQUESTED, NULL, XL_CONTROL_REFUSE, 409, "not-allowed", "resume: queued");
    st = after(XL_STATUS_RUNNING, XL_EVENT_RESUME_REQUESTED);
    check(&st, XL_EVENT_RESUME_REQUESTED, NULL, XL_CONTROL_REPEAT, XL_STATUS_RUNNING, NULL, "resume: again");

    st = state_in(XL_STATUS_PAUSED);
    check(&st, XL_EVENT_FORCE_CANCEL_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_CANCELLED, NULL, "force: paused");
    st = after(XL_STATUS_CANCELLED, XL_EVENT_FORCE_CANCEL_REQUESTED);
    check(&st, XL_EVENT_FORCE_CANCEL_REQUESTED, NULL, XL_CONTROL_REPEAT, XL_STATUS_CANCELLED, NULL, "force: again");
    st = after(XL_STATUS_CANCELLED, XL_EVENT_CANCEL_REQUESTED);
    check(&st, XL_EVENT_FORCE_CANCEL_REQUESTED, NULL, XL_CONTROL_REFUSE, 409, "already-ended",
          "force: after another control ended it");

    st = state_in(XL_STATUS_FAILED);
    st.tasks = tasks;
    st.ntasks = 2;
    check(&st, XL_EVENT_RETRY_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_RUNNING, NULL, "retry: failed");
    check(&st, XL_EVENT_RETRY_REQUESTED, "b", XL_CONTROL_WRITE, XL_STATUS_RUNNING, NULL, "retry: the failed task");
    check(&st, XL_EVENT_RETRY_REQUESTED, "a", XL_CONTROL_REFUSE, 409, "nothing-to-retry", "retry: a task that did not fail");
    check(&st, XL_EVENT_RETRY_REQUESTED, "zz", XL_CONTROL_REFUSE, 422, "invalid-write", "retry: no such task");
    st.ntasks = 1; /* only the succeeded one */
    check(&st, XL_EVENT_RETRY_REQUESTED, NULL, XL_CONTROL_REFUSE, 409, "nothing-to-retry", "retry: nothing failed");
    st = after(XL_STATUS_RUNNING, XL_EVENT_RETRY_REQUESTED);
    st.tasks = tasks;
    st.ntasks = 1;
    check(&st, XL_EVENT_RETRY_REQUESTED, NULL, XL_CONTROL_REPEAT, XL_STATUS_RUNNING, NULL, "retry: again");
    st.ntasks = 2; /* another task failed since */
    check(&st, XL_EVENT_RETRY_REQUESTED, NULL, XL_CONTROL_WRITE, XL_STATUS_RUNNING, NULL, "retry: a new failure");
    st = state_in(XL_STATUS_SUCCEEDED);
    check(&st, XL_EVENT_RETRY_REQUESTED, NULL, XL_CONTROL_REFUSE, 409, "already-ended", "retry: succeeded");

    XL_PHASE("end times");
    st = state_in(XL_STATUS_RUNNING);
    st.started_ms = 5000;
    xl_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = XL_EVENT_SUCCEEDED;
    ev.time_ms = 4999;
    XL_CHECK_INT(xl_control_time_ok(&st, &ev), 0);
    ev.time_ms = 5000;
    XL_CHECK_INT(xl_control_time_ok(&st, &ev), 1);
    ev.type = XL_EVENT_PROGRESS; /* not an end: any time */
    ev.time_ms = 1;
    XL_CHECK_INT(xl_control_time_ok(&st, &ev), 1);
    st = state_in(XL_STATUS_QUEUED); /* never started: the creation counts */
    ev.type = XL_EVENT_FAILED;
    ev.time_ms = 999;
    XL_CHECK_INT(xl_control_time_ok(&st, &ev), 0);
    st = state_in(XL_STATUS_FAILED); /* already ended: an anomaly, not this rule's business */
    XL_CHECK_INT(xl_control_time_ok(&st, &ev), 1);
    return xl_test_finish();
}
