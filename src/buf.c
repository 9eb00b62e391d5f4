/* Growable byte buffer (see buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

void pfs_buf_init(struct pfs_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void pfs_buf_cleanup(struct pfs_buf *b)
{
    free(b->data);
    pfs_buf_init(b);
}

void pfs_buf_cleanup_secret(struct pfs_buf *b)
{
    if (b->data)
        pfs_crypto_wipe(b->data, b->cap);
    pfs_buf_cleanup(b);
}

void pfs_buf_reset(struct pfs_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = '\0';
}

static bool reserve(struct pfs_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra > (size_t)-1 / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void pfs_buf_append(struct pfs_buf *b, const void *data, size_t len)
{
    if (!reserve(b, len))
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void pfs_buf_puts(struct pfs_buf *b, const char *s)
{
    pfs_buf_append(b, s, strlen(s));
}

void pfs_buf_putc(struct pfs_buf *b, char c)
{
    pfs_buf_append(b, &c, 1);
}

void pfs_buf_printf(struct pfs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        pfs_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int pfs_buf_status(const struct pfs_buf *b)
{
    return b->oom ? -ENOMEM : 0;
}

char *pfs_buf_detach(struct pfs_buf *b)
{
    if (b->oom) {
        pfs_buf_cleanup(b);
        return NULL;
    }
    if (!b->data) {
        if (!reserve(b, 0))
            return NULL;
        b->data[0] = '\0';
    }
    char *p = b->data;
    pfs_buf_init(b);
    return p;
}
