/*
 * The fold of the projections: one decoded event applied to the current
 * state of its execution. This is the state machine of the product; its
 * transition table lives in apply.c and reads like the spec.
 *
 * Pure by contract: no Kafka, no RocksDB, no clock, no randomness. The same
 * state and event always give the same result and the same encoded bytes,
 * which is what lets two replicas compare digests. It must never read the
 * wall clock (updated_ms is the event's ingest time).
 */
#ifndef XL_PROJECTOR_APPLY_H
#define XL_PROJECTOR_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/event.h"

/** What an event did to its execution. */
typedef enum en_xl_apply_outcome_t {
    XL_APPLY_NEW = 0,   /* accepted: state changed, archive the event under res.seq */
    XL_APPLY_DUPLICATE, /* already applied (same audit_id, event_id): nothing changes */
    XL_APPLY_ANOMALY,   /* not allowed in the current status: archived under res.seq,
                           counted in state.anomalies and listed in state.anomaly_list;
                           nothing else of the state changes but its bookkeeping
                           (last_seq, updated_ms, log position) */
    XL_APPLY_REJECTED,  /* cannot belong to any execution: nothing changes, dead-letter it */
    XL_APPLY__COUNT
} xl_apply_outcome_t;

typedef struct st_xl_apply_result_t {
    int outcome;      /* xl_apply_outcome_t */
    uint32_t seq;     /* archive seq given to the event (NEW, ANOMALY), else 0 */
    char reason[128]; /* why ANOMALY or REJECTED (text); "" otherwise */
} xl_apply_result_t;

/** Where the event was read from (copied into state.log_partition/log_offset). */
typedef struct st_xl_apply_origin_t {
    int32_t partition;
    int64_t offset;
} xl_apply_origin_t;

/**
 * @brief Fold ev into st.
 * @param st      in: the current state when exists is 1; when exists is 0 it
 *                must hold no memory and is overwritten by a `created` event.
 *                out: the new state (NEW, ANOMALY); untouched otherwise.
 * @param exists  1 if st holds the execution ev->audit_id
 * @param ev      borrowed for the call; nothing of it is kept
 * @param seen    1 if (ev->audit_id, ev->event_id) was applied before (the
 *                caller's idempotency index): the outcome is then DUPLICATE
 * @param origin  log position of ev
 * @return 0 with res filled, or -ENOMEM: st may then be half-updated and must
 *         be disposed, not stored.
 */
int xl_apply_event(xl_state_t *st, int exists, const xl_event_t *ev, int seen, const xl_apply_origin_t *origin,
                   xl_apply_result_t *res);

/** @brief "new", "duplicate", "anomaly", "rejected". */
const char *xl_apply_outcome_name(int outcome);

/** @brief 1 for succeeded, warning, failed and cancelled. */
int xl_apply_is_terminal(int status);

/**
 * @brief Ask the transition table about an event of type arriving in status
 * (the write path's one source of the rules). A create is never "legal" here.
 * @param to  NULL, or receives the status the execution would have after it
 *            (status itself when the event moves nothing; `succeeded` may
 *            still become `warning` when the execution has warnings)
 * @return 1 if legal, 0 if it would be an anomaly.
 */
int xl_apply_check(int status, int type, int *to);

/** @brief The status an event of type asks for (its row's target), or XL_STATUS_NONE. */
int xl_apply_requested_status(int type);

/** @brief 1 for the users' control requests (cancel_requested, pause_requested, ...). */
int xl_apply_is_control(int type);

#endif
