#!/usr/bin/env bash
# The scheduler's realtime pass bills exactly like the worker: every call it
# sends leaves a cost line, even when the call times out, and even when the
# scheduler is killed with the call in flight.
#
# Async jobs are handed over to the scheduler; then the batch turnaround is
# raised past their deadline, so its realtime pass answers them all. Tier 1
# always stalls past the client's timeout (a call the provider still bills);
# tier 2 answers slowly. Scheduler a is killed -9 while its calls are in
# flight, scheduler b takes the rows over. Every call the emulator billed
# must have a cost line carrying its X-Client-Request-Id, every job exactly
# one result whose attempts count its lines, and no line may be overwritten
# by the scheduler that took over (the dead one's intent lines stay).
source "$(dirname "$0")/lib.sh"

JOBS=24
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 74 >/dev/null
deadline=$(date -u -d '+20 minutes' +%Y-%m-%dT%H:%M:%SZ)
jq -c --arg d "$deadline" 'select(.task == "intent") | .mode = "async" | .deadline = $d' \
    "$RUN/jobs.jsonl" > "$RUN/async.jsonl"
JOBS=$(wc -l < "$RUN/async.jsonl")
[ "$JOBS" -ge 6 ] || fail "only $JOBS intent jobs in the workload"

# Tier 1 (gpt-6-luna) always stalls 2 s; the client gives up after 0.8 s.
MODELS_FILTER='.models["gpt-6-luna"].faults = {"timeout": 1.0, "timeout_s": 2}' \
    it_start_services 1500 '{}' '
    .providers[].timeout_ms = 800 | .providers["emu-anthropic"].timeout_ms = 10000
  | .providers[].max_retries = 1 | .providers[].retry_base_ms = 50
  | '"$IT_REALTIME_PASS_SCHEDULER"
it_hand_over_to_realtime_pass "$RUN/async.jsonl" "$JOBS"

it_start_scheduler a
it_wait_sql "SELECT count(*) FROM cost_lines WHERE reason = 'in_flight'" 4 60
it_kill9_scheduler a
left=$(psql_val "SELECT count(*) FROM cost_lines WHERE reason = 'in_flight'")
pass "scheduler a killed with $left calls in flight (their intent lines written)"

it_start_scheduler b
it_wait_sql "SELECT count(*) FROM results" "$JOBS" 180
it_stop_scheduler b
# The emulator bills a stalled call when its stall ends, after the client
# gave up: wait until it has billed every call the ledger knows of.
luna_lines=$(psql_val "SELECT count(*) FROM cost_lines WHERE model = 'gpt-6-luna' AND outcome = 'unconfirmed'")
deadline_s=$((SECONDS + 30))
until [ "$(grep -c ',gpt-6-luna,' "$RUN/usage.csv")" -ge "$luna_lines" ]; do
    [ $SECONDS -lt $deadline_s ] || break
    sleep 0.2
done
it_stop_emulator # its usage log is complete once it has exited
it_load_usage_log

# --- the killed scheduler's calls stayed on the bill -------------------------
stayed=$(psql_val "SELECT count(*) FROM cost_lines WHERE reason = 'in_flight'")
[ "$stayed" -ge 1 ] || fail "no intent line of the killed scheduler's calls is left"
pass "$stayed intent lines of the killed scheduler kept as unconfirmed spend"

# --- timed-out calls are unconfirmed lines with the id they were sent with ---
timeouts=$(psql_val "SELECT count(*) FROM cost_lines WHERE outcome = 'unconfirmed'
    AND reason = 'timeout' AND client_request_id IS NOT NULL")
[ "$timeouts" -ge "$JOBS" ] || fail "$timeouts timeout lines for $JOBS jobs whose tier 1 always stalls"

# --- every call the emulator billed has exactly its line ---------------------
billed=$(psql_val "SELECT count(*) FROM usage_log")
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE u.client_request_id IS NULL
    OR (SELECT count(*) FROM cost_lines c WHERE c.client_request_id = u.client_request_id) <> 1")
[ "$unmatched" -eq 0 ] || fail "$unmatched of $billed billed calls without exactly one cost line"
answered=$(psql_val "SELECT count(*) FROM usage_log u JOIN cost_lines c USING (client_request_id)
    WHERE c.outcome <> 'unconfirmed' AND (c.tokens_in, c.tokens_cached_in, c.tokens_out)
          IS DISTINCT FROM (u.input_tokens, u.cached_tokens, u.output_tokens)")
[ "$answered" -eq 0 ] || fail "$answered answered calls whose line differs from the usage billed"
pass "$billed billed calls, each with one cost line ($timeouts timed out)"

# --- one result per job, attempts = its lines ---------------------------------
[ "$(psql_val "SELECT count(*) FROM results")" -eq "$JOBS" ] || fail "result count"
[ "$(psql_val "SELECT count(*) FROM pending")" -eq 0 ] || fail "pending rows left"
bad=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad" -eq 0 ] || fail "$bad results whose attempts differ from their cost lines"
pass "$JOBS jobs, one result each, attempts equal to their cost lines"
