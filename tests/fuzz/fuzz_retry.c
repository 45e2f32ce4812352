/* sources: lib/retry.c */
/* Retry-After hints from provider responses: retry_parse_hint with the
 * input split at the first NUL into a retry-after-ms and a retry-after
 * header value (no NUL: only retry-after), then retry_delay_ms with that
 * hint. Checks retry.h's promises: a hint is -1 or >= 0, a delay is -1 or
 * within the cap. */
#include <stdint.h>

#include "fuzz_util.h"
#include "retry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    const char *ms_value = NULL, *value = s;
    size_t first = strlen(s);
    if (first < size) { /* a NUL inside: "ms-value\0value" */
        ms_value = s;
        value = s + first + 1;
    }
    const int64_t now = INT64_C(1795000000); /* 2026-11-18 */
    int64_t hint = retry_parse_hint(ms_value, value, now);
    FUZZ_CHECK(hint >= -1);
    FUZZ_CHECK(retry_parse_hint(NULL, NULL, now) == -1);

    struct retry_policy pol = {2, 500, 8000, 120000};
    int64_t delay = retry_delay_ms(&pol, 1, hint, 0.5);
    FUZZ_CHECK(delay >= -1);
    FUZZ_CHECK(delay <= pol.retry_after_cap_ms);
    if (hint > pol.retry_after_cap_ms)
        FUZZ_CHECK(delay == -1);
    free(s);
    return 0;
}
