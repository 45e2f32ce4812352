#!/usr/bin/env bash
# Terminal batch states: a provider that fails every batch (OpenAI: batch
# failed; Anthropic: every line errored) re-queues the rows until the retry
# budget is spent, then each job fails with the reason and no cost line;
# batches that expire half done are ingested for the done half and retried
# for the expired half, and jobs out of retries fail as batch_expired; rows
# of a task that left the config fail without holding up the others.
source "$(dirname "$0")/lib.sh"

JOBS=120
"$WORKLOAD" --out "$RUN" --jobs $JOBS --seed 51 >/dev/null
jq -c '.mode = "async"' "$RUN/jobs.jsonl" >"$RUN/async.jsonl"
jq -c '.mode = "async" | .id = "exp-" + .id' "$RUN/jobs.jsonl" >"$RUN/expire.jsonl"
jq -c '.id = "exp-" + .id' "$RUN/gold.jsonl" >"$RUN/gold-exp.jsonl"
cat "$RUN/gold-exp.jsonl" >>"$RUN/gold.jsonl"
SCHED='.scheduler = {batch_max_requests: 1000, max_wait_s: 0, turnaround_s: 30,
                     poll_min_ms: 100, poll_max_ms: 300, tick_ms: 50, max_line_retries: 2}'

# The emulator with another batch behaviour. No worker or scheduler may run
# meanwhile (it_restart_emulator): each phase starts its own.
restart_emulator() {
    MODELS_FILTER=$1 it_write_models 0 '{}'
    it_restart_emulator
}

# --- every batch fails ----------------------------------------------------
MODELS_FILTER='.batch = {"turnaround_s": 0.2, "fail": true}' it_start_services 0 '{}' "$SCHED"
it_start_worker a
"$SLUICE" publish "$RUN/async.jsonl" >/dev/null || fail "publish"
it_start_scheduler a
it_wait_sql "SELECT count(*) FROM results" $JOBS 90
it_stop_scheduler a
it_stop_worker a
[ "$(psql_val "SELECT count(*) FROM results WHERE status = 'failed'")" -eq $JOBS ] \
    || fail "jobs answered although every batch failed"
[ "$(psql_val "SELECT count(*) FROM cost_lines")" -eq 0 ] || fail "cost lines for unanswered jobs"
[ "$(psql_val "SELECT count(*) FROM results WHERE error LIKE 'batch_not_answered: %batch_failed%'")" -eq $JOBS ] \
    || fail "failed jobs do not carry the provider's reason: $(psql_val "SELECT error FROM results LIMIT 1")"
# Rows reach pending over several ticks, so an attempt may span batches;
# every job was submitted exactly 1 + 2 retries times.
[ "$(psql_val "SELECT sum(n_rows) FROM batches WHERE state = 'failed'")" -eq $((3 * JOBS)) ] \
    || fail "expected $((3 * JOBS)) submissions (1 + 2 retries per job)"
pass "$JOBS jobs failed with the provider's reason after 3 submissions each, no cost line"

# --- every batch expires half done ----------------------------------------
restart_emulator '.batch = {"turnaround_s": 0.2, "expire": true}'
it_start_worker b
it_start_scheduler b
"$SLUICE" publish "$RUN/expire.jsonl" >/dev/null || fail "publish"
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'exp-%'" $JOBS 120
it_stop_scheduler b
it_stop_worker b
answered=$(psql_val "SELECT count(*) FROM results WHERE job_id LIKE 'exp-%' AND status = 'answered'")
expired=$(psql_val "SELECT count(*) FROM results WHERE job_id LIKE 'exp-%' AND status = 'failed' AND error LIKE 'batch_expired%'")
[ $((answered + expired)) -eq $JOBS ] || fail "answered $answered + expired $expired != $JOBS"
[ "$answered" -gt $((JOBS / 2)) ] || fail "only $answered answered: expired halves were not retried"
[ "$expired" -gt 0 ] || fail "no job ran out of retries"
bad=$(psql_val "SELECT count(*) FROM results r WHERE r.job_id LIKE 'exp-%'
    AND r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad" -eq 0 ] || fail "$bad results whose attempts differ from their cost lines"
[ "$(it_batch_price_mismatches)" -eq 0 ] || fail "batch cost lines without the exact batch discount"
pass "expiring batches: $answered answered over retries, $expired failed as batch_expired"

# --- a task left the config while its rows waited -------------------------
# The scheduler's config lacks "priority": its rows fail with the reason
# and do not hold up the other tasks' rows of the same provider/model.
restart_emulator '.batch = {"turnaround_s": 0.2}'
jq -c '.mode = "async" | .id = "lost-" + .id' "$RUN/jobs.jsonl" >"$RUN/lost.jsonl"
jq -c '.id = "lost-" + .id' "$RUN/gold-exp.jsonl" | sed 's/"lost-exp-/"lost-/' >"$RUN/gold-lost.jsonl"
cat "$RUN/gold-lost.jsonl" >>"$RUN/gold.jsonl"
it_start_worker c
"$SLUICE" publish "$RUN/lost.jsonl" >/dev/null || fail "publish"
it_wait_sql "SELECT count(*) FROM pending WHERE job_id LIKE 'lost-%'" $JOBS 60
it_stop_worker c
lost=$(psql_val "SELECT count(*) FROM pending WHERE job_id LIKE 'lost-%' AND task = 'priority'")
[ "$lost" -gt 0 ] || fail "the workload has no priority job"
jq 'del(.tasks.priority)' "$SLUICE_CONFIG" >"$RUN/lost.json"
SLUICE_CONFIG=$RUN/lost.json it_start_scheduler c
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'lost-%'" $JOBS 60
it_stop_scheduler c
[ "$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id)
    WHERE r.job_id LIKE 'lost-%' AND j.task = 'priority' AND r.status = 'failed'
      AND r.error = 'tier or task no longer in config'")" -eq "$lost" ] \
    || fail "rows of the removed task did not fail with the reason"
[ "$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id)
    WHERE r.job_id LIKE 'lost-%' AND j.task <> 'priority' AND r.status = 'answered'")" -gt 0 ] \
    || fail "the other tasks' rows were held up"
pass "a task removed from the config: its $lost rows failed with the reason, the others were answered"
