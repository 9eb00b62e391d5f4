/* A bounded, thread-safe LRU cache of presigned URLs in front of a URL source.
 * A file read in 10,000 ranged GETs is signed once; a URL is never handed out
 * once less than the refresh margin of its life is left. */
#ifndef PFS_URLCACHE_H
#define PFS_URLCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "urlsource.h"

#define PFS_URLCACHE_DEFAULT_CAPACITY 4096

struct pfs_urlcache;

struct pfs_urlcache_stats {
    uint64_t hits;          /* served from the cache */
    uint64_t misses;        /* not cached: signed */
    uint64_t refreshes;     /* cached but inside the refresh margin: re-signed */
    uint64_t evictions;     /* dropped to stay within capacity */
    uint64_t invalidations; /* dropped because the server rejected the URL */
    uint64_t stale;         /* handed out inside the margin: the source failed with -EIO */
};

/* Life a URL must have left to be handed out when its source is unavailable. */
#define PFS_URLCACHE_STALE_MIN 5

/* src and clock are borrowed and must outlive the cache. capacity 0 means
 * PFS_URLCACHE_DEFAULT_CAPACITY. margin (seconds, >= 0) is how much life a URL
 * must have left to be handed out. Returns 0 or -ENOMEM/-EINVAL. */
int pfs_urlcache_new(struct pfs_urlcache **out, struct pfs_url_source *src,
                     const struct pfs_clock *clock, size_t capacity, int64_t margin);

/* NULL-safe. */
void pfs_urlcache_free(struct pfs_urlcache *c);

/* Returns a URL for req with at least `margin` seconds of life left, signing
 * (outside the lock) when needed. When the source fails with -EIO (a remote
 * signer that does not answer), a cached URL with more than
 * PFS_URLCACHE_STALE_MIN seconds left is handed out instead. *url_out is a
 * heap copy the caller frees. Returns 0 or the source's -errno. Thread-safe. */
int pfs_urlcache_get(struct pfs_urlcache *c, char **url_out, const struct pfs_sign_request *req);

/* Signs without caching: for one-shot URLs such as part uploads, which would
 * only push useful entries out. A URL that pfs_urlcache_prefetch put in the
 * cache for req is taken out and handed over instead. */
int pfs_urlcache_get_uncached(struct pfs_urlcache *c, char **url_out,
                              const struct pfs_sign_request *req);

/* Signs, in as few calls of the source as it can batch, the URLs of reqs that
 * the cache lacks or would refresh, and caches them: for callers that know
 * their next URLs (a HEAD fan-out, the parts of an upload). A no-op for a
 * source without batching (local keys). Failures are not reported per URL:
 * a later get signs that one alone and says why. Returns the number of URLs
 * cached, or the -errno of a batch call that failed as a whole. Signs
 * outside the lock; thread-safe. */
int pfs_urlcache_prefetch(struct pfs_urlcache *c, const struct pfs_sign_request *reqs, size_t n);

/* Drops the entry for req because the server rejected `rejected_url`. When
 * rejected_url is non-NULL and the entry already holds a different (newer)
 * URL, that URL is kept: another thread has re-signed in the meantime. */
void pfs_urlcache_invalidate(struct pfs_urlcache *c, const struct pfs_sign_request *req,
                             const char *rejected_url);

void pfs_urlcache_stats(const struct pfs_urlcache *c, struct pfs_urlcache_stats *out);
size_t pfs_urlcache_size(const struct pfs_urlcache *c);

#endif
