#!/usr/bin/env bash
# The scheduler's realtime pass reads the provider's Retry-After as the
# worker does: a hint above providers.*.retry_after_cap_ms means give up on
# the call at once (the next tier answers) instead of retrying on the
# policy's own backoff. Tier 1 answers every call with 429 and
# "retry-after: 30" against a 5 s cap, so each row sends tier 1 exactly one
# request (before, 1 + max_retries), counted in the emulator's request log.
# Tier 2 answers half its calls with 429 and a 50 ms hint, within the cap:
# those are retried, and sluice_provider_retries_total counts the retries.
source "$(dirname "$0")/lib.sh"

JOBS=24
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 76 >/dev/null
deadline=$(date -u -d '+20 minutes' +%Y-%m-%dT%H:%M:%SZ)
jq -c --arg d "$deadline" '.mode = "async" | .deadline = $d' "$RUN/jobs.jsonl" > "$RUN/async.jsonl"

EMULATOR_VERBOSE=1 MODELS_FILTER='.models["gpt-6-luna"].faults = {http_429: 1.0, retry_after_s: 30}
             | .models["claude-sonnet-5-5"].faults = {http_429: 0.5, retry_after_s: 0.05}' \
    it_start_services 20 '{}' '
    .providers["emu-openai"].max_retries = 2
  | .providers["emu-openai"].retry_after_cap_ms = 5000
  | .providers[].retry_base_ms = 20
  | '"$IT_REALTIME_PASS_SCHEDULER"
it_hand_over_to_realtime_pass "$RUN/async.jsonl" $JOBS

it_run_realtime_pass $JOBS

rows=$(psql_val "SELECT count(DISTINCT job_id) FROM cost_lines WHERE tier = 1")
sent=$(grep -c 'model=gpt-6-luna status=429' "$RUN/emulator.log" || true)
[ "$rows" -gt 0 ] || fail "no row called tier 1: the case was not exercised"
[ "$sent" -eq "$rows" ] || fail "$sent tier-1 requests for $rows rows: a 30 s Retry-After above the 5 s cap was retried"
climbed=$(psql_val "SELECT count(DISTINCT job_id) FROM cost_lines c WHERE c.tier > 1
    AND EXISTS (SELECT 1 FROM cost_lines o WHERE o.job_id = c.job_id AND o.tier = 1)")
[ "$climbed" -eq "$rows" ] || fail "$climbed of $rows rows went on above tier 1"
bad=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad" -eq 0 ] || fail "$bad results whose attempts differ from their cost lines"
pass "$rows rows called tier 1 once each (429, retry-after 30 s > cap 5 s) and went on above it"

# Tier 2's 429s within the cap are retried: each retry is counted, and there
# are at most as many as the 429s the emulator sent (a row whose retries
# run out climbs on without one more).
t2_429=$(grep -c 'model=claude-sonnet-5-5 status=429' "$RUN/emulator.log" || true)
retries=$(awk 'index($0, "sluice_provider_retries_total{provider=\"emu-anthropic\"}") == 1 { s += $NF }
    END { printf "%d", s }' "$RUN/metrics.txt")
[ "$t2_429" -gt 0 ] || fail "tier 2 sent no 429: the case was not exercised"
[ "$retries" -gt 0 ] && [ "$retries" -le "$t2_429" ] \
    || fail "sluice_provider_retries_total=$retries for $t2_429 tier-2 429s"
pass "$retries retries counted for $t2_429 tier-2 429s with a hint within the cap"
