/* Credentials (access key, secret key, optional session token). Owns the
 * secret bytes so they are wiped when freed and never printed. */
#ifndef PFS_CRED_H
#define PFS_CRED_H

#include "sign.h"

struct pfs_cred {
    char *access_key;
    char *secret_key;
    char *session_token; /* NULL when there is none */
};

/* Copies the three strings (token may be NULL or ""). Returns 0 or -ENOMEM;
 * *out is freed with pfs_cred_free. */
int pfs_cred_new(struct pfs_cred **out, const char *access_key, const char *secret_key,
                 const char *session_token);

/* Reads the dialect's environment variables: TOS_ACCESS_KEY, TOS_SECRET_KEY,
 * TOS_SECURITY_TOKEN (tos) or AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN (s3). Returns 0, -ENOENT when the key or the secret is
 * unset or empty, or -ENOMEM. */
int pfs_cred_from_env(struct pfs_cred **out, enum pfs_dialect dialect);

/* Names of the dialect's access-key and secret-key variables, for messages. */
const char *pfs_cred_env_access_name(enum pfs_dialect dialect);
const char *pfs_cred_env_secret_name(enum pfs_dialect dialect);

/* Wipes and frees. NULL-safe. */
void pfs_cred_free(struct pfs_cred *c);

#endif
