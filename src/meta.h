/* File attributes stored as object metadata, in the names and formats s3fs
 * uses (so buckets written by either read back right in the other): mode
 * (decimal st_mode with the file-type bits; octal "0100644" is read too), uid, gid,
 * mtime/atime/ctime ("seconds" or "seconds.nanoseconds" with nine digits)
 * and rdev (a device node's decimal dev_t, as stormfs and old s3fs forks
 * write it). Pure but for its warnings. */
#ifndef PFS_META_H
#define PFS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dialect.h"

struct pfs_objmeta {
    bool has_mode, has_uid, has_gid, has_mtime, has_ctime, has_rdev;
    /* with S_IFREG / S_IFDIR / S_IFLNK / S_IFIFO / S_IFSOCK / S_IFCHR /
     * S_IFBLK, or no type bits (another tool's bare permissions) */
    mode_t mode;
    uid_t uid;
    gid_t gid;
    int64_t mtime, ctime;
    uint32_t mtime_ns, ctime_ns;
    uint64_t rdev;
    bool mode_suid_dropped; /* a foreign mode asked for setuid/setgid: not taken */
    /* The object says it is a directory: mode S_IFDIR, or (set by the
     * caller, who sees the headers) Content-Type application/x-directory. */
    bool dir_type;
};

/* Reads what it recognises from user metadata (names without prefix, any
 * case); malformed values are ignored, as s3fs does. A mode is decimal (s3fs,
 * ours) or octal with a leading zero ("0100644", other tools); an octal mode's
 * setuid/setgid bits are dropped with a warning (the first few are logged).
 * A file type this mount does not know is read as a regular file, logged
 * once. */
void pfs_meta_parse(struct pfs_objmeta *out, const struct pfs_meta_kv *kv, size_t n);

#define PFS_META_MAX 7 /* mode uid gid mtime atime ctime rdev */

/* The metadata to store for m: fills names/values (pointing into buf) and
 * returns how many. atime is mtime; ctime is its own when has_ctime, else
 * mtime. */
struct pfs_meta_out {
    struct pfs_kv kv[PFS_META_MAX + 2]; /* + Content-Type and xattr (pfs_meta_add) */
    char buf[PFS_META_MAX][32];
};
size_t pfs_meta_format(struct pfs_meta_out *out, const struct pfs_objmeta *m);

/* Appends name=value (borrowed: value must outlive out's use) after the n
 * entries out holds, when value is not NULL and there is room; returns the
 * new count. */
size_t pfs_meta_add(struct pfs_meta_out *out, size_t n, const char *name, const char *value);

/* "application/x-directory" (old s3fs, other tools) or "httpd/unix-directory"
 * (Nextcloud), parameters after ';' ignored: a directory object. */
bool pfs_meta_dir_content_type(const char *ctype);

/* "1700000000" or "1700000000.500000000". Returns 0 or -EINVAL. */
int pfs_meta_parse_time(int64_t *sec, uint32_t *nsec, const char *s);

#endif
