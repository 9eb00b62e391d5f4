/* Wiring of one bucket's stack (see store.h). */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "signer_json.h"

/* The keyless URL source: a token, the signer's answer to /v1/info. */
static int open_signer_source(struct pfs_store *s, const struct pfs_config *cfg,
                              struct pfs_config_error *err)
{
    char *token = NULL;
    if (pfs_config_load_signer_token(&token, cfg, err) != 0)
        return -1;
    struct pfs_url_source_remote_opts ro = {
        .url = cfg->signer,
        .token = token,
        .ca_file = cfg->signer_ca,
        .cert_file = cfg->signer_cert,
        .key_file = cfg->signer_key,
        .connect_timeout_ms = (long)cfg->connect_timeout * 1000,
        .expires = cfg->url_expires,
    };
    int rc = pfs_url_source_remote_new(&s->source, &ro);
    pfs_crypto_wipe(token, strlen(token));
    free(token);
    if (rc) {
        snprintf(err->msg, sizeof(err->msg), "cannot set up the signer client: %s", strerror(-rc));
        return -1;
    }
    struct pfs_signer_info info;
    char why[600];
    if (pfs_url_source_remote_info(s->source, &info, why, sizeof(why)) != 0) {
        snprintf(err->msg, sizeof(err->msg), "%s", why);
        return -1;
    }
    enum pfs_dialect d = strcmp(info.dialect, "s3") == 0 ? PFS_DIALECT_S3 : PFS_DIALECT_TOS;
    if (pfs_config_is_set(cfg, "dialect") && d != cfg->dialect) {
        snprintf(err->msg, sizeof(err->msg),
                 "signer %s signs for dialect %s, but dialect = %s is configured", cfg->signer,
                 info.dialect, pfs_dialect_name(cfg->dialect));
        return -1;
    }
    s->dialect = d;
    s->keyless = true;
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", info.endpoint);
    snprintf(s->signer_client, sizeof(s->signer_client), "%s", info.client);
    snprintf(s->signer_access, sizeof(s->signer_access), "%s", info.access);
    if (info.max_expires < cfg->url_expires)
        PFS_INFO("signer %s grants URLs for %lld s at most (url_expires is %lld s)", cfg->signer,
                 (long long)info.max_expires, (long long)cfg->url_expires);
    return 0;
}

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
        .low_speed_time_s = (long)cfg->low_speed_time,
        .low_speed_limit = (long)cfg->low_speed_limit,
        .request_timeout_ms = (long)cfg->request_timeout * 1000,
        .ca_file = cfg->ca_file,
        .insecure = cfg->insecure,
    };
    struct pfs_client_opts client_opts = {.retries = (int)cfg->retries,
                                          .copy_threshold = (uint64_t)cfg->copy_threshold};
    s->dialect = cfg->dialect;
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", cfg->endpoint ? cfg->endpoint : "");
    const char *step = "the HTTP transport";
    int rc = pfs_http_curl_new(&s->http, &http_opts);
    if (rc == 0 && cfg->signer) {
        if (cred)
            PFS_INFO("signer = %s is set: URLs come from it, the credentials are not used",
                     cfg->signer);
        pfs_cred_free(cred);
        cred = NULL;
        if (open_signer_source(s, cfg, err) != 0) {
            pfs_store_close(s);
            return -1;
        }
    } else if (rc == 0) {
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
        rc =
            pfs_client_new(&s->client, s->http, s->urls, s->pool, s->dialect, bucket, &client_opts);
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
