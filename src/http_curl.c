/* The libcurl transport (see http.h). Easy handles come from a small pool and
 * share one connection cache (CURLSH), so connections stay alive and are
 * reused whichever thread sends the next request. The only module that
 * includes curl. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "http.h"
#include "log.h"

#define USER_AGENT "presignfs/" PFS_VERSION

struct curl_transport {
    struct pfs_http_curl_opts opts;
    char *ca_file;
    char *cert_file, *key_file; /* TLS client certificate (a signer that asks for one) */
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL **idle;
    size_t n_idle, cap_idle;
    _Atomic long connects;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
    (void)h;
    (void)access;
    struct curl_transport *t = user;
    pthread_mutex_lock(&t->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
    (void)h;
    struct curl_transport *t = user;
    pthread_mutex_unlock(&t->share_locks[data]);
}

/* Per-attempt state handed to the callbacks. */
struct transfer {
    CURL *h;
    const struct pfs_http_request *req;
    struct pfs_http_response *resp;
    uint64_t read_pos;    /* next body byte to send */
    uint64_t crc_pos;     /* body bytes covered by resp->crc64_sent */
    int sink_error;       /* -errno when the sink refused data */
    long answer_wait_s;   /* low_speed_time: bound on the wait for an answer */
    bool answered;        /* a status line arrived */
    bool header_flood;    /* the headers went past the caps of http.h */
    bool watch_asked;     /* the sink's watch saw this attempt's headers */
    uint64_t watch_final; /* how many of its bytes it takes (struct pfs_http_watch) */
    double sent_at;       /* monotonic seconds when the last body byte went out; 0: not yet */
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The speed floor averages over the last few seconds, so a body sent in a
 * burst hides a store that then never answers for several seconds more. Once
 * the whole body is out, the answer must start within low_speed_time. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct transfer *x = user;
    (void)dltotal;
    (void)dlnow;
    if (x->answered || ultotal <= 0 || ulnow < ultotal)
        return 0;
    double now = mono_s();
    if (x->sent_at == 0) {
        x->sent_at = now;
        return 0;
    }
    if (now - x->sent_at <= (double)x->answer_wait_s)
        return 0;
    x->sink_error = -ETIMEDOUT;
    return 1;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    struct transfer *x = user;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        x->answered = true;
        /* A new status line (after a 1xx, say): forget earlier headers. */
        pfs_http_response_clear_headers(x->resp);
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    int rc = pfs_http_response_add_header(x->resp, data, name_len, v, (size_t)(end - v));
    if (rc) {
        x->sink_error = rc == -E2BIG ? -EPROTO : rc;
        x->header_flood = rc == -E2BIG;
        return 0; /* aborts the transfer */
    }
    return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *user)
{
    struct transfer *x = user;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) {
        /* Error bodies are only read for their code and message: keep a prefix. */
        size_t room = PFS_HTTP_MAX_ERROR_BODY - x->resp->error_body.len;
        pfs_buf_append(&x->resp->error_body, data, len < room ? len : room);
        return len;
    }
    if (x->req->cancel && atomic_load(x->req->cancel)) {
        x->sink_error = -ECANCELED;
        return 0; /* aborts the transfer */
    }
    const struct pfs_http_sink *s = &x->req->sink;
    switch (s->kind) {
    case PFS_SINK_NONE:
        break;
    case PFS_SINK_BUFFER:
        if (s->buf->len + len > s->max) {
            x->sink_error = -EFBIG;
            return 0;
        }
        pfs_buf_append(s->buf, data, len);
        if (pfs_buf_status(s->buf)) {
            x->sink_error = -ENOMEM;
            return 0;
        }
        break;
    case PFS_SINK_MEMORY:
        if (x->resp->body_bytes + len > s->mem_len) {
            x->sink_error = -EFBIG;
            return 0;
        }
        if (s->watch && !x->watch_asked) {
            x->watch_asked = true;
            x->resp->status = code; /* set only once the transfer ends */
            x->watch_final = s->watch->accept(s->watch->ctx, x->resp);
        }
        pfs_http_sink_mem_write(s, x->resp->body_bytes, data, len, x->watch_final);
        break;
    case PFS_SINK_FD: {
        size_t done = 0;
        while (done < len) {
            ssize_t w = pwrite(s->fd, data + done, len - done,
                               s->offset + (off_t)(x->resp->body_bytes + done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->sink_error = w < 0 ? -errno : -EIO;
                return 0;
            }
            done += (size_t)w;
        }
        break;
    }
    }
    x->resp->body_bytes += len;
    return len;
}

static size_t on_read(char *out, size_t size, size_t n, void *user)
{
    struct transfer *x = user;
    const struct pfs_http_body *b = x->req->body;
    size_t want = size * n;
    uint64_t left = b->len - x->read_pos;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    size_t got;
    if (b->data) {
        memcpy(out, (const char *)b->data + x->read_pos, want);
        got = want;
    } else {
        ssize_t r;
        do
            r = pread(b->fd, out, want, b->offset + (off_t)x->read_pos);
        while (r < 0 && errno == EINTR);
        if (r <= 0) {
            /* The source shrank or failed under us: never send a short body. */
            x->sink_error = r < 0 ? -errno : -EIO;
            return CURL_READFUNC_ABORT;
        }
        got = (size_t)r;
    }
    /* A rewound transfer re-reads bytes already counted: extend the CRC only
     * with bytes past what it covers. */
    if (x->req->want_crc64 && x->read_pos == x->crc_pos) {
        x->resp->crc64_sent = pfs_crc64_update(x->resp->crc64_sent, out, got);
        x->crc_pos += got;
    }
    x->read_pos += got;
    return got;
}

static size_t on_read_nothing(char *out, size_t size, size_t n, void *user)
{
    (void)out;
    (void)size;
    (void)n;
    (void)user;
    return 0;
}

static int on_seek(void *user, curl_off_t offset, int origin)
{
    struct transfer *x = user;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->req->body->len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->read_pos = (uint64_t)offset;
    if (x->req->want_crc64 && x->read_pos < x->crc_pos) {
        x->resp->crc64_sent = 0; /* recomputed from the start as it is re-read */
        x->crc_pos = 0;
        if (x->read_pos != 0)
            return CURL_SEEKFUNC_CANTSEEK;
    }
    return CURL_SEEKFUNC_OK;
}

static int map_curl_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return -ECONNRESET;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return -EPROTO; /* configuration problems: retrying cannot help */
    default:
        return -EIO;
    }
}

static CURL *take_handle(struct curl_transport *t)
{
    CURL *h = NULL;
    pthread_mutex_lock(&t->pool_lock);
    if (t->n_idle)
        h = t->idle[--t->n_idle];
    pthread_mutex_unlock(&t->pool_lock);
    return h ? h : curl_easy_init();
}

static void return_handle(struct curl_transport *t, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&t->pool_lock);
    if (t->n_idle == t->cap_idle) {
        size_t cap = t->cap_idle ? t->cap_idle * 2 : 16;
        CURL **p = realloc(t->idle, cap * sizeof(*p));
        if (p) {
            t->idle = p;
            t->cap_idle = cap;
        }
    }
    if (t->n_idle < t->cap_idle) {
        t->idle[t->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&t->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* Object bytes come from a file (uploads) or go to memory or a file (ranged
 * GETs); everything else is a small request with a small answer. */
static bool carries_object_data(const struct pfs_http_request *req)
{
    if (req->body && !req->body->data && req->body->len > 0)
        return true;
    return req->sink.kind == PFS_SINK_MEMORY || req->sink.kind == PFS_SINK_FD;
}

static int curl_perform(void *ctx, const struct pfs_http_request *req,
                        struct pfs_http_response *resp)
{
    struct curl_transport *t = ctx;
    CURL *h = take_handle(t);
    if (!h) {
        resp->transport_error = -ENOMEM;
        return -ENOMEM;
    }
    struct transfer x = {
        .h = h, .req = req, .resp = resp, .answer_wait_s = t->opts.low_speed_time_s};
    struct curl_slist *hdrs = NULL, *tmp;
    bool has_content_type = false, ok = true;
    struct pfs_buf line;
    pfs_buf_init(&line);
    for (size_t i = 0; i < req->n_headers && ok; i++) {
        pfs_buf_reset(&line);
        pfs_buf_printf(&line, "%s: %s", req->headers[i].name, req->headers[i].value);
        if (strcasecmp(req->headers[i].name, "content-type") == 0)
            has_content_type = true;
        ok = pfs_buf_status(&line) == 0 && (tmp = curl_slist_append(hdrs, line.data)) != NULL;
        if (ok)
            hdrs = tmp;
    }
    pfs_buf_cleanup(&line);
    /* No "Expect: 100-continue" round trip; no form content type on POST. */
    if (ok && (tmp = curl_slist_append(hdrs, "Expect:")) != NULL)
        hdrs = tmp;
    else
        ok = false;
    if (ok && !has_content_type) {
        if ((tmp = curl_slist_append(hdrs, "Content-Type:")) != NULL)
            hdrs = tmp;
        else
            ok = false;
    }
    if (!ok) {
        curl_slist_free_all(hdrs);
        return_handle(t, h);
        resp->transport_error = -ENOMEM;
        return -ENOMEM;
    }

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_SHARE, t->share);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Never follow a redirect: the signed URL (and the body) would go to
     * whatever host the Location names. A 3xx is an answer like any other;
     * the client turns it into an error naming the Location. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    /* HTTP/1.1 only, as the S3 and TOS APIs are specified: the whole-object
     * check needs its framing (Content-Length or chunks with their end), and
     * parallel ranges and parts want connections of their own, not streams
     * of one HTTP/2 connection that ALPN could otherwise pick over TLS. */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, t->opts.connect_timeout_ms);
    /* A stall (no answer after the body went out, or a body that stops
     * moving) is caught by the speed floor, whatever the size: a 64 MiB part
     * on a slow link keeps moving and is never cut. Only a request carrying
     * no object data has a bound on its whole duration, against a store that
     * trickles bytes just above the floor forever. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, t->opts.low_speed_limit);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, t->opts.low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     carries_object_data(req) ? 0L : t->opts.request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    /* The connection cache is shared by every handle; curl would otherwise
     * close idle connections beyond 5 and parallel transfers would reconnect. */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 256L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, req->body && req->body->len > 0 ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    /* Object bodies in bigger pieces than curl's 16 KiB default: a quarter of
     * the receive calls and sink calls per byte (curl(1) itself reads 100 KiB
     * at a time). Measured in bench/README.md (bench_read.sh). */
    if (req->sink.kind == PFS_SINK_MEMORY || req->sink.kind == PFS_SINK_FD)
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (t->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, t->ca_file);
    if (t->cert_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, t->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, t->key_file);
    }
    if (t->opts.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    uint64_t body_len = req->body ? req->body->len : 0;
    if (req->body) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
    }
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
        if (!req->body) /* else curl would read the body from stdin */
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_nothing);
    } else if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (!req->body)
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }

    CURLcode rc = curl_easy_perform(h);
    long connects = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    resp->connects = connects;
    atomic_fetch_add(&t->connects, connects);
    int result = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    } else {
        result = x.sink_error ? x.sink_error : map_curl_error(rc);
        /* Not HTTP on a connection already used: the bytes an earlier answer
         * sent past its Content-Length (curl 7.88 keeps such a connection).
         * curl has closed it now; a fresh one may well work, so this is a
         * reset to retry, not the scheme problem UNSUPPORTED_PROTOCOL means. */
        if (rc == CURLE_UNSUPPORTED_PROTOCOL && connects == 0 && !x.sink_error)
            result = -ECONNRESET;
        resp->transport_error = result;
        /* curl's own sentence says which certificate check failed ("SSL
         * certificate problem: self-signed certificate"); a TLS failure
         * also says which options change what is trusted. */
        bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
        snprintf(resp->transport_message, sizeof(resp->transport_message), "%s%s",
                 x.sink_error == -ETIMEDOUT ? "no answer within low_speed_time of the body"
                 : x.header_flood ? "the response's headers exceed the caps (256 headers, 64 KiB "
                                    "each, 256 KiB in all)"
                 : x.sink_error   ? strerror(-x.sink_error)
                 : errbuf[0]      ? errbuf
                                  : curl_easy_strerror(rc),
                 tls ? " (ca_file = the CA's PEM file trusts it; insecure = true skips the "
                       "check)"
                     : "");
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    return_handle(t, h);
    return result;
}

static long curl_connections(void *ctx)
{
    struct curl_transport *t = ctx;
    return atomic_load(&t->connects);
}

static void curl_destroy(void *ctx)
{
    struct curl_transport *t = ctx;
    for (size_t i = 0; i < t->n_idle; i++)
        curl_easy_cleanup(t->idle[i]);
    free(t->idle);
    if (t->share)
        curl_share_cleanup(t->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&t->share_locks[i]);
    pthread_mutex_destroy(&t->pool_lock);
    free(t->ca_file);
    free(t->cert_file);
    free(t->key_file);
    free(t);
}

static const struct pfs_http_ops curl_ops = {curl_perform, curl_connections, curl_destroy};

int pfs_http_curl_new(struct pfs_http **out, const struct pfs_http_curl_opts *opts)
{
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return -EIO;
    struct pfs_http *h = calloc(1, sizeof(*h));
    struct curl_transport *t = calloc(1, sizeof(*t));
    if (!h || !t) {
        free(h);
        free(t);
        return -ENOMEM;
    }
    if (opts)
        t->opts = *opts;
    if (t->opts.connect_timeout_ms <= 0)
        t->opts.connect_timeout_ms = 10000;
    if (t->opts.low_speed_time_s <= 0)
        t->opts.low_speed_time_s = 30;
    if (t->opts.low_speed_limit <= 0)
        t->opts.low_speed_limit = 1024;
    if (t->opts.request_timeout_ms < 0)
        t->opts.request_timeout_ms = 0;
    t->ca_file = opts && opts->ca_file ? strdup(opts->ca_file) : NULL;
    t->opts.ca_file = t->ca_file;
    t->cert_file = opts && opts->cert_file ? strdup(opts->cert_file) : NULL;
    t->key_file = opts && opts->key_file ? strdup(opts->key_file) : NULL;
    t->opts.cert_file = t->cert_file;
    t->opts.key_file = t->key_file;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&t->share_locks[i], NULL);
    pthread_mutex_init(&t->pool_lock, NULL);
    t->share = curl_share_init();
    if (!t->share) {
        curl_destroy(t);
        free(h);
        return -ENOMEM;
    }
    curl_share_setopt(t->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(t->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(t->share, CURLSHOPT_USERDATA, t);
    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (t->opts.insecure)
        PFS_WARN("TLS certificate verification is off (insecure): the store's identity is not "
                 "checked");
    h->ops = &curl_ops;
    h->ctx = t;
    *out = h;
    return 0;
}
