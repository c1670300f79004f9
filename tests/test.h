/*
 * A minimal check harness for the C unit tests. Every check names its phase
 * (what the test was doing) so a failure reads as a sentence; a test binary
 * exits non-zero if any check failed, and prints "N passed, N failed".
 */
#ifndef XL_TESTS_TEST_H
#define XL_TESTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int xl_test_passed, xl_test_failed;
static const char *xl_test_phase = "start";

#define XL_PHASE(name) (xl_test_phase = (name))

#define XL_CHECK(cond, ...)                                                                                            \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            ++xl_test_passed;                                                                                          \
        } else {                                                                                                       \
            ++xl_test_failed;                                                                                          \
            fprintf(stderr, "%s:%d: [%s] check failed: %s: ", __FILE__, __LINE__, xl_test_phase, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

#define XL_CHECK_INT(a, b)                                                                                             \
    XL_CHECK((long long)(a) == (long long)(b), "%s = %lld, expected %lld", #a, (long long)(a), (long long)(b))

#define XL_CHECK_MEM(p, plen, q, qlen)                                                                                 \
    XL_CHECK((size_t)(plen) == (size_t)(qlen) && memcmp((p), (q), (size_t)(plen)) == 0, "%s = '%.*s', expected '%.*s'", \
             #p, (int)(plen), (const char *)(p), (int)(qlen), (const char *)(q))

#define XL_CHECK_STR(p, plen, s) XL_CHECK_MEM(p, plen, s, strlen(s))

/* Stop the test binary at once (for checks later steps cannot survive). */
#define XL_REQUIRE(cond, ...)                                                                                          \
    do {                                                                                                               \
        int xl_require_ok_ = (cond) ? 1 : 0; /* evaluated once: cond may have side effects */                        \
        XL_CHECK(xl_require_ok_, __VA_ARGS__);                                                                         \
        if (!xl_require_ok_)                                                                                           \
            return xl_test_finish();                                                                                   \
    } while (0)

/* Remove a test's scratch directory tree (path made by mkdtemp: no quoting issues). */
static inline void xl_test_rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", path);
}

static inline int xl_test_finish(void)
{
    printf("%d passed, %d failed\n", xl_test_passed, xl_test_failed);
    return xl_test_failed == 0 ? 0 : 1;
}

#endif
