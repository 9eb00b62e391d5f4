/* Configuration: defaults, the INI file (read with inih), -o overrides, and the
 * credentials file. The only module that includes inih. Every error is one
 * sentence naming its source (FILE:LINE or the -o option) and the problem. */
#ifndef PFS_CONFIG_H
#define PFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "log.h"
#include "sign.h"
#include "uri.h"

#define PFS_DEFAULT_URL_EXPIRES 3600
#define PFS_CONFIG_ERR_LEN 1024

struct pfs_config {
    enum pfs_dialect dialect;
    char *endpoint; /* as written */
    char *region;
    enum pfs_addressing addressing;
    int64_t url_expires;
    int64_t url_refresh_margin;
    int64_t url_cache_size;
    char *credentials; /* path of a credentials file, or NULL for the environment */
    int64_t retries;
    int64_t max_inflight;
    int64_t connect_timeout; /* seconds */
    int64_t request_timeout; /* seconds, 0: none; requests without object data */
    int64_t low_speed_limit; /* bytes/s */
    int64_t low_speed_time;  /* seconds */
    char *ca_file;
    bool insecure;
    enum pfs_log_level log_level;
    char *logfile;
    /* mount options */
    int64_t uid, gid, umask;
    bool allow_other, read_only;
    bool nonempty; /* mount over a directory that has entries */
    char *cache_dir;
    char *default_cache_dir; /* used when cache_dir is unset; set by finish */
    int64_t cache_size;
    char *data_cache;        /* clean-data cache directory; NULL: off */
    int64_t data_cache_size; /* 0: keep a margin of free disk */
    double attr_timeout, entry_timeout, negative_timeout, dir_timeout;
    int64_t memory_limit, part_size, multipart_threshold;
    int64_t upload_retry_interval;
    bool metadata_head; /* metadata = head | listing */
    bool upload_async;  /* upload = sync | async */
    int64_t copy_threshold;
    char *content_type; /* default Content-Type of uploads, or "off" */
    /* keyless mounts (doc/SIGNER.md) */
    char *metrics;      /* ADDR:PORT of the Prometheus endpoint, or NULL */
    char *signer;       /* URL of a presignfs signer: URLs come from it, no credentials */
    char *signer_token; /* file holding the bearer token alone (mode 0600) */
    char *signer_ca;    /* CA certificates (PEM) to verify the signer's TLS certificate */
    char *signer_cert, *signer_key; /* client certificate for the signer (mutual TLS) */
    /* the signer verb */
    char *tls_cert, *tls_key;
    char *tls_client_ca; /* CA certificates (PEM) that client certificates must chain to */

    /* Filled by pfs_config_finish: */
    struct pfs_endpoint parsed_endpoint;
    char *source_file; /* the config file that was read, or NULL */

    uint64_t set_mask; /* which options were given explicitly (bit = table index) */
};

struct pfs_config_error {
    char msg[PFS_CONFIG_ERR_LEN];
};

/* Fills the defaults. */
void pfs_config_init(struct pfs_config *cfg);
void pfs_config_cleanup(struct pfs_config *cfg);

/* Sets one option. `where` names the source for the message ("FILE:12" or
 * "-o url_expires=0"). Returns 0 or -1 with err filled. */
int pfs_config_set(struct pfs_config *cfg, const char *key, const char *value, const char *where,
                   struct pfs_config_error *err);

/* Reads an INI file. A missing file is an error unless missing_ok. */
int pfs_config_load_file(struct pfs_config *cfg, const char *path, bool missing_ok,
                         struct pfs_config_error *err);

/* The whole lookup: the config file named by a config= option, else
 * $PRESIGNFS_CONFIG, else $XDG_CONFIG_HOME (or ~/.config)/presignfs/presignfs.conf,
 * else /etc/presignfs/presignfs.conf (a missing default file is fine); then the
 * -o strings (comma-separated key=value, '\,' for a literal comma) on top; then
 * pfs_config_finish. Returns 0 or -1 with err filled. */
int pfs_config_load(struct pfs_config *cfg, const char *const *opt_strings, size_t n_opt_strings,
                    struct pfs_config_error *err);

/* Checks that required options are present and consistent, parses the
 * endpoint and derives defaults (addressing, refresh margin). */
int pfs_config_finish(struct pfs_config *cfg, struct pfs_config_error *err);

/* Whether option `name` was given (in a file or with -o) rather than defaulted. */
bool pfs_config_is_set(const struct pfs_config *cfg, const char *name);

/* Credentials for cfg's dialect: from the credentials file when the option is
 * set (refused when group- or world-readable), else from the environment. */
int pfs_config_load_credentials(struct pfs_cred **out, const struct pfs_config *cfg,
                                struct pfs_config_error *err);

/* The i-th option's one-line description (and its name in *name_out), for
 * --help; NULL past the last option. */
const char *pfs_config_option_help(size_t i, const char **name_out);

/* The longest bearer token accepted (file and service alike). */
#define PFS_SIGNER_TOKEN_MAX 512

/* Reads the signer token file named by signer_token (refused when group- or
 * world-readable): the token alone, trailing newline allowed. *out is a heap
 * string the caller wipes and frees. Returns 0 or -1 with err filled. */
int pfs_config_load_signer_token(char **out, const struct pfs_config *cfg,
                                 struct pfs_config_error *err);

/* One name = value of a private INI file. Returns 0, or -1 with a sentence in
 * msg (no file or line: the reader adds them). */
typedef int (*pfs_config_ini_handler)(void *user, const char *section, const char *name,
                                      const char *value, char *msg, size_t msg_len);

/* Reads an INI file that holds secrets (the signer's clients file): refused
 * unless a regular file that group and others cannot read, lines limited as
 * for the configuration. what names the file in messages ("clients file").
 * Returns 0, or -1 with err "WHAT PATH:LINE: MSG". */
int pfs_config_read_private_ini(const char *path, const char *what, pfs_config_ini_handler handler,
                                void *user, struct pfs_config_error *err);

#endif
