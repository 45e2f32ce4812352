/* offpeak.h — when the configured off-peak windows are open.
 *
 * Windows are local times of day in scheduler.offpeak.timezone (an IANA
 * name from the system tz database); daylight-saving shifts are handled by
 * the C library's mktime. It sets the process's TZ to that zone and leaves
 * it so (sluice formats every time in UTC, with gmtime_r): the first call
 * changes the environment, later calls with the same zone do not. Make the
 * first call before starting threads; the scheduler does (open_sched), the
 * worker never calls it. */
#ifndef SL_OFFPEAK_H
#define SL_OFFPEAK_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct offpeak_state {
    bool open;           /* now is inside a window */
    int64_t opens_ms;    /* open: when the current window opened; else when
                            the next one opens */
    int64_t closes_ms;   /* when that window closes */
};

/* Fills *out for now_ms (Unix ms). Returns SL_ENOTFOUND when no window is
 * configured, SL_ECONFIG with errstr when the time zone is unknown. */
int offpeak_at(const struct scheduler_conf *s, int64_t now_ms,
               struct offpeak_state *out, char *errstr,
               size_t errstr_size) SL_MUSTCHECK;

#endif
