/*
 * Bearer tokens (see auth.h). The table is read once at start-up and never
 * changes, so the event loop reads it without locks.
 */
#include "api/auth.h"
#include "ingest/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define HASH_LEN 32

typedef struct st_token_t {
    unsigned char hash[HASH_LEN];
    int role;
    char *tenant; /* NULL: every tenant */
    size_t tenant_len;
    char id[9]; /* hex of the hash's first 4 bytes: names the line, never the token */
} token_t;

struct st_xl_auth_t {
    token_t *tokens;
    size_t ntokens;
};

static const char *const role_names[] = {
    [XL_ROLE_NONE] = "public",
    [XL_ROLE_READER] = "reader",
    [XL_ROLE_WRITER] = "writer",
    [XL_ROLE_ADMIN] = "admin",
};

const char *xl_role_name(int role)
{
    return role >= XL_ROLE_NONE && role <= XL_ROLE_ADMIN ? role_names[role] : "?";
}

static int parse_role(const char *s)
{
    for (int r = XL_ROLE_READER; r <= XL_ROLE_ADMIN; ++r)
        if (strcmp(s, role_names[r]) == 0)
            return r;
    return -1;
}

static int parse_hash(const char *s, unsigned char out[HASH_LEN])
{
    if (strlen(s) != HASH_LEN * 2)
        return -EINVAL;
    for (size_t i = 0; i < HASH_LEN; ++i) {
        int hi = xl_http_hexval(s[2 * i]), lo = xl_http_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void xl_auth_destroy(xl_auth_t *auth)
{
    if (auth == NULL)
        return;
    for (size_t i = 0; i < auth->ntokens; ++i)
        free(auth->tokens[i].tenant);
    OPENSSL_cleanse(auth->tokens, auth->ntokens * sizeof(*auth->tokens));
    free(auth->tokens);
    free(auth);
}

xl_auth_t *xl_auth_load(const char *path, char *err, size_t errlen)
{
    xl_auth_t *auth = calloc(1, sizeof(*auth));
    FILE *fp = fopen(path, "r");
    char line[1024];
    int lineno = 0;
    if (auth == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        ++lineno;
        char *hash = NULL, *tenant = NULL, *role = NULL, *extra = NULL, *save = NULL;
        char *hashmark = strchr(line, '#');
        if (hashmark != NULL)
            *hashmark = '\0';
        hash = strtok_r(line, " \t\r\n", &save);
        if (hash == NULL)
            continue;
        tenant = strtok_r(NULL, " \t\r\n", &save);
        role = strtok_r(NULL, " \t\r\n", &save);
        extra = strtok_r(NULL, " \t\r\n", &save);
        if (tenant == NULL || role == NULL || extra != NULL) {
            snprintf(err, errlen, "%s:%d: expected '<sha256 hex> <tenant|*> <reader|writer|admin>'", path, lineno);
            goto fail;
        }
        token_t t = {.role = parse_role(role)};
        if (parse_hash(hash, t.hash) != 0) {
            snprintf(err, errlen,
                     "%s:%d: the token hash must be 64 hex digits (the SHA-256 of the token; see "
                     "ops/token-hash.sh)",
                     path, lineno);
            goto fail;
        }
        if (t.role < 0) {
            snprintf(err, errlen, "%s:%d: role '%s' is not reader, writer or admin", path, lineno, role);
            goto fail;
        }
        for (int i = 0; i < 4; ++i)
            snprintf(t.id + 2 * i, 3, "%02x", t.hash[i]);
        for (size_t i = 0; i < auth->ntokens; ++i) {
            if (memcmp(auth->tokens[i].hash, t.hash, HASH_LEN) == 0) {
                snprintf(err, errlen, "%s:%d: the same token is listed twice", path, lineno);
                goto fail;
            }
        }
        if (strcmp(tenant, "*") != 0) {
            t.tenant = strdup(tenant);
            t.tenant_len = strlen(tenant);
        }
        token_t *tokens = realloc(auth->tokens, (auth->ntokens + 1) * sizeof(*tokens));
        if (tokens == NULL || (strcmp(tenant, "*") != 0 && t.tenant == NULL)) {
            free(t.tenant);
            if (tokens != NULL)
                auth->tokens = tokens;
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        auth->tokens = tokens;
        auth->tokens[auth->ntokens++] = t;
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: read error", path);
        goto fail;
    }
    fclose(fp);
    return auth;
fail:
    if (fp != NULL)
        fclose(fp);
    OPENSSL_cleanse(line, sizeof(line));
    xl_auth_destroy(auth);
    return NULL;
}

size_t xl_auth_count(const xl_auth_t *auth)
{
    return auth->ntokens;
}

int xl_auth_check(const xl_auth_t *auth, const char *token, size_t len, xl_principal_t *who)
{
    unsigned char hash[HASH_LEN];
    unsigned int hlen = 0;
    if (EVP_Digest(token, len, hash, &hlen, EVP_sha256(), NULL) != 1 || hlen != HASH_LEN)
        return -ENOENT;
    /* every entry is compared, whatever matched: the time does not depend on which one did */
    const token_t *found = NULL;
    for (size_t i = 0; i < auth->ntokens; ++i) {
        int same = CRYPTO_memcmp(hash, auth->tokens[i].hash, HASH_LEN) == 0;
        found = same ? &auth->tokens[i] : found;
    }
    OPENSSL_cleanse(hash, sizeof(hash));
    if (found == NULL)
        return -ENOENT;
    who->role = found->role;
    who->tenant.base = found->tenant;
    who->tenant.len = found->tenant_len;
    who->token_id = found->id;
    return 0;
}

const xl_str_t *xl_principal_scope(const xl_principal_t *who)
{
    return who->tenant.base != NULL ? &who->tenant : NULL;
}

int xl_principal_sees(const xl_principal_t *who, const xl_str_t *tenant)
{
    if (who->tenant.base == NULL)
        return 1;
    return tenant->base != NULL && tenant->len == who->tenant.len &&
           memcmp(tenant->base, who->tenant.base, tenant->len) == 0;
}
