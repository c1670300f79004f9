/*
 * Tests of api/access.c: the access line's logfmt (hostile paths, methods
 * and tenants cannot break the line or forge a field), the caller's fields,
 * and which X-Request-Id values are kept.
 */
#include <string.h>

#include "api/access.h"
#include "tests/test.h"

static void test_format(void)
{
    char out[3072];
    XL_PHASE("a plain line");
    xl_principal_t who = {XL_ROLE_WRITER, {"acme", 4}, "eea4f573"};
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    xl_access_rec_t rec = {.id = "req-1",
                           .remote = "127.0.0.1",
                           .method = "POST",
                           .method_len = 4,
                           .route = "/v1/executions/{id}/events",
                           .path = "/v1/executions/42/events",
                           .path_len = 24,
                           .status = 202,
                           .seconds = 0.0012345,
                           .bytes = 318,
                           .held = 0,
                           .who = &who,
                           .traceparent = tp,
                           .traceparent_len = strlen(tp)};
    size_t n = xl_access_format(&rec, out, sizeof(out));
    XL_CHECK_STR(out, n,
                 "id=req-1 remote=127.0.0.1 method=POST route=/v1/executions/{id}/events path=/v1/executions/42/events "
                 "status=202 duration_ms=1.234 bytes=318 held=0 role=writer tenant=acme token=eea4f573 "
                 "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

    XL_PHASE("hostile values are quoted and escaped");
    static const char path[] = "/a b\"c\\d\ne status=200\x01\xff";
    xl_principal_t odd = {XL_ROLE_READER, {"t x", 3}, NULL};
    rec = (xl_access_rec_t){.id = "x",
                            .method = "GE T",
                            .method_len = 4,
                            .route = "unmatched",
                            .path = path,
                            .path_len = sizeof(path) - 1,
                            .status = 404,
                            .who = &odd,
                            .auth_error = "needs the writer role"};
    n = xl_access_format(&rec, out, sizeof(out));
    XL_CHECK_STR(out, n,
                 "id=x method=\"GE T\" route=unmatched path=\"/a b\\\"c\\\\d\\x0ae status=200\\x01\\xff\" status=404 "
                 "duration_ms=0.000 bytes=0 held=0 role=reader tenant=\"t x\" auth=\"needs the writer role\"");
    XL_CHECK(memchr(out, '\n', n) == NULL, "one line");

    XL_PHASE("no caller; every tenant");
    rec = (xl_access_rec_t){.route = "/readyz", .status = 200, .held = 1, .seconds = 2.5};
    n = xl_access_format(&rec, out, sizeof(out));
    XL_CHECK_STR(out, n, "route=/readyz status=200 duration_ms=2500.000 bytes=0 held=1");
    xl_principal_t all = {XL_ROLE_ADMIN, {NULL, 0}, NULL};
    rec.who = &all;
    n = xl_access_format(&rec, out, sizeof(out));
    XL_CHECK_STR(out, n, "route=/readyz status=200 duration_ms=2500.000 bytes=0 held=1 role=admin tenant=*");

    XL_PHASE("a small buffer truncates, NUL-terminated");
    n = xl_access_format(&rec, out, 10);
    XL_CHECK_INT((int)n, 9);
    XL_CHECK(out[9] == '\0' && strncmp(out, "route=/re", 9) == 0, "'%s'", out);
}

static void test_request_id(void)
{
    char id[65], big[80];
    XL_PHASE("request IDs");
    XL_CHECK_INT(xl_access_request_id("abc-123_x.y:z/+=@", 17, id), 1);
    XL_CHECK(strcmp(id, "abc-123_x.y:z/+=@") == 0, "kept: %s", id);
    static const char *const bad[] = {"", "a b", "a\"b", "a\nb", "a=b;c", "é"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        XL_CHECK_INT(xl_access_request_id(bad[i], strlen(bad[i]), id), 0);
        XL_CHECK(strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16, "'%s' replaced by %s", bad[i], id);
    }
    XL_CHECK_INT(xl_access_request_id("a\0b", 3, id), 0);
    memset(big, 'a', sizeof(big));
    XL_CHECK_INT(xl_access_request_id(big, 64, id), 1);
    XL_CHECK_INT(xl_access_request_id(big, 65, id), 0);
    char other[65];
    xl_access_request_id(NULL, 0, id);
    xl_access_request_id(NULL, 0, other);
    XL_CHECK(strcmp(id, other) != 0, "two fresh IDs differ: %s %s", id, other);
}

int main(void)
{
    test_format();
    test_request_id();
    return xl_test_finish();
}
