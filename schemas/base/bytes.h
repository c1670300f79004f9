/*
 * Byte strings that travel as (pointer, length), never as C strings: the
 * fields of a decoded event, a tenant, an identifier. Nothing here owns or
 * frees memory; who owns base is said where a string is handed over.
 */
#ifndef XL_BASE_BYTES_H
#define XL_BASE_BYTES_H

#include <stddef.h>

/** A string field: base == NULL means "null" (absent); len excludes any NUL. */
typedef struct st_xl_str_t {
    char *base;
    size_t len;
} xl_str_t;

#endif
