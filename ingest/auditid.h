/*
 * Audit ID allocation. An audit ID is (counter << 8) | node_id, so IDs from
 * different ingest nodes never collide and grow with time across nodes.
 * The counter never goes back: blocks of counter values are reserved in a
 * file (fsync'ed, then renamed) before any of them is handed out, and at
 * start the counter also jumps to the wall clock (16 values per ms since
 * 2024-01-01), so a lost data directory or a fresh embedded broker cannot
 * make a node reissue an ID. 45 bits of counter at that pace last ~69 years;
 * every ID stays <= 2^53 - 1 so JSON clients keep it exact.
 *
 * Not thread-safe: one allocator belongs to one event-loop thread.
 */
#ifndef XL_INGEST_AUDITID_H
#define XL_INGEST_AUDITID_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_xl_auditid_t xl_auditid_t;

/**
 * @brief Load (or create) the reservation file `<dir>/audit_id.<node_id>`.
 * @return the allocator (xl_auditid_destroy), or NULL with err filled.
 */
xl_auditid_t *xl_auditid_create(const char *dir, int node_id, char *err, size_t errlen);
void xl_auditid_destroy(xl_auditid_t *ids);

/**
 * @brief Next audit ID. May write and fsync the reservation file.
 * @return 0 with *id set, or negative (I/O error, counter exhausted) with err.
 */
int xl_auditid_next(xl_auditid_t *ids, int64_t *id, char *err, size_t errlen);

#endif
