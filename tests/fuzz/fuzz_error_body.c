/* Error bodies as any store, proxy or signer may send them: the same bytes
 * through the S3 and TOS error parsers and the signer's error reader, then
 * into the one-line description and errno the mount reports. */
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "fuzz.h"
#include "signer_json.h"
#include "status.h"

static void one(const struct pfs_dialect_ops *d, long http, const char *body, size_t len)
{
    struct pfs_status st;
    pfs_status_clear(&st);
    st.http_status = http;
    d->parse_error(body, len, &st);
    if (!memchr(st.service_code, '\0', sizeof(st.service_code)) ||
        !memchr(st.message, '\0', sizeof(st.message)) ||
        !memchr(st.request_id, '\0', sizeof(st.request_id)))
        abort();
    st.error = -5;
    char line[512];
    pfs_status_describe(&st, line, sizeof(line));
    /* The description is one line whatever the store sent. */
    if (strchr(line, '\n'))
        abort();
    (void)pfs_status_errno(&st);
    (void)pfs_status_permanent(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel;
    fuzz_split(&data, &size, &sel);
    long http = 400 + sel % 200;
    one(&pfs_dialect_s3, http, (const char *)data, size);
    one(&pfs_dialect_tos, http, (const char *)data, size);
    char code[64], message[256];
    pfs_signer_json_parse_error((const char *)data, size, code, sizeof(code), message,
                                sizeof(message));
    if (!memchr(code, '\0', sizeof(code)) || !memchr(message, '\0', sizeof(message)))
        abort();
    return 0;
}
