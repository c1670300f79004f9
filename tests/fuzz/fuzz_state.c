/*
 * libFuzzer target: xl_state_decode (schemas/event.h), the projected
 * execution state as RocksDB holds it (plain Avro binary, no framing).
 *
 * Properties, beyond "no crash, no leak, no UB":
 *  - a refused body gets -EBADMSG (or -ENOMEM), a reason, and a zeroed state;
 *  - an accepted body decodes into a value the schema can hold (statuses and
 *    types in range, required strings present, keys without NUL, every string
 *    NUL-terminated after its length);
 *  - round trip: it re-encodes, the re-encoding decodes to the same state and
 *    re-encodes to the same bytes; the body is never shorter than its
 *    canonical re-encoding, and one of the same length is the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "schemas/event.h"
#include "tests/fuzz/fuzz.h"

static xl_codec_t *codec;

/* Destroyed at exit: avro-c's resolvers hold memory LeakSanitizer cannot see
 * reachable from a live codec, and would report at exit otherwise. */
static void codec_destroy(void)
{
    xl_codec_destroy(codec);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if ((codec = xl_codec_create(err, sizeof(err))) == NULL) {
        fprintf(stderr, "fuzz_state: %s\n", err);
        abort();
    }
    atexit(codec_destroy);
    return 0;
}

static void check_str(const char *field, const xl_str_t *s, int required)
{
    XL_FUZZ_CHECK(!required || s->base != NULL, "%s is required but null", field);
    XL_FUZZ_CHECK(s->base != NULL || s->len == 0, "%s is null with length %zu", field, s->len);
    XL_FUZZ_CHECK(s->base == NULL || s->base[s->len] == '\0', "%s is not NUL-terminated after its length", field);
}

static int status_ok(int status)
{
    return status >= 0 && status < XL_STATUS__COUNT;
}

static void check_state(const xl_state_t *st)
{
    check_str("flow_id", &st->flow_id, 1);
    check_str("flow_name", &st->flow_name, 0);
    check_str("tenant_id", &st->tenant_id, 0);
    check_str("message_id", &st->message_id, 0);
    check_str("trigger_type", &st->trigger_type, 0);
    check_str("started_by", &st->started_by, 0);
    check_str("message", &st->message, 0);
    XL_FUZZ_CHECK(status_ok(st->status), "status %d", st->status);
    if (st->error.present) {
        check_str("error.class", &st->error.class_, 1);
        check_str("error.message", &st->error.message, 1);
        check_str("error.stack", &st->error.stack, 0);
    }
    XL_FUZZ_CHECK(st->nwarnings == 0 || st->warnings != NULL, "warnings");
    XL_FUZZ_CHECK(st->nmetrics == 0 || st->metrics != NULL, "metrics");
    XL_FUZZ_CHECK(st->nattributes == 0 || st->attributes != NULL, "attributes");
    XL_FUZZ_CHECK(st->ntasks == 0 || st->tasks != NULL, "tasks");
    XL_FUZZ_CHECK(st->nanomaly_list == 0 || st->anomaly_list != NULL, "anomaly_list");
    for (size_t i = 0; i < st->nwarnings; ++i)
        check_str("warnings[]", &st->warnings[i], 1);
    for (size_t i = 0; i < st->nmetrics; ++i) {
        check_str("metrics[]", &st->metrics[i].name, 1);
        XL_FUZZ_CHECK(memchr(st->metrics[i].name.base, '\0', st->metrics[i].name.len) == NULL, "NUL in a metric");
    }
    for (size_t i = 0; i < st->nattributes; ++i) {
        check_str("attributes[]", &st->attributes[i].key, 1);
        check_str("attributes[].value", &st->attributes[i].value, 1);
        XL_FUZZ_CHECK(memchr(st->attributes[i].key.base, '\0', st->attributes[i].key.len) == NULL, "NUL in a key");
    }
    for (size_t i = 0; i < st->ntasks; ++i) {
        check_str("tasks[].name", &st->tasks[i].name, 1);
        check_str("tasks[].message", &st->tasks[i].message, 0);
        XL_FUZZ_CHECK(status_ok(st->tasks[i].status), "tasks[%zu].status %d", i, st->tasks[i].status);
    }
    for (size_t i = 0; i < st->nanomaly_list; ++i) {
        const xl_anomaly_t *a = &st->anomaly_list[i];
        XL_FUZZ_CHECK(a->type >= 0 && a->type < XL_EVENT__COUNT, "anomaly_list[%zu].type %d", i, a->type);
        XL_FUZZ_CHECK(status_ok(a->status), "anomaly_list[%zu].status %d", i, a->status);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    xl_state_t st, again;
    xl_buf_t enc, enc2;

    int rc = xl_state_decode(codec, data, size, &st, err, sizeof(err));
    if (rc != 0) {
        XL_FUZZ_CHECK(rc == -EBADMSG || rc == -ENOMEM, "decode returned %d (%s)", rc, err);
        XL_FUZZ_CHECK(err[0] != '\0', "a refused body says why");
        XL_FUZZ_CHECK(xl_fuzz_all_zero(&st, sizeof(st)), "a refused body leaves the state zeroed");
        return 0;
    }
    check_state(&st);

    xl_buf_init(&enc);
    xl_buf_init(&enc2);
    rc = xl_state_encode(codec, &st, &enc, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0, "a decoded state re-encodes: %d %s", rc, err);
    XL_FUZZ_CHECK(enc.len <= size, "canonical re-encoding (%zu bytes) longer than the body (%zu)", enc.len, size);
    XL_FUZZ_CHECK(enc.len != size || memcmp(enc.base, data, size) == 0,
                  "two encodings of the same length for one state");

    rc = xl_state_decode(codec, enc.base, enc.len, &again, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0, "the re-encoding decodes: %d %s", rc, err);
    const char *diff = xl_fuzz_state_diff(&st, &again);
    XL_FUZZ_CHECK(diff == NULL, "round trip changed %s", diff);
    rc = xl_state_encode(codec, &again, &enc2, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0 && enc2.len == enc.len && memcmp(enc.base, enc2.base, enc.len) == 0,
                  "encode(decode(encode(st))) is not encode(st)");

    xl_state_dispose(&again);
    xl_state_dispose(&st);
    XL_FUZZ_CHECK(xl_fuzz_all_zero(&st, sizeof(st)), "dispose zeroes the state");
    xl_buf_dispose(&enc);
    xl_buf_dispose(&enc2);
    return 0;
}
