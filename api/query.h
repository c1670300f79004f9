/*
 * What every read handler shares, whichever module it lives in (read.c,
 * list.c, stream.c): integer and boolean query parameters, loading an
 * execution the caller may see, and the counters of the held reads. It knows
 * no server context (xl_api_t): handlers pass what they read from, so that
 * read.c and stream.c need not include each other. Loop thread only.
 */
#ifndef XL_API_QUERY_H
#define XL_API_QUERY_H

#include <h2o.h>
#include <stdint.h>

#include "api/auth.h"
#include "projector/store.h"
#include "schemas/event.h"

/** Counters of the held reads: stream.c keeps them where the server says, /metrics shows them. */
typedef struct st_xl_stream_stats_t {
    size_t streams;       /* open SSE streams */
    size_t polls;         /* long polls waiting */
    uint64_t events_sent; /* events sent on SSE streams */
} xl_stream_stats_t;

/**
 * @brief Parse an integer query parameter in [min, max]; absent gives def.
 * Answers 400 itself on a bad value. @return 0, or -1 (answered).
 */
int xl_query_int_paramOrReply(h2o_req_t *req, const char *name, int64_t min, int64_t max, int64_t def, int64_t *out);
/** @brief Parse a boolean query parameter (true/false/1/0); absent gives 0. @return 0 or -1 (answered 400). */
int xl_query_bool_paramOrReply(h2o_req_t *req, const char *name, int *out);

/** @brief Answer 404 not-found for an execution (missing, or of a tenant the caller may not see). */
void xl_query_send_not_found(h2o_req_t *req, int64_t audit_id);

/**
 * @brief Load an execution the caller may see; answers 404 (also for
 * another tenant's) or 500 itself. @return 0 (st to dispose) or -1 (answered).
 */
int xl_query_stateOrReply(xl_store_t *store, xl_codec_t *codec, h2o_req_t *req, const xl_principal_t *who,
                          int64_t audit_id, xl_state_t *st);

#endif
