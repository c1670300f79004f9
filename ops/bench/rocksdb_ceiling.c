/*
 * Ceiling for the projector: raw RocksDB WriteBatches of the same keys and
 * values the projector writes per event (projector/store.h): the execution
 * state, the archived event frame and the idempotency key, plus the consumed
 * offsets once per batch, with the store's options (column families, lz4,
 * bloom filters, one shared block cache) and with or without sync.
 *
 *   xl_bench_rocksdb --dir DIR --seconds S [--sync 0|1] [--batch N] [--executions N]
 *
 * DIR must not exist (it is created, and left for the caller to remove).
 * Prints one JSON object on stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rocksdb/c.h>

#include "schemas/event.h"

/* the store's settings (projector/store.c) */
#define BLOCK_CACHE_BYTES ((size_t)64 << 20)
#define BLOOM_BITS_PER_KEY 10.0
enum { CF_META, CF_STATE, CF_EVENTS, CF_IDEM, CF_OFFSETS, CF__COUNT };
static const struct {
    const char *name;
    int bloom;
} cf_defs[CF__COUNT] = {
    [CF_META] = {"default", 1}, [CF_STATE] = {"state", 1},     [CF_EVENTS] = {"events", 0},
    [CF_IDEM] = {"idem", 1},    [CF_OFFSETS] = {"offsets", 1},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void be64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; --i, v >>= 8)
        p[i] = (char)(v & 0xff);
}
static void be32(char *p, uint32_t v)
{
    for (int i = 3; i >= 0; --i, v >>= 8)
        p[i] = (char)(v & 0xff);
}

static int die(const char *what, char *rerr)
{
    fprintf(stderr, "%s: %s\n", what, rerr != NULL ? rerr : "error");
    rocksdb_free(rerr);
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    double seconds = 0;
    int sync = 1, batch_events = 1000;
    long nexec = 10000;
    char err[512], *rerr = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--sync") == 0)
            sync = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            batch_events = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--executions") == 0)
            nexec = atol(argv[i + 1]);
    }
    if (dir == NULL || seconds <= 0 || batch_events <= 0 || nexec <= 0) {
        fprintf(stderr, "usage: %s --dir DIR --seconds S [--sync 0|1] [--batch N] [--executions N]\n", argv[0]);
        return 2;
    }

    /* the values: one state body per execution, one event frame (as on the topic) */
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    if (codec == NULL) {
        fprintf(stderr, "codec: %s\n", err);
        return 1;
    }
    xl_buf_t frame, state;
    xl_buf_init(&frame);
    xl_buf_init(&state);
    const char *event_id = "3b7e1f0c-5a2d-4c8e-9f61-0d2a7b9c4e15";
    xl_metric_t metric = {.name = {(char *)"rows", 4}, .value = 1};
    int64_t t = 1795000000000LL;
    xl_event_t ev = {.event_id = {(char *)event_id, 36},
                     .audit_id = 1 << 8,
                     .root_audit_id = 1 << 8,
                     .flow_id = {(char *)"bench-f17", 9},
                     .flow_name = {(char *)"Bench flow 17", 13},
                     .tenant_id = {(char *)"bench", 5},
                     .type = XL_EVENT_PROGRESS,
                     .status = XL_STATUS_RUNNING,
                     .time_ms = t,
                     .ingest_time_ms = t,
                     .nmetrics = 1,
                     .metrics = &metric};
    xl_state_t st = {.audit_id = 1 << 8,
                     .root_audit_id = 1 << 8,
                     .flow_id = {(char *)"bench-f17", 9},
                     .flow_name = {(char *)"Bench flow 17", 13},
                     .tenant_id = {(char *)"bench", 5},
                     .trigger_type = {(char *)"schedule", 8},
                     .started_by = {(char *)"bench", 5},
                     .status = XL_STATUS_RUNNING,
                     .created_ms = t,
                     .started_ms = t,
                     .updated_ms = t,
                     .last_seq = 2,
                     .nmetrics = 1,
                     .metrics = &metric,
                     .log_partition = 3,
                     .log_offset = 123456};
    if (xl_event_encode(codec, &ev, &frame, err, sizeof(err)) != 0 ||
        xl_state_encode(codec, &st, &state, err, sizeof(err)) != 0) {
        fprintf(stderr, "encode: %s\n", err);
        return 1;
    }

    rocksdb_cache_t *cache = rocksdb_cache_create_lru(BLOCK_CACHE_BYTES);
    rocksdb_options_t *db_opts = rocksdb_options_create(), *cf_opts[CF__COUNT];
    rocksdb_options_set_create_if_missing(db_opts, 1);
    rocksdb_options_set_create_missing_column_families(db_opts, 1);
    rocksdb_options_increase_parallelism(db_opts, 2);
    rocksdb_options_set_compression(db_opts, rocksdb_lz4_compression);
    const char *names[CF__COUNT];
    const rocksdb_options_t *opts[CF__COUNT];
    for (int i = 0; i < CF__COUNT; ++i) {
        rocksdb_block_based_table_options_t *bbto = rocksdb_block_based_options_create();
        rocksdb_block_based_options_set_block_cache(bbto, cache);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(bbto, 1);
        if (cf_defs[i].bloom)
            rocksdb_block_based_options_set_filter_policy(bbto, rocksdb_filterpolicy_create_bloom_full(BLOOM_BITS_PER_KEY));
        cf_opts[i] = rocksdb_options_create_copy(db_opts);
        rocksdb_options_set_block_based_table_factory(cf_opts[i], bbto);
        rocksdb_block_based_options_destroy(bbto);
        names[i] = cf_defs[i].name;
        opts[i] = cf_opts[i];
    }
    rocksdb_column_family_handle_t *cf[CF__COUNT];
    rocksdb_t *db = rocksdb_open_column_families(db_opts, dir, CF__COUNT, names, opts, cf, &rerr);
    if (rerr != NULL)
        return die("open", rerr);
    rocksdb_writeoptions_t *wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wopts, sync);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

    uint32_t *seq = calloc((size_t)nexec, sizeof(*seq));
    const char *identity = "embedded-000000000000000000000000";
    size_t idlen = strlen(identity);
    unsigned long long events = 0, batches = 0, bytes = 0;
    uint64_t cursor = 0;
    int64_t offset = 0;
    double start = now_s(), end = start + seconds, elapsed;
    do {
        for (int i = 0; i < batch_events; ++i, ++cursor) {
            /* round robin over the executions: each event is the next seq of its execution */
            long x = (long)(cursor % (uint64_t)nexec);
            uint64_t audit_id = ((uint64_t)(1000000 + x) << 8);
            uint32_t s = ++seq[x];
            char k_state[8], k_event[12], k_idem[1 + 8 + 36], v_seq[4];
            be64(k_state, audit_id);
            be64(k_event, audit_id);
            be32(k_event + 8, s);
            k_idem[0] = 'e';
            be64(k_idem + 1, audit_id);
            /* a distinct event ID per event, same length as a UUID */
            snprintf(k_idem + 9, 37, "%08" PRIx32 "-0000-4000-8000-%012" PRIx64, s, cursor);
            be32(v_seq, s);
            rocksdb_writebatch_put_cf(wb, cf[CF_STATE], k_state, 8, state.base, state.len);
            rocksdb_writebatch_put_cf(wb, cf[CF_EVENTS], k_event, 12, frame.base, frame.len);
            rocksdb_writebatch_put_cf(wb, cf[CF_IDEM], k_idem, sizeof(k_idem), v_seq, 4);
            bytes += 8 + state.len + 12 + frame.len + sizeof(k_idem) + 4;
        }
        /* the consumed offsets, as the projector writes them: one key per partition */
        for (int p = 0; p < 6; ++p) {
            char k_off[64], v_off[8];
            memcpy(k_off, identity, idlen);
            k_off[idlen] = 0;
            be32(k_off + idlen + 1, (uint32_t)p);
            offset += batch_events / 6;
            be64(v_off, (uint64_t)offset);
            rocksdb_writebatch_put_cf(wb, cf[CF_OFFSETS], k_off, idlen + 5, v_off, 8);
        }
        rocksdb_write(db, wopts, wb, &rerr);
        if (rerr != NULL)
            return die("write", rerr);
        rocksdb_writebatch_clear(wb);
        events += (unsigned long long)batch_events;
        ++batches;
    } while ((elapsed = now_s() - start) < seconds && now_s() < end);

    printf("{\"sync\":%d,\"batch_events\":%d,\"executions\":%ld,\"events\":%llu,\"batches\":%llu,\"seconds\":%.3f,"
           "\"events_per_s\":%.1f,\"batches_per_s\":%.1f,\"puts_per_event\":3,\"value_bytes_per_event\":%.1f}\n",
           sync, batch_events, nexec, events, batches, elapsed, (double)events / elapsed, (double)batches / elapsed,
           (double)bytes / (double)events);

    rocksdb_writebatch_destroy(wb);
    rocksdb_writeoptions_destroy(wopts);
    for (int i = 0; i < CF__COUNT; ++i) {
        rocksdb_column_family_handle_destroy(cf[i]);
    }
    rocksdb_close(db);
    for (int i = 0; i < CF__COUNT; ++i)
        rocksdb_options_destroy(cf_opts[i]);
    rocksdb_options_destroy(db_opts);
    rocksdb_cache_destroy(cache);
    free(seq);
    xl_buf_dispose(&frame);
    xl_buf_dispose(&state);
    xl_codec_destroy(codec);
    return 0;
}
