/* Metadata values another tool may have stored: each line "name=value" of
 * the input becomes one user metadata pair for the attribute reader (mode,
 * uid, gid, mtime as s3fs writes them); the same values go to the time
 * parsers and the xattr decoder, whose re-encoding must decode to the same
 * set. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meta.h"
#include "timefmt.h"
#include "xattrs.h"

#define MAX_PAIRS 16

static void xattr_roundtrip(const char *v)
{
    struct pfs_xattrs x = {0}, y = {0};
    if (pfs_xattrs_parse(&x, v) == 0) {
        int err = 0;
        char *enc = pfs_xattrs_encode(&x, &err);
        if (enc) {
            if (pfs_xattrs_parse(&y, enc) != 0 || y.n != x.n)
                abort();
            for (size_t i = 0; i < x.n; i++)
                if (strcmp(x.e[i].name, y.e[i].name) != 0 || x.e[i].len != y.e[i].len ||
                    (x.e[i].len && memcmp(x.e[i].value, y.e[i].value, x.e[i].len) != 0))
                    abort();
            free(enc);
        }
    }
    pfs_xattrs_cleanup(&x);
    pfs_xattrs_cleanup(&y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct pfs_meta_kv kv[MAX_PAIRS];
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && n < MAX_PAIRS;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        kv[n].name = line;
        kv[n].value = eq + 1;
        n++;
    }
    struct pfs_objmeta m;
    memset(&m, 0, sizeof(m));
    pfs_meta_parse(&m, kv, n);
    if (m.has_mtime && m.mtime_ns >= 1000000000u)
        abort();
    struct pfs_meta_out out;
    size_t k = pfs_meta_format(&out, &m);
    if (k > PFS_META_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        int64_t sec;
        uint32_t ns;
        if (pfs_meta_parse_time(&sec, &ns, kv[i].value) == 0 && ns >= 1000000000u)
            abort();
        (void)pfs_time_parse_iso8601(&sec, kv[i].value);
        (void)pfs_time_parse_http(&sec, kv[i].value);
        xattr_roundtrip(kv[i].value);
    }
    free(text);
    return 0;
}
