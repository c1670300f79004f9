/*
 * Validation of write bodies: a JSON object becomes the fields of an
 * xl_event_t, or a list of {"field","reason"} errors (422). The field table
 * in validate.c is the contract of the write API: which fields each kind of
 * write accepts, their types and limits. Unknown fields are errors, so a
 * misspelt field never silently vanishes.
 */
#ifndef XL_INGEST_VALIDATE_H
#define XL_INGEST_VALIDATE_H

#include <h2o.h>
#include <jansson.h>

#include "schemas/event.h"

typedef enum en_xl_write_kind_t {
    XL_WRITE_CREATE = 1 << 0, /* POST /v1/executions */
    XL_WRITE_APPEND = 1 << 1, /* POST /v1/executions/{id}/events */
    XL_WRITE_RETRY = 1 << 2,  /* POST /v1/executions/{id}/retry */
    XL_WRITE_CANCEL = 1 << 3, /* POST /v1/executions/{id}/cancel */
    XL_WRITE_BATCH = 1 << 4,  /* a line of POST /v1/events (with create or append) */
    /* the other control routes (pause, resume, force-cancel, retry-failed-tasks) validate as XL_WRITE_CANCEL */
} xl_write_kind_t;

#define XL_FIELD_MAX_STRING 4096   /* longest identifier-like string */
#define XL_FIELD_MAX_TEXT 65536    /* longest message / stack */
#define XL_FIELD_MAX_ENTRIES 256   /* most metrics, attributes, warnings, steps, files */
#define XL_FIELD_MAX_JSON 65536    /* largest input / output, as compact JSON text */
#define XL_FIELD_MAX_DEPENDS 64    /* most depends_on names of one step */

/**
 * @brief Check obj against the fields kind accepts and fill ev.
 * Strings in ev borrow from obj (keep obj alive); arrays are allocated in pool.
 * audit_id (for batch lines) goes to ev->audit_id; the type field to ev->type
 * (XL_EVENT_CREATED when kind has no type field).
 * @return the number of errors appended to errors (0: valid).
 */
size_t xl_validate_write(json_t *obj, int kind, xl_event_t *ev, json_t *errors, h2o_mem_pool_t *pool);

/**
 * @brief The fast path of json_loadb + xl_validate_write for the common shape
 * of a write: one flat JSON object whose members are strings without escapes,
 * integers, and metrics / attributes objects of those, every member a field
 * kind accepts with a valid value. ev is then filled exactly as the full path
 * would fill it. Anything else (escapes, null, arrays, nested values, any
 * error) is left to the full path, which reports it: nothing is reported here.
 * Strings in ev borrow from src (not NUL-terminated); arrays are allocated in pool.
 * @return 1 with ev filled, or 0: take the full path (ev undefined).
 */
int xl_validate_scan(const char *src, size_t len, int kind, xl_event_t *ev, h2o_mem_pool_t *pool);

/** @brief Append {"field": field, "reason": reason} to errors. */
void xl_validate_error(json_t *errors, const char *field, const char *reason);

#endif
