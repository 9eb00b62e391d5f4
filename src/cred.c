/* Credential storage (see cred.h). */
#include "cred.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

static void free_secret(char *s)
{
    if (s) {
        pfs_crypto_wipe(s, strlen(s));
        free(s);
    }
}

void pfs_cred_free(struct pfs_cred *c)
{
    if (!c)
        return;
    free_secret(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    pfs_crypto_wipe(c, sizeof(*c));
    free(c);
}

int pfs_cred_new(struct pfs_cred **out, const char *access_key, const char *secret_key,
                 const char *session_token)
{
    *out = NULL;
    struct pfs_cred *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->access_key = strdup(access_key);
    c->secret_key = strdup(secret_key);
    if (session_token && *session_token)
        c->session_token = strdup(session_token);
    if (!c->access_key || !c->secret_key ||
        (session_token && *session_token && !c->session_token)) {
        pfs_cred_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

const char *pfs_cred_env_access_name(enum pfs_dialect dialect)
{
    return dialect == PFS_DIALECT_S3 ? "AWS_ACCESS_KEY_ID" : "TOS_ACCESS_KEY";
}

const char *pfs_cred_env_secret_name(enum pfs_dialect dialect)
{
    return dialect == PFS_DIALECT_S3 ? "AWS_SECRET_ACCESS_KEY" : "TOS_SECRET_KEY";
}

int pfs_cred_from_env(struct pfs_cred **out, enum pfs_dialect dialect)
{
    *out = NULL;
    const char *ak = getenv(pfs_cred_env_access_name(dialect));
    const char *sk = getenv(pfs_cred_env_secret_name(dialect));
    const char *tok =
        getenv(dialect == PFS_DIALECT_S3 ? "AWS_SESSION_TOKEN" : "TOS_SECURITY_TOKEN");
    if (!ak || !*ak || !sk || !*sk)
        return -ENOENT;
    return pfs_cred_new(out, ak, sk, tok);
}
