/*
 * The Cloudify Manager executions API (/api/v3/executions and
 * /api/v3.1/executions, the version the Cloudify REST client defaults to)
 * over the execlog projections and write path. The mapping, documented in
 * the README ("Switching from Cloudify"): deployment_id is flow_id,
 * workflow_id is flow_name, the execution id is the audit ID as a string,
 * tenant_name is tenant_id (the Tenant header scopes reads and stamps
 * starts), created_by is started_by; parameters and blueprint_id ride in the
 * attributes "parameters" (JSON text) and "blueprint_id".
 */
#ifndef XL_API_COMPAT_CLOUDIFY_H
#define XL_API_COMPAT_CLOUDIFY_H

#include "api/read.h"

/** @brief GET /api/v3/executions: filters, _include, _offset/_size/_sort, metadata.pagination. */
void xl_cloudify_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who);
/** @brief GET /api/v3/executions/{id}: an Execution resource. */
void xl_cloudify_get(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id);
/** @brief POST /api/v3/executions: start (a create; 201 with the Execution). */
void xl_cloudify_start(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who);
/** @brief POST /api/v3/executions/{id}: action cancel, force-cancel, kill or resume. */
void xl_cloudify_action(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id);
/** @brief PATCH /api/v3/executions/{id}: a new status (and error). */
void xl_cloudify_update(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id);

#endif
