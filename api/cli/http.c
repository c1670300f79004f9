/*
 * HTTP/1.1 requests over libh2o's client (see http.h). Each request opens
 * its own connection (Connection: close) and runs the client's event loop
 * until the client has let go of it: libh2o frees its client right after
 * the callback that reports an error, the end of the body, or a nonzero
 * return from the body callback, so `call->client` is cleared at each of
 * those places and cancelled here only while still live.
 *
 * Never blocks outside the loop; never writes to stdout or stderr.
 */
#include "api/cli/http.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>
#include <h2o/http1client.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define DEFAULT_TIMEOUT_MS 30000

struct st_xl_cli_http_t {
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t getaddr_receiver;
    SSL_CTX *ssl_ctx;
    char *url;
    char *prefix;    /* the URL's path without its trailing slash ("" for none) */
    char *authority; /* Host header */
    char *host;
    uint16_t port;
    int is_ssl;
    char *token;
    unsigned timeout_ms;
};

typedef struct st_call_t {
    const xl_cli_request_t *req;
    xl_cli_response_t *res;
    h2o_http1client_t *client; /* NULL once libh2o has freed it */
    h2o_iovec_t bufs[2];
    size_t cap;
    int done;
} call_t;

static void set_err(xl_cli_response_t *res, const char *what, const char *why)
{
    snprintf(res->err, sizeof(res->err), "%s%s%s", what, why != NULL ? ": " : "", why != NULL ? why : "");
}

static int collect(call_t *call, const char *bytes, size_t len)
{
    xl_cli_response_t *res = call->res;
    if (res->len + len + 1 > call->cap) {
        size_t cap = call->cap ? call->cap : 4096;
        while (cap < res->len + len + 1)
            cap *= 2;
        char *p = realloc(res->body, cap);
        if (p == NULL) {
            set_err(res, "out of memory", NULL);
            return -1;
        }
        res->body = p;
        call->cap = cap;
    }
    memcpy(res->body + res->len, bytes, len);
    res->len += len;
    res->body[res->len] = '\0';
    return 0;
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    call_t *call = client->data;
    h2o_buffer_t *in = client->sock->input;
    int ret = 0;

    if (errstr == NULL || errstr == h2o_http1client_error_is_eos) {
        if (in->size != 0)
            ret = call->req->sink != NULL && call->res->status / 100 == 2
                      ? call->req->sink(call->req->sink_ctx, in->bytes, in->size)
                                          : collect(call, in->bytes, in->size);
        h2o_buffer_consume(&client->sock->input, in->size);
    }
    if (errstr == h2o_http1client_error_is_eos || (errstr == NULL && ret > 0)) {
        call->res->complete = 1;
    } else if (errstr != NULL) {
        set_err(call->res, "the answer was cut", errstr);
    }
    if (errstr != NULL || ret != 0) {
        call->client = NULL; /* libh2o closes it on return */
        call->done = 1;
        return ret != 0 ? -1 : 0;
    }
    return 0;
}

static void copy_header(char *dst, size_t size, h2o_iovec_t value, int media_type)
{
    size_t n = 0;
    for (size_t i = 0; i < value.len && n + 1 < size; i++) {
        char c = value.base[i];
        if (media_type && (c == ';' || c == ' '))
            break;
        dst[n++] = media_type ? (char)tolower((unsigned char)c) : c;
    }
    dst[n] = '\0';
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    call_t *call = client->data;
    xl_cli_response_t *res = call->res;

    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        set_err(res, "no answer", errstr);
        call->client = NULL;
        call->done = 1;
        return NULL;
    }
    res->status = status;
    for (size_t i = 0; i < num_headers; i++) {
        if (h2o_memis(headers[i].name->base, headers[i].name->len, H2O_STRLIT("content-type")))
            copy_header(res->content_type, sizeof(res->content_type), headers[i].value, 1);
        else if (h2o_memis(headers[i].name->base, headers[i].name->len, H2O_STRLIT("retry-after")))
            copy_header(res->retry_after, sizeof(res->retry_after), headers[i].value, 0);
    }
    if (errstr == h2o_http1client_error_is_eos) { /* no body (204, 304) */
        res->complete = 1;
        call->client = NULL;
        call->done = 1;
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs,
                                          size_t *reqbufcnt, int *method_is_head)
{
    call_t *call = client->data;

    if (errstr != NULL) {
        set_err(call->res, "cannot connect", errstr);
        call->client = NULL;
        call->done = 1;
        return NULL;
    }
    *reqbufs = call->bufs;
    *reqbufcnt = call->bufs[1].len != 0 ? 2 : 1;
    *method_is_head = strcmp(call->req->method, "HEAD") == 0;
    return on_head;
}

/* the request line and headers, in one heap buffer (free with free) */
static char *build_head(const xl_cli_http_t *http, const xl_cli_request_t *req, size_t *len)
{
    const char *extra = req->headers != NULL ? req->headers : "";
    char *head = NULL;
    FILE *fp = open_memstream(&head, len);

    if (fp == NULL)
        return NULL;
    fprintf(fp, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: execlog/" XL_VERSION "\r\nConnection: close\r\n",
            req->method, http->prefix, req->path, http->authority);
    if (http->token != NULL)
        fprintf(fp, "Authorization: Bearer %s\r\n", http->token);
    if (strstr(extra, "Accept:") == NULL)
        fputs("Accept: application/json\r\n", fp);
    if (req->body != NULL)
        fprintf(fp, "Content-Type: %s\r\n", req->content_type != NULL ? req->content_type : "application/json");
    if (req->body != NULL || strcmp(req->method, "POST") == 0)
        fprintf(fp, "Content-Length: %zu\r\n", req->body != NULL ? req->body_len : (size_t)0);
    fprintf(fp, "%s\r\n", extra);
    if (fclose(fp) != 0) {
        free(head);
        return NULL;
    }
    return head;
}

int xl_cli_http_request(xl_cli_http_t *http, const xl_cli_request_t *req, xl_cli_response_t *res)
{
    call_t call = {.req = req, .res = res};
    h2o_http1client_ctx_t ctx = {0};
    h2o_timeout_t io_timeout;
    size_t head_len = 0;
    char *head;

    memset(res, 0, sizeof(*res));
    if ((head = build_head(http, req, &head_len)) == NULL) {
        set_err(res, "out of memory", NULL);
        return -1;
    }
    call.bufs[0] = h2o_iovec_init(head, head_len);
    call.bufs[1] = h2o_iovec_init(req->body, req->body != NULL ? req->body_len : 0);

    h2o_timeout_init(http->loop, &io_timeout, req->timeout_ms ? req->timeout_ms : http->timeout_ms);
    ctx.loop = http->loop;
    ctx.getaddr_receiver = &http->getaddr_receiver;
    ctx.io_timeout = &io_timeout;
    ctx.ssl_ctx = http->ssl_ctx;

    h2o_http1client_connect(&call.client, &call, &ctx, h2o_iovec_init(http->host, strlen(http->host)), http->port,
                            http->is_ssl, on_connect);
    while (!call.done)
        h2o_evloop_run(http->loop, INT32_MAX);
    if (call.client != NULL)
        h2o_http1client_cancel(call.client);
    h2o_timeout_dispose(http->loop, &io_timeout);
    free(head);
    return res->status != 0 ? 0 : -1;
}

static char *dup_iov(h2o_iovec_t v)
{
    char *s = malloc(v.len + 1);
    if (s != NULL) {
        memcpy(s, v.base, v.len);
        s[v.len] = '\0';
    }
    return s;
}

xl_cli_http_t *xl_cli_http_create(const char *url, const char *token, const char *cacert, unsigned timeout_ms,
                                  char *err, size_t errlen)
{
    xl_cli_http_t *http = NULL;
    h2o_url_t parsed;

    if (h2o_url_parse(url, SIZE_MAX, &parsed) != 0) {
        snprintf(err, errlen, "not an http:// or https:// URL: %s", url);
        return NULL;
    }
    if ((http = calloc(1, sizeof(*http))) == NULL)
        goto nomem;
    http->is_ssl = parsed.scheme == &H2O_URL_SCHEME_HTTPS;
    http->port = h2o_url_get_port(&parsed);
    http->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
    size_t plen = parsed.path.len;
    while (plen > 0 && parsed.path.base[plen - 1] == '/')
        plen--;
    if ((http->url = strdup(url)) == NULL || (http->host = dup_iov(parsed.host)) == NULL ||
        (http->authority = dup_iov(parsed.authority)) == NULL ||
        (http->prefix = dup_iov(h2o_iovec_init(parsed.path.base, plen))) == NULL ||
        (token != NULL && (http->token = strdup(token)) == NULL))
        goto nomem;
    if (strchr(http->prefix, '?') != NULL) {
        snprintf(err, errlen, "the server URL may not have a query: %s", url);
        goto fail;
    }
    if (http->is_ssl) {
        if ((http->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
            goto nomem;
        SSL_CTX_set_verify(http->ssl_ctx, SSL_VERIFY_PEER, NULL);
        int ok = cacert != NULL ? SSL_CTX_load_verify_locations(http->ssl_ctx, cacert, NULL)
                                : SSL_CTX_set_default_verify_paths(http->ssl_ctx);
        if (ok != 1) {
            char why[160];
            ERR_error_string_n(ERR_get_error(), why, sizeof(why));
            snprintf(err, errlen, "cannot load the CA certificates%s%s: %s", cacert ? " of " : "", cacert ? cacert : "",
                     why);
            goto fail;
        }
    }
    http->loop = h2o_evloop_create();
    http->queue = h2o_multithread_create_queue(http->loop);
    h2o_multithread_register_receiver(http->queue, &http->getaddr_receiver, h2o_hostinfo_getaddr_receiver);
    return http;

nomem:
    snprintf(err, errlen, "out of memory");
fail:
    xl_cli_http_destroy(http);
    return NULL;
}

void xl_cli_http_destroy(xl_cli_http_t *http)
{
    if (http == NULL)
        return;
    if (http->queue != NULL) {
        h2o_multithread_unregister_receiver(http->queue, &http->getaddr_receiver);
        h2o_multithread_destroy_queue(http->queue);
    }
    if (http->loop != NULL)
        h2o_evloop_destroy(http->loop);
    if (http->ssl_ctx != NULL)
        SSL_CTX_free(http->ssl_ctx);
    free(http->url);
    free(http->prefix);
    free(http->authority);
    free(http->host);
    if (http->token != NULL)
        OPENSSL_cleanse(http->token, strlen(http->token));
    free(http->token);
    free(http);
}

const char *xl_cli_http_url(const xl_cli_http_t *http)
{
    return http->url;
}
