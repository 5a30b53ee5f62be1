/* fuzz.h — what the harnesses in tests/fuzz share: the libFuzzer entry point's declaration and
 * FUZZ_CHECK, which turns a broken property into an abort() that libFuzzer records as a crash
 * (and that fails the corpus replay under ctest). Not a test framework: a harness is one
 * function, LLVMFuzzerTestOneInput, that must return 0 for every input. */
#ifndef TR_FUZZ_H
#define TR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the file, line, the failed condition and a printf-style explanation. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A NUL-terminated malloc'd copy of data[0..size) (the C-string entry points take one; a NUL
 * inside data ends the string there, as libmicrohttpd's strings end). Aborts when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (s == NULL) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A malloc'd copy of exactly size bytes, no terminator, so AddressSanitizer sees any read past
 * the end (libFuzzer's own buffer is exact too; the replay driver's is as well). */
static inline char *fuzz_copy(const uint8_t *data, size_t size) {
    char *s = malloc(size ? size : 1);
    if (s == NULL) abort();
    if (size) memcpy(s, data, size);
    else s[0] = '\0'; /* never read by a parser given size 0; set so the compiler can tell */
    return s;
}

#endif
