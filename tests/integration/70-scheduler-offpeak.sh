#!/usr/bin/env bash
# Off-peak jobs through provider batches: 5,000 offpeak jobs published before
# a window that opens ~40 s later, plus async jobs whose deadline is nearer
# than a batch turnaround. Nothing is submitted before the window; batches
# respect the size cap; every job gets exactly one result; every batch cost
# line carries the batch discount; escalated jobs are answered at the next
# tier; the near-deadline jobs are answered realtime by the worker.
source "$(dirname "$0")/lib.sh"

JOBS=5000
URGENT=20
CAP=400
"$WORKLOAD" --out "$RUN" --jobs $JOBS --seed 21 --offpeak-share 1 >/dev/null
mkdir -p "$RUN/urgent"
"$WORKLOAD" --out "$RUN/urgent" --jobs $URGENT --seed 22 --id-prefix urgent >/dev/null
cat "$RUN/urgent/gold.jsonl" >>"$RUN/gold.jsonl"
deadline=$(date -u -d '+10 seconds' +%Y-%m-%dT%H:%M:%SZ)
jq -c --arg d "$deadline" '.mode = "async" | .deadline = $d' "$RUN/urgent/jobs.jsonl" \
    >"$RUN/urgent.jsonl"

opens_epoch=$(( $(date +%s) + 40 ))
window="$(date -u -d "@$opens_epoch" +%H:%M:%S)-$(date -u -d "@$((opens_epoch + 3600))" +%H:%M:%S)"
MODELS_FILTER='.batch = {"turnaround_s": 1, "errored_share": 0.02}' \
it_start_services 0 '{}' "
  .scheduler = {batch_max_requests: $CAP, max_wait_s: 3600, turnaround_s: 30,
                poll_min_ms: 200, poll_max_ms: 1000, tick_ms: 200, lease_s: 10,
                offpeak: {timezone: \"UTC\", windows: [\"$window\"]}}"

it_start_worker a
it_start_worker b
it_wait_workers_assigned a b
it_start_scheduler a
"$SLUICE" publish "$RUN/jobs.jsonl" >/dev/null || fail "publish"
"$SLUICE" publish "$RUN/urgent.jsonl" >/dev/null || fail "publish urgent"

# --- before the window: rows wait, nothing is submitted ------------------
it_wait_sql "SELECT count(*) FROM pending" $JOBS 120
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'urgent%'" $URGENT 60
[ "$(date +%s)" -lt "$opens_epoch" ] || fail "publishing took longer than the wait for the window"
"$SLUICE" status >"$RUN/status-before.txt" || fail "sluice status"
grep -q "offpeak" "$RUN/status-before.txt" || fail "status does not list the offpeak rows"
grep -q "next opens" "$RUN/status-before.txt" || fail "status does not show the next window"
[ "$(psql_val "SELECT count(*) FROM batches")" -eq 0 ] || fail "a batch was made before the window"
pass "$JOBS offpeak jobs wait in pending; none submitted before the window"

# The scheduler's /metrics: valid text format, pending rows by mode.
PROMCHECK="$SLUICE_BUILD_DIR/ops/promcheck/sluice-promcheck"
addr=$(it_metrics_addr scheduler a)
pending_gauge() {
    curl -sf "http://$addr/metrics" >"$RUN/sched.prom" || fail "scrape the scheduler"
    "$PROMCHECK" "$RUN/sched.prom" || fail "the scheduler's /metrics is not valid"
    awk '/^sluice_pending_rows\{.*mode="offpeak"/ {n += $2} END {print n + 0}' "$RUN/sched.prom"
}
for _ in $(seq 1 50); do [ "$(pending_gauge)" -eq $JOBS ] && break; sleep 0.2; done
[ "$(pending_gauge)" -eq $JOBS ] || fail "sluice_pending_rows says $(pending_gauge), wanted $JOBS"
pass "the scheduler's /metrics shows $JOBS offpeak rows pending"

early=$(psql_val "SELECT count(*) FROM results r JOIN cost_lines c USING (job_id)
    WHERE r.job_id LIKE 'urgent%' AND (r.source <> 'llm' OR c.mode <> 'realtime')")
[ "$early" -eq 0 ] || fail "$early near-deadline jobs were not answered realtime"
pass "$URGENT jobs with a deadline nearer than the turnaround answered realtime"

# --- the window opens: everything lands ----------------------------------
it_wait_sql "SELECT count(*) FROM results" $((JOBS + URGENT)) 180
[ "$(psql_val "SELECT count(*) FROM pending")" -eq 0 ] || fail "pending rows left"
early=$(psql_val "SELECT count(*) FROM batches WHERE created_at < to_timestamp($opens_epoch)")
[ "$early" -eq 0 ] || fail "$early batches created before the window opened"
big=$(psql_val "SELECT count(*) FROM batches WHERE n_rows > $CAP")
[ "$big" -eq 0 ] || fail "$big batches above the cap of $CAP"
[ "$(psql_val "SELECT count(*) FROM batches WHERE state = 'done'")" -ge $((JOBS / CAP)) ] \
    || fail "fewer batches than the cap requires"
pass "$(psql_val "SELECT count(*) FROM batches") batches, none above $CAP, none before the window"

missing=$(psql_val "SELECT count(*) FROM jobs j LEFT JOIN results r USING (job_id) WHERE r.job_id IS NULL")
[ "$missing" -eq 0 ] || fail "$missing jobs without a result"
bad_attempts=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad_attempts" -eq 0 ] || fail "$bad_attempts results whose attempts differ from their cost lines"
failed=$(psql_val "SELECT count(*) FROM results WHERE status = 'failed'")
[ "$failed" -le 5 ] || fail "$failed jobs failed"
pass "one result per job, attempts match cost lines ($failed failed)"

# --- prices: the discount on every batch line ----------------------------
batch_lines=$(psql_val "SELECT count(*) FROM cost_lines WHERE mode = 'batch'")
[ "$batch_lines" -ge $JOBS ] || fail "only $batch_lines batch cost lines"
[ "$(it_batch_price_mismatches)" -eq 0 ] || fail "batch cost lines without the exact batch discount"
[ "$(psql_val "SELECT count(*) FROM cost_lines WHERE mode = 'batch' AND cost_nanousd <= 0 AND tokens_out > 0")" -eq 0 ] \
    || fail "zero-cost batch lines"
[ "$(psql_val "SELECT count(*) FROM results WHERE source = 'batch' AND job_id NOT LIKE 'urgent%'")" -ge $((JOBS - 5)) ] \
    || fail "offpeak jobs not answered by batch"
pass "$batch_lines batch cost lines, each at exactly half the list price"

# --- escalation: low-confidence batch answers climb to the next tier -----
climbed=$(psql_val "SELECT count(*) FROM results r WHERE r.source = 'batch' AND r.tier > 1
    AND EXISTS (SELECT 1 FROM cost_lines c WHERE c.job_id = r.job_id AND c.outcome = 'escalated'
                AND c.tier < r.tier AND c.mode = 'batch')")
[ "$climbed" -gt 0 ] || fail "no batch job was escalated to the next tier"
pass "$climbed escalated jobs answered at a higher tier through batches"

for _ in $(seq 1 50); do [ "$(pending_gauge)" -eq 0 ] && break; sleep 0.2; done
[ "$(pending_gauge)" -eq 0 ] || fail "sluice_pending_rows still $(pending_gauge) with the queue empty"
grep -q '^sluice_batches{state="done"} [1-9]' "$RUN/sched.prom" || fail "no done batches in /metrics"
retried=$(psql_val "SELECT count(*) FROM batches WHERE state = 'done'")
grep -q "answers judged" "$RUN/scheduler-a.log" || fail "scheduler log has no ingest lines"
it_stop_scheduler a
it_stop_worker a
it_stop_worker b
pass "scheduler and workers stopped cleanly ($retried batches done)"
