/* A directory's children as last listed, sorted by name, plus the local
 * changes made since: the directory cache. Not locked: its owner's lock
 * (the filesystem's) protects it. */
#ifndef PFS_LISTING_H
#define PFS_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"

/* Directory objects other tools make, besides the "dir/" marker: */
#define PFS_DIRFORM_FOLDER 1 /* "dir_$folder$" (old s3fs, Hadoop) */
#define PFS_DIRFORM_OBJECT 2 /* "dir", empty, with mode S_IFDIR or x-directory (old s3fs) */
/* An empty object "dir" listed beside "dir/" (or dir_$folder$) whose
 * metadata was not read: a directory object, or an empty file the directory
 * hides. rmdir and rename HEAD it and remove it only if it is the former. */
#define PFS_DIRFORM_SHADOWED 4
#define PFS_FOLDER_SUFFIX "_$folder$"

struct pfs_dentry {
    char *name;
    bool is_dir;
    uint64_t size;
    int64_t mtime;
    char etag[80];      /* as listed; "" when unknown (a local change) */
    bool meta_fetched;  /* meta holds what the store said (maybe nothing) */
    bool head_failed;   /* a lookup's own HEAD of it failed: not asked again */
    unsigned dir_forms; /* PFS_DIRFORM_* seen for a directory */
    struct pfs_objmeta meta;
};

struct pfs_listing {
    struct pfs_dentry *e;
    size_t n, cap;
    double expires;  /* monotonic seconds; 0: not to be trusted */
    bool heads_done; /* metadata=head: every entry's HEAD was asked (some may
                        have failed); a walk's listing has none */
};

/* NULL on ENOMEM. */
struct pfs_listing *pfs_listing_new(void);
/* NULL-safe. */
void pfs_listing_free(struct pfs_listing *l);
/* The entry called name, or NULL. l may be NULL. */
struct pfs_dentry *pfs_listing_find(struct pfs_listing *l, const char *name);
/* Adds or updates an entry (its metadata is then unknown). When memory runs
 * out the listing marks itself untrustworthy (expires = 0) rather than lie.
 * l may be NULL. */
void pfs_listing_put(struct pfs_listing *l, const char *name, bool is_dir, uint64_t size,
                     int64_t mtime);
void pfs_listing_remove(struct pfs_listing *l, const char *name);

#endif
