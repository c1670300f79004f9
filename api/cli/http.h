/*
 * The command-line client's HTTP/1.1 transport: one request at a time over
 * libh2o's HTTP/1.1 client (h2o_http1client_*, libh2o-evloop 2.2.5) on an
 * event loop of its own, run until the answer is complete. The body is
 * either collected whole or handed to a sink as it arrives (Server-Sent
 * Events, long polls). http:// and https:// (OpenSSL, the peer verified
 * against the system's CAs or a given file, the host name checked).
 *
 * It knows nothing of execlog's routes or JSON: that is api.c's job. It never
 * retries; a request that fails reports why in res->err.
 */
#ifndef XL_CLI_HTTP_H
#define XL_CLI_HTTP_H

#include <stddef.h>

typedef struct st_xl_cli_http_t xl_cli_http_t;

/** @brief Called with each piece of a streamed body; return nonzero to end the request (not an error). */
typedef int (*xl_cli_http_sink_cb)(void *ctx, const char *bytes, size_t len);

typedef struct st_xl_cli_request_t {
    const char *method;
    const char *path;      /* with its query string; the server URL's path is put in front */
    const char *body;      /* NULL: no body */
    size_t body_len;
    const char *content_type; /* of the body; NULL: application/json */
    const char *headers;   /* extra header lines, each ending in \r\n; may be NULL */
    unsigned timeout_ms;   /* bound on each wait for the network; 0: the client's default */
    xl_cli_http_sink_cb sink; /* 2xx bodies go there; NULL, or another status: collected in res->body */
    void *sink_ctx;
} xl_cli_request_t;

typedef struct st_xl_cli_response_t {
    int status;             /* 0: no answer, see err */
    char content_type[128]; /* media type, lower case, without parameters */
    char retry_after[32];
    char *body;             /* the whole body (NUL-terminated) unless a sink took it; free with free */
    size_t len;
    int complete;           /* the body ended as framed (not cut by the peer) */
    char err[256];          /* why there is no answer, or why the body was cut */
} xl_cli_response_t;

/**
 * @brief A client of url (http:// or https://host[:port][/prefix]). token: a bearer token or NULL
 * (copied); cacert: PEM file of the CAs for https, NULL for the system's; timeout_ms: default bound
 * on each wait for the network.
 * @return NULL with a reason in err; free with xl_cli_http_destroy.
 */
xl_cli_http_t *xl_cli_http_create(const char *url, const char *token, const char *cacert, unsigned timeout_ms,
                                  char *err, size_t errlen);
/** @brief Free the client (no request may be running). */
void xl_cli_http_destroy(xl_cli_http_t *http);

/** @brief The URL the client was made for (borrowed). */
const char *xl_cli_http_url(const xl_cli_http_t *http);

/**
 * @brief Send req and wait for its answer (the whole body, or until the sink ends it).
 * @return 0 when a status line came back (res->status; res->err says if the body was cut),
 * -1 when none did (res->err). res is filled either way; free res->body.
 */
int xl_cli_http_request(xl_cli_http_t *http, const xl_cli_request_t *req, xl_cli_response_t *res);

#endif
