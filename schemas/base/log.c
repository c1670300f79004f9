/*
 * Process log (see log.h). A record is formatted into a stack buffer and
 * written with one write(2), so lines from several threads never interleave.
 */
#include "schemas/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = XL_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void xl_log_set_level(int level) { log_level = level; }

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
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s msg=\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], module);
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
