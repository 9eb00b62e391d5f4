/* A scripted fake transport: tests queue the responses, the client under test
 * sends its requests into it, and the tests read back what was sent. */
#ifndef PFS_FAKE_HTTP_H
#define PFS_FAKE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

#define FAKE_MAX_HEADERS 32

struct fake_request {
    char *method;
    char *url;
    char *headers[FAKE_MAX_HEADERS]; /* "name: value" as sent */
    size_t n_headers;
    char *body; /* the body bytes sent (NUL-terminated copy) */
    size_t body_len;
};

struct fake_http;

/* The fake's struct pfs_http lives inside it: pass fake_http_transport(f). */
struct fake_http *fake_http_new(void);
void fake_http_free(struct fake_http *f);
struct pfs_http *fake_http_transport(struct fake_http *f);

/* Queues a response. headers: NULL-terminated "name: value" strings, or NULL. */
void fake_http_push(struct fake_http *f, long status, const char *body, const char *const *headers);
/* Queues a response whose body stops after cut bytes: those reach the sink,
 * then the attempt fails with -ECONNRESET. */
void fake_http_push_cut(struct fake_http *f, long status, const char *body,
                        const char *const *headers, size_t cut);
/* Queues a transport failure (-ECONNRESET, -ETIMEDOUT, ...). */
void fake_http_push_error(struct fake_http *f, int err);

/* Request i (counted from 0, in arrival order, below 64) waits inside the
 * transport until fake_http_release, in place of any request held before;
 * fake_http_wait_held returns once it arrived. */
void fake_http_hold(struct fake_http *f, size_t i);
void fake_http_wait_held(struct fake_http *f);
void fake_http_release(struct fake_http *f);
/* Request i hands a memory sink its first bytes (all of them, if bytes is
 * the body's length: the transfer then waits before it ends), then waits
 * until fake_http_release (fake_http_wait_held returns once it does, and
 * fake_http_body_held says so while it waits) before the rest: a reader can
 * act while the body is half there. */
void fake_http_hold_body(struct fake_http *f, size_t i, size_t bytes);
bool fake_http_body_held(struct fake_http *f);
/* Holds request i (below 64) before its answer too, besides the one of
 * fake_http_hold; fake_http_release_one lets one go on to its answer (a
 * hold inside its body stays), fake_http_release lets all holds go. */
void fake_http_hold_also(struct fake_http *f, size_t i);
void fake_http_release_one(struct fake_http *f, size_t i);

/* Once the script is used up, answers every GET with a Range (bytes=A-B) as
 * a store holding an object of size bytes, byte i being byte_at(i), with the
 * ETag etag: 206 with its Content-Range, or 412 to an If-Match naming
 * another ETag; a held request is answered as the object is when it goes
 * on (call again to replace it). byte_at must not return '\0'. */
void fake_http_serve_object(struct fake_http *f, unsigned long long size, const char *etag,
                            char (*byte_at)(unsigned long long off));

size_t fake_http_count(const struct fake_http *f);
const struct fake_request *fake_http_request(const struct fake_http *f, size_t i);
/* The value of header `name` (case-insensitive) in request i, or NULL. */
const char *fake_http_header(const struct fake_http *f, size_t i, const char *name);
/* Responses still queued (a test ends with 0: nothing scripted went unused). */
size_t fake_http_pending(const struct fake_http *f);

#endif
