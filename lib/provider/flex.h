/* flex.h — when a realtime call goes out at OpenAI's flex tier
 * (service_tier "flex": batch prices on the synchronous API, slower, 429
 * "resource unavailable" when capacity is short, not billed), and what a
 * flex 429 leads to. Pure functions shared by the worker (worker/job_run.c
 * keeps the timers) and the scheduler's realtime pass.
 *
 * Flex is for work nobody waits for whose deadline is too near for a
 * provider batch: async and offpeak jobs the worker answers realtime, and
 * rows the scheduler answers realtime because a batch can no longer meet
 * their deadline (docs/providers.md, "Flex processing"). A call is flex when its
 * provider offers it (providers.*.flex, openai kind), the job has not used
 * up providers.*.flex_retries on this tier, and a flex call still fits
 * before the deadline (the provider's timeout_ms). Otherwise the call is
 * standard realtime: the fall-back that keeps the deadline. */
#ifndef SL_PROVIDER_FLEX_H
#define SL_PROVIDER_FLEX_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Whether this call goes out as flex. flex_ok: the job may use flex
 * (non-interactive, answered realtime); flex_429s: flex 429s so far on
 * this tier; deadline_ms 0 = none. */
bool flex_use(const struct provider_conf *p, bool flex_ok, int flex_429s,
              int64_t deadline_ms, int64_t now_ms);

/* After the flex_429s-th flex 429 (counted, from 1): the delay before the
 * next flex attempt, or -1 to fall back to standard realtime at once (the
 * retries are spent, or the wait plus a call would pass the deadline).
 * delay_ms is the backoff the provider's retry policy gives (with the
 * server's Retry-After), computed by the caller. */
int64_t flex_retry_delay(const struct provider_conf *p, int flex_429s,
                         int64_t delay_ms, int64_t deadline_ms,
                         int64_t now_ms);

#endif
