/* sources: lib/rfc3339.c */
/* RFC 3339 timestamps (job deadlines, Anthropic batch times). Besides not
 * crashing, an accepted timestamp must give the same instant as an
 * independent computation (days-from-civil arithmetic instead of timegm),
 * so a parse can never be silently wrong. */
#include <stdint.h>

#include "fuzz_util.h"
#include "rfc3339.h"

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t num(const char *s, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    int64_t ms = 0;
    if (rfc3339_parse_ms(s, &ms) == SL_OK) {
        /* Accepted: the fixed positions hold digits, so read them back. */
        int64_t days = days_from_civil(num(s, 4), num(s + 5, 2), num(s + 8, 2));
        int64_t secs = days * 86400 + num(s + 11, 2) * 3600 +
                       num(s + 14, 2) * 60 + num(s + 17, 2);
        const char *p = s + 19;
        int64_t frac = 0;
        if (*p == '.') {
            int scale = 100;
            for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
        int64_t off = 0;
        if (*p == '+' || *p == '-')
            off = (num(p + 1, 2) * 3600 + num(p + 4, 2) * 60) * (*p == '-' ? -1 : 1);
        FUZZ_CHECK(ms == (secs - off) * 1000 + frac);
    }
    free(s);
    return 0;
}
