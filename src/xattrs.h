/* Extended attributes in the one metadata value s3fs stores them in
 * (x-amz-meta-xattr / x-tos-meta-xattr): the URL-encoding (RFC 3986, '/'
 * kept) of {"name":"base64(value)",...} with the names in byte order, so
 * that either tool reads what the other wrote. Pure. */
#ifndef PFS_XATTRS_H
#define PFS_XATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PFS_XATTR_META "xattr" /* the metadata name, without its prefix */

struct pfs_xattr {
    char *name;
    uint8_t *value;
    size_t len;
};

struct pfs_xattrs {
    struct pfs_xattr *e; /* sorted by name (strcmp) */
    size_t n;
};

void pfs_xattrs_cleanup(struct pfs_xattrs *x);

/* Parses an encoded value (NULL or "": none) as s3fs does: a pair it cannot
 * read is skipped, not fatal. Returns 0 or -ENOMEM. */
int pfs_xattrs_parse(struct pfs_xattrs *out, const char *encoded);

/* The entry called name, or NULL. */
const struct pfs_xattr *pfs_xattrs_find(const struct pfs_xattrs *x, const char *name);

/* Adds or replaces name. Returns 0, -EINVAL for a name s3fs's format cannot
 * carry (empty, or holding '"' or ','), or -ENOMEM. */
int pfs_xattrs_set(struct pfs_xattrs *x, const char *name, const void *value, size_t len);

/* Removes name; -ENODATA when there is none. */
int pfs_xattrs_remove(struct pfs_xattrs *x, const char *name);

/* The encoded value (a heap string), or NULL with *err set: -ENOMEM. An
 * empty set encodes as NULL with *err 0 (no header is stored). */
char *pfs_xattrs_encode(const struct pfs_xattrs *x, int *err);

#endif
