/*
 * Read endpoints (see read.h).
 */
#include "api/read.h"

#include <errno.h>
#include <inttypes.h>

#include "api/http.h"
#include "api/render.h"

void xl_read_execution(xl_api_t *api, h2o_req_t *req, int64_t audit_id)
{
    xl_state_t st;
    char err[256];
    int ret = xl_store_get_state(api->store, api->codec, audit_id, &st, err, sizeof(err));
    if (ret == -ENOENT) {
        xl_http_send_problem(req, 404, "not-found", "Execution not found", NULL, "no execution with audit ID %" PRId64,
                             audit_id);
        return;
    }
    if (ret != 0) {
        xl_http_send_problem(req, 500, "internal", "Cannot read the execution", NULL, "%s", err);
        return;
    }
    xl_http_send_json_obj(req, 200, xl_render_state(&st));
    xl_state_dispose(&st);
}

void xl_read_info(xl_api_t *api, h2o_req_t *req) { xl_http_send_json_obj(req, 200, json_incref(api->info)); }

void xl_read_healthz(xl_api_t *api, h2o_req_t *req)
{
    xl_http_send_json_obj(req, 200, json_pack("{s:s}", "status", "ok"));
}

void xl_read_readyz(xl_api_t *api, h2o_req_t *req)
{
    if (api->projector == NULL) {
        xl_http_send_json_obj(req, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    xl_projector_stats_t stats;
    xl_projector_get_stats(api->projector, &stats);
    const char *why = NULL;
    if (stats.failed)
        why = "the projector stopped on a fatal error (see the log)";
    else if (stats.lag < 0)
        why = "the projector has no partitions assigned yet";
    else if (stats.lag > api->ready_max_lag)
        why = "the projector is behind the log by more than readyz.max_lag events";
    json_t *body = json_pack("{s:s, s:I, s:I, s:I, s:b}", "status", why ? "not ready" : "ready", "applied",
                             (json_int_t)stats.applied, "lag", (json_int_t)stats.lag, "max_lag",
                             (json_int_t)api->ready_max_lag, "projector_failed", stats.failed);
    if (why != NULL) {
        json_object_set_new(body, "reason", json_string(why));
        xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
    }
    xl_http_send_json_obj(req, why ? 503 : 200, body);
}
