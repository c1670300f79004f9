/*
 * execlogd: the execution log daemon. Wires the parts together in one
 * process: the embedded broker (when no kafka.bootstrap.servers is given),
 * the RocksDB store, the projector thread, the write path and the HTTP
 * server on http.threads event loops (one thread each; the first is the
 * main thread), each with its lane of the write path. Start-up fails loudly and early: a daemon that
 * cannot honour its acknowledgements must not start serving.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <systemd/sd-daemon.h>

#include "api/commands.h"
#include "api/config.h"
#include "api/server.h"
#include "ingest/claim.h"
#include "ingest/embedded.h"
#include "ingest/ingest.h"
#include "ingest/topic.h"
#include "projector/progress.h"
#include "projector/projector.h"
#include "projector/store.h"
#include "schemas/base/log.h"
#include "schemas/base/thread.h"

/* Bound on each start-up request to a real cluster (creating topics, claiming the node ID). */
#define XL_STARTUP_KAFKA_MS 15000

static volatile int stop_requested;

static void on_signal(int sig) { __atomic_store_n(&stop_requested, 1, __ATOMIC_RELAXED); }

/*
 * The HTTP loops besides the first, a thread each. Everything bound to a loop
 * is made, run and released on its thread (h2o keeps its buffer pools per
 * thread: a socket made on one thread must not be read on another): the
 * thread makes its loop, its lane of the write path and its server, reports,
 * waits for main's go, serves until the stop and drains, reports again, waits
 * until main has stopped the projector and the producer, then tears down.
 */
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loops_cond = PTHREAD_COND_INITIALIZER;
static size_t loops_made;  /* loop threads done making their loop (or failed to) */
static size_t loops_ran;   /* loop threads that stopped serving */
static int loops_go;       /* main: serve (or, with stop_requested set, do not) */
static int loops_teardown; /* main: the projector and the producer are gone */

typedef struct st_loop_thread_t {
    pthread_t tid;
    xl_server_conf_t sconf; /* first, loop_index and info filled in; info stolen */
    xl_ingest_t *ingest;    /* the primary; NULL: no write path */
    int drain_ms;
    h2o_loop_t *loop;
    xl_ingest_t *lane;
    xl_server_t *srv; /* NULL: making it failed */
    char err[512];
} loop_thread_t;

/* A loop's end, on the thread that ran it: its lane's last answers, its sockets, its server. */
static void loop_teardown(xl_server_t *srv, xl_ingest_t *lane, h2o_loop_t *loop)
{
    xl_ingest_dispose_lane(lane);
    if (srv != NULL)
        xl_server_flush(srv);
    if (xl_server_destroy(srv) == 0 && loop != NULL)
        h2o_evloop_destroy(loop);
}

/* Wait under loops_lock until *flag (a counter or a flag) reaches at least want. */
static void loops_wait(const void *flag, int is_count, size_t want)
{
    pthread_mutex_lock(&loops_lock);
    while (is_count ? *(const size_t *)flag < want : *(const int *)flag == 0)
        pthread_cond_wait(&loops_cond, &loops_lock);
    pthread_mutex_unlock(&loops_lock);
}

static void loops_signal(size_t *count, int *flag)
{
    pthread_mutex_lock(&loops_lock);
    if (count != NULL)
        ++*count;
    if (flag != NULL)
        *flag = 1;
    pthread_cond_broadcast(&loops_cond);
    pthread_mutex_unlock(&loops_lock);
}

static void *loop_main(void *arg)
{
    loop_thread_t *t = arg;
    xl_thread_name("xl-http/%zu", t->sconf.loop_index);
    t->loop = xl_server_loop_create();
    if (t->ingest != NULL && (t->lane = xl_ingest_add_lane(t->ingest, t->loop, t->err, sizeof(t->err))) == NULL)
        json_decref(t->sconf.info);
    else
        t->srv = xl_server_create(&t->sconf, t->loop, t->lane, t->err, sizeof(t->err));
    loops_signal(&loops_made, NULL);
    loops_wait(&loops_go, 0, 0);
    if (t->srv != NULL)
        xl_server_run(t->srv, &stop_requested, t->drain_ms);
    loops_signal(&loops_ran, NULL);
    loops_wait(&loops_teardown, 0, 0);
    loop_teardown(t->srv, t->lane, t->loop);
    return NULL;
}

static void on_hangup(int sig) { xl_log_access_reopen(); }

/* projector thread -> its subscribers (the write path, the read API): a partition's durable position moved */
static void on_applied(void *ctx, int32_t partition, int64_t next_offset)
{
    xl_progress_publish(ctx, partition, next_offset);
}

/* The service manager's readiness protocol (Type=notify); sd_notify does nothing without NOTIFY_SOCKET. */
static void notify_manager(void *ctx, const char *state)
{
    int r = sd_notify(0, state);
    if (r < 0)
        xl_log_warn("main", "sd_notify %s: %s", state, strerror(-r));
    else if (r > 0)
        xl_log_info("main", "told the service manager %s", state);
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: execlogd [-c FILE] [--key=value ...]\n"
                "       execlogd rebuild [--from-kafka] [-c FILE] [--key=value ...]\n"
                "       execlogd digest [-c FILE] [--key=value ...]\n"
                "       execlogd --help | --version\n\n"
                "The execution log service: HTTP/1.1 and HTTP/2 API, Kafka event log, RocksDB projections.\n\n"
                "  -c, --config FILE          read key = value settings from FILE (flags override it)\n"
                "  -h, --help                 this text\n"
                "  -V, --version              print the version\n\n"
                "commands (run them while execlogd is stopped on that data.dir):\n"
                "  rebuild                    drop the derived projections and rebuild them from the local\n"
                "                             event archive, or with --from-kafka from the topic\n"
                "  digest                     print the SHA-256 digest of the projections (compare replicas)\n\n"
                "settings (as --key=value, --key value, or key = value in the file):\n");
    xl_config_print_help(fp);
}

/*
 * This store's replica ID: 16 random hex digits in <data_dir>/replica.id,
 * made once. It names the replica's own consumer group, so that two replicas
 * never share one (and split the partitions between them).
 */
static int load_replica_id(const char *data_dir, char id[17], char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/replica.id", data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, id, 16);
        close(fd);
        id[n > 0 ? n : 0] = '\0';
        if (n == 16 && strspn(id, "0123456789abcdef") == 16)
            return 0;
        snprintf(err, errlen, "%.300s/replica.id: not a replica ID (16 hex digits); remove it to make a new one",
                 data_dir);
        return -1;
    }
    unsigned char r[8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (errno != ENOENT || RAND_bytes(r, sizeof(r)) != 1 ||
        (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        snprintf(err, errlen, "cannot create %.300s/replica.id: %s", data_dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 8; ++i)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
    int ok = write(fd, id, 16) == 16 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
    if (!ok) {
        snprintf(err, errlen, "cannot create %.300s/replica.id: %s", data_dir, strerror(errno));
        return -1;
    }
    return 0;
}

static json_t *make_info(const xl_config_t *cfg, const char *bootstraps, int embedded, int ack_projected)
{
    char fp_event[17], fp_state[17];
    snprintf(fp_event, sizeof(fp_event), "%016llx", (unsigned long long)xl_event_schema_fingerprint());
    snprintf(fp_state, sizeof(fp_state), "%016llx", (unsigned long long)xl_state_schema_fingerprint());
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:b, s:s}, s:{s:s, s:s}, s:{s:i, s:s}, s:s}", "service", "execlog",
                     "version", XL_VERSION, "kafka", "bootstrap_servers", bootstraps, "topic", cfg->topic,
                     "dlq_topic", cfg->dlq_topic, "embedded", embedded, "key", "root audit ID (decimal text)",
                     "schemas", "execution_event_fingerprint", fp_event, "execution_state_fingerprint", fp_state,
                     "ingest", "node_id", cfg->node_id, "ack", ack_projected ? "projected" : "delivered", "role",
                     cfg->role);
}

int main(int argc, char **argv)
{
    xl_config_t cfg;
    char err[512];
    int status = 1;
    xl_embedded_t *emb = NULL;
    xl_store_t *store = NULL;
    xl_projector_t *proj = NULL;
    xl_cache_t *cache = NULL; /* answers of the read path; shared by the projector and the server */
    xl_ingest_t *ing = NULL;
    xl_claim_t *claim = NULL;
    xl_server_t *srv = NULL;
    const char **props = NULL;
    h2o_loop_t *loop = NULL;
    loop_thread_t *threads = NULL; /* threads[1 ..] run the loops besides the first */
    size_t nloops = 0, nstarted = 1;
    xl_progress_t *progress = NULL;

    /* offline commands (execlogd rebuild, execlogd digest): api/commands.c */
    if (argc > 1 && xl_commands_is(argv[1]))
        return xl_commands_main(argc, argv);

    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("execlogd %s\n", XL_VERSION);
            return 0;
        }
    }
    xl_config_init(&cfg);
    if (xl_config_parse_args(&cfg, argc, argv, 1, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "execlogd: %s\n", err);
        xl_config_dispose(&cfg);
        return 2;
    }
    xl_log_set_level(cfg.log_level);
    if (xl_log_access_open(cfg.log_access, err, sizeof(err)) != 0) {
        fprintf(stderr, "execlogd: %s\n", err);
        xl_config_dispose(&cfg);
        return 2;
    }
    int role_ingest = strcmp(cfg.role, "all") == 0 || strcmp(cfg.role, "ingest") == 0;
    int role_reads = strcmp(cfg.role, "all") == 0 || strcmp(cfg.role, "replica") == 0;
    if (!role_ingest && !role_reads) {
        fprintf(stderr, "execlogd: role: '%s' is not all, ingest or replica\n", cfg.role);
        xl_config_dispose(&cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_hangup); /* log rotation: the access log file is opened again */

    /* the librdkafka settings every client of ours gets, plus the broker list */
    const char *bootstraps = xl_config_kafka(&cfg, "bootstrap.servers");
    int embedded = bootstraps == NULL;
    if (embedded) {
        const char *topics[] = {cfg.topic, cfg.dlq_topic, NULL};
        if ((emb = xl_embedded_create(cfg.embedded_brokers, cfg.embedded_partitions, topics, err, sizeof(err))) ==
            NULL) {
            xl_log_error("main", "embedded broker: %s", err);
            goto exit;
        }
        bootstraps = xl_embedded_bootstraps(emb);
        xl_log_info("main", "embedded broker (in memory, %d brokers, %d partitions) at %s", cfg.embedded_brokers,
                    cfg.embedded_partitions, bootstraps);
    }
    size_t nprops = cfg.nkafka + (embedded ? 1 : 0);
    props = calloc(nprops * 2 + 1, sizeof(*props));
    for (size_t i = 0; i < cfg.nkafka * 2; ++i)
        props[i] = cfg.kafka[i];
    if (embedded) {
        props[cfg.nkafka * 2] = "bootstrap.servers";
        props[cfg.nkafka * 2 + 1] = bootstraps;
    }
    int ack_projected = strcmp(cfg.ack, "projected") == 0 || (strcmp(cfg.ack, "auto") == 0 && embedded);
    if (strcmp(cfg.ack, "projected") != 0 && strcmp(cfg.ack, "delivered") != 0 && strcmp(cfg.ack, "auto") != 0) {
        xl_log_error("main", "ingest.ack: '%s' is not projected, delivered or auto", cfg.ack);
        goto exit;
    }
    if (embedded && !ack_projected)
        xl_log_warn("main", "ingest.ack=delivered on the embedded broker: acknowledged events live only in memory "
                            "until projected");
    int topic_partitions = 0;
    /* start-up talks to the cluster (topics, the node-ID claim): bounded, but not by a write's timeout */
    int startup_ms = cfg.ack_timeout_ms > XL_STARTUP_KAFKA_MS ? cfg.ack_timeout_ms : XL_STARTUP_KAFKA_MS;
    if (!embedded) {
        const char *names[] = {cfg.topic, cfg.dlq_topic};
        for (size_t i = 0; i < 2; ++i) {
            xl_topic_conf_t tconf = {.name = names[i],
                                     .partitions = cfg.topic_partitions,
                                     .replication_factor = cfg.topic_replication,
                                     .retention_ms = cfg.topic_retention_h < 0 ? -1 : cfg.topic_retention_h * 3600000LL,
                                     .kafka_props = props,
                                     .nkafka_props = nprops,
                                     .timeout_ms = startup_ms,
                                     .check = i == 0 /* the dead letters need no particular settings */};
            xl_topic_info_t tinfo;
            if (xl_topic_ensure(&tconf, &tinfo, err, sizeof(err)) != 0) {
                xl_log_error("main", "kafka: %s", err);
                goto exit;
            }
            xl_log_info("main", "topic %s: %d partitions, replication factor %d%s", names[i], tinfo.partitions,
                        tinfo.replication_factor, tinfo.created ? " (created now)" : "");
            if (i == 0)
                topic_partitions = tinfo.partitions;
        }
    }

    if (mkdir(cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        xl_log_error("main", "cannot create %s: %s", cfg.data_dir, strerror(errno));
        goto exit;
    }
    char replica_id[17], group_id[64];
    if (load_replica_id(cfg.data_dir, replica_id, err, sizeof(err)) != 0) {
        xl_log_error("main", "%s", err);
        goto exit;
    }
    snprintf(group_id, sizeof(group_id), "execlog-replica-%s", replica_id);
    /* on a cluster, two writers with one node ID would hand out the same audit IDs */
    if (!embedded && role_ingest &&
        (claim = xl_claim_create(props, nprops, cfg.topic, cfg.node_id, replica_id, startup_ms, err,
                                 sizeof(err))) == NULL) {
        xl_log_error("main", "%s", err);
        goto exit;
    }
    char dbdir[4096];
    snprintf(dbdir, sizeof(dbdir), "%s/projections", cfg.data_dir);
    if ((store = xl_store_open(dbdir, cfg.sync_writes, err, sizeof(err))) == NULL) {
        xl_log_error("main", "store: %s", err);
        goto exit;
    }

    nloops = cfg.http_threads > 0 ? (size_t)cfg.http_threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (nloops < 1)
        nloops = 1;
    threads = calloc(nloops, sizeof(*threads));
    loop = xl_server_loop_create();
    if ((progress = xl_progress_create()) == NULL) {
        xl_log_error("main", "out of memory");
        goto exit;
    }
    xl_ingest_conf_t iconf = {.topic = cfg.topic,
                              .data_dir = cfg.data_dir,
                              .node_id = cfg.node_id,
                              .ack_projected = ack_projected,
                              .catch_up = !embedded,
                              .partitions = embedded ? cfg.embedded_partitions : topic_partitions,
                              .timeout_ms = cfg.ack_timeout_ms,
                              .max_body = cfg.max_body,
                              .kafka_props = props,
                              .nkafka_props = nprops,
                              .progress = progress};
    if (role_ingest && (ing = xl_ingest_create(&iconf, loop, store, err, sizeof(err))) == NULL) {
        xl_log_error("main", "ingest: %s", err);
        goto exit;
    }

    if (role_reads && cfg.cache_bytes > 0 && (cache = xl_cache_create(cfg.cache_bytes, err, sizeof(err))) == NULL) {
        xl_log_error("main", "%s", err);
        goto exit;
    }
    xl_projector_conf_t pconf = {.topic = cfg.topic,
                                 .dlq_topic = cfg.dlq_topic,
                                 .group_id = cfg.group_id != NULL ? cfg.group_id : group_id,
                                 .log_identity = embedded ? xl_embedded_identity(emb) : NULL,
                                 .kafka_props = props,
                                 .nkafka_props = nprops,
                                 .on_applied = on_applied,
                                 .ctx = progress,
                                 /* every replica reads every partition: no group to join, no join delay */
                                 .assign_all = 1,
                                 .commit_positions = !embedded,
                                 .cache = cache,
                                 .threads = cfg.projector_threads};
    if ((proj = xl_projector_create(&pconf, store, err, sizeof(err))) == NULL) {
        xl_log_error("main", "projector: %s", err);
        goto exit;
    }

    xl_server_conf_t sconf = {.listen = cfg.listen,
                              .listen_tls = cfg.listen_tls,
                              .tls_cert = cfg.tls_cert,
                              .tls_key = cfg.tls_key,
                              .auth_tokens = cfg.auth_tokens,
                              .data_dir = cfg.data_dir,
                              .max_body = cfg.max_body,
                              .idle_timeout_ms = cfg.idle_timeout_ms,
                              .wait_max_ms = cfg.wait_max_ms,
                              .stream_keepalive_ms = cfg.stream_keepalive_ms,
                              .store = store,
                              .projector = proj,
                              .cache = cache,
                              .ready_max_lag = cfg.ready_max_lag,
                              .info = make_info(&cfg, bootstraps, embedded, ack_projected),
                              .progress = progress,
                              .write_only = !role_reads,
                              .notify = notify_manager,
                              .reuse_port = nloops > 1};
    if ((srv = xl_server_create(&sconf, loop, ing, err, sizeof(err))) == NULL) {
        xl_log_error("main", "http: %s", err);
        goto exit;
    }
    /* the other loops, each made on its own thread; the signals stay with the main thread (the loops see
     * the stop through stop_requested) */
    sigset_t block, old;
    sigfillset(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (; nstarted < nloops; ++nstarted) {
        loop_thread_t *t = &threads[nstarted];
        t->sconf = sconf;
        t->sconf.info = make_info(&cfg, bootstraps, embedded, ack_projected); /* each server steals its own */
        t->sconf.first = srv;
        t->sconf.loop_index = nstarted;
        t->sconf.notify = NULL; /* READY=1 and STOPPING=1 once, from the first loop */
        t->ingest = ing;
        t->drain_ms = cfg.ack_timeout_ms;
        if (pthread_create(&t->tid, NULL, loop_main, t) != 0) {
            json_decref(t->sconf.info);
            xl_log_error("main", "cannot start HTTP loop %zu: %s", nstarted, strerror(errno));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    loops_wait(&loops_made, 1, nstarted - 1);
    int loops_ok = nstarted == nloops;
    for (size_t i = 1; i < nstarted; ++i)
        if (threads[i].srv == NULL) {
            xl_log_error("main", "http loop %zu: %s", i, threads[i].err);
            loops_ok = 0;
        }
    if (!loops_ok)
        goto exit;
    if (xl_projector_start(proj, err, sizeof(err)) != 0) {
        xl_log_error("main", "projector: %s", err);
        goto exit;
    }
    xl_log_info("main",
                "execlogd %s (role %s, replica %s) serving HTTP/1.1 and h2c on %s (port %d, %zu loops); data in %s; "
                "acknowledging writes when %s",
                XL_VERSION, cfg.role, replica_id, cfg.listen, xl_server_port(srv), nloops, cfg.data_dir,
                ack_projected ? "projected" : "delivered");
    if (cfg.listen_tls != NULL)
        xl_log_info("main", "serving h2 and HTTP/1.1 over TLS on %s (port %d)", cfg.listen_tls,
                    xl_server_tls_port(srv));
    xl_log_info("main", "watch the events: kcat -C -b %s -t %s", bootstraps, cfg.topic);

    loops_signal(NULL, &loops_go);
    xl_server_run(srv, &stop_requested, cfg.ack_timeout_ms);
    loops_wait(&loops_ran, 1, nstarted - 1); /* every loop has drained */
    xl_log_info("main", "shutting down");
    status = 0;
exit:
    /* the server has stopped accepting; then the projector (it reports to the
     * write path), then the write path (flushes the producer, answers 503 to
     * what is left), then the server with its connections */
    /* a start-up that failed after some loops began: they are not to serve */
    if (status != 0)
        __atomic_store_n(&stop_requested, 1, __ATOMIC_RELAXED);
    loops_signal(NULL, &loops_go);
    loops_wait(&loops_ran, 1, nstarted - 1);
    for (size_t i = 0; i < nstarted; ++i) {
        xl_server_t *s = i == 0 ? srv : threads[i].srv;
        if (s != NULL)
            xl_server_detach(s); /* it must not use what goes next */
    }
    xl_projector_destroy(proj);
    xl_ingest_stop(ing);     /* flushes the producer; the lanes answer what is left as they go */
    xl_claim_destroy(claim); /* the node ID is free once nothing is produced under it */
    loops_signal(NULL, &loops_teardown);
    for (size_t i = 1; i < nstarted; ++i)
        pthread_join(threads[i].tid, NULL);
    loop_teardown(srv, ing, loop); /* the first loop's server last: the others share its metrics */
    xl_ingest_destroy(ing);        /* frees the lanes */
    free(threads);
    xl_progress_destroy(progress); /* its publisher and subscribers are gone */
    xl_store_close(store);
    xl_cache_destroy(cache); /* after the projector and the server, its two users */
    xl_embedded_destroy(emb);
    free(props);
    xl_config_dispose(&cfg);
    xl_log_access_close();
    return status;
}
