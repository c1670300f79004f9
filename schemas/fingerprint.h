/*
 * Avro schema fingerprints: the Parsing Canonical Form of a schema (Avro 1.11
 * specification, "Parsing Canonical Form for Schemas") and its CRC-64-AVRO
 * (Rabin) fingerprint, the 8 bytes that follow C3 01 in a single-object frame.
 *
 * The canonical form is computed from the JSON text alone (with jansson), so
 * it does not depend on what avro-c keeps of a schema; logical types and
 * every other attribute outside the spec's list are stripped.
 */
#ifndef XL_SCHEMAS_FINGERPRINT_H
#define XL_SCHEMAS_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/buf.h"

/* CRC-64-AVRO of the empty string (the spec's EMPTY constant). */
#define XL_CRC64_AVRO_EMPTY UINT64_C(0xc15d213aa4d7a795)

/**
 * @brief Append the Parsing Canonical Form of the schema in json[0..len) to
 * out (no NUL counted in out->len; a NUL is kept after the text). json is
 * borrowed for the call.
 * @return 0; -EINVAL if the text is not JSON or not a valid schema (unknown
 * type name, bad name, missing attribute), with err filled; -ENOMEM. out is
 * unchanged on failure.
 */
int xl_schema_canonical_form(const char *json, size_t len, xl_buf_t *out, char *err, size_t errlen);

/**
 * @brief CRC-64-AVRO of p[0..len): the 64-bit Rabin fingerprint the Avro
 * specification defines (xl_crc64_avro(NULL, 0) == XL_CRC64_AVRO_EMPTY).
 * Thread-safe.
 */
uint64_t xl_crc64_avro(const void *p, size_t len);

/**
 * @brief Continue a CRC-64-AVRO: xl_crc64_avro_update(xl_crc64_avro(a), b)
 * equals the fingerprint of a followed by b. Start from XL_CRC64_AVRO_EMPTY.
 */
uint64_t xl_crc64_avro_update(uint64_t fp, const void *p, size_t len);

/**
 * @brief CRC-64-AVRO of the Parsing Canonical Form of a schema.
 * @return 0 with *fp set, or a negative errno as xl_schema_canonical_form.
 */
int xl_schema_fingerprint(const char *json, size_t len, uint64_t *fp, char *err, size_t errlen);

#endif
