/* The presign verb: the TOS documentation's use case of handing a URL to
 * someone who holds no keys (see cli.h). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "sign.h"
#include "urlsource.h"

void pfs_cli_usage(FILE *out)
{
    fprintf(out,
            "Usage:\n"
            "  presignfs [-o opt,...] [-f] [-d] BUCKET[:PREFIX] MOUNTPOINT   mount a bucket\n"
            "  presignfs presign [-o opt,...] [-X METHOD] [--expires SECONDS]\n"
            "                    [--at YYYYMMDDTHHMMSSZ] [--query NAME[=VALUE]]...\n"
            "                    [--header 'NAME: VALUE']... BUCKET [KEY]\n"
            "                                            print a presigned URL\n"
            "  presignfs check [-o opt,...] BUCKET       check configuration, credentials and "
            "bucket\n"
            "  presignfs signer [-o opt,...] --listen ADDR:PORT --clients FILE\n"
            "                                            serve presigned URLs to token holders\n"
            "  presignfs status [--json] CACHE_DIR|MOUNTPOINT\n"
            "                                            list uploads pending in the journal\n"
            "  presignfs stats [--json] MOUNTPOINT      live counters of a mount's daemon\n"
            "  presignfs --version | --help\n"
            "\n"
            "presign prints one URL that lets anyone holding it send METHOD (default GET) to\n"
            "BUCKET/KEY (or to the bucket itself without KEY) until it expires. --query adds a\n"
            "signed query parameter (split at the first '='; none means valueless), --header a\n"
            "header the user of the URL must send unchanged.\n"
            "\n"
            "Options (-o key=value, or key = value in the configuration file):\n");
    const char *name;
    const char *help;
    for (size_t i = 0; (help = pfs_config_option_help(i, &name)) != NULL; i++)
        fprintf(out, "  %-20s %s\n", name, help);
    fprintf(out,
            "\nCredentials: TOS_ACCESS_KEY, TOS_SECRET_KEY, TOS_SECURITY_TOKEN (dialect tos);\n"
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (dialect s3);\n"
            "or credentials = FILE. Exit status: 0 ok, 1 failure, 2 bad usage or "
            "configuration.\n");
}

int pfs_cli_parse_time(long long *out, const char *t)
{
    if (strlen(t) != 16 || t[8] != 'T' || t[15] != 'Z')
        return -EINVAL;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)t[i]))
            return -EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int v[6], pos[6] = {0, 4, 6, 9, 11, 13}, len[6] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (int j = 0; j < len[i]; j++)
            v[i] = v[i] * 10 + (t[pos[i] + j] - '0');
    }
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 ||
        v[5] > 60)
        return -EINVAL;
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    time_t when = timegm(&tm);
    struct tm back;
    /* timegm normalises 31 February into March: refuse what does not round-trip. */
    if (when == (time_t)-1 || !gmtime_r(&when, &back) || back.tm_mday != v[2] ||
        back.tm_mon != v[1] - 1)
        return -EINVAL;
    *out = (long long)when;
    return 0;
}

struct presign_args {
    const char **opts;
    size_t n_opts;
    const char *method;
    const char *expires;
    const char *at;
    struct pfs_kv *query;
    size_t n_query;
    struct pfs_kv *headers;
    size_t n_headers;
    char *scratch; /* storage for split query/header strings */
    size_t scratch_used;
};

static void free_args(struct presign_args *a)
{
    free(a->opts);
    free(a->query);
    free(a->headers);
    free(a->scratch);
}

static char *scratch_dup(struct presign_args *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = a->scratch + a->scratch_used;
    memcpy(p, s, n);
    a->scratch_used += n;
    return p;
}

/* presign through a signer: one URL from the service, or its refusal. */
static int presign_remote(const struct pfs_config *cfg, const struct pfs_sign_request *req,
                          long long expires, FILE *out, FILE *err)
{
    struct pfs_config_error cerr;
    char *token = NULL;
    if (pfs_config_load_signer_token(&token, cfg, &cerr) != 0) {
        fprintf(err, "presignfs: %s\n", cerr.msg);
        return PFS_EXIT_USAGE;
    }
    struct pfs_url_source_remote_opts ro = {
        .url = cfg->signer,
        .token = token,
        .ca_file = cfg->signer_ca,
        .cert_file = cfg->signer_cert,
        .key_file = cfg->signer_key,
        .connect_timeout_ms = (long)cfg->connect_timeout * 1000,
        .expires = expires,
    };
    struct pfs_url_source *src = NULL;
    int rc = pfs_url_source_remote_new(&src, &ro);
    pfs_crypto_wipe(token, strlen(token));
    free(token);
    if (rc) {
        fprintf(err, "presignfs presign: cannot set up the signer client: %s\n", strerror(-rc));
        return PFS_EXIT_FAILURE;
    }
    /* The source logs why it failed, once (stderr): that line is the message. */
    char *url = NULL;
    int64_t expires_at = 0;
    rc = pfs_url_source_presign(src, &url, &expires_at, req, pfs_clock_now(&pfs_clock_realtime));
    pfs_url_source_free(src);
    if (rc == 0) {
        fprintf(out, "%s\n", url);
        free(url);
        return fflush(out) == 0 ? PFS_EXIT_OK : PFS_EXIT_FAILURE;
    }
    return rc == -EACCES || rc == -EINVAL ? PFS_EXIT_USAGE : PFS_EXIT_FAILURE;
}

int pfs_cli_presign(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        {"expires", required_argument, NULL, 'e'}, {"at", required_argument, NULL, 't'},
        {"query", required_argument, NULL, 'q'},   {"header", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    struct presign_args a;
    memset(&a, 0, sizeof(a));
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += strlen(argv[i]) + 1;
    a.opts = calloc((size_t)argc + 1, sizeof(*a.opts));
    a.query = calloc((size_t)argc + 1, sizeof(*a.query));
    a.headers = calloc((size_t)argc + 1, sizeof(*a.headers));
    a.scratch = malloc(total + 1);
    a.method = "GET";
    int status = PFS_EXIT_USAGE;
    if (!a.opts || !a.query || !a.headers || !a.scratch) {
        fprintf(err, "presignfs presign: out of memory\n");
        free_args(&a);
        return PFS_EXIT_FAILURE;
    }

    optind = 0; /* full getopt reset: this may run more than once per process */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+o:X:H:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a.opts[a.n_opts++] = optarg;
            break;
        case 'X': {
            char *m = scratch_dup(&a, optarg);
            for (char *p = m; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            a.method = m;
            break;
        }
        case 'e':
            a.expires = optarg;
            break;
        case 't':
            a.at = optarg;
            break;
        case 'q': {
            char *q = scratch_dup(&a, optarg);
            char *eq = strchr(q, '=');
            if (eq)
                *eq = '\0';
            a.query[a.n_query++] = (struct pfs_kv){q, eq ? eq + 1 : NULL};
            break;
        }
        case 'H': {
            char *h = scratch_dup(&a, optarg);
            char *colon = strchr(h, ':');
            if (!colon) {
                fprintf(err, "presignfs presign: --header '%s': expected 'NAME: VALUE'\n", optarg);
                goto out;
            }
            *colon = '\0';
            a.headers[a.n_headers++] = (struct pfs_kv){h, colon + 1};
            break;
        }
        case 'h':
            pfs_cli_usage(out);
            status = PFS_EXIT_OK;
            goto out;
        default:
            fprintf(err, "presignfs presign: unknown or incomplete option '%s' (see --help)\n",
                    argv[optind - 1]);
            goto out;
        }
    }
    int rest = argc - optind;
    if (rest < 1 || rest > 2) {
        fprintf(err, "presignfs presign: expected BUCKET [KEY] (see --help)\n");
        goto out;
    }
    const char *bucket = argv[optind];
    const char *key = rest == 2 ? argv[optind + 1] : "";

    struct pfs_config cfg;
    struct pfs_config_error cerr;
    pfs_config_init(&cfg);
    struct pfs_cred *cred = NULL;
    if (pfs_config_load(&cfg, a.opts, a.n_opts, &cerr) != 0 ||
        (!cfg.signer && pfs_config_load_credentials(&cred, &cfg, &cerr) != 0)) {
        fprintf(err, "presignfs: %s\n", cerr.msg);
        goto out_cfg;
    }

    long long expires = cfg.url_expires;
    if (a.expires) {
        char *end;
        errno = 0;
        expires = strtoll(a.expires, &end, 10);
        if (errno || *end || end == a.expires || expires < PFS_EXPIRES_MIN ||
            expires > PFS_EXPIRES_MAX) {
            fprintf(err, "presignfs presign: --expires %s: must be between 1 and 604800 seconds\n",
                    a.expires);
            goto out_cfg;
        }
    }
    long long now = pfs_clock_now(&pfs_clock_realtime);
    if (a.at && pfs_cli_parse_time(&now, a.at) != 0) {
        fprintf(err, "presignfs presign: --at %s: expected a UTC time like 20240115T083000Z\n",
                a.at);
        goto out_cfg;
    }

    struct pfs_sign_request req = {
        .method = a.method,
        .bucket = bucket,
        .key = key,
        .key_len = strlen(key),
        .query = a.query,
        .n_query = a.n_query,
        .headers = a.headers,
        .n_headers = a.n_headers,
    };
    if (cfg.signer) {
        /* Keyless: the signer signs (at its own time, within its policy). */
        if (a.at) {
            fprintf(err, "presignfs presign: --at cannot be used with signer = URL\n");
            goto out_cfg;
        }
        status = presign_remote(&cfg, &req, expires, out, err);
        goto out_cfg;
    }
    struct pfs_sign_params params = {
        .dialect = cfg.dialect,
        .endpoint = &cfg.parsed_endpoint,
        .region = cfg.region,
        .addressing = cfg.addressing,
        .access_key = cred->access_key,
        .secret_key = cred->secret_key,
        .session_token = cred->session_token,
    };
    char *url = NULL;
    const char *why = "out of memory";
    int rc = pfs_sign_presign(&url, &params, &req, now, expires, &why);
    if (rc == 0) {
        fprintf(out, "%s\n", url);
        free(url);
        status = fflush(out) == 0 ? PFS_EXIT_OK : PFS_EXIT_FAILURE;
    } else {
        fprintf(err, "presignfs presign: %s\n", why);
        status = rc == -ENOMEM ? PFS_EXIT_FAILURE : PFS_EXIT_USAGE;
    }

out_cfg:
    pfs_cred_free(cred);
    pfs_config_cleanup(&cfg);
out:
    free_args(&a);
    return status;
}
