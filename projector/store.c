/*
 * The RocksDB store of the projections (see store.h for the layout).
 *
 * One table below describes the column families and how each is tuned:
 * point-read families get a bloom filter, all share one LRU block cache, and
 * data is lz4-compressed when the library was built with lz4 (else not).
 * Every rocksdb error string is copied into (err, errlen) and freed where it
 * is returned. This file never decides what goes into the projections; the
 * projector does, and writes through xl_store_batch_t only.
 */
#include "projector/store.h"

#include <errno.h>
#include <openssl/evp.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/log.h"

#define BLOCK_CACHE_BYTES ((size_t)64 << 20)
#define BLOOM_BITS_PER_KEY 10.0

#define META_IDENTITY "cluster"
#define META_STATE_FP "state_fp"

enum { CF_META, CF_STATE, CF_EVENTS, CF_IDEM, CF_OFFSETS, CF__COUNT };

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
    [CF_OFFSETS] = {"offsets",   1,     0},
};
/* clang-format on */

struct st_xl_store_t {
    rocksdb_t *db;
    rocksdb_cache_t *cache;
    rocksdb_options_t *db_opts;
    rocksdb_options_t *cf_opts[CF__COUNT];
    rocksdb_column_family_handle_t *cf[CF__COUNT];
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;
};

struct st_xl_store_batch_t {
    xl_store_t *store;
    rocksdb_writebatch_t *wb;
    xl_buf_t key;
    xl_buf_t val;
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

static void make_options(xl_store_t *store, int compression)
{
    store->db_opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(store->db_opts, 1);
    rocksdb_options_set_create_missing_column_families(store->db_opts, 1);
    rocksdb_options_increase_parallelism(store->db_opts, 2);
    rocksdb_options_set_compression(store->db_opts, compression);

    for (int i = 0; i != CF__COUNT; ++i) {
        rocksdb_block_based_table_options_t *bbto = rocksdb_block_based_options_create();
        rocksdb_block_based_options_set_block_cache(bbto, store->cache);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(bbto, 1);
        if (cf_defs[i].bloom) /* the table options take ownership of the policy */
            rocksdb_block_based_options_set_filter_policy(bbto,
                                                          rocksdb_filterpolicy_create_bloom_full(BLOOM_BITS_PER_KEY));
        store->cf_opts[i] = rocksdb_options_create_copy(store->db_opts);
        rocksdb_options_set_block_based_table_factory(store->cf_opts[i], bbto); /* copies bbto */
        rocksdb_block_based_options_destroy(bbto);
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

xl_store_t *xl_store_open(const char *dir, int sync_writes, char *err, size_t errlen)
{
    xl_store_t *store = NULL;
    char *rerr = NULL;

    if ((store = calloc(1, sizeof(*store))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    store->cache = rocksdb_cache_create_lru(BLOCK_CACHE_BYTES);
    store->ropts = rocksdb_readoptions_create();
    store->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(store->wopts, sync_writes ? 1 : 0);

    if (open_db(store, dir, rocksdb_lz4_compression, &rerr) != 0) {
        /* a librocksdb built without lz4 refuses the option at open: fall back to none */
        if (strstr(rerr, "ompression") == NULL) {
            take_error(rerr, dir, err, errlen);
            goto fail;
        }
        xl_log_warn("projector", "rocksdb has no lz4 (%s); storing uncompressed", rerr);
        rocksdb_free(rerr);
        rerr = NULL;
        if (open_db(store, dir, rocksdb_no_compression, &rerr) != 0) {
            take_error(rerr, dir, err, errlen);
            goto fail;
        }
    }
    if (check_state_fp(store, err, errlen) != 0)
        goto fail;
    return store;

fail:
    xl_store_close(store);
    return NULL;
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
    if (store->ropts != NULL)
        rocksdb_readoptions_destroy(store->ropts);
    if (store->cache != NULL)
        rocksdb_cache_destroy(store->cache);
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
                           uint32_t *seq, xl_store_pos_t *pos)
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
                         size_t event_id_len, int64_t *audit_id, xl_store_pos_t *pos)
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
    rocksdb_iter_seek(it, prefix.base, prefix.len);
    ret = -ENOENT;
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen == prefix.len + 8 && memcmp(k, prefix.base, prefix.len) == 0) {
            size_t vlen;
            const char *v = rocksdb_iter_value(it, &vlen);
            *audit_id = (int64_t)xl_be64_get(k + prefix.len);
            ret = vlen == 12 ? 0 : -EIO;
            if (ret == 0 && pos != NULL) {
                pos->partition = (int32_t)xl_be32_get(v);
                pos->offset = (int64_t)xl_be64_get(v + 4);
            }
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
    xl_buf_t key;
    int ret;

    xl_buf_init(&key);
    if ((ret = key_event(&key, audit_id, seq)) == 0)
        ret = get_into(store, CF_EVENTS, &key, out, NULL, 0);
    xl_buf_dispose(&key);
    return ret;
}

int xl_store_scan_events(xl_store_t *store, int64_t audit_id, uint32_t from_seq, xl_store_event_cb cb, void *ctx)
{
    rocksdb_iterator_t *it = NULL;
    char *rerr = NULL;
    xl_buf_t key;
    int ret;

    xl_buf_init(&key);
    if ((ret = key_event(&key, audit_id, from_seq)) != 0)
        goto fail;
    it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_EVENTS]);
    for (rocksdb_iter_seek(it, key.base, key.len); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != 12 || memcmp(k, key.base, 8) != 0)
            break; /* past this execution */
        const char *v = rocksdb_iter_value(it, &vlen);
        if ((ret = cb(ctx, xl_be32_get(k + 8), v, vlen)) != 0)
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
    batch->wb = rocksdb_writebatch_create();
    xl_buf_init(&batch->key);
    xl_buf_init(&batch->val);
    return batch;
}

void xl_store_batch_destroy(xl_store_batch_t *batch)
{
    if (batch == NULL)
        return;
    rocksdb_writebatch_destroy(batch->wb);
    xl_buf_dispose(&batch->key);
    xl_buf_dispose(&batch->val);
    free(batch);
}

void xl_store_batch_clear(xl_store_batch_t *batch)
{
    rocksdb_writebatch_clear(batch->wb);
}

size_t xl_store_batch_count(xl_store_batch_t *batch)
{
    return (size_t)rocksdb_writebatch_count(batch->wb);
}

/* The write batch copies key and value: the buffers are reused at once. */
static void batch_put(xl_store_batch_t *batch, int cf, const void *val, size_t vlen)
{
    rocksdb_writebatch_put_cf(batch->wb, batch->store->cf[cf], batch->key.base, batch->key.len, val, vlen);
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
    batch_put(batch, CF_STATE, batch->val.base, batch->val.len);
    return 0;
}

int xl_store_batch_put_event(xl_store_batch_t *batch, int64_t audit_id, uint32_t seq, const void *frame, size_t len)
{
    if (key_event(&batch->key, audit_id, seq) != 0)
        return -ENOMEM;
    batch_put(batch, CF_EVENTS, frame, len);
    return 0;
}

/* be32(partition) be64(offset), after prefix bytes already in val */
static int append_pos(xl_buf_t *val, const xl_store_pos_t *pos)
{
    if (xl_buf_append_be32(val, (uint32_t)pos->partition) != 0 || xl_buf_append_be64(val, (uint64_t)pos->offset) != 0)
        return -ENOMEM;
    return 0;
}

int xl_store_batch_put_event_seq(xl_store_batch_t *batch, int64_t audit_id, const char *event_id, size_t event_id_len,
                                 uint32_t seq, const xl_store_pos_t *pos)
{
    xl_buf_reset(&batch->val);
    if (key_event_seq(&batch->key, audit_id, event_id, event_id_len) != 0 || xl_buf_append_be32(&batch->val, seq) != 0 ||
        append_pos(&batch->val, pos) != 0)
        return -ENOMEM;
    batch_put(batch, CF_IDEM, batch->val.base, batch->val.len);
    return 0;
}

int xl_store_batch_put_create(xl_store_batch_t *batch, const char *tenant_id, size_t tenant_len, const char *event_id,
                              size_t event_id_len, int64_t audit_id, const xl_store_pos_t *pos)
{
    int ret;
    if ((ret = key_create_prefix(&batch->key, tenant_id, tenant_len, event_id, event_id_len)) != 0)
        return ret;
    xl_buf_reset(&batch->val);
    if (xl_buf_append_be64(&batch->key, (uint64_t)audit_id) != 0 || append_pos(&batch->val, pos) != 0)
        return -ENOMEM;
    batch_put(batch, CF_IDEM, batch->val.base, batch->val.len);
    return 0;
}

int xl_store_batch_put_offset(xl_store_batch_t *batch, const char *identity, int32_t partition, int64_t next_offset)
{
    unsigned char be[8];
    uint64_t v = (uint64_t)next_offset;
    for (int i = 7; i >= 0; --i, v >>= 8)
        be[i] = (unsigned char)v;
    if (key_offset(&batch->key, identity, partition) != 0)
        return -ENOMEM;
    batch_put(batch, CF_OFFSETS, be, sizeof(be));
    xl_buf_reset(&batch->key);
    if (xl_buf_append(&batch->key, META_IDENTITY, strlen(META_IDENTITY)) != 0)
        return -ENOMEM;
    batch_put(batch, CF_META, identity, strlen(identity));
    return 0;
}

int xl_store_batch_commit(xl_store_batch_t *batch, char *err, size_t errlen)
{
    char *rerr = NULL;
    rocksdb_write(batch->store->db, batch->store->wopts, batch->wb, &rerr);
    if (rerr != NULL)
        return take_error(rerr, "write batch", err, errlen);
    rocksdb_writebatch_clear(batch->wb);
    return 0;
}
