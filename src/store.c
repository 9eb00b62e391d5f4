/* Wiring of one bucket's stack (see store.h). */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pfs_store_close(struct pfs_store *s)
{
    if (!s)
        return;
    pfs_client_free(s->client);
    pfs_pool_free(s->pool);
    pfs_urlcache_free(s->urls);
    pfs_url_source_free(s->source);
    pfs_http_free(s->http);
    free(s);
}

int pfs_store_open(struct pfs_store **out, const struct pfs_config *cfg, struct pfs_cred *cred,
                   const char *bucket, struct pfs_config_error *err)
{
    *out = NULL;
    struct pfs_store *s = calloc(1, sizeof(*s));
    if (!s) {
        pfs_cred_free(cred);
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    struct pfs_sign_params params = {
        .dialect = cfg->dialect,
        .endpoint = &cfg->parsed_endpoint,
        .region = cfg->region,
        .addressing = cfg->addressing,
    };
    struct pfs_http_curl_opts http_opts = {
        .connect_timeout_ms = (long)cfg->connect_timeout * 1000,
        .ca_file = cfg->ca_file,
        .insecure = cfg->insecure,
    };
    struct pfs_client_opts client_opts = {.retries = (int)cfg->retries,
                                          .copy_threshold = (uint64_t)cfg->copy_threshold};
    const char *step = "the HTTP transport";
    int rc = pfs_http_curl_new(&s->http, &http_opts);
    if (rc == 0) {
        step = "the URL signer";
        rc = pfs_url_source_local_new(&s->source, &params, cred, cfg->url_expires);
        cred = NULL; /* taken over, even on error */
    }
    if (rc == 0) {
        step = "the URL cache";
        rc = pfs_urlcache_new(&s->urls, s->source, &pfs_clock_realtime, (size_t)cfg->url_cache_size,
                              cfg->url_refresh_margin);
    }
    if (rc == 0) {
        step = "the worker threads";
        rc = pfs_pool_new(&s->pool, (size_t)cfg->max_inflight);
    }
    if (rc == 0) {
        step = "the client";
        rc = pfs_client_new(&s->client, s->http, s->urls, s->pool, cfg->dialect, bucket,
                            &client_opts);
    }
    pfs_cred_free(cred);
    if (rc != 0) {
        snprintf(err->msg, sizeof(err->msg), "cannot set up %s: %s", step, strerror(-rc));
        pfs_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}
