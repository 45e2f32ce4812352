#!/usr/bin/env bash
# A call that times out was still billed by the provider (the emulator
# answers, and logs its usage, after the client gave up). Every such call
# leaves a cost line with outcome 'unconfirmed' whose input tokens, estimated
# from the request, are exactly what the emulator billed for input, and
# whose output is the request's max tokens (an upper bound of what it
# billed). The job itself escalates past the stalled tier and is answered.
# v_bill_bounds shows the unconfirmed spend apart from the confirmed.
source "$(dirname "$0")/lib.sh"

JOBS=6
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 28 >/dev/null
# Tier 1 (gpt-6-luna) always stalls 2 s; the client gives up after 0.8 s.
MODELS_FILTER='.models["gpt-6-luna"].faults = {"timeout": 1.0, "timeout_s": 2}' \
    it_start_services 20 '{}' '.providers[].timeout_ms = 800 | .providers[].max_retries = 1
        | .providers[].retry_base_ms = 50'
it_start_worker a
it_wait_workers_assigned a
jq -c '.mode = "interactive" | del(.deadline)' "$RUN/jobs.jsonl" > "$RUN/rt.jsonl"
"$SLUICE" publish "$RUN/rt.jsonl" >/dev/null || fail "publish"
it_wait_sql "SELECT count(*) FROM results" $JOBS 120

unconfirmed=$(psql_val "SELECT count(*) FROM cost_lines WHERE outcome = 'unconfirmed'")
[ "$unconfirmed" -ge $JOBS ] || fail "$unconfirmed unconfirmed lines for $JOBS jobs whose first tier always times out"
[ "$(psql_val "SELECT count(*) FROM cost_lines WHERE outcome = 'unconfirmed'
    AND (reason <> 'timeout' OR client_request_id IS NULL)")" -eq 0 ] || fail "unconfirmed lines without reason timeout or a client request id"
# The emulator bills each stalled call 2 s after it arrived.
deadline=$((SECONDS + 60))
until [ "$(grep -c ',gpt-6-luna,' "$RUN/usage.csv")" -ge "$unconfirmed" ]; do
    [ $SECONDS -lt $deadline ] || fail "the emulator billed $(grep -c ',gpt-6-luna,' "$RUN/usage.csv") stalled calls, the ledger has $unconfirmed"
    sleep 0.2
done
it_stop_worker a
it_load_usage_log
billed=$(psql_val "SELECT count(*) FROM usage_log WHERE model = 'gpt-6-luna'")
[ "$billed" -eq "$unconfirmed" ] || fail "emulator billed $billed timed-out calls, ledger has $unconfirmed unconfirmed lines"
bad_in=$(psql_val "SELECT count(*) FROM usage_log u LEFT JOIN cost_lines c
    ON c.client_request_id = u.client_request_id AND c.outcome = 'unconfirmed'
    WHERE u.model = 'gpt-6-luna' AND c.tokens_in IS DISTINCT FROM u.input_tokens")
[ "$bad_in" -eq 0 ] || fail "$bad_in unconfirmed lines whose input tokens differ from what the emulator billed"
bad_out=$(psql_val "SELECT count(*) FROM usage_log u JOIN cost_lines c
    ON c.client_request_id = u.client_request_id
    WHERE c.tokens_out < u.output_tokens")
[ "$bad_out" -eq 0 ] || fail "$bad_out unconfirmed lines bill fewer output tokens than the emulator did"
# Every billed call (stalled or answered) has its line; one result per job.
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE NOT EXISTS
    (SELECT 1 FROM cost_lines c WHERE c.client_request_id = u.client_request_id)")
[ "$unmatched" -eq 0 ] || fail "$unmatched billed calls without a cost line"
[ "$(psql_val "SELECT count(*) FROM results WHERE status = 'answered'")" -eq $JOBS ] || fail "not every job answered"
bounds=$(psql_val "SELECT sum(unconfirmed_calls) || ' ' || sum(unconfirmed_nanousd) || ' ' ||
    sum(lower_bound_nanousd) || ' ' || sum(upper_bound_nanousd) FROM v_bill_bounds")
read -r vcalls vunc vlow vhigh <<<"$bounds"
[ "$vcalls" -eq "$unconfirmed" ] || fail "v_bill_bounds counts $vcalls unconfirmed calls"
[ "$vunc" -gt 0 ] && [ "$vhigh" -eq $((vlow + vunc)) ] || fail "v_bill_bounds: $bounds"
pass "$unconfirmed timed-out calls: each an unconfirmed line with the billed input tokens ($billed billed); bill between $vlow and $vhigh nano-USD"
