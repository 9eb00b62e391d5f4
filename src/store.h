/* Everything a verb needs to talk to one bucket, built from the configuration:
 * transport, URL source and cache, worker pool and client, with one owner. */
#ifndef PFS_STORE_H
#define PFS_STORE_H

#include "client.h"
#include "config.h"

struct pfs_store {
    struct pfs_http *http;
    struct pfs_url_source *source;
    struct pfs_urlcache *urls;
    struct pfs_pool *pool;
    struct pfs_client *client;
};

/* Takes over cred (freed with the store, also on error). Returns 0, or -1 with
 * err filled. */
int pfs_store_open(struct pfs_store **out, const struct pfs_config *cfg, struct pfs_cred *cred,
                   const char *bucket, struct pfs_config_error *err);

/* NULL-safe. */
void pfs_store_close(struct pfs_store *s);

#endif
