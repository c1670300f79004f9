/*
 * A place in the log: the partition and offset an event was read from (or
 * written to). Writes answer with it, reads can wait for it, the store keeps
 * it next to every archived event. Only two integers: no Kafka in here.
 */
#ifndef XL_BASE_POSITION_H
#define XL_BASE_POSITION_H

#include <stdint.h>

/** A place in the Kafka log: where an event was read from. */
typedef struct st_xl_pos_t {
    int32_t partition;
    int64_t offset;
} xl_pos_t;

#endif
