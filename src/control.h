/* The control socket: a unix stream socket in the runtime directory (0700,
 * see runtime.h) through which `presignfs stats MOUNTPOINT` reads a mount's
 * live counters. The daemon answers every connection with one JSON object
 * (metrics.h), then closes it; it reads nothing from the client. The socket
 * is 0600 and connections from other users (root aside) are refused by
 * their peer credentials. */
#ifndef PFS_CONTROL_H
#define PFS_CONTROL_H

#include <stddef.h>

#include "buf.h"
#include "metrics.h"

struct pfs_control;

/* Binds and listens on path (a stale socket there is replaced; anything else
 * that is not a socket is refused with -EEXIST), mode 0600. Call it before
 * the mount is live; the fd survives fuse_daemonize. Returns the fd or
 * -errno. */
int pfs_control_listen(const char *path);

/* Serves fd (from pfs_control_listen) from a thread of its own: each
 * connection gets collect's snapshot as JSON. Takes fd and a copy of path
 * (unlinked by pfs_control_free). Returns 0 or -errno; on failure fd is
 * closed and path unlinked. */
int pfs_control_start(struct pfs_control **out, int fd, const char *path,
                      pfs_metrics_collect_fn collect, void *ctx);

/* Stops the thread, closes the socket and removes it. NULL-safe. */
void pfs_control_free(struct pfs_control *c);

/* The client side: connects to path and reads the answer into out (at most
 * 1 MiB), waiting at most timeout_ms for it. Returns 0, -ENOENT (no socket:
 * no daemon made one), -ECONNREFUSED (a socket nobody serves: the daemon is
 * gone), -ETIMEDOUT, -EMSGSIZE, or -errno. */
int pfs_control_fetch(const char *path, struct pfs_buf *out, int timeout_ms);

#endif
