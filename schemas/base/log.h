/*
 * Process log: one line per record on stderr,
 *   2026-11-22T05:21:28.123Z level=info mod=ingest msg="..."
 * so that both people and log shippers can read it. Safe from any thread;
 * it never allocates on the heap.
 */
#ifndef XL_BASE_LOG_H
#define XL_BASE_LOG_H

enum { XL_LOG_ERROR = 0, XL_LOG_WARN = 1, XL_LOG_INFO = 2, XL_LOG_DEBUG = 3 };

/** @brief Records above level are dropped (default XL_LOG_INFO). */
void xl_log_set_level(int level);
/** @brief Parse "error|warn|info|debug". @return the level or -1. */
int xl_log_parse_level(const char *name);
void xl_log(int level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define xl_log_error(mod, ...) xl_log(XL_LOG_ERROR, mod, __VA_ARGS__)
#define xl_log_warn(mod, ...) xl_log(XL_LOG_WARN, mod, __VA_ARGS__)
#define xl_log_info(mod, ...) xl_log(XL_LOG_INFO, mod, __VA_ARGS__)
#define xl_log_debug(mod, ...) xl_log(XL_LOG_DEBUG, mod, __VA_ARGS__)

#endif
