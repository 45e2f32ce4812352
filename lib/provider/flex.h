/* flex.h — when a realtime call goes out at OpenAI's flex tier
 * (service_tier "flex": batch prices on the synchronous API, slower, 429
 * "resource unavailable" when capacity is short, not billed), and what a
 * flex 429 leads to. Pure functions shared by the worker (worker/job_run.c
 * keeps the timers and counts the metrics) and the scheduler's realtime
 * pass.
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

/* After a flex 429 (capacity short, not billed): counts it in *flex_429s
 * and returns the wait before flex is tried again (the provider's retry
 * backoff for that many 429s, or the server's hint_ms when given; -1 for
 * none), or -1 with *flex_429s set past providers.*.flex_retries, so that
 * every later call on this tier is standard realtime: the retries are
 * spent, or the wait plus a call would pass the deadline. jitter in [0, 1)
 * spreads the backoff. The standard retry budget is untouched. */
int64_t flex_after_429(const struct provider_conf *p, int *flex_429s,
                       int64_t hint_ms, double jitter, int64_t deadline_ms,
                       int64_t now_ms);

#endif
