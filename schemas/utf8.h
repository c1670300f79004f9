/*
 * UTF-8 validity, the one place that decides it. Every string of the event
 * contract and every string that reaches a JSON answer must be valid UTF-8
 * (RFC 3629: shortest form, no surrogates, at most U+10FFFF). Callers either
 * reject invalid text (the codec, the projector) or repair it for display
 * (problem documents that echo a path, a parameter or a header).
 * Nothing here allocates.
 */
#ifndef XL_SCHEMAS_UTF8_H
#define XL_SCHEMAS_UTF8_H

#include <stddef.h>

/** The bytes one invalid byte is replaced with: U+FFFD REPLACEMENT CHARACTER. */
#define XL_UTF8_REPLACEMENT "\xEF\xBF\xBD"

/**
 * @brief Length of the well-formed UTF-8 sequence at the start of (s, n).
 * @return 1 to 4, or 0 when the first byte does not start a valid sequence
 * (n == 0 included).
 */
size_t xl_utf8_seq(const char *s, size_t n);

/** @brief @return 1 if every byte of (s, n) belongs to a well-formed sequence, else 0. */
int xl_utf8_valid(const char *s, size_t n);

/**
 * @brief Copy (s, n) to out, replacing each byte that starts no valid
 * sequence with U+FFFD. out must have room for 3 * n bytes (it is not
 * NUL-terminated). @return the bytes written.
 */
size_t xl_utf8_repair(const char *s, size_t n, char *out);

#endif
