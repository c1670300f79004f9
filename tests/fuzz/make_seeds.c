/*
 * make_seeds: writes the binary seeds of the fuzz targets with the project's
 * own codec, so they are frames and bodies execlog really writes:
 *
 *   make_seeds DIR   DIR/event/seed-*.bin   single-object event frames (and
 *                                           one of the older writer schema)
 *                    DIR/state/seed-*.bin   state bodies
 *                    DIR/token/seed-*.txt   page tokens made with the key of
 *                                           fuzz_token.c
 *
 * The committed seeds in tests/fuzz/corpus/ came from it (see README.md);
 * run it again after a schema change. Test tool: never linked into the service.
 */
#include <avro.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "schemas/event.h"
#include "tests/fuzz/fuzz.h"

static xl_str_t S(const char *s)
{
    return (xl_str_t){(char *)s, strlen(s)};
}

static int write_seed(const char *dir, const char *sub, const char *name, const void *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || fwrite(p, 1, len, fp) != len || fclose(fp) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static xl_event_t minimal_event(void)
{
    return (xl_event_t){.event_id = S("e1"),
                        .audit_id = 1,
                        .root_audit_id = 1,
                        .flow_id = S("f"),
                        .type = XL_EVENT_CREATED,
                        .status = XL_STATUS_NONE,
                        .time_ms = 1700000000000LL,
                        .ingest_time_ms = 1700000000001LL};
}

static int events(xl_codec_t *codec, const char *dir)
{
    static xl_str_t warnings[2];
    static xl_metric_t metrics[3];
    static xl_attr_t attrs[2];
    warnings[0] = S("disk 91% full");
    warnings[1] = S("");
    metrics[0] = (xl_metric_t){S("rows"), 1000};
    metrics[1] = (xl_metric_t){S("errors"), -1};
    metrics[2] = (xl_metric_t){S("\xc3\xa9t\xc3\xa9"), INT64_MIN};
    attrs[0] = (xl_attr_t){S("host"), S("node-7")};
    attrs[1] = (xl_attr_t){S("nul"), {(char *)"a\0b", 3}};

    xl_event_t evs[8];
    const char *names[8] = {"seed-minimal.bin", "seed-full.bin",    "seed-task.bin",    "seed-error.bin",
                            "seed-empty.bin",   "seed-extreme.bin", "seed-metrics.bin", "seed-cancel.bin"};
    evs[0] = minimal_event();

    evs[1] = minimal_event(); /* every field */
    evs[1].type = XL_EVENT_FAILED;
    evs[1].status = XL_STATUS_FAILED;
    evs[1].parent_audit_id = 7;
    evs[1].parent_execution_id = 3;
    evs[1].retries = 2;
    evs[1].flow_name = S("Nightly \"load\"");
    evs[1].tenant_id = S("acme");
    evs[1].message_id = S("m-9");
    evs[1].trigger_type = S("schedule");
    evs[1].started_by = S("bob");
    evs[1].task = S("load");
    evs[1].message = S("two\nlines");
    evs[1].error = (xl_error_t){.present = 1, .class_ = S("IOError"), .message = S("gone"), .stack = S("at x\nat y")};
    evs[1].nwarnings = 2;
    evs[1].warnings = warnings;
    evs[1].nmetrics = 3;
    evs[1].metrics = metrics;
    evs[1].nattributes = 2;
    evs[1].attributes = attrs;
    static xl_str_t deps[1];
    static xl_step_t steps[2];
    static xl_file_metric_t files[1];
    deps[0] = S("extract");
    steps[0] = (xl_step_t){S("extract"), S("sql"), 0, NULL};
    steps[1] = (xl_step_t){S("load"), {NULL, 0}, 1, deps};
    files[0] = (xl_file_metric_t){S("in.csv"), 2, metrics};
    evs[1].input = S("{\"rows\":[1,2]}");
    evs[1].output = S("null");
    evs[1].log = S("line 1\nline 2");
    evs[1].nsteps = 2;
    evs[1].steps = steps;
    evs[1].code = S("select 1");
    evs[1].error_location = 3;
    evs[1].schedule_event_id = 77;
    evs[1].schedule_event_name = S("nightly");
    evs[1].nfile_metrics = 1;
    evs[1].file_metrics = files;
    evs[1].traceparent = S("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    evs[1].top_execution_id = 3;

    evs[2] = minimal_event();
    evs[2].type = XL_EVENT_TASK_STARTED;
    evs[2].task = S("extract");
    evs[2].status = XL_STATUS_RUNNING;

    evs[3] = minimal_event(); /* an error without stack */
    evs[3].type = XL_EVENT_FAILED;
    evs[3].error = (xl_error_t){.present = 1, .class_ = S(""), .message = S("m")};

    evs[4] = minimal_event(); /* empty strings */
    evs[4].event_id = S("");
    evs[4].flow_id = S("");
    evs[4].message = S("");
    evs[4].type = XL_EVENT_LOG;

    evs[5] = minimal_event(); /* extremes */
    evs[5].audit_id = INT64_MIN;
    evs[5].root_audit_id = INT64_MAX;
    evs[5].parent_audit_id = -1;
    evs[5].retries = INT32_MIN;
    evs[5].time_ms = INT64_MIN;
    evs[5].ingest_time_ms = INT64_MAX;
    evs[5].type = XL_EVENT__COUNT - 1;
    evs[5].status = XL_STATUS__COUNT - 1;

    evs[6] = minimal_event();
    evs[6].type = XL_EVENT_METRICS;
    evs[6].nmetrics = 3;
    evs[6].metrics = metrics;

    evs[7] = minimal_event();
    evs[7].type = XL_EVENT_CANCEL_REQUESTED;
    evs[7].status = XL_STATUS_CANCELLING;
    evs[7].started_by = S("\xe6\x97\xa5\xe6\x9c\xac");

    char err[256];
    xl_buf_t buf;
    xl_buf_init(&buf);
    int rc = 0;
    for (int i = 0; i < 8 && rc == 0; ++i) {
        xl_buf_reset(&buf);
        if ((rc = xl_event_encode(codec, &evs[i], &buf, err, sizeof(err))) != 0)
            fprintf(stderr, "make_seeds: event %s: %s\n", names[i], err);
        else
            rc = write_seed(dir, "event", names[i], buf.base, buf.len);
    }
    xl_buf_dispose(&buf);
    return rc;
}

/* A frame of the older writer schema, through avro-c (the codec only writes the current one). */
static int old_event(xl_codec_t *codec, const char *dir)
{
    const char *json = XL_FUZZ_OLD_EVENT_SCHEMA;
    avro_schema_t schema = NULL;
    avro_value_iface_t *cls = NULL;
    avro_value_t rec, f, child;
    unsigned char frame[512];
    uint64_t fp = 0;
    char err[256];

    if (xl_codec_add_event_schema(codec, json, strlen(json), &fp, err, sizeof(err)) != 0 ||
        avro_schema_from_json_length(json, strlen(json), &schema) != 0 ||
        (cls = avro_generic_class_from_schema(schema)) == NULL || avro_generic_value_new(cls, &rec) != 0) {
        fprintf(stderr, "make_seeds: old schema: %s %s\n", err, avro_strerror());
        return -1;
    }
    avro_value_get_by_name(&rec, "audit_id", &f, NULL);
    avro_value_set_long(&f, 77);
    avro_value_get_by_name(&rec, "event_id", &f, NULL);
    avro_value_set_string(&f, "old-1");
    avro_value_get_by_name(&rec, "legacy", &f, NULL);
    avro_value_set_string(&f, "ignored");
    avro_value_get_by_name(&rec, "root_audit_id", &f, NULL);
    avro_value_set_long(&f, 70);
    avro_value_get_by_name(&rec, "retries", &f, NULL);
    avro_value_set_int(&f, 3);
    avro_value_get_by_name(&rec, "flow_id", &f, NULL);
    avro_value_set_string(&f, "flow-old");
    avro_value_get_by_name(&rec, "type", &f, NULL);
    avro_value_set_enum(&f, 2);
    avro_value_get_by_name(&rec, "time", &f, NULL);
    avro_value_set_long(&f, 1600000000000LL);
    avro_value_get_by_name(&rec, "ingest_time", &f, NULL);
    avro_value_set_long(&f, 1600000000001LL);
    avro_value_get_by_name(&rec, "message", &f, NULL);
    avro_value_set_string(&f, "hello from v0");
    avro_value_get_by_name(&rec, "metrics", &f, NULL);
    avro_value_add(&f, "rows", &child, NULL, NULL);
    avro_value_set_int(&child, -5);
    frame[0] = 0xc3;
    frame[1] = 0x01;
    for (int i = 0; i < 8; ++i)
        frame[2 + i] = (unsigned char)(fp >> (8 * i));
    avro_writer_t w = avro_writer_memory((char *)frame + 10, sizeof(frame) - 10);
    int rc = avro_value_write(w, &rec);
    size_t len = 10 + (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(cls);
    avro_schema_decref(schema);
    if (rc != 0) {
        fprintf(stderr, "make_seeds: old frame: %s\n", avro_strerror());
        return -1;
    }
    return write_seed(dir, "event", "seed-old-writer.bin", frame, len);
}

static int states(xl_codec_t *codec, const char *dir)
{
    static xl_str_t warnings[1];
    static xl_metric_t metrics[2];
    static xl_attr_t attrs[1];
    static xl_task_t tasks[2];
    static xl_anomaly_t anomalies[2];
    warnings[0] = S("slow");
    metrics[0] = (xl_metric_t){S("a"), 1};
    metrics[1] = (xl_metric_t){S("b"), -2};
    attrs[0] = (xl_attr_t){S("k"), S("v")};
    tasks[0] = (xl_task_t){S("extract"), XL_STATUS_SUCCEEDED, 1600000000010LL, 1600000000020LL, 2, S("ok")};
    tasks[1] = (xl_task_t){S(""), XL_STATUS_RUNNING, 0, 0, 0, {NULL, 0}};
    static xl_task_run_t runs[2];
    runs[0] = (xl_task_run_t){1, XL_STATUS_FAILED, 1600000000010LL, 1600000000015LL,
                              {.present = 1, .class_ = S("E"), .message = S("m")}};
    runs[1] = (xl_task_run_t){2, XL_STATUS_SUCCEEDED, 1600000000016LL, 1600000000020LL, {0}};
    tasks[0].nruns = 2;
    tasks[0].runs = runs;
    tasks[0].input = S("{\"q\":1}");
    tasks[0].type = S("sql");
    anomalies[0] = (xl_anomaly_t){3, XL_EVENT_STARTED, XL_STATUS_SUCCEEDED};
    anomalies[1] = (xl_anomaly_t){UINT32_MAX, XL_EVENT_TASK_FAILED, XL_STATUS_CANCELLED};

    xl_state_t sts[3] = {{.audit_id = 1,
                          .root_audit_id = 1,
                          .flow_id = S("f"),
                          .status = XL_STATUS_QUEUED,
                          .created_ms = 1600000000000LL,
                          .updated_ms = 1600000000000LL},
                         {0},
                         {0}};
    sts[1] = sts[0]; /* everything */
    sts[1].parent_audit_id = 9;
    sts[1].parent_execution_id = 4;
    sts[1].retries = 1;
    sts[1].flow_name = S("F");
    sts[1].tenant_id = S("t");
    sts[1].message_id = S("m");
    sts[1].trigger_type = S("api");
    sts[1].started_by = S("carol");
    sts[1].status = XL_STATUS_FAILED;
    sts[1].started_ms = 1600000000001LL;
    sts[1].ended_ms = 1600000000002LL;
    sts[1].last_seq = 12;
    sts[1].anomalies = 2;
    sts[1].message = S("last");
    sts[1].error = (xl_error_t){.present = 1, .class_ = S("E"), .message = S("msg"), .stack = S("s")};
    sts[1].nwarnings = 1;
    sts[1].warnings = warnings;
    sts[1].warnings_total = 40; /* more than the state keeps */
    sts[1].nmetrics = 2;
    sts[1].metrics = metrics;
    sts[1].nattributes = 1;
    sts[1].attributes = attrs;
    sts[1].log_partition = 3;
    sts[1].log_offset = 123456;
    sts[1].ntasks = 2;
    sts[1].tasks = tasks;
    sts[1].nanomaly_list = 2;
    sts[1].anomaly_list = anomalies;
    static xl_file_metric_t sfiles[1];
    sfiles[0] = (xl_file_metric_t){S("out.csv"), 1, metrics};
    sts[1].top_execution_id = 4;
    sts[1].input = S("[1,\"a\"]");
    sts[1].output = S("{}");
    sts[1].code = S("select 2");
    sts[1].error_location = 1;
    sts[1].schedule_event_id = 5;
    sts[1].schedule_event_name = S("hourly");
    sts[1].nfile_metrics = 1;
    sts[1].file_metrics = sfiles;
    sts[1].control_type = XL_EVENT_PAUSE_REQUESTED;
    sts[1].control_seq = 11;
    sts[1].control_event_id = S("ctl");
    sts[2] = sts[0]; /* running, with one task */
    sts[2].status = XL_STATUS_RUNNING;
    sts[2].started_ms = 1600000000001LL;
    sts[2].ntasks = 1;
    sts[2].tasks = tasks + 1;
    sts[2].log_offset = INT64_MAX;

    const char *names[3] = {"seed-minimal.bin", "seed-full.bin", "seed-running.bin"};
    char err[256];
    xl_buf_t buf;
    xl_buf_init(&buf);
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; ++i) {
        xl_buf_reset(&buf);
        if ((rc = xl_state_encode(codec, &sts[i], &buf, err, sizeof(err))) != 0)
            fprintf(stderr, "make_seeds: state %s: %s\n", names[i], err);
        else
            rc = write_seed(dir, "state", names[i], buf.base, buf.len);
    }
    xl_buf_dispose(&buf);
    return rc;
}

static int tokens(const char *dir)
{
    unsigned char key[32], hash[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    char tok[XL_FUZZ_TOKEN_CHARS];
    for (int i = 0; i < 32; ++i)
        key[i] = (unsigned char)i; /* fuzz_token.c's key */
    const int64_t lasts[3][2] = {{1700000000000LL, 42}, {0, 0}, {INT64_MIN, INT64_MAX}};
    const char *names[3] = {"seed-valid.txt", "seed-zero.txt", "seed-extreme.txt"};
    for (int i = 0; i < 3; ++i) {
        xl_fuzz_token_encode(key, hash, lasts[i], tok);
        if (write_seed(dir, "token", names[i], tok, sizeof(tok)) != 0)
            return -1;
        hash[i] ^= 0xff;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    if (codec == NULL) {
        fprintf(stderr, "make_seeds: %s\n", err);
        return 1;
    }
    mkdir(argv[1], 0755);
    int rc = events(codec, argv[1]);
    if (rc == 0)
        rc = old_event(codec, argv[1]);
    if (rc == 0)
        rc = states(codec, argv[1]);
    if (rc == 0)
        rc = tokens(argv[1]);
    xl_codec_destroy(codec);
    return rc == 0 ? 0 : 1;
}
