/* pricing.h — the cost of a call, in exact integer nano-dollars.
 *
 * Prices come from config (struct price: nano-dollars per million tokens);
 * usage is the normalised struct llm_usage (cached_tokens and
 * cache_write_tokens are subsets of input_tokens).
 *
 * Exact arithmetic and rounding:
 *   uncached = input - cached - cache_write       (negative terms count as 0)
 *   micro    = uncached*input_price + cached*cached_input_price
 *            + (cache_write - cache_write_1h)*cache_write_price
 *            + cache_write_1h*cache_write_1h_price + output*output_price
 *              (unsigned 128-bit: nano-dollars times 1e6, exact for any input)
 *   cost     = floor((micro + 500000) / 1000000)  (half a nano-dollar rounds
 *                                                  up, i.e. half up)
 *   batch:  cost = floor((cost * (100 - batch_discount_pct) + 50) / 100)
 *           (again half up; the percentage is clamped to [0, 100]); flex
 *           (OpenAI service_tier "flex") is billed the same way
 * cache_write_1h (1-hour TTL writes, Anthropic) is a subset of cache_write
 * (clamped to it).
 * Rounding the sum once, rather than each term, keeps the figure a pure
 * function of the totals. A result beyond INT64_MAX saturates. */
#ifndef SL_PRICING_H
#define SL_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ledger.h"
#include "provider/llm.h"

/* Cost of one call in integer nano-dollars (see above). */
int64_t pricing_cost_nano(const struct price *price,
                          const struct llm_usage *usage, bool batch);

/* The baseline: what usage would have cost on cfg's top tier, realtime,
 * with no prompt cache (every input token at the input price). 0 when the
 * config has no tiers. */
int64_t pricing_baseline_nano(const struct config *cfg,
                              const struct llm_usage *usage);

/* Whether calls of a cost-line mode get the batch discount: "batch" and
 * "flex" do, "realtime" does not. */
bool pricing_mode_discounted(const char *mode);

/* Fills the billing fields of a cost line for one call to tier: tier,
 * provider, model, mode (borrowed; "batch" and "flex" get the batch
 * discount), the token counts and cost_nanousd. Every other field is left
 * as it is. */
void pricing_bill_line(struct ledger_cost_line *line,
                       const struct tier_conf *tier,
                       const struct llm_usage *usage, const char *mode);

/* Formats nano-dollars as "$1.234567" (6 decimals, the sub-micro part
 * rounded half away from zero; negatives as "-$0.000001") into buf,
 * truncating to buf_size. */
void pricing_format_usd(int64_t nano, char *buf, size_t buf_size);

#endif
