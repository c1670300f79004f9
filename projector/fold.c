/*
 * The batch fold (see fold.h). The batch keeps a small hash map of byte
 * keys: 'x' be64(audit_id) -> the execution's in-batch state, and
 * 'e' be64(audit_id) event_id -> applied earlier in this batch. A state is
 * read from the store once per batch and written once per batch.
 *
 * It must never talk to Kafka and never write the store outside
 * xl_fold_commit: a batch is all or nothing.
 */
#include "projector/fold.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projector/apply.h"

/* An execution touched by the batch: its state as folded so far. */
typedef struct st_xl_fold_exec_t {
    xl_state_t st;
    int exists; /* st holds the execution */
    int stored; /* it existed in the store before this batch */
    int dirty;  /* st must be written */
} xl_fold_exec_t;

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

/* ---- lifecycle ---- */

xl_fold_t *xl_fold_create(xl_store_t *store, char *err, size_t errlen)
{
    xl_fold_t *fold = calloc(1, sizeof(*fold));
    if (fold == NULL)
        goto nomem;
    fold->store = store;
    xl_buf_init(&fold->key);
    xl_buf_init(&fold->map.arena);
    if ((fold->batch = xl_store_batch_create(store)) == NULL)
        goto nomem;
    if ((fold->codec = xl_codec_create(err, errlen)) == NULL)
        goto fail;
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
    xl_buf_dispose(&fold->key);
    free(fold->execs);
    free(fold->offsets);
    free(fold);
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
    xl_store_batch_clear(fold->batch);
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
    if (fold->noffsets == fold->capoffsets) {
        size_t cap = fold->capoffsets != 0 ? fold->capoffsets * 2 : 16;
        xl_fold_offset_t *offsets = realloc(fold->offsets, cap * sizeof(*offsets));
        if (offsets == NULL)
            return -ENOMEM;
        fold->offsets = offsets;
        fold->capoffsets = cap;
    }
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
    if (fold->nexecs == fold->capexecs) {
        size_t cap = fold->capexecs != 0 ? fold->capexecs * 2 : 64;
        xl_fold_exec_t *execs = realloc(fold->execs, cap * sizeof(*execs));
        if (execs == NULL)
            return -ENOMEM;
        fold->execs = execs;
        fold->capexecs = cap;
    }
    xl_fold_exec_t *exec = &fold->execs[fold->nexecs];
    memset(exec, 0, sizeof(*exec));
    ret = audit_id > 0 ? xl_store_get_state(fold->store, fold->codec, audit_id, &exec->st, err, errlen) : -ENOENT;
    if (ret == 0)
        exec->exists = exec->stored = 1;
    else if (ret != -ENOENT)
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

/* Was (audit_id, event_id) applied before: earlier in this batch, or in the store? */
static int batch_seen(xl_fold_t *fold, const xl_fold_exec_t *exec, const xl_event_t *ev, int *seen)
{
    size_t unused;
    uint32_t seq;
    int ret;

    *seen = 0;
    if (ev->event_id.len == 0) /* no idempotency key was given: every delivery counts */
        return 0;
    if ((ret = make_key(&fold->key, 'e', ev->audit_id, &ev->event_id)) != 0)
        return ret;
    if (map_find(&fold->map, &fold->key, &unused) == 0) {
        *seen = 1;
        return 0;
    }
    if (!exec->stored) /* a new execution has no history in the store */
        return 0;
    ret = xl_store_get_event_seq(fold->store, ev->audit_id, ev->event_id.base, ev->event_id.len, &seq, NULL);
    if (ret == 0)
        *seen = 1;
    return ret == -ENOENT ? 0 : ret;
}

/* Archive the frame under seq and index the event. */
static int batch_archive(xl_fold_t *fold, const xl_fold_msg_t *msg, const xl_event_t *ev, int outcome, uint32_t seq)
{
    const xl_store_pos_t pos = {msg->partition, msg->offset};
    int ret;
    if ((ret = xl_store_batch_put_event(fold->batch, ev->audit_id, seq, msg->value, msg->len)) != 0)
        return ret;
    if (ev->event_id.len != 0) {
        if ((ret = xl_store_batch_put_event_seq(fold->batch, ev->audit_id, ev->event_id.base, ev->event_id.len, seq, &pos)) !=
                0 ||
            (ret = make_key(&fold->key, 'e', ev->audit_id, &ev->event_id)) != 0 ||
            (ret = map_put(&fold->map, &fold->key, 0)) != 0)
            return ret;
    }
    /* a create without an idempotency key has nothing to be found by */
    if (ev->type == XL_EVENT_CREATED && outcome == XL_APPLY_NEW && ev->event_id.len != 0) {
        ret = xl_store_batch_put_create(fold->batch, ev->tenant_id.base, ev->tenant_id.len, ev->event_id.base,
                                        ev->event_id.len, ev->audit_id, &pos);
        if (ret != 0 && ret != -EINVAL) /* ids holding a NUL byte cannot be indexed: such a create is not found */
            return ret;
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
        (ret = batch_seen(fold, exec, &ev, &seen)) != 0)
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

int xl_fold_commit(xl_fold_t *fold, const char *identity, char *err, size_t errlen)
{
    int ret;
    for (size_t i = 0; i != fold->nexecs; ++i)
        if (fold->execs[i].dirty &&
            (ret = xl_store_batch_put_state(fold->batch, fold->codec, &fold->execs[i].st, err, errlen)) != 0)
            return ret;
    for (size_t i = 0; i != fold->noffsets; ++i) {
        if ((ret = xl_store_batch_put_offset(fold->batch, identity, fold->offsets[i].partition,
                                             fold->offsets[i].next_offset)) != 0) {
            snprintf(err, errlen, "fold: out of memory");
            return ret;
        }
    }
    return xl_store_batch_commit(fold->batch, err, errlen);
}
