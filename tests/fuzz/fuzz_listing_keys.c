/* Listing key decoding: each line of the input is a key or prefix as a store
 * sends it with EncodingType url. The page decoder must refuse bad escapes
 * and NUL bytes cleanly; form-encoding a key and decoding it again gives the
 * key back. */
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "fuzz.h"
#include "uri.h"

static void roundtrip(const char *s, size_t len)
{
    struct pfs_buf enc, dec;
    pfs_buf_init(&enc);
    pfs_buf_init(&dec);
    pfs_uri_encode(&enc, s, len, true);
    if (pfs_buf_status(&enc) == 0) {
        if (pfs_uri_decode_form(&dec, enc.data ? enc.data : "", enc.len) != 0)
            abort();
        if (dec.len != len || (len && memcmp(dec.data, s, len) != 0))
            abort();
    }
    pfs_buf_cleanup(&enc);
    pfs_buf_cleanup(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pfs_list_page p;
    memset(&p, 0, sizeof(p));
    size_t n = 0;
    for (size_t i = 0; i < size; i++)
        n += data[i] == '\n';
    n++;
    if (n > 256)
        n = 256;
    p.entries = calloc(n, sizeof(*p.entries));
    p.prefixes = calloc(n, sizeof(*p.prefixes));
    if (!p.entries || !p.prefixes)
        abort();
    const uint8_t *s = data, *end = data + size;
    for (size_t i = 0; i < n && s <= end; i++) {
        const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        /* Raw bytes (a key may hold anything but NUL) survive a round trip. */
        roundtrip((const char *)s, len);
        struct pfs_buf plain;
        pfs_buf_init(&plain);
        (void)pfs_uri_decode(&plain, (const char *)s, len);
        pfs_buf_cleanup(&plain);
        char *k = fuzz_cstr(s, len);
        if (i % 2 == 0)
            p.entries[p.n_entries++].key = k;
        else
            p.prefixes[p.n_prefixes++] = k;
        s += len + 1;
    }
    if (pfs_list_page_url_decode(&p) == 0) {
        for (size_t i = 0; i < p.n_entries; i++)
            if (!p.entries[i].key)
                abort();
        for (size_t i = 0; i < p.n_prefixes; i++)
            if (!p.prefixes[i])
                abort();
    }
    pfs_list_page_cleanup(&p);
    return 0;
}
