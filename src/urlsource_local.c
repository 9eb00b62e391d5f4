/* The local URL source: holds the keys and signs in-process (see urlsource.h). */
#include "urlsource.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct local_source {
    struct pfs_sign_params params;
    struct pfs_endpoint endpoint;
    char *region;
    struct pfs_cred *cred;
    int64_t expires;
};

static int local_presign(void *ctx, char **url_out, int64_t *expires_at_out,
                         const struct pfs_sign_request *req, int64_t now)
{
    struct local_source *ls = ctx;
    int rc = pfs_sign_presign(url_out, &ls->params, req, now, ls->expires, NULL);
    if (rc == 0)
        *expires_at_out = now + ls->expires;
    return rc;
}

static void local_destroy(void *ctx)
{
    struct local_source *ls = ctx;
    pfs_cred_free(ls->cred);
    free(ls->region);
    free(ls);
}

static const struct pfs_url_source_ops local_ops = {local_presign, local_destroy, NULL};

int pfs_url_source_local_new(struct pfs_url_source **out, const struct pfs_sign_params *params,
                             struct pfs_cred *cred, int64_t expires)
{
    *out = NULL;
    if (expires < PFS_EXPIRES_MIN || expires > PFS_EXPIRES_MAX) {
        pfs_cred_free(cred);
        return -ERANGE;
    }
    struct pfs_url_source *src = calloc(1, sizeof(*src));
    struct local_source *ls = calloc(1, sizeof(*ls));
    char *region = strdup(params->region ? params->region : "");
    if (!src || !ls || !region) {
        free(src);
        free(ls);
        free(region);
        pfs_cred_free(cred);
        return -ENOMEM;
    }
    ls->endpoint = *params->endpoint;
    ls->region = region;
    ls->cred = cred;
    ls->expires = expires;
    ls->params = *params;
    ls->params.endpoint = &ls->endpoint;
    ls->params.region = ls->region;
    ls->params.access_key = cred->access_key;
    ls->params.secret_key = cred->secret_key;
    ls->params.session_token = cred->session_token;
    src->ops = &local_ops;
    src->ctx = ls;
    *out = src;
    return 0;
}

void pfs_url_source_free(struct pfs_url_source *src)
{
    if (!src)
        return;
    src->ops->destroy(src->ctx);
    free(src);
}
