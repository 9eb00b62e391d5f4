/* The S3 dialect's XML parsers (dialect_s3.c): the first byte picks the
 * parser (error, listing, upload id, copy/complete result, delete result,
 * uploads), the rest is the body as a store would send it. */
#include "dialect_common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel;
    fuzz_split(&data, &size, &sel);
    fuzz_dialect(&pfs_dialect_s3, sel, (const char *)data, size);
    return 0;
}
