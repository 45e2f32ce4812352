/* run_lines.h — what a run leaves in the ledger (job_run.c's bill): a cost
 * line per tier attempt, the "unconfirmed" line of a call that left and
 * brought no usable answer, the intent line written before a call leaves,
 * and the tier-0 trace of an accepted label. The lines live in the run
 * (run->lines, run->intent, run->trace) and the host writes them; these
 * functions only fill them in, on the loop thread. */
#ifndef SL_RUN_LINES_H
#define SL_RUN_LINES_H

#include <stdbool.h>
#include <stdint.h>

#include "job_run_state.h"
#include "provider/llm.h"

/* The zero-cost line of an answer given without a provider call (provider
 * "local": tier 0; "cache": the answer cache), accepted, carrying the
 * baseline the top tier would have billed. */
void run_lines_add_local(struct job_run *run, const char *provider,
                         const char *model, int64_t baseline_nanousd);
/* The line of the current tier's answer (or refusal): usage from resp
 * (NULL: none), priced at the tier the provider says it served. */
void run_lines_add(struct job_run *run, const struct llm_response *resp,
                   const char *outcome, const char *reason, int64_t latency_us);
/* The call left and no usable answer came back: priced at the request's
 * bound (run->call_bound), so unconfirmed spend is an upper bound. */
void run_lines_add_unconfirmed(struct job_run *run, const char *reason,
                               int64_t latency_us);
/* run->intent: the line the call about to leave has if nothing else is
 * ever recorded for it (the next attempt number, priced at the bound). */
void run_lines_write_intent(struct job_run *run);
/* The answer's label was given at or above the task's confidence
 * threshold (not kept only because no tier was left). */
bool run_lines_confident_label(const struct job_run *run);
/* An accepted confident LLM label of a tier-0 task becomes a trace. */
void run_lines_keep_trace(struct job_run *run);

#endif
