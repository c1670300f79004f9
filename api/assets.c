/*
 * Lookup and answers for the files built into the binary (assets.h). Never
 * reads the file system.
 */
#include "api/assets.h"

#include <string.h>

#include "ingest/http.h"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

const xl_asset_t *xl_asset_find(const char *path, size_t len)
{
    for (size_t i = 0; i < xl_assets_count; ++i)
        if (strlen(xl_assets[i].path) == len && memcmp(xl_assets[i].path, path, len) == 0)
            return &xl_assets[i];
    return NULL;
}

const char *xl_asset_type(const xl_asset_t *asset)
{
    size_t plen = strlen(asset->path);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); ++i) {
        size_t elen = strlen(types[i].ext);
        if (plen >= elen && strcmp(asset->path + plen - elen, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

void xl_asset_send(h2o_req_t *req, const xl_asset_t *asset)
{
    h2o_iovec_t inm;
    xl_http_add_header(req, H2O_TOKEN_ETAG, asset->etag);
    xl_http_add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-cache");
    if (xl_http_header(req, "if-none-match", &inm) && h2o_contains_token(inm.base, inm.len, asset->etag,
                                                                          strlen(asset->etag), ',')) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, NULL, 0);
        return;
    }
    const char *type = xl_asset_type(asset);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = asset->len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_send_inline(req, (const char *)asset->bytes, asset->len);
}
