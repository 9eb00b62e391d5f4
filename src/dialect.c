/* Dialect-independent parts of dialect.h: cleanup of parsed results. */
#include "dialect.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>

#include "uri.h"

void pfs_list_page_cleanup(struct pfs_list_page *p)
{
    for (size_t i = 0; i < p->n_entries; i++) {
        free(p->entries[i].key);
        for (size_t j = 0; j < p->entries[i].n_meta; j++) {
            free(p->entries[i].meta[j].name);
            free(p->entries[i].meta[j].value);
        }
        free(p->entries[i].meta);
    }
    free(p->entries);
    for (size_t i = 0; i < p->n_prefixes; i++)
        free(p->prefixes[i]);
    free(p->prefixes);
    free(p->next_token);
    memset(p, 0, sizeof(*p));
}

void pfs_delete_result_cleanup(struct pfs_delete_result *r)
{
    for (size_t i = 0; i < r->n_errors; i++)
        free(r->errors[i].key);
    free(r->errors);
    memset(r, 0, sizeof(*r));
}

void pfs_upload_list_cleanup(struct pfs_upload_list *l)
{
    for (size_t i = 0; l->v && i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].upload_id);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

const struct pfs_dialect_ops *pfs_dialect_ops_for(enum pfs_dialect d)
{
    return d == PFS_DIALECT_S3 ? &pfs_dialect_s3 : &pfs_dialect_tos;
}

/* With encoding-type=url the store encodes keys and prefixes as a form does
 * (so control characters survive XML and JSON): a space is '+', a literal '+'
 * is %2B (AWS; botocore decodes with unquote_plus). Decode them in place. */
static int decode_in_place(char **s)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    int rc = pfs_uri_decode_form(&b, *s, strlen(*s));
    if (rc == 0 && b.len && memchr(b.data, '\0', b.len))
        rc = -EPROTO; /* a NUL byte cannot be part of a name */
    if (rc) {
        pfs_buf_cleanup(&b);
        return rc == -ENOMEM ? rc : -EPROTO;
    }
    char *d = pfs_buf_detach(&b);
    if (!d)
        return -ENOMEM;
    free(*s);
    *s = d;
    return 0;
}

int pfs_list_page_url_decode(struct pfs_list_page *p)
{
    for (size_t i = 0; i < p->n_entries; i++) {
        int rc = decode_in_place(&p->entries[i].key);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < p->n_prefixes; i++) {
        int rc = decode_in_place(&p->prefixes[i]);
        if (rc)
            return rc;
    }
    return 0;
}
