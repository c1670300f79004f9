/*
 * Configuration keys (see config.h). The key table is the documentation:
 * --help prints it, and the README's configuration section mirrors it.
 */
#include "api/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/base/log.h"

typedef enum { KEY_STR, KEY_INT, KEY_SIZE, KEY_BOOL, KEY_LEVEL } key_kind_t;

static const struct {
    const char *name;
    key_kind_t kind;
    size_t offset;
    const char *defval;
    long min, max;
    const char *help;
} keys[] = {
#define F(f) offsetof(xl_config_t, f)
    {"listen", KEY_STR, F(listen), "127.0.0.1:8080", 0, 0, "address:port for HTTP/1.1 and h2c (prior knowledge)"},
    {"listen.tls", KEY_STR, F(listen_tls), NULL, 0, 0,
     "address:port for h2 and HTTP/1.1 over TLS (ALPN); needs tls.cert and tls.key"},
    {"tls.cert", KEY_STR, F(tls_cert), NULL, 0, 0, "PEM file of the certificate (chain) for listen.tls"},
    {"tls.key", KEY_STR, F(tls_key), NULL, 0, 0, "PEM file of the private key for listen.tls"},
    {"auth.tokens", KEY_STR, F(auth_tokens), NULL, 0, 0,
     "bearer tokens file ('<sha256 hex> <tenant|*> <reader|writer|admin>' lines); without it execlogd "
     "serves unauthenticated and only on loopback addresses"},
    {"http.threads", KEY_INT, F(http_threads), "0", 0, 256,
     "HTTP event loops (threads), each accepting on the listeners; 0: the number of online cores"},
    {"http.idle_timeout.ms", KEY_INT, F(idle_timeout_ms), "10000", 100, 3600000,
     "idle, or too slow to send its request, a client is disconnected after this"},
    {"read.wait.max.ms", KEY_INT, F(wait_max_ms), "10000", 0, 600000,
     "longest wait of a read for its min_position before it answers 504"},
    {"stream.keepalive.ms", KEY_INT, F(stream_keepalive_ms), "15000", 100, 600000,
     "SSE streams send a comment line this often while no event flows"},
    {"data.dir", KEY_STR, F(data_dir), "./data", 0, 0, "directory of the RocksDB projections and ID reservations"},
    {"topic", KEY_STR, F(topic), "execlog.events", 0, 0, "Kafka topic of the execution events"},
    {"topic.dlq", KEY_STR, F(dlq_topic), "execlog.events.dlq", 0, 0, "dead-letter topic for undecodable events"},
    {"role", KEY_STR, F(role), "all", 0, 0,
     "all | ingest (write routes, producer) | replica (projector, read routes)"},
    {"projector.group.id", KEY_STR, F(group_id), NULL, 0, 0,
     "consumer group the projector commits its positions to, for Kafka's tools only (every replica reads every "
     "partition; the store's offsets are the truth); default execlog-replica-<replica ID of data.dir>"},
    {"projector.threads", KEY_INT, F(projector_threads), "1", 1, 64,
     "projector workers, each consuming the partitions p with p % N == its number (its own consumer, batches "
     "and offsets); the projections are identical for any N. More help while it lags and cores are free; "
     "batch writes are serialized (the feed's order), folding runs in parallel"},
    {"topic.partitions", KEY_INT, F(topic_partitions), "6", 1, 10000,
     "partitions of the events topic when execlog creates it (a real cluster)"},
    {"topic.replication.factor", KEY_INT, F(topic_replication), "3", -1, 32,
     "replication factor of the events topic when execlog creates it (-1: the brokers' default)"},
    {"topic.retention.hours", KEY_INT, F(topic_retention_h), "-1", -1, 1 << 30,
     "retention of the events topic when execlog creates it (-1: kept forever)"},
    {"embedded.brokers", KEY_INT, F(embedded_brokers), "3", 1, 16, "embedded broker: number of brokers"},
    {"embedded.partitions", KEY_INT, F(embedded_partitions), "6", 1, 256, "embedded broker: partitions per topic"},
    {"ingest.node.id", KEY_INT, F(node_id), "0", 0, 255, "this ingest node's ID; distinct on every ingest node"},
    {"ingest.ack", KEY_STR, F(ack), "auto", 0, 0,
     "when a write is acknowledged: projected | delivered | auto (projected on the embedded broker, "
     "delivered on a real cluster)"},
    {"ingest.timeout.ms", KEY_INT, F(ack_timeout_ms), "10000", 100, 600000,
     "longest wait for Kafka (and the projection) before answering 503"},
    {"http.max_body", KEY_SIZE, F(max_body), "1048576", 64, 1L << 30, "largest request body in bytes (413 above)"},
    {"http.cache.bytes", KEY_SIZE, F(cache_bytes), "67108864", 0, 1L << 40,
     "memory for the answers of GET /v1/executions/{id} kept ready for hot executions (LRU; the projector "
     "invalidates what it changes); 0: no cache"},
    {"readyz.max_lag", KEY_INT, F(ready_max_lag), "10000", 0, 1 << 30,
     "GET /readyz answers 503 while the projector is further behind the log than this"},
    {"store.sync", KEY_BOOL, F(sync_writes), "true", 0, 1, "fsync every projector batch before it counts"},
    {"log.level", KEY_LEVEL, F(log_level), "info", 0, 0, "error | warn | info | debug"},
    {"log.access", KEY_STR, F(log_access), "stderr", 0, 0,
     "access log, one logfmt line per request: stderr (with the rest of the log) | off | a file path (appended)"},
#undef F
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int set_key(xl_config_t *cfg, size_t i, const char *value, char *err, size_t errlen)
{
    char *field = (char *)cfg + keys[i].offset;
    char *end;
    long v;
    switch (keys[i].kind) {
    case KEY_STR:
        if (*value == '\0') {
            snprintf(err, errlen, "%s: must not be empty", keys[i].name);
            return -EINVAL;
        }
        free(*(char **)field);
        *(char **)field = strdup(value);
        return 0;
    case KEY_INT:
    case KEY_SIZE:
        errno = 0;
        v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < keys[i].min || v > keys[i].max) {
            snprintf(err, errlen, "%s: '%s' is not an integer in [%ld, %ld]", keys[i].name, value, keys[i].min,
                     keys[i].max);
            return -EINVAL;
        }
        if (keys[i].kind == KEY_INT)
            *(int *)field = (int)v;
        else
            *(size_t *)field = (size_t)v;
        return 0;
    case KEY_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            *(int *)field = 1;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            *(int *)field = 0;
        } else {
            snprintf(err, errlen, "%s: '%s' is not true or false", keys[i].name, value);
            return -EINVAL;
        }
        return 0;
    case KEY_LEVEL:
        if ((v = xl_log_parse_level(value)) < 0) {
            snprintf(err, errlen, "%s: '%s' is not error, warn, info or debug", keys[i].name, value);
            return -EINVAL;
        }
        *(int *)field = (int)v;
        return 0;
    }
    return -EINVAL;
}

void xl_config_init(xl_config_t *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NKEYS; ++i)
        if (keys[i].defval != NULL) /* NULL: an optional setting, unset */
            set_key(cfg, i, keys[i].defval, err, sizeof(err));
}

void xl_config_dispose(xl_config_t *cfg)
{
    for (size_t i = 0; i < NKEYS; ++i)
        if (keys[i].kind == KEY_STR)
            free(*(char **)((char *)cfg + keys[i].offset));
    for (size_t i = 0; i < cfg->nkafka * 2; ++i)
        free(cfg->kafka[i]);
    free(cfg->kafka);
    memset(cfg, 0, sizeof(*cfg));
}

int xl_config_set(xl_config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    if (strncmp(key, "kafka.", 6) == 0 && key[6] != '\0') {
        const char *name = key + 6;
        for (size_t i = 0; i < cfg->nkafka; ++i) {
            if (strcmp(cfg->kafka[2 * i], name) == 0) {
                free(cfg->kafka[2 * i + 1]);
                cfg->kafka[2 * i + 1] = strdup(value);
                return 0;
            }
        }
        char **kv = realloc(cfg->kafka, (cfg->nkafka + 1) * 2 * sizeof(*kv));
        if (kv == NULL)
            return -ENOMEM;
        cfg->kafka = kv;
        kv[2 * cfg->nkafka] = strdup(name);
        kv[2 * cfg->nkafka + 1] = strdup(value);
        ++cfg->nkafka;
        return 0;
    }
    for (size_t i = 0; i < NKEYS; ++i)
        if (strcmp(keys[i].name, key) == 0)
            return set_key(cfg, i, value, err, errlen);
    snprintf(err, errlen, "unknown setting '%s' (see --help)", key);
    return -EINVAL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        ++s;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

int xl_config_load_file(xl_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char line[4096], sub[512];
    int lineno = 0, ret = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        ++lineno;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            ret = -EINVAL;
            break;
        }
        *eq = '\0';
        if ((ret = xl_config_set(cfg, trim(s), trim(eq + 1), sub, sizeof(sub))) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
            break;
        }
    }
    fclose(fp);
    return ret;
}

static int is_config_flag(const char *a) { return strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0; }

int xl_config_parse_args(xl_config_t *cfg, int argc, char **argv, int first, int (*other)(void *ctx, const char *arg),
                         void *ctx, char *err, size_t errlen)
{
    for (int i = first; i < argc; ++i) {
        if (!is_config_flag(argv[i]))
            continue;
        if (i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a file name", argv[i]);
            return -EINVAL;
        }
        if (xl_config_load_file(cfg, argv[++i], err, errlen) != 0)
            return -EINVAL;
    }
    for (int i = first; i < argc; ++i) {
        const char *a = argv[i];
        if (is_config_flag(a)) {
            ++i;
            continue;
        }
        if (other != NULL && other(ctx, a))
            continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return -EINVAL;
        }
        char key[256];
        const char *eq = strchr(a, '='), *value;
        if (eq != NULL) {
            snprintf(key, sizeof(key), "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", a);
                return -EINVAL;
            }
            snprintf(key, sizeof(key), "%s", a + 2);
            value = argv[++i];
        }
        if (xl_config_set(cfg, key, value, err, errlen) != 0)
            return -EINVAL;
    }
    return 0;
}

const char *xl_config_kafka(const xl_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nkafka; ++i)
        if (strcmp(cfg->kafka[2 * i], name) == 0)
            return cfg->kafka[2 * i + 1];
    return NULL;
}

void xl_config_print_help(void *file)
{
    FILE *fp = file;
    for (size_t i = 0; i < NKEYS; ++i)
        fprintf(fp, "  --%-22s %s (default: %s)\n", keys[i].name, keys[i].help,
                keys[i].defval != NULL ? keys[i].defval : "unset");
    fprintf(fp, "  --%-22s any librdkafka setting, e.g. --kafka.bootstrap.servers=host:9092;\n"
                "  %-24s without kafka.bootstrap.servers the embedded broker runs in process\n",
            "kafka.<name>", "");
}
