/*
 * The access log: one logfmt line per request, written when the request is
 * done (for a held answer: when the stream or the wait ends), through
 * xl_log_access (api/log.h decides where it goes, log.access):
 *
 *   2026-11-22T05:21:28.123Z level=info mod=access id=9f86d081884c7d65 remote=127.0.0.1 method=GET
 *     route=/v1/executions/{id} path=/v1/executions/42 status=200 duration_ms=0.412 bytes=318 held=0
 *     role=reader tenant=acme token=eea4f573 traceparent=00-...-01
 *
 * Values that are not plain words are quoted ("..."), with \", \\ and \xNN
 * escapes, so one line is always one record. token is the first 8 hex digits
 * of the token's SHA-256 (its line in the tokens file), never the token.
 * A request refused by authentication or authorisation has auth="<why>".
 */
#ifndef XL_API_ACCESS_H
#define XL_API_ACCESS_H

#include <stddef.h>

#include "api/auth.h"

/** One finished request; every string borrowed for the call (NULL or empty: left out). */
typedef struct st_xl_access_rec_t {
    const char *id;     /* request ID (X-Request-Id) */
    const char *remote; /* peer address */
    const char *method;
    size_t method_len;
    const char *route; /* the route pattern, or "unmatched" */
    const char *path;  /* without the query */
    size_t path_len;
    int status;
    double seconds;
    size_t bytes; /* body bytes sent */
    int held;
    const xl_principal_t *who; /* NULL: not authenticated (a public route, or refused) */
    const char *auth_error;    /* why a 401/403 was answered; NULL */
    const char *traceparent;
    size_t traceparent_len;
} xl_access_rec_t;

/** @brief Format rec as logfmt into out (NUL-terminated, truncated to outlen). @return its length. */
size_t xl_access_format(const xl_access_rec_t *rec, char *out, size_t outlen);

/** @brief Format and write one access line (nothing when log.access is off). */
void xl_access_log(const xl_access_rec_t *rec);

/**
 * @brief A request ID for a request: the client's X-Request-Id when it is
 * 1..64 characters of [A-Za-z0-9._:/+=@-], else 16 fresh random hex digits.
 * out holds 65 bytes. @return 1 when the client's was taken, 0 when made.
 */
int xl_access_request_id(const char *given, size_t len, char out[65]);

#endif
