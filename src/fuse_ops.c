/* FUSE low-level operations (see fuse_ops.h). Each one converts arguments,
 * calls the fs layer and replies; errors arrive as -errno. */
#include "fuse_ops.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "prefetch.h"
#include "stats.h"

static struct pfs_fuse_ctx *ctx_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static void to_stat(struct stat *st, const struct pfs_attr *a)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = a->ino;
    st->st_mode = a->mode;
    st->st_nlink = a->nlink;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_size = (off_t)a->size;
    st->st_blocks = (blkcnt_t)a->blocks;
    st->st_blksize = 4096;
    st->st_mtim.tv_sec = a->mtime;
    st->st_mtim.tv_nsec = a->mtime_ns;
    st->st_atim.tv_sec = a->atime;
    st->st_ctim.tv_sec = a->ctime;
    st->st_ctim.tv_nsec = a->ctime_ns;
    st->st_rdev = (dev_t)a->rdev;
}

static void fill_entry(struct fuse_entry_param *e, const struct pfs_attr *a,
                       const struct pfs_fuse_ctx *c)
{
    memset(e, 0, sizeof(*e));
    e->ino = a->ino;
    e->generation = 1;
    to_stat(&e->attr, a);
    e->attr_timeout = c->attr_timeout;
    e->entry_timeout = c->entry_timeout;
}

/* Replies with a new entry (rc 0) or the error; a lookup reference the
 * kernel never received is given back. */
static void reply_new_entry(fuse_req_t req, int rc, const struct pfs_attr *a)
{
    struct pfs_fuse_ctx *c = ctx_of(req);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct fuse_entry_param e;
    fill_entry(&e, a, c);
    if (fuse_reply_entry(req, &e) != 0)
        pfs_fs_forget(c->fs, a->ino, 1);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    /* Always readdirplus: a listing carries every entry's attributes, so
     * `ls -l` needs no request per file. */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    /* open(O_TRUNC) arrives as one open with O_TRUNC, not as a truncate of a
     * file nobody holds open: the stored object then stays intact until the
     * new content is uploaded at close (an overwrite never leaves 0 bytes). */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    conn->max_write = 1 << 20;
    /* Larger kernel read-ahead requests: fewer round trips through FUSE. */
    if (conn->max_readahead < (1u << 20))
        conn->max_readahead = 1 << 20;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    pfs_stats_fuse_op(PFS_FOP_LOOKUP);
    struct pfs_fuse_ctx *c = ctx_of(req);
    struct pfs_attr a;
    int rc = pfs_fs_lookup(c->fs, &a, parent, name);
    if (rc == -ENOENT && c->negative_timeout > 0) {
        /* A negative entry the kernel may cache. */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof(e));
        e.entry_timeout = c->negative_timeout;
        fuse_reply_entry(req, &e);
        return;
    }
    reply_new_entry(req, rc, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    pfs_fs_forget(ctx_of(req)->fs, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        pfs_fs_forget(ctx_of(req)->fs, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* Replies with attributes (rc 0) or the error. */
static void reply_attr(fuse_req_t req, int rc, const struct pfs_attr *a)
{
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct stat st;
    to_stat(&st, a);
    fuse_reply_attr(req, &st, ctx_of(req)->attr_timeout);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_GETATTR);
    (void)fi;
    struct pfs_attr a;
    reply_attr(req, pfs_fs_getattr(ctx_of(req)->fs, &a, ino), &a);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_SETATTR);
    struct pfs_setattr v = {0};
    int which = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (to_set & FUSE_SET_ATTR_SIZE) {
        which |= PFS_SET_SIZE;
        v.size = (uint64_t)attr->st_size;
    }
    if (to_set & FUSE_SET_ATTR_MODE) {
        which |= PFS_SET_MODE;
        v.mode = attr->st_mode;
    }
    if (to_set & FUSE_SET_ATTR_UID) {
        which |= PFS_SET_UID;
        v.uid = attr->st_uid;
    }
    if (to_set & FUSE_SET_ATTR_GID) {
        which |= PFS_SET_GID;
        v.gid = attr->st_gid;
    }
    if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
        which |= PFS_SET_MTIME;
        struct timespec t = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now : attr->st_mtim;
        v.mtime = t.tv_sec;
        v.mtime_ns = (uint32_t)t.tv_nsec;
    }
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
        which |= PFS_SET_ATIME;
        v.atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now.tv_sec : attr->st_atim.tv_sec;
    }
    struct pfs_attr a;
    reply_attr(req, pfs_fs_setattr(ctx_of(req)->fs, &a, ino, fi ? fi->fh : 0, which, &v), &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    pfs_stats_fuse_op(PFS_FOP_MKDIR);
    struct pfs_attr a;
    reply_new_entry(req, pfs_fs_mkdir(ctx_of(req)->fs, &a, parent, name, mode), &a);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    pfs_stats_fuse_op(PFS_FOP_MKNOD);
    struct pfs_attr a;
    reply_new_entry(req, pfs_fs_mknod(ctx_of(req)->fs, &a, parent, name, mode, (uint64_t)rdev), &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    pfs_stats_fuse_op(PFS_FOP_UNLINK);
    fuse_reply_err(req, -pfs_fs_unlink(ctx_of(req)->fs, parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    pfs_stats_fuse_op(PFS_FOP_RMDIR);
    fuse_reply_err(req, -pfs_fs_rmdir(ctx_of(req)->fs, parent, name));
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_CREATE);
    struct pfs_fuse_ctx *c = ctx_of(req);
    struct pfs_attr a;
    uint64_t fh;
    int rc = pfs_fs_create(c->fs, &a, &fh, parent, name, mode, fi->flags);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = fh;
    struct fuse_entry_param e;
    fill_entry(&e, &a, c);
    if (fuse_reply_create(req, &e, fi) != 0) {
        pfs_fs_release(c->fs, fh);
        pfs_fs_forget(c->fs, a.ino, 1);
    }
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_OPEN);
    struct pfs_fuse_ctx *c = ctx_of(req);
    uint64_t fh;
    int rc = pfs_fs_open(c->fs, &fh, ino, fi->flags);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = fh;
    /* The kernel keeps its pages of the version the last open read; another
     * version drops them (keep_cache 0) and the cached size with them, so a
     * read past the old end asks for the new attributes. Never blocks: no
     * page is dirty without writeback caching. */
    bool changed = false;
    fi->keep_cache = pfs_fs_open_keep_cache(c->fs, fh, &changed);
    if (changed && c->se)
        fuse_lowlevel_notify_inval_inode(c->se, ino, -1, 0);
    if (fuse_reply_open(req, fi) != 0)
        pfs_fs_release(c->fs, fh);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_READ);
    (void)ino;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    const void *zc;
    struct pfs_prefetch_pin *pin;
    ssize_t n = pfs_fs_read_zc(ctx_of(req)->fs, fi->fh, buf, size, (uint64_t)off, &zc, &pin);
    if (n < 0) {
        fuse_reply_err(req, (int)-n);
    } else if (zc) {
        /* Straight from the read-ahead chunk: the kernel copies it once,
         * during this call (without splice the reply is written before
         * fuse_reply_data returns), then the chunk may go. */
        struct fuse_bufvec v = FUSE_BUFVEC_INIT((size_t)n);
        v.buf[0].mem = (void *)zc;
        fuse_reply_data(req, &v, FUSE_BUF_NO_SPLICE);
        pfs_prefetch_unpin(pin);
    } else {
        fuse_reply_buf(req, buf, (size_t)n);
    }
    free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_WRITE);
    (void)ino;
    ssize_t n = pfs_fs_write(ctx_of(req)->fs, fi->fh, buf, size, (uint64_t)off);
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_FLUSH);
    (void)ino;
    fuse_reply_err(req, -pfs_fs_flush(ctx_of(req)->fs, fi->fh));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_FSYNC);
    (void)ino;
    (void)datasync;
    fuse_reply_err(req, -pfs_fs_fsync(ctx_of(req)->fs, fi->fh));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_RELEASE);
    (void)ino;
    fuse_reply_err(req, -pfs_fs_release(ctx_of(req)->fs, fi->fh));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_OPENDIR);
    uint64_t dh;
    int rc = pfs_fs_opendir(ctx_of(req)->fs, &dh, ino);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = dh;
    if (fuse_reply_open(req, fi) != 0)
        pfs_fs_releasedir(ctx_of(req)->fs, dh);
}

struct dir_fill {
    fuse_req_t req;
    struct pfs_fuse_ctx *c;
    char *buf;
    size_t size, used;
    bool plus;
};

static int add_entry(void *arg, const char *name, const struct pfs_attr *a, uint64_t next)
{
    struct dir_fill *d = arg;
    size_t room = d->size - d->used, need;
    if (d->plus) {
        struct fuse_entry_param e;
        fill_entry(&e, a, d->c);
        need = fuse_add_direntry_plus(d->req, d->buf + d->used, room, name, &e, (off_t)next);
    } else {
        struct stat st;
        to_stat(&st, a);
        need = fuse_add_direntry(d->req, d->buf + d->used, room, name, &st, (off_t)next);
    }
    if (need > room)
        return 1;
    d->used += need;
    return 0;
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
    struct dir_fill d = {req, ctx_of(req), malloc(size), size, 0, plus};
    if (!d.buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int rc = pfs_fs_readdir(d.c->fs, fi->fh, (uint64_t)off, plus, add_entry, &d);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_buf(req, d.buf, d.used);
    free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_READDIR);
    (void)ino;
    do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_READDIRPLUS);
    (void)ino;
    do_readdir(req, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pfs_stats_fuse_op(PFS_FOP_RELEASEDIR);
    (void)ino;
    pfs_fs_releasedir(ctx_of(req)->fs, fi->fh);
    fuse_reply_err(req, 0);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    pfs_stats_fuse_op(PFS_FOP_SYMLINK);
    struct pfs_attr a;
    reply_new_entry(req, pfs_fs_symlink(ctx_of(req)->fs, &a, parent, name, link), &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    pfs_stats_fuse_op(PFS_FOP_READLINK);
    char target[4096];
    int rc = pfs_fs_readlink(ctx_of(req)->fs, target, sizeof(target), ino);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, target);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    pfs_stats_fuse_op(PFS_FOP_RENAME);
    unsigned f = 0;
    if (flags & RENAME_NOREPLACE)
        f |= PFS_RENAME_NOREPLACE;
    if (flags & RENAME_EXCHANGE)
        f |= PFS_RENAME_EXCHANGE;
    if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    fuse_reply_err(req, -pfs_fs_rename(ctx_of(req)->fs, parent, name, newparent, newname, f));
}

/* Extended attributes (fs_xattr.c): size 0 asks for the length. */
static void reply_xattr_len(fuse_req_t req, int rc, const char *buf, size_t size)
{
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)rc);
    else
        fuse_reply_buf(req, buf, (size_t)rc);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    char *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    reply_xattr_len(req, pfs_fs_getxattr(ctx_of(req)->fs, ino, name, buf, size), buf, size);
    free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    reply_xattr_len(req, pfs_fs_listxattr(ctx_of(req)->fs, ino, buf, size), buf, size);
    free(buf);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    fuse_reply_err(req, -pfs_fs_setxattr(ctx_of(req)->fs, ino, name, value, size, flags));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    fuse_reply_err(req, -pfs_fs_removexattr(ctx_of(req)->fs, ino, name));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    pfs_stats_fuse_op(PFS_FOP_STATFS);
    (void)ino;
    struct statvfs st;
    pfs_fs_statfs(ctx_of(req)->fs, &st);
    fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops pfs_fuse_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .fsync = op_fsync,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .symlink = op_symlink,
    .readlink = op_readlink,
    .rename = op_rename,
};
