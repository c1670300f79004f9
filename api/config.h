/*
 * execlogd configuration: built-in defaults, then a properties file
 * (`-c FILE`, one `key = value` a line, `#` comments), then command-line
 * flags (`--key=value` or `--key value`), each overriding the one before.
 * Every `kafka.*` key is handed to librdkafka without the prefix, unchecked
 * here (librdkafka checks it). Any other unknown key is an error, so that a
 * typo never silently falls back to a default.
 */
#ifndef XL_API_CONFIG_H
#define XL_API_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_xl_config_t {
    char *listen;           /* host:port of the plain HTTP/1.1 + h2c listener */
    char *listen_tls;       /* host:port of the TLS listener (h2 and HTTP/1.1, ALPN); NULL: none */
    char *tls_cert;         /* PEM certificate chain for listen.tls */
    char *tls_key;          /* PEM private key for listen.tls */
    char *auth_tokens;      /* bearer tokens file; NULL: no authentication, loopback only */
    int http_threads;       /* HTTP event loops; 0: one per online core */
    int idle_timeout_ms;    /* idle or slow clients are disconnected after this */
    int wait_max_ms;        /* longest wait of a read for min_position */
    int stream_keepalive_ms;/* SSE: a comment line this often when no event flows */
    char *data_dir;         /* RocksDB projections, audit ID reservations */
    char *topic;            /* events topic */
    char *dlq_topic;        /* dead-letter topic */
    char *group_id;         /* projector consumer group; NULL: execlog-replica-<this store's replica ID> */
    char *role;             /* all | ingest | replica */
    int projector_threads;  /* projector workers (partitions split p % N) */
    int topic_partitions;   /* a topic execlog creates: partitions */
    int topic_replication;  /* ... its replication factor (-1: the brokers' default) */
    int topic_retention_h;  /* ... its retention in hours (-1: forever) */
    int embedded_brokers;   /* embedded broker: brokers in the mock cluster */
    int embedded_partitions;/* embedded broker: partitions of the topics */
    int node_id;            /* ingest node ID, unique per ingest node (0..255) */
    char *ack;              /* when writes are acknowledged: auto|projected|delivered */
    int ack_timeout_ms;     /* bound on waiting for Kafka / the projection */
    size_t max_body;        /* largest accepted request body (bytes) */
    size_t cache_bytes;     /* answers of GET /v1/executions/{id} kept in memory; 0: no cache */
    int sync_writes;        /* fsync each projector batch */
    int ready_max_lag;      /* /readyz: most events the projector may be behind */
    int log_level;
    char *log_access;       /* "stderr", "off" or a file path */
    /* kafka.* settings, prefix stripped: kafka[2*i] = name, kafka[2*i+1] = value */
    char **kafka;
    size_t nkafka;
} xl_config_t;

/** @brief Fill cfg with the defaults. Release with xl_config_dispose. */
void xl_config_init(xl_config_t *cfg);
void xl_config_dispose(xl_config_t *cfg);

/** @brief Set one key. @return 0, or -EINVAL with err naming the key and why. */
int xl_config_set(xl_config_t *cfg, const char *key, const char *value, char *err, size_t errlen);

/** @brief Read a properties file. @return 0, or negative with err ("FILE:LINE: ..."). */
int xl_config_load_file(xl_config_t *cfg, const char *path, char *err, size_t errlen);

/**
 * @brief Apply the command line argv[first..argc): `-c FILE` first (wherever
 * it stands), then `--key=value` / `--key value` in order, so that flags
 * override the file. An argument that is neither is offered to other (may be
 * NULL), which returns 1 if it took it.
 * @return 0, or -EINVAL with err naming the argument.
 */
int xl_config_parse_args(xl_config_t *cfg, int argc, char **argv, int first, int (*other)(void *ctx, const char *arg),
                         void *ctx, char *err, size_t errlen);

/** @brief Value of kafka.<name>, or NULL. */
const char *xl_config_kafka(const xl_config_t *cfg, const char *name);

/** @brief Write the table of keys, defaults and meanings (for --help). */
void xl_config_print_help(void *file);

#endif
