/*
 * JSON rendering (see render.h). Field names are the API's contract
 * (snake_case, documented in the README); absent values render as null
 * rather than disappearing, so clients can rely on every key being there.
 */
#include "api/render.h"

json_t *xl_render_str(const xl_str_t *s) { return s->base != NULL ? json_stringn(s->base, s->len) : json_null(); }

static json_t *opt_int(int64_t v) { return v != 0 ? json_integer(v) : json_null(); }

static json_t *render_error(const xl_error_t *e)
{
    if (!e->present)
        return json_null();
    return json_pack("{s:o, s:o, s:o}", "class", xl_render_str(&e->class_), "message", xl_render_str(&e->message),
                     "stack", xl_render_str(&e->stack));
}

json_t *xl_render_state(const xl_state_t *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "audit_id", json_integer(st->audit_id));
    json_object_set_new(o, "parent_audit_id", opt_int(st->parent_audit_id));
    json_object_set_new(o, "root_audit_id", json_integer(st->root_audit_id));
    json_object_set_new(o, "parent_execution_id", opt_int(st->parent_execution_id));
    json_object_set_new(o, "retries", json_integer(st->retries));
    json_object_set_new(o, "flow_id", xl_render_str(&st->flow_id));
    json_object_set_new(o, "flow_name", xl_render_str(&st->flow_name));
    json_object_set_new(o, "tenant_id", xl_render_str(&st->tenant_id));
    json_object_set_new(o, "message_id", xl_render_str(&st->message_id));
    json_object_set_new(o, "status", json_string(xl_status_name(st->status)));
    json_object_set_new(o, "trigger_type", xl_render_str(&st->trigger_type));
    json_object_set_new(o, "started_by", xl_render_str(&st->started_by));
    json_object_set_new(o, "created", opt_int(st->created_ms));
    json_object_set_new(o, "started", opt_int(st->started_ms));
    json_object_set_new(o, "ended", opt_int(st->ended_ms));
    int64_t from = st->started_ms ? st->started_ms : st->created_ms;
    json_object_set_new(o, "duration_ms", st->ended_ms && from ? json_integer(st->ended_ms - from) : json_null());
    json_object_set_new(o, "updated", opt_int(st->updated_ms));
    json_object_set_new(o, "message", xl_render_str(&st->message));
    json_object_set_new(o, "error", render_error(&st->error));
    json_t *warnings = json_array();
    for (size_t i = 0; i < st->nwarnings; ++i)
        json_array_append_new(warnings, xl_render_str(&st->warnings[i]));
    json_object_set_new(o, "warnings", warnings);
    json_t *metrics = json_object();
    for (size_t i = 0; i < st->nmetrics; ++i)
        json_object_setn_new(metrics, st->metrics[i].name.base, st->metrics[i].name.len,
                             json_integer(st->metrics[i].value));
    json_object_set_new(o, "metrics", metrics);
    json_t *attributes = json_object();
    for (size_t i = 0; i < st->nattributes; ++i)
        json_object_setn_new(attributes, st->attributes[i].key.base, st->attributes[i].key.len,
                             xl_render_str(&st->attributes[i].value));
    json_object_set_new(o, "attributes", attributes);
    json_object_set_new(o, "events", json_integer(st->last_seq));
    json_object_set_new(o, "anomalies", json_integer(st->anomalies));
    json_object_set_new(o, "position",
                        json_pack("{s:i, s:I}", "partition", (int)st->log_partition, "offset",
                                  (json_int_t)st->log_offset));
    return o;
}
