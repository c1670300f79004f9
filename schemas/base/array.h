/*
 * Growing arrays: the one growth step every growing array of execlog takes
 * (double the capacity, or start at `first`), for functions that report
 * running out of memory as -ENOMEM.
 */
#ifndef XL_BASE_ARRAY_H
#define XL_BASE_ARRAY_H

#include <errno.h>
#include <stdlib.h>

/* Make room for one more item at arr[n] (capacity cap), or return -ENOMEM from the calling function. */
#define XL_ROOM_OR_RETURN(arr, n, cap, first)                                                                          \
    do {                                                                                                               \
        if ((n) == (cap)) {                                                                                            \
            size_t next_ = (cap) != 0 ? (cap) * 2 : (first);                                                           \
            void *grown_ = realloc((arr), next_ * sizeof(*(arr)));                                                     \
            if (grown_ == NULL)                                                                                        \
                return -ENOMEM;                                                                                        \
            (arr) = grown_;                                                                                            \
            (cap) = next_;                                                                                             \
        }                                                                                                              \
    } while (0)

#endif
