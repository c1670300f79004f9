/*
 * The ETLWorks "get flow status" API: GET /rest/v1/executions/{flowId} and
 * its legacy path /plugins/dashboard/rest/v1/flows/{flowId}, with the 23
 * documented keys in their documented types (camelCase; null when unknown).
 */
#ifndef XL_API_COMPAT_ETLWORKS_H
#define XL_API_COMPAT_ETLWORKS_H

#include <jansson.h>

#include "api/read.h"

/** @brief The ETLWorks "get flow status" object of an execution (a new reference). Pure. */
json_t *xl_render_etlworks(const xl_state_t *st);

/**
 * @brief GET /rest/v1/executions/{flow_id}: with ?auditId= that execution
 * (of that flow), with ?messageId= the flow's newest execution for that
 * message, else (or when the value is empty) the flow's latest run.
 */
void xl_read_etlworks(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t flow_id);

#endif
