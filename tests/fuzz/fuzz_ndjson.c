/*
 * libFuzzer target: xl_ingest_next_line (ingest/ingest.h), the NDJSON batch
 * splitter of POST /v1/events. Input: a batch body.
 *
 * Properties, beyond "no crash, no overread":
 *  - it agrees line by line with a plain reference splitter (split at '\n',
 *    drop the leading spaces, tabs and CRs, skip what is then empty): the
 *    same lines, the same bytes, the same physical line numbers;
 *  - every line lies inside the body, holds no '\n', starts with a non-blank
 *    byte; line numbers grow; the end is final (a further call returns 0).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "tests/fuzz/fuzz.h"

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan sees any read past the end */
    char *body = malloc(size ? size : 1);
    memcpy(body, data, size);

    size_t pos = 0, lineno = 0, prev_lineno = 0, n = 0;
    size_t ref = 0, ref_lineno = 0; /* the reference splitter's cursor */
    h2o_iovec_t line;
    while (xl_ingest_next_line(body, size, &pos, &lineno, &line)) {
        ++n;
        XL_FUZZ_CHECK(line.base >= body && line.len > 0 && line.base + line.len <= body + size,
                      "line %zu lies outside the body", lineno);
        XL_FUZZ_CHECK(memchr(line.base, '\n', line.len) == NULL, "line %zu holds a newline", lineno);
        XL_FUZZ_CHECK(!blank(line.base[0]), "line %zu starts with a blank", lineno);
        XL_FUZZ_CHECK(lineno > prev_lineno, "line numbers do not grow (%zu after %zu)", lineno, prev_lineno);
        prev_lineno = lineno;

        /* the reference: the next physical line that is not blank */
        const char *rline = NULL;
        size_t rlen = 0;
        while (rline == NULL && ref < size) {
            const char *nl = memchr(body + ref, '\n', size - ref);
            size_t end = nl != NULL ? (size_t)(nl - body) : size, s = ref;
            ++ref_lineno;
            while (s < end && blank(body[s]))
                ++s;
            if (s < end) {
                rline = body + s;
                rlen = end - s;
            }
            ref = end + 1;
        }
        XL_FUZZ_CHECK(rline != NULL, "line %zu found where the reference sees none", lineno);
        XL_FUZZ_CHECK(line.base == rline && line.len == rlen && lineno == ref_lineno,
                      "line %zu (%zu bytes) is line %zu (%zu bytes) for the reference", lineno, line.len, ref_lineno,
                      rlen);
    }
    /* the reference has nothing left either */
    for (; ref < size; ++ref)
        XL_FUZZ_CHECK(body[ref] == '\n' || blank(body[ref]), "the reference has a line at byte %zu still", ref);
    XL_FUZZ_CHECK(!xl_ingest_next_line(body, size, &pos, &lineno, &line), "a line after the end");
    XL_FUZZ_CHECK(n <= lineno, "%zu lines among %zu physical ones", n, lineno);
    /* an absent body (h2o leaves entity.base NULL) has no line */
    pos = lineno = 0;
    XL_FUZZ_CHECK(!xl_ingest_next_line(NULL, 0, &pos, &lineno, &line) && pos == 0 && lineno == 0, "a line in nothing");
    free(body);
    return 0;
}
