/*
 * The answer cache: for hot executions, the bytes a reader answers with
 * (opaque here: the api keeps the rendered JSON of GET /v1/executions/{id},
 * which list pages reuse as their items, the execution as a lineage lists it,
 * and whole lineages), with the tenant they belong to, keyed by audit ID and
 * kind and bounded in bytes (LRU per shard). An invalidation drops every kind
 * of its audit ID, and every entry of a derived kind (see xl_cache_kind_t). A
 * hit costs one mutex and one copy into memory the caller provides (or none,
 * xl_cache_visit): no store read, no decode, no malloc.
 *
 * The projector invalidates an execution's entry once the batch that changed
 * it is durable and before it publishes that batch's progress, so a reader
 * that waited for a position never finds an answer older than it. A reader
 * that missed fills the entry only if nothing was invalidated in its shard
 * since its miss (the ticket), so an answer read from the store before a
 * batch can never land in the cache after that batch's invalidation.
 *
 * Safe from any thread. It knows no HTTP and no store: it must never hold a
 * lock while calling out, except into the caller's alloc or take (no locks
 * there).
 */
#ifndef XL_PROJECTOR_CACHE_H
#define XL_PROJECTOR_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_xl_cache_t xl_cache_t;

/** What an entry holds; each audit ID has at most one entry of each kind. */
typedef enum en_xl_cache_kind_t {
    XL_CACHE_STATE, /* the answer of GET /v1/executions/{id} (and a list page's item) */
    XL_CACHE_CARD,  /* the execution as GET /v1/executions/{id}/lineage lists it */
    /* derived: an answer that depends on other executions, created later ones too, so
     * that any invalidation (of whatever audit ID) drops it */
    XL_CACHE_LINEAGE, /* the answer of GET /v1/executions/{id}/lineage */
    XL_CACHE_WALK,    /* the index walk of a list page (keyed by a hash of its arguments) */
    XL_CACHE__KINDS
} xl_cache_kind_t;

/** What a hit copied out; tenant is NULL for an execution without one. Both live in the caller's alloc. */
typedef struct st_xl_cache_answer_t {
    char *tenant;
    size_t tenant_len;
    char *body;
    size_t body_len;
} xl_cache_answer_t;

typedef struct st_xl_cache_stats_t {
    uint64_t hits, misses, evictions; /* evictions: entries dropped for room (not invalidations) */
    uint64_t invalidations;           /* entries dropped because the projector changed them */
    size_t entries, bytes, capacity;  /* bytes: what the entries cost, headers included */
} xl_cache_stats_t;

/**
 * @brief A cache of at most bytes (headers included), split in shards.
 * @return NULL with err filled (bytes 0 or out of memory); free with xl_cache_destroy.
 */
xl_cache_t *xl_cache_create(size_t bytes, char *err, size_t errlen);
/** @brief Free the cache and every entry (NULL is fine); no other thread may use it any more. */
void xl_cache_destroy(xl_cache_t *cache);

/**
 * @brief Look up audit_id. On a hit, alloc(ctx, n) is called once (under the
 * shard's lock: it must not block or lock) for the n bytes that tenant and
 * body are copied into, and out points into them. On a miss, *ticket is what
 * xl_cache_put needs to fill the entry. A NULL cache always misses.
 * @return 1 hit, 0 miss, -ENOMEM when alloc returned NULL (nothing copied).
 */
int xl_cache_get(xl_cache_t *cache, int64_t audit_id, void *(*alloc)(void *ctx, size_t len), void *ctx,
                 xl_cache_answer_t *out, uint64_t *ticket);
/** @brief xl_cache_get for the entry of another kind than XL_CACHE_STATE. */
int xl_cache_get_kind(xl_cache_t *cache, int64_t audit_id, xl_cache_kind_t kind, void *(*alloc)(void *ctx, size_t len),
                      void *ctx, xl_cache_answer_t *out, uint64_t *ticket);
/**
 * @brief Look up audit_id's entry of kind without a copy: on a hit,
 * take(ctx, answer) is called under the shard's lock (it must not block or
 * lock) with the entry's own bytes, valid for the call only.
 * @return 1 hit, 0 miss (*ticket for xl_cache_put_kind), or take's negative return.
 */
int xl_cache_visit(xl_cache_t *cache, int64_t audit_id, xl_cache_kind_t kind,
                   int (*take)(void *ctx, const xl_cache_answer_t *answer), void *ctx, uint64_t *ticket);

/**
 * @brief Keep the answer for audit_id (tenant may be NULL: none), copied,
 * replacing any entry, unless an invalidation in its shard came after the
 * miss that gave ticket (the answer may be older than that batch) or it is
 * too large to be worth a slot. Evicts the least recently used entries of the
 * shard for room. NULL cache: nothing.
 * @return 1 kept, 0 refused (stale ticket or too large), -ENOMEM.
 */
int xl_cache_put(xl_cache_t *cache, int64_t audit_id, uint64_t ticket, const char *tenant, size_t tenant_len,
                 const void *body, size_t body_len);
/** @brief xl_cache_put for the entry of another kind than XL_CACHE_STATE (the ticket of that kind's miss). */
int xl_cache_put_kind(xl_cache_t *cache, int64_t audit_id, xl_cache_kind_t kind, uint64_t ticket, const char *tenant,
                      size_t tenant_len, const void *body, size_t body_len);

/**
 * @brief Forget audit_id's answers (every kind) and make every ticket of its shard taken
 * before this call stale. The projector calls it after the batch that changed
 * audit_id is durable and before that batch's progress is published. NULL cache: nothing.
 */
void xl_cache_invalidate(xl_cache_t *cache, int64_t audit_id);

/** @brief A copy of the counters (each shard's consistent; summed). NULL cache: zeros. */
void xl_cache_get_stats(xl_cache_t *cache, xl_cache_stats_t *stats);

#endif
