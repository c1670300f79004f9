/*
 * HTTP metrics (see metrics.h). Each route keeps a short list of the
 * (method, status code) pairs it answered, each with a counter and two
 * fixed-bucket histograms: answers, and held answers. The process_* family
 * is read from /proc/self when /metrics is rendered. One set serves every
 * HTTP loop: a mutex guards the tables (held for a counter update or a
 * rendering, never across I/O).
 */
#include "api/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* upper bounds in seconds: answers, Prometheus' default buckets with a finer start; held answers (SSE streams,
 * long polls, min_position waits), from a fraction of a second to an hour */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
static const double held_buckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define NHELD_BUCKETS (sizeof(held_buckets) / sizeof(held_buckets[0]))

typedef struct st_hist_t {
    uint64_t count;
    double sum;
    uint64_t le[NBUCKETS]; /* non-cumulative; summed when rendered */
} hist_t;

typedef struct st_code_t {
    const char *method; /* static */
    int status;
    hist_t answered, held;
} code_t;

typedef struct st_route_stats_t {
    xl_metrics_route_t label;
    code_t *codes;
    size_t ncodes;
} route_stats_t;

#define MAX_LOOPS 256

struct st_xl_metrics_t {
    pthread_mutex_t lock;
    route_stats_t *routes;
    size_t nroutes;
    uint64_t loop_requests[MAX_LOOPS]; /* requests each HTTP loop took */
    size_t nloops;                     /* loops that took any (the highest index + 1) */
};

xl_metrics_t *xl_metrics_create(const xl_metrics_route_t *routes, size_t nroutes)
{
    xl_metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->routes = calloc(nroutes, sizeof(*m->routes))) == NULL) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->nroutes = nroutes;
    for (size_t i = 0; i < nroutes; ++i)
        m->routes[i].label = routes[i];
    return m;
}

void xl_metrics_destroy(xl_metrics_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nroutes; ++i)
        free(m->routes[i].codes);
    free(m->routes);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static void hist_add(hist_t *h, const double *bounds, size_t nbounds, double seconds)
{
    ++h->count;
    h->sum += seconds;
    for (size_t b = 0; b < nbounds; ++b) {
        if (seconds <= bounds[b]) {
            ++h->le[b];
            break;
        }
    }
}

void xl_metrics_count_loop(xl_metrics_t *m, size_t loop)
{
    if (loop >= MAX_LOOPS)
        return;
    pthread_mutex_lock(&m->lock);
    ++m->loop_requests[loop];
    if (loop >= m->nloops)
        m->nloops = loop + 1;
    pthread_mutex_unlock(&m->lock);
}

static void observe_locked(xl_metrics_t *m, size_t route, const char *method, int status, double seconds, int held);

void xl_metrics_observe(xl_metrics_t *m, size_t route, const char *method, int status, double seconds, int held)
{
    if (route >= m->nroutes)
        return;
    pthread_mutex_lock(&m->lock);
    observe_locked(m, route, method, status, seconds, held);
    pthread_mutex_unlock(&m->lock);
}

static void observe_locked(xl_metrics_t *m, size_t route, const char *method, int status, double seconds, int held)
{
    route_stats_t *r = &m->routes[route];
    if (r->label.method != NULL || method == NULL)
        method = r->label.method != NULL ? r->label.method : "other";
    code_t *c = NULL;
    for (size_t i = 0; i < r->ncodes && c == NULL; ++i)
        if (r->codes[i].status == status && strcmp(r->codes[i].method, method) == 0)
            c = &r->codes[i];
    if (c == NULL) {
        code_t *codes = realloc(r->codes, (r->ncodes + 1) * sizeof(*codes));
        if (codes == NULL)
            return; /* a lost sample, not a lost request */
        r->codes = codes;
        c = &r->codes[r->ncodes++];
        memset(c, 0, sizeof(*c));
        c->method = method;
        c->status = status;
    }
    if (held)
        hist_add(&c->held, held_buckets, NHELD_BUCKETS, seconds);
    else
        hist_add(&c->answered, buckets, NBUCKETS, seconds);
}

void xl_metrics_escape(const char *s, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 3 < outlen; ++i) {
        char ch = s[i];
        if (ch == '\\' || ch == '"') {
            out[n++] = '\\';
            out[n++] = ch;
        } else if (ch == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = ch;
        }
    }
    if (outlen > 0)
        out[n < outlen ? n : outlen - 1] = '\0';
}

int xl_metrics_family(xl_buf_t *out, const char *name, const char *type, const char *help)
{
    return xl_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int xl_metrics_sample(xl_buf_t *out, const char *name, const char *labels, double value)
{
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    if (isinf(value))
        return xl_buf_appendf(out, "%s%s%s%s %s\n", name, open, labels, close, value > 0 ? "+Inf" : "-Inf");
    if (value == floor(value) && fabs(value) < 9e15)
        return xl_buf_appendf(out, "%s%s%s%s %.0f\n", name, open, labels, close, value);
    return xl_buf_appendf(out, "%s%s%s%s %.15g\n", name, open, labels, close, value); /* start times need 12 digits */
}

/* The samples of one histogram family for every (method, route, code) that has any; held picks which. */
static int render_hist(const xl_metrics_t *m, xl_buf_t *out, const char *name, int held)
{
    const double *bounds = held ? held_buckets : buckets;
    size_t nbounds = held ? NHELD_BUCKETS : NBUCKETS;
    char route[256], labels[512], metric[128];
    int ret = 0;
    for (size_t i = 0; i < m->nroutes; ++i) {
        const route_stats_t *r = &m->routes[i];
        xl_metrics_escape(r->label.route, strlen(r->label.route), route, sizeof(route));
        for (size_t j = 0; j < r->ncodes; ++j) {
            const code_t *c = &r->codes[j];
            const hist_t *h = held ? &c->held : &c->answered;
            if (h->count == 0)
                continue;
            int n = snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",code=\"%d\"", c->method, route,
                             c->status);
            uint64_t cum = 0;
            snprintf(metric, sizeof(metric), "%s_bucket", name);
            for (size_t b = 0; b <= nbounds; ++b) {
                cum += b < nbounds ? h->le[b] : 0;
                if (b < nbounds)
                    snprintf(labels + n, sizeof(labels) - (size_t)n, ",le=\"%g\"", bounds[b]);
                else
                    snprintf(labels + n, sizeof(labels) - (size_t)n, ",le=\"+Inf\"");
                ret |= xl_metrics_sample(out, metric, labels, (double)(b < nbounds ? cum : h->count));
            }
            labels[n] = '\0';
            snprintf(metric, sizeof(metric), "%s_sum", name);
            ret |= xl_metrics_sample(out, metric, labels, h->sum);
            snprintf(metric, sizeof(metric), "%s_count", name);
            ret |= xl_metrics_sample(out, metric, labels, (double)h->count);
        }
    }
    return ret;
}

int xl_metrics_render_http(xl_metrics_t *m, xl_buf_t *out)
{
    char route[256], labels[512];
    int ret = 0;
    pthread_mutex_lock(&m->lock);
    ret |= xl_metrics_family(out, "execlog_http_loop_requests_total", "counter",
                             "HTTP requests each event loop (http.threads) took");
    for (size_t i = 0; i < m->nloops; ++i) {
        snprintf(labels, sizeof(labels), "loop=\"%zu\"", i);
        ret |= xl_metrics_sample(out, "execlog_http_loop_requests_total", labels, (double)m->loop_requests[i]);
    }
    ret |= xl_metrics_family(out, "execlog_http_requests_total", "counter",
                             "HTTP requests answered, by method, route pattern and status code (499: the client went "
                             "away before the answer), held ones included");
    for (size_t i = 0; i < m->nroutes; ++i) {
        const route_stats_t *r = &m->routes[i];
        xl_metrics_escape(r->label.route, strlen(r->label.route), route, sizeof(route));
        for (size_t j = 0; j < r->ncodes; ++j) {
            const code_t *c = &r->codes[j];
            snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",code=\"%d\"", c->method, route, c->status);
            ret |= xl_metrics_sample(out, "execlog_http_requests_total", labels,
                                     (double)(c->answered.count + c->held.count));
        }
    }
    ret |= xl_metrics_family(out, "execlog_http_request_duration_seconds", "histogram",
                             "time from the request to the end of its answer, by method, route pattern and status "
                             "code; held answers are not in it (execlog_http_held_seconds)");
    ret |= render_hist(m, out, "execlog_http_request_duration_seconds", 0);
    ret |= xl_metrics_family(out, "execlog_http_held_seconds", "histogram",
                             "how long held answers (SSE streams, long polls with wait=, reads waiting for their "
                             "min_position) were held, from the request to the end of the answer");
    ret |= render_hist(m, out, "execlog_http_held_seconds", 1);
    pthread_mutex_unlock(&m->lock);
    return ret != 0 ? -ENOMEM : 0;
}

/* ---- process_* (the names of Prometheus' client libraries), from /proc/self ------------------- */

/* Fields 14.. of /proc/self/stat (after the command name): utime, stime (ticks), starttime (ticks after boot),
 * vsize (bytes), rss (pages). @return 0, or -1. */
static int read_stat(double *cpu_s, double *start_ticks, double *vsize, double *rss_pages)
{
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (fp == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    unsigned long long f[22];
    if (p == NULL)
        return -1;
    /* field 3 (state) is a character; fields 4..24 are numbers */
    if (sscanf(p + 1, " %*c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
                      "%llu %llu %llu",
               &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11], &f[12], &f[13],
               &f[14], &f[15], &f[16], &f[17], &f[18], &f[19], &f[20]) != 21)
        return -1;
    /* f[k] is field k + 4: utime 14, stime 15, starttime 22, vsize 23, rss 24 */
    *cpu_s = (double)(f[10] + f[11]) / (double)sysconf(_SC_CLK_TCK);
    *start_ticks = (double)f[18];
    *vsize = (double)f[19];
    *rss_pages = (double)f[20];
    return 0;
}

static double boot_time(void)
{
    char line[256];
    double btime = -1;
    FILE *fp = fopen("/proc/stat", "r");
    if (fp == NULL)
        return -1;
    while (btime < 0 && fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "btime ", 6) == 0)
            btime = strtod(line + 6, NULL);
    fclose(fp);
    return btime;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) /* not the directory's own descriptor */
            ++n;
    closedir(d);
    return n;
}

int xl_metrics_render_process(xl_buf_t *out)
{
    double cpu, start, vsize, rss, btime = boot_time(), fds = open_fds();
    struct rlimit rl;
    int ret = 0;
    if (read_stat(&cpu, &start, &vsize, &rss) == 0) {
        ret |= xl_metrics_family(out, "process_cpu_seconds_total", "counter", "user and system CPU time spent");
        ret |= xl_metrics_sample(out, "process_cpu_seconds_total", "", cpu);
        ret |= xl_metrics_family(out, "process_resident_memory_bytes", "gauge", "resident memory size");
        ret |= xl_metrics_sample(out, "process_resident_memory_bytes", "", rss * (double)sysconf(_SC_PAGESIZE));
        ret |= xl_metrics_family(out, "process_virtual_memory_bytes", "gauge", "virtual memory size");
        ret |= xl_metrics_sample(out, "process_virtual_memory_bytes", "", vsize);
        if (btime > 0) {
            ret |= xl_metrics_family(out, "process_start_time_seconds", "gauge",
                                     "start time of the process since the epoch, in seconds");
            ret |= xl_metrics_sample(out, "process_start_time_seconds", "",
                                     btime + start / (double)sysconf(_SC_CLK_TCK));
        }
    }
    if (fds >= 0) {
        ret |= xl_metrics_family(out, "process_open_fds", "gauge", "open file descriptors");
        ret |= xl_metrics_sample(out, "process_open_fds", "", fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        ret |= xl_metrics_family(out, "process_max_fds", "gauge", "most open file descriptors (RLIMIT_NOFILE)");
        ret |= xl_metrics_sample(out, "process_max_fds", "",
                                 rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    }
    return ret != 0 ? -ENOMEM : 0;
}
