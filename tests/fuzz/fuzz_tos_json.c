/* The TOS dialect's JSON parsers (dialect_tos.c), chosen by the first byte
 * as in fuzz_s3_xml.c. */
#include "dialect_common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel;
    fuzz_split(&data, &size, &sel);
    fuzz_dialect(&pfs_dialect_tos, sel, (const char *)data, size);
    return 0;
}
