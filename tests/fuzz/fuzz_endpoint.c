/* Endpoint URLs (endpoint = ..., signer = ...): parsed, then the authority
 * curl and the signer both use is built from the result. A parse either
 * fails with a sentence or yields a NUL-terminated lower-case host. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct pfs_endpoint ep;
    const char *why = NULL;
    if (pfs_endpoint_parse(&ep, text, &why) == 0) {
        if (!memchr(ep.host, '\0', sizeof(ep.host)) || !ep.host[0] || ep.port > 65535)
            abort();
        for (const char *c = ep.host; *c; c++)
            if (isupper((unsigned char)*c))
                abort();
        struct pfs_buf a;
        pfs_buf_init(&a);
        pfs_endpoint_authority(&a, &ep, "bucket");
        pfs_endpoint_authority(&a, &ep, NULL);
        pfs_buf_cleanup(&a);
    } else if (!why || !*why) {
        abort();
    }
    free(text);
    return 0;
}
