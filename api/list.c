/*
 * GET /v1/executions: a filtered list of executions in creation order, paged
 * with an opaque keyset cursor.
 *
 * Every index key ends in (created_ms, audit_id), so a page is "the next
 * `limit` matching entries strictly after the last key seen", whatever
 * happens to the store between pages: an execution is listed at most once
 * and none is skipped (one that changes status while a walk filtered by
 * status is under way may leave or enter the walk; that is the filter).
 *
 * The index is picked from the filters (parent_execution_id, then
 * top_execution_id — the whole call tree, grandchildren included — then
 * message_id, then flow_id, then status, else every execution of the
 * tenant scope); the other filters are
 * checked on the state. Several statuses are several index scans merged by
 * key. A scan reads at most SCAN_BUDGET entries per page, so a page may hold
 * fewer than `limit` items and still have a next_page_token: only a missing
 * token means the end.
 *
 * The page token is base64url of: u8 version, 8 bytes of the SHA-256 of the
 * arguments (filters, order, the caller's tenant; not limit), be64
 * created_ms, be64 audit_id of the last key seen, and 16 bytes of
 * HMAC-SHA256 over all that with the cursor key of the data directory.
 * A token that was altered, or is used with other arguments, is refused (400).
 *
 * An item is the answer of GET /v1/executions/{id}, byte for byte: when the
 * index scanned implies every filter but the tenant's (no status filter, no
 * fields=, at most one of flow_id, message_id, parent_execution_id and
 * top_execution_id: the index of the one given; those never change after the
 * create), it is taken from the answer cache (projector/cache.h) when there,
 * with the tenant rules applied to the cached tenant; a miss reads the state
 * and fills the cache for the next page and the next lookup. The scans of a
 * page share one index iterator, and the items' bytes one buffer per scan.
 * Such a page's walk (the keys of its items, where it stopped) is cached too,
 * until the projector's next change of any execution (see walk()).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ingest/http.h"
#include "api/read.h"
#include "api/render.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 1000
#define SCAN_BUDGET_MIN 20000 /* index entries one scan reads per page, at least */
#define TOKEN_VERSION 1
#define TOKEN_HASH_LEN XL_LIST_TOKEN_HASH_LEN
#define TOKEN_MAC_LEN 16
#define TOKEN_LEN (1 + TOKEN_HASH_LEN + 16 + TOKEN_MAC_LEN)
#define ITEM_BYTES 1024 /* room made for an item up front: most take less (no copies while the page grows) */
#define PAGE_HEAD "{\"items\":["

typedef struct st_filter_t {
    const xl_str_t *scope; /* tenant the index is scoped to; NULL: across tenants */
    xl_str_t scope_buf;
    int has_flow, has_msg, has_gte, has_lt, desc;
    int64_t parent, top; /* call-tree filters, 0 = none */
    h2o_iovec_t fields;  /* fields=: base NULL = every field */
    xl_str_t flow, msg;
    unsigned statuses; /* bit per status; 0: any */
    int64_t gte, lt;
    int cached; /* 1: the index implies every filter but the tenant's: items may come from the answer cache */
    unsigned char hash[TOKEN_HASH_LEN];
} filter_t;

typedef struct st_item_t {
    int64_t key[2]; /* created_ms, audit_id */
    const xl_buf_t *bytes; /* its scan's buffer */
    size_t off, len;       /* the item as answered, in bytes: the answer of GET /v1/executions/{id} */
} item_t;

typedef struct st_scan_t {
    xl_api_t *api;
    const xl_principal_t *who;
    const filter_t *f;
    xl_store_index_iter_t **iter; /* the page's, shared by its scans: made by the first that walks the index */
    item_t *items;
    xl_buf_t bytes; /* the items' bytes, one after the other (cached ones after their tenant's) */
    size_t nitems, want;
    size_t scanned, budget;
    int64_t last[2];
    int stopped; /* 1: stopped before the end (want reached or budget spent): last is its horizon */
    int failed;
} scan_t;

/* ---- the token ------------------------------------------------------------------------ */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[n++] = b64url[v >> 18 & 63];
        out[n++] = b64url[v >> 12 & 63];
        if (i + 1 < len)
            out[n++] = b64url[v >> 6 & 63];
        if (i + 2 < len)
            out[n++] = b64url[v & 63];
    }
    out[n] = '\0';
    return n;
}

/* @return the decoded length, or -1 for a character outside the alphabet or a bad length */
static long b64url_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; ++i) {
        const char *p = in[i] != '\0' ? memchr(b64url, in[i], 64) : NULL;
        if (p == NULL)
            return -1;
        acc = acc << 6 | (uint32_t)(p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == outlen)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* canonical form only: the bits of the last character beyond the data are zero */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)n;
}

/* SHA-256, fetched once: OpenSSL 3 looks EVP_sha256() up in its provider store at every use. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *md_sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256 != NULL ? sha256 : EVP_sha256();
}

/* HMAC-SHA256 (RFC 2104) with the fetched digest: the key is shorter than a block, so it is padded as is.
 * @return 0, or -ENOMEM (mac unset). */
static int token_mac(const unsigned char *cursor_key, const unsigned char *msg, size_t len,
                      unsigned char mac[TOKEN_MAC_LEN])
{
    unsigned char pad[64], inner[EVP_MAX_MD_SIZE], full[EVP_MAX_MD_SIZE];
    unsigned int ilen = 0, flen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    _Static_assert(XL_CURSOR_KEY_LEN <= sizeof(pad), "the cursor key fits a SHA-256 block");
    memset(full, 0, sizeof(full));
    for (size_t i = 0; i != sizeof(pad); ++i)
        pad[i] = (unsigned char)((i < XL_CURSOR_KEY_LEN ? cursor_key[i] : 0) ^ 0x36);
    int ok = md != NULL && EVP_DigestInit_ex(md, md_sha256(), NULL) && EVP_DigestUpdate(md, pad, sizeof(pad)) &&
             EVP_DigestUpdate(md, msg, len) && EVP_DigestFinal_ex(md, inner, &ilen);
    for (size_t i = 0; i != sizeof(pad); ++i)
        pad[i] ^= 0x36 ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(md, md_sha256(), NULL) && EVP_DigestUpdate(md, pad, sizeof(pad)) &&
         EVP_DigestUpdate(md, inner, ilen) && EVP_DigestFinal_ex(md, full, &flen);
    EVP_MD_CTX_free(md);
    OPENSSL_cleanse(pad, sizeof(pad));
    if (!ok)
        return -ENOMEM;
    memcpy(mac, full, TOKEN_MAC_LEN);
    return 0;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; --i, v >>= 8)
        p[i] = (unsigned char)v;
}

static char *token_encode(const xl_api_t *api, h2o_req_t *req, const filter_t *f, const int64_t key[2])
{
    unsigned char raw[TOKEN_LEN];
    raw[0] = TOKEN_VERSION;
    memcpy(raw + 1, f->hash, TOKEN_HASH_LEN);
    put_be64(raw + 1 + TOKEN_HASH_LEN, (uint64_t)key[0]);
    put_be64(raw + 1 + TOKEN_HASH_LEN + 8, (uint64_t)key[1]);
    if (token_mac(api->cursor_key, raw, TOKEN_LEN - TOKEN_MAC_LEN, raw + TOKEN_LEN - TOKEN_MAC_LEN) != 0)
        return NULL;
    char *out = h2o_mem_alloc_pool(&req->pool, (TOKEN_LEN + 2) / 3 * 4 + 1);
    b64url_encode(raw, TOKEN_LEN, out);
    return out;
}

int xl_list_token_decode(const unsigned char cursor_key[XL_CURSOR_KEY_LEN], const char *token, size_t len,
                         unsigned char args_hash[XL_LIST_TOKEN_HASH_LEN], int64_t last[2])
{
    unsigned char raw[TOKEN_LEN + 3], mac[TOKEN_MAC_LEN];
    long n = b64url_decode(token, len, raw, sizeof(raw));
    if (n != TOKEN_LEN || raw[0] != TOKEN_VERSION)
        return -EINVAL;
    if (token_mac(cursor_key, raw, TOKEN_LEN - TOKEN_MAC_LEN, mac) != 0)
        return -ENOMEM;
    if (CRYPTO_memcmp(mac, raw + TOKEN_LEN - TOKEN_MAC_LEN, TOKEN_MAC_LEN) != 0)
        return -EBADMSG;
    memcpy(args_hash, raw + 1, TOKEN_HASH_LEN);
    last[0] = (int64_t)xl_be64_get(raw + 1 + TOKEN_HASH_LEN);
    last[1] = (int64_t)xl_be64_get(raw + 1 + TOKEN_HASH_LEN + 8);
    return 0;
}

/* @return 0 with key filled, or -1 (answered 400) */
static int token_decodeOrReply(const xl_api_t *api, h2o_req_t *req, const filter_t *f, h2o_iovec_t token,
                               int64_t key[2])
{
    unsigned char hash[TOKEN_HASH_LEN];
    int64_t last[2];
    int rc = xl_list_token_decode(api->cursor_key, token.base, token.len, hash, last);
    const char *why = NULL;
    if (rc == -ENOMEM) {
        xl_http_send_problem(req, 500, "internal", "Out of memory", NULL, "cannot check the page token");
        return -1;
    }
    if (rc == -EINVAL)
        why = "it is not a page token of this API";
    else if (rc != 0)
        why = "it was altered, or issued by another data directory";
    else if (CRYPTO_memcmp(f->hash, hash, TOKEN_HASH_LEN) != 0)
        why = "it was issued for other arguments (filters, order_by or tenant); only limit may change";
    if (why != NULL) {
        xl_http_send_problem(req, 400, "invalid-page-token", "Invalid page token", NULL, "page_token refused: %s", why);
        return -1;
    }
    key[0] = last[0];
    key[1] = last[1];
    return 0;
}

/* SHA-256 over the arguments, each length-prefixed so that no two argument sets encode alike. */
static void filter_hash(filter_t *f, const xl_principal_t *who)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE], n[8];
    unsigned int dlen = 0;
#define FIELD(p, len)                                                                                                  \
    do {                                                                                                               \
        put_be64(n, (uint64_t)(len));                                                                                  \
        EVP_DigestUpdate(md, n, 8);                                                                                    \
        EVP_DigestUpdate(md, (p), (len));                                                                              \
    } while (0)
#define INT(v)                                                                                                         \
    do {                                                                                                               \
        put_be64(n, (uint64_t)(v));                                                                                    \
        EVP_DigestUpdate(md, n, 8);                                                                                    \
    } while (0)
    EVP_DigestInit_ex(md, md_sha256(), NULL);
    FIELD("execlog list v1", 15);
    INT(who->tenant.base != NULL);
    FIELD(who->tenant.base ? who->tenant.base : "", who->tenant.len);
    INT(f->scope != NULL);
    if (f->scope != NULL)
        FIELD(f->scope->base ? f->scope->base : "", f->scope->len);
    INT(f->has_flow);
    FIELD(f->flow.base ? f->flow.base : "", f->flow.len);
    INT(f->has_msg);
    FIELD(f->msg.base ? f->msg.base : "", f->msg.len);
    INT(f->statuses);
    INT(f->has_gte);
    INT(f->gte);
    INT(f->has_lt);
    INT(f->lt);
    INT(f->desc);
    INT(f->parent);
    INT(f->top);
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    memcpy(f->hash, digest, TOKEN_HASH_LEN);
#undef FIELD
#undef INT
}

/* ---- arguments ------------------------------------------------------------------------ */

/* @return 0, 1 (a tenant the caller cannot see: the list is empty), or -1 (answered 400) */
static int parse_filterOrReply(h2o_req_t *req, const xl_principal_t *who, filter_t *f)
{
    h2o_iovec_t v;
    size_t pos = 0;
    int other_tenant = 0;
    memset(f, 0, sizeof(*f));
    if (xl_http_query_param(req, "flow_id", &v)) {
        f->has_flow = 1;
        f->flow = (xl_str_t){v.base, v.len};
    }
    if (xl_http_query_param(req, "message_id", &v)) {
        f->has_msg = 1;
        f->msg = (xl_str_t){v.base, v.len};
    }
    int given = xl_http_query_param(req, "tenant_id", &v);
    if (who->tenant.base != NULL) {
        f->scope_buf = who->tenant;
        f->scope = &f->scope_buf;
        other_tenant = given && !h2o_memis(v.base, v.len, who->tenant.base, who->tenant.len);
    } else if (given) {
        f->scope_buf = (xl_str_t){v.base, v.len};
        f->scope = &f->scope_buf;
    }
    while (xl_http_query_next(req, "status", &pos, &v)) {
        for (const char *s = v.base, *end = v.base + v.len; s <= end;) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *e = comma ? comma : end;
            int st = xl_status_parse(s, (size_t)(e - s));
            if (st < 0) {
                xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                     "status '%.*s' is not one of queued, running, paused, cancelling, succeeded, "
                                     "warning, failed, cancelled",
                                     (int)(e - s), s);
                return -1;
            }
            f->statuses |= 1u << st;
            s = e + 1;
        }
    }
    int64_t x;
    if (xl_query_int_paramOrReply(req, "parent_execution_id", 1, XL_AUDIT_ID_MAX, 0, &f->parent) != 0 ||
        xl_query_int_paramOrReply(req, "top_execution_id", 1, XL_AUDIT_ID_MAX, 0, &f->top) != 0)
        return -1;
    if (!xl_http_query_param(req, "fields", &f->fields))
        f->fields.base = NULL;
    if (xl_query_int_paramOrReply(req, "created_gte", INT64_MIN / 4, INT64_MAX / 4, 0, &x) != 0)
        return -1;
    f->has_gte = xl_http_query_param(req, "created_gte", &v);
    f->gte = x;
    if (xl_query_int_paramOrReply(req, "created_lt", INT64_MIN / 4, INT64_MAX / 4, 0, &x) != 0)
        return -1;
    f->has_lt = xl_http_query_param(req, "created_lt", &v);
    f->lt = x;
    f->desc = 1;
    if (xl_http_query_param(req, "order_by", &v)) {
        if (h2o_memis(v.base, v.len, H2O_STRLIT("created"))) {
            f->desc = 0;
        } else if (!h2o_memis(v.base, v.len, H2O_STRLIT("-created"))) {
            xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                 "order_by must be created (oldest first) or -created (newest first)");
            return -1;
        }
    }
    f->cached = f->fields.base == NULL && f->statuses == 0 &&
                f->has_flow + f->has_msg + (f->parent != 0) + (f->top != 0) <= 1;
    filter_hash(f, who);
    return other_tenant;
}

/* ---- scanning -------------------------------------------------------------------------- */

static int key_cmp(const int64_t a[2], const int64_t b[2])
{
    if (a[0] != b[0])
        return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* An item's JSON into out: the state's bytes, or (fields=) the selected members. @return 0 or -ENOMEM. */
static int render_item(const xl_state_t *st, const filter_t *f, xl_buf_t *out)
{
    if (f->fields.base == NULL)
        return xl_render_state_buf(st, out);
    json_t *o = xl_render_select(xl_render_state(st), f->fields.base, f->fields.len);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    int ret = text == NULL || xl_buf_append(out, text, strlen(text)) != 0 ? -ENOMEM : 0;
    free(text);
    json_decref(o);
    return ret;
}

/* The tenant rules: the caller sees it, and (the call-tree indexes span tenants) it is in the scope. */
static int tenant_ok(const scan_t *s, const xl_str_t *tenant)
{
    const xl_str_t *scope = s->f->scope;
    if (!xl_principal_sees(s->who, tenant))
        return 0;
    return scope == NULL || (tenant->len == scope->len &&
                             (scope->len == 0 ||
                              (tenant->base != NULL && memcmp(tenant->base, scope->base, scope->len) == 0)));
}

/* Close the item written from off on in s->bytes (after its separator). */
static void item_add(scan_t *s, int64_t created_ms, int64_t audit_id, size_t off)
{
    item_t *it = &s->items[s->nitems++];
    it->key[0] = created_ms;
    it->key[1] = audit_id;
    it->bytes = &s->bytes;
    it->off = off;
    it->len = s->bytes.len - off;
}

/* The separator before an item: the scan's bytes are a page's items already (see xl_read_list). */
static int item_open(scan_t *s)
{
    return s->nitems > 0 ? xl_buf_append(&s->bytes, ",", 1) : 0;
}

typedef struct st_hit_t {
    scan_t *s;
    int64_t key[2];
} hit_t;

/* xl_cache_visit's take: under the cache's lock, so nothing but a copy */
static int take_cached(void *ctx, const xl_cache_answer_t *a)
{
    hit_t *h = ctx;
    scan_t *s = h->s;
    xl_str_t tenant = {a->tenant, a->tenant_len};
    if (!tenant_ok(s, &tenant))
        return 0;
    if (item_open(s) != 0 || xl_buf_reserve(&s->bytes, a->body_len) != 0)
        return -ENOMEM;
    size_t off = s->bytes.len;
    memcpy(s->bytes.base + off, a->body, a->body_len);
    s->bytes.len += a->body_len;
    item_add(s, h->key[0], h->key[1], off);
    return 0;
}

/* The item of an index entry, if it passes the filters: from the cache, else from the state (then cached).
 * @return 0 (added or filtered out), -ENOENT (no state), or -EIO/-ENOMEM (s->failed set). */
static int entry_item(scan_t *s, int64_t created_ms, int64_t audit_id)
{
    const filter_t *f = s->f;
    xl_state_t st;
    uint64_t ticket = 0;
    char err[256];

    if (f->cached) {
        hit_t h = {s, {created_ms, audit_id}};
        int hit = xl_cache_visit(s->api->cache, audit_id, XL_CACHE_STATE, take_cached, &h, &ticket);
        if (hit < 0) {
            s->failed = 1;
            return hit;
        }
        if (hit)
            return 0;
    }
    int ret = xl_store_get_state(s->api->store, s->api->codec, audit_id, &st, err, sizeof(err));
    if (ret == -ENOENT)
        return ret;
    if (ret != 0) {
        s->failed = 1;
        return -EIO;
    }
    int ok = tenant_ok(s, &st.tenant_id) &&
             (!f->has_flow || (st.flow_id.base != NULL && st.flow_id.len == f->flow.len &&
                               memcmp(st.flow_id.base, f->flow.base, f->flow.len) == 0)) &&
             (!f->has_msg || (st.message_id.base != NULL && st.message_id.len == f->msg.len &&
                              memcmp(st.message_id.base, f->msg.base, f->msg.len) == 0)) &&
             (f->statuses == 0 || (st.status >= 0 && st.status < XL_STATUS__COUNT && (f->statuses >> st.status & 1))) &&
             (f->parent == 0 || st.parent_execution_id == f->parent) && (f->top == 0 || st.top_execution_id == f->top);
    if (ok) {
        size_t off = s->bytes.len + (s->nitems > 0);
        if (item_open(s) != 0 || render_item(&st, f, &s->bytes) != 0) {
            s->failed = 1;
            ret = -ENOMEM;
        } else {
            item_add(s, created_ms, audit_id, off);
            /* the same bytes as the lookup's answer: the next page and the next lookup take them */
            if (f->cached)
                xl_cache_put(s->api->cache, audit_id, ticket, st.tenant_id.base, st.tenant_id.len, s->bytes.base + off,
                             s->bytes.len - off);
        }
    }
    xl_state_dispose(&st);
    return ret;
}

static int on_entry(void *ctx, int64_t created_ms, int64_t audit_id)
{
    scan_t *s = ctx;
    const filter_t *f = s->f;

    if (f->desc ? (f->has_gte && created_ms < f->gte) : (f->has_lt && created_ms >= f->lt))
        return 1; /* the end of the range: like the end of the index */
    if (s->scanned == s->budget) {
        s->stopped = 1;
        return 1;
    }
    ++s->scanned;
    s->last[0] = created_ms;
    s->last[1] = audit_id;
    if (entry_item(s, created_ms, audit_id) != 0 && s->failed)
        return 1;
    if (s->nitems == s->want) {
        s->stopped = 1;
        return 1;
    }
    return 0;
}

static int run_scan(scan_t *s, xl_index_t ix, int status, const int64_t *start)
{
    xl_buf_t prefix;
    xl_buf_init(&prefix);
    const xl_str_t *str = ix == XL_IX_FLOW ? &s->f->flow : ix == XL_IX_MESSAGE ? &s->f->msg : NULL;
    int64_t id = ix == XL_IX_CHILDREN ? s->f->parent : ix == XL_IX_TREE ? s->f->top : 0;
    int ret = xl_store_index_prefix(&prefix, ix, s->f->scope, str, status, id);
    if (ret == 0 && *s->iter == NULL && (*s->iter = xl_store_index_iter_create(s->api->store)) == NULL)
        ret = -ENOMEM;
    if (ret == 0)
        ret = xl_store_index_iter_scan(*s->iter, prefix.base, prefix.len, s->f->desc, start, on_entry, s);
    xl_buf_dispose(&prefix);
    return ret < 0 || s->failed ? -EIO : 0;
}

/*
 * The walk of a page (XL_CACHE_WALK): the keys of its items, and where the
 * scan stopped, for the arguments that give the same walk (the filters'
 * hash, which has the caller's tenant, the start and limit + 1), under a
 * key hashed from them. A derived entry: any change the projector makes
 * drops it, so a cached walk is the one the index gives. The items are then
 * taken as a scan takes them, from the cache or the store.
 */
typedef struct st_walk_args_t {
    unsigned char hash[TOKEN_HASH_LEN];
    unsigned char start[17]; /* 1 when there is a start, then be64 created_ms, be64 audit_id */
    unsigned char want[8];
} walk_args_t;

#define WALK_HEAD (sizeof(walk_args_t) + 1 + 16 + 4) /* args, stopped, last, count */

static int64_t walk_key(const walk_args_t *args)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i != sizeof(*args); ++i)
        h = (h ^ ((const unsigned char *)args)[i]) * 0x100000001b3ULL;
    return (int64_t)(h >> 1);
}

static void *walk_alloc(void *ctx, size_t len)
{
    xl_buf_t *b = ctx;
    if (xl_buf_reserve(b, len) != 0)
        return NULL;
    b->len = len;
    return b->base;
}

/* The scan's items from a cached walk. @return 0, or -1: no such walk, or it did not replay (the scan is reset). */
static int walk_replay(scan_t *s, const walk_args_t *args, const xl_cache_answer_t *a)
{
    const unsigned char *p = (const unsigned char *)a->body;
    if (a->body_len < WALK_HEAD || memcmp(p, args, sizeof(*args)) != 0)
        return -1;
    p += sizeof(*args);
    int stopped = p[0];
    int64_t last[2] = {(int64_t)xl_be64_get(p + 1), (int64_t)xl_be64_get(p + 9)};
    uint32_t n = (uint32_t)p[17] << 24 | (uint32_t)p[18] << 16 | (uint32_t)p[19] << 8 | p[20];
    p += 21;
    if (n > s->want || a->body_len != WALK_HEAD + (size_t)n * 16)
        return -1;
    for (uint32_t i = 0; i != n; ++i, p += 16) {
        size_t before = s->nitems;
        if (entry_item(s, (int64_t)xl_be64_get(p), (int64_t)xl_be64_get(p + 8)) != 0 || s->nitems != before + 1) {
            s->nitems = 0; /* the store moved on after all (a rebuild): walk the index */
            s->bytes.len = sizeof(PAGE_HEAD) - 1;
            s->failed = 0;
            return -1;
        }
    }
    s->stopped = stopped;
    s->last[0] = last[0];
    s->last[1] = last[1];
    return 0;
}

static void walk_keep(xl_api_t *api, const scan_t *s, const walk_args_t *args, int64_t key, uint64_t ticket)
{
    xl_buf_t w;
    unsigned char head[21];
    xl_buf_init(&w);
    head[0] = (unsigned char)s->stopped;
    put_be64(head + 1, (uint64_t)s->last[0]);
    put_be64(head + 9, (uint64_t)s->last[1]);
    for (int i = 0; i != 4; ++i)
        head[17 + i] = (unsigned char)(s->nitems >> (24 - 8 * i));
    int ret = xl_buf_reserve(&w, WALK_HEAD + s->nitems * 16) || xl_buf_append(&w, args, sizeof(*args)) ||
              xl_buf_append(&w, head, sizeof(head));
    for (size_t i = 0; ret == 0 && i != s->nitems; ++i)
        ret = xl_buf_append_be64(&w, (uint64_t)s->items[i].key[0]) ||
              xl_buf_append_be64(&w, (uint64_t)s->items[i].key[1]);
    if (ret == 0)
        xl_cache_put_kind(api->cache, key, XL_CACHE_WALK, ticket, NULL, 0, w.base, w.len);
    xl_buf_dispose(&w);
}

/* A scan, its walk from the cache when it can be (the items the cache can give: see the top). The ticket
 * of a miss comes before the iterator's view of the store: a walk older than an invalidation is refused. */
static int walk(scan_t *s, xl_index_t ix, int status, const int64_t *start)
{
    walk_args_t args;
    xl_cache_answer_t a;
    xl_buf_t w;
    uint64_t ticket = 0;
    if (!s->f->cached || s->api->cache == NULL)
        return run_scan(s, ix, status, start);
    memset(&args, 0, sizeof(args));
    memcpy(args.hash, s->f->hash, TOKEN_HASH_LEN);
    if (start != NULL) {
        args.start[0] = 1;
        put_be64(args.start + 1, (uint64_t)start[0]);
        put_be64(args.start + 9, (uint64_t)start[1]);
    }
    put_be64(args.want, s->want);
    int64_t key = walk_key(&args);
    xl_buf_init(&w);
    int hit = xl_cache_get_kind(s->api->cache, key, XL_CACHE_WALK, walk_alloc, &w, &a, &ticket) == 1 &&
              walk_replay(s, &args, &a) == 0;
    xl_buf_dispose(&w);
    if (hit)
        return s->failed ? -EIO : 0;
    int ret = run_scan(s, ix, status, start);
    if (ret == 0)
        walk_keep(s->api, s, &args, key, ticket);
    return ret;
}

/* The page goes out as it is, no copy: the request's pool frees it with the request. */
static void page_free(void *owned)
{
    free(*(char **)owned);
}

static void send_page(h2o_req_t *req, xl_buf_t *page)
{
    static h2o_generator_t generator = {NULL, NULL};
    char **owned = h2o_mem_alloc_shared(&req->pool, sizeof(*owned), page_free);
    h2o_iovec_t body = h2o_iovec_init(page->base, page->len);
    *owned = page->base;
    xl_buf_init(page);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_start_response(req, &generator);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static int item_order(const void *a, const void *b, void *filter)
{
    int c = key_cmp(((const item_t *)a)->key, ((const item_t *)b)->key);
    return ((const filter_t *)filter)->desc ? -c : c;
}

void xl_read_list(xl_api_t *api, h2o_req_t *req, const xl_principal_t *who)
{
    filter_t f;
    int64_t limit, cursor[2], start[2];
    h2o_iovec_t v;
    int have_start = 0;
    scan_t scans[XL_STATUS__COUNT];
    size_t nscans = 0;

    int empty = parse_filterOrReply(req, who, &f);
    if (empty < 0 || xl_query_int_paramOrReply(req, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT, &limit) != 0)
        return;
    if (xl_http_query_param(req, "page_token", &v)) {
        if (token_decodeOrReply(api, req, &f, v, cursor) != 0)
            return;
        start[0] = cursor[0];
        start[1] = cursor[1];
        have_start = 1;
    } else if (f.desc ? f.has_lt : f.has_gte) {
        /* strictly after (bound, 0): audit IDs are positive, so the bound itself is in (gte) or out (lt) */
        start[0] = f.desc ? f.lt : f.gte;
        start[1] = 0;
        have_start = 1;
    }
    if (empty) {
        xl_http_send_json_obj(req, 200, json_pack("{s:[], s:n}", "items", "next_page_token"));
        return;
    }

    /* the plan: one index, or one scan per status */
    xl_index_t ix = f.parent ? XL_IX_CHILDREN
                    : f.top  ? XL_IX_TREE
                    : f.has_msg ? XL_IX_MESSAGE
                    : f.has_flow ? XL_IX_FLOW
                    : f.statuses ? XL_IX_STATUS
                                 : XL_IX_ALL;
    size_t budget = (size_t)limit * 20 > SCAN_BUDGET_MIN ? (size_t)limit * 20 : SCAN_BUDGET_MIN;
    xl_store_index_iter_t *iter = NULL;
    int failed = 0;
    for (int st = 0; st < XL_STATUS__COUNT && !failed; ++st) {
        if (ix == XL_IX_STATUS ? !(f.statuses >> st & 1) : st != 0)
            continue;
        scan_t *s = &scans[nscans++];
        *s = (scan_t){.api = api, .who = who, .f = &f, .iter = &iter, .want = (size_t)limit + 1, .budget = budget};
        xl_buf_init(&s->bytes);
        if (xl_buf_reserve(&s->bytes, s->want * ITEM_BYTES) != 0 ||
            xl_buf_append(&s->bytes, PAGE_HEAD, sizeof(PAGE_HEAD) - 1) != 0 ||
            (s->items = calloc(s->want, sizeof(*s->items))) == NULL)
            failed = 1;
        else
            failed = walk(s, ix, st, have_start ? start : NULL) != 0;
    }
    xl_store_index_iter_destroy(iter);

    /* merge: items up to the nearest horizon of a scan that stopped early are final */
    size_t total = 0;
    for (size_t i = 0; i < nscans; ++i)
        total += scans[i].nitems;
    item_t *all = failed ? NULL : nscans == 1 ? scans[0].items : calloc(total + 1, sizeof(*all));
    const int64_t *frontier = NULL;
    size_t bytes = 0;
    if (all != NULL) {
        total = 0;
        for (size_t i = 0; i < nscans; ++i) {
            if (all != scans[i].items)
                memcpy(all + total, scans[i].items, scans[i].nitems * sizeof(*all));
            total += scans[i].nitems;
            bytes += scans[i].bytes.len;
            if (scans[i].stopped && (frontier == NULL || (f.desc ? key_cmp(scans[i].last, frontier) > 0
                                                                 : key_cmp(scans[i].last, frontier) < 0)))
                frontier = scans[i].last;
        }
        if (nscans > 1) /* one scan is in order already */
            qsort_r(all, total, sizeof(*all), item_order, &f);
    }
    /* the page, written as bytes: {"items":[...],"next_page_token":"..."|null}; one scan's bytes
     * are its first items already, separated: they become the page, cut after the last item taken */
    xl_buf_t page;
    const char *next = NULL;
    size_t taken = 0, i = 0;
    int oom = 0;
    xl_buf_init(&page);
    for (; all != NULL && i < total && taken < (size_t)limit; ++i) {
        int beyond =
            frontier != NULL && (f.desc ? key_cmp(all[i].key, frontier) < 0 : key_cmp(all[i].key, frontier) > 0);
        if (beyond)
            break;
        ++taken;
    }
    if (nscans == 1 && all != NULL) {
        page = scans[0].bytes;
        xl_buf_init(&scans[0].bytes);
        page.len = taken != 0 ? all[taken - 1].off + all[taken - 1].len : sizeof(PAGE_HEAD) - 1;
    } else if (all != NULL) {
        oom |= xl_buf_reserve(&page, bytes + total + 128) != 0 ||
               xl_buf_append(&page, PAGE_HEAD, sizeof(PAGE_HEAD) - 1) != 0;
        for (size_t k = 0; k < taken; ++k)
            oom |= (k != 0 && xl_buf_append(&page, ",", 1) != 0) ||
                   xl_buf_append(&page, all[k].bytes->base + all[k].off, all[k].len) != 0;
    }
    if (all != NULL) {
        if (taken == (size_t)limit && (i < total || frontier != NULL))
            oom |= (next = token_encode(api, req, &f, all[i - 1].key)) == NULL;
        else if (taken < (size_t)limit && frontier != NULL)
            oom |= (next = token_encode(api, req, &f, frontier)) == NULL;
    }
    /* the token is base64url: nothing in it needs escaping */
    oom |= next != NULL ? xl_buf_appendf(&page, "],\"next_page_token\":\"%s\"}", next) != 0
                        : xl_buf_append(&page, "],\"next_page_token\":null}", 25) != 0;
    int lost = total > 0 && all == NULL; /* out of memory for the merge */
    if (all != NULL && (nscans != 1 || all != scans[0].items))
        free(all);
    for (size_t k = 0; k < nscans; ++k) {
        xl_buf_dispose(&scans[k].bytes);
        free(scans[k].items);
        failed |= scans[k].failed;
    }
    if (failed || oom || lost) {
        xl_buf_dispose(&page);
        xl_http_send_problem(req, 500, "internal", "Cannot read the index", NULL, "see the log");
        return;
    }
    send_page(req, &page);
}
