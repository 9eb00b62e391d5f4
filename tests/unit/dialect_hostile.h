/* Hostile inputs shared by the two dialect parser tests. */
#ifndef PFS_DIALECT_HOSTILE_H
#define PFS_DIALECT_HOSTILE_H

#include <stdlib.h>
#include <string.h>

/* n bytes of deterministic junk (all byte values, no structure). */
static inline char *junk(size_t n)
{
    char *p = malloc(n);
    uint64_t x = 0x2545F4914F6CDD1DULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (char)(x >> 24);
    }
    return p;
}

/* open repeated n times, then close repeated n times. */
static inline char *nested(const char *open, const char *close, size_t n)
{
    size_t lo = strlen(open), lc = strlen(close);
    char *p = malloc(n * (lo + lc) + 1);
    char *q = p;
    for (size_t i = 0; i < n; i++, q += lo)
        memcpy(q, open, lo);
    for (size_t i = 0; i < n; i++, q += lc)
        memcpy(q, close, lc);
    *q = '\0';
    return p;
}

#endif
