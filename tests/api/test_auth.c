/*
 * Tests of api/auth.c: the tokens file (comments, blank lines, every
 * malformed line with FILE:LINE), token lookup by hash (the clear token is
 * never in the file), roles, tenants, and who sees which tenant.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/auth.h"
#include "tests/test.h"

static char dir[] = "/tmp/xl-test-auth-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* The hash line of a token, computed the way ops/token-hash.sh does (openssl, independently of auth.c). */
static void hash_of(const char *token, char out[65])
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | openssl dgst -sha256 -r", token);
    FILE *fp = popen(cmd, "r");
    out[0] = '\0';
    if (fp != NULL) {
        if (fscanf(fp, "%64s", out) != 1)
            out[0] = '\0';
        pclose(fp);
    }
}

static void test_load_and_check(void)
{
    char err[512], h1[65], h2[65], h3[65], text[1024];
    xl_principal_t who;
    XL_PHASE("load a tokens file and look tokens up");
    hash_of("reader-token", h1);
    hash_of("acme-writer", h2);
    hash_of("admin-token", h3);
    XL_CHECK(strlen(h1) == 64, "openssl computed a hash: '%s'", h1);
    snprintf(text, sizeof(text), "# tokens\n\n%s * reader\n   %s acme writer   # the acme importer\r\n%s * admin\n", h1,
             h2, h3);
    xl_auth_t *auth = xl_auth_load(write_file("ok", text), err, sizeof(err));
    XL_CHECK(auth != NULL, "load: %s", err);
    if (auth == NULL)
        return;
    XL_CHECK_INT(xl_auth_count(auth), 3);
    XL_CHECK_INT(xl_auth_check(auth, "reader-token", 12, &who), 0);
    XL_CHECK_INT(who.role, XL_ROLE_READER);
    XL_CHECK(who.tenant.base == NULL, "* is every tenant");
    XL_CHECK_INT(xl_auth_check(auth, "acme-writer", 11, &who), 0);
    XL_CHECK_INT(who.role, XL_ROLE_WRITER);
    XL_CHECK_STR(who.tenant.base, who.tenant.len, "acme");
    XL_CHECK(who.token_id != NULL && strlen(who.token_id) == 8 && memcmp(who.token_id, h2, 8) == 0,
             "token_id: the first 8 hex digits of the token's hash (%s, hash %s)", who.token_id, h2);
    XL_CHECK_INT(xl_auth_check(auth, "admin-token", 11, &who), 0);
    XL_CHECK_INT(who.role, XL_ROLE_ADMIN);

    XL_PHASE("unknown tokens");
    XL_CHECK_INT(xl_auth_check(auth, "reader-toke", 11, &who), -ENOENT);
    XL_CHECK_INT(xl_auth_check(auth, "reader-token ", 13, &who), -ENOENT);
    XL_CHECK_INT(xl_auth_check(auth, "", 0, &who), -ENOENT);
    XL_CHECK_INT(xl_auth_check(auth, h1, 64, &who), -ENOENT); /* the hash itself is not a token */
    xl_auth_destroy(auth);
}

static void test_bad_files(void)
{
    char err[512], h[65], text[512];
    hash_of("x", h);
    static const struct {
        const char *name, *fmt, *want;
    } cases[] = {
        {"two-fields", "# c\n%s *\n", "two-fields:2:"},        {"four-fields", "%s * reader extra\n", "four-fields:1:"},
        {"short-hash", "abc * reader\n", "64 hex digits"},     {"bad-role", "%s * root\n", "role 'root'"},
        {"twice", "%s * reader\n%s acme admin\n", "twice:2:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        XL_PHASE(cases[i].name);
        snprintf(text, sizeof(text), cases[i].fmt, h, h);
        err[0] = '\0';
        xl_auth_t *auth = xl_auth_load(write_file(cases[i].name, text), err, sizeof(err));
        XL_CHECK(auth == NULL, "a malformed file was accepted");
        XL_CHECK(strstr(err, cases[i].want) != NULL, "error '%s' does not say '%s'", err, cases[i].want);
        xl_auth_destroy(auth);
    }
    XL_PHASE("missing file");
    XL_CHECK(xl_auth_load("/nonexistent/tokens", err, sizeof(err)) == NULL, "a missing file was accepted");
    XL_CHECK(strstr(err, "/nonexistent/tokens") != NULL, "error names the file: %s", err);
    XL_PHASE("empty file");
    xl_auth_t *auth = xl_auth_load(write_file("empty", "# nobody\n"), err, sizeof(err));
    XL_CHECK(auth != NULL && xl_auth_count(auth) == 0, "an empty file loads with no token");
    xl_auth_destroy(auth);
}

static void test_sees(void)
{
    XL_PHASE("who sees which tenant");
    xl_principal_t all = {XL_ROLE_READER, {NULL, 0}}, acme = {XL_ROLE_READER, {(char *)"acme", 4}};
    xl_str_t t_acme = {(char *)"acme", 4}, t_acm = {(char *)"acm", 3}, t_none = {NULL, 0}, t_empty = {(char *)"", 0};
    XL_CHECK(xl_principal_sees(&all, &t_acme) && xl_principal_sees(&all, &t_none), "* sees every tenant and none");
    XL_CHECK(xl_principal_sees(&acme, &t_acme), "acme sees acme");
    XL_CHECK(!xl_principal_sees(&acme, &t_acm), "acme does not see a prefix of itself");
    XL_CHECK(!xl_principal_sees(&acme, &t_none), "acme does not see executions without a tenant");
    XL_CHECK(!xl_principal_sees(&acme, &t_empty), "acme does not see the empty tenant");
    XL_CHECK(strcmp(xl_role_name(XL_ROLE_WRITER), "writer") == 0, "role names");
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_load_and_check();
    test_bad_files();
    test_sees();
    xl_test_rm_rf(dir);
    return xl_test_finish();
}
