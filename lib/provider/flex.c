/* flex.c — flex or standard for a realtime call; see flex.h. */
#include "flex.h"

#include "retry.h"

/* The call must fit before the deadline: a flex answer may take the whole
 * timeout, and a standard fall-back after it still has to fit. */
static bool fits(const struct provider_conf *p, int64_t wait_ms,
                 int64_t deadline_ms, int64_t now_ms)
{
    return deadline_ms == 0 ||
           deadline_ms - now_ms > wait_ms + 2 * (int64_t)p->timeout_ms;
}

bool flex_use(const struct provider_conf *p, bool flex_ok, int flex_429s,
              int64_t deadline_ms, int64_t now_ms)
{
    return flex_ok && p->flex && p->kind == PROVIDER_OPENAI &&
           flex_429s <= p->flex_retries && fits(p, 0, deadline_ms, now_ms);
}

int64_t flex_after_429(const struct provider_conf *p, int *flex_429s,
                       int64_t hint_ms, double jitter, int64_t deadline_ms,
                       int64_t now_ms)
{
    struct retry_policy pol;
    retry_policy_from_provider(p, &pol);
    (*flex_429s)++;
    int64_t delay = retry_delay_ms(&pol, *flex_429s - 1, hint_ms, jitter);
    if (*flex_429s > p->flex_retries || delay < 0 ||
        !fits(p, delay, deadline_ms, now_ms)) {
        *flex_429s = p->flex_retries + 1;
        return -1;
    }
    return delay;
}
