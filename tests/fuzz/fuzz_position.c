/*
 * libFuzzer target: xl_server_parse_positions (api/server.h), one value of
 * the min_position query parameter ("P:O[,P:O...]", already percent-decoded).
 * Input: the value; its first byte also picks how many positions fit.
 *
 * Properties, beyond "no crash, no overread":
 *  - what it accepts is in range (partition 0..INT32_MAX, offset >= 0), no
 *    more than fit, one position per comma-separated item, each item made of
 *    blanks, signs, digits and one ':' only;
 *  - round trip: the accepted positions written back as "P:O,P:O" parse to
 *    the same positions;
 *  - everything a strict reference accepts (digits ':' digits, in range)
 *    it accepts with the same values; a refusal is never of such a value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/server.h"
#include "tests/fuzz/fuzz.h"

#define MAX 64 /* as the server (MAX_POSITIONS) */

/* strict: every item is 1-18 digits ':' 1-18 digits, partition <= INT32_MAX; -1 if not */
static long strict_parse(const char *s, size_t len, xl_pos_t *out, size_t max)
{
    size_t n = 0, i = 0;
    for (;;) {
        int64_t v[2] = {0, 0};
        for (int part = 0; part < 2; ++part) {
            size_t digits = 0;
            while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 18) {
                v[part] = v[part] * 10 + (s[i++] - '0');
                ++digits;
            }
            if (digits == 0)
                return -1;
            if (part == 0 && (i == len || s[i++] != ':'))
                return -1;
        }
        if (v[0] > INT32_MAX || n == max)
            return -1;
        out[n].partition = (int32_t)v[0];
        out[n++].offset = v[1];
        if (i == len)
            return (long)n;
        if (s[i++] != ',')
            return -1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max = data[0] % 2 ? MAX : 1 + data[0] % 8;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    char *value = malloc(len ? len : 1); /* an exact-size copy, so ASan sees any read past the end */
    memcpy(value, s, len);
    xl_pos_t want[MAX], strict[MAX], again[MAX];
    size_t n = 0;

    int rc = xl_server_parse_positions(value, len, want, max, &n);
    long sn = strict_parse(value, len, strict, max);
    if (rc != 0) {
        XL_FUZZ_CHECK(rc == -EINVAL, "returned %d", rc);
        XL_FUZZ_CHECK(sn < 0, "refused a value the strict reference accepts (%ld positions)", sn);
        XL_FUZZ_CHECK(n <= max, "%zu positions written, %zu fit", n, max);
    } else {
        size_t items = 1;
        for (size_t i = 0; i < len; ++i) {
            items += value[i] == ',';
            XL_FUZZ_CHECK(value[i] != '\0' && strchr(" \t\n\v\f\r+-0123456789:,", value[i]) != NULL,
                          "accepted byte 0x%02x at %zu", (unsigned char)value[i], i);
        }
        XL_FUZZ_CHECK(n == items && n >= 1 && n <= max, "%zu positions from %zu items (max %zu)", n, items, max);
        for (size_t i = 0; i < n; ++i)
            XL_FUZZ_CHECK(want[i].partition >= 0 && want[i].offset >= 0, "position %zu = %" PRId32 ":%" PRId64, i,
                          want[i].partition, want[i].offset);
        if (sn >= 0) {
            XL_FUZZ_CHECK((size_t)sn == n, "%zu positions, the strict reference %ld", n, sn);
            for (size_t i = 0; i < n; ++i)
                XL_FUZZ_CHECK(want[i].partition == strict[i].partition && want[i].offset == strict[i].offset,
                              "position %zu differs from the strict reference", i);
        }
        /* round trip through the canonical form */
        char text[MAX * 42];
        size_t tlen = 0, m = 0;
        for (size_t i = 0; i < n; ++i)
            tlen += (size_t)snprintf(text + tlen, sizeof(text) - tlen, "%s%" PRId32 ":%" PRId64, i ? "," : "",
                                     want[i].partition, want[i].offset);
        XL_FUZZ_CHECK(xl_server_parse_positions(text, tlen, again, max, &m) == 0 && m == n,
                      "the canonical form \"%s\" is refused", text);
        for (size_t i = 0; i < n; ++i)
            XL_FUZZ_CHECK(again[i].partition == want[i].partition && again[i].offset == want[i].offset,
                          "round trip changed position %zu", i);
    }
    free(value);
    return 0;
}
