/*
 * The RocksDB store of the projections (see store.h for the layout).
 *
 * One table below describes the column families and how each is tuned:
 * point-read families get a bloom filter, all share one LRU block cache, and
 * data is lz4-compressed when the library was built with lz4 (else not).
 * Every rocksdb error string is copied into (err, errlen) and freed where it
 * is returned. This file never decides what goes into the projections; the
 * projector does, and writes through xl_store_batch_t only.
 *
 * A full disk must be an error, never an abort: Debian's librocksdb keeps its
 * assertions, and a file writer of RocksDB asserts when it is used again
 * after one of its writes failed. Its info LOG writer does so on the next
 * line logged (and RocksDB logs as soon as a write fails): RocksDB's own LOG
 * stays empty (FATAL level only), what matters reaches our log through the
 * errors returned. Its WAL writer does so on the next write when RocksDB
 * recovers from the failed append without switching to a new WAL (it does
 * not when the memtables are empty): so a batch is never handed to RocksDB
 * while less than MIN_FREE_BYTES are free; the write is refused here, and
 * the WAL append never meets a full disk (unless another process fills it
 * within the write). Opening refuses such a file system too.
 */
#include "projector/store.h"

#include <errno.h>
#include <openssl/evp.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "schemas/base/array.h"
#include "schemas/base/log.h"

#define BLOCK_CACHE_BYTES ((size_t)128 << 20)
#define BLOCK_CACHE_SHARD_BITS 2
/* bounds the WAL a restart replays: a rarely written column family is flushed once it pins this much */
#define MAX_TOTAL_WAL_BYTES ((uint64_t)64 << 20)
#define BLOOM_BITS_PER_KEY 10.0
/* point-read families also get a whole-key bloom filter on their memtables (2% of the write buffer):
 * a read of a key the memtable does not hold (a new event's idempotency key, an execution not
 * written lately) then skips the skip list search, the largest cost of a projector read */
#define MEMTABLE_BLOOM "memtable_whole_key_filtering=true;memtable_prefix_bloom_size_ratio=0.02"
/* below this much free, opening and writing are refused (see the top of the file): room for
 * one write buffer (RocksDB's default, 64 MiB) to be flushed. It is also what RocksDB itself
 * waits for (its SstFileManager checks every 5 s) before it resumes after a full disk. */
#define MIN_FREE_BYTES ((uint64_t)64 << 20)
#define INFO_LOG_FATAL 4 /* rocksdb::InfoLogLevel::FATAL_LEVEL */

#define META_IDENTITY "cluster"
#define META_STATE_FP "state_fp"
#define META_REBUILD "rebuild"

#define POS_LEN 12 /* be32(partition) be64(offset) in front of an archived frame */
#define IX_TAIL 16 /* be64(created_ms) be64(audit_id) at the end of an index key */
#define AGG_VERSION 1

enum { CF_META, CF_STATE, CF_EVENTS, CF_IDEM, CF_INDEX, CF_AGG, CF_FEED, CF_OFFSETS, CF__COUNT };

/* clang-format off */
static const struct st_xl_store_cf_def_t {
    const char *name;
    int bloom;  /* point reads dominate: a whole-key bloom filter saves disk reads */
    int digest; /* part of the replica digest (projections only) */
} cf_defs[CF__COUNT] = {
    /*                name        bloom  digest */
    [CF_META]    = {"default",   1,     0},
    [CF_STATE]   = {"state",     1,     1},
    [CF_EVENTS]  = {"events",    0,     1}, /* read in seq ranges; the bulk of the data */
    [CF_IDEM]    = {"idem",      1,     1},
    [CF_INDEX]   = {"index",     0,     1}, /* prefix scans only */
    [CF_AGG]     = {"agg",       1,     1},
    [CF_FEED]    = {"feed",      0,     0}, /* this replica's apply order */
    [CF_OFFSETS] = {"offsets",   1,     0},
};
/* clang-format on */

struct st_xl_store_t {
    char *dir;
    rocksdb_t *db;
    rocksdb_cache_t *cache;
    rocksdb_options_t *db_opts;
    rocksdb_options_t *cf_opts[CF__COUNT];
    rocksdb_column_family_handle_t *cf[CF__COUNT];
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_writeoptions_t *sync_wopts; /* the rebuild mark: always fsync'ed, always logged */
};

/* One put, delete or merge of a batch, its key and value in the batch's arena. */
typedef struct st_xl_store_op_t {
    size_t off;          /* key at arena + off, the value right after it */
    uint32_t klen, vlen;
    uint8_t cf, kind;    /* XL_STORE_OP_* */
} xl_store_op_t;

enum { XL_STORE_OP_PUT, XL_STORE_OP_DELETE, XL_STORE_OP_MERGE };

#define BATCH_MARKS 4 /* nested xl_store_batch_mark: more than the fold uses */

/*
 * The batch keeps its operations in insertion order, and hands them to
 * RocksDB at commit sorted by column family and key (stably: operations on
 * one key keep their order). In order, each memtable insert starts from the
 * place the one before it ended (RocksDB keeps that splice per memtable)
 * instead of searching the whole skip list, which was the largest cost of a
 * write. The result is the same, since RocksDB applies a WriteBatch
 * atomically and only the order of operations on one key matters.
 */
struct st_xl_store_batch_t {
    xl_store_t *store;
    rocksdb_writebatch_t *wb; /* built at commit */
    xl_buf_t key;
    xl_buf_t val;
    xl_buf_t arena;
    xl_store_op_t *ops;
    size_t nops, capops;
    struct st_xl_store_sorted_t *order; /* commit scratch: ops sorted */
    size_t caporder;
    struct {
        size_t nops, arena_len;
    } marks[BATCH_MARKS];
    int nmarks;
};

/* Copy a rocksdb error into err and free it. @return -EIO. */
static int take_error(char *rerr, const char *what, char *err, size_t errlen)
{
    if (err != NULL && errlen != 0)
        snprintf(err, errlen, "%s: %s", what, rerr != NULL ? rerr : "unknown error");
    rocksdb_free(rerr);
    return -EIO;
}

static void free_options(xl_store_t *store)
{
    for (int i = 0; i != CF__COUNT; ++i) {
        if (store->cf_opts[i] != NULL)
            rocksdb_options_destroy(store->cf_opts[i]);
        store->cf_opts[i] = NULL;
    }
    if (store->db_opts != NULL)
        rocksdb_options_destroy(store->db_opts);
    store->db_opts = NULL;
}

/* the aggregates' merge operator (see agg_merge below) */
static char *agg_full_merge(void *state, const char *key, size_t klen, const char *existing, size_t elen,
                            const char *const *ops, const size_t *oplens, int nops, unsigned char *success,
                            size_t *outlen);
static char *agg_partial_merge(void *state, const char *key, size_t klen, const char *const *ops,
                               const size_t *oplens, int nops, unsigned char *success, size_t *outlen);
static void agg_merge_free(void *state, const char *value, size_t len);
static const char *agg_merge_name(void *state);
static void agg_merge_destroy(void *state);

static void make_options(xl_store_t *store, int compression)
{
    store->db_opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(store->db_opts, 1);
    rocksdb_options_set_create_missing_column_families(store->db_opts, 1);
    rocksdb_options_increase_parallelism(store->db_opts, 2);
    rocksdb_options_set_max_total_wal_size(store->db_opts, MAX_TOTAL_WAL_BYTES);
    rocksdb_options_set_compression(store->db_opts, compression);
    /* the LOG writer asserts after a failed write (see the top of this file) */
    rocksdb_options_set_info_log_level(store->db_opts, INFO_LOG_FATAL);

    for (int i = 0; i != CF__COUNT; ++i) {
        rocksdb_block_based_table_options_t *bbto = rocksdb_block_based_options_create();
        rocksdb_block_based_options_set_block_cache(bbto, store->cache);
        /* index and filter blocks stay with their open table (max_open_files = -1), outside the
         * cache: every point read needs them, and re-reading them was the read path's main cost */
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(bbto, 0);
        if (cf_defs[i].bloom) /* the table options take ownership of the policy */
            rocksdb_block_based_options_set_filter_policy(bbto,
                                                          rocksdb_filterpolicy_create_bloom_full(BLOOM_BITS_PER_KEY));
        store->cf_opts[i] = rocksdb_options_create_copy(store->db_opts);
        rocksdb_options_set_block_based_table_factory(store->cf_opts[i], bbto); /* copies bbto */
        if (i == CF_AGG) /* the options take ownership of the operator */
            rocksdb_options_set_merge_operator(store->cf_opts[i],
                                               rocksdb_mergeoperator_create(NULL, agg_merge_destroy, agg_full_merge,
                                                                            agg_partial_merge, agg_merge_free,
                                                                            agg_merge_name));
        rocksdb_block_based_options_destroy(bbto);
        if (cf_defs[i].bloom) {
            char *rerr = NULL;
            rocksdb_options_t *with_bloom = rocksdb_options_create();
            rocksdb_get_options_from_string(store->cf_opts[i], MEMTABLE_BLOOM, with_bloom, &rerr);
            if (rerr == NULL) {
                rocksdb_options_destroy(store->cf_opts[i]);
                store->cf_opts[i] = with_bloom;
            } else { /* an older library: reads work as before, only slower */
                rocksdb_free(rerr);
                rocksdb_options_destroy(with_bloom);
            }
        }
    }
}

static int open_db(xl_store_t *store, const char *dir, int compression, char **rerr)
{
    const char *names[CF__COUNT];
    const rocksdb_options_t *opts[CF__COUNT];

    make_options(store, compression);
    for (int i = 0; i != CF__COUNT; ++i) {
        names[i] = cf_defs[i].name;
        opts[i] = store->cf_opts[i];
    }
    store->db = rocksdb_open_column_families(store->db_opts, dir, CF__COUNT, names, opts, store->cf, rerr);
    if (*rerr != NULL) {
        free_options(store);
        return -EIO;
    }
    return 0;
}

/* Record the state schema the values are written with; warn if the store holds another one. */
static int check_state_fp(xl_store_t *store, char *err, size_t errlen)
{
    uint64_t fp = xl_state_schema_fingerprint();
    char *rerr = NULL;
    size_t len = 0;
    char *val =
        rocksdb_get_cf(store->db, store->ropts, store->cf[CF_META], META_STATE_FP, strlen(META_STATE_FP), &len, &rerr);
    if (rerr != NULL)
        return take_error(rerr, "read state_fp", err, errlen);
    if (val != NULL) {
        if (len != 8 || xl_be64_get(val) != fp)
            xl_log_warn("projector", "store holds states of another state schema; reads may fail until a rebuild");
        rocksdb_free(val);
        return 0;
    }
    unsigned char be[8];
    for (int i = 7; i >= 0; --i, fp >>= 8)
        be[i] = (unsigned char)fp;
    rocksdb_put_cf(store->db, store->wopts, store->cf[CF_META], META_STATE_FP, strlen(META_STATE_FP), (char *)be,
                   sizeof(be), &rerr);
    if (rerr != NULL)
        return take_error(rerr, "write state_fp", err, errlen);
    return 0;
}

/* Is a rebuild marked as unfinished? @return 1, 0, or -EIO with err. */
static int rebuild_marked(xl_store_t *store, char *err, size_t errlen)
{
    char *rerr = NULL;
    size_t len = 0;
    char *val =
        rocksdb_get_cf(store->db, store->ropts, store->cf[CF_META], META_REBUILD, strlen(META_REBUILD), &len, &rerr);
    if (rerr != NULL)
        return take_error(rerr, "read rebuild mark", err, errlen);
    rocksdb_free(val);
    return val != NULL;
}

/* Bytes this process may still write in the file system of dir (its parent's while dir does not exist). */
static int free_space(const char *dir, uint64_t *bytes)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0) {
        char parent[4096];
        if (errno != ENOENT || (size_t)snprintf(parent, sizeof(parent), "%s", dir) >= sizeof(parent))
            return -errno;
        char *slash = strrchr(parent, '/');
        if (slash == NULL)
            snprintf(parent, sizeof(parent), ".");
        else
            slash[slash == parent ? 1 : 0] = '\0';
        if (statvfs(parent, &sv) != 0)
            return -errno;
    }
    *bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return 0;
}

static const char *format_bytes(uint64_t n, char *buf, size_t len)
{
    if (n < ((uint64_t)1 << 20))
        snprintf(buf, len, "%llu KiB", (unsigned long long)(n >> 10));
    else if (n % ((uint64_t)1 << 20) == 0)
        snprintf(buf, len, "%llu MiB", (unsigned long long)(n >> 20));
    else
        snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
    return buf;
}

/* Refuse a file system without room to open in. @return 0, or -ENOSPC with err filled. */
static int check_free_space(const char *dir, char *err, size_t errlen)
{
    uint64_t bytes;
    char have[32], need[32];
    if (free_space(dir, &bytes) != 0)
        return 0; /* RocksDB reports what is wrong with dir */
    if (bytes < MIN_FREE_BYTES) {
        snprintf(err, errlen, "cannot open the store in %s: no space left on device (%s free, at least %s needed)",
                 dir, format_bytes(bytes, have, sizeof(have)), format_bytes(MIN_FREE_BYTES, need, sizeof(need)));
        return -ENOSPC;
    }
    return 0;
}

/* A RocksDB error at open, into err; a full disk is named as such, with the space left. */
static void open_error(char *rerr, const char *dir, char *err, size_t errlen)
{
    uint64_t bytes;
    char have[32];
    if (rerr != NULL && strstr(rerr, "No space left on device") != NULL && free_space(dir, &bytes) == 0) {
        snprintf(err, errlen, "cannot open the store in %s: no space left on device (%s free): %s", dir,
                 format_bytes(bytes, have, sizeof(have)), rerr);
        rocksdb_free(rerr);
        return;
    }
    take_error(rerr, dir, err, errlen);
}

/*
 * for_rebuild: accept a store marked mid-rebuild, and write without the WAL
 * (xl_store_rebuild_done flushes the memtables; a crash before that leaves
 * the mark, so nothing half-written is ever trusted).
 */
static xl_store_t *open_store(const char *dir, int sync_writes, int for_rebuild, char *err, size_t errlen)
{
    xl_store_t *store = NULL;
    char *rerr = NULL;
    int marked;

    if ((store = calloc(1, sizeof(*store))) == NULL || (store->dir = strdup(dir)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* few shards: with 1 MiB shards a large data block or filter never stays cached */
    rocksdb_lru_cache_options_t *lru = rocksdb_lru_cache_options_create();
    rocksdb_lru_cache_options_set_capacity(lru, BLOCK_CACHE_BYTES);
    rocksdb_lru_cache_options_set_num_shard_bits(lru, BLOCK_CACHE_SHARD_BITS);
    store->cache = rocksdb_cache_create_lru_opts(lru);
    rocksdb_lru_cache_options_destroy(lru);
    store->ropts = rocksdb_readoptions_create();
    store->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(store->wopts, sync_writes ? 1 : 0);
    if (for_rebuild)
        rocksdb_writeoptions_disable_WAL(store->wopts, 1);
    store->sync_wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(store->sync_wopts, 1);

    if (check_free_space(dir, err, errlen) != 0)
        goto fail;
    if (open_db(store, dir, rocksdb_lz4_compression, &rerr) != 0) {
        /* a librocksdb built without lz4 refuses the option at open: fall back to none */
        if (strstr(rerr, "ompression") == NULL) {
            open_error(rerr, dir, err, errlen);
            goto fail;
        }
        xl_log_warn("projector", "rocksdb has no lz4 (%s); storing uncompressed", rerr);
        rocksdb_free(rerr);
        rerr = NULL;
        if (open_db(store, dir, rocksdb_no_compression, &rerr) != 0) {
            open_error(rerr, dir, err, errlen);
            goto fail;
        }
    }
    if ((marked = rebuild_marked(store, err, errlen)) < 0)
        goto fail;
    if (marked && !for_rebuild) {
        snprintf(err, errlen,
                 "%s: a rebuild was interrupted and the projections are incomplete; run `execlogd rebuild`", dir);
        goto fail;
    }
    if (check_state_fp(store, err, errlen) != 0)
        goto fail;
    return store;

fail:
    xl_store_close(store);
    return NULL;
}

xl_store_t *xl_store_open(const char *dir, int sync_writes, char *err, size_t errlen)
{
    return open_store(dir, sync_writes, 0, err, errlen);
}

xl_store_t *xl_store_open_for_rebuild(const char *dir, char *err, size_t errlen)
{
    return open_store(dir, 0, 1, err, errlen);
}

void xl_store_close(xl_store_t *store)
{
    if (store == NULL)
        return;
    for (int i = 0; i != CF__COUNT; ++i)
        if (store->cf[i] != NULL)
            rocksdb_column_family_handle_destroy(store->cf[i]);
    if (store->db != NULL)
        rocksdb_close(store->db);
    free_options(store);
    if (store->wopts != NULL)
        rocksdb_writeoptions_destroy(store->wopts);
    if (store->sync_wopts != NULL)
        rocksdb_writeoptions_destroy(store->sync_wopts);
    if (store->ropts != NULL)
        rocksdb_readoptions_destroy(store->ropts);
    if (store->cache != NULL)
        rocksdb_cache_destroy(store->cache);
    free(store->dir);
    free(store);
}

/* Keys. Each builder resets key first; -ENOMEM on allocation failure. */

static int key_state(xl_buf_t *key, int64_t audit_id)
{
    xl_buf_reset(key);
    return xl_buf_append_be64(key, (uint64_t)audit_id);
}

static int key_event(xl_buf_t *key, int64_t audit_id, uint32_t seq)
{
    xl_buf_reset(key);
    return xl_buf_append_be64(key, (uint64_t)audit_id) || xl_buf_append_be32(key, seq) ? -ENOMEM : 0;
}

static int key_event_seq(xl_buf_t *key, int64_t audit_id, const char *event_id, size_t event_id_len)
{
    xl_buf_reset(key);
    return xl_buf_append(key, "e", 1) || xl_buf_append_be64(key, (uint64_t)audit_id) ||
                   xl_buf_append(key, event_id, event_id_len)
               ? -ENOMEM
               : 0;
}

/* The create prefix: 'c' tenant 0x00 event_id 0x00 (the audit id follows). */
static int key_create_prefix(xl_buf_t *key, const char *tenant_id, size_t tenant_len, const char *event_id,
                             size_t event_id_len)
{
    if ((tenant_len != 0 && memchr(tenant_id, 0, tenant_len) != NULL) ||
        (event_id_len != 0 && memchr(event_id, 0, event_id_len) != NULL))
        return -EINVAL;
    xl_buf_reset(key);
    return xl_buf_append(key, "c", 1) || xl_buf_append(key, tenant_id, tenant_len) || xl_buf_append(key, "", 1) ||
                   xl_buf_append(key, event_id, event_id_len) || xl_buf_append(key, "", 1)
               ? -ENOMEM
               : 0;
}

static int key_offset(xl_buf_t *key, const char *identity, int32_t partition)
{
    xl_buf_reset(key);
    /* strlen is right here: the identity is a C string by contract, and the NUL ends it in the key */
    return xl_buf_append(key, identity, strlen(identity) + 1) || xl_buf_append_be32(key, (uint32_t)partition) ? -ENOMEM
                                                                                                              : 0;
}

/* A point read into out (appended). @return 0, -ENOENT, -ENOMEM or -EIO. */
static int get_into(xl_store_t *store, int cf, const xl_buf_t *key, xl_buf_t *out, char *err, size_t errlen)
{
    char *rerr = NULL;
    rocksdb_pinnableslice_t *slice =
        rocksdb_get_pinned_cf(store->db, store->ropts, store->cf[cf], key->base, key->len, &rerr);
    if (rerr != NULL)
        return take_error(rerr, cf_defs[cf].name, err, errlen);
    if (slice == NULL)
        return -ENOENT;
    size_t len;
    const char *val = rocksdb_pinnableslice_value(slice, &len);
    int ret = xl_buf_append(out, val, len);
    rocksdb_pinnableslice_destroy(slice);
    return ret;
}

int xl_store_get_state(xl_store_t *store, xl_codec_t *codec, int64_t audit_id, xl_state_t *st, char *err, size_t errlen)
{
    char rerr[256] = "";
    xl_buf_t key, val;
    int ret;

    xl_buf_init(&key);
    xl_buf_init(&val);
    if ((ret = key_state(&key, audit_id)) != 0)
        goto fail;
    if ((ret = get_into(store, CF_STATE, &key, &val, rerr, sizeof(rerr))) != 0) {
        if (ret == -EIO)
            snprintf(err, errlen, "%s", rerr);
        goto fail;
    }
    if ((ret = xl_state_decode(codec, val.base, val.len, st, rerr, sizeof(rerr))) != 0) {
        snprintf(err, errlen, "state of %lld: %s", (long long)audit_id, rerr);
        ret = -EIO;
        goto fail;
    }

fail:
    xl_buf_dispose(&val);
    xl_buf_dispose(&key);
    return ret;
}

int xl_store_get_event_seq(xl_store_t *store, int64_t audit_id, const char *event_id, size_t event_id_len,
                           uint32_t *seq, xl_pos_t *pos)
{
    xl_buf_t key, val;
    int ret;

    xl_buf_init(&key);
    xl_buf_init(&val);
    if ((ret = key_event_seq(&key, audit_id, event_id, event_id_len)) != 0)
        goto fail;
    if ((ret = get_into(store, CF_IDEM, &key, &val, NULL, 0)) != 0)
        goto fail;
    if (val.len != 16) {
        ret = -EIO;
        goto fail;
    }
    *seq = xl_be32_get(val.base);
    if (pos != NULL) {
        pos->partition = (int32_t)xl_be32_get(val.base + 4);
        pos->offset = (int64_t)xl_be64_get(val.base + 8);
    }

fail:
    xl_buf_dispose(&val);
    xl_buf_dispose(&key);
    return ret;
}

int xl_store_find_create(xl_store_t *store, const char *tenant_id, size_t tenant_len, const char *event_id,
                         size_t event_id_len, int32_t partition, int64_t *audit_id, xl_pos_t *pos)
{
    rocksdb_iterator_t *it = NULL;
    char *rerr = NULL;
    xl_buf_t prefix;
    int ret;

    xl_buf_init(&prefix);
    if ((ret = key_create_prefix(&prefix, tenant_id, tenant_len, event_id, event_id_len)) != 0) {
        if (ret == -EINVAL) /* no such key can have been written */
            ret = -ENOENT;
        goto fail;
    }
    it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_IDEM]);
    /* audit IDs follow the prefix big-endian: the first key after it is the lowest */
    ret = -ENOENT;
    for (rocksdb_iter_seek(it, prefix.base, prefix.len); ret == -ENOENT && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != prefix.len + 8 || memcmp(k, prefix.base, prefix.len) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vlen);
        if (vlen != 12) {
            ret = -EIO;
        } else if (partition < 0 || (int32_t)xl_be32_get(v) == partition) {
            *audit_id = (int64_t)xl_be64_get(k + prefix.len);
            if (pos != NULL) {
                pos->partition = (int32_t)xl_be32_get(v);
                pos->offset = (int64_t)xl_be64_get(v + 4);
            }
            ret = 0;
        }
    }
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL)
        ret = take_error(rerr, "idem", NULL, 0);

fail:
    if (it != NULL)
        rocksdb_iter_destroy(it);
    xl_buf_dispose(&prefix);
    return ret;
}

int xl_store_get_event(xl_store_t *store, int64_t audit_id, uint32_t seq, xl_buf_t *out)
{
    xl_buf_t key, val;
    int ret;

    xl_buf_init(&key);
    xl_buf_init(&val);
    if ((ret = key_event(&key, audit_id, seq)) == 0 && (ret = get_into(store, CF_EVENTS, &key, &val, NULL, 0)) == 0)
        ret = val.len < POS_LEN ? -EIO : xl_buf_append(out, val.base + POS_LEN, val.len - POS_LEN);
    xl_buf_dispose(&val);
    xl_buf_dispose(&key);
    return ret;
}

/* An archived value: its position, then the frame. @return 0, or -EIO if too short. */
static int split_archived(const char *v, size_t vlen, xl_pos_t *pos, const char **frame, size_t *len)
{
    if (vlen < POS_LEN)
        return -EIO;
    pos->partition = (int32_t)xl_be32_get(v);
    pos->offset = (int64_t)xl_be64_get(v + 4);
    *frame = v + POS_LEN;
    *len = vlen - POS_LEN;
    return 0;
}

int xl_store_scan_events(xl_store_t *store, int64_t audit_id, uint32_t from_seq, int descending, xl_store_event_cb cb,
                         void *ctx)
{
    rocksdb_iterator_t *it = NULL;
    char *rerr = NULL;
    xl_buf_t key;
    int ret;

    xl_buf_init(&key);
    if ((ret = key_event(&key, audit_id, descending && from_seq == 0 ? UINT32_MAX : from_seq)) != 0)
        goto fail;
    it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_EVENTS]);
    if (descending)
        rocksdb_iter_seek_for_prev(it, key.base, key.len);
    else
        rocksdb_iter_seek(it, key.base, key.len);
    for (; rocksdb_iter_valid(it); descending ? rocksdb_iter_prev(it) : rocksdb_iter_next(it)) {
        size_t klen, vlen, flen;
        const char *k = rocksdb_iter_key(it, &klen), *frame;
        if (klen != 12 || memcmp(k, key.base, 8) != 0)
            break; /* past this execution */
        const char *v = rocksdb_iter_value(it, &vlen);
        xl_pos_t pos;
        if ((ret = split_archived(v, vlen, &pos, &frame, &flen)) != 0)
            goto fail;
        if ((ret = cb(ctx, xl_be32_get(k + 8), &pos, frame, flen)) != 0)
            goto fail;
    }
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL)
        ret = take_error(rerr, "events", NULL, 0);

fail:
    if (it != NULL)
        rocksdb_iter_destroy(it);
    xl_buf_dispose(&key);
    return ret;
}

int xl_store_scan_archive(xl_store_t *store, int (*cb)(void *ctx, const xl_store_archived_t *ev), void *ctx)
{
    const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(store->db);
    rocksdb_readoptions_t *ropts = rocksdb_readoptions_create();
    rocksdb_iterator_t *it;
    char *rerr = NULL;
    int ret = 0;

    rocksdb_readoptions_set_snapshot(ropts, snap);
    rocksdb_readoptions_set_fill_cache(ropts, 0); /* one pass over everything: keep the hot set */
    it = rocksdb_create_iterator_cf(store->db, ropts, store->cf[CF_EVENTS]);
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen), *v = rocksdb_iter_value(it, &vlen);
        xl_store_archived_t ev;
        if (klen != 12 || split_archived(v, vlen, &ev.pos, (const char **)&ev.frame, &ev.len) != 0) {
            ret = -EIO;
            break;
        }
        ev.audit_id = (int64_t)xl_be64_get(k);
        ev.seq = xl_be32_get(k + 8);
        if ((ret = cb(ctx, &ev)) != 0)
            break;
    }
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL)
        ret = take_error(rerr, "events", NULL, 0);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ropts);
    rocksdb_release_snapshot(store->db, snap);
    return ret;
}

int xl_store_get_offset(xl_store_t *store, const char *identity, int32_t partition, int64_t *next_offset)
{
    xl_buf_t key, val;
    int ret;

    xl_buf_init(&key);
    xl_buf_init(&val);
    if ((ret = key_offset(&key, identity, partition)) != 0)
        goto fail;
    if ((ret = get_into(store, CF_OFFSETS, &key, &val, NULL, 0)) != 0)
        goto fail;
    if (val.len != 8) {
        ret = -EIO;
        goto fail;
    }
    *next_offset = (int64_t)xl_be64_get(val.base);

fail:
    xl_buf_dispose(&val);
    xl_buf_dispose(&key);
    return ret;
}

int xl_store_get_identity(xl_store_t *store, xl_buf_t *out)
{
    xl_buf_t key;
    xl_buf_init(&key);
    int ret = xl_buf_append(&key, META_IDENTITY, strlen(META_IDENTITY));
    if (ret == 0)
        ret = get_into(store, CF_META, &key, out, NULL, 0);
    xl_buf_dispose(&key);
    return ret;
}

void xl_store_estimate(xl_store_t *store, uint64_t *executions, uint64_t *events)
{
    if (rocksdb_property_int_cf(store->db, store->cf[CF_STATE], "rocksdb.estimate-num-keys", executions) != 0)
        *executions = 0;
    if (rocksdb_property_int_cf(store->db, store->cf[CF_EVENTS], "rocksdb.estimate-num-keys", events) != 0)
        *events = 0;
}

/* ---- secondary indexes ---- */

/* created_ms with the sign bit flipped: big-endian bytes then sort like the numbers */
static uint64_t ix_time(int64_t created_ms)
{
    return (uint64_t)created_ms ^ ((uint64_t)1 << 63);
}

static int ix_str(xl_buf_t *key, const xl_str_t *s)
{
    size_t len = s != NULL && s->base != NULL ? s->len : 0;
    if (len > UINT32_MAX)
        return -EINVAL;
    return xl_buf_append_be32(key, (uint32_t)len) || xl_buf_append(key, len != 0 ? s->base : "", len) ? -ENOMEM : 0;
}

/* 'A' (across tenants) or 'T' and the tenant */
static int ix_scope(xl_buf_t *key, const xl_str_t *tenant)
{
    if (xl_buf_append(key, tenant == NULL ? "A" : "T", 1) != 0)
        return -ENOMEM;
    return tenant == NULL ? 0 : ix_str(key, tenant);
}

int xl_store_index_prefix(xl_buf_t *out, xl_index_t ix, const xl_str_t *tenant, const xl_str_t *str, int status,
                          int64_t id)
{
    unsigned char tag = (unsigned char)ix, st = (unsigned char)status;
    int ret;

    xl_buf_reset(out);
    if ((unsigned)ix >= XL_IX__COUNT)
        return -EINVAL;
    if (xl_buf_append(out, &tag, 1) != 0)
        return -ENOMEM;
    switch (ix) {
    case XL_IX_ALL:
        return ix_scope(out, tenant);
    case XL_IX_FLOW:
    case XL_IX_MESSAGE:
        if (str == NULL)
            return -EINVAL;
        return (ret = ix_scope(out, tenant)) != 0 ? ret : ix_str(out, str);
    case XL_IX_STATUS:
        if (status < 0 || status >= XL_STATUS__COUNT)
            return -EINVAL;
        return (ret = ix_scope(out, tenant)) != 0 ? ret : xl_buf_append(out, &st, 1);
    default: /* by an audit ID */
        return xl_buf_append_be64(out, (uint64_t)id);
    }
}

struct st_xl_store_index_iter_t {
    rocksdb_iterator_t *it;
};

xl_store_index_iter_t *xl_store_index_iter_create(xl_store_t *store)
{
    xl_store_index_iter_t *iter = malloc(sizeof(*iter));
    if (iter != NULL)
        iter->it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_INDEX]);
    return iter;
}

void xl_store_index_iter_destroy(xl_store_index_iter_t *iter)
{
    if (iter == NULL)
        return;
    rocksdb_iter_destroy(iter->it);
    free(iter);
}

int xl_store_index_scan(xl_store_t *store, const void *prefix, size_t prefix_len, int descending,
                        const int64_t after[2], xl_store_index_cb cb, void *ctx)
{
    xl_store_index_iter_t iter = {rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_INDEX])};
    int ret = xl_store_index_iter_scan(&iter, prefix, prefix_len, descending, after, cb, ctx);
    rocksdb_iter_destroy(iter.it);
    return ret;
}

int xl_store_index_iter_scan(xl_store_index_iter_t *iter, const void *prefix, size_t prefix_len, int descending,
                             const int64_t after[2], xl_store_index_cb cb, void *ctx)
{
    static const unsigned char ones[IX_TAIL] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    rocksdb_iterator_t *it = iter->it;
    char *rerr = NULL;
    xl_buf_t start;
    int ret = -ENOMEM;

    xl_buf_init(&start);
    if (xl_buf_append(&start, prefix, prefix_len) != 0)
        goto fail;
    if (after != NULL) {
        if (xl_buf_append_be64(&start, ix_time(after[0])) != 0 || xl_buf_append_be64(&start, (uint64_t)after[1]) != 0)
            goto fail;
    } else if (descending && xl_buf_append(&start, ones, sizeof(ones)) != 0) {
        goto fail;
    }
    ret = 0;
    if (descending)
        rocksdb_iter_seek_for_prev(it, start.base, start.len);
    else
        rocksdb_iter_seek(it, start.base, start.len);
    for (; rocksdb_iter_valid(it); descending ? rocksdb_iter_prev(it) : rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < prefix_len || memcmp(k, prefix, prefix_len) != 0)
            break;
        if (klen != prefix_len + IX_TAIL)
            continue; /* not an entry of this prefix (a malformed prefix from the caller) */
        if (after != NULL && klen == start.len && memcmp(k, start.base, klen) == 0)
            continue; /* strictly after */
        int64_t created = (int64_t)(xl_be64_get(k + prefix_len) ^ ((uint64_t)1 << 63));
        int64_t audit = (int64_t)xl_be64_get(k + prefix_len + 8);
        if ((ret = cb(ctx, created, audit)) != 0)
            goto fail;
    }
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL)
        ret = take_error(rerr, "index", NULL, 0);

fail:
    xl_buf_dispose(&start);
    return ret;
}

/* ---- per-flow aggregates ---- */

int xl_store_hist_bucket(int64_t duration_ms)
{
    if (duration_ms < 16)
        return duration_ms < 0 ? 0 : (int)duration_ms;
    int e = 63 - __builtin_clzll((uint64_t)duration_ms); /* 4..62 */
    int m = (int)((duration_ms >> (e - 3)) & 7);         /* the 3 bits after the leading one */
    return 16 + (e - 4) * 8 + m;
}

int64_t xl_store_hist_upper(int bucket)
{
    if (bucket < 16)
        return bucket < 0 ? 0 : bucket;
    if (bucket >= XL_STORE_HIST_BUCKETS)
        return INT64_MAX;
    int e = (bucket - 16) / 8 + 4, m = (bucket - 16) % 8;
    return (int64_t)((((uint64_t)9 + (uint64_t)m) << (e - 3)) - 1);
}

static int key_agg(xl_buf_t *key, const xl_str_t *tenant, const xl_str_t *flow_id)
{
    int ret;
    xl_buf_reset(key);
    if ((ret = ix_scope(key, tenant)) != 0)
        return ret;
    return ix_str(key, flow_id);
}

/*
 * The value: u8 version, be64 total, be64 by_status[], be64 latest_created_ms,
 * be64 latest_audit_id, then (be16 bucket, be64 count) for every non-zero
 * bucket in bucket order: one encoding per content, so replicas agree.
 */
static int agg_encode(xl_buf_t *val, const xl_store_flow_delta_t *agg)
{
    unsigned char v = AGG_VERSION;
    int ret = xl_buf_append(val, &v, 1) || xl_buf_append_be64(val, (uint64_t)agg->total);
    for (int i = 0; i != XL_STATUS__COUNT; ++i)
        ret = ret || xl_buf_append_be64(val, (uint64_t)agg->by_status[i]);
    ret = ret || xl_buf_append_be64(val, (uint64_t)agg->latest_created_ms) ||
          xl_buf_append_be64(val, (uint64_t)agg->latest_audit_id);
    for (int b = 0; b != XL_STORE_HIST_BUCKETS; ++b) {
        if (agg->hist[b] == 0)
            continue;
        unsigned char be[2] = {(unsigned char)(b >> 8), (unsigned char)b};
        ret = ret || xl_buf_append(val, be, 2) || xl_buf_append_be64(val, (uint64_t)agg->hist[b]);
    }
    return ret ? -ENOMEM : 0;
}

#define AGG_FIXED (1 + 8 * (1 + XL_STATUS__COUNT + 2))

static int agg_decode(const char *v, size_t len, xl_store_flow_delta_t *agg)
{
    memset(agg, 0, sizeof(*agg));
    if (len < AGG_FIXED || (len - AGG_FIXED) % 10 != 0 || (unsigned char)v[0] != AGG_VERSION)
        return -EIO;
    const char *p = v + 1;
    agg->total = (int64_t)xl_be64_get(p);
    p += 8;
    for (int i = 0; i != XL_STATUS__COUNT; ++i, p += 8)
        agg->by_status[i] = (int64_t)xl_be64_get(p);
    agg->latest_created_ms = (int64_t)xl_be64_get(p);
    agg->latest_audit_id = (int64_t)xl_be64_get(p + 8);
    for (p += 16; p != v + len; p += 10) {
        unsigned b = ((unsigned)(unsigned char)p[0] << 8) | (unsigned char)p[1];
        if (b >= XL_STORE_HIST_BUCKETS)
            return -EIO;
        agg->hist[b] = (int64_t)xl_be64_get(p + 2);
    }
    return 0;
}

/* (created_ms, audit_id) of b is newer than a's */
static int newer(int64_t a_created, int64_t a_audit, int64_t b_created, int64_t b_audit)
{
    return b_created > a_created || (b_created == a_created && b_audit > a_audit);
}

/* agg += d: counts add, the latest execution is the newer of the two */
static void agg_add(xl_store_flow_delta_t *agg, const xl_store_flow_delta_t *d)
{
    agg->total += d->total;
    for (int i = 0; i != XL_STATUS__COUNT; ++i)
        agg->by_status[i] += d->by_status[i];
    for (int b = 0; b != XL_STORE_HIST_BUCKETS; ++b)
        agg->hist[b] += d->hist[b];
    if (d->latest_audit_id != 0 &&
        (agg->latest_audit_id == 0 ||
         newer(agg->latest_created_ms, agg->latest_audit_id, d->latest_created_ms, d->latest_audit_id))) {
        agg->latest_created_ms = d->latest_created_ms;
        agg->latest_audit_id = d->latest_audit_id;
    }
}

/*
 * The aggregates' merge operator: a stored value and deltas share one
 * encoding (agg_encode), and adding them is commutative and associative, so
 * batches written by any number of projector threads, in any order, give the
 * same value, byte for byte (the digest depends on it). RocksDB calls these
 * on its own threads; they touch nothing but their arguments.
 */
static char *agg_merge(const char *existing, size_t elen, const char *const *ops, const size_t *oplens, int nops,
                       unsigned char *success, size_t *outlen)
{
    xl_store_flow_delta_t *agg = calloc(2, sizeof(*agg)), *d = agg + 1;
    xl_buf_t out;
    char *ret = NULL;

    xl_buf_init(&out);
    *success = 0;
    if (agg == NULL || (existing != NULL && agg_decode(existing, elen, agg) != 0))
        goto done;
    for (int i = 0; i != nops; ++i) {
        if (agg_decode(ops[i], oplens[i], d) != 0)
            goto done;
        agg_add(agg, d);
    }
    if (agg_encode(&out, agg) != 0)
        goto done;
    if ((ret = malloc(out.len)) != NULL) {
        memcpy(ret, out.base, out.len);
        *outlen = out.len;
        *success = 1;
    }
done:
    xl_buf_dispose(&out);
    free(agg);
    return ret;
}

static char *agg_full_merge(void *state, const char *key, size_t klen, const char *existing, size_t elen,
                            const char *const *ops, const size_t *oplens, int nops, unsigned char *success,
                            size_t *outlen)
{
    return agg_merge(existing, elen, ops, oplens, nops, success, outlen);
}

static char *agg_partial_merge(void *state, const char *key, size_t klen, const char *const *ops,
                               const size_t *oplens, int nops, unsigned char *success, size_t *outlen)
{
    return agg_merge(NULL, 0, ops, oplens, nops, success, outlen);
}

static void agg_merge_free(void *state, const char *value, size_t len)
{
    free((void *)value);
}

static void agg_merge_destroy(void *state)
{
    /* stateless; RocksDB's C API calls the destructor unconditionally */
}

static const char *agg_merge_name(void *state)
{
    return "execlog.agg.v1";
}

/* The summary of decoded aggregates. */
static void summarize(const xl_store_flow_delta_t *agg, xl_flow_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    out->total = (uint64_t)agg->total;
    for (int i = 0; i != XL_STATUS__COUNT; ++i) {
        out->by_status[i] = (uint64_t)agg->by_status[i];
        if (i >= XL_STATUS_SUCCEEDED) /* the terminal statuses */
            out->ended += out->by_status[i];
    }
    out->succeeded = out->by_status[XL_STATUS_SUCCEEDED] + out->by_status[XL_STATUS_WARNING];
    out->latest_audit_id = agg->latest_audit_id;
    out->latest_created_ms = agg->latest_created_ms;

    /* nearest rank: the smallest bucket whose cumulative count reaches ceil(p% of n) */
    static const int pct[3] = {50, 95, 99};
    int64_t *outs[3] = {&out->p50_ms, &out->p95_ms, &out->p99_ms};
    uint64_t n = 0;
    for (int b = 0; b != XL_STORE_HIST_BUCKETS; ++b)
        n += (uint64_t)agg->hist[b];
    for (int i = 0; i != 3; ++i) {
        *outs[i] = -1;
        if (n == 0)
            continue;
        uint64_t rank = (n * (uint64_t)pct[i] + 99) / 100, cum = 0;
        for (int b = 0; b != XL_STORE_HIST_BUCKETS; ++b) {
            cum += (uint64_t)agg->hist[b];
            if (cum >= rank) {
                *outs[i] = xl_store_hist_upper(b);
                break;
            }
        }
    }
}

int xl_store_get_flow_summary(xl_store_t *store, const xl_str_t *tenant, const char *flow_id, size_t flow_len,
                              xl_flow_summary_t *out)
{
    xl_str_t flow = {(char *)flow_id, flow_len};
    xl_store_flow_delta_t *agg = NULL;
    xl_buf_t key, val;
    int ret;

    memset(out, 0, sizeof(*out));
    xl_buf_init(&key);
    xl_buf_init(&val);
    if ((ret = key_agg(&key, tenant, &flow)) != 0 || (ret = get_into(store, CF_AGG, &key, &val, NULL, 0)) != 0)
        goto fail;
    if ((agg = malloc(sizeof(*agg))) == NULL) {
        ret = -ENOMEM;
        goto fail;
    }
    if ((ret = agg_decode(val.base, val.len, agg)) != 0)
        goto fail;
    summarize(agg, out);

fail:
    free(agg);
    xl_buf_dispose(&val);
    xl_buf_dispose(&key);
    return ret == -ENOMEM ? -EIO : ret;
}

int xl_store_scan_flows(xl_store_t *store, const xl_str_t *tenant, const char *after, size_t after_len,
                        xl_store_flow_cb cb, void *ctx)
{
    rocksdb_iterator_t *it = NULL;
    xl_store_flow_delta_t *agg = malloc(sizeof(*agg));
    xl_flow_summary_t sum;
    xl_buf_t prefix, start;
    char *rerr = NULL;
    int ret = -ENOMEM;

    xl_buf_init(&prefix);
    xl_buf_init(&start);
    if (agg == NULL || ix_scope(&prefix, tenant) != 0 || xl_buf_append(&start, prefix.base, prefix.len) != 0)
        goto fail;
    if (after != NULL) {
        xl_str_t a = {(char *)after, after_len};
        if (ix_str(&start, &a) != 0)
            goto fail;
    }
    ret = 0;
    it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_AGG]);
    for (rocksdb_iter_seek(it, start.base, start.len); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < prefix.len || memcmp(k, prefix.base, prefix.len) != 0)
            break;
        if (after != NULL && klen == start.len && memcmp(k, start.base, klen) == 0)
            continue; /* strictly after */
        if (klen < prefix.len + 4 || xl_be32_get(k + prefix.len) != klen - prefix.len - 4)
            continue; /* a longer scope that shares this prefix ('T' keys of another tenant cannot: lengths) */
        const char *v = rocksdb_iter_value(it, &vlen);
        if (agg_decode(v, vlen, agg) != 0) {
            ret = -EIO;
            goto fail;
        }
        summarize(agg, &sum);
        if ((ret = cb(ctx, k + prefix.len + 4, klen - prefix.len - 4, &sum)) != 0)
            goto fail;
    }
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL) {
        rocksdb_free(rerr);
        ret = -EIO;
    }

fail:
    if (it != NULL)
        rocksdb_iter_destroy(it);
    xl_buf_dispose(&start);
    xl_buf_dispose(&prefix);
    free(agg);
    return ret;
}

/* ---- the feed ---- */

int xl_store_feed_scan(xl_store_t *store, uint64_t after, xl_store_feed_cb cb, void *ctx)
{
    unsigned char start[8];
    char *rerr = NULL;
    int ret = 0;

    if (after == UINT64_MAX)
        return 0;
    for (int i = 7, v = 0; i >= 0; --i, v += 8)
        start[i] = (unsigned char)((after + 1) >> v);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_FEED]);
    for (rocksdb_iter_seek(it, (const char *)start, sizeof(start)); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen), *v = rocksdb_iter_value(it, &vlen);
        if (klen != 8 || vlen != 12) {
            ret = -EIO;
            break;
        }
        if ((ret = cb(ctx, xl_be64_get(k), (int64_t)xl_be64_get(v), xl_be32_get(v + 8))) != 0)
            break;
    }
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL)
        ret = take_error(rerr, "feed", NULL, 0);
    rocksdb_iter_destroy(it);
    return ret;
}

uint64_t xl_store_feed_last(xl_store_t *store)
{
    uint64_t last = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_FEED]);
    rocksdb_iter_seek_to_last(it);
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen == 8)
            last = xl_be64_get(k);
    }
    rocksdb_iter_destroy(it);
    return last;
}

int64_t xl_store_property(xl_store_t *store, const char *name)
{
    int64_t sum = 0;
    int known = 0;
    for (int i = 0; i != CF__COUNT; ++i) {
        uint64_t v;
        if (rocksdb_property_int_cf(store->db, store->cf[i], name, &v) == 0) {
            sum += (int64_t)v;
            known = 1;
        }
    }
    return known ? sum : -1;
}

/* Feed one length-prefixed field to the digest, so that no two entry sequences hash alike. */
static int digest_field(EVP_MD_CTX *md, const void *p, size_t len)
{
    unsigned char be[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                           (unsigned char)len};
    return EVP_DigestUpdate(md, be, sizeof(be)) == 1 && EVP_DigestUpdate(md, p, len) == 1 ? 0 : -ENOMEM;
}

int xl_store_digest(xl_store_t *store, char hex[XL_STORE_DIGEST_HEX_LEN + 1], char *err, size_t errlen)
{
    const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(store->db);
    rocksdb_readoptions_t *ropts = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sum[32];
    unsigned sumlen = 0;
    char *rerr = NULL;
    int ret = -ENOMEM;

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "sha256: cannot initialise");
        goto fail;
    }
    rocksdb_readoptions_set_snapshot(ropts, snap);
    rocksdb_readoptions_set_fill_cache(ropts, 0); /* a full scan must not evict the hot set */
    for (int i = 0; i != CF__COUNT; ++i) {
        if (!cf_defs[i].digest)
            continue;
        if (digest_field(md, cf_defs[i].name, strlen(cf_defs[i].name)) != 0)
            goto fail;
        it = rocksdb_create_iterator_cf(store->db, ropts, store->cf[i]);
        for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t klen, vlen;
            const char *k = rocksdb_iter_key(it, &klen);
            const char *v = rocksdb_iter_value(it, &vlen);
            if (digest_field(md, k, klen) != 0 || digest_field(md, v, vlen) != 0) {
                snprintf(err, errlen, "sha256: update failed");
                goto fail;
            }
        }
        rocksdb_iter_get_error(it, &rerr);
        if (rerr != NULL) {
            ret = take_error(rerr, cf_defs[i].name, err, errlen);
            goto fail;
        }
        rocksdb_iter_destroy(it);
        it = NULL;
    }
    if (EVP_DigestFinal_ex(md, sum, &sumlen) != 1 || sumlen != sizeof(sum)) {
        snprintf(err, errlen, "sha256: final failed");
        goto fail;
    }
    for (unsigned i = 0; i != sumlen; ++i)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    ret = 0;

fail:
    if (it != NULL)
        rocksdb_iter_destroy(it);
    EVP_MD_CTX_free(md);
    rocksdb_readoptions_destroy(ropts);
    rocksdb_release_snapshot(store->db, snap);
    return ret;
}

/* The write side. */

xl_store_batch_t *xl_store_batch_create(xl_store_t *store)
{
    xl_store_batch_t *batch = calloc(1, sizeof(*batch));
    if (batch == NULL)
        return NULL;
    batch->store = store;
    xl_buf_init(&batch->key);
    xl_buf_init(&batch->val);
    xl_buf_init(&batch->arena);
    if ((batch->wb = rocksdb_writebatch_create()) == NULL) {
        free(batch);
        return NULL;
    }
    return batch;
}

void xl_store_batch_destroy(xl_store_batch_t *batch)
{
    if (batch == NULL)
        return;
    rocksdb_writebatch_destroy(batch->wb);
    xl_buf_dispose(&batch->key);
    xl_buf_dispose(&batch->val);
    xl_buf_dispose(&batch->arena);
    free(batch->ops);
    free(batch->order);
    free(batch);
}

void xl_store_batch_clear(xl_store_batch_t *batch)
{
    batch->nops = 0;
    batch->nmarks = 0;
    xl_buf_reset(&batch->arena);
}

void xl_store_batch_mark(xl_store_batch_t *batch)
{
    if (batch->nmarks == BATCH_MARKS) { /* the oldest mark goes: never used that deep */
        memmove(&batch->marks[0], &batch->marks[1], sizeof(batch->marks[0]) * (BATCH_MARKS - 1));
        --batch->nmarks;
    }
    batch->marks[batch->nmarks].nops = batch->nops;
    batch->marks[batch->nmarks].arena_len = batch->arena.len;
    ++batch->nmarks;
}

void xl_store_batch_undo(xl_store_batch_t *batch)
{
    if (batch->nmarks == 0)
        return; /* no mark: nothing to undo */
    --batch->nmarks;
    batch->nops = batch->marks[batch->nmarks].nops;
    batch->arena.len = batch->marks[batch->nmarks].arena_len;
}

size_t xl_store_batch_count(xl_store_batch_t *batch)
{
    return batch->nops;
}

/* An operation of the batch as the commit sorts them: column family, the first 8 key bytes, then the rest. */
typedef struct st_xl_store_sorted_t {
    uint64_t head; /* the key's first 8 bytes, big-endian, 0-padded */
    uint32_t op;   /* index in ops: the tie-break that keeps the order of operations on one key */
    uint8_t cf;
} xl_store_sorted_t;

static int sorted_cmp(const void *a, const void *b, void *ctx)
{
    const xl_store_sorted_t *x = a, *y = b;
    const xl_store_batch_t *batch = ctx;
    if (x->cf != y->cf)
        return x->cf < y->cf ? -1 : 1;
    if (x->head != y->head)
        return x->head < y->head ? -1 : 1;
    const xl_store_op_t *ox = &batch->ops[x->op], *oy = &batch->ops[y->op];
    if (ox->klen > 8 || oy->klen > 8) {
        size_t n = ox->klen < oy->klen ? ox->klen : oy->klen;
        int c = n > 8 ? memcmp(batch->arena.base + ox->off + 8, batch->arena.base + oy->off + 8, n - 8) : 0;
        if (c != 0)
            return c;
    }
    if (ox->klen != oy->klen)
        return ox->klen < oy->klen ? -1 : 1;
    return x->op < y->op ? -1 : x->op > y->op;
}

/* Fill batch->wb with the operations, sorted (see st_xl_store_batch_t). @return 0 or -ENOMEM. */
static int batch_build(xl_store_batch_t *batch)
{
    if (batch->nops > batch->caporder) {
        xl_store_sorted_t *order = realloc(batch->order, batch->capops * sizeof(*order));
        if (order == NULL)
            return -ENOMEM;
        batch->order = order;
        batch->caporder = batch->capops;
    }
    for (size_t i = 0; i != batch->nops; ++i) {
        const xl_store_op_t *op = &batch->ops[i];
        const unsigned char *k = (const unsigned char *)batch->arena.base + op->off;
        uint64_t head = 0;
        for (size_t j = 0; j != 8; ++j)
            head = head << 8 | (j < op->klen ? k[j] : 0);
        batch->order[i] = (xl_store_sorted_t){head, (uint32_t)i, op->cf};
    }
    qsort_r(batch->order, batch->nops, sizeof(*batch->order), sorted_cmp, batch);
    rocksdb_writebatch_clear(batch->wb);
    for (size_t i = 0; i != batch->nops; ++i) {
        const xl_store_op_t *op = &batch->ops[batch->order[i].op];
        const char *k = batch->arena.base + op->off;
        rocksdb_column_family_handle_t *cf = batch->store->cf[op->cf];
        if (op->kind == XL_STORE_OP_PUT)
            rocksdb_writebatch_put_cf(batch->wb, cf, k, op->klen, k + op->klen, op->vlen);
        else if (op->kind == XL_STORE_OP_DELETE)
            rocksdb_writebatch_delete_cf(batch->wb, cf, k, op->klen);
        else
            rocksdb_writebatch_merge_cf(batch->wb, cf, k, op->klen, k + op->klen, op->vlen);
    }
    return 0;
}

/* Record one operation on batch->key with value (val, vlen) (copied). @return 0 or -ENOMEM. */
static int batch_op(xl_store_batch_t *batch, int cf, int kind, const void *val, size_t vlen)
{
    XL_ROOM_OR_RETURN(batch->ops, batch->nops, batch->capops, 1024);
    size_t off = batch->arena.len;
    if (xl_buf_append(&batch->arena, batch->key.base, batch->key.len) != 0 ||
        (vlen != 0 && xl_buf_append(&batch->arena, val, vlen) != 0)) {
        batch->arena.len = off;
        return -ENOMEM;
    }
    batch->ops[batch->nops++] =
        (xl_store_op_t){off, (uint32_t)batch->key.len, (uint32_t)vlen, (uint8_t)cf, (uint8_t)kind};
    return 0;
}

/* The batch copies key and value: the buffers are reused at once. */
static int batch_put(xl_store_batch_t *batch, int cf, const void *val, size_t vlen)
{
    return batch_op(batch, cf, XL_STORE_OP_PUT, val, vlen);
}

/* be32(partition) be64(offset), after prefix bytes already in val */
static int append_pos(xl_buf_t *val, const xl_pos_t *pos)
{
    if (xl_buf_append_be32(val, (uint32_t)pos->partition) != 0 || xl_buf_append_be64(val, (uint64_t)pos->offset) != 0)
        return -ENOMEM;
    return 0;
}

int xl_store_batch_put_state(xl_store_batch_t *batch, xl_codec_t *codec, const xl_state_t *st, char *err, size_t errlen)
{
    int ret;
    if ((ret = key_state(&batch->key, st->audit_id)) != 0) {
        snprintf(err, errlen, "out of memory");
        return ret;
    }
    xl_buf_reset(&batch->val);
    if ((ret = xl_state_encode(codec, st, &batch->val, err, errlen)) != 0)
        return ret;
    if ((ret = batch_put(batch, CF_STATE, batch->val.base, batch->val.len)) != 0)
        snprintf(err, errlen, "out of memory");
    return ret;
}

int xl_store_batch_put_event(xl_store_batch_t *batch, int64_t audit_id, uint32_t seq, const xl_pos_t *pos,
                             const void *frame, size_t len)
{
    xl_buf_reset(&batch->val);
    if (key_event(&batch->key, audit_id, seq) != 0 || append_pos(&batch->val, pos) != 0 ||
        xl_buf_append(&batch->val, frame, len) != 0)
        return -ENOMEM;
    return batch_put(batch, CF_EVENTS, batch->val.base, batch->val.len);
}

int xl_store_batch_put_event_seq(xl_store_batch_t *batch, int64_t audit_id, const char *event_id, size_t event_id_len,
                                 uint32_t seq, const xl_pos_t *pos)
{
    xl_buf_reset(&batch->val);
    if (key_event_seq(&batch->key, audit_id, event_id, event_id_len) != 0 ||
        xl_buf_append_be32(&batch->val, seq) != 0 || append_pos(&batch->val, pos) != 0)
        return -ENOMEM;
    return batch_put(batch, CF_IDEM, batch->val.base, batch->val.len);
}

int xl_store_batch_put_create(xl_store_batch_t *batch, const char *tenant_id, size_t tenant_len, const char *event_id,
                              size_t event_id_len, int64_t audit_id, const xl_pos_t *pos)
{
    int ret;
    if ((ret = key_create_prefix(&batch->key, tenant_id, tenant_len, event_id, event_id_len)) != 0)
        return ret;
    xl_buf_reset(&batch->val);
    if (xl_buf_append_be64(&batch->key, (uint64_t)audit_id) != 0 || append_pos(&batch->val, pos) != 0)
        return -ENOMEM;
    return batch_put(batch, CF_IDEM, batch->val.base, batch->val.len);
}

int xl_store_batch_put_offset(xl_store_batch_t *batch, const char *identity, int32_t partition, int64_t next_offset)
{
    unsigned char be[8];
    uint64_t v = (uint64_t)next_offset;
    for (int i = 7; i >= 0; --i, v >>= 8)
        be[i] = (unsigned char)v;
    if (key_offset(&batch->key, identity, partition) != 0)
        return -ENOMEM;
    if (batch_put(batch, CF_OFFSETS, be, sizeof(be)) != 0)
        return -ENOMEM;
    xl_buf_reset(&batch->key);
    if (xl_buf_append(&batch->key, META_IDENTITY, strlen(META_IDENTITY)) != 0)
        return -ENOMEM;
    return batch_put(batch, CF_META, identity, strlen(identity));
}

static int batch_delete(xl_store_batch_t *batch, int cf)
{
    return batch_op(batch, cf, XL_STORE_OP_DELETE, NULL, 0);
}

/* batch->key = the index key of st under prefix (ix, tenant scope, value) */
static int key_index(xl_buf_t *key, xl_index_t ix, const xl_str_t *tenant, const xl_str_t *str, int status, int64_t id,
                     const xl_state_t *st)
{
    int ret = xl_store_index_prefix(key, ix, tenant, str, status, id);
    if (ret != 0)
        return ret;
    return xl_buf_append_be64(key, ix_time(st->created_ms)) || xl_buf_append_be64(key, (uint64_t)st->audit_id) ? -ENOMEM
                                                                                                               : 0;
}

int xl_store_batch_put_index(xl_store_batch_t *batch, const xl_state_t *st, int old_status)
{
    const xl_str_t no_tenant = {NULL, 0};
    const xl_str_t *tenant = st->tenant_id.base != NULL ? &st->tenant_id : &no_tenant;
    const xl_str_t *scopes[2] = {tenant, NULL};

    if (old_status != XL_STATUS_NONE) {
        if (old_status == st->status)
            return 0;
        /* the only key that moves: everything else comes from the create */
        for (int i = 0; i != 2; ++i) {
            if (key_index(&batch->key, XL_IX_STATUS, scopes[i], NULL, old_status, 0, st) != 0)
                return -ENOMEM;
            if (batch_delete(batch, CF_INDEX) != 0 ||
                key_index(&batch->key, XL_IX_STATUS, scopes[i], NULL, st->status, 0, st) != 0 ||
                batch_put(batch, CF_INDEX, "", 0) != 0)
                return -ENOMEM;
        }
        return 0;
    }
    for (int i = 0; i != 2; ++i) {
        if (key_index(&batch->key, XL_IX_ALL, scopes[i], NULL, 0, 0, st) != 0)
            return -ENOMEM;
        if (batch_put(batch, CF_INDEX, "", 0) != 0)
            return -ENOMEM;
        if (key_index(&batch->key, XL_IX_FLOW, scopes[i], &st->flow_id, 0, 0, st) != 0)
            return -ENOMEM;
        if (batch_put(batch, CF_INDEX, "", 0) != 0)
            return -ENOMEM;
        if (key_index(&batch->key, XL_IX_STATUS, scopes[i], NULL, st->status, 0, st) != 0)
            return -ENOMEM;
        if (batch_put(batch, CF_INDEX, "", 0) != 0)
            return -ENOMEM;
        if (st->message_id.base != NULL) {
            if (key_index(&batch->key, XL_IX_MESSAGE, scopes[i], &st->message_id, 0, 0, st) != 0)
                return -ENOMEM;
            if (batch_put(batch, CF_INDEX, "", 0) != 0)
                return -ENOMEM;
        }
    }
    const struct {
        xl_index_t ix;
        int64_t id;
    } by_id[] = {
        {XL_IX_RETRIES, st->parent_audit_id},
        {XL_IX_CHILDREN, st->parent_execution_id},
        {XL_IX_LINEAGE, st->root_audit_id},
        {XL_IX_TREE, st->top_execution_id},
    };
    for (size_t i = 0; i != sizeof(by_id) / sizeof(by_id[0]); ++i) {
        if (by_id[i].id == 0)
            continue;
        if (key_index(&batch->key, by_id[i].ix, NULL, NULL, 0, by_id[i].id, st) != 0)
            return -ENOMEM;
        if (batch_put(batch, CF_INDEX, "", 0) != 0)
            return -ENOMEM;
    }
    return 0;
}

int xl_store_batch_add_flow(xl_store_batch_t *batch, const xl_str_t *tenant, const xl_str_t *flow_id,
                            const xl_store_flow_delta_t *delta, char *err, size_t errlen)
{
    int ret;
    xl_buf_reset(&batch->val);
    if ((ret = key_agg(&batch->key, tenant, flow_id)) != 0 || (ret = agg_encode(&batch->val, delta)) != 0) {
        snprintf(err, errlen, "flow aggregates: out of memory");
        return ret;
    }
    /* a merge, not a read-add-put: deltas of concurrent batches add up in any order (agg_merge) */
    if ((ret = batch_op(batch, CF_AGG, XL_STORE_OP_MERGE, batch->val.base, batch->val.len)) != 0)
        snprintf(err, errlen, "flow aggregates: out of memory");
    return ret;
}

int xl_store_batch_put_feed(xl_store_batch_t *batch, uint64_t feed_seq, int64_t audit_id, uint32_t seq)
{
    xl_buf_reset(&batch->key);
    xl_buf_reset(&batch->val);
    if (xl_buf_append_be64(&batch->key, feed_seq) != 0 || xl_buf_append_be64(&batch->val, (uint64_t)audit_id) != 0 ||
        xl_buf_append_be32(&batch->val, seq) != 0)
        return -ENOMEM;
    return batch_put(batch, CF_FEED, batch->val.base, batch->val.len);
}

int xl_store_batch_commit(xl_store_batch_t *batch, char *err, size_t errlen)
{
    char *rerr = NULL, have[32], need[32];
    uint64_t bytes;
    /* never let the WAL append meet a full disk (see the top of the file) */
    if (free_space(batch->store->dir, &bytes) == 0 && bytes < MIN_FREE_BYTES) {
        snprintf(err, errlen, "no space left on device: %s free in %s; writes resume once %s are free",
                 format_bytes(bytes, have, sizeof(have)), batch->store->dir,
                 format_bytes(MIN_FREE_BYTES, need, sizeof(need)));
        return -ENOSPC;
    }
    if (batch_build(batch) != 0) {
        snprintf(err, errlen, "write batch: out of memory");
        return -EIO;
    }
    rocksdb_write(batch->store->db, batch->store->wopts, batch->wb, &rerr);
    if (rerr != NULL && strstr(rerr, "No space left on device") != NULL) {
        /* the one thing an operator can do about it, said where it is seen (/readyz, the log) */
        snprintf(err, errlen, "write batch: %s (writes resume by themselves once %s are free)", rerr,
                 format_bytes(MIN_FREE_BYTES, need, sizeof(need)));
        rocksdb_free(rerr);
        return -EIO;
    }
    if (rerr != NULL)
        return take_error(rerr, "write batch", err, errlen);
    rocksdb_writebatch_clear(batch->wb);
    xl_store_batch_clear(batch);
    return 0;
}

/* ---- rebuild support ---- */

static int put_meta_sync(xl_store_t *store, const char *key, const void *val, size_t len, const char *what, char *err,
                         size_t errlen)
{
    char *rerr = NULL;
    if (val != NULL)
        rocksdb_put_cf(store->db, store->sync_wopts, store->cf[CF_META], key, strlen(key), val, len, &rerr);
    else
        rocksdb_delete_cf(store->db, store->sync_wopts, store->cf[CF_META], key, strlen(key), &rerr);
    return rerr != NULL ? take_error(rerr, what, err, errlen) : 0;
}

int xl_store_reset(xl_store_t *store, xl_store_reset_t what, char *err, size_t errlen)
{
    static const int derived[] = {CF_STATE, CF_IDEM, CF_INDEX, CF_AGG, CF_FEED};
    static const int all[] = {CF_STATE, CF_EVENTS, CF_IDEM, CF_INDEX, CF_AGG, CF_FEED, CF_OFFSETS};
    const int *cfs = what == XL_STORE_RESET_ALL ? all : derived;
    size_t ncfs = what == XL_STORE_RESET_ALL ? sizeof(all) / sizeof(all[0]) : sizeof(derived) / sizeof(derived[0]);
    char *rerr = NULL;
    int ret;

    /* the mark first, durably: from here on a crash leaves a store execlogd refuses */
    if ((ret = put_meta_sync(store, META_REBUILD, "1", 1, "write rebuild mark", err, errlen)) != 0)
        return ret;
    if (what == XL_STORE_RESET_ALL &&
        (ret = put_meta_sync(store, META_IDENTITY, NULL, 0, "forget the log identity", err, errlen)) != 0)
        return ret;
    for (size_t i = 0; i != ncfs; ++i) {
        int cf = cfs[i];
        rocksdb_drop_column_family(store->db, store->cf[cf], &rerr);
        if (rerr != NULL)
            return take_error(rerr, cf_defs[cf].name, err, errlen);
        rocksdb_column_family_handle_destroy(store->cf[cf]);
        store->cf[cf] = rocksdb_create_column_family(store->db, store->cf_opts[cf], cf_defs[cf].name, &rerr);
        if (rerr != NULL) {
            store->cf[cf] = NULL;
            return take_error(rerr, cf_defs[cf].name, err, errlen);
        }
    }
    return 0;
}

int xl_store_rebuild_done(xl_store_t *store, char *err, size_t errlen)
{
    rocksdb_flushoptions_t *fopts = rocksdb_flushoptions_create();
    char *rerr = NULL;
    int ret = 0;

    /* the rebuild wrote without the WAL: its memtables must reach the SST files first */
    rocksdb_flushoptions_set_wait(fopts, 1);
    for (int i = 0; i != CF__COUNT && rerr == NULL; ++i)
        rocksdb_flush_cf(store->db, fopts, store->cf[i], &rerr);
    rocksdb_flushoptions_destroy(fopts);
    if (rerr != NULL)
        return take_error(rerr, "flush", err, errlen);
    uint64_t fp = xl_state_schema_fingerprint();
    unsigned char be[8];
    for (int i = 7; i >= 0; --i, fp >>= 8)
        be[i] = (unsigned char)fp;
    if ((ret = put_meta_sync(store, META_STATE_FP, be, sizeof(be), "write state_fp", err, errlen)) != 0)
        return ret;
    return put_meta_sync(store, META_REBUILD, NULL, 0, "clear rebuild mark", err, errlen);
}
