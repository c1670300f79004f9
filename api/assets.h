/*
 * Files served as they are (the web console, the OpenAPI document), built
 * into the binary from api/www/ so that nothing is read or fetched at run
 * time: api/www/ui/index.html is served at /ui/index.html.
 */
#ifndef XL_API_ASSETS_H
#define XL_API_ASSETS_H

#include <h2o.h>
#include <stddef.h>

typedef struct st_xl_asset_t {
    const char *path;            /* "/ui/index.html" */
    const unsigned char *bytes;  /* NUL after the last byte, not counted */
    size_t len;
    const char *etag;            /* strong, quoted */
} xl_asset_t;

/* The generated table (api/embed_assets.cmake), sorted as FILES lists them. */
extern const xl_asset_t xl_assets[];
extern const size_t xl_assets_count;

/** @brief The asset served at (path, len), or NULL. */
const xl_asset_t *xl_asset_find(const char *path, size_t len);

/** @brief Its media type, from the file name's extension. */
const char *xl_asset_type(const xl_asset_t *asset);

/**
 * @brief Answer 200 with the asset (or 304 when If-None-Match names its
 * ETag), with its media type, ETag and Cache-Control: no-cache (revalidate,
 * so an upgraded binary's files are seen at once).
 */
void xl_asset_send(h2o_req_t *req, const xl_asset_t *asset);

#endif
