/*
 * libFuzzer target: percent-decoding of ingest/http.h, xl_http_percent_decode
 * (query values: '+' is a space) and xl_http_path_decode (path segments:
 * '+' stays). Input: the raw bytes to decode.
 *
 * Properties, beyond "no crash, no overread":
 *  - the output is never longer than the input and is NUL-terminated;
 *  - it is what a reference decoder gives ("%XY" with two hex digits of
 *    either case is one byte; anything else, a lone '%' included, is itself);
 *  - the two decoders differ only where the input has a literal '+';
 *  - round trip: percent-encoding any bytes (hex case picked by the input)
 *    and decoding gives the bytes back, with both decoders.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "ingest/http.h"
#include "tests/fuzz/fuzz.h"

static size_t ref_decode(const char *s, size_t len, int plus_is_space, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        int hi = i + 2 < len ? xl_http_hexval(s[i + 1]) : -1, lo = i + 2 < len ? xl_http_hexval(s[i + 2]) : -1;
        if (s[i] == '%' && hi >= 0 && lo >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = plus_is_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    return n;
}

static void check_decoded(const char *what, h2o_iovec_t out, const char *in, size_t len, const char *want, size_t wlen)
{
    XL_FUZZ_CHECK(out.len <= len, "%s: %zu bytes out of %zu", what, out.len, len);
    XL_FUZZ_CHECK(out.base != NULL && out.base[out.len] == '\0', "%s: not NUL-terminated", what);
    XL_FUZZ_CHECK(out.len == wlen && memcmp(out.base, want, wlen) == 0, "%s: differs from the reference", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    char *in = malloc(size ? size : 1), *want = malloc(size + 1), *enc = malloc(3 * size + 1);
    memcpy(in, data, size);

    /* decoding */
    h2o_iovec_t q = xl_http_percent_decode(&pool, in, size), p = xl_http_path_decode(&pool, in, size);
    size_t wlen = ref_decode(in, size, 1, want);
    check_decoded("query decode", q, in, size, want, wlen);
    wlen = ref_decode(in, size, 0, want);
    check_decoded("path decode", p, in, size, want, wlen);
    XL_FUZZ_CHECK(q.len == p.len, "the two decoders split the input differently");
    for (size_t i = 0; i < q.len; ++i)
        XL_FUZZ_CHECK(q.base[i] == p.base[i] || (q.base[i] == ' ' && p.base[i] == '+'),
                      "the decoders differ at %zu beyond '+'", i);

    /* round trip: encode every byte that is not unreserved, in the case the first byte picks */
    static const char *const hex[2] = {"0123456789ABCDEF", "0123456789abcdef"};
    const char *digits = hex[size > 0 ? data[0] & 1 : 0];
    size_t n = 0;
    for (size_t i = 0; i < size; ++i) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            enc[n++] = (char)c;
        } else {
            enc[n++] = '%';
            enc[n++] = digits[c >> 4];
            enc[n++] = digits[c & 15];
        }
    }
    q = xl_http_percent_decode(&pool, enc, n);
    p = xl_http_path_decode(&pool, enc, n);
    XL_FUZZ_CHECK(q.len == size && memcmp(q.base, in, size) == 0, "query decode(encode(x)) != x");
    XL_FUZZ_CHECK(p.len == size && memcmp(p.base, in, size) == 0, "path decode(encode(x)) != x");

    free(enc);
    free(want);
    free(in);
    h2o_mem_clear_pool(&pool);
    return 0;
}
