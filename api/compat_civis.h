/*
 * The Civis Platform workflow executions API (/workflows/{id}/executions...)
 * over the execlog projections and write path. The mapping, documented in the
 * README ("Switching from Civis"): the workflow ID is flow_id, the execution
 * ID is the audit ID, each task is a task of the execution with its runs (one
 * per attempt), user is started_by, input and included_tasks ride in the
 * attributes "input" and "included_tasks" (JSON text); mistral_state_info is
 * the execution's last message.
 */
#ifndef XL_API_COMPAT_CIVIS_H
#define XL_API_COMPAT_CIVIS_H

#include "api/read.h"

/** @brief GET /workflows/{id}/executions: limit, page_num, order, order_dir; X-Pagination-* headers. */
void xl_civis_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow);
/** @brief GET /workflows/{id}/executions/{execution_id} */
void xl_civis_get(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow, int64_t audit_id);
/** @brief GET /workflows/{id}/executions/{execution_id}/tasks/{task_name} */
void xl_civis_task(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow, int64_t audit_id,
                   h2o_iovec_t task);
/** @brief POST /workflows/{id}/executions: start (target_task, input, included_tasks). */
void xl_civis_start(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow);
/** @brief POST /workflows/{id}/executions/{execution_id}/{cancel|resume|retry} (verb in action). */
void xl_civis_control(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who, h2o_iovec_t workflow,
                      int64_t audit_id, const char *action);

#endif
