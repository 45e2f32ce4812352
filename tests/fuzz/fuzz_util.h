/* fuzz_util.h — small helpers shared by the libFuzzer harnesses.
 *
 * Harnesses check the promises the headers make about outputs (e.g. "one
 * line of printable ASCII") besides not crashing, so a broken promise is a
 * finding too: FUZZ_CHECK aborts, which libFuzzer reports as a crash with
 * the input saved. */
#ifndef SL_FUZZ_UTIL_H
#define SL_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* A NUL-terminated heap copy of the input, sized exactly, so that ASan
 * catches a read one past the end. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* An exactly sized heap copy without a terminator, for parsers that take
 * (buf, len) and must not read past len. */
static inline char *fuzz_bytes(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    return s;
}

/* True when s is a single line of printable ASCII (what error details
 * that end up in logs and the ledger promise). */
static inline bool fuzz_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* True when s holds no control bytes (sanitised text that may carry UTF-8
 * from a body, but can never forge a log line). */
static inline bool fuzz_no_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return false;
    return true;
}

#endif
