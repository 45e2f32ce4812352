/* rfc3339.c — see rfc3339.h. */
#include "rfc3339.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool sep_at(const char *s, int i, char ch)
{
    return s[i] == ch;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DDTHH:MM:SS": fixed positions, checked field by field. */
static bool parse_date_time(const char *s, struct tm *tm)
{
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 19 || !digits(s, 4, &y) || !sep_at(s, 4, '-') ||
        !digits(s + 5, 2, &mo) || !sep_at(s, 7, '-') || !digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        !sep_at(s, 13, ':') || !digits(s + 14, 2, &mi) || !sep_at(s, 16, ':') ||
        !digits(s + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60) /* 60: a leap second */
        return false;
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = sec;
    return true;
}

/* ".123456" → milliseconds (digits past the third are truncated). */
static const char *parse_fraction(const char *p, int *ms)
{
    *ms = 0;
    if (*p != '.')
        return p;
    p++;
    if (*p < '0' || *p > '9')
        return NULL;
    int scale = 100;
    for (; *p >= '0' && *p <= '9'; p++) {
        *ms += (*p - '0') * scale;
        scale /= 10;
    }
    return p;
}

/* "Z" or "±HH:MM" → seconds east of UTC. */
static bool parse_offset(const char *p, int *offset_s)
{
    int h, m;
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        *offset_s = 0;
        return true;
    }
    if ((p[0] != '+' && p[0] != '-') || strlen(p) != 6 ||
        !digits(p + 1, 2, &h) || p[3] != ':' || !digits(p + 4, 2, &m) ||
        h > 23 || m > 59)
        return false;
    *offset_s = (h * 3600 + m * 60) * (p[0] == '-' ? -1 : 1);
    return true;
}

int rfc3339_parse_ms(const char *text, int64_t *out_ms)
{
    struct tm tm;
    int ms, offset_s;
    if (!parse_date_time(text, &tm))
        return SL_EINVAL;
    const char *p = parse_fraction(text + 19, &ms);
    if (!p || !parse_offset(p, &offset_s))
        return SL_EINVAL;
    /* Years 0000..9999 always fit a 64-bit time_t, and -1 is a valid
     * instant (1969-12-31T23:59:59Z), so timegm's result is not checked. */
    time_t t = timegm(&tm);
    *out_ms = ((int64_t)t - offset_s) * 1000 + ms;
    return SL_OK;
}
