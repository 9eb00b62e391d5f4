/* -o metrics=ADDR:PORT: the Prometheus text format (metrics.h) served over
 * HTTP by libmicrohttpd, the signer's library, at GET /metrics. The socket
 * is bound before the mount goes live (a taken port fails the mount with one
 * line); the serving thread starts after fuse_daemonize. */
#ifndef PFS_METRICS_HTTP_H
#define PFS_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

struct pfs_metrics_http;

/* Binds and listens on "HOST:PORT" or "[V6]:PORT" (port 0: any free port).
 * *loopback_out says whether the address is a loopback one (the caller warns
 * otherwise: the page has no authentication). Returns the fd, or -EINVAL for
 * an address that does not parse (why in msg), or -errno of bind/listen. */
int pfs_metrics_http_listen(const char *addr, bool *loopback_out, char *msg, size_t msg_len);

/* The port fd is bound to (for port 0), or 0. */
int pfs_metrics_http_port(int fd);

/* Serves fd (taken over: closed by pfs_metrics_http_free, or here on
 * failure) from libmicrohttpd's thread; each GET /metrics renders collect's
 * snapshot. Returns 0 or -errno. */
int pfs_metrics_http_start(struct pfs_metrics_http **out, int fd, pfs_metrics_collect_fn collect,
                           void *ctx);

/* NULL-safe. */
void pfs_metrics_http_free(struct pfs_metrics_http *h);

#endif
