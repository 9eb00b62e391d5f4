/* Objects whose byte at offset i is a known function of i, for the read
 * tests over the scripted fake transport (test_client.c, test_prefetch.c,
 * test_range_fetch.c): their answers and a check of the bytes read. Include
 * after cmocka.h and client_fx.h. */
#ifndef PFS_TEST_PATTERN_FX_H
#define PFS_TEST_PATTERN_FX_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Never '\0' (the fake's bodies are strings); not periodic in 4 KiB. */
static inline char fx_pattern_at(uint64_t off)
{
    return (char)('a' + (off * 7 + off / 4093) % 26);
}

/* Queues a 206 of [from, from + len) of an object of total bytes, with the
 * ETag etag and, when not NULL, one more header line. */
static inline void fx_push_pattern(struct fx *f, uint64_t from, size_t len, uint64_t total,
                                   const char *etag, const char *extra_header)
{
    char *body = malloc(len + 1), cr[128], et[128];
    for (size_t i = 0; i < len; i++)
        body[i] = fx_pattern_at(from + i);
    body[len] = '\0';
    snprintf(cr, sizeof(cr), "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from,
             from + len - 1, total);
    snprintf(et, sizeof(et), "ETag: %s", etag);
    fake_http_push(f->fake, 206, body, (const char *[]){cr, et, extra_header, NULL});
    free(body);
}

/* Fails the test at the first of len bytes at buf that is not the
 * pattern's at off. */
static inline void fx_check_pattern(const char *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != fx_pattern_at(off + i))
            fail_msg("byte %" PRIu64 " differs", off + i);
}

#endif
