#include "utf8.h"

/* Length of the sequence starting at s (1..4), or 0 when s does not start
 * a valid, shortest-form scalar value. */
size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c <= 0x7F)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds for the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0; /* continuation byte, overlong lead, or > U+10FFFF */
    if (c == 0xE0)
        lo = 0xA0; /* overlong 3-byte */
    else if (c == 0xED)
        hi = 0x9F; /* UTF-16 surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong 4-byte */
    else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

int utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0 || s[i] == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}
