/*
 * The batch fold (see fold.h). The batch keeps a small hash map of byte
 * keys: 'x' be64(audit_id) -> the execution's in-batch state,
 * 'e' be64(audit_id) event_id -> applied earlier in this batch, and at
 * commit 'f' scope flow -> the batch's change to that flow's aggregates.
 * A state is read from the store once per batch and written once per batch,
 * with its index entries and its share of the aggregates derived from the
 * state before and after the batch (so the derived data depends on each
 * execution's events only, never on how partitions interleave).
 *
 * It must never talk to Kafka and never write the store outside
 * xl_fold_commit: a batch is all or nothing.
 */
#include "projector/fold.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projector/apply.h"
#include "schemas/base/array.h"

/* The feed's last seq written, under its mutex (see fold.h). */
struct st_xl_fold_feed_t {
    pthread_mutex_t mutex;
    uint64_t last;
};

/* An event the batch feeds, numbered when the batch is written. */
typedef struct st_xl_fold_fed_t {
    int64_t audit_id;
    uint32_t seq;
} xl_fold_fed_t;

/* An execution touched by the batch: its state as folded so far. */
typedef struct st_xl_fold_exec_t {
    xl_state_t st;
    int exists;     /* st holds the execution */
    int stored;     /* it existed in the store before this batch */
    int old_status; /* its status before this batch (stored only) */
    int64_t old_duration; /* its duration then, if it had ended (its histogram sample) */
    int dirty;      /* st must be written */
} xl_fold_exec_t;

static int64_t duration_of(const xl_state_t *st);

/* The batch's change to the aggregates of one flow in one scope. */
typedef struct st_xl_fold_flow_t {
    xl_str_t tenant; /* borrowed from an execution of the batch */
    xl_str_t flow_id;
    int all; /* across tenants (tenant unused) */
    int64_t total, by_status[XL_STATUS__COUNT];
    int64_t latest_created_ms, latest_audit_id;
} xl_fold_flow_t;

/* One duration entering a flow's histogram. */
typedef struct st_xl_fold_hist_t {
    size_t flow; /* index in fold->flows */
    int bucket;
    int delta; /* +1 a sample, -1 one taken back (an ended execution that runs again) */
} xl_fold_hist_t;

/* Open addressing, linear probing; key bytes live in one arena; emptied per batch. */
typedef struct st_xl_fold_slot_t {
    uint64_t hash;
    size_t off, len;
    size_t val;
    int used;
} xl_fold_slot_t;

typedef struct st_xl_fold_map_t {
    xl_fold_slot_t *slots;
    size_t cap, n;
    xl_buf_t arena;
} xl_fold_map_t;

struct st_xl_fold_t {
    xl_store_t *store;
    xl_codec_t *codec;
    xl_store_batch_t *batch;
    xl_fold_exec_t *execs;
    size_t nexecs, capexecs;
    xl_fold_map_t map;
    xl_buf_t key;
    xl_fold_offset_t *offsets;
    size_t noffsets, capoffsets;
    size_t nmsgs;
    /* the feed: its counter (own_feed, or shared with other folds), and the events the batch feeds */
    xl_fold_feed_t *feed, *own_feed;
    xl_fold_fed_t *fed;
    size_t nfed, capfed;
    int keep_archive; /* the archive holds the events already (a rebuild) */
    uint64_t *fresh;  /* xl_fold_fresh_store: a bloom filter of the keys written (NULL: not fresh) */
    int built;        /* the commit's puts are in the batch: a retried commit only writes */
    /* commit scratch: the flows the batch changed (found through fmap), durations ending */
    xl_fold_map_t fmap;
    xl_fold_flow_t *flows;
    size_t nflows, capflows;
    xl_fold_hist_t *hist;
    size_t nhist, caphist;
    xl_store_flow_delta_t *delta;
};

/* ---- the map ---- */

static uint64_t hash_bytes(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i != len; ++i)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static xl_fold_slot_t *map_slot(xl_fold_map_t *map, uint64_t hash, const void *key, size_t len)
{
    for (size_t i = hash & (map->cap - 1);; i = (i + 1) & (map->cap - 1)) {
        xl_fold_slot_t *slot = &map->slots[i];
        if (!slot->used ||
            (slot->hash == hash && slot->len == len && memcmp(map->arena.base + slot->off, key, len) == 0))
            return slot;
    }
}

static int map_find(xl_fold_map_t *map, const xl_buf_t *key, size_t *val)
{
    if (map->n == 0)
        return -ENOENT;
    xl_fold_slot_t *slot = map_slot(map, hash_bytes(key->base, key->len), key->base, key->len);
    if (!slot->used)
        return -ENOENT;
    *val = slot->val;
    return 0;
}

static int map_grow(xl_fold_map_t *map)
{
    size_t cap = map->cap != 0 ? map->cap * 2 : 1024;
    xl_fold_slot_t *old = map->slots, *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i != map->cap; ++i) {
        if (!old[i].used)
            continue;
        size_t j = old[i].hash & (cap - 1);
        while (slots[j].used)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    free(old);
    map->slots = slots;
    map->cap = cap;
    return 0;
}

/* Insert key, which must be absent. */
static int map_put(xl_fold_map_t *map, const xl_buf_t *key, size_t val)
{
    if ((map->n + 1) * 2 > map->cap && map_grow(map) != 0)
        return -ENOMEM;
    uint64_t hash = hash_bytes(key->base, key->len);
    xl_fold_slot_t *slot = map_slot(map, hash, key->base, key->len);
    size_t off = map->arena.len;
    if (xl_buf_append(&map->arena, key->base, key->len) != 0)
        return -ENOMEM;
    *slot = (xl_fold_slot_t){hash, off, key->len, val, 1};
    ++map->n;
    return 0;
}

static void map_clear(xl_fold_map_t *map)
{
    if (map->n != 0)
        memset(map->slots, 0, map->cap * sizeof(*map->slots));
    map->n = 0;
    xl_buf_reset(&map->arena);
}

static int make_key(xl_buf_t *key, char tag, int64_t audit_id, const xl_str_t *event_id)
{
    xl_buf_reset(key);
    if (xl_buf_append(key, &tag, 1) != 0 || xl_buf_append_be64(key, (uint64_t)audit_id) != 0)
        return -ENOMEM;
    if (event_id != NULL && xl_buf_append(key, event_id->base, event_id->len) != 0)
        return -ENOMEM;
    return 0;
}

/* 'c' be32(partition) be32(len) tenant event_id: a create's idempotency key within the batch */
static int make_create_key(xl_buf_t *key, int32_t partition, const xl_event_t *ev)
{
    static const char tag = 'c';
    xl_buf_reset(key);
    if (xl_buf_append(key, &tag, 1) != 0 || xl_buf_append_be32(key, (uint32_t)partition) != 0 ||
        xl_buf_append_be32(key, (uint32_t)ev->tenant_id.len) != 0 ||
        xl_buf_append(key, ev->tenant_id.base, ev->tenant_id.len) != 0 ||
        xl_buf_append(key, ev->event_id.base, ev->event_id.len) != 0)
        return -ENOMEM;
    return 0;
}

/* ---- lifecycle ---- */

xl_fold_t *xl_fold_create(xl_store_t *store, char *err, size_t errlen)
{
    xl_fold_t *fold = calloc(1, sizeof(*fold));
    if (fold == NULL)
        goto nomem;
    fold->store = store;
    xl_buf_init(&fold->key);
    xl_buf_init(&fold->map.arena);
    xl_buf_init(&fold->fmap.arena);
    if ((fold->batch = xl_store_batch_create(store)) == NULL)
        goto nomem;
    if ((fold->codec = xl_codec_create(err, errlen)) == NULL)
        goto fail;
    if ((fold->delta = malloc(sizeof(*fold->delta))) == NULL)
        goto nomem;
    if ((fold->feed = fold->own_feed = xl_fold_feed_create(store)) == NULL)
        goto nomem;
    return fold;

nomem:
    snprintf(err, errlen, "fold: out of memory");
fail:
    xl_fold_destroy(fold);
    return NULL;
}

void xl_fold_destroy(xl_fold_t *fold)
{
    if (fold == NULL)
        return;
    if (fold->batch != NULL)
        xl_fold_reset(fold);
    xl_store_batch_destroy(fold->batch);
    if (fold->codec != NULL)
        xl_codec_destroy(fold->codec);
    free(fold->map.slots);
    xl_buf_dispose(&fold->map.arena);
    free(fold->fmap.slots);
    xl_buf_dispose(&fold->fmap.arena);
    xl_buf_dispose(&fold->key);
    free(fold->execs);
    free(fold->offsets);
    free(fold->flows);
    free(fold->hist);
    free(fold->delta);
    free(fold->fed);
    free(fold->fresh);
    xl_fold_feed_destroy(fold->own_feed);
    free(fold);
}

xl_fold_feed_t *xl_fold_feed_create(xl_store_t *store)
{
    xl_fold_feed_t *feed = calloc(1, sizeof(*feed));
    if (feed == NULL)
        return NULL;
    pthread_mutex_init(&feed->mutex, NULL);
    feed->last = xl_store_feed_last(store);
    return feed;
}

void xl_fold_feed_destroy(xl_fold_feed_t *feed)
{
    if (feed == NULL)
        return;
    pthread_mutex_destroy(&feed->mutex);
    free(feed);
}

void xl_fold_share_feed(xl_fold_t *fold, xl_fold_feed_t *feed)
{
    fold->feed = feed;
}

void xl_fold_reset(xl_fold_t *fold)
{
    for (size_t i = 0; i != fold->nexecs; ++i)
        if (fold->execs[i].exists)
            xl_state_dispose(&fold->execs[i].st);
    fold->nexecs = 0;
    map_clear(&fold->map);
    fold->noffsets = 0;
    fold->nmsgs = 0;
    fold->nfed = 0;
    fold->nflows = 0;
    fold->nhist = 0;
    fold->built = 0;
    xl_store_batch_clear(fold->batch);
}

void xl_fold_keep_archive(xl_fold_t *fold)
{
    fold->keep_archive = 1;
}

/*
 * A fresh store (xl_fold_fresh_store) holds only what this fold wrote: the
 * fold remembers the keys of what it wrote (states, idempotency keys, creates
 * by tenant and event ID) in a bloom filter, and a read of a key the filter
 * has never seen is answered "absent" without asking the store. A false
 * positive only costs the read; the filter is never cleared, since a key once
 * written stays (and one of a batch that was not written only costs a read).
 */
#define FRESH_BITS ((size_t)1 << 26) /* 8 MiB: under 5% false positives up to 10 million keys */
#define FRESH_HASHES 4

int xl_fold_fresh_store(xl_fold_t *fold)
{
    if (fold->fresh == NULL && (fold->fresh = calloc(FRESH_BITS / 64, sizeof(uint64_t))) == NULL)
        return -ENOMEM;
    return 0;
}

/* The i-th bit of key in the filter (double hashing). */
static size_t fresh_bit(uint64_t h1, uint64_t h2, int i)
{
    return (size_t)(h1 + (uint64_t)i * h2) & (FRESH_BITS - 1);
}

static void fresh_hashes(const xl_buf_t *key, uint64_t *h1, uint64_t *h2)
{
    uint64_t h = hash_bytes(key->base, key->len);
    *h1 = h;
    h ^= h >> 33; /* a second, independent-enough hash: murmur's finalizer of the first */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    *h2 = h | 1;
}

/* Remember that key was written (nothing when the store is not fresh). */
static void fresh_add(xl_fold_t *fold, const xl_buf_t *key)
{
    uint64_t h1, h2;
    if (fold->fresh == NULL)
        return;
    fresh_hashes(key, &h1, &h2);
    for (int i = 0; i != FRESH_HASHES; ++i) {
        size_t bit = fresh_bit(h1, h2, i);
        fold->fresh[bit / 64] |= (uint64_t)1 << (bit % 64);
    }
}

/* 0: the store cannot hold key (fresh, and never written); 1: it may, ask it. */
static int fresh_may_hold(const xl_fold_t *fold, const xl_buf_t *key)
{
    uint64_t h1, h2;
    if (fold->fresh == NULL)
        return 1;
    fresh_hashes(key, &h1, &h2);
    for (int i = 0; i != FRESH_HASHES; ++i) {
        size_t bit = fresh_bit(h1, h2, i);
        if (!(fold->fresh[bit / 64] & (uint64_t)1 << (bit % 64)))
            return 0;
    }
    return 1;
}

size_t xl_fold_count(const xl_fold_t *fold)
{
    return fold->nmsgs;
}

const xl_fold_offset_t *xl_fold_offsets(const xl_fold_t *fold, size_t *n)
{
    *n = fold->noffsets;
    return fold->offsets;
}

void xl_fold_each_changed(const xl_fold_t *fold, void (*fn)(void *ctx, int64_t audit_id), void *ctx)
{
    for (size_t i = 0; i != fold->nexecs; ++i)
        if (fold->execs[i].dirty)
            fn(ctx, fold->execs[i].st.audit_id);
}

/* ---- folding ---- */

static int note_offset(xl_fold_t *fold, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i != fold->noffsets; ++i) {
        if (fold->offsets[i].partition == partition) {
            if (offset + 1 > fold->offsets[i].next_offset)
                fold->offsets[i].next_offset = offset + 1;
            return 0;
        }
    }
    XL_ROOM_OR_RETURN(fold->offsets, fold->noffsets, fold->capoffsets, 16);
    fold->offsets[fold->noffsets++] = (xl_fold_offset_t){partition, offset + 1};
    return 0;
}

/* The execution audit_id as folded so far in this batch, read from the store on first use. */
static int batch_exec(xl_fold_t *fold, int64_t audit_id, xl_fold_exec_t **out, char *err, size_t errlen)
{
    size_t idx;
    int ret;

    if ((ret = make_key(&fold->key, 'x', audit_id, NULL)) != 0)
        return ret;
    if (map_find(&fold->map, &fold->key, &idx) == 0) {
        *out = &fold->execs[idx];
        return 0;
    }
    XL_ROOM_OR_RETURN(fold->execs, fold->nexecs, fold->capexecs, 64);
    xl_fold_exec_t *exec = &fold->execs[fold->nexecs];
    memset(exec, 0, sizeof(*exec));
    ret = audit_id > 0 && fresh_may_hold(fold, &fold->key)
              ? xl_store_get_state(fold->store, fold->codec, audit_id, &exec->st, err, errlen)
              : -ENOENT;
    fresh_add(fold, &fold->key); /* written at the commit if it changes (a key too many only costs a read) */
    exec->old_status = XL_STATUS_NONE;
    if (ret == 0) {
        exec->exists = exec->stored = 1;
        exec->old_status = exec->st.status;
        exec->old_duration = duration_of(&exec->st);
    } else if (ret != -ENOENT)
        return ret;
    if ((ret = map_put(&fold->map, &fold->key, fold->nexecs)) != 0) {
        if (exec->exists)
            xl_state_dispose(&exec->st);
        return ret;
    }
    ++fold->nexecs;
    *out = exec;
    return 0;
}

/*
 * Was a create of (tenant, event_id) applied before from the same partition,
 * under any audit ID? The first one of a partition is the execution; a later
 * copy there (the same create sent to two ingest nodes, which route every
 * copy to one partition: ingest/ingest.c) is a duplicate. Order within a
 * partition is the same on every replica; copies on different partitions
 * (another producer) stay separate executions, whatever the interleaving.
 */
static int create_seen(xl_fold_t *fold, int32_t partition, const xl_event_t *ev, int *seen)
{
    size_t unused;
    int64_t winner;
    int ret;
    if ((ret = make_create_key(&fold->key, partition, ev)) != 0)
        return ret;
    if (map_find(&fold->map, &fold->key, &unused) == 0) {
        *seen = 1;
        return 0;
    }
    if ((ret = make_create_key(&fold->key, -1, ev)) != 0) /* any partition: the filter's key */
        return ret;
    if (!fresh_may_hold(fold, &fold->key))
        return 0;
    ret = xl_store_find_create(fold->store, ev->tenant_id.base, ev->tenant_id.len, ev->event_id.base, ev->event_id.len,
                               partition, &winner, NULL);
    if (ret == 0)
        *seen = 1;
    return ret == -ENOENT ? 0 : ret;
}

/* Was (audit_id, event_id) applied before: earlier in this batch, or in the store? */
static int batch_seen(xl_fold_t *fold, int32_t partition, const xl_fold_exec_t *exec, const xl_event_t *ev,
                      int *seen)
{
    size_t unused;
    uint32_t seq;
    int ret;

    *seen = 0;
    if (ev->event_id.len == 0) /* no idempotency key was given: every delivery counts */
        return 0;
    if (ev->type == XL_EVENT_CREATED && !exec->exists)
        return create_seen(fold, partition, ev, seen);
    if ((ret = make_key(&fold->key, 'e', ev->audit_id, &ev->event_id)) != 0)
        return ret;
    if (map_find(&fold->map, &fold->key, &unused) == 0) {
        *seen = 1;
        return 0;
    }
    if (!exec->stored || !fresh_may_hold(fold, &fold->key)) /* a new execution has no history in the store */
        return 0;
    ret = xl_store_get_event_seq(fold->store, ev->audit_id, ev->event_id.base, ev->event_id.len, &seq, NULL);
    if (ret == 0)
        *seen = 1;
    return ret == -ENOENT ? 0 : ret;
}

/* Note that the batch feeds (audit_id, seq): numbered when it is written (write_fed). */
static int batch_feed(xl_fold_t *fold, int64_t audit_id, uint32_t seq)
{
    XL_ROOM_OR_RETURN(fold->fed, fold->nfed, fold->capfed, 64);
    fold->fed[fold->nfed++] = (xl_fold_fed_t){audit_id, seq};
    return 0;
}

/* Archive the frame under seq, feed it and index the event. */
static int batch_archive(xl_fold_t *fold, const xl_fold_msg_t *msg, const xl_event_t *ev, int outcome, uint32_t seq)
{
    const xl_pos_t pos = {msg->partition, msg->offset};
    int ret;
    if ((!fold->keep_archive &&
         (ret = xl_store_batch_put_event(fold->batch, ev->audit_id, seq, &pos, msg->value, msg->len)) != 0) ||
        (ret = batch_feed(fold, ev->audit_id, seq)) != 0)
        return ret;
    if (ev->event_id.len != 0) {
        if ((ret = xl_store_batch_put_event_seq(fold->batch, ev->audit_id, ev->event_id.base, ev->event_id.len, seq,
                                                &pos)) != 0 ||
            (ret = make_key(&fold->key, 'e', ev->audit_id, &ev->event_id)) != 0 ||
            (ret = map_put(&fold->map, &fold->key, 0)) != 0)
            return ret;
        fresh_add(fold, &fold->key);
    }
    /* a create without an idempotency key has nothing to be found by */
    if (ev->type == XL_EVENT_CREATED && outcome == XL_APPLY_NEW && ev->event_id.len != 0) {
        ret = xl_store_batch_put_create(fold->batch, ev->tenant_id.base, ev->tenant_id.len, ev->event_id.base,
                                        ev->event_id.len, ev->audit_id, &pos);
        if (ret != 0 && ret != -EINVAL) /* ids holding a NUL byte cannot be indexed: such a create is not found */
            return ret;
        if ((ret = make_create_key(&fold->key, msg->partition, ev)) != 0 ||
            (ret = map_put(&fold->map, &fold->key, 0)) != 0 || (ret = make_create_key(&fold->key, -1, ev)) != 0)
            return ret;
        fresh_add(fold, &fold->key);
    }
    return 0;
}

int xl_fold_add(xl_fold_t *fold, const xl_fold_msg_t *msg, xl_fold_result_t *res, char *err, size_t errlen)
{
    char derr[200];
    xl_event_t ev;
    xl_fold_exec_t *exec;
    xl_apply_result_t ares;
    int seen, ret;

    memset(res, 0, sizeof(*res));
    if (errlen != 0)
        err[0] = '\0';
    if ((ret = note_offset(fold, msg->partition, msg->offset)) != 0)
        goto nomem;
    ++fold->nmsgs;
    if (xl_event_decode(fold->codec, msg->value, msg->len, &ev, derr, sizeof(derr)) != 0) {
        res->outcome = XL_APPLY_REJECTED;
        snprintf(res->reason, sizeof(res->reason), "undecodable event: %s", derr);
        return 0;
    }
    res->audit_id = ev.audit_id;
    if ((ret = batch_exec(fold, ev.audit_id, &exec, err, errlen)) != 0 ||
        (ret = batch_seen(fold, msg->partition, exec, &ev, &seen)) != 0)
        goto fail;
    xl_apply_origin_t origin = {msg->partition, msg->offset};
    if ((ret = xl_apply_event(&exec->st, exec->exists, &ev, seen, &origin, &ares)) != 0)
        goto fail;
    res->outcome = ares.outcome;
    res->seq = ares.seq;
    if (ares.outcome == XL_APPLY_REJECTED)
        snprintf(res->reason, sizeof(res->reason), "rejected: %s", ares.reason);
    else
        snprintf(res->reason, sizeof(res->reason), "%s", ares.reason);
    if (ares.outcome == XL_APPLY_NEW || ares.outcome == XL_APPLY_ANOMALY) {
        exec->exists = exec->dirty = 1;
        ret = batch_archive(fold, msg, &ev, ares.outcome, ares.seq);
    }

fail:
    xl_event_dispose(&ev);
    if (ret == -ENOMEM)
        goto nomem;
    if (ret != 0 && err[0] == '\0')
        snprintf(err, errlen, "fold: store read failed (%d)", ret);
    return ret;

nomem:
    snprintf(err, errlen, "fold: out of memory");
    return -ENOMEM;
}

/* ---- the aggregates of the batch ---- */

/* What an ended execution adds to the duration histogram (as GET /v1/executions renders duration_ms). */
static int64_t duration_of(const xl_state_t *st)
{
    int64_t from = st->started_ms != 0 ? st->started_ms : st->created_ms;
    if (st->ended_ms == 0 || from == 0 || st->ended_ms < from)
        return 0;
    return st->ended_ms - from;
}

/* The batch's entry for (scope, flow) of st, made on first use. */
static int batch_flow(xl_fold_t *fold, const xl_state_t *st, int all, xl_fold_flow_t **out)
{
    size_t idx;
    int ret;

    xl_buf_reset(&fold->key);
    size_t tlen = all || st->tenant_id.base == NULL ? 0 : st->tenant_id.len;
    unsigned char be[4] = {(unsigned char)(tlen >> 24), (unsigned char)(tlen >> 16), (unsigned char)(tlen >> 8),
                           (unsigned char)tlen};
    if (xl_buf_append(&fold->key, all ? "fA" : "fT", 2) != 0 || xl_buf_append(&fold->key, be, 4) != 0 ||
        xl_buf_append(&fold->key, tlen != 0 ? st->tenant_id.base : "", tlen) != 0 ||
        xl_buf_append(&fold->key, st->flow_id.base != NULL ? st->flow_id.base : "", st->flow_id.len) != 0)
        return -ENOMEM;
    if (map_find(&fold->fmap, &fold->key, &idx) == 0) {
        *out = &fold->flows[idx];
        return 0;
    }
    XL_ROOM_OR_RETURN(fold->flows, fold->nflows, fold->capflows, 64);
    if ((ret = map_put(&fold->fmap, &fold->key, fold->nflows)) != 0)
        return ret;
    xl_fold_flow_t *flow = &fold->flows[fold->nflows++];
    memset(flow, 0, sizeof(*flow));
    flow->tenant = st->tenant_id;
    flow->flow_id = st->flow_id;
    flow->all = all;
    *out = flow;
    return 0;
}

static int push_hist(xl_fold_t *fold, size_t flow, int bucket, int delta)
{
    XL_ROOM_OR_RETURN(fold->hist, fold->nhist, fold->caphist, 64);
    fold->hist[fold->nhist++] = (xl_fold_hist_t){flow, bucket, delta};
    return 0;
}

static int hist_cmp(const void *a, const void *b)
{
    const xl_fold_hist_t *x = a, *y = b;
    if (x->flow != y->flow)
        return x->flow < y->flow ? -1 : 1;
    return (x->bucket > y->bucket) - (x->bucket < y->bucket);
}

/*
 * The execution's share of its flow's aggregates moves from what it was
 * before the batch to what it is now. Its duration enters the histogram
 * when it ends; a failed execution whose failed tasks are retried runs
 * again, so its sample is taken back then (and a new one enters when it
 * ends again): one sample per execution, its last duration.
 */
static int note_flow(xl_fold_t *fold, const xl_fold_exec_t *exec)
{
    const xl_state_t *st = &exec->st;
    int was_ended = exec->stored && xl_apply_is_terminal(exec->old_status);
    int is_ended = xl_apply_is_terminal(st->status);
    int64_t now = is_ended ? duration_of(st) : 0;
    int take_back = was_ended && (!is_ended || now != exec->old_duration);
    int add = is_ended && (!was_ended || now != exec->old_duration);
    int ret;

    if (exec->stored && exec->old_status == st->status && !take_back && !add)
        return 0; /* nothing the aggregates count has changed */
    for (int all = 0; all != 2; ++all) {
        xl_fold_flow_t *flow;
        if ((ret = batch_flow(fold, st, all, &flow)) != 0)
            return ret;
        if (exec->stored) {
            flow->by_status[exec->old_status] -= 1;
        } else {
            flow->total += 1;
            if (flow->latest_audit_id == 0 || st->created_ms > flow->latest_created_ms ||
                (st->created_ms == flow->latest_created_ms && st->audit_id > flow->latest_audit_id)) {
                flow->latest_created_ms = st->created_ms;
                flow->latest_audit_id = st->audit_id;
            }
        }
        flow->by_status[st->status] += 1;
        size_t f = (size_t)(flow - fold->flows);
        if (take_back && (ret = push_hist(fold, f, xl_store_hist_bucket(exec->old_duration), -1)) != 0)
            return ret;
        if (add && (ret = push_hist(fold, f, xl_store_hist_bucket(now), 1)) != 0)
            return ret;
    }
    return 0;
}

/* Write the aggregates' changes of the batch: one read-add-put per (scope, flow). */
static int commit_flows(xl_fold_t *fold, char *err, size_t errlen)
{
    int ret;
    size_t h = 0;
    if (fold->nhist > 1)
        qsort(fold->hist, fold->nhist, sizeof(*fold->hist), hist_cmp);
    for (size_t i = 0; i != fold->nflows; ++i) {
        const xl_fold_flow_t *flow = &fold->flows[i];
        xl_store_flow_delta_t *d = fold->delta;
        memset(d, 0, sizeof(*d));
        d->total = flow->total;
        memcpy(d->by_status, flow->by_status, sizeof(d->by_status));
        d->latest_created_ms = flow->latest_created_ms;
        d->latest_audit_id = flow->latest_audit_id;
        for (; h != fold->nhist && fold->hist[h].flow == i; ++h)
            d->hist[fold->hist[h].bucket] += fold->hist[h].delta;
        if ((ret = xl_store_batch_add_flow(fold->batch, flow->all ? NULL : &flow->tenant, &flow->flow_id, d, err,
                                           errlen)) != 0)
            return ret;
    }
    return 0;
}

/*
 * Number the batch's feed entries after the last one written, put them and
 * write the batch, all under the feed's mutex: of folds committing at once,
 * each takes the next seqs only once the one before is written, so the feed
 * grows without gaps and in order for any reader. A write the store refuses
 * takes its feed entries back out (they are numbered again at the retry).
 * @return 0, -EAGAIN (refused) or -ENOMEM, with err filled.
 */
static int write_fed(xl_fold_t *fold, char *err, size_t errlen)
{
    int ret = 0;
    pthread_mutex_lock(&fold->feed->mutex);
    xl_store_batch_mark(fold->batch);
    for (size_t i = 0; i != fold->nfed && ret == 0; ++i)
        ret = xl_store_batch_put_feed(fold->batch, fold->feed->last + 1 + i, fold->fed[i].audit_id, fold->fed[i].seq);
    if (ret != 0) {
        snprintf(err, errlen, "fold: out of memory");
        ret = -ENOMEM;
    } else if (xl_store_batch_commit(fold->batch, err, errlen) != 0) {
        ret = -EAGAIN;
    } else {
        fold->feed->last += fold->nfed;
        fold->built = 0;
    }
    if (ret != 0)
        xl_store_batch_undo(fold->batch);
    pthread_mutex_unlock(&fold->feed->mutex);
    return ret;
}

int xl_fold_commit(xl_fold_t *fold, const char *identity, char *err, size_t errlen)
{
    int ret;
    /* a write the store refused is retried as it was built: the aggregates
     * were read before it, and nothing has been written since */
    if (fold->built)
        goto write;
    fold->nflows = fold->nhist = 0;
    map_clear(&fold->fmap);
    for (size_t i = 0; i != fold->nexecs; ++i) {
        const xl_fold_exec_t *exec = &fold->execs[i];
        if (!exec->dirty)
            continue;
        if ((ret = xl_store_batch_put_state(fold->batch, fold->codec, &exec->st, err, errlen)) != 0)
            return ret;
        if ((ret = xl_store_batch_put_index(fold->batch, &exec->st,
                                            exec->stored ? exec->old_status : XL_STATUS_NONE)) != 0 ||
            (ret = note_flow(fold, exec)) != 0) {
            snprintf(err, errlen, "fold: out of memory");
            return ret;
        }
    }
    if ((ret = commit_flows(fold, err, errlen)) != 0)
        return ret;
    for (size_t i = 0; identity != NULL && i != fold->noffsets; ++i) {
        if ((ret = xl_store_batch_put_offset(fold->batch, identity, fold->offsets[i].partition,
                                             fold->offsets[i].next_offset)) != 0) {
            snprintf(err, errlen, "fold: out of memory");
            return ret;
        }
    }
    fold->built = 1;
write:
    return write_fed(fold, err, errlen);
}
