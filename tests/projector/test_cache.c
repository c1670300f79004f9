/*
 * Tests of projector/cache.c: hits copy the bytes and the tenant out, misses
 * hand out tickets, an invalidation makes older tickets stale (a fill that
 * raced a change is refused), the byte budget holds with the least recently
 * used entry evicted first, oversized answers are refused, and the counters
 * add up. Then the protocol the projector and the readers follow, on threads:
 * a writer changes a value, invalidates, then publishes; readers that saw a
 * publication must never get an older value from the cache. Kinds: an
 * invalidation drops every kind of its audit ID, a derived kind (a lineage)
 * is dropped by any invalidation, and a visit hands out the entry's bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projector/cache.h"
#include "tests/test.h"

/* The caller's memory for a hit: a fixed buffer, as a request pool would be. */
typedef struct st_arena_t {
    char buf[8192];
    int calls;
} arena_t;

static void *arena_alloc(void *ctx, size_t len)
{
    arena_t *a = ctx;
    ++a->calls;
    return len <= sizeof(a->buf) ? a->buf : NULL;
}

static void *no_alloc(void *ctx, size_t len)
{
    return NULL;
}

static int get(xl_cache_t *cache, int64_t id, arena_t *a, xl_cache_answer_t *ans, uint64_t *ticket)
{
    return xl_cache_get(cache, id, arena_alloc, a, ans, ticket);
}

static void test_basics(void)
{
    char err[256];
    arena_t a = {0};
    xl_cache_answer_t ans;
    uint64_t ticket, t2;

    XL_PHASE("create");
    XL_CHECK(xl_cache_create(0, err, sizeof(err)) == NULL, "a cache of 0 bytes must be refused");
    xl_cache_t *cache = xl_cache_create(1 << 20, err, sizeof(err));
    XL_CHECK(cache != NULL, "%s", err);
    if (cache == NULL)
        return;

    XL_PHASE("miss then fill");
    XL_CHECK_INT(get(cache, 7, &a, &ans, &ticket), 0);
    XL_CHECK_INT(a.calls, 0);
    XL_CHECK_INT(xl_cache_put(cache, 7, ticket, "acme", 4, "{\"audit_id\":7}", 14), 1);
    XL_CHECK_INT(get(cache, 7, &a, &ans, &t2), 1);
    XL_CHECK_INT(a.calls, 1);
    XL_CHECK_STR(ans.body, ans.body_len, "{\"audit_id\":7}");
    XL_CHECK(ans.tenant != NULL, "the tenant must come back");
    XL_CHECK_STR(ans.tenant, ans.tenant_len, "acme");

    XL_PHASE("no tenant and an empty tenant differ");
    XL_CHECK_INT(get(cache, 8, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put(cache, 8, ticket, NULL, 0, "{}", 2), 1);
    XL_CHECK_INT(get(cache, 8, &a, &ans, &t2), 1);
    XL_CHECK(ans.tenant == NULL, "no tenant must come back as NULL");
    XL_CHECK_INT(get(cache, 9, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put(cache, 9, ticket, "", 0, "{}", 2), 1);
    XL_CHECK_INT(get(cache, 9, &a, &ans, &t2), 1);
    XL_CHECK(ans.tenant != NULL && ans.tenant_len == 0, "an empty tenant must come back empty, not NULL");

    XL_PHASE("a hit whose alloc fails copies nothing");
    XL_CHECK_INT(xl_cache_get(cache, 7, no_alloc, NULL, &ans, &t2), -ENOMEM);

    XL_PHASE("a fill replaces the entry");
    XL_CHECK_INT(get(cache, 10, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put(cache, 10, ticket, "acme", 4, "old", 3), 1);
    XL_CHECK_INT(xl_cache_put(cache, 10, ticket, "acme", 4, "newer", 5), 1);
    XL_CHECK_INT(get(cache, 10, &a, &ans, &t2), 1);
    XL_CHECK_STR(ans.body, ans.body_len, "newer");

    XL_PHASE("invalidation drops the entry");
    xl_cache_invalidate(cache, 7);
    XL_CHECK_INT(get(cache, 7, &a, &ans, &ticket), 0);
    XL_CHECK_INT(get(cache, 8, &a, &ans, &t2), 1); /* others stay */

    XL_PHASE("a fill that raced an invalidation is refused");
    uint64_t before;
    XL_CHECK_INT(get(cache, 7, &a, &ans, &before), 0); /* miss: the store read would start here */
    xl_cache_invalidate(cache, 7);                     /* the projector changed it meanwhile */
    XL_CHECK_INT(xl_cache_put(cache, 7, before, "acme", 4, "stale", 5), 0);
    XL_CHECK_INT(get(cache, 7, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put(cache, 7, ticket, "acme", 4, "fresh", 5), 1);
    XL_CHECK_INT(get(cache, 7, &a, &ans, &t2), 1);
    XL_CHECK_STR(ans.body, ans.body_len, "fresh");

    XL_PHASE("counters");
    xl_cache_stats_t s;
    xl_cache_get_stats(cache, &s);
    XL_CHECK_INT(s.hits, 6);   /* 7, 8, 9, 10, 8, 7: a hit whose alloc failed is none */
    XL_CHECK_INT(s.misses, 7);
    XL_CHECK_INT(s.invalidations, 1); /* the second found no entry */
    XL_CHECK_INT(s.evictions, 0);
    XL_CHECK_INT(s.entries, 4);
    XL_CHECK_INT(s.capacity, 1 << 20);
    XL_CHECK(s.bytes > 0 && s.bytes < 1024, "bytes = %zu", s.bytes);
    xl_cache_destroy(cache);
    xl_cache_destroy(NULL);

    XL_PHASE("no cache: always a miss, nothing kept");
    XL_CHECK_INT(get(NULL, 7, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put(NULL, 7, ticket, NULL, 0, "x", 1), 0);
    xl_cache_invalidate(NULL, 7);
    xl_cache_get_stats(NULL, &s);
    XL_CHECK_INT(s.hits + s.misses + s.entries, 0);
}

static void test_budget(void)
{
    char err[256], body[300];
    arena_t a = {0};
    xl_cache_answer_t ans;
    uint64_t ticket;
    const size_t cap = 16 * 1024; /* one shard: the order of eviction is exact */
    xl_cache_t *cache = xl_cache_create(cap, err, sizeof(err));
    XL_CHECK(cache != NULL, "%s", err);
    if (cache == NULL)
        return;
    memset(body, 'x', sizeof(body));

    XL_PHASE("too large for a slot");
    XL_CHECK_INT(get(cache, 1, &a, &ans, &ticket), 0);
    char *big = calloc(1, cap);
    XL_CHECK_INT(xl_cache_put(cache, 1, ticket, NULL, 0, big, cap / 2), 0);
    free(big);
    XL_CHECK_INT(get(cache, 1, &a, &ans, &ticket), 0);

    XL_PHASE("fill past the budget");
    for (int64_t id = 100; id < 200; ++id) {
        XL_CHECK_INT(get(cache, id, &a, &ans, &ticket), 0);
        XL_CHECK_INT(xl_cache_put(cache, id, ticket, "t", 1, body, sizeof(body)), 1);
        if (id == 110) /* keep 100 recently used: it must outlive its neighbours */
            XL_CHECK_INT(get(cache, 100, &a, &ans, &ticket), 1);
        if (id > 110 && id % 8 == 0)
            XL_CHECK_INT(get(cache, 100, &a, &ans, &ticket), 1);
    }
    xl_cache_stats_t s;
    xl_cache_get_stats(cache, &s);
    XL_CHECK(s.bytes <= cap, "bytes %zu over the budget %zu", s.bytes, cap);
    XL_CHECK(s.evictions > 0, "100 answers of 300 bytes in 16 KiB must evict");
    XL_CHECK_INT(s.entries + s.evictions, 100);

    XL_PHASE("least recently used first");
    XL_CHECK_INT(get(cache, 100, &a, &ans, &ticket), 1);
    XL_CHECK_INT(get(cache, 101, &a, &ans, &ticket), 0);
    XL_CHECK_INT(get(cache, 199, &a, &ans, &ticket), 1);
    XL_CHECK_STR(ans.tenant, ans.tenant_len, "t");
    XL_CHECK_MEM(ans.body, ans.body_len, body, sizeof(body));
    xl_cache_destroy(cache);
}

/* ---- the projector's protocol on threads ------------------------------------------- */

#define NKEYS 8
#define NREADERS 3
#define WRITES 20000

typedef struct st_world_t {
    xl_cache_t *cache;
    atomic_int_fast64_t store[NKEYS];     /* the "RocksDB" value of each key */
    atomic_int_fast64_t published[NKEYS]; /* the progress readers may rely on */
    atomic_int done;
    atomic_long stale, hits, fills;
} world_t;

static void *writer_main(void *arg)
{
    world_t *w = arg;
    for (int64_t v = 1; v <= WRITES; ++v) {
        int k = (int)(v % NKEYS);
        atomic_store(&w->store[k], v);       /* the batch is durable */
        xl_cache_invalidate(w->cache, k);    /* then its answers go */
        atomic_store(&w->published[k], v);   /* then its progress is published */
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static void *reader_main(void *arg)
{
    world_t *w = arg;
    arena_t a;
    xl_cache_answer_t ans;
    uint64_t ticket;
    char body[32];
    unsigned k = 0;
    while (!atomic_load(&w->done)) {
        k = (k + 3) % NKEYS;
        int64_t floor = atomic_load(&w->published[k]); /* waited for this position */
        int ret = xl_cache_get(w->cache, k, arena_alloc, &a, &ans, &ticket);
        if (ret == 1) {
            atomic_fetch_add(&w->hits, 1);
            if (strtoll(ans.body, NULL, 10) < floor)
                atomic_fetch_add(&w->stale, 1);
            continue;
        }
        int64_t v = atomic_load(&w->store[k]); /* the store read */
        int n = snprintf(body, sizeof(body), "%lld", (long long)v);
        if (xl_cache_put(w->cache, k, ticket, NULL, 0, body, (size_t)n) == 1)
            atomic_fetch_add(&w->fills, 1);
    }
    return NULL;
}

static void test_threads(void)
{
    char err[256];
    world_t *w = calloc(1, sizeof(*w));
    pthread_t writer, readers[NREADERS];
    XL_PHASE("threads: a writer invalidating, readers filling");
    w->cache = xl_cache_create(1 << 20, err, sizeof(err));
    XL_CHECK(w->cache != NULL, "%s", err);
    if (w->cache == NULL) {
        free(w);
        return;
    }
    for (int i = 0; i < NREADERS; ++i)
        pthread_create(&readers[i], NULL, reader_main, w);
    pthread_create(&writer, NULL, writer_main, w);
    pthread_join(writer, NULL);
    for (int i = 0; i < NREADERS; ++i)
        pthread_join(readers[i], NULL);
    XL_CHECK_INT(atomic_load(&w->stale), 0);
    XL_CHECK(atomic_load(&w->fills) > 0, "no fill was kept: the race was not exercised");
    printf("threads: %ld hits, %ld fills kept, %ld stale\n", atomic_load(&w->hits), atomic_load(&w->fills),
           atomic_load(&w->stale));
    xl_cache_destroy(w->cache);
    free(w);
}

typedef struct st_seen_t {
    char body[64], tenant[16];
    size_t body_len;
    int has_tenant, ret;
} seen_t;

static int take(void *ctx, const xl_cache_answer_t *a)
{
    seen_t *s = ctx;
    s->has_tenant = a->tenant != NULL;
    snprintf(s->tenant, sizeof(s->tenant), "%.*s", (int)a->tenant_len, a->tenant != NULL ? a->tenant : "");
    s->body_len = a->body_len < sizeof(s->body) ? a->body_len : sizeof(s->body);
    memcpy(s->body, a->body, s->body_len);
    return s->ret;
}

static void test_kinds(void)
{
    char err[256];
    arena_t a = {0};
    xl_cache_answer_t ans;
    uint64_t ticket, t2, lt;
    seen_t seen = {0};
    xl_cache_t *cache = xl_cache_create(1 << 20, err, sizeof(err));
    XL_CHECK(cache != NULL, "%s", err);
    if (cache == NULL)
        return;

    XL_PHASE("one entry per kind");
    XL_CHECK_INT(get(cache, 20, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put(cache, 20, ticket, "acme", 4, "state", 5), 1);
    XL_CHECK_INT(xl_cache_get_kind(cache, 20, XL_CACHE_CARD, arena_alloc, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put_kind(cache, 20, XL_CACHE_CARD, ticket, "acme", 4, "card", 4), 1);
    XL_CHECK_INT(get(cache, 20, &a, &ans, &t2), 1);
    XL_CHECK_STR(ans.body, ans.body_len, "state");
    XL_CHECK_INT(xl_cache_get_kind(cache, 20, XL_CACHE_CARD, arena_alloc, &a, &ans, &t2), 1);
    XL_CHECK_STR(ans.body, ans.body_len, "card");
    XL_CHECK_INT(xl_cache_get_kind(cache, 20, XL_CACHE__KINDS, arena_alloc, &a, &ans, &t2), 0);
    XL_CHECK_INT(xl_cache_put_kind(cache, 20, XL_CACHE__KINDS, t2, NULL, 0, "x", 1), 0);

    XL_PHASE("a visit hands out the entry");
    XL_CHECK_INT(xl_cache_visit(cache, 20, XL_CACHE_CARD, take, &seen, &t2), 1);
    XL_CHECK_STR(seen.body, seen.body_len, "card");
    XL_CHECK(seen.has_tenant && strcmp(seen.tenant, "acme") == 0, "the visit's tenant: %s", seen.tenant);
    seen.ret = -ENOMEM;
    XL_CHECK_INT(xl_cache_visit(cache, 20, XL_CACHE_STATE, take, &seen, &t2), -ENOMEM);
    XL_CHECK_INT(xl_cache_visit(cache, 21, XL_CACHE_STATE, take, &seen, &t2), 0);

    XL_PHASE("an invalidation drops every kind of its audit ID");
    xl_cache_invalidate(cache, 20);
    XL_CHECK_INT(get(cache, 20, &a, &ans, &t2), 0);
    XL_CHECK_INT(xl_cache_get_kind(cache, 20, XL_CACHE_CARD, arena_alloc, &a, &ans, &t2), 0);

    XL_PHASE("a derived entry is dropped by any invalidation");
    XL_CHECK_INT(get(cache, 30, &a, &ans, &ticket), 0);
    XL_CHECK_INT(xl_cache_put(cache, 30, ticket, NULL, 0, "state", 5), 1);
    XL_CHECK_INT(xl_cache_get_kind(cache, 30, XL_CACHE_LINEAGE, arena_alloc, &a, &ans, &lt), 0);
    XL_CHECK_INT(xl_cache_put_kind(cache, 30, XL_CACHE_LINEAGE, lt, NULL, 0, "lineage", 7), 1);
    XL_CHECK_INT(xl_cache_get_kind(cache, 30, XL_CACHE_LINEAGE, arena_alloc, &a, &ans, &t2), 1);
    XL_CHECK_STR(ans.body, ans.body_len, "lineage");
    xl_cache_invalidate(cache, 31); /* another execution, maybe a new retry of 30 */
    XL_CHECK_INT(xl_cache_get_kind(cache, 30, XL_CACHE_LINEAGE, arena_alloc, &a, &ans, &t2), 0);
    XL_CHECK_INT(get(cache, 30, &a, &ans, &t2), 1); /* its own answer stays */

    XL_PHASE("a derived fill that raced any invalidation is refused");
    XL_CHECK_INT(xl_cache_get_kind(cache, 30, XL_CACHE_LINEAGE, arena_alloc, &a, &ans, &lt), 0);
    xl_cache_invalidate(cache, 12345);
    XL_CHECK_INT(xl_cache_put_kind(cache, 30, XL_CACHE_LINEAGE, lt, NULL, 0, "stale", 5), 0);
    XL_CHECK_INT(xl_cache_get_kind(cache, 30, XL_CACHE_LINEAGE, arena_alloc, &a, &ans, &lt), 0);
    XL_CHECK_INT(xl_cache_put_kind(cache, 30, XL_CACHE_LINEAGE, lt, NULL, 0, "fresh", 5), 1);
    XL_CHECK_INT(xl_cache_get_kind(cache, 30, XL_CACHE_LINEAGE, arena_alloc, &a, &ans, &t2), 1);
    XL_CHECK_STR(ans.body, ans.body_len, "fresh");
    xl_cache_destroy(cache);
}

int main(void)
{
    test_basics();
    test_budget();
    test_kinds();
    test_threads();
    return xl_test_finish();
}
