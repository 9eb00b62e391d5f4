/* Parsing the two time formats stores send: ISO 8601 in listings and
 * RFC 1123 in Last-Modified. Pure. */
#ifndef PFS_TIMEFMT_H
#define PFS_TIMEFMT_H

#include <stdint.h>

/* "2024-01-15T08:30:00.000Z" (fraction optional, 'Z' required). Returns 0 and
 * unix seconds, or -EINVAL. */
int pfs_time_parse_iso8601(int64_t *out, const char *s);

/* "Mon, 15 Jan 2024 08:30:00 GMT". Returns 0 and unix seconds, or -EINVAL. */
int pfs_time_parse_http(int64_t *out, const char *s);

#endif
