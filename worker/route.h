/* route.h — which tiers a job may climb, from its task ladder and the
 * routing rules in config (struct route_rule in config.h).
 *
 * Rules are tried in file order; the first one that matches and tests more
 * than user_tier (or tests nothing) applies its start_tier and max_tier.
 * Then every matching rule that tests only user_tier caps the ladder with
 * its max_tier: the user tier is a modifier, never a reason to start
 * higher. Pure functions: no allocation, no state. */
#ifndef SL_ROUTE_H
#define SL_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"

/* The ladder a job will climb, cheapest first. */
struct route_plan {
    int tiers[CONFIG_MAX_TIERS];
    size_t n;
};

/* Rough token estimate used by rules: ceil(bytes / 4). */
int64_t route_estimate_tokens(size_t input_bytes);

/* Applies the rules to the job's task ladder. Never returns an empty plan:
 * if the rules would remove every tier, the plan keeps the task's cheapest
 * tier that satisfies max_tier, else the task's first tier. */
void route_plan(const struct config *cfg, const struct job *job,
                struct route_plan *out);

#endif
