/* Transport-independent response helpers (see http.h). */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pfs_http_response_init(struct pfs_http_response *r)
{
    memset(r, 0, sizeof(*r));
    pfs_buf_init(&r->error_body);
}

void pfs_http_response_clear_headers(struct pfs_http_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->n_headers = 0;
    r->header_bytes = 0;
}

void pfs_http_response_cleanup(struct pfs_http_response *r)
{
    pfs_http_response_clear_headers(r);
    pfs_buf_cleanup(&r->error_body);
    memset(r, 0, sizeof(*r));
}

void pfs_http_response_reset(struct pfs_http_response *r)
{
    pfs_http_response_cleanup(r);
    pfs_http_response_init(r);
}

int pfs_http_response_add_header(struct pfs_http_response *r, const char *name, size_t name_len,
                                 const char *value, size_t value_len)
{
    if (r->n_headers >= PFS_HTTP_MAX_HEADERS || name_len + value_len > PFS_HTTP_MAX_HEADER_BYTES ||
        r->header_bytes + name_len + value_len > PFS_HTTP_MAX_HEADER_TOTAL)
        return -E2BIG;
    if (r->n_headers % 16 == 0) {
        struct pfs_http_header *h = realloc(r->headers, (r->n_headers + 16) * sizeof(*r->headers));
        if (!h)
            return -ENOMEM;
        r->headers = h;
    }
    char *n = strndup(name, name_len), *v = strndup(value, value_len);
    if (!n || !v) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    for (char *p = n; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    r->headers[r->n_headers++] = (struct pfs_http_header){n, v};
    r->header_bytes += name_len + value_len;
    return 0;
}

const char *pfs_http_response_header(const struct pfs_http_response *r, const char *lname)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i].name, lname) == 0)
            return r->headers[i].value;
    return NULL;
}

void pfs_http_free(struct pfs_http *h)
{
    if (!h)
        return;
    h->ops->destroy(h->ctx);
    free(h);
}

void pfs_http_sink_mem_write(const struct pfs_http_sink *s, uint64_t at, const void *data,
                             size_t len, uint64_t final)
{
    struct pfs_http_watch *w = s->watch;
    uint64_t end = at + len, from = w && w->valid > at ? w->valid : at;
    if (end > from)
        memcpy((char *)s->mem + from, (const char *)data + (from - at), (size_t)(end - from));
    uint64_t mark = end < final ? end : final;
    if (w && mark > w->valid) {
        w->valid = (size_t)mark;
        w->grew(w->ctx, w->valid);
    }
}
