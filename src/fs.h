/* The filesystem: POSIX semantics over the client, in terms of inode numbers,
 * offsets, buffers and -errno. No libfuse types here (fuse_ops.c translates),
 * so the whole layer runs without a mount. See doc/SEMANTICS.md. */
#ifndef PFS_FS_H
#define PFS_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "client.h"
#include "pool.h"

#define PFS_ROOT_INO 1
#define PFS_NAME_MAX 255
#define PFS_KEY_MAX 1024

struct pfs_fs_opts {
    uid_t uid;
    gid_t gid;
    mode_t umask;
    bool read_only;
    double attr_timeout;      /* seconds attributes are trusted */
    double entry_timeout;     /* seconds a name lookup is trusted */
    double negative_timeout;  /* seconds a failed lookup is trusted */
    double dir_timeout;       /* seconds a directory listing is trusted */
    const char *bucket;       /* written into journal records; "" when NULL */
    const char *cache_dir;    /* staged writes and their journal go here */
    uint64_t cache_size;      /* cap on staged bytes; 0: the disk's free space */
    uint64_t memory_limit;    /* read-ahead budget */
    const char *data_cache;   /* clean-data cache directory; NULL: none */
    uint64_t data_cache_size; /* its limit; 0: keep a margin of free disk */
    uint64_t part_size;
    uint64_t multipart_threshold;
    unsigned retry_interval_s; /* failed uploads are retried this often; 0: 30 */
    bool upload_async;         /* close acknowledges once the data is durable locally */
    unsigned max_inflight;     /* parts in flight for one file written sequentially */
    bool head_metadata;        /* read modes and times by HEAD (S3 listings lack them) */
    bool listing_has_meta;     /* listings carry user metadata (TOS with fetch-meta) */
    /* Content-Type of uploads: from the extension, else this type; "off":
     * none (the store's default); NULL: application/octet-stream. */
    const char *content_type;
};

struct pfs_attr {
    uint64_t ino;
    mode_t mode;
    uint64_t size;
    int64_t mtime;
    uint32_t mtime_ns;
    int64_t atime;
    int64_t ctime;
    uint32_t ctime_ns;
    uint64_t rdev; /* device nodes */
    uid_t uid;
    gid_t gid;
    uint32_t nlink;
    uint64_t blocks; /* 512-byte blocks: du agrees with ls */
};

struct pfs_fs;

/* client and pool are borrowed. prefix: "" or "dir/sub" (the mount shows what
 * lies below it). Returns 0 or -errno (cache_dir unusable, ENOMEM). */
int pfs_fs_new(struct pfs_fs **out, struct pfs_client *client, struct pfs_pool *pool,
               const char *prefix, const struct pfs_fs_opts *opts);

/* Stops recovery and the retry thread, tries every pending upload one last
 * time and logs where the data of any that still fails is kept (the journal
 * in cache_dir: the next mount with it uploads them). NULL-safe. */
void pfs_fs_free(struct pfs_fs *fs);

/* A successful lookup takes one lookup reference (released by forget). */
int pfs_fs_lookup(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent, const char *name);
void pfs_fs_forget(struct pfs_fs *fs, uint64_t ino, uint64_t n);
int pfs_fs_getattr(struct pfs_fs *fs, struct pfs_attr *out, uint64_t ino);

#define PFS_SET_SIZE 1
#define PFS_SET_MODE 2
#define PFS_SET_UID 4
#define PFS_SET_GID 8
#define PFS_SET_ATIME 16
#define PFS_SET_MTIME 32

struct pfs_setattr {
    uint64_t size;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    int64_t atime;
    int64_t mtime;
    uint32_t mtime_ns;
};

/* fh: the open file the change comes through, or 0. */
int pfs_fs_setattr(struct pfs_fs *fs, struct pfs_attr *out, uint64_t ino, uint64_t fh, int which,
                   const struct pfs_setattr *v);

int pfs_fs_opendir(struct pfs_fs *fs, uint64_t *dh_out, uint64_t ino);
/* Called per entry; returns nonzero when the reply buffer is full (the entry
 * was not added). next is the offset to resume after this entry. */
typedef int (*pfs_fs_filler)(void *ctx, const char *name, const struct pfs_attr *attr,
                             uint64_t next);
/* With plus, every entry the filler accepts (but "." and "..") takes a lookup
 * reference, as readdirplus requires. */
int pfs_fs_readdir(struct pfs_fs *fs, uint64_t dh, uint64_t offset, bool plus, pfs_fs_filler fill,
                   void *ctx);
void pfs_fs_releasedir(struct pfs_fs *fs, uint64_t dh);

int pfs_fs_mkdir(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent, const char *name,
                 mode_t mode);
int pfs_fs_rmdir(struct pfs_fs *fs, uint64_t parent, const char *name);
int pfs_fs_unlink(struct pfs_fs *fs, uint64_t parent, const char *name);

/* create takes a lookup reference on the new inode, like lookup. */
int pfs_fs_create(struct pfs_fs *fs, struct pfs_attr *out, uint64_t *fh_out, uint64_t parent,
                  const char *name, mode_t mode, int flags);
/* Close-to-open: an open of a file whose attributes are older than
 * attr_timeout looks at the store again first (one probe, as getattr). */
int pfs_fs_open(struct pfs_fs *fs, uint64_t *fh_out, uint64_t ino, int flags);
/* After an open: may the kernel keep the pages it cached of the file (the
 * version is the one the last open read)? *changed: another version than
 * the last open's, so the kernel's size and pages must go. */
bool pfs_fs_open_keep_cache(struct pfs_fs *fs, uint64_t fh, bool *changed);
ssize_t pfs_fs_read(struct pfs_fs *fs, uint64_t fh, void *buf, size_t size, uint64_t off);
/* pfs_fs_read that may answer without copying (pfs_prefetch_read_zc): *zc
 * non-NULL points at the bytes, valid until pfs_prefetch_unpin(*pin). */
struct pfs_prefetch_pin;
ssize_t pfs_fs_read_zc(struct pfs_fs *fs, uint64_t fh, void *buf, size_t size, uint64_t off,
                       const void **zc, struct pfs_prefetch_pin **pin);
ssize_t pfs_fs_write(struct pfs_fs *fs, uint64_t fh, const void *buf, size_t size, uint64_t off);
/* flush and fsync upload dirty data and return only once it is stored. */
int pfs_fs_flush(struct pfs_fs *fs, uint64_t fh);
int pfs_fs_fsync(struct pfs_fs *fs, uint64_t fh);
int pfs_fs_release(struct pfs_fs *fs, uint64_t fh);

void pfs_fs_statfs(struct pfs_fs *fs, struct statvfs *out);

/* Gauges of the write path, as of one moment (fs->lock held while they are
 * read): uploads waiting in the upload=async queue, uploads in flight,
 * files whose last upload failed (kept staged, retried), files with local
 * content the store lacks (dirty or pending an upload), and the bytes staged
 * in cache_dir. */
struct pfs_upload_stats {
    uint64_t queued;
    uint64_t in_flight;
    uint64_t failed;
    uint64_t pending;
    uint64_t staged_bytes;
};
void pfs_fs_upload_stats(struct pfs_fs *fs, struct pfs_upload_stats *out);
/* The data cache's counters; false without data_cache. */
struct pfs_dcache_stats;
bool pfs_fs_data_cache_stats(struct pfs_fs *fs, struct pfs_dcache_stats *out);

/* Read-ahead memory in use and its limit (memory_limit), in bytes. */
void pfs_fs_readahead_usage(struct pfs_fs *fs, uint64_t *used_out, uint64_t *limit_out);

/* A symbolic link stored as s3fs stores it (the target is the object body,
 * mode S_IFLNK|0777 in metadata). Takes a lookup reference. */
int pfs_fs_symlink(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent, const char *name,
                   const char *target);
/* A FIFO, socket, device node or empty regular file, stored as s3fs stores
 * them: an empty object whose mode metadata carries the type (and rdev
 * metadata a device's number). Takes a lookup reference. Other types:
 * -EINVAL. */
int pfs_fs_mknod(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent, const char *name,
                 mode_t mode, uint64_t rdev);

/* The link's target, NUL-terminated and truncated to size. */
int pfs_fs_readlink(struct pfs_fs *fs, char *buf, size_t size, uint64_t ino);

/* Extended attributes (fs_xattr.c), stored as s3fs stores them; only user.*
 * names. getxattr and listxattr return the length (size 0: just the length)
 * or -ENODATA / -ERANGE; setxattr and removexattr 0 or -errno (-E2BIG past
 * the store's metadata limit, -ENOTSUP outside user.*, -EEXIST / -ENODATA
 * for XATTR_CREATE / XATTR_REPLACE). */
int pfs_fs_getxattr(struct pfs_fs *fs, uint64_t ino, const char *name, void *buf, size_t size);
int pfs_fs_listxattr(struct pfs_fs *fs, uint64_t ino, char *buf, size_t size);
int pfs_fs_setxattr(struct pfs_fs *fs, uint64_t ino, const char *name, const void *value,
                    size_t size, int flags);
int pfs_fs_removexattr(struct pfs_fs *fs, uint64_t ino, const char *name);

#define PFS_RENAME_NOREPLACE 1
#define PFS_RENAME_EXCHANGE 2

/* rename(2): a file is copied server-side and its old key deleted; a
 * directory moves every object below it (copies first, deletes once all
 * copies succeeded; not atomic). RENAME_EXCHANGE is EINVAL. */
int pfs_fs_rename(struct pfs_fs *fs, uint64_t parent, const char *name, uint64_t newparent,
                  const char *newname, unsigned flags);

#endif
