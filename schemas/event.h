/*
 * The execution event and the projected execution state as C values, and
 * their Avro codec (single-object encoding for events, plain Avro binary for
 * state).
 *
 * This is the contract with every consumer of the topic: the field list
 * mirrors schemas/execution_event.avsc and must never drift from it. The
 * codec never aborts on bad input: truncated, oversized or unknown frames are
 * reported through (err, errlen) and a negative return value.
 */
#ifndef XL_SCHEMAS_EVENT_H
#define XL_SCHEMAS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/base/bytes.h"
#include "schemas/buf.h"

/* Largest single-object frame the decoder accepts (bytes). */
#define XL_EVENT_MAX_FRAME (1024 * 1024)

/* Largest audit ID: JSON clients must keep it exact (2^53 - 1). */
#define XL_AUDIT_ID_MAX ((int64_t)9007199254740991LL)

/** Execution status. The order is the Avro enum's symbol order: append only. */
typedef enum en_xl_status_t {
    XL_STATUS_NONE = -1,
    XL_STATUS_QUEUED = 0,
    XL_STATUS_RUNNING,
    XL_STATUS_PAUSED,
    XL_STATUS_CANCELLING,
    XL_STATUS_SUCCEEDED,
    XL_STATUS_WARNING,
    XL_STATUS_FAILED,
    XL_STATUS_CANCELLED,
    XL_STATUS_WAITING, /* tasks only: planned, not started (or reset by a retry) */
    XL_STATUS_SKIPPED, /* tasks only: never ran, the execution ended first */
    XL_STATUS__COUNT
} xl_status_t;

/** Event type. The order is the Avro enum's symbol order: append only. */
typedef enum en_xl_event_type_t {
    XL_EVENT_CREATED = 0, /* execution queued (POST /v1/executions, retry) */
    XL_EVENT_STARTED,
    XL_EVENT_PROGRESS,
    XL_EVENT_PAUSED,
    XL_EVENT_RESUMED,
    XL_EVENT_WARNING,
    XL_EVENT_SUCCEEDED,
    XL_EVENT_FAILED,
    XL_EVENT_CANCEL_REQUESTED,
    XL_EVENT_CANCELLED,
    XL_EVENT_TASK_STARTED,
    XL_EVENT_TASK_PROGRESS,
    XL_EVENT_TASK_FINISHED,
    XL_EVENT_TASK_FAILED,
    XL_EVENT_METRICS,
    XL_EVENT_LOG,
    XL_EVENT_TASK_WAITING,
    XL_EVENT_TASK_SKIPPED,
    XL_EVENT_TASK_CANCELLED,
    XL_EVENT_PAUSE_REQUESTED, /* control requests (POST /v1/executions/{id}/<control>) */
    XL_EVENT_RESUME_REQUESTED,
    XL_EVENT_FORCE_CANCEL_REQUESTED,
    XL_EVENT_RETRY_REQUESTED, /* retry the failed tasks (`task`: only that one) */
    XL_EVENT__COUNT
} xl_event_type_t;

/**
 * Name <-> enum (names are the Avro symbols, lower case). The _name functions
 * return a static string, or NULL for a value out of range (XL_STATUS_NONE
 * included); the _parse functions compare exactly len bytes.
 */
const char *xl_status_name(int status);
int xl_status_parse(const char *name, size_t len); /* -1 if unknown */
const char *xl_event_type_name(int type);
int xl_event_type_parse(const char *name, size_t len); /* -1 if unknown */

typedef struct st_xl_metric_t {
    xl_str_t name;
    int64_t value;
} xl_metric_t;

typedef struct st_xl_attr_t {
    xl_str_t key;
    xl_str_t value;
} xl_attr_t;

typedef struct st_xl_error_t {
    int present; /* 0: the union is null */
    xl_str_t class_;
    xl_str_t message;
    xl_str_t stack; /* optional */
} xl_error_t;

/** One planned step (execlog.Step). */
typedef struct st_xl_step_t {
    xl_str_t name;
    xl_str_t type;
    size_t ndepends_on;
    xl_str_t *depends_on;
} xl_step_t;

/** Counters of one file (execlog.FileMetric). */
typedef struct st_xl_file_metric_t {
    xl_str_t name;
    size_t nmetrics;
    xl_metric_t *metrics;
} xl_file_metric_t;

/**
 * One state change of one execution (execlog.ExecutionEvent).
 * Integers that are optional in the schema use 0 for null (audit IDs are
 * positive). `status` is XL_STATUS_NONE for null.
 */
typedef struct st_xl_event_t {
    xl_str_t event_id;
    int64_t audit_id;
    int64_t parent_audit_id;     /* retry lineage: the attempt this one retries */
    int64_t root_audit_id;       /* first attempt of the lineage; Kafka key */
    int64_t parent_execution_id; /* call tree: the execution that started this one */
    int32_t retries;             /* attempts before this one */
    xl_str_t flow_id;
    xl_str_t flow_name;
    xl_str_t tenant_id;
    xl_str_t message_id;
    int type;   /* xl_event_type_t */
    int status; /* xl_status_t, or XL_STATUS_NONE */
    int64_t time_ms;
    int64_t ingest_time_ms;
    xl_str_t trigger_type;
    xl_str_t started_by;
    xl_str_t task;
    xl_str_t message;
    xl_error_t error;
    size_t nwarnings;
    xl_str_t *warnings;
    size_t nmetrics;
    xl_metric_t *metrics;
    size_t nattributes;
    xl_attr_t *attributes;
    /* schema version 2: */
    xl_str_t input;  /* JSON text, or null */
    xl_str_t output; /* JSON text, or null */
    xl_str_t log;    /* log lines; never the status message */
    size_t nsteps;
    xl_step_t *steps; /* plan given on create */
    xl_str_t code;
    int64_t error_location;    /* 0 = null */
    int64_t schedule_event_id; /* 0 = null */
    xl_str_t schedule_event_name;
    size_t nfile_metrics;
    xl_file_metric_t *file_metrics;
    xl_str_t traceparent;
    int64_t top_execution_id; /* call tree root, on create; 0 = null */
} xl_event_t;

/** Most anomalies a state lists (the oldest drop out; `anomalies` keeps the total). */
#define XL_STATE_MAX_ANOMALIES 32
/** Most tasks a state tracks; events of further task names are archived but not tracked. */
#define XL_STATE_MAX_TASKS 1024
/** Most warnings a state keeps: the last ones; `warnings_total` counts them all, the history lists them all. */
#define XL_STATE_MAX_WARNINGS 32
/** Most distinct metric names, and attribute keys, one execution may have (ingest refuses more: 422). */
#define XL_STATE_MAX_METRICS 256
#define XL_STATE_MAX_ATTRIBUTES 256
/** Most runs a task keeps (the last ones; `attempts` counts them all). */
#define XL_STATE_MAX_RUNS 16
/** Most files a state tracks in file_metrics. */
#define XL_STATE_MAX_FILES 256
/** Largest encoded state record (ingest refuses a write that would make it larger: 422). */
#define XL_STATE_MAX_BYTES (1024 * 1024)

/** One attempt of a task (execlog.TaskRun). */
typedef struct st_xl_task_run_t {
    uint32_t attempt; /* from 1 */
    int status;       /* running, succeeded, failed, cancelled */
    int64_t started_ms;
    int64_t ended_ms; /* 0 while running */
    xl_error_t error;
} xl_task_run_t;

/** One task (step) of an execution, as its task_* events left it (execlog.Task). */
typedef struct st_xl_task_t {
    xl_str_t name;      /* the events' `task` ("" when they had none) */
    int status;         /* waiting, running, succeeded, failed, skipped, cancelled */
    int64_t started_ms; /* first task_started, 0 = never */
    int64_t ended_ms;   /* last end, 0 = not ended (a restart clears it) */
    uint32_t attempts;  /* task_started events seen */
    xl_str_t message;   /* last message of a task event */
    xl_str_t type;      /* from the step plan */
    size_t ndepends_on;
    xl_str_t *depends_on;
    xl_error_t error; /* of the last run */
    xl_str_t input;
    xl_str_t output;
    size_t nmetrics;
    xl_metric_t *metrics; /* sorted by name */
    size_t nattributes;
    xl_attr_t *attributes; /* sorted by key */
    size_t nruns;
    xl_task_run_t *runs; /* the last XL_STATE_MAX_RUNS, oldest first */
} xl_task_t;

/** An event that broke the state machine (execlog.Anomaly). */
typedef struct st_xl_anomaly_t {
    uint32_t seq; /* archive seq of the offending event */
    int type;     /* its xl_event_type_t */
    int status;   /* the execution's status when it arrived */
} xl_anomaly_t;

/**
 * Current state of one execution, as the projector folds it
 * (execlog.ExecutionState). Times are ms since the epoch, 0 = not yet.
 */
typedef struct st_xl_state_t {
    int64_t audit_id;
    int64_t parent_audit_id;
    int64_t root_audit_id;
    int64_t parent_execution_id;
    int32_t retries;
    xl_str_t flow_id;
    xl_str_t flow_name;
    xl_str_t tenant_id;
    xl_str_t message_id;
    xl_str_t trigger_type;
    xl_str_t started_by;
    int status; /* xl_status_t */
    int64_t created_ms;
    int64_t started_ms;
    int64_t ended_ms;
    int64_t updated_ms;
    uint32_t last_seq;  /* seq of the last archived event, from 1 */
    uint32_t anomalies; /* events that broke the state machine */
    xl_str_t message;   /* last message */
    xl_error_t error;   /* last error */
    size_t nwarnings;
    xl_str_t *warnings; /* the last XL_STATE_MAX_WARNINGS, oldest first */
    size_t nmetrics;
    xl_metric_t *metrics; /* sorted by name (deterministic bytes), at most XL_STATE_MAX_METRICS */
    size_t nattributes;
    xl_attr_t *attributes; /* sorted by key (deterministic bytes), at most XL_STATE_MAX_ATTRIBUTES */
    int32_t log_partition; /* Kafka position of the last applied event */
    int64_t log_offset;
    size_t ntasks;
    xl_task_t *tasks; /* sorted by name (deterministic bytes), at most XL_STATE_MAX_TASKS */
    size_t nanomaly_list;
    xl_anomaly_t *anomaly_list; /* the last XL_STATE_MAX_ANOMALIES, oldest first */
    uint32_t warnings_total;    /* warnings reported so far, `warnings` keeps the last ones */
    /* schema version 2: */
    int64_t top_execution_id; /* root of the call tree (itself without a parent_execution_id) */
    xl_str_t input;           /* JSON text */
    xl_str_t output;          /* JSON text */
    xl_str_t code;
    int64_t error_location;
    int64_t schedule_event_id;
    xl_str_t schedule_event_name;
    size_t nfile_metrics;
    xl_file_metric_t *file_metrics; /* sorted by name, at most XL_STATE_MAX_FILES */
    int32_t control_type;           /* last accepted control request (xl_event_type_t), 0 none */
    uint32_t control_seq;           /* its archive seq */
    xl_str_t control_event_id;      /* its event_id */
} xl_state_t;

/** An Avro codec bound to one thread (avro-c values are not thread-safe). */
typedef struct st_xl_codec_t xl_codec_t;

/**
 * @brief Parse the embedded schemas and prepare reusable Avro values.
 * @return a codec (free with xl_codec_destroy), or NULL with err filled.
 */
xl_codec_t *xl_codec_create(char *err, size_t errlen);
/** @brief Free a codec (NULL is fine). Values decoded with it stay valid. */
void xl_codec_destroy(xl_codec_t *codec);

/**
 * @brief Append the single-object encoding of ev (C3 01, fingerprint, body).
 * ev is borrowed for the call only.
 * @return 0, or a negative errno with err filled (out is then unchanged):
 * -EINVAL for a value the schema cannot hold (a required string that is null,
 * a type or status out of range, a map key that is null, repeated or holds a
 * NUL), -EMSGSIZE for a frame above XL_EVENT_MAX_FRAME, -ENOMEM.
 */
int xl_event_encode(xl_codec_t *codec, const xl_event_t *ev, xl_buf_t *out, char *err, size_t errlen);

/**
 * @brief Decode a single-object frame written with any known schema
 * fingerprint. On success ev owns its memory: release with xl_event_dispose.
 * @return 0; -EBADMSG for a bad magic, truncated or trailing bytes; -ENOENT
 * for an unknown fingerprint; -EMSGSIZE above XL_EVENT_MAX_FRAME. ev is
 * zeroed on failure.
 */
int xl_event_decode(xl_codec_t *codec, const void *data, size_t len, xl_event_t *ev, char *err, size_t errlen);
/** @brief Free what a decoded event owns and zero it (NULL is fine; not for borrowed values). */
void xl_event_dispose(xl_event_t *ev);

/**
 * @brief Teach the codec another writer schema of execlog.ExecutionEvent (an
 * older version, say), so xl_event_decode accepts frames that carry its
 * fingerprint and resolves them into the current xl_event_t. Fields the
 * writer lacks get their defaults; it must not lack a field without one.
 * json is borrowed for the call. *fp (may be NULL) receives its fingerprint.
 * @return 0 (also when the schema is already known), or -EINVAL with err
 * filled when it is not a schema the current one can read.
 */
int xl_codec_add_event_schema(xl_codec_t *codec, const char *json, size_t len, uint64_t *fp, char *err, size_t errlen);

/**
 * @brief Append the Avro binary body of st (no framing). st is borrowed.
 * @return 0, or -EINVAL / -ENOMEM as xl_event_encode (status must not be
 * XL_STATUS_NONE); out is unchanged on failure.
 */
int xl_state_encode(xl_codec_t *codec, const xl_state_t *st, xl_buf_t *out, char *err, size_t errlen);
/**
 * @brief The size xl_state_encode would give st's body, computed from the
 * field table without encoding (a bound check that need not build the bytes).
 * Meaningful for a state xl_state_encode accepts. st is borrowed.
 */
size_t xl_state_encoded_size(const xl_state_t *st);
/**
 * @brief Decode a state body; st owns its memory, release with xl_state_dispose.
 * @return 0, or -EBADMSG (malformed, truncated, trailing bytes, value out of
 * range) / -ENOMEM with err filled; st is zeroed on failure.
 */
int xl_state_decode(xl_codec_t *codec, const void *data, size_t len, xl_state_t *st, char *err, size_t errlen);
/** @brief Free what a decoded state owns and zero it (NULL is fine). */
void xl_state_dispose(xl_state_t *st);

/**
 * @brief Deep copy helpers for values that own their memory (malloc).
 * xl_str_set replaces dst with a copy of base[0..len) (NUL kept after it, not
 * counted), freeing the old one; base NULL makes dst null. Returns 0 or
 * -ENOMEM (dst unchanged). xl_str_clear frees and nulls.
 */
int xl_str_set(xl_str_t *dst, const char *base, size_t len); /* base NULL -> null */
void xl_str_clear(xl_str_t *s);

/** The schemas as JSON text, and their CRC-64-AVRO fingerprints. */
const char *xl_event_schema_json(void);
uint64_t xl_event_schema_fingerprint(void);
const char *xl_state_schema_json(void);
uint64_t xl_state_schema_fingerprint(void);

#endif
