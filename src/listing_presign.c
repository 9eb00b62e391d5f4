/* The URLs of a listing's HEAD fan-out (metadata=head), signed in batches
 * before the HEADs start: through a signing service an `ls -l` of N entries
 * then costs ceil(N / batch) calls instead of N. Kept out of lookup.c so the
 * fan-out needs only one call. */
#include <stdlib.h>

#include "fs_internal.h"

void pfs_lookup_presign_heads(struct pfs_fs *fs, const struct pfs_listing *l, const char *dir_key)
{
    char **keys = calloc(l->n ? l->n : 1, sizeof(*keys));
    if (!keys)
        return; /* an optimisation: each HEAD signs its own */
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!l->e[i].meta_fetched)
            keys[n++] = pfs_sb_child_key(dir_key, l->e[i].name, l->e[i].is_dir);
    pfs_client_presign_heads(fs->client, (const char *const *)keys, n);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}
