/*
 * Process log and access log (see log.h). A record is formatted into a
 * stack buffer and written with one write(2), so lines from several threads
 * never interleave. Access lines, one per request, are gathered in a buffer
 * written when it fills and at the latest ACCESS_FLUSH_MS after its first
 * line (a flusher thread), and at exit: a write(2) per request cost a third
 * of the status lookups' throughput.
 */
#include "schemas/base/log.h"
#include "schemas/base/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = XL_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

static int access_fd = STDERR_FILENO; /* -1: off */
static char access_path[4096];          /* the file of log.access; "" for stderr or off */
static volatile sig_atomic_t access_reopen;
static pthread_mutex_t access_lock = PTHREAD_MUTEX_INITIALIZER; /* access_fd, its reopen, the buffer */
#define ACCESS_FLUSH_MS 100
static char access_buf[64 * 1024]; /* lines not written yet */
static size_t access_len;
static int access_flusher; /* the flusher thread runs */

void xl_log_set_level(int level) { log_level = level; }

/*
 * "2026-11-22T05:21:28.123Z level=<level> mod=<module> " into line (size >= 128). @return its length.
 * The access log writes one per request: the date and time are formatted once a second per thread.
 */
static int prefix(char *line, size_t size, int level, const char *module)
{
    static __thread time_t sec = -1;
    static __thread char date[64]; /* "2026-11-22T05:21:28." */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(date, sizeof(date), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        sec = ts.tv_sec;
    }
    int ms = (int)(ts.tv_nsec / 1000000);
    char msz[6] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', ' ', '\0'};
    size_t n = 0, len;
    const char *parts[] = {date, msz, "level=", level_names[level], " mod=", module, " "};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); ++i, n += len) {
        len = strlen(parts[i]);
        if (n + len >= size)
            len = size - 1 - n;
        memcpy(line + n, parts[i], len);
    }
    line[n] = '\0';
    return (int)n;
}

int xl_log_parse_level(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); ++i)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void xl_log(int level, const char *module, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[2048];
    int n = prefix(line, sizeof(line), level, module);
    n += snprintf(line + n, sizeof(line) - (size_t)n, "msg=\"");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* quotes inside the message would break the key=value shape */
    for (size_t i = (size_t)n; i < len; ++i)
        if (line[i] == '"' || line[i] == '\n')
            line[i] = line[i] == '"' ? '\'' : ' ';
    line[len++] = '"';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int xl_log_access_open(const char *where, char *err, size_t errlen)
{
    int fd;
    if (strcmp(where, "off") == 0) {
        fd = -1;
    } else if (strcmp(where, "stderr") == 0) {
        fd = STDERR_FILENO;
    } else if ((fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, errlen, "log.access: cannot open %s: %s", where, strerror(errno));
        return -1;
    }
    xl_log_access_close();
    access_fd = fd;
    snprintf(access_path, sizeof(access_path), "%s", fd > STDERR_FILENO ? where : "");
    return 0;
}

/* Write the buffered lines to access_fd. Called with access_lock held. */
static void access_flush_locked(void)
{
    for (size_t off = 0; access_fd >= 0 && off < access_len;) {
        ssize_t w = write(access_fd, access_buf + off, access_len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* a full disk or a closed pipe: the lines are dropped, the service goes on */
        off += (size_t)w;
    }
    access_len = 0;
}

static void access_flush(void)
{
    pthread_mutex_lock(&access_lock);
    access_flush_locked();
    pthread_mutex_unlock(&access_lock);
}

/* Every ACCESS_FLUSH_MS: what the loops wrote is in the file that long after, at the latest. */
static void *access_flusher_main(void *arg)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
    xl_thread_name("xl-accesslog");
    for (;;) {
        struct timespec ts = {0, ACCESS_FLUSH_MS * 1000000L};
        nanosleep(&ts, NULL);
        access_flush();
    }
    return NULL;
}

void xl_log_access_close(void)
{
    pthread_mutex_lock(&access_lock);
    access_flush_locked();
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    access_fd = STDERR_FILENO;
    access_path[0] = '\0';
    pthread_mutex_unlock(&access_lock);
}

int xl_log_access_enabled(void) { return __atomic_load_n(&access_fd, __ATOMIC_RELAXED) >= 0; }

void xl_log_access_reopen(void) { __atomic_store_n(&access_reopen, 1, __ATOMIC_RELAXED); }

/* After SIGHUP, before the next line: the file again by its name (a rotated one is left to the rotator). */
static void reopen_if_asked(void)
{
    if (!__atomic_exchange_n(&access_reopen, 0, __ATOMIC_RELAXED))
        return;
    if (access_path[0] == '\0')
        return;
    access_flush_locked(); /* what came before the signal belongs to the old file */
    int fd = open(access_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        xl_log_error("log", "log.access: cannot reopen %s: %s; still writing to the old file", access_path,
                     strerror(errno));
        return;
    }
    close(access_fd);
    __atomic_store_n(&access_fd, fd, __ATOMIC_RELAXED);
}

void xl_log_access(const char *fields, size_t len)
{
    char line[4096];
    size_t n = (size_t)prefix(line, sizeof(line), XL_LOG_INFO, "access");
    if (len > sizeof(line) - n - 1)
        len = sizeof(line) - n - 1;
    memcpy(line + n, fields, len);
    n += len;
    line[n++] = '\n';
    /* every HTTP loop writes here: the reopen must not close a descriptor another loop is writing to */
    pthread_mutex_lock(&access_lock);
    reopen_if_asked();
    if (!access_flusher) {
        pthread_t t;
        access_flusher = 1;
        if (pthread_create(&t, NULL, access_flusher_main, NULL) == 0) {
            pthread_detach(t);
            atexit(access_flush);
        } else {
            access_flusher = -1; /* no thread: every line is written at once */
        }
    }
    if (access_len + n > sizeof(access_buf) || access_flusher < 0)
        access_flush_locked();
    if (access_fd >= 0 && n <= sizeof(access_buf)) {
        memcpy(access_buf + access_len, line, n);
        access_len += n;
        if (access_flusher < 0)
            access_flush_locked();
    }
    pthread_mutex_unlock(&access_lock);
}
