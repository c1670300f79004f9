/*
 * Names of execlogd's threads, as `top -H`, `ps -L`, perf and gdb show them:
 * "xl-http/N" for the HTTP loops, "xl-proj/N" for projector workers, and one
 * name per helper thread. Linux keeps at most 15 characters; longer names
 * are cut.
 */
#ifndef XL_BASE_THREAD_H
#define XL_BASE_THREAD_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

/** @brief Name the calling thread (printf-style, cut to 15 characters). */
static inline void xl_thread_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void xl_thread_name(const char *fmt, ...)
{
    char name[16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    pthread_setname_np(pthread_self(), name);
}

#endif
