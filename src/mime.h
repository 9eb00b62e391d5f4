/* Content types of uploaded objects, from the file name's extension as s3fs
 * does it: the system's mime.types (/etc/mime.types) when present, else a small
 * built-in table, so that a presigned GET of report.pdf opens in a browser.
 * Loaded once at mount; lookups are lock-free reads of an immutable table. */
#ifndef PFS_MIME_H
#define PFS_MIME_H

#include <stddef.h>

struct pfs_mime;

/* Reads path (NULL: /etc/mime.types) if it exists, else uses the built-in
 * table. fallback: the type for names without a known extension ("" or NULL:
 * none). Returns 0 or -ENOMEM. */
int pfs_mime_new(struct pfs_mime **out, const char *path, const char *fallback);
void pfs_mime_free(struct pfs_mime *m);

/* The content type for a key ("a/b.tar.gz": the last extension, case-
 * insensitively), the fallback when there is none, or NULL (send none). The
 * string is borrowed from m. A NULL m gives NULL. */
const char *pfs_mime_for_key(const struct pfs_mime *m, const char *key);

/* How many extensions the table knows (for tests and the log). */
size_t pfs_mime_count(const struct pfs_mime *m);

#endif
