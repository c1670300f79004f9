/*
 * The answer cache (see cache.h): shards, each a mutex over a chained hash
 * table and an LRU list, with a byte budget and an invalidation generation.
 *
 * The generation is what keeps a fill from going back in time: a miss hands
 * out the shard's generation as its ticket, every invalidation bumps it, and
 * a fill whose ticket is not the current generation is dropped. The price is
 * a few refused fills in a shard while the projector writes to it; a stale
 * answer is never the price.
 *
 * A derived kind (a lineage: it lists executions created after it was read,
 * which no invalidation names) has a coarser rule: the cache's epoch, bumped
 * by every invalidation, is its ticket, and an entry of another epoch than
 * the current one is dropped when found. A lineage so stays cached while the
 * projector changes nothing, and any batch drops them all.
 *
 * Entries are allocated and freed outside the
 * lock (only a shard's bucket array grows under it, doubling); a hit
 * allocates nothing but what the caller's alloc hands out.
 */
#include "projector/cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHARDS 16
#define SHARD_MIN_BYTES (64 * 1024) /* fewer, larger shards for a small cache */
#define MIN_BUCKETS 64
#define ENTRY_SHARE 8 /* an entry may take at most 1/ENTRY_SHARE of its shard */

typedef struct st_xl_cache_entry_t {
    struct st_xl_cache_entry_t *hnext;       /* hash chain */
    struct st_xl_cache_entry_t *prev, *next; /* LRU list: after the sentinel, most recent first */
    int64_t audit_id;
    xl_cache_kind_t kind;
    uint64_t epoch; /* derived kinds: the cache's epoch it was filled at */
    size_t cost; /* what it counts against the budget */
    size_t tenant_len, body_len;
    int has_tenant;
    char *data; /* tenant bytes, then body bytes: in the entry's allocation, right after it (the
                 * shard's sentinel is an entry too, so no flexible array member) */
} xl_cache_entry_t;

typedef struct st_xl_cache_shard_t {
    pthread_mutex_t mutex;
    xl_cache_entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t n, bytes, budget;
    xl_cache_entry_t lru; /* sentinel */
    uint64_t gen;         /* bumped by every invalidation: tickets older than it are stale */
    uint64_t hits, misses, evictions, invalidations;
} xl_cache_shard_t;

struct st_xl_cache_t {
    xl_cache_shard_t *shards;
    size_t nshards; /* a power of two */
    size_t capacity;
    uint64_t epoch; /* bumped by every invalidation (atomic): derived entries hold only within one */
};

static uint64_t mix(int64_t audit_id)
{
    uint64_t x = (uint64_t)audit_id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static xl_cache_shard_t *shard_of(xl_cache_t *cache, uint64_t h)
{
    return &cache->shards[(h >> 48) & (cache->nshards - 1)];
}

/* The hash is the audit ID's alone: every kind of an audit ID shares its bucket (see xl_cache_invalidate). */
static xl_cache_entry_t **slot_of(xl_cache_shard_t *sh, uint64_t h, int64_t audit_id, xl_cache_kind_t kind)
{
    xl_cache_entry_t **p = &sh->buckets[h & (sh->nbuckets - 1)];
    while (*p != NULL && ((*p)->audit_id != audit_id || (*p)->kind != kind))
        p = &(*p)->hnext;
    return p;
}

static void lru_unlink(xl_cache_entry_t *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_push_front(xl_cache_shard_t *sh, xl_cache_entry_t *e)
{
    e->prev = &sh->lru;
    e->next = sh->lru.next;
    sh->lru.next->prev = e;
    sh->lru.next = e;
}

/* Take e out of the shard (locked); the caller frees it after unlocking. */
static void shard_remove(xl_cache_shard_t *sh, xl_cache_entry_t **slot)
{
    xl_cache_entry_t *e = *slot;
    *slot = e->hnext;
    lru_unlink(e);
    --sh->n;
    sh->bytes -= e->cost;
}

/* Double the bucket array (locked); on failure the chains only grow longer. */
static void shard_grow(xl_cache_shard_t *sh)
{
    size_t n = sh->nbuckets * 2;
    xl_cache_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i != sh->nbuckets; ++i) {
        xl_cache_entry_t *e = sh->buckets[i];
        while (e != NULL) {
            xl_cache_entry_t *next = e->hnext;
            size_t j = mix(e->audit_id) & (n - 1);
            e->hnext = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = n;
}

xl_cache_t *xl_cache_create(size_t bytes, char *err, size_t errlen)
{
    xl_cache_t *cache = NULL;
    if (bytes == 0) {
        snprintf(err, errlen, "cache: a size of 0 bytes is no cache");
        return NULL;
    }
    if ((cache = calloc(1, sizeof(*cache))) == NULL)
        goto fail;
    cache->capacity = bytes;
    cache->nshards = 1;
    while (cache->nshards < MAX_SHARDS && bytes / (cache->nshards * 2) >= SHARD_MIN_BYTES)
        cache->nshards *= 2;
    if ((cache->shards = calloc(cache->nshards, sizeof(*cache->shards))) == NULL)
        goto fail;
    for (size_t i = 0; i != cache->nshards; ++i) {
        xl_cache_shard_t *sh = &cache->shards[i];
        sh->lru.prev = sh->lru.next = &sh->lru;
        sh->budget = bytes / cache->nshards;
        sh->nbuckets = MIN_BUCKETS;
        if ((sh->buckets = calloc(sh->nbuckets, sizeof(*sh->buckets))) == NULL)
            goto fail;
        pthread_mutex_init(&sh->mutex, NULL);
    }
    return cache;

fail:
    snprintf(err, errlen, "cache: out of memory");
    if (cache != NULL && cache->shards != NULL) {
        for (size_t i = 0; i != cache->nshards; ++i)
            if (cache->shards[i].buckets != NULL) {
                free(cache->shards[i].buckets);
                pthread_mutex_destroy(&cache->shards[i].mutex);
            }
        free(cache->shards);
    }
    free(cache);
    return NULL;
}

void xl_cache_destroy(xl_cache_t *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i != cache->nshards; ++i) {
        xl_cache_shard_t *sh = &cache->shards[i];
        xl_cache_entry_t *e = sh->lru.next;
        while (e != &sh->lru) {
            xl_cache_entry_t *next = e->next;
            free(e);
            e = next;
        }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->mutex);
    }
    free(cache->shards);
    free(cache);
}

int xl_cache_get(xl_cache_t *cache, int64_t audit_id, void *(*alloc)(void *ctx, size_t len), void *ctx,
                 xl_cache_answer_t *out, uint64_t *ticket)
{
    return xl_cache_get_kind(cache, audit_id, XL_CACHE_STATE, alloc, ctx, out, ticket);
}

/* A derived kind's entries hold only while the cache's epoch is the one they were filled at. */
static int derived(xl_cache_kind_t kind)
{
    return kind == XL_CACHE_LINEAGE || kind == XL_CACHE_WALK;
}

/*
 * Lock audit_id's shard and find its entry of kind (NULL: a miss, *ticket
 * set); a derived entry of an older epoch is taken out into *stale for the
 * caller to free after unlocking. The caller counts the hit (shard_hit) and
 * unlocks *shp.
 */
static xl_cache_entry_t *lookup(xl_cache_t *cache, int64_t audit_id, xl_cache_kind_t kind, xl_cache_shard_t **shp,
                                uint64_t *ticket, xl_cache_entry_t **stale)
{
    uint64_t h = mix(audit_id);
    xl_cache_shard_t *sh = *shp = shard_of(cache, h);
    pthread_mutex_lock(&sh->mutex);
    xl_cache_entry_t **slot = slot_of(sh, h, audit_id, kind);
    xl_cache_entry_t *e = *slot;
    if (e != NULL && derived(kind) && e->epoch != __atomic_load_n(&cache->epoch, __ATOMIC_ACQUIRE)) {
        shard_remove(sh, slot);
        ++sh->invalidations;
        *stale = e;
        e = NULL;
    }
    if (e == NULL) {
        ++sh->misses;
        *ticket = derived(kind) ? __atomic_load_n(&cache->epoch, __ATOMIC_ACQUIRE) : sh->gen;
        return NULL;
    }
    return e;
}

/* A hit served (locked): the entry becomes the most recently used. */
static void shard_hit(xl_cache_shard_t *sh, xl_cache_entry_t *e)
{
    if (sh->lru.next != e) {
        lru_unlink(e);
        lru_push_front(sh, e);
    }
    ++sh->hits;
}

int xl_cache_get_kind(xl_cache_t *cache, int64_t audit_id, xl_cache_kind_t kind, void *(*alloc)(void *ctx, size_t len),
                      void *ctx, xl_cache_answer_t *out, uint64_t *ticket)
{
    xl_cache_shard_t *sh;
    xl_cache_entry_t *stale = NULL;
    *ticket = 0;
    if (cache == NULL || (unsigned)kind >= XL_CACHE__KINDS)
        return 0;
    int ret = 0;
    xl_cache_entry_t *e = lookup(cache, audit_id, kind, &sh, ticket, &stale);
    if (e == NULL)
        goto unlock;
    char *mem = alloc(ctx, e->tenant_len + e->body_len + 1);
    if (mem == NULL) {
        ret = -ENOMEM;
        goto unlock;
    }
    memcpy(mem, e->data, e->tenant_len + e->body_len);
    mem[e->tenant_len + e->body_len] = '\0';
    out->tenant = e->has_tenant ? mem : NULL;
    out->tenant_len = e->tenant_len;
    out->body = mem + e->tenant_len;
    out->body_len = e->body_len;
    shard_hit(sh, e);
    ret = 1;
unlock:
    pthread_mutex_unlock(&sh->mutex);
    free(stale);
    return ret;
}

int xl_cache_visit(xl_cache_t *cache, int64_t audit_id, xl_cache_kind_t kind,
                   int (*take)(void *ctx, const xl_cache_answer_t *answer), void *ctx, uint64_t *ticket)
{
    xl_cache_shard_t *sh;
    xl_cache_entry_t *stale = NULL;
    *ticket = 0;
    if (cache == NULL || (unsigned)kind >= XL_CACHE__KINDS)
        return 0;
    int ret = 0;
    xl_cache_entry_t *e = lookup(cache, audit_id, kind, &sh, ticket, &stale);
    if (e != NULL) {
        xl_cache_answer_t a = {e->has_tenant ? e->data : NULL, e->tenant_len, e->data + e->tenant_len, e->body_len};
        if ((ret = take(ctx, &a)) >= 0) {
            shard_hit(sh, e);
            ret = 1;
        }
    }
    pthread_mutex_unlock(&sh->mutex);
    free(stale);
    return ret;
}

int xl_cache_put(xl_cache_t *cache, int64_t audit_id, uint64_t ticket, const char *tenant, size_t tenant_len,
                 const void *body, size_t body_len)
{
    return xl_cache_put_kind(cache, audit_id, XL_CACHE_STATE, ticket, tenant, tenant_len, body, body_len);
}

int xl_cache_put_kind(xl_cache_t *cache, int64_t audit_id, xl_cache_kind_t kind, uint64_t ticket, const char *tenant,
                      size_t tenant_len, const void *body, size_t body_len)
{
    if (cache == NULL || (unsigned)kind >= XL_CACHE__KINDS)
        return 0;
    uint64_t h = mix(audit_id);
    xl_cache_shard_t *sh = shard_of(cache, h);
    size_t cost = sizeof(xl_cache_entry_t) + tenant_len + body_len;
    if (cost > sh->budget / ENTRY_SHARE)
        return 0;
    xl_cache_entry_t *e = malloc(cost), *dropped = NULL;
    if (e == NULL)
        return -ENOMEM;
    e->data = (char *)(e + 1);
    e->audit_id = audit_id;
    e->kind = kind;
    e->epoch = ticket;
    e->cost = cost;
    e->has_tenant = tenant != NULL;
    e->tenant_len = tenant != NULL ? tenant_len : 0;
    e->body_len = body_len;
    if (e->tenant_len != 0)
        memcpy(e->data, tenant, e->tenant_len);
    if (body_len != 0)
        memcpy(e->data + e->tenant_len, body, body_len);

    int kept = 0;
    pthread_mutex_lock(&sh->mutex);
    if (derived(kind) ? ticket != __atomic_load_n(&cache->epoch, __ATOMIC_ACQUIRE)
                      : ticket != sh->gen) /* invalidated since the miss: this answer may predate the change */
        goto unlock;
    xl_cache_entry_t **slot = slot_of(sh, h, audit_id, kind);
    if (*slot != NULL) { /* two readers filled the same miss: the later answer is as fresh */
        xl_cache_entry_t *old = *slot;
        shard_remove(sh, slot);
        old->hnext = dropped;
        dropped = old;
    }
    while (sh->bytes + cost > sh->budget && sh->lru.prev != &sh->lru) {
        xl_cache_entry_t *victim = sh->lru.prev;
        shard_remove(sh, slot_of(sh, mix(victim->audit_id), victim->audit_id, victim->kind));
        victim->hnext = dropped;
        dropped = victim;
        ++sh->evictions;
    }
    if (sh->n >= sh->nbuckets)
        shard_grow(sh);
    slot = &sh->buckets[h & (sh->nbuckets - 1)];
    e->hnext = *slot;
    *slot = e;
    lru_push_front(sh, e);
    ++sh->n;
    sh->bytes += cost;
    kept = 1;
unlock:
    pthread_mutex_unlock(&sh->mutex);
    if (!kept)
        free(e);
    while (dropped != NULL) {
        xl_cache_entry_t *next = dropped->hnext;
        free(dropped);
        dropped = next;
    }
    return kept;
}

void xl_cache_invalidate(xl_cache_t *cache, int64_t audit_id)
{
    if (cache == NULL)
        return;
    uint64_t h = mix(audit_id);
    xl_cache_shard_t *sh = shard_of(cache, h);
    xl_cache_entry_t *dropped = NULL;
    __atomic_add_fetch(&cache->epoch, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&sh->mutex);
    ++sh->gen;
    /* every kind of audit_id is in its bucket (slot_of): one pass over the chain */
    for (xl_cache_entry_t **slot = &sh->buckets[h & (sh->nbuckets - 1)]; *slot != NULL;) {
        xl_cache_entry_t *e = *slot;
        if (e->audit_id != audit_id) {
            slot = &e->hnext;
            continue;
        }
        shard_remove(sh, slot); /* *slot is the next one now */
        e->hnext = dropped;
        dropped = e;
        ++sh->invalidations;
    }
    pthread_mutex_unlock(&sh->mutex);
    while (dropped != NULL) {
        xl_cache_entry_t *next = dropped->hnext;
        free(dropped);
        dropped = next;
    }
}

void xl_cache_get_stats(xl_cache_t *cache, xl_cache_stats_t *stats)
{
    memset(stats, 0, sizeof(*stats));
    if (cache == NULL)
        return;
    stats->capacity = cache->capacity;
    for (size_t i = 0; i != cache->nshards; ++i) {
        xl_cache_shard_t *sh = &cache->shards[i];
        pthread_mutex_lock(&sh->mutex);
        stats->hits += sh->hits;
        stats->misses += sh->misses;
        stats->evictions += sh->evictions;
        stats->invalidations += sh->invalidations;
        stats->entries += sh->n;
        stats->bytes += sh->bytes;
        pthread_mutex_unlock(&sh->mutex);
    }
}
