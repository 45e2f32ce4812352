/* utf8.h — strict UTF-8 (Unicode table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Used by job validation and by the
 * ledger, which must never hand PostgreSQL an invalid string. */
#ifndef SL_UTF8_H
#define SL_UTF8_H

#include <stddef.h>

/* Length of the well-formed sequence at s (avail bytes readable), or 0 when
 * it is ill-formed. A NUL byte is a valid one-byte sequence here. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

/* Code points in the NUL-terminated s (continuation bytes are not counted),
 * the unit job ids and JSON Schema string lengths are measured in. */
size_t utf8_chars(const char *s);

/* Returns 1 when buf[0..len) is valid UTF-8 without NUL bytes, else 0. */
int utf8_valid(const char *buf, size_t len);

#endif
