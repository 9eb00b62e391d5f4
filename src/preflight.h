/* Checks made before anything is mounted, each answering with one sentence:
 * a bucket name no store accepts, a mount point that is not empty, a cache
 * directory that cannot stage a file. What a mount would otherwise find only
 * after daemonizing (when nobody reads its messages and the command has
 * already exited 0) is refused here. */
#ifndef PFS_PREFLIGHT_H
#define PFS_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sign.h"

/* Free bytes below which a cache directory is called full: a file cannot
 * be staged there. */
#define PFS_PREFLIGHT_MIN_FREE (1024 * 1024)

/* Whether a store of this dialect and addressing can hold a bucket of this
 * name: TOS names and virtual-host S3 names are DNS labels (3-63 of a-z,
 * 0-9, '-' and, for S3, '.'; a letter or digit at each end; no ".."); path
 * addressing also takes the legacy S3 names (3-255 of A-Z a-z 0-9 . _ -).
 * Returns 0, or -EINVAL with a sentence in why. */
int pfs_preflight_bucket_name(const char *name, enum pfs_dialect dialect,
                              enum pfs_addressing addressing, char *why, size_t why_len);

/* -EEXIST (with why) when the directory at path has an entry, 0 when it is
 * empty, or the -errno of reading it. */
int pfs_preflight_mountpoint_empty(const char *path, char *why, size_t why_len);

/* Creates the cache directory and its parents when missing, then
 * proves it usable: a directory where a file can be created and written,
 * with at least min_free bytes free. Returns 0, or -errno with a sentence. */
int pfs_preflight_cache_dir(const char *path, uint64_t min_free, char *why, size_t why_len);

/* All of the above for a mount of bucket on the resolved mountpoint: the
 * bucket name (any name when keyless: the signer's store decides), an empty
 * mount point unless cfg->nonempty, a readable ca_file, a usable cache
 * directory. Returns 0, or
 * -1 with one sentence in why. */
int pfs_preflight_mount(const struct pfs_config *cfg, const char *bucket, const char *mountpoint,
                        char *why, size_t why_len);

#endif
