/*
 * Tests of projector/apply.c, the state machine. The expected transitions
 * below are written from the spec, independently of apply.c's own table, so
 * that a wrong row there fails here. Also: creation, rejections, duplicates,
 * anomalies after terminal states (counted and listed, the last 32),
 * timestamps, merges, tasks (sorted, restarts, attempts, the cap), and
 * determinism of the encoded state bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "projector/apply.h"
#include "schemas/event.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

/* the statuses an execution can have (waiting and skipped are tasks' only) */
#define NSTATUS (XL_STATUS_CANCELLED + 1)

/* An event of execution audit; strings point at literals (apply only reads them). */
static xl_event_t event_of(int type, int64_t audit, const char *event_id, int64_t time_ms)
{
    xl_event_t ev = fx_event(type, audit, event_id, time_ms);
    ev.flow_id = str_of("flow-1");
    return ev;
}

static const xl_apply_origin_t origin0 = {0, 0};

/* A fresh execution (seq 1, queued) made by a created event. */
static int create_exec(xl_state_t *st, int64_t audit)
{
    xl_event_t ev = event_of(XL_EVENT_CREATED, audit, "create", 100);
    xl_apply_result_t res;
    memset(st, 0, sizeof(*st));
    return xl_apply_event(st, 0, &ev, 0, &origin0, &res) == 0 && res.outcome == XL_APPLY_NEW ? 0 : -1;
}

/*
 * Status after each event type, by the status before it; "!" = anomaly
 * (the status stays). Written from the spec.
 */
/* clang-format off */
static const struct {
    int type;
    const char *after[NSTATUS];
} transitions[] = {
    /*                               queued        running       paused        cancelling    succeeded    warning    failed    cancelled */
    {XL_EVENT_STARTED,          {"running",    "!",          "running",    "!",          "!",         "!",       "!",      "!"}},
    {XL_EVENT_PROGRESS,         {"running",    "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_PAUSED,           {"!",          "paused",     "paused",     "!",          "!",         "!",       "!",      "!"}},
    {XL_EVENT_RESUMED,          {"!",          "running",    "running",    "!",          "!",         "!",       "!",      "!"}},
    {XL_EVENT_WARNING,          {"queued",     "running",    "paused",     "cancelling", "succeeded", "warning", "failed", "cancelled"}},
    {XL_EVENT_SUCCEEDED,        {"succeeded",  "succeeded",  "succeeded",  "succeeded",  "!",         "!",       "!",      "!"}},
    {XL_EVENT_FAILED,           {"failed",     "failed",     "failed",     "failed",     "!",         "!",       "!",      "!"}},
    {XL_EVENT_CANCEL_REQUESTED, {"cancelling", "cancelling", "cancelling", "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_CANCELLED,        {"cancelled",  "cancelled",  "cancelled",  "cancelled",  "!",         "!",       "!",      "!"}},
    {XL_EVENT_TASK_STARTED,     {"running",    "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_TASK_PROGRESS,    {"queued",     "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_TASK_FINISHED,    {"queued",     "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_TASK_FAILED,      {"queued",     "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_METRICS,          {"queued",     "running",    "paused",     "cancelling", "succeeded", "warning", "failed", "cancelled"}},
    {XL_EVENT_LOG,              {"queued",     "running",    "paused",     "cancelling", "succeeded", "warning", "failed", "cancelled"}},
    {XL_EVENT_TASK_WAITING,     {"queued",     "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_TASK_SKIPPED,     {"queued",     "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_TASK_CANCELLED,   {"queued",     "running",    "paused",     "cancelling", "!",         "!",       "!",      "!"}},
    {XL_EVENT_PAUSE_REQUESTED,  {"paused",     "paused",     "paused",     "!",          "!",         "!",       "!",      "!"}},
    {XL_EVENT_RESUME_REQUESTED, {"!",          "running",    "running",    "!",          "!",         "!",       "!",      "!"}},
    {XL_EVENT_FORCE_CANCEL_REQUESTED, {"cancelled", "cancelled", "cancelled", "cancelled", "!",       "!",       "!",      "!"}},
    {XL_EVENT_RETRY_REQUESTED,  {"!",          "running",    "paused",     "!",          "!",         "!",       "running", "!"}},
};
/* clang-format on */

static int is_terminal_name(const char *s)
{
    return strcmp(s, "succeeded") == 0 || strcmp(s, "warning") == 0 || strcmp(s, "failed") == 0 ||
           strcmp(s, "cancelled") == 0;
}

static int test_transitions(void)
{
    char phase[128];
    size_t nrows = sizeof(transitions) / sizeof(transitions[0]);

    XL_PHASE("transition table covers every non-create event type");
    XL_CHECK_INT(nrows, XL_EVENT__COUNT - 1);

    for (size_t r = 0; r != nrows; ++r) {
        for (int from = 0; from != NSTATUS; ++from) {
            const char *want = transitions[r].after[from];
            const char *from_name = xl_status_name(from);
            snprintf(phase, sizeof(phase), "%s in %s", xl_event_type_name(transitions[r].type), from_name);
            XL_PHASE(phase);

            xl_state_t st;
            if (create_exec(&st, 7) != 0) {
                XL_CHECK(0, "create failed");
                continue;
            }
            st.status = from;
            st.started_ms = from == XL_STATUS_QUEUED ? 0 : 50;
            st.ended_ms = is_terminal_name(from_name) ? 60 : 0;

            xl_event_t ev = event_of(transitions[r].type, 7, "e-2", 1000);
            xl_apply_origin_t origin = {3, 4242};
            xl_apply_result_t res;
            XL_CHECK_INT(xl_apply_event(&st, 1, &ev, 0, &origin, &res), 0);
            XL_CHECK_INT(res.seq, 2);
            XL_CHECK_INT(st.last_seq, 2);
            XL_CHECK_INT(st.updated_ms, 1001);
            XL_CHECK_INT(st.log_partition, 3);
            XL_CHECK_INT(st.log_offset, 4242);
            if (strcmp(want, "!") == 0) {
                XL_CHECK(res.outcome == XL_APPLY_ANOMALY, "outcome %s, expected anomaly",
                         xl_apply_outcome_name(res.outcome));
                XL_CHECK(res.reason[0] != '\0', "an anomaly names its reason");
                XL_CHECK_INT(st.status, from);
                XL_CHECK_INT(st.anomalies, 1);
                XL_CHECK_INT(st.ended_ms, is_terminal_name(from_name) ? 60 : 0);
            } else {
                XL_CHECK(res.outcome == XL_APPLY_NEW, "outcome %s (%s), expected new",
                         xl_apply_outcome_name(res.outcome), res.reason);
                XL_CHECK(strcmp(xl_status_name(st.status), want) == 0, "status %s, expected %s",
                         xl_status_name(st.status), want);
                XL_CHECK_INT(st.anomalies, 0);
                /* ended_ms is set by the first terminal status only; a retry of a failed one clears it */
                if (transitions[r].type == XL_EVENT_RETRY_REQUESTED && from == XL_STATUS_FAILED)
                    XL_CHECK_INT(st.ended_ms, 0);
                else if (is_terminal_name(from_name))
                    XL_CHECK_INT(st.ended_ms, 60);
                else
                    XL_CHECK_INT(st.ended_ms, is_terminal_name(want) ? 1000 : 0);
                /* started_ms is set by the first move to running only */
                if (from == XL_STATUS_QUEUED)
                    XL_CHECK_INT(st.started_ms, strcmp(want, "running") == 0 ? 1000 : 0);
                else
                    XL_CHECK_INT(st.started_ms, 50);
            }
            xl_state_dispose(&st);
        }
    }
    return 0;
}

static int test_create(void)
{
    xl_state_t st;
    xl_apply_result_t res;
    xl_event_t ev = event_of(XL_EVENT_CREATED, 42, "req-1", 5000);
    ev.parent_audit_id = 41;
    ev.root_audit_id = 40;
    ev.parent_execution_id = 9;
    ev.retries = 2;
    ev.flow_name = str_of("Nightly load");
    ev.tenant_id = str_of("acme");
    ev.message_id = str_of("msg-9");
    ev.trigger_type = str_of("schedule");
    ev.started_by = str_of("alice");
    ev.message = str_of("queued by cron");
    xl_attr_t attrs[] = {{str_of("zone"), str_of("eu")}, {str_of("env"), str_of("prod")}};
    ev.attributes = attrs;
    ev.nattributes = 2;

    XL_PHASE("created makes a queued execution");
    memset(&st, 0, sizeof(st));
    XL_REQUIRE(xl_apply_event(&st, 0, &ev, 0, &origin0, &res) == 0, "apply");
    XL_CHECK_INT(res.outcome, XL_APPLY_NEW);
    XL_CHECK_INT(res.seq, 1);
    XL_CHECK_INT(st.audit_id, 42);
    XL_CHECK_INT(st.parent_audit_id, 41);
    XL_CHECK_INT(st.root_audit_id, 40);
    XL_CHECK_INT(st.parent_execution_id, 9);
    XL_CHECK_INT(st.retries, 2);
    XL_CHECK_STR(st.flow_id.base, st.flow_id.len, "flow-1");
    XL_CHECK_STR(st.flow_name.base, st.flow_name.len, "Nightly load");
    XL_CHECK_STR(st.tenant_id.base, st.tenant_id.len, "acme");
    XL_CHECK_STR(st.message_id.base, st.message_id.len, "msg-9");
    XL_CHECK_STR(st.trigger_type.base, st.trigger_type.len, "schedule");
    XL_CHECK_STR(st.started_by.base, st.started_by.len, "alice");
    XL_CHECK_STR(st.message.base, st.message.len, "queued by cron");
    XL_CHECK_INT(st.status, XL_STATUS_QUEUED);
    XL_CHECK_INT(st.created_ms, 5000);
    XL_CHECK_INT(st.updated_ms, 5001);
    XL_CHECK_INT(st.started_ms, 0);
    XL_CHECK_INT(st.ended_ms, 0);
    XL_CHECK_INT(st.last_seq, 1);
    XL_CHECK_INT(st.anomalies, 0);
    XL_REQUIRE(st.nattributes == 2, "nattributes = %zu", st.nattributes);
    XL_CHECK_STR(st.attributes[0].key.base, st.attributes[0].key.len, "env");
    XL_CHECK_STR(st.attributes[1].key.base, st.attributes[1].key.len, "zone");
    XL_CHECK(st.flow_id.base != ev.flow_id.base, "the state owns copies, not the event's memory");

    XL_PHASE("a second create of an existing execution is rejected, state untouched");
    xl_event_t again = event_of(XL_EVENT_CREATED, 42, "req-2", 6000);
    XL_CHECK_INT(xl_apply_event(&st, 1, &again, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_REJECTED);
    XL_CHECK(strstr(res.reason, "exists") != NULL, "reason: %s", res.reason);
    XL_CHECK_INT(st.last_seq, 1);
    XL_CHECK_INT(st.created_ms, 5000);

    XL_PHASE("the same create delivered again is a duplicate");
    XL_CHECK_INT(xl_apply_event(&st, 1, &ev, 1, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_DUPLICATE);
    XL_CHECK_INT(res.seq, 0);
    XL_CHECK_INT(st.last_seq, 1);

    XL_PHASE("any event seen before is a duplicate, also after a terminal status");
    st.status = XL_STATUS_FAILED;
    xl_event_t started = event_of(XL_EVENT_STARTED, 42, "s-1", 7000);
    XL_CHECK_INT(xl_apply_event(&st, 1, &started, 1, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_DUPLICATE);
    XL_CHECK_INT(st.anomalies, 0);
    XL_CHECK_INT(st.last_seq, 1);
    xl_state_dispose(&st);

    XL_PHASE("events of an unknown execution are rejected");
    for (int type = 1; type != XL_EVENT__COUNT; ++type) {
        xl_state_t none;
        memset(&none, 0, sizeof(none));
        xl_event_t e = event_of(type, 77, "x", 1);
        XL_CHECK_INT(xl_apply_event(&none, 0, &e, 0, &origin0, &res), 0);
        XL_CHECK(res.outcome == XL_APPLY_REJECTED, "%s: outcome %s", xl_event_type_name(type),
                 xl_apply_outcome_name(res.outcome));
        XL_CHECK(strstr(res.reason, "unknown execution") != NULL, "reason: %s", res.reason);
        XL_CHECK_INT(none.last_seq, 0);
    }

    XL_PHASE("out-of-range audit IDs and event types are rejected");
    xl_state_t none;
    memset(&none, 0, sizeof(none));
    xl_event_t bad = event_of(XL_EVENT_CREATED, 0, "x", 1);
    XL_CHECK_INT(xl_apply_event(&none, 0, &bad, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_REJECTED);
    bad.audit_id = XL_AUDIT_ID_MAX + 1;
    XL_CHECK_INT(xl_apply_event(&none, 0, &bad, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_REJECTED);
    bad.audit_id = 5;
    bad.type = XL_EVENT__COUNT;
    XL_CHECK_INT(xl_apply_event(&none, 0, &bad, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_REJECTED);
    XL_CHECK_INT(none.audit_id, 0);
    return 0;
}

static int test_lifecycle(void)
{
    xl_state_t st;
    xl_apply_result_t res;
    XL_PHASE("lifecycle: create");
    XL_REQUIRE(create_exec(&st, 5) == 0, "create");

    /* clang-format off */
    static const struct { int type; int64_t t; int outcome; int status; } steps[] = {
        {XL_EVENT_TASK_STARTED,     200, XL_APPLY_NEW,     XL_STATUS_RUNNING},
        {XL_EVENT_PAUSED,           300, XL_APPLY_NEW,     XL_STATUS_PAUSED},
        {XL_EVENT_RESUMED,          400, XL_APPLY_NEW,     XL_STATUS_RUNNING},
        {XL_EVENT_CANCEL_REQUESTED, 500, XL_APPLY_NEW,     XL_STATUS_CANCELLING},
        {XL_EVENT_SUCCEEDED,        600, XL_APPLY_NEW,     XL_STATUS_SUCCEEDED},
        {XL_EVENT_STARTED,          700, XL_APPLY_ANOMALY, XL_STATUS_SUCCEEDED},
        {XL_EVENT_FAILED,           800, XL_APPLY_ANOMALY, XL_STATUS_SUCCEEDED},
        {XL_EVENT_LOG,              900, XL_APPLY_NEW,     XL_STATUS_SUCCEEDED},
    };
    /* clang-format on */
    for (size_t i = 0; i != sizeof(steps) / sizeof(steps[0]); ++i) {
        char id[16];
        snprintf(id, sizeof(id), "e-%zu", i);
        xl_event_t ev = event_of(steps[i].type, 5, id, steps[i].t);
        xl_apply_origin_t origin = {1, (int64_t)i};
        XL_PHASE("lifecycle: step");
        XL_CHECK_INT(xl_apply_event(&st, 1, &ev, 0, &origin, &res), 0);
        XL_CHECK(res.outcome == steps[i].outcome, "step %zu: outcome %s", i, xl_apply_outcome_name(res.outcome));
        XL_CHECK(st.status == steps[i].status, "step %zu: status %s", i, xl_status_name(st.status));
        XL_CHECK_INT(res.seq, i + 2);
    }
    XL_PHASE("lifecycle: times and counters");
    XL_CHECK_INT(st.created_ms, 100);
    XL_CHECK_INT(st.started_ms, 200); /* resumed does not move it */
    XL_CHECK_INT(st.ended_ms, 600);   /* anomalies after the end do not move it */
    XL_CHECK_INT(st.updated_ms, 901);
    XL_CHECK_INT(st.anomalies, 2);
    XL_CHECK_INT(st.last_seq, 9);
    XL_CHECK_INT(st.log_offset, 7);

    XL_PHASE("event without a client time: the ingest time counts");
    xl_state_t st2;
    XL_REQUIRE(create_exec(&st2, 6) == 0, "create");
    xl_event_t ev = event_of(XL_EVENT_STARTED, 6, "s", 0);
    ev.ingest_time_ms = 12345;
    XL_CHECK_INT(xl_apply_event(&st2, 1, &ev, 0, &origin0, &res), 0);
    XL_CHECK_INT(st2.started_ms, 12345);
    XL_CHECK_INT(st2.updated_ms, 12345);
    xl_state_dispose(&st2);
    xl_state_dispose(&st);
    return 0;
}

/* Apply one task event of execution 7 named task (NULL: none); @return the outcome. */
static int task_event(xl_state_t *st, int type, const char *task, const char *id, int64_t t, const char *message)
{
    xl_apply_result_t res;
    xl_event_t ev = event_of(type, 7, id, t);
    ev.task = str_of(task);
    ev.message = str_of(message);
    if (xl_apply_event(st, 1, &ev, 0, &origin0, &res) != 0)
        return -1;
    return res.outcome;
}

static const xl_task_t *find_task(const xl_state_t *st, const char *name)
{
    for (size_t i = 0; i != st->ntasks; ++i)
        if (st->tasks[i].name.len == strlen(name) && memcmp(st->tasks[i].name.base, name, strlen(name)) == 0)
            return &st->tasks[i];
    return NULL;
}

static int test_tasks(void)
{
    xl_state_t st;
    const xl_task_t *t;
    XL_PHASE("tasks: create");
    XL_REQUIRE(create_exec(&st, 7) == 0, "create");

    XL_PHASE("tasks: started, progress, finished; names sorted; the first start moves queued to running");
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_STARTED, "load", "1", 200, "loading"), XL_APPLY_NEW);
    XL_CHECK_INT(st.status, XL_STATUS_RUNNING);
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_STARTED, "extract", "2", 210, NULL), XL_APPLY_NEW);
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_PROGRESS, "extract", "3", 220, "half"), XL_APPLY_NEW);
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_FINISHED, "extract", "4", 230, NULL), XL_APPLY_NEW);
    XL_REQUIRE(st.ntasks == 2, "ntasks %zu", st.ntasks);
    XL_CHECK_STR(st.tasks[0].name.base, st.tasks[0].name.len, "extract");
    XL_CHECK_STR(st.tasks[1].name.base, st.tasks[1].name.len, "load");
    t = find_task(&st, "extract");
    XL_CHECK_INT(t->status, XL_STATUS_SUCCEEDED);
    XL_CHECK_INT(t->started_ms, 210);
    XL_CHECK_INT(t->ended_ms, 230);
    XL_CHECK_INT(t->attempts, 1);
    XL_CHECK_STR(t->message.base, t->message.len, "half"); /* events without a message keep it */
    t = find_task(&st, "load");
    XL_CHECK_INT(t->status, XL_STATUS_RUNNING);
    XL_CHECK_INT(t->ended_ms, 0);
    XL_CHECK_STR(t->message.base, t->message.len, "loading");

    XL_PHASE("tasks: a failed task restarted keeps its first start, clears its end, counts attempts");
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_FAILED, "load", "5", 300, "disk full"), XL_APPLY_NEW);
    t = find_task(&st, "load");
    XL_CHECK(t->status == XL_STATUS_FAILED && t->ended_ms == 300, "failed: %d %lld", t->status, (long long)t->ended_ms);
    XL_CHECK_INT(st.status, XL_STATUS_RUNNING); /* a failed task does not fail the execution */
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_STARTED, "load", "6", 400, NULL), XL_APPLY_NEW);
    t = find_task(&st, "load");
    XL_CHECK_INT(t->status, XL_STATUS_RUNNING);
    XL_CHECK_INT(t->started_ms, 200);
    XL_CHECK_INT(t->ended_ms, 0);
    XL_CHECK_INT(t->attempts, 2);
    XL_CHECK_STR(t->message.base, t->message.len, "disk full");

    XL_PHASE("tasks: progress of an unknown task, and task events without a name");
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_PROGRESS, "aaa", "7", 410, NULL), XL_APPLY_NEW);
    t = find_task(&st, "aaa");
    XL_CHECK(t != NULL && t->status == XL_STATUS_RUNNING && t->started_ms == 0 && t->attempts == 0,
             "progress-only task");
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_FINISHED, NULL, "8", 420, NULL), XL_APPLY_NEW);
    XL_REQUIRE(st.ntasks == 4, "ntasks %zu", st.ntasks);
    XL_CHECK_INT(st.tasks[0].name.len, 0); /* "" sorts first */
    XL_CHECK(st.tasks[0].name.base != NULL, "the unnamed task has an empty, non-null name");
    XL_CHECK_INT(st.tasks[0].status, XL_STATUS_SUCCEEDED);

    XL_PHASE("tasks: the end closes open tasks; after it, task events are anomalies and change no task");
    XL_CHECK_INT(task_event(&st, XL_EVENT_SUCCEEDED, NULL, "9", 500, NULL), XL_APPLY_NEW);
    XL_CHECK_INT(find_task(&st, "load")->status, XL_STATUS_CANCELLED); /* was running */
    XL_CHECK_INT(find_task(&st, "load")->ended_ms, 500);
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_FINISHED, "load", "10", 510, NULL), XL_APPLY_ANOMALY);
    XL_CHECK_INT(find_task(&st, "load")->status, XL_STATUS_CANCELLED);
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_STARTED, "new", "11", 520, NULL), XL_APPLY_ANOMALY);
    XL_CHECK(find_task(&st, "new") == NULL, "a task made by an anomaly");
    xl_state_dispose(&st);

    XL_PHASE("tasks: at most XL_STATE_MAX_TASKS names are tracked");
    XL_REQUIRE(create_exec(&st, 7) == 0, "create");
    char name[32], id[32];
    for (int i = 0; i != XL_STATE_MAX_TASKS + 5; ++i) {
        snprintf(name, sizeof(name), "t%05d", i);
        snprintf(id, sizeof(id), "s%d", i);
        if (task_event(&st, XL_EVENT_TASK_STARTED, name, id, 200 + i, NULL) != XL_APPLY_NEW)
            XL_CHECK(0, "task %d not new", i);
    }
    XL_CHECK_INT(st.ntasks, XL_STATE_MAX_TASKS);
    XL_CHECK_INT(st.last_seq, XL_STATE_MAX_TASKS + 6); /* every event archived all the same */
    XL_CHECK(find_task(&st, "t01024") == NULL && find_task(&st, "t01023") != NULL, "the first names are kept");
    XL_CHECK_INT(task_event(&st, XL_EVENT_TASK_FINISHED, "t00000", "f", 9000, NULL), XL_APPLY_NEW);
    XL_CHECK_INT(find_task(&st, "t00000")->status, XL_STATUS_SUCCEEDED);
    xl_state_dispose(&st);
    return 0;
}

static int test_anomaly_list(void)
{
    xl_state_t st;
    xl_apply_result_t res;
    XL_PHASE("anomaly list: seq, type and the status met, oldest first");
    XL_REQUIRE(create_exec(&st, 8) == 0, "create");
    xl_event_t ev = event_of(XL_EVENT_PAUSED, 8, "p", 200); /* paused while queued */
    XL_CHECK_INT(xl_apply_event(&st, 1, &ev, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_ANOMALY);
    XL_REQUIRE(st.nanomaly_list == 1, "nanomaly_list %zu", st.nanomaly_list);
    XL_CHECK_INT(st.anomaly_list[0].seq, 2);
    XL_CHECK_INT(st.anomaly_list[0].type, XL_EVENT_PAUSED);
    XL_CHECK_INT(st.anomaly_list[0].status, XL_STATUS_QUEUED);
    ev = event_of(XL_EVENT_FAILED, 8, "f", 300);
    XL_CHECK_INT(xl_apply_event(&st, 1, &ev, 0, &origin0, &res), 0);
    XL_CHECK_INT(st.nanomaly_list, 1); /* accepted events are not listed */

    XL_PHASE("anomaly list: keeps the last 32, the count keeps counting");
    for (int i = 0; i != 40; ++i) {
        char id[16];
        snprintf(id, sizeof(id), "late-%d", i);
        ev = event_of(i % 2 ? XL_EVENT_STARTED : XL_EVENT_CANCELLED, 8, id, 400 + i);
        XL_CHECK_INT(xl_apply_event(&st, 1, &ev, 0, &origin0, &res), 0);
        XL_CHECK_INT(res.outcome, XL_APPLY_ANOMALY);
    }
    XL_CHECK_INT(st.anomalies, 41);
    XL_REQUIRE(st.nanomaly_list == XL_STATE_MAX_ANOMALIES, "nanomaly_list %zu", st.nanomaly_list);
    /* seqs 4..43 were the 40 late ones; the last 32 are 12..43 */
    XL_CHECK_INT(st.anomaly_list[0].seq, 12);
    XL_CHECK_INT(st.anomaly_list[31].seq, 43);
    XL_CHECK_INT(st.anomaly_list[31].type, XL_EVENT_STARTED);
    XL_CHECK_INT(st.anomaly_list[31].status, XL_STATUS_FAILED);
    XL_CHECK_INT(st.status, XL_STATUS_FAILED);
    XL_CHECK_INT(st.ended_ms, 300);
    xl_state_dispose(&st);
    return 0;
}

static int test_warnings(void)
{
    xl_state_t st;
    xl_apply_result_t res;
    XL_PHASE("warning: a warning event's message becomes a warning");
    XL_REQUIRE(create_exec(&st, 8) == 0, "create");
    xl_event_t w = event_of(XL_EVENT_WARNING, 8, "w-1", 200);
    w.message = str_of("disk almost full");
    XL_CHECK_INT(xl_apply_event(&st, 1, &w, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_NEW);
    XL_REQUIRE(st.nwarnings == 1, "nwarnings = %zu", st.nwarnings);
    XL_CHECK_STR(st.warnings[0].base, st.warnings[0].len, "disk almost full");
    XL_CHECK_STR(st.message.base, st.message.len, "disk almost full");
    XL_CHECK_INT(st.status, XL_STATUS_QUEUED);

    XL_PHASE("warning: listed warnings are appended in order (not the message)");
    xl_str_t list[] = {str_of("slow source"), str_of("retrying")};
    xl_event_t w2 = event_of(XL_EVENT_WARNING, 8, "w-2", 300);
    w2.warnings = list;
    w2.nwarnings = 2;
    w2.message = str_of("two warnings");
    XL_CHECK_INT(xl_apply_event(&st, 1, &w2, 0, &origin0, &res), 0);
    XL_REQUIRE(st.nwarnings == 3, "nwarnings = %zu", st.nwarnings);
    XL_CHECK_STR(st.warnings[1].base, st.warnings[1].len, "slow source");
    XL_CHECK_STR(st.warnings[2].base, st.warnings[2].len, "retrying");

    XL_PHASE("warning: succeeded with warnings ends in status warning");
    xl_event_t ok = event_of(XL_EVENT_SUCCEEDED, 8, "ok", 400);
    XL_CHECK_INT(xl_apply_event(&st, 1, &ok, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_NEW);
    XL_CHECK_INT(st.status, XL_STATUS_WARNING);
    XL_CHECK_INT(st.ended_ms, 400);
    xl_state_dispose(&st);

    XL_PHASE("warning: a succeeded event that carries warnings itself ends in warning");
    XL_REQUIRE(create_exec(&st, 9) == 0, "create");
    xl_event_t ok2 = event_of(XL_EVENT_SUCCEEDED, 9, "ok", 400);
    ok2.warnings = list;
    ok2.nwarnings = 1;
    XL_CHECK_INT(xl_apply_event(&st, 1, &ok2, 0, &origin0, &res), 0);
    XL_CHECK_INT(st.status, XL_STATUS_WARNING);
    XL_CHECK_INT(st.nwarnings, 1);

    XL_PHASE("warning: a late warning after the end is kept, status stays");
    XL_CHECK_INT(xl_apply_event(&st, 1, &w, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_NEW);
    XL_CHECK_INT(st.status, XL_STATUS_WARNING);
    XL_CHECK_INT(st.nwarnings, 2);

    XL_PHASE("warning: an anomaly merges nothing");
    xl_event_t late = event_of(XL_EVENT_STARTED, 9, "late", 500);
    late.message = str_of("should not show");
    late.warnings = list;
    late.nwarnings = 2;
    XL_CHECK_INT(xl_apply_event(&st, 1, &late, 0, &origin0, &res), 0);
    XL_CHECK_INT(res.outcome, XL_APPLY_ANOMALY);
    XL_CHECK_INT(st.nwarnings, 2);
    XL_CHECK_STR(st.message.base, st.message.len, "disk almost full");
    xl_state_dispose(&st);
    return 0;
}

static int test_merges(void)
{
    xl_state_t st;
    xl_apply_result_t res;
    XL_PHASE("merge: metrics sorted by name, last value wins");
    XL_REQUIRE(create_exec(&st, 10) == 0, "create");
    xl_metric_t m1[] = {{str_of("rows"), 10}, {str_of("bytes"), 100}, {str_of("rows"), 11}};
    xl_event_t e1 = event_of(XL_EVENT_METRICS, 10, "m-1", 200);
    e1.metrics = m1;
    e1.nmetrics = 3;
    XL_CHECK_INT(xl_apply_event(&st, 1, &e1, 0, &origin0, &res), 0);
    xl_metric_t m2[] = {{str_of("rows_x"), 1}, {str_of("a"), 5}, {str_of("bytes"), 250}, {str_of("row"), 3}};
    xl_event_t e2 = event_of(XL_EVENT_PROGRESS, 10, "m-2", 300);
    e2.metrics = m2;
    e2.nmetrics = 4;
    XL_CHECK_INT(xl_apply_event(&st, 1, &e2, 0, &origin0, &res), 0);
    static const struct {
        const char *name;
        int64_t value;
    } want_metrics[] = {{"a", 5}, {"bytes", 250}, {"row", 3}, {"rows", 11}, {"rows_x", 1}};
    XL_REQUIRE(st.nmetrics == 5, "nmetrics = %zu", st.nmetrics);
    for (size_t i = 0; i != 5; ++i) {
        XL_CHECK_STR(st.metrics[i].name.base, st.metrics[i].name.len, want_metrics[i].name);
        XL_CHECK_INT(st.metrics[i].value, want_metrics[i].value);
    }

    XL_PHASE("merge: attributes sorted by key, last value wins");
    xl_attr_t a1[] = {{str_of("zone"), str_of("eu")}, {str_of("a"), str_of("1")}, {str_of("ab"), str_of("2")}};
    xl_event_t e3 = event_of(XL_EVENT_LOG, 10, "a-1", 400);
    e3.attributes = a1;
    e3.nattributes = 3;
    XL_CHECK_INT(xl_apply_event(&st, 1, &e3, 0, &origin0, &res), 0);
    xl_attr_t a2[] = {{str_of("zone"), str_of("us")}, {str_of("B"), str_of("up")}};
    xl_event_t e4 = event_of(XL_EVENT_LOG, 10, "a-2", 500);
    e4.attributes = a2;
    e4.nattributes = 2;
    XL_CHECK_INT(xl_apply_event(&st, 1, &e4, 0, &origin0, &res), 0);
    static const char *const want_attrs[][2] = {{"B", "up"}, {"a", "1"}, {"ab", "2"}, {"zone", "us"}};
    XL_REQUIRE(st.nattributes == 4, "nattributes = %zu", st.nattributes);
    for (size_t i = 0; i != 4; ++i) {
        XL_CHECK_STR(st.attributes[i].key.base, st.attributes[i].key.len, want_attrs[i][0]);
        XL_CHECK_STR(st.attributes[i].value.base, st.attributes[i].value.len, want_attrs[i][1]);
    }

    XL_PHASE("merge: last error and last message win; events without them keep them");
    xl_event_t f1 = event_of(XL_EVENT_TASK_FAILED, 10, "f-1", 600);
    f1.error = (xl_error_t){1, str_of("IOError"), str_of("disk"), str_of("at x.c:1")};
    f1.message = str_of("task failed");
    XL_CHECK_INT(xl_apply_event(&st, 1, &f1, 0, &origin0, &res), 0);
    xl_event_t f2 = event_of(XL_EVENT_FAILED, 10, "f-2", 700);
    f2.error = (xl_error_t){1, str_of("Timeout"), str_of("too slow"), {NULL, 0}};
    XL_CHECK_INT(xl_apply_event(&st, 1, &f2, 0, &origin0, &res), 0);
    XL_CHECK_INT(st.error.present, 1);
    XL_CHECK_STR(st.error.class_.base, st.error.class_.len, "Timeout");
    XL_CHECK_STR(st.error.message.base, st.error.message.len, "too slow");
    XL_CHECK(st.error.stack.base == NULL, "the stack of the last error is null");
    XL_CHECK_STR(st.message.base, st.message.len, "task failed");
    XL_CHECK_INT(st.status, XL_STATUS_FAILED);
    xl_state_dispose(&st);
    return 0;
}

/* Fold events[0..n) (with metric order per event reversed or not) and encode the state. */
static int fold_and_encode(xl_codec_t *codec, int reverse, xl_buf_t *out)
{
    xl_metric_t fwd[] = {{str_of("zeta"), 1}, {str_of("alpha"), 2}, {str_of("mid"), 3}};
    xl_metric_t rev[] = {{str_of("mid"), 3}, {str_of("alpha"), 2}, {str_of("zeta"), 1}};
    xl_attr_t afwd[] = {{str_of("k2"), str_of("v2")}, {str_of("k1"), str_of("v1")}};
    xl_attr_t arev[] = {{str_of("k1"), str_of("v1")}, {str_of("k2"), str_of("v2")}};
    xl_event_t evs[6];
    evs[0] = event_of(XL_EVENT_CREATED, 11, "c", 100);
    evs[1] = event_of(XL_EVENT_STARTED, 11, "s", 200);
    evs[4] = event_of(XL_EVENT_TASK_STARTED, 11, "t1", 250);
    evs[4].task = str_of(reverse ? "zz" : "aa");
    evs[5] = event_of(XL_EVENT_TASK_STARTED, 11, "t2", 250);
    evs[5].task = str_of(reverse ? "aa" : "zz");
    evs[2] = event_of(XL_EVENT_METRICS, 11, "m", 300);
    evs[2].metrics = reverse ? rev : fwd;
    evs[2].nmetrics = 3;
    evs[2].attributes = reverse ? arev : afwd;
    evs[2].nattributes = 2;
    evs[3] = event_of(XL_EVENT_SUCCEEDED, 11, "ok", 400);
    char err[256];
    xl_state_t st;
    xl_apply_result_t res;
    memset(&st, 0, sizeof(st));
    int exists = 0, ret = 0;
    /* the two task starts, whose names swap with reverse, land between started and metrics */
    static const int order[6] = {0, 1, 4, 5, 2, 3};
    for (int i = 0; i != 6 && ret == 0; ++i) {
        xl_apply_origin_t origin = {2, 10 + i};
        ret = xl_apply_event(&st, exists, &evs[order[i]], 0, &origin, &res);
        exists = 1;
    }
    if (ret == 0)
        ret = xl_state_encode(codec, &st, out, err, sizeof(err));
    xl_state_dispose(&st);
    return ret;
}

static int test_determinism(void)
{
    char err[256];
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    XL_PHASE("determinism: codec");
    XL_CHECK(codec != NULL, "xl_codec_create: %s", err);
    if (codec == NULL)
        return 0;
    xl_buf_t a, b, c;
    xl_buf_init(&a);
    xl_buf_init(&b);
    xl_buf_init(&c);

    XL_PHASE("determinism: the same events give the same bytes");
    XL_CHECK_INT(fold_and_encode(codec, 0, &a), 0);
    XL_CHECK_INT(fold_and_encode(codec, 0, &b), 0);
    XL_CHECK(a.len != 0 && a.len == b.len && memcmp(a.base, b.base, a.len) == 0, "encodings differ");

    XL_PHASE("determinism: the order of map entries inside an event does not matter");
    XL_CHECK_INT(fold_and_encode(codec, 1, &c), 0);
    XL_CHECK(a.len == c.len && memcmp(a.base, c.base, a.len) == 0, "encodings differ");

    XL_PHASE("determinism: decode and re-encode is the identity");
    xl_state_t st;
    XL_CHECK_INT(xl_state_decode(codec, a.base, a.len, &st, err, sizeof(err)), 0);
    xl_buf_reset(&b);
    XL_CHECK_INT(xl_state_encode(codec, &st, &b, err, sizeof(err)), 0);
    XL_CHECK(a.len == b.len && memcmp(a.base, b.base, a.len) == 0, "re-encoding differs");
    XL_CHECK_INT(st.status, XL_STATUS_SUCCEEDED);
    XL_CHECK_INT(st.nmetrics, 3);
    XL_CHECK_INT(st.last_seq, 6);
    XL_CHECK_INT(st.log_offset, 15);
    XL_CHECK_INT(st.ntasks, 2);
    xl_state_dispose(&st);

    xl_buf_dispose(&a);
    xl_buf_dispose(&b);
    xl_buf_dispose(&c);
    xl_codec_destroy(codec);
    return 0;
}

static int test_bounds(void)
{
    xl_state_t st;
    xl_apply_result_t res;
    char text[48];
    XL_PHASE("bounds: the last warnings are kept, all are counted");
    XL_REQUIRE(create_exec(&st, 9) == 0, "create");
    for (int i = 0; i != XL_STATE_MAX_WARNINGS + 8; ++i) {
        xl_event_t ev = event_of(XL_EVENT_WARNING, 9, NULL, 200 + i);
        snprintf(text, sizeof(text), "w%d", i);
        ev.message = str_of(text);
        XL_REQUIRE(xl_apply_event(&st, 1, &ev, 0, &origin0, &res) == 0 && res.outcome == XL_APPLY_NEW, "warning %d",
                   i);
    }
    XL_CHECK_INT(st.nwarnings, XL_STATE_MAX_WARNINGS);
    XL_CHECK_INT(st.warnings_total, XL_STATE_MAX_WARNINGS + 8);
    XL_CHECK_MEM(st.warnings[0].base, st.warnings[0].len, "w8", 2);
    snprintf(text, sizeof(text), "w%d", XL_STATE_MAX_WARNINGS + 7);
    XL_CHECK_MEM(st.warnings[st.nwarnings - 1].base, st.warnings[st.nwarnings - 1].len, text, strlen(text));

    XL_PHASE("bounds: names past the cap are not tracked, known names still change");
    static char names[XL_STATE_MAX_METRICS + 2][16];
    static xl_metric_t m[XL_STATE_MAX_METRICS + 2];
    for (int i = 0; i != XL_STATE_MAX_METRICS + 2; ++i) {
        snprintf(names[i], sizeof(names[i]), "m%04d", i);
        m[i] = (xl_metric_t){str_of(names[i]), i};
    }
    xl_event_t ev = event_of(XL_EVENT_METRICS, 9, NULL, 300);
    ev.metrics = m;
    ev.nmetrics = XL_STATE_MAX_METRICS + 2;
    XL_REQUIRE(xl_apply_event(&st, 1, &ev, 0, &origin0, &res) == 0, "metrics");
    XL_CHECK_INT(st.nmetrics, XL_STATE_MAX_METRICS);
    m[0].value = 77;
    ev.nmetrics = 1;
    XL_REQUIRE(xl_apply_event(&st, 1, &ev, 0, &origin0, &res) == 0, "metrics again");
    XL_CHECK_INT(st.metrics[0].value, 77);
    XL_CHECK_INT(st.nmetrics, XL_STATE_MAX_METRICS);

    XL_PHASE("bounds: a negative time is refused");
    xl_event_t late = event_of(XL_EVENT_LOG, 9, NULL, -5);
    XL_REQUIRE(xl_apply_event(&st, 1, &late, 0, &origin0, &res) == 0, "log");
    XL_CHECK_INT(res.outcome, XL_APPLY_REJECTED);
    xl_state_dispose(&st);
    return 0;
}

static int test_names(void)
{
    XL_PHASE("names");
    XL_CHECK(strcmp(xl_apply_outcome_name(XL_APPLY_NEW), "new") == 0, "new");
    XL_CHECK(strcmp(xl_apply_outcome_name(XL_APPLY_DUPLICATE), "duplicate") == 0, "duplicate");
    XL_CHECK(strcmp(xl_apply_outcome_name(XL_APPLY_ANOMALY), "anomaly") == 0, "anomaly");
    XL_CHECK(strcmp(xl_apply_outcome_name(XL_APPLY_REJECTED), "rejected") == 0, "rejected");
    XL_CHECK(strcmp(xl_apply_outcome_name(99), "unknown") == 0, "unknown");
    for (int s = 0; s != XL_STATUS__COUNT; ++s)
        XL_CHECK(xl_apply_is_terminal(s) == is_terminal_name(xl_status_name(s)), "terminal %s", xl_status_name(s));
    XL_CHECK_INT(xl_apply_is_terminal(-1), 0);
    XL_CHECK_INT(xl_apply_is_terminal(XL_STATUS__COUNT), 0);
    return 0;
}

/* Apply ev to st (execution 7); @return the outcome, or -1. */
static int apply7(xl_state_t *st, xl_event_t *ev)
{
    xl_apply_result_t res;
    if (xl_apply_event(st, 1, ev, 0, &origin0, &res) != 0)
        return -1;
    return res.outcome;
}

/*
 * The task model: a plan of waiting steps, a run per attempt with its own
 * times, status and error, a retry of a failed task within the execution,
 * the execution's error as its outcome's, open tasks closed at the end, the
 * users' control requests remembered, a log line apart from the message.
 */
static int test_task_runs(void)
{
    xl_state_t st;
    xl_event_t ev;

    XL_PHASE("runs: a create with a step plan");
    xl_str_t deps[1] = {str_of("extract")};
    xl_step_t steps[3] = {{str_of("extract"), str_of("sql"), 0, NULL},
                          {str_of("load"), {NULL, 0}, 1, deps},
                          {str_of("extract"), {NULL, 0}, 0, NULL}}; /* repeated: the first counts */
    ev = event_of(XL_EVENT_CREATED, 7, "create", 100);
    ev.steps = steps;
    ev.nsteps = 3;
    ev.input = str_of("{\"rows\":10}");
    ev.parent_execution_id = 3;
    ev.top_execution_id = 2;
    memset(&st, 0, sizeof(st));
    xl_apply_result_t res;
    XL_REQUIRE(xl_apply_event(&st, 0, &ev, 0, &origin0, &res) == 0 && res.outcome == XL_APPLY_NEW, "create");
    XL_CHECK_INT(st.top_execution_id, 2);
    XL_CHECK_STR(st.input.base, st.input.len, "{\"rows\":10}");
    XL_REQUIRE(st.ntasks == 2, "ntasks %zu", st.ntasks);
    const xl_task_t *t = find_task(&st, "extract");
    XL_CHECK(t != NULL && t->status == XL_STATUS_WAITING && t->type.base != NULL && t->nruns == 0, "extract waits");
    t = find_task(&st, "load");
    XL_CHECK(t != NULL && t->status == XL_STATUS_WAITING && t->ndepends_on == 1 && t->type.base == NULL,
             "load waits for extract");
    if (t != NULL && t->ndepends_on == 1)
        XL_CHECK_STR(t->depends_on[0].base, t->depends_on[0].len, "extract");

    XL_PHASE("runs: a failed run, then a second run that succeeds");
    ev = event_of(XL_EVENT_TASK_STARTED, 7, "s1", 200);
    ev.task = str_of("extract");
    ev.input = str_of("[1,2]");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK_INT(st.status, XL_STATUS_RUNNING);
    ev = event_of(XL_EVENT_TASK_FAILED, 7, "f1", 250);
    ev.task = str_of("extract");
    ev.error = (xl_error_t){1, str_of("Timeout"), str_of("db slow"), {NULL, 0}};
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK(!st.error.present, "a task's error is not the execution's");
    t = find_task(&st, "extract");
    XL_CHECK(t->status == XL_STATUS_FAILED && t->error.present, "task failed with its error");
    ev = event_of(XL_EVENT_TASK_STARTED, 7, "s2", 300);
    ev.task = str_of("extract");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    ev = event_of(XL_EVENT_TASK_FINISHED, 7, "d2", 380);
    ev.task = str_of("extract");
    ev.output = str_of("{\"ok\":true}");
    ev.metrics = (xl_metric_t[]){{str_of("rows"), 10}};
    ev.nmetrics = 1;
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    t = find_task(&st, "extract");
    XL_REQUIRE(t->nruns == 2, "two runs, %zu", t->nruns);
    XL_CHECK_INT(t->attempts, 2);
    XL_CHECK(t->runs[0].attempt == 1 && t->runs[0].status == XL_STATUS_FAILED && t->runs[0].started_ms == 200 &&
                 t->runs[0].ended_ms == 250 && t->runs[0].error.present,
             "run 1 failed with its error");
    XL_CHECK(t->runs[1].attempt == 2 && t->runs[1].status == XL_STATUS_SUCCEEDED && t->runs[1].started_ms == 300 &&
                 t->runs[1].ended_ms == 380 && !t->runs[1].error.present,
             "run 2 succeeded");
    XL_CHECK(t->status == XL_STATUS_SUCCEEDED && !t->error.present, "the task's error is its last run's");
    XL_CHECK_STR(t->input.base, t->input.len, "[1,2]"); /* kept across runs */
    XL_CHECK_STR(t->output.base, t->output.len, "{\"ok\":true}");
    XL_CHECK(t->nmetrics == 1 && t->metrics[0].value == 10, "task metrics");

    XL_PHASE("runs: log lines leave the status message alone");
    ev = event_of(XL_EVENT_PROGRESS, 7, "p", 390);
    ev.message = str_of("halfway");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    ev = event_of(XL_EVENT_LOG, 7, "l", 391);
    ev.message = str_of("a log line");
    ev.log = str_of("another");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK_STR(st.message.base, st.message.len, "halfway");

    XL_PHASE("runs: pause and resume requests are remembered");
    ev = event_of(XL_EVENT_PAUSE_REQUESTED, 7, "ctl-1", 392);
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK_INT(st.status, XL_STATUS_PAUSED);
    XL_CHECK_INT(st.control_type, XL_EVENT_PAUSE_REQUESTED);
    XL_CHECK_INT(st.control_seq, st.last_seq);
    XL_CHECK_STR(st.control_event_id.base, st.control_event_id.len, "ctl-1");
    ev = event_of(XL_EVENT_PAUSED, 7, "conf", 393); /* the executor confirms: no anomaly */
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    ev = event_of(XL_EVENT_RESUME_REQUESTED, 7, "ctl-2", 394);
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK_INT(st.status, XL_STATUS_RUNNING);
    XL_CHECK_INT(st.anomalies, 0);

    XL_PHASE("runs: the execution fails; open tasks are closed");
    ev = event_of(XL_EVENT_TASK_STARTED, 7, "s3", 400);
    ev.task = str_of("load");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    ev = event_of(XL_EVENT_FAILED, 7, "fail", 450);
    ev.error = (xl_error_t){1, str_of("Boom"), str_of("load broke"), {NULL, 0}};
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK(st.status == XL_STATUS_FAILED && st.error.present && st.ended_ms == 450, "failed with its error");
    t = find_task(&st, "load");
    XL_CHECK(t->status == XL_STATUS_CANCELLED && t->ended_ms == 450 && t->nruns == 1 &&
                 t->runs[0].status == XL_STATUS_CANCELLED && t->runs[0].ended_ms == 450,
             "the running task and its run are closed cancelled");
    XL_CHECK_INT(xl_apply_check(st.status, XL_EVENT_PAUSE_REQUESTED, NULL), 0);

    XL_PHASE("runs: retry of failed tasks runs the execution again");
    int to = -1;
    XL_CHECK_INT(xl_apply_check(st.status, XL_EVENT_RETRY_REQUESTED, &to), 1);
    XL_CHECK_INT(to, XL_STATUS_RUNNING);
    ev = event_of(XL_EVENT_RETRY_REQUESTED, 7, "ctl-3", 500);
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK(st.status == XL_STATUS_RUNNING && st.ended_ms == 0 && !st.error.present, "running again, no error");
    t = find_task(&st, "load");
    XL_CHECK(t->status == XL_STATUS_WAITING && t->ended_ms == 0, "the cancelled task waits again");
    XL_CHECK_INT(find_task(&st, "extract")->status, XL_STATUS_SUCCEEDED);
    ev = event_of(XL_EVENT_TASK_STARTED, 7, "s4", 510);
    ev.task = str_of("load");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    ev = event_of(XL_EVENT_TASK_FINISHED, 7, "d4", 520);
    ev.task = str_of("load");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    ev = event_of(XL_EVENT_SUCCEEDED, 7, "ok", 530);
    ev.output = str_of("\"done\"");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK(st.status == XL_STATUS_SUCCEEDED && !st.error.present && st.ended_ms == 530, "the outcome, no error");
    t = find_task(&st, "load");
    XL_CHECK(t->nruns == 2 && t->runs[1].attempt == 2 && t->runs[1].status == XL_STATUS_SUCCEEDED, "second run");
    XL_CHECK_STR(st.input.base, st.input.len, "{\"rows\":10}");
    XL_CHECK_STR(st.output.base, st.output.len, "\"done\"");
    XL_CHECK_INT(st.anomalies, 0);
    xl_state_dispose(&st);

    XL_PHASE("runs: a waiting step is skipped when the execution ends; force-cancel ends it");
    XL_REQUIRE(create_exec(&st, 7) == 0, "create");
    ev = event_of(XL_EVENT_TASK_WAITING, 7, "w", 200);
    ev.task = str_of("later");
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    ev = event_of(XL_EVENT_FORCE_CANCEL_REQUESTED, 7, "kill", 210);
    XL_CHECK_INT(apply7(&st, &ev), XL_APPLY_NEW);
    XL_CHECK(st.status == XL_STATUS_CANCELLED && st.ended_ms == 210, "force-cancelled");
    XL_CHECK_INT(find_task(&st, "later")->status, XL_STATUS_SKIPPED);
    XL_CHECK_INT(xl_apply_check(st.status, XL_EVENT_CANCEL_REQUESTED, NULL), 0);
    XL_CHECK_INT(xl_apply_requested_status(XL_EVENT_TASK_PROGRESS), XL_STATUS_NONE);
    XL_CHECK_INT(xl_apply_is_control(XL_EVENT_FORCE_CANCEL_REQUESTED), 1);
    XL_CHECK_INT(xl_apply_is_control(XL_EVENT_CANCELLED), 0);
    xl_state_dispose(&st);
    return 0;
}

int main(void)
{
    /* a test that bailed out (XL_REQUIRE) has printed the summary already */
    if (test_transitions() || test_create() || test_lifecycle() || test_tasks() || test_anomaly_list() ||
        test_warnings() || test_merges() || test_determinism() || test_bounds() || test_names() || test_task_runs())
        return 1;
    return xl_test_finish();
}
