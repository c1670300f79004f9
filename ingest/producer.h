/*
 * The Kafka producer of the write path: idempotent, acks=all, murmur2
 * partitioner (the Java client's, so any producer keyed by root audit ID
 * lands on the same partition). Delivery reports are handed to the owner's
 * callback from the producer's own poll thread: the callback must not block
 * and must hand the result to the right thread itself.
 */
#ifndef XL_INGEST_PRODUCER_H
#define XL_INGEST_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_xl_producer_t xl_producer_t;

/**
 * Delivery report: err is 0 or a negative errno-like code and errstr a
 * static description; partition/offset are the message's place in the log.
 * opaque is the value given to xl_producer_send.
 */
typedef void (*xl_producer_report_cb)(void *ctx, void *opaque, int err, const char *errstr, int32_t partition,
                                      int64_t offset);

/**
 * @brief Create the producer and start its poll thread.
 * @param props librdkafka settings as name/value pairs (props[2i], props[2i+1]), borrowed
 * @param timeout_ms  bound on delivery (message.timeout.ms) unless props set it
 * @return the producer (xl_producer_destroy), or NULL with err filled.
 */
xl_producer_t *xl_producer_create(const char *topic, const char *const *props, size_t nprops, int timeout_ms,
                                  xl_producer_report_cb cb, void *ctx, char *err, size_t errlen);

/** @brief Flush what is in flight (bounded by timeout_ms), stop the thread, free. */
void xl_producer_destroy(xl_producer_t *prod, int timeout_ms);

/**
 * Kafka headers of one event, so that a consumer can filter without decoding
 * Avro: execlog-type, execlog-tenant (absent for no tenant), execlog-schema
 * (the writer schema's fingerprint, 16 hex digits) and the caller's W3C
 * traceparent when one was sent. Each (base, len), borrowed for the call;
 * base NULL leaves the header out.
 */
typedef struct st_xl_producer_headers_t {
    const char *type;
    const char *tenant;
    size_t tenant_len;
    const char *schema;
    const char *traceparent;
    size_t traceparent_len;
} xl_producer_headers_t;

/**
 * @brief Queue one message; key, value and headers are copied. Exactly one
 * delivery report follows a 0 return; none follows a failure.
 * @return 0, -ENOBUFS (local queue full), or another negative code with err.
 */
int xl_producer_send(xl_producer_t *prod, const void *key, size_t keylen, const void *value, size_t len,
                     const xl_producer_headers_t *headers, void *opaque, char *err, size_t errlen);

/**
 * @brief The end of the log now: the high watermark of every partition of
 * the topic, asked of the partition leaders. Blocks (bounded by timeout_ms
 * per request): call it from a thread of its own, never the event loop.
 * @return 0 with *ends (free()) and *n filled, or negative with err.
 */
int xl_producer_log_end(xl_producer_t *prod, int timeout_ms, int64_t **ends, size_t *n, char *err, size_t errlen);

/**
 * @brief The partition the producer's partitioner (murmur2, as the Java
 * client's) gives key among nparts partitions, so that a caller can choose a
 * key that lands where it wants. Pure. @return 0..nparts-1 (0 if nparts < 1).
 */
int32_t xl_producer_partition_of(const void *key, size_t len, int32_t nparts);

/** @brief 1 once the producer hit a fatal error (idempotence broken): it must be recreated. */
int xl_producer_is_fatal(xl_producer_t *prod);

/** @brief Counters for /metrics. */
void xl_producer_counts(xl_producer_t *prod, uint64_t *sent, uint64_t *delivered, uint64_t *failed);

#endif
