/*
 * The OpenAPI document (api/www/v1/openapi.json, as built into the binary)
 * against the route table (xl_server_route_info): every row is an operation
 * of the document and every operation a row, with the same least role,
 * security, tenant scope, query parameters and path parameters.
 *
 * Paths: the document names each parameter ({audit_id}, {flow_id}, ...);
 * the table has two kinds of segment. The mapping is one rule, applied to
 * the document: {audit_id} is the table's {id} (and must be an AuditId, an
 * integer), any other {x} is the table's {name} (and must be a string).
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/assets.h"
#include "api/auth.h"
#include "api/server.h"
#include "tests/test.h"

static json_t *doc;

/* The document's path with its parameters mapped to the table's kinds: "/v1/flows/{flow_id}" -> "/v1/flows/{name}". */
static void table_pattern(const char *path, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = path; *p != '\0' && n + 8 < outlen;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL)
                break;
            const char *kind = (close - p - 1 == 8 && strncmp(p + 1, "audit_id", 8) == 0) ? "{id}" : "{name}";
            n += (size_t)snprintf(out + n, outlen - n, "%s", kind);
            p = close + 1;
            continue;
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
}

/* "#/components/parameters/X" resolved; anything else as it is. */
static json_t *resolve(json_t *v)
{
    const char *ref = json_string_value(json_object_get(v, "$ref"));
    static const char prefix[] = "#/components/parameters/";
    if (ref == NULL)
        return v;
    if (strncmp(ref, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    return json_object_get(json_object_get(json_object_get(doc, "components"), "parameters"), ref + sizeof(prefix) - 1);
}

/* Is "name" one of the comma-separated names of list? */
static int in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *s = list; *s != '\0';) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n == len && strncmp(s, name, n) == 0)
            return 1;
        s += n + (comma ? 1 : 0);
    }
    return 0;
}

static size_t list_count(const char *list)
{
    size_t n = *list ? 1 : 0;
    for (const char *s = list; *s; ++s)
        n += *s == ',';
    return n;
}

/* The query and path parameters of one operation against its row. */
static void check_parameters(const char *what, const char *path, json_t *op, const xl_server_route_info_t *r)
{
    json_t *list = json_object_get(op, "parameters"), *p;
    size_t i, nquery = 0, npath = 0, nbraces = 0;
    for (const char *s = path; *s; ++s)
        nbraces += *s == '{';
    json_array_foreach(list, i, p)
    {
        json_t *param = resolve(p);
        XL_CHECK(param != NULL, "%s: parameter %zu does not resolve", what, i);
        if (param == NULL)
            continue;
        const char *name = json_string_value(json_object_get(param, "name"));
        const char *in = json_string_value(json_object_get(param, "in"));
        XL_CHECK(name != NULL && in != NULL, "%s: parameter %zu has no name or in", what, i);
        if (name == NULL || in == NULL)
            continue;
        if (strcmp(in, "query") == 0) {
            ++nquery;
            XL_CHECK(r->params != NULL && in_list(r->params, name),
                     "%s: the document has query parameter %s, the route takes %s", what, name,
                     r->params ? (*r->params ? r->params : "none") : "any (none documented)");
        } else if (strcmp(in, "path") == 0) {
            char braced[128];
            ++npath;
            snprintf(braced, sizeof(braced), "{%s}", name);
            XL_CHECK(strstr(path, braced) != NULL, "%s: path parameter %s is not in the path", what, name);
            XL_CHECK(json_is_true(json_object_get(param, "required")), "%s: path parameter %s is not required",
                     what, name);
            json_t *schema = json_object_get(param, "schema");
            const char *sref = json_string_value(json_object_get(schema, "$ref"));
            if (strcmp(name, "audit_id") == 0)
                XL_CHECK(sref != NULL && strcmp(sref, "#/components/schemas/AuditId") == 0,
                         "%s: {audit_id} must be an AuditId (the table's {id})", what);
            else
                XL_CHECK(sref == NULL && json_is_string(json_object_get(schema, "type")) &&
                             strcmp(json_string_value(json_object_get(schema, "type")), "string") == 0,
                         "%s: {%s} must be a string (the table's {name})", what, name);
        }
    }
    XL_CHECK(npath == nbraces, "%s: %zu path parameters declared for %zu in the path", what, npath, nbraces);
    size_t want = r->params != NULL ? list_count(r->params) : 0;
    XL_CHECK(nquery == want, "%s: %zu query parameters documented, the route takes %zu (%s)", what, nquery, want,
             r->params ? r->params : "any");
}

static void check_operation(const char *what, json_t *op, const xl_server_route_info_t *r)
{
    const char *role = json_string_value(json_object_get(op, "x-execlog-role"));
    XL_CHECK(role != NULL && strcmp(role, xl_role_name(r->role)) == 0, "%s: x-execlog-role is %s, the route needs %s",
             what, role ? role : "(none)", xl_role_name(r->role));
    json_t *security = json_object_get(op, "security");
    if (r->role == XL_ROLE_NONE)
        XL_CHECK(json_is_array(security) && json_array_size(security) == 0, "%s: a public route has security: []",
                 what);
    else
        XL_CHECK(security == NULL || (json_array_size(security) == 1 &&
                                      json_object_get(json_array_get(security, 0), "bearerAuth") != NULL),
                 "%s: a route with a role needs the bearer token", what);
    XL_CHECK(json_is_true(json_object_get(op, "x-execlog-all-tenants")) == (r->all_tenants != 0),
             "%s: x-execlog-all-tenants must be %s", what, r->all_tenants ? "true" : "absent");
    json_t *responses = json_object_get(op, "responses");
    XL_CHECK(json_object_size(responses) > 0, "%s: no responses", what);
    if (r->role != XL_ROLE_NONE)
        XL_CHECK(json_object_get(responses, "401") != NULL && json_object_get(responses, "403") != NULL,
                 "%s: a route with a role documents 401 and 403", what);
}

int main(void)
{
    XL_PHASE("the document");
    const xl_asset_t *asset = xl_asset_find(H2O_STRLIT("/v1/openapi.json"));
    XL_REQUIRE(asset != NULL, "api/www/v1/openapi.json is not built into the binary");
    json_error_t jerr;
    doc = json_loadb((const char *)asset->bytes, asset->len, JSON_REJECT_DUPLICATES, &jerr);
    XL_REQUIRE(doc != NULL, "not JSON: line %d: %s", jerr.line, jerr.text);
    const char *version = json_string_value(json_object_get(doc, "openapi"));
    XL_CHECK(version != NULL && strcmp(version, "3.1.0") == 0, "openapi is %s", version ? version : "(none)");
    const char *info_version = json_string_value(json_object_get(json_object_get(doc, "info"), "version"));
    XL_CHECK(info_version != NULL && strcmp(info_version, XL_VERSION) == 0, "info.version %s, execlogd is %s",
             info_version ? info_version : "(none)", XL_VERSION);
    json_t *paths = json_object_get(doc, "paths");
    XL_REQUIRE(json_is_object(paths), "no paths");

    XL_PHASE("every route is documented");
    xl_server_route_info_t r;
    size_t nroutes = 0;
    for (size_t i = 0; xl_server_route_info(i, &r) == 0; ++i, ++nroutes) {
        char what[160], lower[16];
        size_t k = 0;
        for (; r.method[k] && k + 1 < sizeof(lower); ++k)
            lower[k] = (char)tolower((unsigned char)r.method[k]);
        lower[k] = '\0';
        snprintf(what, sizeof(what), "%s %s", r.method, r.pattern);
        json_t *op = NULL;
        const char *path;
        json_t *item;
        int found = 0;
        json_object_foreach(paths, path, item)
        {
            char pat[256];
            table_pattern(path, pat, sizeof(pat));
            if (strcmp(pat, r.pattern) != 0 || (op = json_object_get(item, lower)) == NULL)
                continue;
            ++found;
            check_operation(what, op, &r);
            check_parameters(what, path, op, &r);
        }
        XL_CHECK(found == 1, "%s: %d operations of the document match it (want 1)", what, found);
    }
    XL_CHECK(nroutes > 0, "the route table is empty");

    XL_PHASE("every operation is a route");
    static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};
    const char *path;
    json_t *item;
    size_t nops = 0;
    json_object_foreach(paths, path, item)
    {
        char pat[256];
        table_pattern(path, pat, sizeof(pat));
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); ++m) {
            if (json_object_get(item, methods[m]) == NULL)
                continue;
            ++nops;
            int found = 0;
            for (size_t i = 0; xl_server_route_info(i, &r) == 0; ++i)
                found += strcasecmp(r.method, methods[m]) == 0 && strcmp(r.pattern, pat) == 0;
            XL_CHECK(found == 1, "%s %s (%s in the table): %d routes match it (want 1)", methods[m], path, pat, found);
        }
    }
    XL_CHECK_INT(nops, nroutes);

    XL_PHASE("the mapping itself");
    char pat[256];
    table_pattern("/v1/executions/{audit_id}/events", pat, sizeof(pat));
    XL_CHECK(strcmp(pat, "/v1/executions/{id}/events") == 0, "got %s", pat);
    table_pattern("/rest/v1/executions/{flow_id}", pat, sizeof(pat));
    XL_CHECK(strcmp(pat, "/rest/v1/executions/{name}") == 0, "got %s", pat);
    XL_CHECK(xl_server_route_info(nroutes, &r) == -ENOENT, "past the last row");

    json_decref(doc);
    return xl_test_finish();
}
