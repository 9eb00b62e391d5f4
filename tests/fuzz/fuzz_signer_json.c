/* The signing service's request and answer bodies (signer_json.c): the
 * first byte picks the parser (a presign batch, results for 1..8 URLs, the
 * service description), the rest is the body. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "signer_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel;
    fuzz_split(&data, &size, &sel);
    const char *body = (const char *)data;
    char why[256] = "";
    switch (sel % 3) {
    case 0: {
        struct pfs_signer_batch b;
        memset(&b, 0, sizeof(b));
        int rc = pfs_signer_json_parse_request(&b, body, size, why, sizeof(why));
        if (rc == 0) {
            if (b.n_items > PFS_SIGNER_MAX_BATCH)
                abort();
            /* What was accepted can be sent again: re-encode it. */
            struct pfs_sign_request *reqs = calloc(b.n_items + 1, sizeof(*reqs));
            int64_t *exp = calloc(b.n_items + 1, sizeof(*exp));
            if (!reqs || !exp)
                abort();
            for (size_t i = 0; i < b.n_items; i++) {
                reqs[i] = b.items[i].req;
                exp[i] = b.items[i].expires;
            }
            struct pfs_buf out;
            pfs_buf_init(&out);
            pfs_signer_json_encode_request(&out, reqs, exp, b.n_items);
            pfs_buf_cleanup(&out);
            free(reqs);
            free(exp);
        } else if (rc != -ENOMEM && !why[0]) {
            abort();
        }
        pfs_signer_batch_cleanup(&b);
        break;
    }
    case 1: {
        size_t n = 1 + (sel >> 2) % 8;
        struct pfs_signer_result r[8];
        memset(r, 0, sizeof(r));
        if (pfs_signer_json_parse_results(r, n, body, size, why, sizeof(why)) == 0)
            for (size_t i = 0; i < n; i++)
                if (r[i].error == 0 && !r[i].url)
                    abort();
        for (size_t i = 0; i < n; i++)
            pfs_signer_result_cleanup(&r[i]);
        break;
    }
    default: {
        struct pfs_signer_info info;
        memset(&info, 0, sizeof(info));
        if (pfs_signer_json_parse_info(&info, body, size, why, sizeof(why)) == 0 &&
            (!memchr(info.endpoint, '\0', sizeof(info.endpoint)) ||
             !memchr(info.region, '\0', sizeof(info.region))))
            abort();
        break;
    }
    }
    return 0;
}
