/* The transport interface: one HTTP attempt, no retries, no signing. The
 * client talks only to this vtable, so tests script a fake transport and the
 * real one (http_curl.c) is the only module that includes libcurl. */
#ifndef PFS_HTTP_H
#define PFS_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "sign.h"

/* Hard caps on what a response may make us hold. */
#define PFS_HTTP_MAX_HEADERS 256
#define PFS_HTTP_MAX_HEADER_BYTES (64 * 1024)  /* one header, name and value */
#define PFS_HTTP_MAX_HEADER_TOTAL (256 * 1024) /* all headers of one response */
#define PFS_HTTP_MAX_ERROR_BODY (64 * 1024)

/* Where a request body comes from: len bytes of data, or, when data is NULL,
 * len bytes of fd starting at offset (read with pread, so a retry can re-send
 * it from the start). */
struct pfs_http_body {
    const void *data;
    int fd;
    off_t offset;
    uint64_t len;
};

enum pfs_http_sink_kind {
    PFS_SINK_NONE,   /* discard (HEAD, DELETE, PUT responses) */
    PFS_SINK_BUFFER, /* append to buf, failing past max bytes */
    PFS_SINK_MEMORY, /* copy into mem[0..mem_len), failing past it */
    PFS_SINK_FD,     /* pwrite into fd from offset on */
};

/* Where a successful (2xx) response body goes. Bodies of other statuses go
 * to the response's error_body instead. */
struct pfs_http_sink {
    enum pfs_http_sink_kind kind;
    struct pfs_buf *buf;
    size_t max;
    void *mem;
    size_t mem_len;
    int fd;
    off_t offset;
    /* PFS_SINK_MEMORY, may be NULL: lets a reader take the body's first bytes
     * while the rest still arrives (see struct pfs_http_watch). */
    struct pfs_http_watch *watch;
};

struct pfs_http_response;

/* Bytes of a memory sink that may be read before the transfer ends. At an
 * attempt's first body bytes, accept sees its status and headers and says
 * how many of that answer's first bytes are the ones asked for (range,
 * version; 0: none); from then on grew is called as they land, up to that
 * many. mem[0, valid) is final: no attempt, a retry included, writes below
 * valid again (a retry of the same request carries the same bytes there, or
 * is an answer accept refused, whose bytes above valid nobody reads).
 * Written by the transport only. */
struct pfs_http_watch {
    uint64_t (*accept)(void *ctx, const struct pfs_http_response *resp);
    void (*grew)(void *ctx, size_t valid);
    void *ctx;
    size_t valid;
};

/* Writes len body bytes at mem + at of a memory sink, as the watch (if any)
 * says: below its valid mark nothing is written; the mark moves up to
 * final, what this attempt's accept returned. Transports call it for
 * PFS_SINK_MEMORY. */
void pfs_http_sink_mem_write(const struct pfs_http_sink *s, uint64_t at, const void *data,
                             size_t len, uint64_t final);

struct pfs_http_request {
    const char *method;
    const char *url;
    const struct pfs_kv *headers; /* sent as given (signed or not) */
    size_t n_headers;
    const struct pfs_http_body *body; /* NULL: no body */
    struct pfs_http_sink sink;
    bool want_crc64; /* compute the CRC-64/ECMA of the body bytes sent */
    /* When set and it becomes non-zero, the transfer stops with -ECANCELED
     * (checked as body bytes arrive: read-ahead nobody will read). */
    const _Atomic int *cancel;
};

struct pfs_http_header {
    char *name; /* lower-case */
    char *value;
};

struct pfs_http_response {
    long status;
    struct pfs_http_header *headers;
    size_t n_headers;
    size_t header_bytes;       /* names and values held, at most PFS_HTTP_MAX_HEADER_TOTAL */
    struct pfs_buf error_body; /* body of a non-2xx response, at most PFS_HTTP_MAX_ERROR_BODY */
    uint64_t body_bytes;       /* bytes delivered to the sink */
    uint64_t crc64_sent;       /* when want_crc64: CRC of the body bytes sent */
    long connects;             /* new connections this attempt opened */
    int transport_error;       /* -errno when no complete response arrived */
    char transport_message[256];
};

void pfs_http_response_init(struct pfs_http_response *r);
void pfs_http_response_cleanup(struct pfs_http_response *r);
/* Drops the headers only (a transport saw a new status line). */
void pfs_http_response_clear_headers(struct pfs_http_response *r);
/* Empties r for another attempt. */
void pfs_http_response_reset(struct pfs_http_response *r);
/* Adds a header (name is lower-cased). Returns 0, or -E2BIG past the caps
 * (count, size of one, size of all). */
int pfs_http_response_add_header(struct pfs_http_response *r, const char *name, size_t name_len,
                                 const char *value, size_t value_len);
/* The value of header lname (lower-case), or NULL. */
const char *pfs_http_response_header(const struct pfs_http_response *r, const char *lname);

struct pfs_http_ops {
    /* Performs one attempt. Returns 0 when a complete response arrived (of any
     * status), or the -errno of a transport failure (also in
     * resp->transport_error): -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EIO for
     * other network errors, -EFBIG when a sink overflowed, -ENOMEM. Safe to call
     * from many threads at once. */
    int (*perform)(void *ctx, const struct pfs_http_request *req, struct pfs_http_response *resp);
    /* Total new connections opened so far. */
    long (*connections)(void *ctx);
    void (*destroy)(void *ctx);
};

struct pfs_http {
    const struct pfs_http_ops *ops;
    void *ctx;
};

static inline int pfs_http_perform(struct pfs_http *h, const struct pfs_http_request *req,
                                   struct pfs_http_response *resp)
{
    return h->ops->perform(h->ctx, req, resp);
}

/* NULL-safe. */
void pfs_http_free(struct pfs_http *h);

/* Options of the libcurl transport. */
struct pfs_http_curl_opts {
    long connect_timeout_ms; /* default 10 s */
    long low_speed_time_s; /* abort a transfer slower than low_speed_limit this long; default 30 */
    long low_speed_limit;  /* bytes/s; default 1024 */
    /* Whole-request limit of a request that moves no object data either way
     * (no body from a file, no response into memory or a file); 0: none. */
    long request_timeout_ms;
    const char *ca_file;   /* NULL: the system store */
    const char *cert_file; /* PEM client certificate for TLS, or NULL */
    const char *key_file;  /* PEM private key of cert_file */
    bool insecure;         /* skip TLS verification (logged as a warning) */
};

/* Returns 0 or -ENOMEM / -EIO (libcurl could not initialise). */
int pfs_http_curl_new(struct pfs_http **out, const struct pfs_http_curl_opts *opts);

#endif
