/* Scripted fake transport (see fake_http.h). */
#include "fake_http.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "crc64.h"

#define FAKE_MAX 256

struct scripted {
    long status;
    char *body;
    char *headers[FAKE_MAX_HEADERS];
    size_t n_headers;
    int err;
    size_t cut; /* non-zero: the body stops after this many bytes (-ECONNRESET) */
};

struct fake_http {
    struct pfs_http http;
    pthread_mutex_t lock;
    struct scripted script[FAKE_MAX];
    size_t n_script, next;
    struct fake_request reqs[FAKE_MAX];
    size_t n_reqs;
    pthread_cond_t changed;
    uint64_t holds; /* requests (indexes below 64) kept before their answer */
    bool held;      /* one of them has arrived and waits */
    /* fake_http_hold_body: request hold_body waits after hold_bytes of its body */
    long hold_body;
    size_t hold_bytes;
    bool body_held; /* that request waits inside its body now */
    /* fake_http_serve_object: the object that answers unscripted ranges */
    unsigned long long obj_size;
    char obj_etag[80];
    char (*obj_byte)(unsigned long long off);
    struct scripted synth[FAKE_MAX]; /* the answers made for it */
};

static char *read_body(const struct pfs_http_body *b, size_t *len, uint64_t *crc)
{
    *len = (size_t)b->len;
    char *p = malloc(*len + 1);
    if (b->data)
        memcpy(p, b->data, *len);
    else if (*len && pread(b->fd, p, *len, b->offset) != (ssize_t)*len)
        abort();
    p[*len] = '\0';
    *crc = pfs_crc64_update(0, p, *len);
    return p;
}

/* A memory sink's body as a transport hands it over: in two pieces when the
 * request is held inside its body (split there), with the sink's watch asked
 * at the first bytes. */
static int deliver_memory(struct fake_http *f, long index, const struct pfs_http_sink *s,
                          struct pfs_http_response *resp, const char *body, size_t len)
{
    uint64_t ok = s->watch ? s->watch->accept(s->watch->ctx, resp) : 0;
    size_t split = len;
    pthread_mutex_lock(&f->lock);
    bool hold = index == f->hold_body && f->hold_bytes <= len;
    if (hold)
        split = f->hold_bytes;
    pthread_mutex_unlock(&f->lock);
    pfs_http_sink_mem_write(s, 0, body, split, ok);
    resp->body_bytes = split;
    if (!hold)
        return 0;
    pthread_mutex_lock(&f->lock);
    f->held = f->body_held = true;
    pthread_cond_broadcast(&f->changed);
    while (f->hold_body == index)
        pthread_cond_wait(&f->changed, &f->lock);
    f->body_held = false;
    pthread_mutex_unlock(&f->lock);
    pfs_http_sink_mem_write(s, split, body + split, len - split, ok);
    resp->body_bytes = len;
    return 0;
}

static int deliver(struct fake_http *f, long index, const struct pfs_http_request *req,
                   struct pfs_http_response *resp, const char *body, size_t cut)
{
    size_t len = cut ? cut : strlen(body);
    if (resp->status < 200 || resp->status >= 300) {
        pfs_buf_append(&resp->error_body, body, len);
        return 0;
    }
    const struct pfs_http_sink *s = &req->sink;
    switch (s->kind) {
    case PFS_SINK_NONE:
        break;
    case PFS_SINK_BUFFER:
        if (s->buf->len + len > s->max)
            return -EFBIG;
        pfs_buf_append(s->buf, body, len);
        break;
    case PFS_SINK_MEMORY:
        if (len > s->mem_len)
            return -EFBIG;
        deliver_memory(f, index, s, resp, body, len);
        if (cut)
            return -ECONNRESET;
        break;
    case PFS_SINK_FD:
        if (pwrite(s->fd, body, len, s->offset) != (ssize_t)len)
            return -EIO;
        break;
    }
    resp->body_bytes = len;
    return 0;
}

/* The served object's answer to req's Range (lock held); 416 without one
 * that fits. */
static struct scripted *answer_range(struct fake_http *f, const struct pfs_http_request *req,
                                     struct scripted *s)
{
    unsigned long long a = 0, b = 0;
    bool ok = false;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, "Range") == 0)
            ok = sscanf(req->headers[i].value, "bytes=%llu-%llu", &a, &b) == 2;
    if (!ok || a > b || a >= f->obj_size) {
        s->status = 416;
        s->body = strdup("");
        return s;
    }
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, "If-Match") == 0 &&
            strcmp(req->headers[i].value, f->obj_etag) != 0) {
            s->status = 412;
            s->body = strdup("<Error><Code>PreconditionFailed</Code></Error>");
            return s;
        }
    if (b >= f->obj_size)
        b = f->obj_size - 1;
    size_t len = (size_t)(b - a + 1);
    s->status = 206;
    s->body = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        s->body[i] = f->obj_byte(a + i);
    s->body[len] = '\0';
    char h[160];
    snprintf(h, sizeof(h), "Content-Range: bytes %llu-%llu/%llu", a, b, f->obj_size);
    s->headers[s->n_headers++] = strdup(h);
    snprintf(h, sizeof(h), "ETag: %s", f->obj_etag);
    s->headers[s->n_headers++] = strdup(h);
    return s;
}

/* Is request index held before its answer now? Lock held. */
static bool held_now(const struct fake_http *f, long index)
{
    return index < 64 && (f->holds >> index) & 1;
}

static int fake_perform(void *ctx, const struct pfs_http_request *req,
                        struct pfs_http_response *resp)
{
    struct fake_http *f = ctx;
    pthread_mutex_lock(&f->lock);
    bool synth = f->next == f->n_script && f->obj_byte && strcmp(req->method, "GET") == 0;
    if (f->n_reqs == FAKE_MAX || (f->next == f->n_script && !synth)) {
        pthread_mutex_unlock(&f->lock);
        resp->transport_error = -EPROTO;
        return -EPROTO; /* an unscripted request: the test will see the failure */
    }
    long index = (long)f->n_reqs;
    struct fake_request *r = &f->reqs[f->n_reqs++];
    struct scripted *s = synth ? NULL : &f->script[f->next++];
    if (held_now(f, index)) {
        f->held = true;
        pthread_cond_broadcast(&f->changed);
        while (held_now(f, index))
            pthread_cond_wait(&f->changed, &f->lock);
    }
    if (synth) /* as the object is once the request goes on */
        s = answer_range(f, req, &f->synth[index]);
    pthread_mutex_unlock(&f->lock);

    r->method = strdup(req->method);
    r->url = strdup(req->url);
    for (size_t i = 0; i < req->n_headers && i < FAKE_MAX_HEADERS; i++) {
        size_t n = strlen(req->headers[i].name) + strlen(req->headers[i].value) + 3;
        r->headers[i] = malloc(n);
        strcpy(r->headers[i], req->headers[i].name);
        strcat(r->headers[i], ": ");
        strcat(r->headers[i], req->headers[i].value);
        r->n_headers = i + 1;
    }
    uint64_t crc = 0;
    if (req->body)
        r->body = read_body(req->body, &r->body_len, &crc);
    if (req->want_crc64)
        resp->crc64_sent = crc;
    if (s->err) {
        resp->transport_error = s->err;
        return s->err;
    }
    resp->status = s->status;
    for (size_t i = 0; i < s->n_headers; i++) {
        const char *colon = strchr(s->headers[i], ':');
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        pfs_http_response_add_header(resp, s->headers[i], (size_t)(colon - s->headers[i]), v,
                                     strlen(v));
    }
    int rc = deliver(f, index, req, resp, s->body ? s->body : "", s->cut);
    if (rc)
        resp->transport_error = rc;
    return rc;
}

static long fake_connections(void *ctx)
{
    (void)ctx;
    return 1;
}

static void fake_destroy(void *ctx)
{
    (void)ctx; /* owned by fake_http_free */
}

static const struct pfs_http_ops fake_ops = {fake_perform, fake_connections, fake_destroy};

struct fake_http *fake_http_new(void)
{
    struct fake_http *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->changed, NULL);
    f->hold_body = -1;
    f->http.ops = &fake_ops;
    f->http.ctx = f;
    return f;
}

struct pfs_http *fake_http_transport(struct fake_http *f)
{
    return &f->http;
}

static void free_scripted(struct scripted *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].body);
        for (size_t j = 0; j < s[i].n_headers; j++)
            free(s[i].headers[j]);
    }
}

void fake_http_free(struct fake_http *f)
{
    free_scripted(f->script, f->n_script);
    free_scripted(f->synth, f->n_reqs);
    for (size_t i = 0; i < f->n_reqs; i++) {
        free(f->reqs[i].method);
        free(f->reqs[i].url);
        free(f->reqs[i].body);
        for (size_t j = 0; j < f->reqs[i].n_headers; j++)
            free(f->reqs[i].headers[j]);
    }
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->changed);
    free(f);
}

void fake_http_push(struct fake_http *f, long status, const char *body, const char *const *headers)
{
    pthread_mutex_lock(&f->lock);
    struct scripted *s = &f->script[f->n_script++];
    s->status = status;
    s->body = body ? strdup(body) : NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        s->headers[s->n_headers++] = strdup(headers[i]);
    pthread_mutex_unlock(&f->lock);
}

void fake_http_push_cut(struct fake_http *f, long status, const char *body,
                        const char *const *headers, size_t cut)
{
    fake_http_push(f, status, body, headers);
    pthread_mutex_lock(&f->lock);
    f->script[f->n_script - 1].cut = cut;
    pthread_mutex_unlock(&f->lock);
}

void fake_http_hold_also(struct fake_http *f, size_t i)
{
    pthread_mutex_lock(&f->lock);
    f->holds |= i < 64 ? 1ull << i : 0;
    pthread_mutex_unlock(&f->lock);
}

void fake_http_release_one(struct fake_http *f, size_t i)
{
    pthread_mutex_lock(&f->lock);
    f->holds &= i < 64 ? ~(1ull << i) : ~0ull;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
}

bool fake_http_body_held(struct fake_http *f)
{
    pthread_mutex_lock(&f->lock);
    bool held = f->body_held;
    pthread_mutex_unlock(&f->lock);
    return held;
}

void fake_http_hold_body(struct fake_http *f, size_t i, size_t bytes)
{
    pthread_mutex_lock(&f->lock);
    f->hold_body = (long)i;
    f->hold_bytes = bytes;
    f->held = false;
    pthread_mutex_unlock(&f->lock);
}

void fake_http_push_error(struct fake_http *f, int err)
{
    pthread_mutex_lock(&f->lock);
    f->script[f->n_script++].err = err;
    pthread_mutex_unlock(&f->lock);
}

void fake_http_hold(struct fake_http *f, size_t i)
{
    pthread_mutex_lock(&f->lock);
    f->holds = i < 64 ? 1ull << i : 0;
    f->held = false;
    pthread_mutex_unlock(&f->lock);
}

void fake_http_wait_held(struct fake_http *f)
{
    pthread_mutex_lock(&f->lock);
    while (!f->held)
        pthread_cond_wait(&f->changed, &f->lock);
    pthread_mutex_unlock(&f->lock);
}

void fake_http_release(struct fake_http *f)
{
    pthread_mutex_lock(&f->lock);
    f->holds = 0;
    f->hold_body = -1;
    f->held = false;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
}

void fake_http_serve_object(struct fake_http *f, unsigned long long size, const char *etag,
                            char (*byte_at)(unsigned long long off))
{
    pthread_mutex_lock(&f->lock);
    f->obj_size = size;
    snprintf(f->obj_etag, sizeof(f->obj_etag), "%s", etag);
    f->obj_byte = byte_at;
    pthread_mutex_unlock(&f->lock);
}

size_t fake_http_count(const struct fake_http *f)
{
    return f->n_reqs;
}

const struct fake_request *fake_http_request(const struct fake_http *f, size_t i)
{
    return i < f->n_reqs ? &f->reqs[i] : NULL;
}

const char *fake_http_header(const struct fake_http *f, size_t i, const char *name)
{
    const struct fake_request *r = fake_http_request(f, i);
    size_t n = strlen(name);
    for (size_t j = 0; r && j < r->n_headers; j++)
        if (strncasecmp(r->headers[j], name, n) == 0 && r->headers[j][n] == ':')
            return r->headers[j] + n + 2;
    return NULL;
}

size_t fake_http_pending(const struct fake_http *f)
{
    return f->n_script - f->next;
}
