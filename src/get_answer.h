/* What a GET's answer must be before its body is taken as the object's
 * bytes: a 206 holds exactly the range its Content-Range names, a 200 a body
 * whose length the transport checked. A store or proxy that lies would
 * otherwise make a file look shorter or shifted. Also the whole object's
 * size an answer states, and the decimal header value GET and HEAD share. */
#ifndef PFS_GET_ANSWER_H
#define PFS_GET_ANSWER_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"

/* NULL when the 206 answer to a GET of len bytes (UINT64_MAX: to the end)
 * from offset, with got body bytes, holds exactly the bytes its
 * Content-Range names, starting at offset, no more than asked for, and fewer
 * only at the end of the object; otherwise why not (a sentence). */
const char *pfs_get_answer_partial_fault(const struct pfs_http_response *resp, uint64_t offset,
                                         uint64_t len, uint64_t got);

/* NULL when a 200 of got body bytes carries a length the transport checked
 * (Content-Length, or chunks with their terminator: a body that merely ends
 * when the connection closes may have been cut short); otherwise why not. */
const char *pfs_get_answer_whole_fault(const struct pfs_http_response *resp, uint64_t got);

/* The whole object's size the answer to a GET from offset states: "bytes
 * a-b/TOTAL" of a 206, the body of a 200 from offset 0; UINT64_MAX when it
 * states none ("/ *"). */
uint64_t pfs_get_answer_total(const struct pfs_http_response *resp, uint64_t offset);

/* Do two ETags name the same version? Listings and headers may differ in
 * the quotes around the value. */
bool pfs_get_answer_same_etag(const char *a, const char *b);

/* Before any of its body arrived: how many of the first bytes of this
 * answer to a GET of len bytes from offset may be read as they come, as
 * the version etag (NULL or "": none)? A 206 naming that ETag whose
 * Content-Range starts at offset and holds no more than len bytes: the
 * range's length; a 200 to a GET from 0 naming it: len, or its
 * Content-Length if shorter. 0 for anything else. The checks of the whole
 * answer still follow its end. */
uint64_t pfs_get_answer_streamable(const struct pfs_http_response *resp, uint64_t offset,
                                   uint64_t len, const char *etag);

/* A header's unsigned decimal value (digits only, no sign or space, no
 * overflow): 0 and *out set, or -1 (s NULL included). */
int pfs_header_decimal_u64(uint64_t *out, const char *s);

#endif
