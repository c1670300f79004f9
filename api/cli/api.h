/*
 * execlog's HTTP API as the command-line client sees it: JSON requests and
 * answers, the exit code an answer maps to, and problem documents
 * (RFC 9457) printed on stderr. Also the client's shared state (xl_cli_t)
 * and the small string helpers the commands use to build paths.
 *
 * It never prints on stdout: rendering answers is output.c's job.
 */
#ifndef XL_CLI_API_H
#define XL_CLI_API_H

#include <jansson.h>

#include "api/cli/http.h"

/* Exit codes a script can trust (documented in --help and README.md). */
enum {
    XL_CLI_EXIT_OK = 0,
    XL_CLI_EXIT_USAGE = 1,       /* bad command line or local input */
    XL_CLI_EXIT_NOT_FOUND = 2,   /* 404 */
    XL_CLI_EXIT_AUTH = 3,        /* 401, 403 */
    XL_CLI_EXIT_REJECTED = 4,    /* any other 4xx: the server refused the input */
    XL_CLI_EXIT_UNAVAILABLE = 5, /* 5xx, no connection, a timeout, an answer that is not the API's */
};

enum { XL_CLI_OUTPUT_TABLE = 0, XL_CLI_OUTPUT_JSON = 1 };

typedef struct st_xl_cli_t {
    xl_cli_http_t *http;
    int output;         /* XL_CLI_OUTPUT_* */
    int output_given;   /* --output was on the command line */
    const char *tenant; /* --tenant, or NULL */
    int stdout_tty;
    int stderr_tty;     /* progress bars only then */
} xl_cli_t;

/** @brief The exit code of an HTTP status (0 for 2xx). */
int xl_cli_api_exit_code(int status);

/**
 * @brief One request whose answer is JSON. body: sent as JSON when not NULL (borrowed).
 * On 2xx *answer gets the parsed body (free with json_decref; NULL for an empty body);
 * otherwise the problem is printed on stderr and *answer stays NULL. status (may be NULL) gets
 * the HTTP status (0: no answer), problem_type (may be NULL, size 96) the problem's slug.
 * @return an XL_CLI_EXIT_* code.
 */
int xl_cli_api_call(xl_cli_t *cli, const char *method, const char *path, const json_t *body, json_t **answer,
                    int *status, char *problem_type);

/**
 * @brief Print why a request failed on stderr: the problem's title, detail and errors, or
 * the transport's reason. @return the exit code that failure maps to.
 */
int xl_cli_api_report(xl_cli_t *cli, const char *path, const xl_cli_response_t *res, char *problem_type);

/** @brief printf into a new heap string (free with free); exits with 5 on allocation failure. */
char *xl_cli_api_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** @brief Percent-encode value for a path segment or a query value (free with free). */
char *xl_cli_api_escape(const char *value);

/** @brief Append name=value (encoded) to the query of *path, which is reallocated; NULL value: nothing. */
void xl_cli_api_query_add(char **path, const char *name, const char *value);

/** @brief Print "execlog: " and the message on stderr. */
void xl_cli_api_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
