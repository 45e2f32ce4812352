/* offpeak.c — see offpeak.h. */
#include "offpeak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ZONEINFO "/usr/share/zoneinfo/"

static bool zone_known(const char *tz)
{
    char path[256];
    if (strcmp(tz, "UTC") == 0)
        return true;
    if (!tz[0] || tz[0] == '/' || strstr(tz, "..") ||
        strlen(tz) + sizeof(ZONEINFO) > sizeof(path))
        return false;
    snprintf(path, sizeof(path), ZONEINFO "%s", tz);
    return access(path, R_OK) == 0;
}

/* Unix ms of local day `base` shifted by day_offset days, at second sec. */
static int64_t local_ms(const struct tm *base, int day_offset, int sec)
{
    struct tm t = *base;
    t.tm_mday += day_offset;
    t.tm_hour = sec / 3600;
    t.tm_min = sec / 60 % 60;
    t.tm_sec = sec % 60;
    t.tm_isdst = -1;
    return (int64_t)mktime(&t) * 1000;
}

/* Scans yesterday's windows (one may still be open) through tomorrow's. */
static void scan(const struct scheduler_conf *s, const struct tm *today,
                 int64_t now_ms, struct offpeak_state *out)
{
    out->open = false;
    out->opens_ms = INT64_MAX;
    for (int day = -1; day <= 1; day++)
        for (size_t i = 0; i < s->n_windows; i++) {
            const struct offpeak_window *w = &s->windows[i];
            int64_t start = local_ms(today, day, w->start_s);
            int64_t end = local_ms(today, day + (w->end_s <= w->start_s),
                                   w->end_s);
            if (start <= now_ms && now_ms < end) {
                *out = (struct offpeak_state){true, start, end};
                return;
            }
            if (start > now_ms && start < out->opens_ms) {
                out->opens_ms = start;
                out->closes_ms = end;
            }
        }
}

int offpeak_at(const struct scheduler_conf *s, int64_t now_ms,
               struct offpeak_state *out, char *errstr, size_t errstr_size)
{
    if (s->n_windows == 0)
        return SL_ENOTFOUND;
    const char *tz = s->timezone ? s->timezone : "UTC";
    if (!zone_known(tz)) {
        snprintf(errstr, errstr_size,
                 "scheduler.offpeak.timezone: unknown time zone \"%s\"", tz);
        return SL_ECONFIG;
    }
    /* Left set: switching it back and forth every tick would rewrite the
     * environment while other threads may read it (libpq, libcurl). */
    const char *current = getenv("TZ");
    if (!current || strcmp(current, tz) != 0)
        setenv("TZ", tz, 1);
    tzset();
    time_t now = (time_t)(now_ms / 1000);
    struct tm today;
    localtime_r(&now, &today);
    scan(s, &today, now_ms, out);
    return SL_OK;
}
