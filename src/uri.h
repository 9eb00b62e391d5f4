/* Percent-encoding and endpoint parsing shared by both signing dialects.
 * Pure: no I/O, no globals. */
#ifndef PFS_URI_H
#define PFS_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends the RFC 3986 encoding of len bytes: A-Z a-z 0-9 - _ . ~ stay, every
 * other byte becomes %XY (upper-case). keep_slash leaves '/' as is (object paths);
 * query names and values escape it. */
void pfs_uri_encode(struct pfs_buf *out, const char *s, size_t len, bool keep_slash);

/* Plain percent-decoding ('+' stays '+'). Returns 0, or -EINVAL on a malformed
 * escape. The result may contain NUL bytes; out->len is authoritative. */
int pfs_uri_decode(struct pfs_buf *out, const char *s, size_t len);

/* Form decoding (application/x-www-form-urlencoded, Python's unquote_plus):
 * as pfs_uri_decode, but '+' is a space. This is how S3 and TOS encode names
 * in a listing answered with EncodingType url (a literal '+' comes as %2B). */
int pfs_uri_decode_form(struct pfs_buf *out, const char *s, size_t len);

/* The value of one hex digit (either case), or -1. */
int pfs_uri_hexval(char c);

#define PFS_HOST_MAX 255

/* A normalised endpoint: what the signer signs is exactly what curl sends. */
struct pfs_endpoint {
    bool https;
    char host[PFS_HOST_MAX + 1]; /* lower-case; IPv6 literals keep their brackets */
    unsigned port;               /* 0 when the scheme's default port is meant */
    bool host_is_ip;
};

/* Parses "http[s]://host[:port][/]". Lower-cases the host and drops a port equal
 * to the scheme's default. Returns 0, or -EINVAL with *why set to a static
 * sentence describing the problem. */
int pfs_endpoint_parse(struct pfs_endpoint *out, const char *text, const char **why);

/* Appends "host[:port]", optionally prefixed by "bucket." (virtual addressing). */
void pfs_endpoint_authority(struct pfs_buf *out, const struct pfs_endpoint *ep,
                            const char *bucket_prefix);

#endif
