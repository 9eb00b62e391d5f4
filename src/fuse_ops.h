/* The libfuse low-level glue: translates FUSE requests into pfs_fs calls. */
#ifndef PFS_FUSE_OPS_H
#define PFS_FUSE_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fs.h"

struct pfs_fuse_ctx {
    struct pfs_fs *fs;
    double attr_timeout, entry_timeout, negative_timeout;
    struct fuse_session *se; /* for invalidations (NULL: none) */
};

extern const struct fuse_lowlevel_ops pfs_fuse_ops;

#endif
