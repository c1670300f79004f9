/*
 * Process log: one line per record on stderr,
 *   2026-11-22T05:21:28.123Z level=info mod=ingest msg="..."
 * so that both people and log shippers can read it. Safe from any thread;
 * it never allocates on the heap.
 *
 * The access log (api/access.c formats it) has the same shape with
 * mod=access and logfmt fields instead of msg; it goes to stderr with the
 * rest (default), to a file of its own, or nowhere (log.access).
 */
#ifndef XL_BASE_LOG_H
#define XL_BASE_LOG_H

#include <stddef.h>

enum { XL_LOG_ERROR = 0, XL_LOG_WARN = 1, XL_LOG_INFO = 2, XL_LOG_DEBUG = 3 };

/** @brief Records above level are dropped (default XL_LOG_INFO). */
void xl_log_set_level(int level);
/** @brief Parse "error|warn|info|debug". @return the level or -1. */
int xl_log_parse_level(const char *name);
void xl_log(int level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/**
 * @brief Where access lines go: "stderr", "off", or a file path (opened for
 * appending, created 0640). @return 0, or -1 with err filled.
 */
int xl_log_access_open(const char *where, char *err, size_t errlen);
/** @brief Close an access log file (back to stderr). */
void xl_log_access_close(void);
/**
 * @brief Reopen the access log file by its name before its next line (after
 * logrotate moved it). Async-signal-safe: the SIGHUP handler calls it.
 */
void xl_log_access_reopen(void);
/** @brief 1 unless log.access is off. */
int xl_log_access_enabled(void);
/** @brief Write "<time> level=info mod=access <fields>\n" (fields: logfmt, no newline) to the access log. */
void xl_log_access(const char *fields, size_t len);

#define xl_log_error(mod, ...) xl_log(XL_LOG_ERROR, mod, __VA_ARGS__)
#define xl_log_warn(mod, ...) xl_log(XL_LOG_WARN, mod, __VA_ARGS__)
#define xl_log_info(mod, ...) xl_log(XL_LOG_INFO, mod, __VA_ARGS__)
#define xl_log_debug(mod, ...) xl_log(XL_LOG_DEBUG, mod, __VA_ARGS__)

#endif
