/* The signer verb: the signing service (signer.c) behind libmicrohttpd, with
 * TLS, SIGHUP reloads and a clean stop on SIGTERM/SIGINT. The only module that
 * includes libmicrohttpd. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "signer.h"
#include "signer_json.h"
#include "signer_tls.h"

#define SIGNER_THREADS 4
#define SIGNER_CONN_TIMEOUT_S 30

struct conn_state {
    struct pfs_buf body;
    bool too_big;
};

static void peer_text(struct MHD_Connection *conn, char *out, size_t out_len)
{
    snprintf(out, out_len, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)out_len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)out_len);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct pfs_signer *s = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof(*cs));
        if (!cs)
            return MHD_NO;
        pfs_buf_init(&cs->body);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (cs->body.len + *upload_data_size > PFS_SIGNER_MAX_BODY)
            cs->too_big = true;
        else
            pfs_buf_append(&cs->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct pfs_signer_reply reply;
    pfs_signer_reply_init(&reply);
    if (cs->too_big || pfs_buf_status(&cs->body)) {
        reply.status = cs->too_big ? 413 : 500;
        pfs_signer_json_encode_error(&reply.body, cs->too_big ? "too_large" : "internal",
                                     cs->too_big ? "the request body is too large"
                                                 : "out of memory");
    } else {
        char peer[INET6_ADDRSTRLEN + 1];
        peer_text(conn, peer, sizeof(peer));
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        struct timespec mono;
        clock_gettime(CLOCK_MONOTONIC, &mono);
        const union MHD_ConnectionInfo *tci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        struct pfs_signer_peer_cert cert;
        pfs_signer_tls_peer_cert(&cert, tci ? tci->tls_session : NULL);
        pfs_signer_handle_tls(s, &reply, method, url, auth, &cert, cs->body.data, cs->body.len,
                              peer, pfs_clock_now(&pfs_clock_realtime),
                              (double)mono.tv_sec + (double)mono.tv_nsec / 1e9);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        reply.body.len, reply.body.data ? reply.body.data : (char *)"", MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_NO;
    if (resp) {
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Cache-Control", "no-store");
        if (reply.retry_after > 0) {
            char ra[24];
            snprintf(ra, sizeof(ra), "%d", reply.retry_after);
            MHD_add_response_header(resp, "Retry-After", ra);
        }
        ret = MHD_queue_response(conn, (unsigned)reply.status, resp);
        MHD_destroy_response(resp);
    }
    pfs_signer_reply_cleanup(&reply);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct conn_state *cs = *con_cls;
    if (cs) {
        pfs_buf_cleanup(&cs->body);
        free(cs);
        *con_cls = NULL;
    }
}

/* libmicrohttpd hands us its own printf format: declared as one, so clang's
 * -Wformat-nonliteral accepts the vsnprintf below. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    PFS_WARN("http server: %s", line);
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) ==
               127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* "HOST:PORT" or "[V6]:PORT". */
static int resolve_listen(const char *text, struct sockaddr_storage *out, socklen_t *len_out)
{
    char host[256];
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return -1;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host) || colon == text)
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    if (!*port)
        return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return -1;
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    *len_out = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static char *read_file(const char *path, bool private_key, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "presignfs signer: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        fprintf(err, "presignfs signer: %s: not a regular file of at most 1 MiB\n", path);
        fclose(f);
        return NULL;
    }
    if (private_key && (st.st_mode & (S_IRGRP | S_IROTH))) {
        fprintf(err,
                "presignfs signer: tls_key %s has mode %04o: it must not be readable by group "
                "or others (chmod 600 %s)\n",
                path, (unsigned)(st.st_mode & 07777), path);
        fclose(f);
        return NULL;
    }
    char *data = calloc(1, (size_t)st.st_size + 1);
    if (data && fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(data);
        data = NULL;
        fprintf(err, "presignfs signer: %s: read error\n", path);
    }
    fclose(f);
    return data;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: presignfs signer [-o opt,...] --listen ADDR:PORT --clients FILE "
                 "[--ready FILE]\n"
                 "Serves presigned URLs to clients holding a token (doc/SIGNER.md).\n");
}

int pfs_cli_signer(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"clients", required_argument, NULL, 'c'},
                                             {"ready", required_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char **opts = calloc((size_t)argc + 1, sizeof(*opts));
    size_t n_opts = 0;
    const char *listen = NULL, *clients = NULL, *ready = NULL;
    if (!opts)
        return PFS_EXIT_FAILURE;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            opts[n_opts++] = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'c':
            clients = optarg;
            break;
        case 'r':
            ready = optarg;
            break;
        case 'h':
            usage(out);
            free(opts);
            return PFS_EXIT_OK;
        default:
            fprintf(err, "presignfs signer: unknown or incomplete option '%s' (see --help)\n",
                    argv[optind - 1]);
            free(opts);
            return PFS_EXIT_USAGE;
        }
    }
    if (!listen || !clients || optind != argc) {
        fprintf(err, "presignfs signer: expected --listen ADDR:PORT --clients FILE\n");
        free(opts);
        return PFS_EXIT_USAGE;
    }
    int status = PFS_EXIT_USAGE;
    struct pfs_config cfg;
    struct pfs_config_error cerr;
    pfs_config_init(&cfg);
    struct pfs_signer *signer = NULL;
    struct MHD_Daemon *d = NULL;
    char *cert = NULL, *key = NULL, *client_ca = NULL;
    struct pfs_cred *cred = NULL;
    sigset_t sigs, old;
    bool masked = false;
    if (pfs_config_load(&cfg, opts, n_opts, &cerr) != 0) {
        fprintf(err, "presignfs: %s\n", cerr.msg);
        goto out;
    }
    if (cfg.signer || !cfg.endpoint) {
        fprintf(err, "presignfs signer: the signer needs the store's endpoint and region and "
                     "its own credentials, not signer = URL\n");
        goto out;
    }
    /* Audit lines are info: shown unless a level is chosen explicitly. */
    pfs_log_set_level(pfs_config_is_set(&cfg, "log_level") ? cfg.log_level : PFS_LOG_INFO);
    if (cfg.logfile && pfs_log_open_file(cfg.logfile) != 0) {
        fprintf(err, "presignfs signer: logfile %s: %s\n", cfg.logfile, strerror(errno));
        goto out;
    }
    if (pfs_config_load_credentials(&cred, &cfg, &cerr) != 0) {
        fprintf(err, "presignfs: %s\n", cerr.msg);
        goto out;
    }
    int src = pfs_signer_new(&signer, &cfg, cred, clients, &cerr);
    cred = NULL; /* taken over, also on error */
    if (src != 0) {
        fprintf(err, "presignfs: %s\n", cerr.msg);
        goto out;
    }
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    if (resolve_listen(listen, &addr, &addr_len) != 0) {
        fprintf(err, "presignfs signer: --listen %s: expected HOST:PORT or [V6]:PORT\n", listen);
        goto out;
    }
    bool tls = cfg.tls_cert || cfg.tls_key;
    if (tls && !(cfg.tls_cert && cfg.tls_key)) {
        fprintf(err, "presignfs signer: tls_cert and tls_key go together\n");
        goto out;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fprintf(err, "presignfs signer: this libmicrohttpd has no TLS support\n");
        goto out;
    }
    if (tls && (!(cert = read_file(cfg.tls_cert, false, err)) ||
                !(key = read_file(cfg.tls_key, true, err))))
        goto out;
    if (cfg.tls_client_ca && !tls) {
        fprintf(err, "presignfs signer: tls_client_ca needs tls_cert and tls_key (client "
                     "certificates exist only over TLS)\n");
        goto out;
    }
    if (cfg.tls_client_ca && !(client_ca = read_file(cfg.tls_client_ca, false, err)))
        goto out;
    if (!tls && !is_loopback((struct sockaddr *)&addr))
        PFS_WARN("serving plain HTTP on %s, which is not a loopback address: tokens and URLs "
                 "cross the network in clear text (set tls_cert and tls_key)",
                 listen);

    /* The server's threads inherit this mask: signals reach only sigwait. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    masked = true;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
        /* libmicrohttpd then asks every client for a certificate (optional
         * in the handshake); the client's section decides whether it must. */
        {client_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, client_ca},
        {MHD_OPTION_END, 0, NULL},
    };
    d = MHD_start_daemon(
        flags, 0, NULL, NULL, answer, signer, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)SIGNER_THREADS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SIGNER_CONN_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!d) {
        fprintf(err, "presignfs signer: cannot listen on %s: %s\n", listen, strerror(errno));
        status = PFS_EXIT_FAILURE;
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    PFS_INFO("signer listening on %s (port %u, %s), signing for %s (dialect %s, region %s)", listen,
             port, tls ? "https" : "plain http", cfg.endpoint, pfs_dialect_name(cfg.dialect),
             cfg.region);
    if (ready) {
        FILE *rf = fopen(ready, "w");
        if (!rf || fprintf(rf, "%u\n", port) < 0 || fclose(rf) != 0) {
            fprintf(err, "presignfs signer: --ready %s: %s\n", ready, strerror(errno));
            status = PFS_EXIT_FAILURE;
            goto out;
        }
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig != SIGHUP) {
            PFS_INFO("signer stopping (signal %d)", sig);
            break;
        }
        if (pfs_signer_reload(signer, &cerr) == 0)
            PFS_INFO("signer reloaded %s%s", clients,
                     cfg.credentials ? " and the credentials file" : "");
        else
            PFS_ERROR("reload failed, the previous clients and credentials stay in force: %s",
                      cerr.msg);
    }
    status = PFS_EXIT_OK;
out:
    if (d)
        MHD_stop_daemon(d);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    pfs_cred_free(cred);
    pfs_signer_free(signer);
    if (key) {
        pfs_crypto_wipe(key, strlen(key));
        free(key);
    }
    free(cert);
    free(client_ca);
    pfs_config_cleanup(&cfg);
    free(opts);
    return status;
}
