/* The metrics endpoint (see metrics_http.h). One internal polling thread:
 * a scrape renders a few KiB from atomics and one short fs->lock walk, so
 * a thread pool would buy nothing. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define METRICS_CONN_TIMEOUT_S 10
#define METRICS_MAX_CONNECTIONS 32

struct pfs_metrics_http {
    struct MHD_Daemon *d;
    pfs_metrics_collect_fn collect;
    void *ctx;
};

/* "HOST:PORT" or "[V6]:PORT" into host and port; -1 when malformed. */
static int split(const char *text, char *host, size_t host_len, const char **port_out)
{
    const char *port;
    size_t n;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return -1;
        n = (size_t)(close - text - 1);
        if (n >= host_len)
            return -1;
        memcpy(host, text + 1, n);
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text || strchr(text, ':') != colon)
            return -1;
        n = (size_t)(colon - text);
        if (n >= host_len)
            return -1;
        memcpy(host, text, n);
        port = colon + 1;
    }
    host[n] = '\0';
    if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        atoi(port) > 65535)
        return -1;
    *port_out = port;
    return 0;
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

int pfs_metrics_http_listen(const char *addr, bool *loopback_out, char *msg, size_t msg_len)
{
    char host[256];
    const char *port;
    if (split(addr, host, sizeof(host), &port) != 0) {
        snprintf(msg, msg_len, "metrics=%s: expected HOST:PORT or [V6]:PORT", addr);
        return -EINVAL;
    }
    /* Numeric only: a name could resolve to something else tomorrow, and
     * a mount should not wait for DNS. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV},
                    *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0 || !ai) {
        snprintf(msg, msg_len, "metrics=%s: %s is not an IP address", addr, host);
        return -EINVAL;
    }
    *loopback_out = is_loopback(ai->ai_addr);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, rc = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        rc = -errno;
        snprintf(msg, msg_len, "metrics=%s: cannot listen: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    freeaddrinfo(ai);
    return rc ? rc : fd;
}

int pfs_metrics_http_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    struct pfs_metrics_http *h = cls;
    static const char text[] = "text/plain; charset=utf-8";
    if (*upload_data_size) { /* a body nobody asked for: read and dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "only GET\n", 9);
    if (strcmp(url, "/metrics") != 0) {
        static const char nf[] = "not found: the metrics are at /metrics\n";
        return reply(conn, MHD_HTTP_NOT_FOUND, text, nf, sizeof(nf) - 1);
    }
    struct pfs_metrics m;
    memset(&m, 0, sizeof(m));
    h->collect(h->ctx, &m);
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_metrics_prometheus(&b, &m);
    enum MHD_Result ret;
    if (pfs_buf_status(&b) != 0)
        ret = reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n", 14);
    else
        ret = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                    b.data ? b.data : "", b.len);
    pfs_buf_cleanup(&b);
    return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    PFS_WARN("metrics server: %s", line);
}

int pfs_metrics_http_start(struct pfs_metrics_http **out, int fd, pfs_metrics_collect_fn collect,
                           void *ctx)
{
    struct pfs_metrics_http *h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return -ENOMEM;
    }
    h->collect = collect;
    h->ctx = ctx;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    bool v6 = getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET6;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                                (v6 ? MHD_USE_IPv6 : 0),
                            0, NULL, NULL, answer, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)METRICS_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)METRICS_MAX_CONNECTIONS, MHD_OPTION_END);
    if (!h->d) {
        close(fd);
        free(h);
        return -EIO;
    }
    *out = h;
    return 0;
}

void pfs_metrics_http_free(struct pfs_metrics_http *h)
{
    if (!h)
        return;
    /* Quiesced, the listening socket is ours to close; otherwise
     * MHD_stop_daemon closes it. Either way it is closed once. */
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    MHD_stop_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    free(h);
}
