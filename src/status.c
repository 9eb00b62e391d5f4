/* Store outcomes and their errno (see status.h). */
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void pfs_status_clear(struct pfs_status *st)
{
    memset(st, 0, sizeof(*st));
}

/* The fields come from whatever answered, which may be hostile: control
 * characters become spaces, so a described status stays one log line and
 * cannot forge others. */
static void copy_field(char *dst, size_t cap, const char *src)
{
    if (!src)
        return;
    snprintf(dst, cap, "%s", src);
    for (char *c = dst; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
}

void pfs_status_set(struct pfs_status *st, const char *code, const char *message,
                    const char *request_id)
{
    copy_field(st->service_code, sizeof(st->service_code), code);
    copy_field(st->message, sizeof(st->message), message);
    copy_field(st->request_id, sizeof(st->request_id), request_id);
}

void pfs_status_set_region(struct pfs_status *st, const char *region)
{
    copy_field(st->store_region, sizeof(st->store_region), region);
}

void pfs_status_set_endpoint(struct pfs_status *st, const char *endpoint)
{
    copy_field(st->store_endpoint, sizeof(st->store_endpoint), endpoint);
}

int pfs_status_errno(const struct pfs_status *st)
{
    if (st->error == 0)
        return 0;
    return -st->error;
}

bool pfs_status_permanent(const struct pfs_status *st)
{
    /* Signature and clock problems are fixed by a fresh URL or a corrected
     * clock, not by giving up on the data. */
    static const char *const resignable[] = {"SignatureDoesNotMatch", "RequestTimeTooSkewed",
                                             "ExpiredToken",          "InvalidToken",
                                             "AccessDenied.Expired",  "RequestExpired"};
    for (size_t i = 0; i < sizeof(resignable) / sizeof(resignable[0]); i++)
        if (strcmp(st->service_code, resignable[i]) == 0)
            return false;
    if (strstr(st->message, "expired"))
        return false;
    switch (-st->error) {
    case EACCES:
    case EPERM:
    case ENAMETOOLONG:
    case EFBIG:
    case ENOSPC:
    case EDQUOT:
    case ENOTSUP:
    case EINVAL:
    case EROFS:
        return true;
    default:
        return false;
    }
}

void pfs_status_describe(const struct pfs_status *st, char *out, size_t out_len)
{
    char what[64];
    if (st->http_status)
        snprintf(what, sizeof(what), "HTTP %ld", st->http_status);
    else
        snprintf(what, sizeof(what), "no response");
    snprintf(out, out_len, "%s%s%s: %s (%s%s%s%d attempt%s)", what, st->service_code[0] ? " " : "",
             st->service_code, st->message[0] ? st->message : strerror(pfs_status_errno(st)),
             st->request_id[0] ? "request id " : "", st->request_id, st->request_id[0] ? ", " : "",
             st->attempts, st->attempts == 1 ? "" : "s");
}
