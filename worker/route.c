/* route.c — routing rules applied to a task's tier ladder (see route.h). */
#include "route.h"

#include <stdbool.h>
#include <string.h>

int64_t route_estimate_tokens(size_t input_bytes)
{
    return (int64_t)((input_bytes + 3) / 4);
}

static bool only_user_tier(const struct route_rule *r)
{
    return r->user_tier && !r->task && !r->mode && r->min_input_tokens < 0 &&
           r->max_input_tokens < 0;
}

static bool str_matches(const char *want, const char *have)
{
    return !want || (have && strcmp(want, have) == 0);
}

static bool rule_matches(const struct route_rule *r, const struct job *job,
                         int64_t tokens)
{
    return str_matches(r->task, job->task->name) &&
           str_matches(r->mode, job_mode_name(job->mode)) &&
           str_matches(r->user_tier, job->user_tier) &&
           (r->min_input_tokens < 0 || tokens >= r->min_input_tokens) &&
           (r->max_input_tokens < 0 || tokens <= r->max_input_tokens);
}

/* A cap of 0 means "no cap"; otherwise the lower cap wins. */
static int tighter_cap(int cap, int rule_cap)
{
    if (rule_cap == 0)
        return cap;
    return cap == 0 || rule_cap < cap ? rule_cap : cap;
}

static void find_bounds(const struct config *cfg, const struct job *job,
                        int *start, int *max)
{
    int64_t tokens = route_estimate_tokens(job->input_len);
    bool routed = false;
    *start = *max = 0;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct route_rule *r = &cfg->rules[i];
        if (!rule_matches(r, job, tokens))
            continue;
        if (only_user_tier(r)) {
            *max = tighter_cap(*max, r->max_tier);
        } else if (!routed) {
            routed = true;
            *start = r->start_tier;
            *max = tighter_cap(*max, r->max_tier);
        }
    }
}

/* The ladder is strictly increasing, so its first tier is both "the
 * cheapest tier under the cap" when any tier is, and the last resort when
 * none is: either way a job that the rules would strand still gets one
 * attempt, on the cheapest tier the task allows. */
static void fallback(const struct task_conf *task, struct route_plan *out)
{
    out->n = 0;
    if (task->n_ladder > 0)
        out->tiers[out->n++] = task->ladder[0];
}

void route_plan(const struct config *cfg, const struct job *job,
                struct route_plan *out)
{
    const struct task_conf *task = job->task;
    int start, max;
    find_bounds(cfg, job, &start, &max);
    out->n = 0;
    for (size_t i = 0; i < task->n_ladder; i++) {
        int t = task->ladder[i];
        if ((start == 0 || t >= start) && (max == 0 || t <= max))
            out->tiers[out->n++] = t;
    }
    if (out->n == 0)
        fallback(task, out);
}
