/* Growable byte buffer: the one string builder every module uses, so URL and
 * canonical-request assembly has a single, bounds-checked place to grow memory. */
#ifndef PFS_BUF_H
#define PFS_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct pfs_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    bool oom; /* sticky: once an append failed, every later append is a no-op */
};

void pfs_buf_init(struct pfs_buf *b);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void pfs_buf_cleanup(struct pfs_buf *b);
/* Like cleanup, but overwrites the bytes first (for buffers that held secrets). */
void pfs_buf_cleanup_secret(struct pfs_buf *b);
void pfs_buf_reset(struct pfs_buf *b);

void pfs_buf_append(struct pfs_buf *b, const void *data, size_t len);
void pfs_buf_puts(struct pfs_buf *b, const char *s);
void pfs_buf_putc(struct pfs_buf *b, char c);
void pfs_buf_printf(struct pfs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns 0, or -ENOMEM if any append since init/reset failed. */
int pfs_buf_status(const struct pfs_buf *b);

/* Hands the NUL-terminated storage to the caller (who frees it with free()) and
 * leaves the buffer empty. Returns NULL if an append failed (storage is freed). */
char *pfs_buf_detach(struct pfs_buf *b);

#endif
