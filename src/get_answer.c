/* Checks of a GET's answer (see get_answer.h). */
#include "get_answer.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int pfs_header_decimal_u64(uint64_t *out, const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    return *s ? -1 : (*out = v, 0);
}

const char *pfs_get_answer_partial_fault(const struct pfs_http_response *resp, uint64_t offset,
                                         uint64_t len, uint64_t got)
{
    const char *cr = pfs_http_response_header(resp, "content-range");
    uint64_t first, last, total = 0;
    char slash = 0, star = 0;
    int n = cr && strncmp(cr, "bytes ", 6) == 0
                ? sscanf(cr + 6, "%" SCNu64 "-%" SCNu64 "%c%c", &first, &last, &slash, &star)
                : 0;
    if (n < 3 || slash != '/' || last < first)
        return "a 206 without a valid Content-Range";
    bool known = sscanf(strchr(cr, '/') + 1, "%" SCNu64, &total) == 1;
    if (first != offset)
        return "Content-Range does not start at the requested offset";
    if (got != last - first + 1)
        return "the body's length is not the Content-Range's";
    if (len != UINT64_MAX && got > len)
        return "the store sent more bytes than asked for";
    if ((len == UINT64_MAX || got < len) && (!known || last + 1 != total))
        return "the store sent fewer bytes than asked for, short of the object's end";
    return NULL;
}

const char *pfs_get_answer_whole_fault(const struct pfs_http_response *resp, uint64_t got)
{
    uint64_t declared;
    const char *te = pfs_http_response_header(resp, "transfer-encoding");
    if (pfs_header_decimal_u64(&declared, pfs_http_response_header(resp, "content-length")) == 0)
        return declared == got ? NULL : "the body's length is not its Content-Length";
    return te && strcasestr(te, "chunked") ? NULL : "a 200 without a Content-Length";
}

uint64_t pfs_get_answer_total(const struct pfs_http_response *resp, uint64_t offset)
{
    if (resp->status == 200 && offset == 0)
        return resp->body_bytes;
    const char *cr = pfs_http_response_header(resp, "content-range");
    const char *slash = cr ? strchr(cr, '/') : NULL;
    uint64_t total;
    char extra;
    if (!slash || sscanf(slash + 1, "%" SCNu64 "%c", &total, &extra) != 1)
        return UINT64_MAX;
    return total;
}

bool pfs_get_answer_same_etag(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= 2 && a[0] == '"' && a[la - 1] == '"')
        a++, la -= 2;
    if (lb >= 2 && b[0] == '"' && b[lb - 1] == '"')
        b++, lb -= 2;
    return la == lb && memcmp(a, b, la) == 0;
}

uint64_t pfs_get_answer_streamable(const struct pfs_http_response *resp, uint64_t offset,
                                   uint64_t len, const char *etag)
{
    const char *got = pfs_http_response_header(resp, "etag");
    if (!etag || !*etag || !got || !pfs_get_answer_same_etag(etag, got) || len == 0)
        return 0;
    if (resp->status == 200) {
        uint64_t declared;
        if (offset != 0)
            return 0;
        if (pfs_header_decimal_u64(&declared, pfs_http_response_header(resp, "content-length")))
            return len;
        return declared < len ? declared : len;
    }
    if (resp->status != 206)
        return 0;
    const char *cr = pfs_http_response_header(resp, "content-range");
    uint64_t first, last;
    char slash;
    bool ok = cr && strncmp(cr, "bytes ", 6) == 0 &&
              sscanf(cr + 6, "%" SCNu64 "-%" SCNu64 "%c", &first, &last, &slash) == 3 &&
              slash == '/' && first == offset && last >= first && last - first < len;
    return ok ? last - first + 1 : 0;
}
