/* The check verb: diagnoses configuration, credentials, endpoint and bucket
 * with two cheap requests, so a wrong setting shows as one clear line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "status.h"
#include "store.h"

int pfs_cli_check(int argc, char **argv, FILE *out, FILE *err)
{
    const char **opts = calloc((size_t)argc + 1, sizeof(*opts));
    size_t n_opts = 0;
    if (!opts)
        return PFS_EXIT_FAILURE;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
        if (c == 'o') {
            opts[n_opts++] = optarg;
        } else if (c == 'h') {
            pfs_cli_usage(out);
            free(opts);
            return PFS_EXIT_OK;
        } else {
            fprintf(err, "presignfs check: unknown or incomplete option '%s' (see --help)\n",
                    argv[optind - 1]);
            free(opts);
            return PFS_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(err, "presignfs check: expected BUCKET (see --help)\n");
        free(opts);
        return PFS_EXIT_USAGE;
    }
    const char *bucket = argv[optind];
    struct pfs_config cfg;
    struct pfs_config_error cerr;
    pfs_config_init(&cfg);
    struct pfs_cred *cred = NULL;
    struct pfs_store *store = NULL;
    int status = PFS_EXIT_USAGE;
    if (pfs_config_load(&cfg, opts, n_opts, &cerr) != 0 ||
        (!cfg.signer && pfs_config_load_credentials(&cred, &cfg, &cerr) != 0)) {
        fprintf(err, "presignfs: %s\n", cerr.msg);
        goto out;
    }
    /* The verdict lines say it all; the daemon's warnings would repeat them. */
    pfs_log_set_level(pfs_config_is_set(&cfg, "log_level") ? cfg.log_level : PFS_LOG_ERROR);
    fprintf(out, "configuration: %s\n", cfg.source_file ? cfg.source_file : "(no file)");
    if (cfg.signer) {
        /* Keyless: the signer names the store. */
        if (pfs_store_open(&store, &cfg, NULL, bucket, &cerr) != 0) {
            fprintf(out, "signer:        %s: FAILED: %s\n", cfg.signer, cerr.msg);
            fprintf(err, "presignfs: %s\n", cerr.msg);
            status = PFS_EXIT_FAILURE;
            goto out;
        }
        fprintf(out, "signer:        %s: answers, client %s with %s access (token %s)\n",
                cfg.signer, store->signer_client, store->signer_access, cfg.signer_token);
        fprintf(out, "endpoint:      %s (dialect %s, from the signer)\n", store->endpoint,
                pfs_dialect_name(store->dialect));
        fprintf(out, "credentials:   none on this host\n");
    } else {
        fprintf(out, "endpoint:      %s (dialect %s, region %s, %s addressing)\n", cfg.endpoint,
                pfs_dialect_name(cfg.dialect), cfg.region,
                cfg.addressing == PFS_ADDRESSING_PATH ? "path" : "virtual");
        fprintf(out, "credentials:   %s, access key %.4s..., %s session token\n",
                cfg.credentials ? cfg.credentials : "environment", cred->access_key,
                cred->session_token ? "with a" : "no");
        if (pfs_store_open(&store, &cfg, cred, bucket, &cerr) != 0) {
            fprintf(err, "presignfs: %s\n", cerr.msg);
            status = PFS_EXIT_FAILURE;
            goto out;
        }
    }
    struct pfs_status st;
    char what[600];
    status = PFS_EXIT_FAILURE;
    if (pfs_client_head_bucket(store->client, &st) != 0) {
        pfs_cli_explain_bucket_check(&st, cfg.region, false);
        pfs_status_describe(&st, what, sizeof(what));
        fprintf(out, "bucket:        %s: FAILED: %s\n", bucket, what);
        fprintf(err, "presignfs: bucket %s at %s does not answer: %s\n", bucket, store->endpoint,
                what);
        goto out;
    }
    fprintf(out, "bucket:        %s: answers (HEAD, %d attempt%s)\n", bucket, st.attempts,
            st.attempts == 1 ? "" : "s");
    struct pfs_list_page page;
    struct pfs_list_params lp = {.max_keys = 1, .delimiter = "/"};
    if (pfs_client_list(store->client, &page, &lp, &st) != 0) {
        pfs_status_describe(&st, what, sizeof(what));
        fprintf(out, "listing:       FAILED: %s\n", what);
        fprintf(err, "presignfs: cannot list bucket %s: %s\n", bucket, what);
        goto out;
    }
    fprintf(out, "listing:       works (%s)\n",
            page.n_entries + page.n_prefixes ? "the bucket has entries" : "the bucket is empty");
    pfs_list_page_cleanup(&page);
    status = PFS_EXIT_OK;
out:
    pfs_store_close(store);
    if (!store && status == PFS_EXIT_USAGE)
        pfs_cred_free(cred);
    pfs_config_cleanup(&cfg);
    free(opts);
    return status;
}

void pfs_cli_explain_bucket_check(struct pfs_status *st, const char *region, bool suggest_check)
{
    long long skew = st->clock_skew, mag = skew < 0 ? -skew : skew;
    if (st->has_clock_skew &&
        (mag > PFS_STATUS_MAX_SKEW || strcmp(st->service_code, "RequestTimeTooSkewed") == 0)) {
        char msg[sizeof(st->message)];
        snprintf(msg, sizeof(msg),
                 "this machine's clock is %lld s %s the store's (at most %d s are allowed): "
                 "correct it (NTP)",
                 mag, skew > 0 ? "behind" : "ahead of", PFS_STATUS_MAX_SKEW);
        pfs_status_set(st, "RequestTimeTooSkewed", msg, NULL);
    } else if (st->store_region[0] && (!region || strcmp(region, st->store_region) != 0)) {
        char msg[sizeof(st->message)], code[sizeof(st->service_code)];
        snprintf(msg, sizeof(msg),
                 "wrong region%s%.64s%s: the store says the bucket is in '%s' "
                 "(region = %s)",
                 region ? " '" : "", region ? region : "", region ? "'" : "", st->store_region,
                 st->store_region);
        snprintf(code, sizeof(code), "%s", st->service_code[0] ? st->service_code : "WrongRegion");
        pfs_status_set(st, code, msg, NULL);
    } else if (st->http_status == 404) {
        pfs_status_set(st, "NoSuchBucket", "the bucket does not exist", NULL);
    } else if (st->http_status == 403) {
        /* The message of a body-less 403 is the store's error code header
         * (x-tos-ec), if any: keep it, after what it usually means. */
        char msg[sizeof(st->message)];
        snprintf(msg, sizeof(msg),
                 "the store refused the bucket check%s%.64s%s: usually a wrong access key, secret "
                 "key or region%s",
                 st->message[0] ? " (" : "", st->message, st->message[0] ? ")" : "",
                 suggest_check ? "; `presignfs check` says more" : "");
        char code[sizeof(st->service_code)];
        snprintf(code, sizeof(code), "%s", st->service_code[0] ? st->service_code : "AccessDenied");
        pfs_status_set(st, code, msg, NULL);
    }
}
