/* retry.c — the retry policy; see retry.h for the rules. */
#include "retry.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

/* Hints are clamped here: far above any cap, far below int64 overflow. */
#define HINT_MAX_MS (INT64_C(1) << 50)

static int nonneg(int v)
{
    return v > 0 ? v : 0;
}

void retry_policy_from_provider(const struct provider_conf *p,
                                struct retry_policy *out)
{
    out->max_retries = nonneg(p->max_retries);
    out->base_ms = nonneg(p->retry_base_ms);
    out->cap_ms = nonneg(p->retry_cap_ms);
    out->retry_after_cap_ms = nonneg(p->retry_after_cap_ms);
}

static bool retryable_status(long status)
{
    return status == 408 || status == 409 || status == 429 ||
           (status >= 500 && status <= 599);
}

enum retry_decision retry_decide(const struct retry_policy *pol,
                                 int retries_done, int transport_error,
                                 long http_status, const char *x_should_retry,
                                 bool no_retry)
{
    if (retries_done >= pol->max_retries)
        return RETRY_GIVE_UP;
    if (x_should_retry && strcasecmp(x_should_retry, "true") == 0)
        return RETRY_AFTER_DELAY;
    if (x_should_retry && strcasecmp(x_should_retry, "false") == 0)
        return RETRY_GIVE_UP;
    if (no_retry)
        return RETRY_GIVE_UP;
    if (transport_error || retryable_status(http_status))
        return RETRY_AFTER_DELAY;
    return RETRY_GIVE_UP;
}

static int64_t backoff_ceiling(const struct retry_policy *pol,
                               int retries_done)
{
    int64_t ceiling = pol->base_ms;
    for (int i = 0; i < retries_done && ceiling > 0; i++) {
        if (ceiling >= pol->cap_ms)
            break;
        ceiling *= 2;
    }
    return ceiling < pol->cap_ms ? ceiling : pol->cap_ms;
}

int64_t retry_delay_ms(const struct retry_policy *pol, int retries_done,
                       int64_t retry_after_ms, double rand01)
{
    if (retry_after_ms > pol->retry_after_cap_ms)
        return -1;
    if (retry_after_ms > 0)
        return retry_after_ms;
    int64_t ceiling = backoff_ceiling(pol, retries_done);
    if (!(rand01 > 0)) /* also NaN */
        rand01 = 0;
    int64_t delay = (int64_t)floor(rand01 * (double)(ceiling + 1));
    return delay < ceiling ? delay : ceiling;
}

/* A plain non-negative decimal ("12", "1.5", " 3 "): strtod alone would
 * also take "inf", "0x1p3" or "1e9", which no server means. */
static bool parse_decimal(const char *s, double *out)
{
    while (isspace((unsigned char)*s))
        s++;
    const char *start = s;
    size_t digits = strspn(s, "0123456789");
    s += digits;
    if (*s == '.') {
        size_t frac = strspn(s + 1, "0123456789");
        digits += frac;
        s += 1 + frac;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (digits == 0 || *s != '\0')
        return false;
    *out = strtod(start, NULL);
    return true;
}

static int64_t ms_from_double(double ms)
{
    ms = ceil(ms);
    return ms >= (double)HINT_MAX_MS ? HINT_MAX_MS : (int64_t)ms;
}

int64_t retry_parse_hint(const char *retry_after_ms, const char *retry_after,
                         int64_t now_unix_s)
{
    double v;
    if (retry_after_ms && parse_decimal(retry_after_ms, &v))
        return ms_from_double(v);
    if (!retry_after)
        return -1;
    if (parse_decimal(retry_after, &v))
        return ms_from_double(v * 1000.0);
    time_t when = curl_getdate(retry_after, NULL);
    if (when == (time_t)-1)
        return -1;
    if ((int64_t)when <= now_unix_s)
        return 0;
    int64_t secs = (int64_t)when - now_unix_s;
    return secs >= HINT_MAX_MS / 1000 ? HINT_MAX_MS : secs * 1000;
}
