/*
 * JSON rendering of projected values for the read API. Pure functions: no
 * I/O, no request, so lists and single lookups render alike. Every function
 * returns a new reference (NULL only when out of memory).
 */
#ifndef XL_API_RENDER_H
#define XL_API_RENDER_H

#include <jansson.h>

#include "projector/store.h"
#include "schemas/buf.h"
#include "schemas/event.h"

/** @brief The execution's current state as the API shows it (tasks and anomaly list included). */
json_t *xl_render_state(const xl_state_t *st);

/**
 * @brief Append the JSON text of xl_render_state(st) to out, without building a
 * json_t: the same keys in the same order, the same values, and jansson's
 * JSON_COMPACT escaping (strings pass through as the valid UTF-8 the codec
 * admits). The hot path of GET /v1/executions/{id}; tests/api/test_render.c
 * keeps it equal to xl_render_state.
 * @return 0, or -ENOMEM (out then holds a partial text: reset or dispose it).
 */
int xl_render_state_buf(const xl_state_t *st, xl_buf_t *out);

/** @brief One attempt of a retry chain, or one child execution: ids, status, times, error. */
json_t *xl_render_attempt(const xl_state_t *st);
/** @brief The same attempt, appended to out as the bytes json_dumpb(JSON_COMPACT) writes. @return 0 or -ENOMEM. */
int xl_render_attempt_buf(const xl_state_t *st, xl_buf_t *out);
/** @brief (s, n) appended to out as a JSON string (bytes that are not UTF-8 become U+FFFD). @return 0 or -ENOMEM. */
int xl_render_string_buf(xl_buf_t *out, const char *s, size_t n);

/** @brief One archived event: seq, its members, and where it was read (pos may be NULL). */
json_t *xl_render_event(const xl_event_t *ev, uint32_t seq, const xl_pos_t *pos);

/** @brief A flow summary; latest (may be NULL) is the rendered state of its latest run, stolen. */
json_t *xl_render_flow(const char *flow_id, size_t flow_len, const xl_str_t *tenant, const xl_flow_summary_t *sum,
                       json_t *latest);

/** @brief A string field as JSON: null when absent. */
json_t *xl_render_str(const xl_str_t *s);

/**
 * @brief Field selection (`fields=a,b`): a new object with only the keys of
 * o named in the comma-separated list (names that are not keys are left out).
 * Takes o. @return the new object (NULL on out of memory).
 */
json_t *xl_render_select(json_t *o, const char *fields, size_t len);

/** @brief A status name, null when out of range. */
json_t *xl_render_status(int status);

/**
 * @brief A duration as people write it: "850 ms", "12.5 seconds",
 * "3 minutes 5 seconds", "2 hours 0 minutes 7 seconds", "1 day 3 hours 2 minutes".
 * @return out (NUL-terminated, truncated to outlen).
 */
char *xl_render_duration_text(int64_t ms, char *out, size_t outlen);

#endif
