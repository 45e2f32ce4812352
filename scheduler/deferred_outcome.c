/* deferred_outcome.c — see deferred_outcome.h. */
#include "deferred_outcome.h"

#include <stdio.h>
#include <string.h>

static bool on_last_tier(const struct deferred_job *job)
{
    return job->step + 1 >= job->n_ladder;
}

static void judge_answer(const struct deferred_job *job,
                         const struct llm_response *resp,
                         struct deferred_outcome *out)
{
    enum verdict v = escalate_judge(job->task, resp, &out->answer, out->detail,
                                    sizeof(out->detail));
    bool climb = escalate_should_climb(v, on_last_tier(job));
    out->billed = true;
    if (!climb) { /* escalate.h: ACCEPT, or LOW_CONFIDENCE on the last tier */
        out->action = DEFERRED_ACCEPT;
        return;
    }
    llm_answer_clear(&out->answer);
    out->reason = verdict_name(v);
    out->action = on_last_tier(job) ? DEFERRED_FAIL : DEFERRED_CLIMB;
}

static const char *line_kind_name(enum batch_line_kind k)
{
    switch (k) {
    case BATCH_LINE_EXPIRED: return "batch_expired";
    case BATCH_LINE_CANCELED: return "batch_cancelled";
    default: return "batch_errored";
    }
}

void deferred_judge_line(const struct deferred_job *job,
                         const struct batch_line *line,
                         struct deferred_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (line->kind == BATCH_LINE_SUCCEEDED) {
        judge_answer(job, &line->resp, out);
        return;
    }
    out->reason = line_kind_name(line->kind);
    snprintf(out->detail, sizeof(out->detail), "%s", line->error ? line->error : out->reason);
    out->action = job->retries < job->max_retries ? DEFERRED_RETRY : DEFERRED_FAIL;
}

void deferred_judge_response(const struct deferred_job *job,
                             const struct llm_response *resp,
                             struct deferred_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (resp->http_status == 200) {
        judge_answer(job, resp, out);
        return;
    }
    out->reason = verdict_name(VERDICT_PROVIDER_FAILED);
    snprintf(out->detail, sizeof(out->detail), "HTTP %ld: %s", resp->http_status,
             resp->error_type ? resp->error_type : "no error type");
    out->billed = true; /* a line of zero cost, as the worker writes */
    out->action = on_last_tier(job) ? DEFERRED_FAIL : DEFERRED_CLIMB;
}

void deferred_outcome_clear(struct deferred_outcome *o)
{
    llm_answer_clear(&o->answer);
}

const char *deferred_action_name(enum deferred_action a)
{
    static const char *const names[] = {"accept", "climb", "fail", "retry"};
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "unknown";
}
