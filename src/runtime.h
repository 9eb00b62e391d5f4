/* The runtime registry: which cache_dir a mounted presignfs keeps its journal
 * in, so `presignfs status MOUNTPOINT` finds it without the configuration.
 * One small file per mount in the runtime directory, named by the SHA-256
 * of the mount point's resolved path. A daemon killed with -9 leaves its
 * entry behind on purpose: its journal is what status then shows. */
#ifndef PFS_RUNTIME_H
#define PFS_RUNTIME_H

#include <stddef.h>

/* The directory for runtime files: $PRESIGNFS_RUNTIME_DIR, else
 * $XDG_RUNTIME_DIR/presignfs, else /run/presignfs for root, else
 * /tmp/presignfs-UID. Created 0700 when missing; refused (-EPERM) when it
 * belongs to another user or others may write to it, -ENOTDIR when it is
 * not a directory (a symbolic link included). Returns 0 or -errno. */
int pfs_runtime_dir(char *out, size_t len);

/* Records that mountpoint keeps its journal in cache_dir (both resolved to
 * absolute paths; a mount point that cannot be resolved itself, such as a
 * dead FUSE mount, is its resolved parent plus its last component). Call it
 * before the mount is live and pfs_runtime_unregister after it is gone:
 * resolving a live mount point from its own daemon would call into it.
 * Written atomically. Returns 0 or -errno (logged). */
int pfs_runtime_register(const char *mountpoint, const char *cache_dir);
/* The path of mountpoint's control socket (control.h) in the runtime
 * directory, resolved as pfs_runtime_register resolves it (so the daemon
 * computes it before the mount is live, a client afterwards). Returns 0,
 * -ENAMETOOLONG (longer than a unix socket path may be), or -errno. */
int pfs_runtime_socket_path(const char *mountpoint, char *out, size_t len);

/* Forgets mountpoint's entry. Missing entries are not an error. */
void pfs_runtime_unregister(const char *mountpoint);

/* The cache_dir recorded for mountpoint. Returns 0, -ENOENT (no entry),
 * -ENAMETOOLONG (does not fit len), or -errno. Not logged. */
int pfs_runtime_lookup(const char *mountpoint, char *cache_dir_out, size_t len);

#endif
