/* pricing.c — exact call costs; see pricing.h for the arithmetic. */
#include "pricing.h"

#include <stdio.h>
#include <string.h>

/* __extension__ keeps -Wpedantic quiet: ISO C has no 128-bit integer, but
 * GCC and Clang do. Unsigned, because four products of values below 2^63
 * stay below 2^128: the sum is exact for every input. */
__extension__ typedef unsigned __int128 u128;

static u128 nonneg(int64_t v)
{
    return v > 0 ? (u128)v : 0;
}

static int64_t saturate(u128 v)
{
    return v > (u128)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int64_t pricing_cost_nano(const struct price *price,
                          const struct llm_usage *usage, bool batch)
{
    u128 input = nonneg(usage->input_tokens);
    u128 cached = nonneg(usage->cached_tokens);
    u128 write = nonneg(usage->cache_write_tokens);
    u128 write_1h = nonneg(usage->cache_write_1h_tokens);
    write_1h = write_1h < write ? write_1h : write;
    u128 uncached = input > cached + write ? input - cached - write : 0;
    u128 micro = uncached * nonneg(price->input) +
                 cached * nonneg(price->cached_input) +
                 (write - write_1h) * nonneg(price->cache_write) +
                 write_1h * nonneg(price->cache_write_1h) +
                 nonneg(usage->output_tokens) * nonneg(price->output);
    u128 cost = (micro + 500000) / 1000000;
    if (batch) {
        int pct = price->batch_discount_pct;
        pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
        cost = (cost * (u128)(100 - pct) + 50) / 100;
    }
    return saturate(cost);
}

int64_t pricing_baseline_nano(const struct config *cfg,
                              const struct llm_usage *usage)
{
    const struct tier_conf *top = config_tier(cfg, cfg->top_tier);
    /* No cache either: what the call would cost without any discount, so
     * that savings from caching show as savings. */
    struct llm_usage plain = {.input_tokens = usage->input_tokens,
                              .output_tokens = usage->output_tokens};
    return top ? pricing_cost_nano(top->price, &plain, false) : 0;
}

bool pricing_mode_discounted(const char *mode)
{
    return mode && (strcmp(mode, "batch") == 0 || strcmp(mode, "flex") == 0);
}

void pricing_bill_line(struct ledger_cost_line *line,
                       const struct tier_conf *tier,
                       const struct llm_usage *usage, const char *mode)
{
    line->tier = tier->tier;
    line->provider = tier->provider->name;
    line->model = tier->model;
    line->mode = mode;
    line->tokens_in = usage->input_tokens;
    line->tokens_cached_in = usage->cached_tokens;
    line->tokens_cache_write = usage->cache_write_tokens;
    line->tokens_cache_write_1h = usage->cache_write_1h_tokens;
    line->tokens_out = usage->output_tokens;
    line->cost_nanousd = pricing_cost_nano(tier->price, usage,
                                           pricing_mode_discounted(mode));
}

void pricing_format_usd(int64_t nano, char *buf, size_t buf_size)
{
    if (buf_size == 0)
        return;
    /* Magnitude in unsigned so that INT64_MIN needs no special case. */
    uint64_t mag = nano < 0 ? 0 - (uint64_t)nano : (uint64_t)nano;
    uint64_t micro = mag / 1000 + (mag % 1000 >= 500 ? 1 : 0);
    snprintf(buf, buf_size, "%s$%llu.%06llu", nano < 0 && micro ? "-" : "",
             (unsigned long long)(micro / 1000000),
             (unsigned long long)(micro % 1000000));
}
