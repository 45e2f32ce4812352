#!/usr/bin/env bash
# Crash safety of the scheduler: kill -9 right after it submits a batch, and
# again while it polls; each time one submitted batch is also put back in
# the state a crash between the provider call and recording its id leaves
# (submitting, no provider id, lease run out). Restarted, the scheduler
# reconciles: the orphans are found at the provider (OpenAI by metadata,
# Anthropic by custom id) and adopted, not submitted again; every job has
# exactly one result; every answer the emulator billed has exactly one cost
# line, and no cost line is doubled.
source "$(dirname "$0")/lib.sh"

JOBS=2000
"$WORKLOAD" --out "$RUN" --jobs $JOBS --seed 31 >/dev/null
jq -c '.mode = "async"' "$RUN/jobs.jsonl" >"$RUN/async.jsonl"
MODELS_FILTER='.batch = {"turnaround_s": 3, "errored_share": 0}' \
it_start_services 0 '{}' '
  .scheduler = {batch_max_requests: 250, max_wait_s: 1, turnaround_s: 30,
                poll_min_ms: 300, poll_max_ms: 1000, tick_ms: 100, lease_s: 2}'

it_start_worker a
"$SLUICE" publish "$RUN/async.jsonl" >/dev/null || fail "publish"
it_wait_sql "SELECT count(*) FROM pending" $JOBS 60

# Turns one submitted batch of PROVIDER into a crash orphan; prints its id
# and provider batch id.
make_orphan() {
    psql_val "UPDATE batches b SET state = 'submitting', provider_batch_id = NULL,
                lease_until = now() - interval '1 s'
              FROM (SELECT id, provider_batch_id FROM batches
                    WHERE provider = '$1' AND state = 'submitted'
                    ORDER BY id LIMIT 1) o
              WHERE b.id = o.id RETURNING b.id || ' ' || o.provider_batch_id"
}

# --- kill -9 right after a submission ------------------------------------
it_start_scheduler a
it_wait_log "$RUN/scheduler-a.log" "submitted to emu-openai" 30
it_kill9_scheduler a
read -r orphan1 provider_id1 <<<"$(make_orphan emu-openai)"
[ -n "$orphan1" ] || fail "no submitted openai batch to orphan"
pass "scheduler killed after submitting; batch $orphan1 ($provider_id1) made an orphan"

# --- kill -9 while polling, once escalations reach Anthropic -------------
it_start_scheduler b
it_wait_sql "SELECT count(*) FROM batches WHERE provider = 'emu-anthropic' AND state = 'submitted' AND polls >= 1" 1 90
it_kill9_scheduler b
read -r orphan2 provider_id2 <<<"$(make_orphan emu-anthropic)"
[ -n "$orphan2" ] || fail "no submitted anthropic batch to orphan"
pass "scheduler killed while polling; batch $orphan2 ($provider_id2) made an orphan"

it_start_scheduler c
it_wait_sql "SELECT count(*) FROM results" $JOBS 180
# The last batches' rows have their results; wait for the batches to finish too.
it_wait_sql "SELECT (count(*) = 0)::int FROM batches WHERE state IN ('submitting', 'submitted', 'ingesting')" 1 30
it_stop_scheduler c
it_stop_worker a

# --- reconciliation adopted the orphans ----------------------------------
for pair in "$orphan1 $provider_id1" "$orphan2 $provider_id2"; do
    read -r id pid <<<"$pair"
    got=$(psql_val "SELECT state || ' ' || provider_batch_id FROM batches WHERE id = $id")
    [ "$got" = "done $pid" ] || fail "orphan batch $id is '$got', wanted 'done $pid'"
done
grep -q "adopted" "$RUN/scheduler-c.log" || fail "scheduler c did not log an adoption"
# A kill between the claim and the provider call leaves a batch the provider
# never saw: re-queued (abandoned, no provider id). The billed count below
# proves it never reached the provider.
abandoned=$(psql_val "SELECT count(*) FROM batches WHERE state = 'abandoned' AND provider_batch_id IS NOT NULL")
[ "$abandoned" -eq 0 ] || fail "$abandoned batches with a provider id abandoned"
pass "both orphans found at their provider and adopted"


# --- exactly once ---------------------------------------------------------
[ "$(psql_val "SELECT count(*) FROM results")" -eq $JOBS ] || fail "result count"
[ "$(psql_val "SELECT count(*) FROM pending")" -eq 0 ] || fail "pending rows left"
bad=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad" -eq 0 ] || fail "$bad results whose attempts differ from their cost lines"
it_stop_emulator # its usage log is complete once it has exited
it_load_usage_log
billed=$(psql_val "SELECT count(*) FROM usage_log WHERE api LIKE '%-batch' AND status = 'ok'")
lines=$(psql_val "SELECT count(*) FROM cost_lines WHERE mode = 'batch'")
[ "$billed" -eq "$lines" ] || fail "emulator billed $billed batch answers, ledger has $lines batch lines"
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE u.api LIKE '%-batch'
    AND (SELECT count(*) FROM cost_lines c WHERE c.provider_request_id = u.request_id) <> 1")
[ "$unmatched" -eq 0 ] || fail "$unmatched billed batch answers without exactly one cost line"
submitted=$(psql_val "SELECT sum(n_rows) FROM batches WHERE state <> 'abandoned'")
[ "$submitted" -eq "$lines" ] || fail "$submitted requests submitted for $lines answers: a job was batched twice"
[ "$(it_batch_price_mismatches)" -eq 0 ] || fail "batch cost lines without the exact batch discount"
pass "$JOBS results, $lines batch cost lines = $billed billed answers = $submitted submitted requests"
