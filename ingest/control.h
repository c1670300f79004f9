/*
 * The write rules of the users' control requests (pause, resume, cancel,
 * force-cancel, retry of failed tasks): given an execution's state, write
 * the request as an event, answer it as a repeat of the one already written,
 * or refuse it. Pure: no HTTP, no store, no clock. Whether a request is legal
 * is the state machine's to say (projector/apply.h, xl_apply_check); this
 * module only adds what "the same request again" means.
 */
#ifndef XL_INGEST_CONTROL_H
#define XL_INGEST_CONTROL_H

#include <stddef.h>

#include "schemas/event.h"

typedef enum en_xl_control_verdict_t {
    XL_CONTROL_WRITE = 0, /* produce the request; `to` is the status it leads to */
    XL_CONTROL_REPEAT,    /* the same request already holds: answer with st->control_event_id, write nothing */
    XL_CONTROL_REFUSE,    /* not allowed now: answer `status` (409, 422) with slug and detail */
} xl_control_verdict_t;

typedef struct st_xl_control_decision_t {
    int verdict; /* xl_control_verdict_t */
    int to;      /* WRITE: the status after the request */
    int status;  /* REFUSE: HTTP status */
    const char *slug;
    char detail[192];
} xl_control_decision_t;

/**
 * @brief The route name of a control request's event type ("pause", "resume",
 * "cancel", "force-cancel", "retry-failed-tasks"), or NULL for another type.
 */
const char *xl_control_name(int type);

/**
 * @brief Decide what a control request of event type `type` does to the
 * execution in st. task (base NULL: none) is the task a retry names.
 * st and task are borrowed for the call. @return 0, or -EINVAL for a type
 * that is not a control request.
 */
int xl_control_decide(const xl_state_t *st, int type, const xl_str_t *task, xl_control_decision_t *d);

/**
 * @brief The write rule on event times: an event that ends the execution
 * (by the rule table) may not be dated before the execution started (or was
 * created). @return 1 when ev's time is acceptable for st.
 */
int xl_control_time_ok(const xl_state_t *st, const xl_event_t *ev);

#endif
