/*
 * JSON over the HTTP transport, and what an answer means to a script (see
 * api.h). The status-to-exit-code rule is one table; a problem document is
 * printed as "execlog: <title> (<status>): <detail>" with one line per
 * invalid field. Never prints on stdout.
 */
#include "api/cli/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* first matching row wins */
static const struct {
    int lo, hi, code;
} status_exit[] = {
    {200, 299, XL_CLI_EXIT_OK},
    {401, 401, XL_CLI_EXIT_AUTH},
    {403, 403, XL_CLI_EXIT_AUTH},
    {404, 404, XL_CLI_EXIT_NOT_FOUND},
    {400, 499, XL_CLI_EXIT_REJECTED},
    {0, 999, XL_CLI_EXIT_UNAVAILABLE}, /* 5xx, 3xx, no answer */
};

int xl_cli_api_exit_code(int status)
{
    for (size_t i = 0; i < sizeof(status_exit) / sizeof(status_exit[0]); i++)
        if (status_exit[i].lo <= status && status <= status_exit[i].hi)
            return status_exit[i].code;
    return XL_CLI_EXIT_UNAVAILABLE;
}

void xl_cli_api_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("execlog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

char *xl_cli_api_strf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        xl_cli_api_error("out of memory");
        exit(XL_CLI_EXIT_UNAVAILABLE);
    }
    return s;
}

char *xl_cli_api_escape(const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(value);
    char *out = malloc(3 * n + 1), *p = out;
    if (out == NULL) {
        xl_cli_api_error("out of memory");
        exit(XL_CLI_EXIT_UNAVAILABLE);
    }
    for (const unsigned char *s = (const unsigned char *)value; *s != '\0'; s++) {
        if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("-._~", *s)) {
            *p++ = (char)*s;
        } else {
            *p++ = '%';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 15];
        }
    }
    *p = '\0';
    return out;
}

void xl_cli_api_query_add(char **path, const char *name, const char *value)
{
    if (value == NULL)
        return;
    char *enc = xl_cli_api_escape(value);
    char *next = xl_cli_api_strf("%s%c%s=%s", *path, strchr(*path, '?') != NULL ? '&' : '?', name, enc);
    free(enc);
    free(*path);
    *path = next;
}

int xl_cli_api_report(xl_cli_t *cli, const char *path, const xl_cli_response_t *res, char *problem_type)
{
    if (res->status == 0) {
        xl_cli_api_error("%s%s: %s", xl_cli_http_url(cli->http), path, res->err);
        return XL_CLI_EXIT_UNAVAILABLE;
    }
    json_t *p = NULL;
    if (res->body != NULL && res->len > 0)
        p = json_loadb(res->body, res->len, 0, NULL);
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *detail = json_string_value(json_object_get(p, "detail"));
    const char *type = json_string_value(json_object_get(p, "type"));
    if (problem_type != NULL) {
        const char *slug = type != NULL && strncmp(type, "urn:execlog:problem:", 20) == 0 ? type + 20 : "";
        snprintf(problem_type, 96, "%s", slug);
    }
    if (title != NULL) {
        xl_cli_api_error("%s (%d)%s%s", title, res->status, detail != NULL ? ": " : "", detail != NULL ? detail : "");
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(p, "errors"), i, e)
        {
            fprintf(stderr, "  %s: %s\n", json_string_value(json_object_get(e, "field")) ?: "?",
                    json_string_value(json_object_get(e, "reason")) ?: "?");
        }
    } else { /* not a problem document: say what came back */
        xl_cli_api_error("%s%s answered %d%s%.*s", xl_cli_http_url(cli->http), path, res->status,
                         res->len > 0 ? ": " : "", (int)(res->len > 200 ? 200 : res->len), res->body ? res->body : "");
    }
    if (res->status == 503 && res->retry_after[0] != '\0')
        fprintf(stderr, "  retry after %s s\n", res->retry_after);
    json_decref(p);
    int code = xl_cli_api_exit_code(res->status);
    return code == XL_CLI_EXIT_OK ? XL_CLI_EXIT_UNAVAILABLE : code;
}

int xl_cli_api_call(xl_cli_t *cli, const char *method, const char *path, const json_t *body, json_t **answer,
                    int *status, char *problem_type)
{
    xl_cli_request_t req = {.method = method, .path = path};
    xl_cli_response_t res;
    char *text = NULL;
    int code;

    *answer = NULL;
    if (problem_type != NULL)
        problem_type[0] = '\0';
    if (body != NULL) {
        if ((text = json_dumps(body, JSON_COMPACT)) == NULL) {
            xl_cli_api_error("cannot encode the request body");
            return XL_CLI_EXIT_USAGE;
        }
        req.body = text;
        req.body_len = strlen(text);
    }
    xl_cli_http_request(cli->http, &req, &res);
    if (status != NULL)
        *status = res.status;
    if (res.status < 200 || res.status > 299) {
        code = xl_cli_api_report(cli, path, &res, problem_type);
        goto done;
    }
    if (!res.complete) {
        xl_cli_api_error("%s%s: %s", xl_cli_http_url(cli->http), path, res.err);
        code = XL_CLI_EXIT_UNAVAILABLE;
        goto done;
    }
    code = XL_CLI_EXIT_OK;
    if (res.len > 0) {
        json_error_t jerr;
        if ((*answer = json_loadb(res.body, res.len, 0, &jerr)) == NULL) {
            xl_cli_api_error("%s%s: the answer is not JSON: %s", xl_cli_http_url(cli->http), path, jerr.text);
            code = XL_CLI_EXIT_UNAVAILABLE;
        }
    }
done:
    free(res.body);
    free(text);
    return code;
}
