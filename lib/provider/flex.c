/* flex.c — flex or standard for a realtime call; see flex.h. */
#include "flex.h"

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

int64_t flex_retry_delay(const struct provider_conf *p, int flex_429s,
                         int64_t delay_ms, int64_t deadline_ms,
                         int64_t now_ms)
{
    if (flex_429s > p->flex_retries || delay_ms < 0 ||
        !fits(p, delay_ms, deadline_ms, now_ms))
        return -1;
    return delay_ms;
}
