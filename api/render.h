/*
 * JSON rendering of projected values for the read API. Pure functions: no
 * I/O, no request, so lists and single lookups render alike.
 */
#ifndef XL_API_RENDER_H
#define XL_API_RENDER_H

#include <jansson.h>

#include "schemas/event.h"

/** @brief The execution's current state as the API shows it (new reference). */
json_t *xl_render_state(const xl_state_t *st);

/** @brief A string field as JSON: null when absent. */
json_t *xl_render_str(const xl_str_t *s);

#endif
