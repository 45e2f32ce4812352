#!/usr/bin/env bash
# Flex in the scheduler's realtime pass: rows a batch can no longer serve
# in time are answered at OpenAI's flex tier where the provider offers it
# (batch prices on the synchronous API), a flex 429 is retried with backoff
# and then falls back to standard realtime, as in the worker. Every billed
# call has its line with the service tier the emulator reported, and the
# ledger equals the price table applied to the usage log (flex at the
# batch discount).
source "$(dirname "$0")/lib.sh"

JOBS=40
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 75 >/dev/null
deadline=$(date -u -d '+20 minutes' +%Y-%m-%dT%H:%M:%SZ)
jq -c --arg d "$deadline" '.mode = "async" | .deadline = $d' "$RUN/jobs.jsonl" > "$RUN/async.jsonl"

# Half the flex calls find no capacity (429, not billed). With one retry a
# call falls back to standard after two 429s in a row (1 in 4), so some of
# the ~45 OpenAI calls do (all but once in 400,000 runs; at a third, one
# run in about 200 had none).
MODELS_FILTER='.models["gpt-6-luna"].flex = {http_429: 0.5}
             | .models["gpt-6-astra"].flex = {http_429: 0.5}' \
    it_start_services 20 '{}' '
    .providers["emu-openai"].flex = true | .providers["emu-openai"].flex_retries = 1
  | .providers[].retry_base_ms = 20
  | '"$IT_REALTIME_PASS_SCHEDULER"
it_hand_over_to_realtime_pass "$RUN/async.jsonl" $JOBS

it_run_realtime_pass $JOBS
it_stop_emulator # its usage log is complete once it has exited
it_load_usage_log
it_load_prices

flex=$(psql_val "SELECT count(*) FROM usage_log WHERE service_tier = 'flex'")
std_openai=$(psql_val "SELECT count(*) FROM usage_log WHERE api = 'openai' AND service_tier = 'standard'")
[ "$flex" -gt 0 ] || fail "no flex call billed"
[ "$std_openai" -gt 0 ] || fail "no standard OpenAI call: flex 429s never fell back"
pass "$flex flex calls, $std_openai standard OpenAI calls (fall-backs after flex 429s)"

unmatched=$(psql_val "SELECT count(*) FROM usage_log u
    WHERE (SELECT count(*) FROM cost_lines c WHERE c.client_request_id = u.client_request_id) <> 1")
[ "$unmatched" -eq 0 ] || fail "$unmatched billed calls without exactly one cost line"
mismatched=$(psql_val "SELECT count(*) FROM cost_lines c JOIN usage_log u USING (client_request_id)
    WHERE (c.tokens_in, c.tokens_cached_in, c.tokens_out, c.model, c.mode, c.provider_request_id)
       IS DISTINCT FROM (u.input_tokens, u.cached_tokens, u.output_tokens, u.model,
           CASE u.service_tier WHEN 'flex' THEN 'flex' ELSE 'realtime' END, u.request_id)")
[ "$mismatched" -eq 0 ] || fail "$mismatched cost lines disagree with the usage the emulator billed"
ledger=$(psql_val "SELECT sum(cost_nanousd) FROM cost_lines WHERE outcome <> 'unconfirmed'")
expected=$(it_usage_priced_total)
[ "$ledger" = "$expected" ] || fail "ledger total $ledger nano-USD != price table on the usage log $expected"
pass "every billed call has its line with the emulator's tier and usage; ledger $ledger nano-USD = price table"

prom() { awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%d", s }' "$RUN/metrics.txt"; }
served=$(prom 'sluice_flex_calls_total{provider="emu-openai",outcome="served"}')
[ "$served" -eq "$flex" ] || fail "sluice_flex_calls_total served=$served, the emulator billed $flex flex calls"
[ "$(prom 'sluice_flex_calls_total{provider="emu-openai",outcome="unavailable"}')" -gt 0 ] \
    || fail "no flex 429 counted"
[ "$(psql_val "SELECT count(*) FROM results")" -eq $JOBS ] || fail "result count"
bad=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad" -eq 0 ] || fail "$bad results whose attempts differ from their cost lines"
pass "Prometheus counts $served flex calls served; $JOBS jobs, attempts equal to their lines"
