/*
 * libFuzzer target: xl_event_decode (schemas/event.h) on arbitrary bytes,
 * with the current writer schema and an older one (XL_FUZZ_OLD_EVENT_SCHEMA)
 * known to the codec.
 *
 * Properties, beyond "no crash, no leak, no UB":
 *  - a refused frame gets -EBADMSG, -ENOENT or -EMSGSIZE, a reason, and a
 *    zeroed event;
 *  - an accepted frame decodes into a value the schema can hold (type and
 *    status in range, required strings present, keys without NUL, every
 *    string NUL-terminated after its length);
 *  - round trip: it re-encodes, the re-encoding decodes to the same event and
 *    re-encodes to the same bytes; a frame of the current writer is never
 *    shorter than its canonical re-encoding, and one of the same length is
 *    the same bytes (there is one encoding per event).
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
        fprintf(stderr, "fuzz_event: %s\n", err);
        abort();
    }
    atexit(codec_destroy);
    const char *old = XL_FUZZ_OLD_EVENT_SCHEMA;
    if (xl_codec_add_event_schema(codec, old, strlen(old), NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_event: old schema: %s\n", err);
        abort();
    }
    return 0;
}

static void check_str(const char *field, const xl_str_t *s, int required)
{
    XL_FUZZ_CHECK(!required || s->base != NULL, "%s is required but null", field);
    XL_FUZZ_CHECK(s->base != NULL || s->len == 0, "%s is null with length %zu", field, s->len);
    XL_FUZZ_CHECK(s->base == NULL || s->base[s->len] == '\0', "%s is not NUL-terminated after its length", field);
}

static void check_key(const char *field, const xl_str_t *k)
{
    check_str(field, k, 1);
    XL_FUZZ_CHECK(memchr(k->base, '\0', k->len) == NULL, "%s: a map key holds a NUL", field);
}

static void check_event(const xl_event_t *ev)
{
    check_str("event_id", &ev->event_id, 1);
    check_str("flow_id", &ev->flow_id, 1);
    check_str("flow_name", &ev->flow_name, 0);
    check_str("tenant_id", &ev->tenant_id, 0);
    check_str("message_id", &ev->message_id, 0);
    check_str("trigger_type", &ev->trigger_type, 0);
    check_str("started_by", &ev->started_by, 0);
    check_str("task", &ev->task, 0);
    check_str("message", &ev->message, 0);
    XL_FUZZ_CHECK(ev->type >= 0 && ev->type < XL_EVENT__COUNT, "type %d", ev->type);
    XL_FUZZ_CHECK(ev->status >= XL_STATUS_NONE && ev->status < XL_STATUS__COUNT, "status %d", ev->status);
    if (ev->error.present) {
        check_str("error.class", &ev->error.class_, 1);
        check_str("error.message", &ev->error.message, 1);
        check_str("error.stack", &ev->error.stack, 0);
    }
    XL_FUZZ_CHECK(ev->nwarnings == 0 || ev->warnings != NULL, "warnings");
    XL_FUZZ_CHECK(ev->nmetrics == 0 || ev->metrics != NULL, "metrics");
    XL_FUZZ_CHECK(ev->nattributes == 0 || ev->attributes != NULL, "attributes");
    for (size_t i = 0; i < ev->nwarnings; ++i)
        check_str("warnings[]", &ev->warnings[i], 1);
    for (size_t i = 0; i < ev->nmetrics; ++i)
        check_key("metrics[]", &ev->metrics[i].name);
    for (size_t i = 0; i < ev->nattributes; ++i) {
        check_key("attributes[]", &ev->attributes[i].key);
        check_str("attributes[].value", &ev->attributes[i].value, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    xl_event_t ev, again;
    xl_buf_t enc, enc2;

    int rc = xl_event_decode(codec, data, size, &ev, err, sizeof(err));
    if (rc != 0) {
        XL_FUZZ_CHECK(rc == -EBADMSG || rc == -ENOENT || rc == -EMSGSIZE, "decode returned %d (%s)", rc, err);
        XL_FUZZ_CHECK(err[0] != '\0', "a refused frame says why");
        XL_FUZZ_CHECK(xl_fuzz_all_zero(&ev, sizeof(ev)), "a refused frame leaves the event zeroed");
        return 0;
    }
    check_event(&ev);

    xl_buf_init(&enc);
    xl_buf_init(&enc2);
    rc = xl_event_encode(codec, &ev, &enc, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0, "a decoded event re-encodes: %d %s", rc, err);
    XL_FUZZ_CHECK(enc.len >= 10 && memcmp(enc.base, data, 2) == 0, "the re-encoding is a single-object frame");
    uint64_t fp = 0;
    for (int i = 7; i >= 0; --i)
        fp = fp << 8 | data[2 + i];
    if (fp == xl_event_schema_fingerprint()) {
        XL_FUZZ_CHECK(enc.len <= size, "canonical re-encoding (%zu bytes) longer than the frame (%zu)", enc.len, size);
        XL_FUZZ_CHECK(enc.len != size || memcmp(enc.base, data, size) == 0,
                      "two encodings of the same length for one event");
    }

    rc = xl_event_decode(codec, enc.base, enc.len, &again, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0, "the re-encoding decodes: %d %s", rc, err);
    const char *diff = xl_fuzz_event_diff(&ev, &again);
    XL_FUZZ_CHECK(diff == NULL, "round trip changed %s", diff);
    rc = xl_event_encode(codec, &again, &enc2, err, sizeof(err));
    XL_FUZZ_CHECK(rc == 0 && enc2.len == enc.len && memcmp(enc.base, enc2.base, enc.len) == 0,
                  "encode(decode(encode(ev))) is not encode(ev)");

    xl_event_dispose(&again);
    xl_event_dispose(&ev);
    XL_FUZZ_CHECK(xl_fuzz_all_zero(&ev, sizeof(ev)), "dispose zeroes the event");
    xl_buf_dispose(&enc);
    xl_buf_dispose(&enc2);
    return 0;
}
