/*
 * libFuzzer target: query-string parsing of ingest/http.h, xl_http_query_next,
 * xl_http_query_param and xl_http_query_unknown. Input: a request path with
 * its query string (":path" as h2o hands it over). The request is a zeroed
 * h2o_req_t with only the public fields these functions read (path,
 * query_at, pool): no connection, no answer.
 *
 * Properties, beyond "no crash, no overread":
 *  - for the API's parameter names and the input's own first name, iterating
 *    finds exactly the occurrences a reference split at '&' and '=' finds, in
 *    order, each value percent-decoded like the reference decoder does; the
 *    cursor only grows and the end is final;
 *  - query_param is the first occurrence;
 *  - query_unknown names the first non-empty name outside the allowed list,
 *    as a slice of the query, or nothing when there is none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "ingest/http.h"
#include "tests/fuzz/fuzz.h"

static const char *const names[] = {"limit", "status", "min_position", "page_token", "flow_id", "tenant_id",
                                    "as_of", "wait",   "after_seq",    "order_by",   "a",       ""};
static const char *const allowed_lists[] = {
    "", "limit,status,min_position", "a,,b",
    "flow_id,tenant_id,status,message_id,created_gte,created_lt,order_by,limit,page_token,min_position"};

/* the reference decoder: "%XY" with two hex digits is a byte, '+' a space, anything else itself */
static size_t ref_decode(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] == '%' && len - i >= 3 && xl_http_hexval(s[i + 1]) >= 0 && xl_http_hexval(s[i + 2]) >= 0) {
            out[n++] = (char)(xl_http_hexval(s[i + 1]) * 16 + xl_http_hexval(s[i + 2]));
            i += 2;
        } else {
            out[n++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return n;
}

typedef struct {
    const char *key;
    size_t klen;
    const char *val;
    size_t vlen;
} seg_t;

/* the reference split of the query: segments between '&', name before the first '=';
 * an empty query, or an empty last segment ("a=1&"), holds no parameter */
static size_t ref_split(const char *q, size_t qlen, seg_t *segs)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= qlen; ++i) {
        if (i < qlen && q[i] != '&')
            continue;
        if (i == qlen && start == qlen)
            break;
        const char *s = q + start, *eq = memchr(s, '=', i - start);
        segs[n].key = s;
        segs[n].klen = eq ? (size_t)(eq - s) : i - start;
        segs[n].val = eq ? eq + 1 : q + i;
        segs[n].vlen = eq ? (size_t)(q + i - eq - 1) : 0;
        ++n;
        start = i + 1;
    }
    return n;
}

static void check_name(h2o_req_t *req, const char *name, const seg_t *segs, size_t nsegs, char *scratch)
{
    size_t pos = 0, prev = 0, k = 0, nlen = strlen(name);
    h2o_iovec_t v, first = {NULL, 0};
    int found_first = 0;
    while (xl_http_query_next(req, name, &pos, &v)) {
        XL_FUZZ_CHECK(pos > prev, "cursor did not grow (%zu after %zu)", pos, prev);
        prev = pos;
        while (k < nsegs && !(segs[k].klen == nlen && memcmp(segs[k].key, name, nlen) == 0))
            ++k;
        XL_FUZZ_CHECK(k < nsegs, "\"%s\" found once more than the reference finds it", name);
        size_t rlen = ref_decode(segs[k].val, segs[k].vlen, scratch);
        XL_FUZZ_CHECK(v.len == rlen && memcmp(v.base, scratch, rlen) == 0, "\"%s\" #%zu: value differs", name, k);
        XL_FUZZ_CHECK(v.base[v.len] == '\0', "value not NUL-terminated");
        XL_FUZZ_CHECK(v.len <= segs[k].vlen, "decoded value longer than the raw one");
        if (!found_first) {
            first = v;
            found_first = 1;
        }
        ++k;
    }
    while (k < nsegs) {
        XL_FUZZ_CHECK(!(segs[k].klen == nlen && memcmp(segs[k].key, name, nlen) == 0),
                      "\"%s\": an occurrence was missed", name);
        ++k;
    }
    XL_FUZZ_CHECK(!xl_http_query_next(req, name, &pos, &v), "\"%s\": found again after the end", name);

    h2o_iovec_t p;
    int has = xl_http_query_param(req, name, &p);
    XL_FUZZ_CHECK(has == found_first, "query_param and query_next disagree on \"%s\"", name);
    XL_FUZZ_CHECK(!has || (p.len == first.len && memcmp(p.base, first.base, p.len) == 0),
                  "query_param is not the first occurrence of \"%s\"", name);
}

static int in_list(const char *list, const char *key, size_t klen)
{
    for (const char *a = list;;) {
        const char *comma = strchr(a, ',');
        size_t n = comma ? (size_t)(comma - a) : strlen(a);
        if (n == klen && memcmp(a, key, n) == 0)
            return 1;
        if (comma == NULL)
            return 0;
        a = comma + 1;
    }
}

static void check_unknown(h2o_req_t *req, const char *allowed, const seg_t *segs, size_t nsegs)
{
    const seg_t *want = NULL;
    for (size_t k = 0; k < nsegs && want == NULL; ++k)
        if (segs[k].klen > 0 && !in_list(allowed, segs[k].key, segs[k].klen))
            want = &segs[k];
    h2o_iovec_t name;
    int got = xl_http_query_unknown(req, allowed, &name);
    XL_FUZZ_CHECK(got == (want != NULL), "query_unknown(\"%.30s\") says %d", allowed, got);
    XL_FUZZ_CHECK(!got || (name.base == want->key && name.len == want->klen),
                  "query_unknown(\"%.30s\") names another parameter", allowed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = malloc(size ? size : 1);
    memcpy(path, data, size);
    const char *q = memchr(path, '?', size);

    static h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    req.path = h2o_iovec_init(path, size);
    req.query_at = q != NULL ? (size_t)(q - path) : SIZE_MAX;

    if (q == NULL) {
        h2o_iovec_t v, name;
        size_t pos = 0;
        XL_FUZZ_CHECK(!xl_http_query_next(&req, "limit", &pos, &v) && !xl_http_query_param(&req, "", &v) &&
                          !xl_http_query_unknown(&req, "", &name),
                      "a parameter without a query string");
    } else {
        size_t qlen = size - (size_t)(q - path) - 1;
        seg_t *segs = malloc((qlen + 1) * sizeof(*segs));
        char *scratch = malloc(qlen + 1);
        size_t nsegs = ref_split(q + 1, qlen, segs);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i)
            check_name(&req, names[i], segs, nsegs, scratch);
        /* the input's own first name (as a C string: up to a NUL) */
        char own[64];
        size_t olen = nsegs == 0 ? 0 : segs[0].klen < sizeof(own) - 1 ? segs[0].klen : sizeof(own) - 1;
        if (olen > 0)
            memcpy(own, segs[0].key, olen);
        own[olen] = '\0';
        check_name(&req, own, segs, nsegs, scratch);
        for (size_t i = 0; i < sizeof(allowed_lists) / sizeof(allowed_lists[0]); ++i)
            check_unknown(&req, allowed_lists[i], segs, nsegs);
        free(scratch);
        free(segs);
    }
    h2o_mem_clear_pool(&req.pool);
    free(path);
    return 0;
}
