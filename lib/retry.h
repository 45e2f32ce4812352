/* retry.h — when and how long to wait before retrying a provider call.
 *
 * Pure and deterministic: the caller supplies the clock and the random
 * value, so the whole policy is testable by table. The rules follow the
 * providers' SDKs (docs/providers.md), with full jitter
 * instead of the SDKs' 25 %, and a server hint above the cap meaning
 * "give up" rather than "wait anyway". */
#ifndef SL_RETRY_H
#define SL_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct retry_policy {
    int max_retries;        /* retries after the first attempt */
    int base_ms;            /* backoff ceiling of the first retry */
    int cap_ms;             /* backoff ceiling never exceeds this */
    int retry_after_cap_ms; /* a longer server hint is not waited for */
};

/* Copies the provider's retry settings (negative values become 0). */
void retry_policy_from_provider(const struct provider_conf *p,
                                struct retry_policy *out);

enum retry_decision { RETRY_GIVE_UP = 0, RETRY_AFTER_DELAY };

/* Decides whether attempt number retries_done+1 may be retried.
 * transport_error: nonzero when no HTTP status was received (timeout,
 * reset). http_status: 0 when none. x_should_retry: the header's value or
 * NULL. no_retry: the parsed body said retrying is useless.
 * In order: retries_done >= max_retries → give up; x-should-retry "true" /
 * "false" (case-insensitive, other values ignored) decides; no_retry →
 * give up; transport errors, 408, 409, 429 and 500-599 (incl. 529) →
 * retry; anything else (other 4xx, 2xx, 3xx) → give up. */
enum retry_decision retry_decide(const struct retry_policy *pol,
                                 int retries_done, int transport_error,
                                 long http_status, const char *x_should_retry,
                                 bool no_retry);

/* Delay before retry number retries_done+1 in ms. With a server hint
 * (retry_after_ms >= 0): that hint exactly when 0 < hint <=
 * retry_after_cap_ms; a hint above the cap → -1 (give up); a hint of 0
 * falls back to the backoff. Without: full jitter, an integer uniform in
 * [0, min(cap_ms, base_ms * 2^retries_done)], from rand01 in [0,1)
 * (floor(rand01 * (ceiling + 1)); out-of-range rand01 is clamped). */
int64_t retry_delay_ms(const struct retry_policy *pol, int retries_done,
                       int64_t retry_after_ms, double rand01);

/* Parses the server's hint from the header values (either may be NULL):
 * "retry-after-ms" (decimal ms, fraction allowed) first, then
 * "retry-after" (decimal seconds, fraction allowed, or an HTTP date read
 * with curl_getdate(), relative to now_unix_s; a date in the past gives 0).
 * Fractions round up, so a retry never comes earlier than asked. Returns
 * ms, or -1 when both are absent or unparseable. */
int64_t retry_parse_hint(const char *retry_after_ms, const char *retry_after,
                         int64_t now_unix_s);

#endif
