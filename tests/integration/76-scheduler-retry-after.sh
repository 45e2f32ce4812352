#!/usr/bin/env bash
# The scheduler's realtime pass reads the provider's Retry-After as the
# worker does: a hint above providers.*.retry_after_cap_ms means give up on
# the call at once (the next tier answers) instead of retrying on the
# policy's own backoff. Tier 1 answers every call with 429 and
# "retry-after: 30" against a 5 s cap, so each row sends tier 1 exactly one
# request (before, 1 + max_retries), counted in the emulator's request log.
source "$(dirname "$0")/lib.sh"

JOBS=24
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 76 >/dev/null
deadline=$(date -u -d '+20 minutes' +%Y-%m-%dT%H:%M:%SZ)
jq -c --arg d "$deadline" '.mode = "async" | .deadline = $d' "$RUN/jobs.jsonl" > "$RUN/async.jsonl"

EMULATOR_VERBOSE=1 MODELS_FILTER='.models["gpt-6-luna"].faults = {http_429: 1.0, retry_after_s: 30}' \
    it_start_services 20 '{}' '
    .providers["emu-openai"].max_retries = 2
  | .providers["emu-openai"].retry_after_cap_ms = 5000
  | .providers[].retry_base_ms = 20
  | '"$IT_REALTIME_PASS_SCHEDULER"
it_hand_over_to_realtime_pass "$RUN/async.jsonl" $JOBS

it_start_scheduler a
it_wait_sql "SELECT count(*) FROM results" $JOBS 120
it_stop_scheduler a

rows=$(psql_val "SELECT count(DISTINCT job_id) FROM cost_lines WHERE tier = 1")
sent=$(grep -c 'model=gpt-6-luna status=429' "$RUN/emulator.log" || true)
[ "$rows" -gt 0 ] || fail "no row called tier 1: the case was not exercised"
[ "$sent" -eq "$rows" ] || fail "$sent tier-1 requests for $rows rows: a 30 s Retry-After above the 5 s cap was retried"
answered=$(psql_val "SELECT count(*) FROM results r WHERE r.status = 'answered'
    AND EXISTS (SELECT 1 FROM cost_lines c WHERE c.job_id = r.job_id AND c.tier = 1)")
[ "$answered" -eq "$rows" ] || fail "$answered of $rows rows answered above tier 1"
bad=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad" -eq 0 ] || fail "$bad results whose attempts differ from their cost lines"
pass "$rows rows called tier 1 once each (429, retry-after 30 s > cap 5 s) and were answered above it"
