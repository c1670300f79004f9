/*
 * What the read handlers share (see query.h): integer and boolean query
 * parameters, and loading an execution the caller may see. Each helper that
 * fails has already sent the 400, 404 or 500 (...OrReply).
 */
#include "api/query.h"

#include <errno.h>
#include <inttypes.h>

#include "ingest/http.h"

int xl_query_int_paramOrReply(h2o_req_t *req, const char *name, int64_t min, int64_t max, int64_t def, int64_t *out)
{
    h2o_iovec_t v;
    *out = def;
    if (!xl_http_query_param(req, name, &v))
        return 0;
    /* every value of [min, max] is accepted, the bounds included: digits are
     * summed as a magnitude that stops growing past INT64_MAX */
    uint64_t mag = 0;
    int neg = v.len > 0 && v.base[0] == '-';
    size_t i = neg ? 1 : 0;
    int ok = v.len > i && v.len - i <= 19;
    for (; ok && i < v.len; ++i) {
        if (v.base[i] < '0' || v.base[i] > '9' || mag > (uint64_t)INT64_MAX / 10)
            ok = 0;
        else
            mag = mag * 10 + (uint64_t)(v.base[i] - '0');
    }
    ok = ok && mag <= (uint64_t)INT64_MAX;
    int64_t x = neg ? -(int64_t)mag : (int64_t)mag;
    if (!ok || x < min || x > max) {
        xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                             "%s must be an integer in [%" PRId64 ", %" PRId64 "]", name, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

int xl_query_bool_paramOrReply(h2o_req_t *req, const char *name, int *out)
{
    h2o_iovec_t v;
    *out = 0;
    if (!xl_http_query_param(req, name, &v))
        return 0;
    if (h2o_memis(v.base, v.len, H2O_STRLIT("true")) || h2o_memis(v.base, v.len, H2O_STRLIT("1")) || v.len == 0) {
        *out = 1;
        return 0;
    }
    if (h2o_memis(v.base, v.len, H2O_STRLIT("false")) || h2o_memis(v.base, v.len, H2O_STRLIT("0")))
        return 0;
    xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL, "%s must be true or false",
                         name);
    return -1;
}

void xl_query_send_not_found(h2o_req_t *req, int64_t audit_id)
{
    xl_http_send_problem(req, 404, "not-found", "Execution not found", NULL, "no execution with audit ID %" PRId64,
                         audit_id);
}

int xl_query_stateOrReply(xl_store_t *store, xl_codec_t *codec, h2o_req_t *req, const xl_principal_t *who,
                          int64_t audit_id, xl_state_t *st)
{
    char err[256];
    int ret = xl_store_get_state(store, codec, audit_id, st, err, sizeof(err));
    if (ret == -ENOENT) {
        xl_query_send_not_found(req, audit_id);
        return -1;
    }
    if (ret != 0) {
        xl_http_send_problem(req, 500, "internal", "Cannot read the execution", NULL, "%s", err);
        return -1;
    }
    if (!xl_principal_sees(who, &st->tenant_id)) { /* exactly like a missing one: existence is not leaked */
        xl_state_dispose(st);
        xl_query_send_not_found(req, audit_id);
        return -1;
    }
    return 0;
}
