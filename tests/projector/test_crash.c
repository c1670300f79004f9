/*
 * Crash test of the whole projector, against the real execlogd binary and
 * RocksDB on disk. This process hosts the Kafka log (a librdkafka mock
 * cluster, which would die with execlogd if execlogd hosted it) and streams
 * thousands of events into it: creates, retries, tasks, re-deliveries,
 * illegal late events and poison messages. execlogd runs as a child pointed
 * at the mock's bootstrap servers (so the cluster id is its log identity)
 * and is killed with SIGKILL twice in the middle of the stream; each restart
 * uses a fresh consumer group (the projector seeks to its own stored
 * offsets, and the mock elects a group's new member only a session timeout
 * after a member dies). A second replica, with its own data directory and
 * group, follows the same topic.
 *
 * Then, with both stopped: every execution holds exactly the events produced
 * (each distinct event archived once, byte for byte, in order), the stored
 * offsets are the ends of the log, the poison messages are in the DLQ, both
 * replicas have the same digest, `execlogd digest` prints it, and
 * `execlogd rebuild` on a copy of the data directory keeps it.
 *
 * With XL_CRASH_THREADS=N, replica A runs N projector workers
 * (--projector.threads=N) and B one: their digests must still be equal.
 *
 * usage: test_projector_crash PATH_TO_EXECLOGD. Every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "projector/store.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

#define TOPIC "execlog.events"
#define DLQ_TOPIC "execlog.events.dlq"
#define NPART 4
#define NEXEC 720
#define FIRST_AUDIT 10000
#define NPOISON 3
#define MAX_MSGS (NEXEC * 10 + NPOISON)
#define WAIT_MS 40000    /* any one wait for a child */
#define STREAM_CHUNK 30  /* the background stream: this many messages ... */
#define STREAM_GAP_MS 70 /* ... this often */

static const char *execlogd;
static char root[] = "/tmp/xl-test-crash-XXXXXX";

/* every execlogd started and not yet reaped: killed at exit, so a failed check leaves none behind */
static pid_t children[16];
static int nchildren;

/* ---- the stream ---- */

/* One message to produce; archived ones are the execution's seq-th event. */
typedef struct st_out_t {
    xl_buf_t frame;
    int64_t key; /* root audit ID */
    int exec;    /* -1: poison */
} out_t;

/* What each execution must hold in the end. */
typedef struct st_expect_t {
    int64_t audit;
    xl_buf_t frames[8]; /* the distinct events, in seq order */
    uint32_t nframes;
    int status;
    uint32_t anomalies;
} expect_t;

typedef struct st_stream_t {
    out_t msgs[MAX_MSGS];
    size_t n;
    expect_t exec[NEXEC];
    rd_kafka_t *prk;
    atomic_size_t produced; /* handed to the producer */
    atomic_int errors;
    pthread_mutex_t mu;
    int64_t next[NPART]; /* acknowledged ends of the partitions */
} stream_t;

static int encode(xl_codec_t *codec, xl_buf_t *out, int type, int64_t audit, int64_t parent, int64_t rootid,
                  const char *event_id, int64_t t, int i)
{
    xl_metric_t metric = {str_of("rows"), i * 10};
    xl_event_t ev = fx_event(type, audit, event_id, t);
    ev.parent_audit_id = parent;
    ev.root_audit_id = rootid;
    ev.retries = parent != 0;
    ev.flow_id = str_of(i % 3 == 0 ? "nightly" : "hourly");
    ev.tenant_id = str_of(i % 2 ? "acme" : "beta");
    ev.ingest_time_ms = t + 2;
    if (type == XL_EVENT_TASK_STARTED || type == XL_EVENT_TASK_FINISHED)
        ev.task = str_of("extract");
    if (type == XL_EVENT_PROGRESS) {
        ev.metrics = &metric;
        ev.nmetrics = 1;
    }
    if (type == XL_EVENT_FAILED)
        ev.error = (xl_error_t){1, str_of("IOError"), str_of("disk full"), {NULL, 0}};
    xl_buf_init(out);
    return fx_encode(codec, &ev, out);
}

/*
 * Every execution: created, started, task started and finished, progress,
 * succeeded or failed, then a late `started` (an anomaly); some get a
 * re-delivered `started` or `created` (duplicates). Every fifth execution is
 * a retry of the one before (same root: same partition). The messages of all
 * executions are interleaved round by round.
 */
static int make_stream(stream_t *s, xl_codec_t *codec)
{
    static const int life[7] = {XL_EVENT_CREATED,  XL_EVENT_STARTED,   XL_EVENT_TASK_STARTED, XL_EVENT_TASK_FINISHED,
                                XL_EVENT_PROGRESS, XL_EVENT_SUCCEEDED, XL_EVENT_STARTED};
    static const char *const ids[7] = {"c", "s", "ts", "tf", "p", "end", "late"};
    out_t *per[NEXEC][9];
    int nper[NEXEC];
    int64_t roots[NEXEC];

    for (int i = 0; i != NEXEC; ++i) {
        expect_t *e = &s->exec[i];
        int64_t audit = FIRST_AUDIT + i, parent = i % 5 == 4 ? audit - 1 : 0;
        roots[i] = parent != 0 ? roots[i - 1] : audit;
        e->audit = audit;
        e->status = i % 4 == 1 ? XL_STATUS_FAILED : XL_STATUS_SUCCEEDED;
        e->anomalies = 1;
        nper[i] = 0;
        for (int k = 0; k != 7; ++k) {
            char id[32];
            snprintf(id, sizeof(id), "%s-%d", ids[k], i);
            int type = k == 5 && e->status == XL_STATUS_FAILED ? XL_EVENT_FAILED : life[k];
            out_t *o = &s->msgs[s->n++];
            if (encode(codec, &o->frame, type, audit, parent, roots[i], id, 1700000000000LL + i * 1000 + k * 10, i) !=
                0)
                return -1;
            o->key = roots[i];
            o->exec = i;
            per[i][nper[i]++] = o;
            xl_buf_init(&e->frames[e->nframes]);
            xl_buf_append(&e->frames[e->nframes++], o->frame.base, o->frame.len);
            if ((k == 2 && i % 3 == 0) || (k == 4 && i % 7 == 0)) {
                /* a re-delivery of `started`, or of `created`, right after the step */
                const out_t *again = per[i][k == 2 ? 1 : 0];
                out_t *d = &s->msgs[s->n++];
                xl_buf_init(&d->frame);
                xl_buf_append(&d->frame, again->frame.base, again->frame.len);
                d->key = roots[i];
                d->exec = i;
                per[i][nper[i]++] = d;
            }
        }
    }
    /* interleave: round r sends every execution's r-th message; a retry after the attempt it retries */
    out_t *ordered = malloc((s->n + NPOISON) * sizeof(*ordered));
    size_t n = 0;
    for (int r = 0; r != 9; ++r) {
        for (int i = 0; i != NEXEC; ++i)
            if (r < nper[i])
                ordered[n++] = *per[i][r];
        if (r == 4)
            for (int p = 0; p != NPOISON; ++p) {
                out_t *o = &ordered[n++];
                xl_buf_init(&o->frame);
                xl_buf_append(&o->frame, "\xc3\x01poison!", 9);
                o->key = FIRST_AUDIT + p * 11; /* behind it, on its partition, more of that execution follows */
                o->exec = -1;
            }
    }
    memcpy(s->msgs, ordered, n * sizeof(*ordered));
    s->n = n;
    free(ordered);
    return 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    stream_t *s = opaque;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(rkm->err));
        atomic_fetch_add(&s->errors, 1);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (rkm->partition >= 0 && rkm->partition < NPART && rkm->offset + 1 > s->next[rkm->partition])
        s->next[rkm->partition] = rkm->offset + 1;
    pthread_mutex_unlock(&s->mu);
}

static int produce_range(stream_t *s, size_t from, size_t to)
{
    for (size_t i = from; i != to; ++i) {
        char key[32];
        snprintf(key, sizeof(key), "%" PRId64, s->msgs[i].key);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            s->prk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(s->msgs[i].frame.base, s->msgs[i].frame.len), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        atomic_store(&s->produced, i + 1);
    }
    return rd_kafka_flush(s->prk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static void *stream_rest(void *arg)
{
    stream_t *s = arg;
    for (size_t i = atomic_load(&s->produced); i < s->n; i += STREAM_CHUNK) {
        size_t to = i + STREAM_CHUNK < s->n ? i + STREAM_CHUNK : s->n;
        if (produce_range(s, i, to) != 0) {
            atomic_fetch_add(&s->errors, 1);
            break;
        }
        sleep_ms(STREAM_GAP_MS);
    }
    return NULL;
}

/* ---- execlogd children ---- */

typedef struct st_child_t {
    pid_t pid;
    int port;
    char log[700];
} child_t;

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Run execlogd with args (NULL-terminated), output to logpath. @return the pid, or -1. */
static pid_t spawn(const char *const *args, const char *logpath)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = execlogd;
    for (; *args != NULL && n < 31; ++args)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(execlogd, (char *const *)argv);
        _exit(127);
    }
    if (pid > 0 && nchildren < (int)(sizeof(children) / sizeof(children[0])))
        children[nchildren++] = pid;
    return pid;
}

/* waitpid for one of ours, forgetting it once reaped. */
static pid_t reap(pid_t pid, int *status, int options)
{
    pid_t got = waitpid(pid, status, options);
    for (int i = 0; got == pid && i < nchildren; ++i) {
        if (children[i] == pid) {
            children[i] = children[--nchildren];
            break;
        }
    }
    return got;
}

static void kill_children(void)
{
    for (int i = 0; i != nchildren; ++i) {
        kill(children[i], SIGKILL);
        waitpid(children[i], NULL, 0);
    }
    nchildren = 0;
}

static int start_daemon(child_t *c, const char *name, const char *dir, const char *group, const char *bootstraps)
{
    char a_boot[300], a_dir[700], a_listen[64], a_group[128], a_threads[64];
    /* replica A (its runs a1, a2, a3) with the workers XL_CRASH_THREADS asks for */
    const char *threads = getenv("XL_CRASH_THREADS");
    snprintf(a_threads, sizeof(a_threads), "--projector.threads=%d",
             name[0] == 'a' && threads != NULL && atoi(threads) > 0 ? atoi(threads) : 1);
    c->port = free_port();
    snprintf(c->log, sizeof(c->log), "%s/%s.log", root, name);
    snprintf(a_boot, sizeof(a_boot), "--kafka.bootstrap.servers=%s", bootstraps);
    snprintf(a_dir, sizeof(a_dir), "--data.dir=%s", dir);
    snprintf(a_listen, sizeof(a_listen), "--listen=127.0.0.1:%d", c->port);
    snprintf(a_group, sizeof(a_group), "--projector.group.id=%s", group);
    const char *args[] = {a_boot,
                          a_dir,
                          a_listen,
                          a_group,
                          "--role=replica", /* the test produces the log itself */
                          "--kafka.session.timeout.ms=6000",
                          "--kafka.heartbeat.interval.ms=1000",
                          "--log.level=warn",
                          a_threads,
                          NULL};
    c->pid = spawn(args, c->log);
    return c->port > 0 && c->pid > 0 ? 0 : -1;
}

static void print_log(const child_t *c)
{
    char line[512];
    FILE *f = fopen(c->log, "r");
    int n = 0;
    fprintf(stderr, "---- %s (last lines) ----\n", c->log);
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (++n > 0)
            fputs(line, stderr); /* short logs: --log.level=warn */
    if (f != NULL)
        fclose(f);
}

/* GET path from the child; the body (up to size) into out. @return the HTTP status, or -1. */
static int http_get(int port, const char *path, char *out, size_t size)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256], buf[8192];
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
    struct timeval tv = {2, 0};
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto done;
    int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)len) != len)
        goto done;
    for (ssize_t r; got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0;)
        got += (size_t)r;
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        status = -1;
    const char *body = strstr(buf, "\r\n\r\n");
    snprintf(out, size, "%s", body != NULL ? body + 4 : "");
done:
    close(fd);
    return status;
}

/* A number member of a flat JSON object, or -1. */
static int64_t json_number(const char *body, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    const char *p = strstr(body, pat);
    return p != NULL ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* Wait until the child has applied at least `applied` events (its own count). @return 1 if so. */
static int wait_applied(const child_t *c, int64_t applied)
{
    char body[4096];
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        int status = http_get(c->port, "/readyz", body, sizeof(body));
        if (status > 0 && json_number(body, "applied") >= applied)
            return 1;
        if (reap(c->pid, NULL, WNOHANG) == c->pid)
            return 0;
        sleep_ms(20);
    }
    return 0;
}

/*
 * Wait until the child is ready with no lag, for a whole second, after the
 * whole stream was produced (the lag is against the high watermarks the
 * consumer last saw: a second of fetches refreshes them). The stored offsets
 * are checked afterwards anyway. @return 1 if so.
 */
static int wait_caught_up(const child_t *c, stream_t *s)
{
    char body[4096];
    int64_t deadline = now_ms() + WAIT_MS, since = -1;
    while (now_ms() < deadline) {
        int status = http_get(c->port, "/readyz", body, sizeof(body));
        if (status == 200 && json_number(body, "lag") == 0 && atomic_load(&s->produced) == s->n) {
            if (since < 0)
                since = now_ms();
            if (now_ms() - since >= 1000)
                return 1;
        } else {
            since = -1;
        }
        sleep_ms(50);
    }
    return 0;
}

static int stop_child(child_t *c, int sig)
{
    int status = -1;
    kill(c->pid, sig);
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        if (reap(c->pid, &status, WNOHANG) == c->pid)
            return status;
        sleep_ms(20);
    }
    kill(c->pid, SIGKILL);
    reap(c->pid, &status, 0);
    return -1;
}

/* Run an execlogd command to completion; stdout into out. @return the exit status. */
static int run_command(const char *const *args, const char *name, char *out, size_t size)
{
    char logpath[700], outpath[700], cmd[2048];
    snprintf(logpath, sizeof(logpath), "%s/%s.err", root, name);
    snprintf(outpath, sizeof(outpath), "%s/%s.out", root, name);
    int n = snprintf(cmd, sizeof(cmd), "'%s'", execlogd);
    for (; *args != NULL; ++args)
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " '%s'", *args);
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, " >'%s' 2>'%s'", outpath, logpath);
    int status = system(cmd);
    FILE *f = fopen(outpath, "r");
    out[0] = '\0';
    if (f != NULL) {
        size_t got = fread(out, 1, size - 1, f);
        out[got] = '\0';
        fclose(f);
    }
    f = fopen(logpath, "r");
    char line[512];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        fprintf(stderr, "%s: %s", name, line);
    if (f != NULL)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- checks ---- */

typedef struct st_archive_check_t {
    const expect_t *e;
    uint32_t n;
    int bad;
} archive_check_t;

static int check_frame(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    archive_check_t *c = ctx;
    if (seq != c->n + 1 || c->n >= c->e->nframes || c->e->frames[c->n].len != len ||
        memcmp(c->e->frames[c->n].base, frame, len) != 0 || pos->partition < 0 || pos->partition >= NPART)
        c->bad = 1;
    ++c->n;
    return 0;
}

static void check_replica(const char *name, const char *dir, stream_t *s, const char *identity,
                          char digest[XL_STORE_DIGEST_HEX_LEN + 1])
{
    char err[512], path[700];
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    snprintf(path, sizeof(path), "%s/projections", dir);
    xl_store_t *store = xl_store_open(path, 0, err, sizeof(err));
    XL_CHECK(store != NULL && codec != NULL, "%s: open: %s", name, err);
    if (store == NULL || codec == NULL)
        return;
    int bad_state = 0, bad_archive = 0;
    for (int i = 0; i != NEXEC; ++i) {
        const expect_t *e = &s->exec[i];
        xl_state_t st;
        if (xl_store_get_state(store, codec, e->audit, &st, err, sizeof(err)) != 0) {
            if (bad_state++ < 5)
                XL_CHECK(0, "%s: execution %" PRId64 " missing: %s", name, e->audit, err);
            continue;
        }
        if (st.last_seq != e->nframes || st.status != e->status || st.anomalies != e->anomalies || st.ntasks != 1 ||
            st.tasks[0].status != XL_STATUS_SUCCEEDED || st.tasks[0].attempts != 1 || st.nanomaly_list != 1) {
            if (bad_state++ < 5)
                XL_CHECK(0, "%s: execution %" PRId64 ": last_seq %u (want %u), status %d (want %d), anomalies %u", name,
                         e->audit, st.last_seq, e->nframes, st.status, e->status, st.anomalies);
        }
        xl_state_dispose(&st);
        archive_check_t c = {e, 0, 0};
        if (xl_store_scan_events(store, e->audit, 1, 0, check_frame, &c) != 0 || c.bad || c.n != e->nframes) {
            if (bad_archive++ < 5)
                XL_CHECK(0, "%s: execution %" PRId64 ": the archive is not the events produced once each (%u events)",
                         name, e->audit, c.n);
        }
    }
    XL_CHECK_INT(bad_state, 0);
    XL_CHECK_INT(bad_archive, 0);
    for (int p = 0; p != NPART; ++p) {
        int64_t off = -1;
        XL_CHECK_INT(xl_store_get_offset(store, identity, p, &off), 0);
        XL_CHECK(off == s->next[p], "%s: partition %d stored %" PRId64 ", the log ends at %" PRId64, name, p, off,
                 s->next[p]);
    }
    xl_buf_t prefix;
    xl_buf_init(&prefix);
    xl_flow_summary_t sum;
    xl_str_t acme = str_of("acme");
    XL_CHECK_INT(xl_store_get_flow_summary(store, &acme, "hourly", 6, &sum), 0);
    uint64_t want_total = 0, want_failed = 0;
    for (int i = 0; i != NEXEC; ++i)
        if (i % 2 && i % 3 != 0) {
            ++want_total;
            want_failed += i % 4 == 1;
        }
    XL_CHECK(sum.total == want_total && sum.by_status[XL_STATUS_FAILED] == want_failed && sum.ended == want_total,
             "%s: acme/hourly total %" PRIu64 " (want %" PRIu64 "), failed %" PRIu64 " (want %" PRIu64 ")", name,
             sum.total, want_total, sum.by_status[XL_STATUS_FAILED], want_failed);
    xl_buf_dispose(&prefix);
    XL_CHECK_INT(xl_store_digest(store, digest, err, sizeof(err)), 0);
    xl_store_close(store);
    xl_codec_destroy(codec);
}

static int count_dlq(const char *bootstraps, int want)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "dlq-reader", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk == NULL)
        return -1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, DLQ_TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    int64_t deadline = now_ms() + 10000;
    while (n < want && now_ms() < deadline) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (rkm == NULL)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR && rkm->len == 9 && memcmp(rkm->payload, "\xc3\x01poison!", 9) == 0)
            ++n;
        rd_kafka_message_destroy(rkm);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

int main(int argc, char **argv)
{
    char err[512], dir_a[600], dir_b[600], dir_copy[600], out[4096];
    char digest_a[XL_STORE_DIGEST_HEX_LEN + 1], digest_b[XL_STORE_DIGEST_HEX_LEN + 1];
    child_t a, b;
    pthread_t streamer;
    int64_t t0 = now_ms();

    XL_PHASE("setup");
    XL_REQUIRE(argc == 2, "usage: %s PATH_TO_EXECLOGD", argv[0]);
    execlogd = argv[1];
    XL_REQUIRE(access(execlogd, X_OK) == 0, "%s: %s", execlogd, strerror(errno));
    XL_REQUIRE(mkdtemp(root) != NULL, "mkdtemp: %s", strerror(errno));
    atexit(kill_children);
    snprintf(dir_a, sizeof(dir_a), "%s/a", root);
    snprintf(dir_b, sizeof(dir_b), "%s/b", root);
    snprintf(dir_copy, sizeof(dir_copy), "%s/a-copy", root);
    signal(SIGPIPE, SIG_IGN);
    stream_t *s = calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    xl_codec_t *codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(codec != NULL, "codec: %s", err);
    XL_REQUIRE(make_stream(s, codec) == 0, "stream");
    fprintf(stderr, "%zu messages for %d executions\n", s->n, NEXEC);

    XL_PHASE("setup: the mock cluster hosts the log in this process");
    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = fx_mock_cluster(&mock_rk, TOPIC, NPART, DLQ_TOPIC, err, sizeof(err));
    XL_REQUIRE(mcluster != NULL, "mock cluster: %s", err);
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(pconf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(pconf, "linger.ms", "2", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
    rd_kafka_conf_set_opaque(pconf, s);
    s->prk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
    XL_REQUIRE(s->prk != NULL, "producer: %s", err);
    char *identity = rd_kafka_clusterid(s->prk, 5000);
    XL_REQUIRE(identity != NULL, "cluster id");

    XL_PHASE("stream: a third up front, the rest streamed while execlogd runs");
    XL_REQUIRE(produce_range(s, 0, s->n / 3) == 0, "produce");
    XL_REQUIRE(start_daemon(&a, "a1", dir_a, "g-a1", bootstraps) == 0, "start a1");
    XL_REQUIRE(start_daemon(&b, "b", dir_b, "g-b", bootstraps) == 0, "start b");
    XL_REQUIRE(pthread_create(&streamer, NULL, stream_rest, s) == 0, "stream thread");

    XL_PHASE("kill -9 of replica A in the middle of the stream, twice");
    int ok = wait_applied(&a, 700);
    if (!ok)
        print_log(&a);
    XL_REQUIRE(ok, "a1 applied nothing within %d ms", WAIT_MS);
    size_t at = atomic_load(&s->produced);
    kill(a.pid, SIGKILL);
    reap(a.pid, NULL, 0);
    fprintf(stderr, "a1 killed at %.1f s, %zu of %zu produced\n", (double)(now_ms() - t0) / 1000, at, s->n);
    XL_CHECK(at < s->n, "the stream was over before the first kill");
    XL_REQUIRE(start_daemon(&a, "a2", dir_a, "g-a2", bootstraps) == 0, "start a2");
    ok = wait_applied(&a, 1);
    if (!ok)
        print_log(&a);
    XL_REQUIRE(ok, "a2 applied nothing within %d ms", WAIT_MS);
    at = atomic_load(&s->produced);
    kill(a.pid, SIGKILL);
    reap(a.pid, NULL, 0);
    fprintf(stderr, "a2 killed at %.1f s, %zu of %zu produced\n", (double)(now_ms() - t0) / 1000, at, s->n);

    XL_PHASE("restart: replica A and replica B catch up with the whole stream");
    XL_REQUIRE(start_daemon(&a, "a3", dir_a, "g-a3", bootstraps) == 0, "start a3");
    pthread_join(streamer, NULL);
    XL_REQUIRE(atomic_load(&s->errors) == 0, "production failed");
    ok = wait_caught_up(&a, s);
    if (!ok)
        print_log(&a);
    XL_CHECK(ok, "a3 did not catch up within %d ms", WAIT_MS);
    ok = wait_caught_up(&b, s);
    if (!ok)
        print_log(&b);
    XL_CHECK(ok, "b did not catch up within %d ms", WAIT_MS);
    fprintf(stderr, "caught up at %.1f s\n", (double)(now_ms() - t0) / 1000);
    int status = stop_child(&a, SIGTERM);
    XL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a3 exit status %d", status);
    status = stop_child(&b, SIGTERM);
    XL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "b exit status %d", status);

    XL_PHASE("exactly once: every execution holds the events produced, once each, and offsets end the log");
    check_replica("A", dir_a, s, identity, digest_a);
    check_replica("B", dir_b, s, identity, digest_b);

    XL_PHASE("the poison messages are in the DLQ");
    XL_CHECK(count_dlq(bootstraps, NPOISON) >= NPOISON, "fewer than %d poison messages dead-lettered", NPOISON);

    XL_PHASE("two replicas, separate groups and directories: the same digest");
    XL_CHECK(strcmp(digest_a, digest_b) == 0, "A %s, B %s", digest_a, digest_b);

    XL_PHASE("execlogd digest prints it");
    char a_dir[700];
    snprintf(a_dir, sizeof(a_dir), "--data.dir=%s", dir_a);
    const char *digest_args[] = {"digest", a_dir, NULL};
    XL_CHECK_INT(run_command(digest_args, "digest-a", out, sizeof(out)), 0);
    XL_CHECK(strncmp(out, digest_a, XL_STORE_DIGEST_HEX_LEN) == 0 && out[XL_STORE_DIGEST_HEX_LEN] == '\n',
             "execlogd digest: '%s', expected %s", out, digest_a);

    XL_PHASE("execlogd rebuild on a copy keeps the digest");
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", dir_a, dir_copy);
    XL_REQUIRE(system(cmd) == 0, "copy the data directory");
    char c_dir[700];
    snprintf(c_dir, sizeof(c_dir), "--data.dir=%s", dir_copy);
    const char *rebuild_args[] = {"rebuild", c_dir, NULL};
    XL_CHECK_INT(run_command(rebuild_args, "rebuild", out, sizeof(out)), 0);
    const char *digest_copy_args[] = {"digest", c_dir, NULL};
    XL_CHECK_INT(run_command(digest_copy_args, "digest-copy", out, sizeof(out)), 0);
    XL_CHECK(strncmp(out, digest_a, XL_STORE_DIGEST_HEX_LEN) == 0, "after the rebuild: '%s', before %s", out, digest_a);
    fprintf(stderr, "done in %.1f s\n", (double)(now_ms() - t0) / 1000);

    rd_kafka_mem_free(s->prk, identity);
    rd_kafka_destroy(s->prk);
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_rk);
    for (size_t i = 0; i != s->n; ++i)
        xl_buf_dispose(&s->msgs[i].frame);
    for (int i = 0; i != NEXEC; ++i)
        for (uint32_t k = 0; k != s->exec[i].nframes; ++k)
            xl_buf_dispose(&s->exec[i].frames[k]);
    pthread_mutex_destroy(&s->mu);
    free(s);
    xl_codec_destroy(codec);
    if (xl_test_failed == 0)
        rm_tree(root);
    else
        fprintf(stderr, "kept %s for a look\n", root);
    return xl_test_finish();
}
