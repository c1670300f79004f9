/*
 * libFuzzer target: xl_list_token_decode (api/read.h), the page tokens of
 * GET /v1/executions, with a fixed cursor key. The seeds are tokens made
 * with that key (tests/fuzz/make_seeds.c), so mutations reach the MAC check.
 *
 * Properties, beyond "no crash, no overread":
 *  - on the input as a token, the answer is exactly the oracle's, an
 *    independent decoder of the format list.c documents: 0 with the hash and
 *    key it carries for a canonical base64url of version 1 whose MAC matches,
 *    -EBADMSG when only the MAC is wrong, -EINVAL for anything else; the
 *    outputs are untouched on failure. So no two strings are the same token
 *    (a changed last character, say, is refused);
 *  - on the input as token contents (hash, created_ms, audit_id): the token
 *    made of them decodes to them; with one character changed, one dropped or
 *    one added it is refused; made with another key it is -EBADMSG.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/read.h"
#include "tests/fuzz/fuzz.h"

/* the key of the seeds: bytes 0, 1, ..., 31 */
static unsigned char key[XL_CURSOR_KEY_LEN], other_key[XL_CURSOR_KEY_LEN];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 0; i < XL_CURSOR_KEY_LEN; ++i) {
        key[i] = (unsigned char)i;
        other_key[i] = (unsigned char)(i ^ 0x5a);
    }
    return 0;
}

/* canonical unpadded base64url only (the unused bits of the last character are 0); -1 otherwise */
static long oracle_b64(const char *in, size_t len, unsigned char *out, size_t outlen)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; ++i) {
        const char *p = in[i] != '\0' ? strchr(abc, in[i]) : NULL;
        if (p == NULL)
            return -1;
        acc = (acc << 6 | (uint32_t)(p - abc)) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == outlen)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)n;
}

static int decode(const unsigned char *k, const char *tok, size_t len, unsigned char hash[8], int64_t last[2])
{
    /* an exact-size copy, so ASan sees any read past the end */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, tok, len);
    int rc = xl_list_token_decode(k, copy, len, hash, last);
    free(copy);
    return rc;
}

static void as_token(const uint8_t *data, size_t size)
{
    unsigned char raw[XL_FUZZ_TOKEN_RAW + 3], hash[8], sentinel[8];
    int64_t last[2] = {-7, -7};
    memset(hash, 0xee, sizeof(hash));
    memset(sentinel, 0xee, sizeof(sentinel));

    int rc = decode(key, (const char *)data, size, hash, last);
    long n = oracle_b64((const char *)data, size, raw, sizeof(raw));
    int want = -EINVAL;
    if (n == XL_FUZZ_TOKEN_RAW && raw[0] == 1) {
        int64_t k[2];
        unsigned char again[XL_FUZZ_TOKEN_RAW];
        for (int j = 0; j < 2; ++j) {
            uint64_t v = 0;
            for (int i = 0; i < 8; ++i)
                v = v << 8 | raw[9 + 8 * j + i];
            k[j] = (int64_t)v;
        }
        xl_fuzz_token_raw(key, raw + 1, k, again);
        want = CRYPTO_memcmp(again + 25, raw + 25, 16) == 0 ? 0 : -EBADMSG;
        if (want == 0 && rc == 0)
            XL_FUZZ_CHECK(memcmp(hash, raw + 1, 8) == 0 && last[0] == k[0] && last[1] == k[1],
                          "an accepted token decoded to other contents");
    }
    XL_FUZZ_CHECK(rc == want, "token of %zu chars: decode says %d, the oracle %d", size, rc, want);
    if (rc != 0)
        XL_FUZZ_CHECK(memcmp(hash, sentinel, 8) == 0 && last[0] == -7 && last[1] == -7,
                      "a refused token wrote its outputs");
}

static void as_contents(const uint8_t *data, size_t size)
{
    if (size < 8 + 16 + 3)
        return;
    unsigned char hash[8];
    int64_t last[2], got[2];
    char tok[XL_FUZZ_TOKEN_CHARS + 1];
    memcpy(hash, data, 8);
    for (int j = 0; j < 2; ++j) {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i)
            v = v << 8 | data[8 + 8 * j + i];
        last[j] = (int64_t)v;
    }
    xl_fuzz_token_encode(key, hash, last, tok);

    unsigned char h[8];
    int rc = decode(key, tok, XL_FUZZ_TOKEN_CHARS, h, got);
    XL_FUZZ_CHECK(rc == 0, "a token made with the key is refused (%d)", rc);
    XL_FUZZ_CHECK(memcmp(h, hash, 8) == 0 && got[0] == last[0] && got[1] == last[1], "a token's contents changed");
    XL_FUZZ_CHECK(decode(other_key, tok, XL_FUZZ_TOKEN_CHARS, h, got) == -EBADMSG, "another key's token passed");
    XL_FUZZ_CHECK(decode(key, tok, XL_FUZZ_TOKEN_CHARS - 1, h, got) != 0, "a token missing its last character passed");

    size_t at = data[24] % XL_FUZZ_TOKEN_CHARS;
    char c = (char)data[25];
    tok[XL_FUZZ_TOKEN_CHARS] = c;
    XL_FUZZ_CHECK(decode(key, tok, XL_FUZZ_TOKEN_CHARS + 1, h, got) != 0, "a token with a character added passed");
    if (tok[at] != c) {
        tok[at] = c;
        XL_FUZZ_CHECK(decode(key, tok, XL_FUZZ_TOKEN_CHARS, h, got) != 0, "a token with character %zu changed passed",
                      at);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_token(data, size);
    as_contents(data, size);
    return 0;
}
