/* deferred_outcome.h — what one answer does to a deferred (scheduler) job.
 *
 * The scheduler judges a batch answer line, or a realtime answer it made
 * itself, exactly as the worker judges a realtime one (escalate.h), and
 * adds the batch-only cases: an errored, expired or cancelled line is
 * retried within a budget, then the job fails with the line's reason.
 * Pure: no I/O, no clock. */
#ifndef SL_DEFERRED_OUTCOME_H
#define SL_DEFERRED_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "batch/batch_wire.h"
#include "config.h"
#include "escalate.h"
#include "provider/llm.h"

enum deferred_action {
    DEFERRED_ACCEPT, /* answer kept: result + accepted cost line */
    DEFERRED_CLIMB,  /* cost line escalated; the job moves up its ladder */
    DEFERRED_FAIL,   /* the job fails with reason (cost line when billed) */
    DEFERRED_RETRY   /* same tier again, in a later batch; nothing billed */
};

/* Where the job stands on its ladder and in its retry budget. */
struct deferred_job {
    const struct task_conf *task;
    size_t step, n_ladder; /* step indexes the ladder */
    int retries, max_retries;
};

struct deferred_outcome {
    enum deferred_action action;
    const char *reason;        /* static: verdict name or line kind; NULL on accept */
    char detail[256];          /* one line, printable, for logs and errors */
    struct llm_answer answer;  /* DEFERRED_ACCEPT: the answer (owned) */
    bool billed;               /* a provider call to record: write a cost line */
};

/* Judges one batch answer line. *out is overwritten; clear it with
 * deferred_outcome_clear. */
void deferred_judge_line(const struct deferred_job *job,
                         const struct batch_line *line,
                         struct deferred_outcome *out);
/* Judges a realtime answer (http_status 200 or an error body). A failed
 * call climbs like in the worker; on the last tier the job fails. */
void deferred_judge_response(const struct deferred_job *job,
                             const struct llm_response *resp,
                             struct deferred_outcome *out);
void deferred_outcome_clear(struct deferred_outcome *o);

/* Stable names: "accept", "climb", "fail", "retry". */
const char *deferred_action_name(enum deferred_action a);

#endif
