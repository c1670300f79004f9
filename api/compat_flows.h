/*
 * GET /v1/flows: every flow with its counts and latest run, paged, in the
 * shape of GET /v1/flows/{flow_id} plus the members of the Flows product's
 * FlowSummary (id, name, latest_run, steps_count, steps with depends_on,
 * type and is_skipped from the latest run's tasks).
 */
#ifndef XL_API_COMPAT_FLOWS_H
#define XL_API_COMPAT_FLOWS_H

#include "api/read.h"

/** @brief GET /v1/flows (?tenant_id=, limit=, page_token=). */
void xl_flows_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who);

#endif
