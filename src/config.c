/* Configuration (see config.h). Options are a table, so the file, -o and --help
 * can never disagree about names, types or ranges. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"

enum opt_type {
    OPT_STRING,
    OPT_INT,
    OPT_BOOL,
    OPT_SECONDS,
    OPT_SIZE,
    OPT_OCTAL,
    OPT_DIALECT,
    OPT_ADDRESSING,
    OPT_LOG_LEVEL,
    OPT_METADATA,
    OPT_UPLOAD,
    OPT_CONFIG
};

struct opt_def {
    const char *name;
    enum opt_type type;
    size_t offset;
    int64_t min, max;
    const char *help;
};

#define OFF(field) offsetof(struct pfs_config, field)

static const struct opt_def options[] = {
    {"dialect", OPT_DIALECT, OFF(dialect), 0, 0,
     "tos (Volcengine TOS, X-Tos-* signatures) or s3 (AWS SigV4); default tos"},
    {"endpoint", OPT_STRING, OFF(endpoint), 0, 0,
     "http[s]://host[:port] of the object store (required)"},
    {"region", OPT_STRING, OFF(region), 0, 0, "region in the signature scope (required)"},
    {"addressing", OPT_ADDRESSING, OFF(addressing), 0, 0,
     "virtual or path; default virtual, path when the endpoint host is an IP address"},
    {"url_expires", OPT_INT, OFF(url_expires), PFS_EXPIRES_MIN, PFS_EXPIRES_MAX,
     "lifetime of presigned URLs in seconds, 1..604800; default 3600"},
    {"url_refresh_margin", OPT_INT, OFF(url_refresh_margin), 0, PFS_EXPIRES_MAX - 1,
     "re-sign a cached URL with less life left than this (s); default url_expires/10"},
    {"url_cache_size", OPT_INT, OFF(url_cache_size), 1, 1 << 24,
     "presigned URLs kept in the cache; default 4096"},
    {"credentials", OPT_STRING, OFF(credentials), 0, 0,
     "path of a credentials file (mode 0600); default: environment variables"},
    {"retries", OPT_INT, OFF(retries), 0, 20,
     "retries of a failed request (5xx, 429, timeouts, resets); default 5"},
    {"max_inflight", OPT_INT, OFF(max_inflight), 1, 256,
     "parallel transfers (multipart parts, read-ahead); default 16"},
    {"connect_timeout", OPT_INT, OFF(connect_timeout), 1, 300,
     "seconds to wait for a TCP/TLS connection; default 10"},
    {"request_timeout", OPT_INT, OFF(request_timeout), 0, 86400,
     "seconds a request without object data (HEAD, DELETE, LIST, copy, multipart "
     "create/complete/abort) may take in all before it is abandoned and retried; 0: no "
     "limit; default 120"},
    {"low_speed_limit", OPT_SIZE, OFF(low_speed_limit), 1, 1LL << 30,
     "bytes/s under which a transfer counts as stalled (uploads and downloads of any size); "
     "default 1K"},
    {"low_speed_time", OPT_INT, OFF(low_speed_time), 1, 3600,
     "seconds a transfer may stay under low_speed_limit (waiting for the first byte of an "
     "answer included) before it is abandoned and retried; default 30"},
    {"ca_file", OPT_STRING, OFF(ca_file), 0, 0,
     "CA certificates (PEM) to verify the store's TLS certificate; default: system store"},
    {"insecure", OPT_BOOL, OFF(insecure), 0, 0,
     "true: do not verify the store's TLS certificate (logged as a warning); default false"},
    {"log_level", OPT_LOG_LEVEL, OFF(log_level), 0, 0, "error, warn, info or debug; default warn"},
    {"logfile", OPT_STRING, OFF(logfile), 0, 0,
     "append log lines to this file; default: stderr, or syslog once daemonized"},
    {"uid", OPT_INT, OFF(uid), 0, 4294967294LL, "owner of every file; default: the mounting user"},
    {"gid", OPT_INT, OFF(gid), 0, 4294967294LL,
     "group of every file; default: the mounting user's"},
    {"umask", OPT_OCTAL, OFF(umask), 0, 0777, "permission bits to clear, octal; default 0022"},
    {"allow_other", OPT_BOOL, OFF(allow_other), 0, 0,
     "let other users than the mounting one use the mount; default false"},
    {"ro", OPT_BOOL, OFF(read_only), 0, 0, "mount read-only; default false"},
    {"nonempty", OPT_BOOL, OFF(nonempty), 0, 0,
     "mount over a directory that is not empty (hiding its files); default false: refused"},
    {"cache_dir", OPT_STRING, OFF(cache_dir), 0, 0,
     "where written files are staged; default $XDG_CACHE_HOME/presignfs, /var/cache/presignfs "
     "for root"},
    {"cache_size", OPT_SIZE, OFF(cache_size), 0, INT64_MAX,
     "most bytes staged at once (writes beyond fail with ENOSPC); default 0: no limit"},
    {"data_cache", OPT_STRING, OFF(data_cache), 0, 0,
     "directory of the clean-data cache: blocks read from the store are kept there (keyed by "
     "ETag, checksummed) so reading them again costs no request; default: none (off)"},
    {"data_cache_size", OPT_SIZE, OFF(data_cache_size), 4 << 20, INT64_MAX,
     "most bytes data_cache may hold (least recently used blocks go first); default: no fixed "
     "size, 10% of its filesystem (1G..20G) is kept free"},
    {"attr_timeout", OPT_SECONDS, OFF(attr_timeout), 0, 86400,
     "seconds file attributes are cached; default 5"},
    {"entry_timeout", OPT_SECONDS, OFF(entry_timeout), 0, 86400,
     "seconds a name lookup is cached; default 5"},
    {"negative_timeout", OPT_SECONDS, OFF(negative_timeout), 0, 86400,
     "seconds a failed lookup is cached; default 2"},
    {"dir_timeout", OPT_SECONDS, OFF(dir_timeout), 0, 86400,
     "seconds a directory listing is cached; default 5"},
    {"memory_limit", OPT_SIZE, OFF(memory_limit), 1 << 20, INT64_MAX,
     "memory for read-ahead across all files; default 512M"},
    {"part_size", OPT_SIZE, OFF(part_size), 5 << 20, 5LL << 30,
     "multipart upload part size, 5M..5G; default 8M"},
    {"metadata", OPT_METADATA, OFF(metadata_head), 0, 0,
     "head: read modes and times with parallel HEADs (S3 listings lack them); listing: "
     "listing attributes only, no HEAD per file; default head"},
    {"copy_threshold", OPT_SIZE, OFF(copy_threshold), 5 << 20, 5LL << 30,
     "objects larger than this are renamed with a multipart copy (5 GiB is the store's limit "
     "for one copy); default 5G"},
    {"upload", OPT_UPLOAD, OFF(upload_async), 0, 0,
     "sync: close returns once the object is stored; async: once the data and its journal "
     "record are on local disk (uploads run in the background; fsync and unmount wait for "
     "them); default sync"},
    {"content_type", OPT_STRING, OFF(content_type), 0, 0,
     "Content-Type of uploads whose extension /etc/mime.types does not know (a known "
     "extension gets its type, as with s3fs); off: send none; default "
     "application/octet-stream"},
    {"upload_retry_interval", OPT_INT, OFF(upload_retry_interval), 1, 86400,
     "seconds between retries of an upload that failed; default 30"},
    {"multipart_threshold", OPT_SIZE, OFF(multipart_threshold), 5 << 20, 5LL << 30,
     "files at least this large upload in parallel parts; default 8M"},
    {"metrics", OPT_STRING, OFF(metrics), 0, 0,
     "ADDR:PORT (e.g. 127.0.0.1:9464): serve Prometheus metrics at http://ADDR:PORT/metrics "
     "(no authentication: a non-loopback address is warned about); default: none"},
    {"signer", OPT_STRING, OFF(signer), 0, 0,
     "http[s]://host:port of a presignfs signer: URLs come from it and no credentials are "
     "read (doc/SIGNER.md)"},
    {"signer_token", OPT_STRING, OFF(signer_token), 0, 0,
     "file holding the bearer token for the signer alone (mode 0600)"},
    {"signer_ca", OPT_STRING, OFF(signer_ca), 0, 0,
     "CA certificates (PEM) to verify the signer's TLS certificate; default: system store"},
    {"signer_cert", OPT_STRING, OFF(signer_cert), 0, 0,
     "PEM client certificate to present to the signer (mutual TLS); with signer_key"},
    {"signer_key", OPT_STRING, OFF(signer_key), 0, 0, "PEM private key of signer_cert (mode 0600)"},
    {"tls_cert", OPT_STRING, OFF(tls_cert), 0, 0,
     "presignfs signer: PEM certificate (chain) to serve HTTPS with"},
    {"tls_key", OPT_STRING, OFF(tls_key), 0, 0,
     "presignfs signer: PEM private key of tls_cert (mode 0600)"},
    {"tls_client_ca", OPT_STRING, OFF(tls_client_ca), 0, 0,
     "presignfs signer: CA certificates (PEM) that client certificates are verified with; "
     "clients with cert_subject or cert_sha256 must present one"},
    /* Handled by pfs_config_load before any file is read; listed for --help. */
    {"config", OPT_CONFIG, 0, 0, 0,
     "configuration file to read (only with -o or $PRESIGNFS_CONFIG)"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

const char *pfs_config_option_help(size_t i, const char **name_out)
{
    if (i >= N_OPTIONS)
        return NULL;
    *name_out = options[i].name;
    return options[i].help;
}

static int failf(struct pfs_config_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int failf(struct pfs_config_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* Messages quote the input, which may hold a newline (-o 'a=b\nc'):
     * keep them one line. */
    for (char *c = err->msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return -1;
}

void pfs_config_init(struct pfs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->dialect = PFS_DIALECT_TOS;
    cfg->addressing = PFS_ADDRESSING_VIRTUAL;
    cfg->url_expires = PFS_DEFAULT_URL_EXPIRES;
    cfg->url_refresh_margin = PFS_DEFAULT_URL_EXPIRES / 10;
    cfg->url_cache_size = 4096;
    cfg->retries = 5;
    cfg->max_inflight = 16;
    cfg->connect_timeout = 10;
    cfg->request_timeout = 120;
    cfg->low_speed_limit = 1024;
    cfg->low_speed_time = 30;
    cfg->uid = (int64_t)getuid();
    cfg->gid = (int64_t)getgid();
    cfg->umask = 0022;
    cfg->attr_timeout = 5;
    cfg->entry_timeout = 5;
    cfg->negative_timeout = 2;
    cfg->dir_timeout = 5;
    cfg->memory_limit = 512LL << 20;
    cfg->part_size = 8LL << 20;
    cfg->multipart_threshold = 8LL << 20;
    cfg->upload_retry_interval = 30;
    cfg->metadata_head = true;
    cfg->copy_threshold = 5LL << 30;
    cfg->log_level = PFS_LOG_WARN;
}

void pfs_config_cleanup(struct pfs_config *cfg)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STRING)
            free(*(char **)((char *)cfg + options[i].offset));
    free(cfg->default_cache_dir);
    free(cfg->source_file);
    memset(cfg, 0, sizeof(*cfg));
}

static bool parse_int(int64_t *out, const char *s)
{
    if (!isdigit((unsigned char)*s))
        return false;
    int64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return *s == '\0';
}

/* "4096", "512K", "8M", "8MiB", "1G", "2T" (binary multiples). */
static int parse_size(int64_t *out, const char *s)
{
    int64_t v;
    char num[32];
    size_t n = 0;
    while (isdigit((unsigned char)s[n]) && n < sizeof(num) - 1) {
        num[n] = s[n];
        n++;
    }
    num[n] = '\0';
    if (n == 0 || !parse_int(&v, num))
        return -1;
    const char *unit = s + n;
    int shift = 0;
    if (*unit) {
        static const char units[] = "KMGT";
        const char *u = strchr(units, toupper((unsigned char)*unit));
        if (!u)
            return -1;
        shift = 10 * (int)(u - units + 1);
        unit++;
        if (strcasecmp(unit, "iB") == 0 || strcasecmp(unit, "B") == 0)
            unit += strlen(unit);
        if (*unit)
            return -1;
    }
    if (v > (INT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

int pfs_config_set(struct pfs_config *cfg, const char *key, const char *value, const char *where,
                   struct pfs_config_error *err)
{
    size_t i = 0;
    while (i < N_OPTIONS && strcmp(options[i].name, key) != 0)
        i++;
    if (i == N_OPTIONS)
        return failf(err, "%s: unknown option '%s' (presignfs --help lists them)", where, key);
    const struct opt_def *o = &options[i];
    void *field = (char *)cfg + o->offset;
    switch (o->type) {
    case OPT_STRING: {
        if (!*value)
            return failf(err, "%s: %s must not be empty", where, key);
        char *copy = strdup(value);
        if (!copy)
            return failf(err, "%s: out of memory", where);
        free(*(char **)field);
        *(char **)field = copy;
        break;
    }
    case OPT_INT: {
        int64_t v;
        if (!parse_int(&v, value))
            return failf(err, "%s: %s must be a whole number, not '%s'", where, key, value);
        if (v < o->min || v > o->max)
            return failf(err, "%s: %s must be between %lld and %lld, not %s", where, key,
                         (long long)o->min, (long long)o->max, value);
        *(int64_t *)field = v;
        break;
    }
    case OPT_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
            *(bool *)field = false;
        else
            return failf(err, "%s: %s must be true or false, not '%s'", where, key, value);
        break;
    case OPT_SECONDS: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= (double)o->min) || v > (double)o->max)
            return failf(err, "%s: %s must be a number of seconds between %lld and %lld, not '%s'",
                         where, key, (long long)o->min, (long long)o->max, value);
        *(double *)field = v;
        break;
    }
    case OPT_SIZE: {
        int64_t v;
        if (parse_size(&v, value) != 0 || v < o->min || v > o->max)
            return failf(err,
                         "%s: %s must be a size such as 512M or 8MiB (bytes, K, M, G, T) between "
                         "%lld and %lld bytes, not '%s'",
                         where, key, (long long)o->min, (long long)o->max, value);
        *(int64_t *)field = v;
        break;
    }
    case OPT_OCTAL: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 8);
        if (errno || end == value || *end || v < o->min || v > o->max)
            return failf(err, "%s: %s must be octal between 0 and 0777, not '%s'", where, key,
                         value);
        *(int64_t *)field = v;
        break;
    }
    case OPT_DIALECT:
        if (strcmp(value, "tos") == 0)
            *(enum pfs_dialect *)field = PFS_DIALECT_TOS;
        else if (strcmp(value, "s3") == 0)
            *(enum pfs_dialect *)field = PFS_DIALECT_S3;
        else
            return failf(err, "%s: dialect must be 'tos' or 's3', not '%s'", where, value);
        break;
    case OPT_ADDRESSING:
        if (strcmp(value, "virtual") == 0)
            *(enum pfs_addressing *)field = PFS_ADDRESSING_VIRTUAL;
        else if (strcmp(value, "path") == 0)
            *(enum pfs_addressing *)field = PFS_ADDRESSING_PATH;
        else
            return failf(err, "%s: addressing must be 'virtual' or 'path', not '%s'", where, value);
        break;
    case OPT_LOG_LEVEL:
        if (pfs_log_parse_level((enum pfs_log_level *)field, value) != 0)
            return failf(err, "%s: log_level must be error, warn, info or debug, not '%s'", where,
                         value);
        break;
    case OPT_METADATA:
        if (strcmp(value, "head") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "listing") == 0)
            *(bool *)field = false;
        else
            return failf(err, "%s: metadata must be 'head' or 'listing', not '%s'", where, value);
        break;
    case OPT_UPLOAD:
        if (strcmp(value, "sync") == 0)
            *(bool *)field = false;
        else if (strcmp(value, "async") == 0)
            *(bool *)field = true;
        else
            return failf(err, "%s: upload must be 'sync' or 'async', not '%s'", where, value);
        break;
    case OPT_CONFIG:
        return failf(err, "%s: 'config' can only be given with -o or $PRESIGNFS_CONFIG", where);
    }
    cfg->set_mask |= (uint64_t)1 << i;
    return 0;
}

bool pfs_config_is_set(const struct pfs_config *cfg, const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            return (cfg->set_mask >> i) & 1;
    return false;
}

/* Debian's inih reads at most 200 bytes a line and silently splits longer
 * ones, which would corrupt a long value (an STS token). Refuse such lines
 * with a clear message instead. */
#define INI_LINE_LIMIT 199

/* what names the file in the message ("" for the configuration,
 * "credentials file", ...). */
static int check_line_lengths(FILE *f, const char *what, const char *path,
                              struct pfs_config_error *err)
{
    int line = 1, c;
    size_t len = 0;
    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            line++;
            len = 0;
            continue;
        }
        if (++len > INI_LINE_LIMIT)
            return failf(err,
                         "%s%s%s:%d: line is longer than %d bytes; continue a long value on "
                         "indented lines",
                         what, *what ? " " : "", path, line, INI_LINE_LIMIT);
    }
    rewind(f);
    return 0;
}

struct ini_ctx {
    struct pfs_config *cfg;
    const char *path;
    int line_guess;
    struct pfs_config_error *err;
    bool failed;
};

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;
    if (ctx->failed)
        return 1;
    struct pfs_config_error e;
    int rc;
    if (*section && strcmp(section, "presignfs") != 0)
        rc =
            failf(&e, "unknown section [%s] (options go at the top or under [presignfs])", section);
    else
        rc = pfs_config_set(ctx->cfg, name, value, "@", &e);
    if (rc == 0)
        return 1;
    /* inih reports the line number of the first failing handler call; the
     * message is completed with it once ini_parse returns. */
    const char *msg = strncmp(e.msg, "@: ", 3) == 0 ? e.msg + 3 : e.msg;
    snprintf(ctx->err->msg, sizeof(ctx->err->msg), "%s", msg);
    ctx->failed = true;
    return 0;
}

int pfs_config_load_file(struct pfs_config *cfg, const char *path, bool missing_ok,
                         struct pfs_config_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (missing_ok && errno == ENOENT)
            return 0;
        return failf(err, "%s: cannot read the configuration file: %s", path, strerror(errno));
    }
    if (check_line_lengths(f, "", path, err) != 0) {
        fclose(f);
        return -1;
    }
    struct pfs_config_error inner = {{0}};
    struct ini_ctx ctx = {cfg, path, 0, &inner, false};
    int line = ini_parse_file(f, config_handler, &ctx);
    fclose(f);
    if (line != 0) {
        if (ctx.failed)
            return failf(err, "%s:%d: %s", path, line, inner.msg);
        return failf(err, "%s:%d: not 'key = value', a [section] or a comment", path, line);
    }
    char *copy = strdup(path);
    if (!copy)
        return failf(err, "%s: out of memory", path);
    free(cfg->source_file);
    cfg->source_file = copy;
    return 0;
}

static bool is_flag(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_BOOL && strcmp(options[i].name, name) == 0)
            return true;
    return false;
}

/* Splits one -o string at unescaped commas and applies each key=value. When
 * only_config is set, applies nothing and returns the config= value instead. */
static int apply_opt_string(struct pfs_config *cfg, const char *s, bool only_config,
                            char **config_out, struct pfs_config_error *err)
{
    struct pfs_buf item;
    pfs_buf_init(&item);
    int rc = 0;
    for (const char *p = s;; p++) {
        if (*p == '\\' && (p[1] == ',' || p[1] == '\\')) {
            pfs_buf_putc(&item, *++p);
            continue;
        }
        if (*p != ',' && *p != '\0') {
            pfs_buf_putc(&item, *p);
            continue;
        }
        if (item.len > 0) {
            if (pfs_buf_status(&item)) {
                rc = failf(err, "-o: out of memory");
                break;
            }
            char *eq = strchr(item.data, '=');
            char where[160];
            snprintf(where, sizeof(where), "-o %.140s", item.data);
            if (!eq && is_flag(item.data)) {
                /* mount(8) style: "-o ro,allow_other" means true */
                pfs_buf_puts(&item, "=true");
                eq = strchr(item.data, '=');
            }
            if (!eq) {
                rc = failf(err, "%s: expected key=value", where);
                break;
            }
            *eq = '\0';
            if (strcmp(item.data, "config") == 0) {
                if (only_config) {
                    free(*config_out);
                    *config_out = strdup(eq + 1);
                }
            } else if (!only_config) {
                rc = pfs_config_set(cfg, item.data, eq + 1, where, err);
                if (rc)
                    break;
            }
            pfs_buf_reset(&item);
        }
        if (*p == '\0')
            break;
    }
    pfs_buf_cleanup(&item);
    return rc;
}

int pfs_config_load(struct pfs_config *cfg, const char *const *opt_strings, size_t n_opt_strings,
                    struct pfs_config_error *err)
{
    char *explicit_path = NULL;
    for (size_t i = 0; i < n_opt_strings; i++)
        if (apply_opt_string(cfg, opt_strings[i], true, &explicit_path, err) != 0) {
            free(explicit_path);
            return -1;
        }
    int rc;
    const char *env = getenv("PRESIGNFS_CONFIG");
    if (explicit_path) {
        rc = pfs_config_load_file(cfg, explicit_path, false, err);
    } else if (env && *env) {
        rc = pfs_config_load_file(cfg, env, false, err);
    } else {
        struct pfs_buf user_path;
        pfs_buf_init(&user_path);
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            pfs_buf_printf(&user_path, "%s/presignfs/presignfs.conf", xdg);
        else if (home && *home)
            pfs_buf_printf(&user_path, "%s/.config/presignfs/presignfs.conf", home);
        rc = 0;
        if (user_path.len)
            rc = pfs_config_load_file(cfg, user_path.data, true, err);
        if (rc == 0 && !cfg->source_file)
            rc = pfs_config_load_file(cfg, "/etc/presignfs/presignfs.conf", true, err);
        pfs_buf_cleanup(&user_path);
    }
    free(explicit_path);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n_opt_strings; i++)
        if (apply_opt_string(cfg, opt_strings[i], false, NULL, err) != 0)
            return -1;
    return pfs_config_finish(cfg, err);
}

static int finish_common(struct pfs_config *cfg, struct pfs_config_error *err);

int pfs_config_finish(struct pfs_config *cfg, struct pfs_config_error *err)
{
    const char *hint = cfg->source_file ? cfg->source_file : "the configuration file";
    if (cfg->signer) {
        /* Keyless: the signer names the store (endpoint, region, dialect);
         * what is given here as well must agree with it (store.c). */
        const char *why = NULL;
        struct pfs_endpoint sep;
        if (pfs_endpoint_parse(&sep, cfg->signer, &why) != 0)
            return failf(err, "signer '%s' is not valid: %s", cfg->signer, why);
        if (!cfg->signer_token)
            return failf(err, "signer = %s needs signer_token = FILE (the token alone, mode 0600)",
                         cfg->signer);
    }
    if (!cfg->endpoint && cfg->signer)
        return finish_common(cfg, err);
    if (!cfg->endpoint)
        return failf(err, "no endpoint: set endpoint = URL in %s or give -o endpoint=URL", hint);
    if (!cfg->region)
        return failf(err, "no region: set region = NAME in %s or give -o region=NAME", hint);
    for (const char *c = cfg->region; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_'))
            return failf(err, "region '%s' may hold only letters, digits, '-' and '_'",
                         cfg->region);
    const char *why = NULL;
    if (pfs_endpoint_parse(&cfg->parsed_endpoint, cfg->endpoint, &why) != 0)
        return failf(err, "endpoint '%s' is not valid: %s", cfg->endpoint, why);
    if (!pfs_config_is_set(cfg, "addressing"))
        cfg->addressing =
            cfg->parsed_endpoint.host_is_ip ? PFS_ADDRESSING_PATH : PFS_ADDRESSING_VIRTUAL;
    return finish_common(cfg, err);
}

/* What does not depend on the store's endpoint. */
static int finish_common(struct pfs_config *cfg, struct pfs_config_error *err)
{
    if (!pfs_config_is_set(cfg, "url_refresh_margin"))
        cfg->url_refresh_margin = cfg->url_expires / 10;
    if (cfg->multipart_threshold < cfg->part_size && pfs_config_is_set(cfg, "multipart_threshold"))
        return failf(err, "multipart_threshold (%lld) must be at least part_size (%lld)",
                     (long long)cfg->multipart_threshold, (long long)cfg->part_size);
    if (!cfg->cache_dir) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        struct pfs_buf d;
        pfs_buf_init(&d);
        if (geteuid() == 0)
            pfs_buf_puts(&d, "/var/cache/presignfs");
        else if (xdg && *xdg)
            pfs_buf_printf(&d, "%s/presignfs", xdg);
        else if (home && *home)
            pfs_buf_printf(&d, "%s/.cache/presignfs", home);
        else
            pfs_buf_puts(&d, "/tmp/presignfs-cache");
        cfg->default_cache_dir = pfs_buf_detach(&d);
    }
    if (cfg->url_refresh_margin >= cfg->url_expires)
        return failf(err,
                     "url_refresh_margin (%lld s) must be less than url_expires (%lld s), or "
                     "every URL would be re-signed on each use",
                     (long long)cfg->url_refresh_margin, (long long)cfg->url_expires);
    return 0;
}

struct cred_ctx {
    const char *path;
    struct pfs_buf access_key, secret_key, session_token;
    char bad[160];
};

static int cred_handler(void *user, const char *section, const char *name, const char *value)
{
    struct cred_ctx *ctx = user;
    (void)section; /* one profile per file: sections are only decoration */
    struct pfs_buf *dst = NULL;
    if (strcmp(name, "access_key") == 0)
        dst = &ctx->access_key;
    else if (strcmp(name, "secret_key") == 0)
        dst = &ctx->secret_key;
    else if (strcmp(name, "session_token") == 0)
        dst = &ctx->session_token;
    if (!dst) {
        if (!ctx->bad[0])
            snprintf(ctx->bad, sizeof(ctx->bad), "unknown key '%.100s'", name);
        return 0;
    }
    /* Indented continuation lines arrive as repeated calls: join them. */
    pfs_buf_puts(dst, value);
    return 1;
}

/* Opens a file that holds secrets: a regular file readable by its owner
 * only (what names it in messages). Returns the stream or NULL with err. */
static FILE *open_private(const char *path, const char *what, struct pfs_config_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        failf(err, "%s %s: cannot read it: %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        failf(err, "%s %s: not a regular file", what, path);
        return NULL;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH)) {
        fclose(f);
        failf(err, "%s %s has mode %04o: it must not be readable by group or others (chmod 600 %s)",
              what, path, (unsigned)(st.st_mode & 07777), path);
        return NULL;
    }
    return f;
}

static int load_cred_file(struct pfs_cred **out, const char *path, struct pfs_config_error *err)
{
    FILE *f = open_private(path, "credentials file", err);
    if (!f)
        return -1;
    if (check_line_lengths(f, "credentials file", path, err) != 0) {
        fclose(f);
        return -1;
    }
    struct cred_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.path = path;
    int line = ini_parse_file(f, cred_handler, &ctx);
    fclose(f);
    int rc = 0;
    if (line != 0)
        rc = failf(err, "credentials file %s:%d: %s", path, line,
                   ctx.bad[0] ? ctx.bad : "not 'key = value'");
    else if (!ctx.access_key.len || !ctx.secret_key.len)
        rc = failf(err, "credentials file %s: access_key and secret_key are both required", path);
    else if (pfs_buf_status(&ctx.access_key) || pfs_buf_status(&ctx.secret_key) ||
             pfs_buf_status(&ctx.session_token) ||
             pfs_cred_new(out, ctx.access_key.data, ctx.secret_key.data, ctx.session_token.data) !=
                 0)
        rc = failf(err, "credentials file %s: out of memory", path);
    pfs_buf_cleanup_secret(&ctx.access_key);
    pfs_buf_cleanup_secret(&ctx.secret_key);
    pfs_buf_cleanup_secret(&ctx.session_token);
    return rc;
}

int pfs_config_load_credentials(struct pfs_cred **out, const struct pfs_config *cfg,
                                struct pfs_config_error *err)
{
    *out = NULL;
    if (cfg->credentials)
        return load_cred_file(out, cfg->credentials, err);
    int rc = pfs_cred_from_env(out, cfg->dialect);
    if (rc == -ENOENT)
        return failf(err, "missing credentials: set %s and %s (dialect %s), or credentials = FILE",
                     pfs_cred_env_access_name(cfg->dialect), pfs_cred_env_secret_name(cfg->dialect),
                     pfs_dialect_name(cfg->dialect));
    if (rc != 0)
        return failf(err, "reading credentials: out of memory");
    return 0;
}

struct private_ini_ctx {
    pfs_config_ini_handler handler;
    void *user;
    char msg[512];
};

static int private_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct private_ini_ctx *ctx = user;
    if (ctx->msg[0])
        return 0;
    if (ctx->handler(ctx->user, section, name, value, ctx->msg, sizeof(ctx->msg)) == 0)
        return 1;
    if (!ctx->msg[0])
        snprintf(ctx->msg, sizeof(ctx->msg), "bad entry '%.100s'", name);
    return 0;
}

int pfs_config_read_private_ini(const char *path, const char *what, pfs_config_ini_handler handler,
                                void *user, struct pfs_config_error *err)
{
    FILE *f = open_private(path, what, err);
    if (!f)
        return -1;
    if (check_line_lengths(f, what, path, err) != 0) {
        fclose(f);
        return -1;
    }
    struct private_ini_ctx ctx = {.handler = handler, .user = user};
    int line = ini_parse_file(f, private_ini_handler, &ctx);
    fclose(f);
    int rc = 0;
    if (line != 0)
        rc = failf(err, "%s %s:%d: %s", what, path, line,
                   ctx.msg[0] ? ctx.msg : "not 'key = value', a [section] or a comment");
    pfs_crypto_wipe(ctx.msg, sizeof(ctx.msg));
    return rc;
}

int pfs_config_load_signer_token(char **out, const struct pfs_config *cfg,
                                 struct pfs_config_error *err)
{
    *out = NULL;
    if (!cfg->signer_token)
        return failf(err, "signer = %s needs signer_token = FILE (the token alone, mode 0600)",
                     cfg->signer ? cfg->signer : "URL");
    if (!cfg->signer_cert != !cfg->signer_key)
        return failf(err, "signer_cert and signer_key go together");
    if (cfg->signer_key) {
        FILE *kf = open_private(cfg->signer_key, "signer_key", err);
        if (!kf)
            return -1;
        fclose(kf);
    }
    FILE *f = open_private(cfg->signer_token, "signer token file", err);
    if (!f)
        return -1;
    char buf[PFS_SIGNER_TOKEN_MAX + 2];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    int rerr = ferror(f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    int rc = 0;
    if (rerr)
        rc = failf(err, "signer token file %s: read error", cfg->signer_token);
    else if (n == 0)
        rc = failf(err, "signer token file %s is empty", cfg->signer_token);
    else if (n > PFS_SIGNER_TOKEN_MAX)
        rc = failf(err, "signer token file %s: the token is longer than %d bytes",
                   cfg->signer_token, PFS_SIGNER_TOKEN_MAX);
    else if (strpbrk(buf, " \t\r\n"))
        rc = failf(err, "signer token file %s must hold the token alone, on one line",
                   cfg->signer_token);
    else if (!(*out = strdup(buf)))
        rc = failf(err, "signer token file %s: out of memory", cfg->signer_token);
    pfs_crypto_wipe(buf, sizeof(buf));
    return rc;
}
