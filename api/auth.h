/*
 * Access control: bearer tokens from a tokens file, each bound to a tenant
 * (or every tenant) and a role. Only the SHA-256 of a token is kept, in the
 * file and in memory; a presented token is hashed and compared with every
 * entry in constant time, so neither the answer time nor the file reveals a
 * token.
 *
 * File format, one token a line, `#` starts a comment:
 *   <sha256 hex of the token> <tenant | *> <reader | writer | admin>
 * (ops/token-hash.sh prints the hash of a token.)
 *
 * Roles nest: a writer may do what a reader may (and write), an admin
 * everything. This module never logs or keeps a token in clear.
 */
#ifndef XL_API_AUTH_H
#define XL_API_AUTH_H

#include <stddef.h>

#include "schemas/base/bytes.h"

typedef enum en_xl_role_t {
    XL_ROLE_NONE = 0, /* public routes: /healthz, /readyz */
    XL_ROLE_READER,
    XL_ROLE_WRITER,
    XL_ROLE_ADMIN,
} xl_role_t;

/** Who is asking: a role, and the tenant it is confined to. */
typedef struct st_xl_principal_t {
    int role;             /* xl_role_t */
    xl_str_t tenant;      /* base NULL: every tenant */
    const char *token_id; /* the first 8 hex digits of the token's hash (its line in the tokens file), for the
                             access log; NULL without a token */
} xl_principal_t;

typedef struct st_xl_auth_t xl_auth_t;

/**
 * @brief Load a tokens file.
 * @return the table (free with xl_auth_destroy), or NULL with err filled
 * ("FILE:LINE: why" for a malformed line).
 */
xl_auth_t *xl_auth_load(const char *path, char *err, size_t errlen);
void xl_auth_destroy(xl_auth_t *auth);

/** @brief Number of tokens loaded. */
size_t xl_auth_count(const xl_auth_t *auth);

/**
 * @brief Find the principal of a presented token (token, len borrowed).
 * @return 0 with *who filled (its tenant borrowed from auth, valid until
 * xl_auth_destroy), or -ENOENT for an unknown token.
 */
int xl_auth_check(const xl_auth_t *auth, const char *token, size_t len, xl_principal_t *who);

/** @brief 1 if who may see an execution of tenant (base NULL: no tenant; only all-tenant principals see it). */
int xl_principal_sees(const xl_principal_t *who, const xl_str_t *tenant);

/** @brief The tenant who's writes are confined to: its own, or NULL for an all-tenant principal. */
const xl_str_t *xl_principal_scope(const xl_principal_t *who);

/** @brief "reader", "writer", "admin" ("public" for XL_ROLE_NONE). */
const char *xl_role_name(int role);

#endif
