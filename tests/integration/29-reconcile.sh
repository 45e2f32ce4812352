#!/usr/bin/env bash
# `sluice reconcile` against the emulator's usage reports (OpenAI
# organization usage/completions, Anthropic usage_report/messages, served
# from what it billed) after a pipeline run with realtime and batch jobs and
# unbilled faults (500, 429): per day, provider, model and mode the ledger
# equals the provider, tokens and dollars, difference 0; the metrics file
# says 0 too. Then a ledger line is removed by hand: the difference shows,
# is logged over the tolerance, and lands in the gauge.
source "$(dirname "$0")/lib.sh"

JOBS=600
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 29 >/dev/null
MODELS_FILTER='.batch = {"turnaround_s": 2, "errored_share": 0}' \
it_start_services 0 '{"http_500": 0.05, "http_429": 0.05, "retry_after_s": 0}' '
  .providers[].admin_key_env = "SLUICE_TEST_ADMIN_KEY" | .alerts.reconcile_tolerance_usd = 0
  | .scheduler = {batch_max_requests: 100, max_wait_s: 1, turnaround_s: 30,
                  poll_min_ms: 300, poll_max_ms: 1000, tick_ms: 100, lease_s: 5}'
export SLUICE_TEST_ADMIN_KEY=sk-admin-test-never-logged
# A fifth of the jobs nobody waits for: provider batches.
jq -c 'del(.deadline) | if input_line_number % 5 == 0 then .mode = "async" else .mode = "interactive" end' \
    "$RUN/jobs.jsonl" > "$RUN/mixed.jsonl"
it_start_worker a
it_start_scheduler s
it_wait_workers_assigned a
"$SLUICE" publish "$RUN/mixed.jsonl" >/dev/null || fail "publish"
it_wait_sql "SELECT count(*) FROM results" $JOBS 240
it_stop_worker a
it_stop_scheduler s
[ "$(psql_val "SELECT count(*) FROM cost_lines WHERE mode = 'batch'")" -gt 0 ] || fail "no batch line: batches not exercised"

day=$(date -u +%F)
"$SLUICE" reconcile --from "$day" --to "$day" --metrics-file "$RUN/reconcile.prom" \
    > "$RUN/reconcile.out" 2> "$RUN/reconcile.err" || fail "sluice reconcile: $(cat "$RUN/reconcile.err")"
cat "$RUN/reconcile.out"
rows=$(tail -n +2 "$RUN/reconcile.out" | wc -l)
[ "$rows" -ge 3 ] || fail "only $rows reconcile rows"
for p in emu-openai emu-anthropic; do
    grep -q " $p " "$RUN/reconcile.out" || fail "no row for provider $p"
done
grep -q ' batch ' "$RUN/reconcile.out" || fail "no batch row"
# Columns: diff_in (7), diff_out (10), diff_usd (13).
nonzero=$(tail -n +2 "$RUN/reconcile.out" | awk '$7 != 0 || $10 != 0 || $13 != "$0.000000"' | wc -l)
[ "$nonzero" -eq 0 ] || fail "$nonzero rows differ from the provider: $(tail -n +2 "$RUN/reconcile.out" | awk '$7 != 0 || $10 != 0')"
provider_in=$(tail -n +2 "$RUN/reconcile.out" | awk '{s += $6} END {print s + 0}')
[ "$provider_in" -gt 0 ] || fail "the provider reports no tokens"
grep -q 'over tolerance' "$RUN/reconcile.err" && fail "a difference was logged: $(cat "$RUN/reconcile.err")"
grep -q "$SLUICE_TEST_ADMIN_KEY" "$RUN/reconcile.out" "$RUN/reconcile.err" && fail "the admin key was printed"
grep -q '^sluice_reconcile_diff_nanodollars{provider="emu-openai"} 0$' "$RUN/reconcile.prom" \
    || fail "gauge: $(grep reconcile_diff "$RUN/reconcile.prom")"
pass "reconcile: $rows day/provider/model/mode rows, ledger = provider ($provider_in input tokens), difference 0"

# A lost cost line shows up.
psql_val "DELETE FROM cost_lines WHERE ctid = (SELECT ctid FROM cost_lines
    WHERE provider = 'emu-openai' AND mode = 'realtime' ORDER BY cost_nanousd DESC LIMIT 1)" >/dev/null
"$SLUICE" reconcile --metrics-file "$RUN/reconcile2.prom" > "$RUN/reconcile2.out" 2> "$RUN/reconcile2.err" \
    || fail "second reconcile"
grep -q 'over tolerance' "$RUN/reconcile2.err" || fail "a lost line was not logged: $(cat "$RUN/reconcile2.err")"
diff=$(sed -n 's/^sluice_reconcile_diff_nanodollars{provider="emu-openai"} //p' "$RUN/reconcile2.prom")
[ "${diff:-0}" != 0 ] || fail "the gauge did not move"
pass "a removed cost line shows: logged over tolerance, gauge $diff nano-USD"
