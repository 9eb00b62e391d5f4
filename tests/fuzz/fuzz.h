/* The one entry point every fuzz target defines. libFuzzer calls it in a
 * fuzzing build (-fsanitize=fuzzer); replay.c calls it with each corpus file
 * in the ordinary builds, so gcc and the sanitizer build replay the corpora as
 * regression tests. A target returns 0 and must neither crash, leak nor read
 * past size: the input is not NUL-terminated. */
#ifndef PFS_FUZZ_H
#define PFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A heap copy of data with a NUL after it, for parsers that take C strings. */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* Splits data at its first byte: *sel gets it, the rest is the body. Lets one
 * target reach several parsers of the same format. */
static inline void fuzz_split(const uint8_t **data, size_t *size, uint8_t *sel)
{
    *sel = *size ? (*data)[0] : 0;
    if (*size) {
        (*data)++;
        (*size)--;
    }
}

#endif
