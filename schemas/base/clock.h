/*
 * Clocks in milliseconds: the wall clock (timestamps that leave the process:
 * events, logs, lag in seconds) and the monotonic clock (durations, deadlines,
 * which must not jump when the wall clock is set). Safe from any thread.
 */
#ifndef XL_BASE_CLOCK_H
#define XL_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/** @brief Wall clock in ms since the epoch (UTC). */
static inline int64_t xl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** @brief Monotonic clock in ms from an unspecified start; only differences mean something. */
static inline int64_t xl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
