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
    enum pfs_dialect dialect; /* the configuration's, or the signer's */
    char endpoint[300];       /* the store's endpoint, for messages */
    bool keyless;             /* URLs come from a signer (signer = URL) */
    char signer_client[128];  /* the signer's name for this client */
    char signer_access[8];    /* "read" or "write" */
};

/* Takes over cred (freed with the store, also on error). With signer = URL in
 * cfg, cred is not used (may be NULL): the token is read, the signer asked what
 * it signs for (a refused token or a dialect that disagrees is an error here)
 * and every URL comes from it. Returns 0, or -1 with err filled. */
int pfs_store_open(struct pfs_store **out, const struct pfs_config *cfg, struct pfs_cred *cred,
                   const char *bucket, struct pfs_config_error *err);

/* NULL-safe. */
void pfs_store_close(struct pfs_store *s);

#endif
