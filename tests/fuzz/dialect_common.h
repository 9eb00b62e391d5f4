/* Runs one of a dialect's response parsers, chosen by sel, over body; every
 * result is cleaned up and its invariants checked. Shared by fuzz_s3_xml.c
 * and fuzz_tos_json.c. */
#ifndef PFS_FUZZ_DIALECT_COMMON_H
#define PFS_FUZZ_DIALECT_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "status.h"

static inline void fuzz_dialect(const struct pfs_dialect_ops *d, uint8_t sel, const char *body,
                                size_t len)
{
    switch (sel % 6) {
    case 0: {
        struct pfs_status st;
        pfs_status_clear(&st);
        d->parse_error(body, len, &st);
        char line[512];
        pfs_status_describe(&st, line, sizeof(line));
        if (strlen(line) >= sizeof(line))
            abort();
        break;
    }
    case 1: {
        struct pfs_list_page p;
        memset(&p, 0, sizeof(p));
        if (d->parse_list(body, len, &p) == 0) {
            if (p.n_entries + p.n_prefixes > PFS_LIST_MAX_ITEMS)
                abort();
            for (size_t i = 0; i < p.n_entries; i++)
                if (!p.entries[i].key || memchr(p.entries[i].etag, '\0', 80) == NULL)
                    abort();
            /* The keys as the listing code decodes them (EncodingType url). */
            pfs_list_page_url_decode(&p);
        }
        pfs_list_page_cleanup(&p);
        break;
    }
    case 2: {
        char *id = NULL;
        if (d->parse_upload_id(body, len, &id) == 0 && !id)
            abort();
        free(id);
        break;
    }
    case 3: {
        char etag[80];
        struct pfs_status st;
        pfs_status_clear(&st);
        if (d->parse_etag_result(body, len, etag, &st) == 0 && !memchr(etag, '\0', sizeof(etag)))
            abort();
        break;
    }
    case 4: {
        struct pfs_delete_result r;
        memset(&r, 0, sizeof(r));
        d->parse_delete_result(body, len, &r);
        pfs_delete_result_cleanup(&r);
        break;
    }
    default: {
        struct pfs_upload_list l;
        memset(&l, 0, sizeof(l));
        if (d->parse_uploads(body, len, &l) == 0 && l.n > PFS_LIST_MAX_ITEMS)
            abort();
        pfs_upload_list_cleanup(&l);
        break;
    }
    }
}

#endif
