/* The time source of the URL layer, injectable so tests can move time by hand. */
#ifndef PFS_CLOCK_H
#define PFS_CLOCK_H

#include <stdint.h>

struct pfs_clock {
    /* Returns the current UTC time in unix seconds. */
    int64_t (*now)(void *ctx);
    void *ctx;
};

/* The wall clock (CLOCK_REALTIME): presigned URLs carry absolute UTC times. */
extern const struct pfs_clock pfs_clock_realtime;

static inline int64_t pfs_clock_now(const struct pfs_clock *c)
{
    return c->now(c->ctx);
}

#endif
