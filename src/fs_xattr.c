/* Extended attributes (part of the fs layer): stored as s3fs stores them, in
 * one metadata value (xattrs.h), so setfattr/getfattr round-trip with s3fs.
 * Only the user namespace is stored: security.* and system.* (capabilities,
 * POSIX ACLs, SELinux labels) are for the kernel to enforce, which a mount of
 * an object store does not, and the kernel asks for security.capability on
 * every write, so those answer at once without a request. A change is a copy
 * of the object onto itself with REPLACE (pfs_wb_store_meta), never a
 * re-upload; a file not stored yet carries them in its upload. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs_internal.h"
#include "xattrs.h"

/* S3 and TOS refuse more than 2 KiB of user metadata (names and values). */
#define META_LIMIT 2048

static bool stored_namespace(const char *name)
{
    return strncmp(name, "user.", 5) == 0 && name[5];
}

/* Pins ino and reads its attributes as stored (a HEAD when this mount does
 * not know them, or its cached ones are older than attr_timeout). */
static struct inode *pin_loaded(struct pfs_fs *fs, uint64_t ino, int *err)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = pfs_sb_find_ino(fs, ino);
    if (!in || in->unlinked || in->parent == 0) {
        pthread_mutex_unlock(&fs->lock);
        *err = !in ? -ENOENT : in->unlinked ? -ENOENT : -ENOTSUP; /* not on the root */
        return NULL;
    }
    in->open_count++;
    bool local = in->local_only || in->dirty || in->pending_upload;
    if (!local && in->ctype && in->attr_expires <= pfs_sb_mono_now()) {
        free(in->ctype); /* another tool may have changed them: read again */
        in->ctype = NULL;
    }
    pthread_mutex_unlock(&fs->lock);
    *err = pfs_wb_load_stored(fs, in);
    if (*err == 0) {
        pthread_mutex_lock(&fs->lock);
        in->attr_expires = pfs_sb_mono_now() + fs->o.attr_timeout;
        pthread_mutex_unlock(&fs->lock);
    }
    return in;
}

static void unpin(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    in->open_count--;
    pfs_sb_maybe_drop(fs, in);
    pthread_mutex_unlock(&fs->lock);
}

static int parse_of(struct pfs_fs *fs, struct inode *in, struct pfs_xattrs *x)
{
    pthread_mutex_lock(&fs->lock);
    int rc = pfs_xattrs_parse(x, in->xattr);
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

int pfs_fs_getxattr(struct pfs_fs *fs, uint64_t ino, const char *name, void *buf, size_t size)
{
    if (!stored_namespace(name))
        return -ENODATA;
    int rc;
    struct inode *in = pin_loaded(fs, ino, &rc);
    if (!in)
        return rc;
    struct pfs_xattrs x;
    if (rc == 0 && (rc = parse_of(fs, in, &x)) == 0) {
        const struct pfs_xattr *e = pfs_xattrs_find(&x, name);
        if (!e)
            rc = -ENODATA;
        else if (size && size < e->len)
            rc = -ERANGE;
        else if (e->len > INT32_MAX)
            rc = -E2BIG;
        else {
            if (size && e->len)
                memcpy(buf, e->value, e->len);
            rc = (int)e->len;
        }
        pfs_xattrs_cleanup(&x);
    }
    unpin(fs, in);
    return rc;
}

int pfs_fs_listxattr(struct pfs_fs *fs, uint64_t ino, char *buf, size_t size)
{
    int rc;
    struct inode *in = pin_loaded(fs, ino, &rc);
    if (!in)
        return rc;
    struct pfs_xattrs x;
    if (rc == 0 && (rc = parse_of(fs, in, &x)) == 0) {
        size_t total = 0;
        for (size_t i = 0; i < x.n; i++)
            if (stored_namespace(x.e[i].name))
                total += strlen(x.e[i].name) + 1;
        if (size && size < total) {
            rc = -ERANGE;
        } else {
            size_t off = 0;
            for (size_t i = 0; size && i < x.n; i++)
                if (stored_namespace(x.e[i].name)) {
                    size_t n = strlen(x.e[i].name) + 1;
                    memcpy(buf + off, x.e[i].name, n);
                    off += n;
                }
            rc = (int)total;
        }
        pfs_xattrs_cleanup(&x);
    }
    unpin(fs, in);
    return rc;
}

/* Applies a change (value NULL: remove) and stores it. */
static int change(struct pfs_fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
                  int flags)
{
    if (fs->o.read_only)
        return -EROFS;
    if (!stored_namespace(name))
        return -ENOTSUP;
    int rc;
    struct inode *in = pin_loaded(fs, ino, &rc);
    if (!in)
        return rc;
    pfs_wb_io_lock(in);
    struct pfs_xattrs x;
    if (rc == 0 && (rc = parse_of(fs, in, &x)) == 0) {
        bool exists = pfs_xattrs_find(&x, name) != NULL;
        if ((flags & XATTR_CREATE) && exists)
            rc = -EEXIST;
        else if ((flags & XATTR_REPLACE) && !exists)
            rc = -ENODATA;
        else if (value)
            rc = pfs_xattrs_set(&x, name, value, size);
        else
            rc = pfs_xattrs_remove(&x, name);
        char *enc = NULL;
        if (rc == 0)
            enc = pfs_xattrs_encode(&x, &rc);
        pfs_xattrs_cleanup(&x);
        /* The store's limit, with the attributes stored beside them. */
        if (rc == 0 && enc && strlen(enc) + strlen(PFS_XATTR_META) + 200 > META_LIMIT)
            rc = -E2BIG;
        if (rc == 0) {
            pthread_mutex_lock(&fs->lock);
            char *old = in->xattr;
            in->xattr = enc;
            enc = NULL;
            pfs_sb_changed_now(in);
            bool carried = in->dirty || in->local_only;
            pthread_mutex_unlock(&fs->lock);
            if (!carried && (rc = pfs_wb_store_meta(fs, in)) != 0) {
                pthread_mutex_lock(&fs->lock);
                free(in->xattr); /* not stored: as before */
                in->xattr = old;
                old = NULL;
                pthread_mutex_unlock(&fs->lock);
            }
            free(old);
        }
        free(enc);
    }
    pthread_mutex_unlock(&in->io);
    unpin(fs, in);
    return rc;
}

int pfs_fs_setxattr(struct pfs_fs *fs, uint64_t ino, const char *name, const void *value,
                    size_t size, int flags)
{
    return change(fs, ino, name, value ? value : "", size, flags);
}

int pfs_fs_removexattr(struct pfs_fs *fs, uint64_t ino, const char *name)
{
    return change(fs, ino, name, NULL, 0, 0);
}
