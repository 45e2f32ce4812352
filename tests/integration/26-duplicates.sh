#!/usr/bin/env bash
# The same job published three times back to back, with two workers: one
# provider call per job id. 200 ids: half have their three copies keyed by
# id (one partition, consecutive offsets: the same fetch, even the same
# micro-batch), half have each copy on a different partition (likely two
# workers at once). Every call the emulator billed must have its cost
# line, no job may be called more than its ladder needs (billed == cost
# lines), and every job gets exactly one result.
source "$(dirname "$0")/lib.sh"

IDS=200
"$WORKLOAD" --out "$RUN" --jobs $IDS --malformed 0 --seed 26 >/dev/null
# 300 ms calls: the copies are read long before the first one is answered.
it_start_services 300 '{}' '.worker.claim_lease_ms = 5000'
it_start_worker a
it_start_worker b
it_wait_workers_assigned a b

# Realtime jobs only (async ones make no call in the worker).
jq -c '.mode = "interactive" | del(.deadline)' "$RUN/jobs.jsonl" > "$RUN/base.jsonl"
head -n $((IDS / 2)) "$RUN/base.jsonl" | jq -c '.id = "same-" + .id' > "$RUN/same.jsonl"
tail -n $((IDS / 2)) "$RUN/base.jsonl" | jq -c '.id = "spread-" + .id' > "$RUN/spread.jsonl"
# Keyed: each id's three copies in a row, "key|json" for kcat -K.
jq -r '. as $j | range(3) | "\($j.id)|\($j | tojson)"' "$RUN/same.jsonl" > "$RUN/same.keyed"
kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -K '|' -l "$RUN/same.keyed" \
    || fail "kcat could not publish the keyed copies"
# Spread: copy k of every id to partition (2k + 3) mod 8 (3, 5, 7: the
# range assignor gives them to both workers), all three sent at once.
pids=()
for k in 0 1 2; do
    kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -p $(((2 * k + 3) % 8)) \
        -l "$RUN/spread.jsonl" &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid" || fail "kcat could not publish the spread copies"
done

# Every one of the 600 messages handled: a fresh result, or acknowledged
# because its id was done (at intake, or after waiting for another copy).
handled() {
    local w addr sum=0 v
    for w in a b; do
        addr=$(sed -n 's/.*metrics listening on \([0-9.]*:[0-9]*\).*/\1/p' "$RUN/worker-$w.log" | head -n 1)
        v=$(curl -sf "http://$addr/metrics" | awk '
            /^sluice_jobs_total\{/ { s += $2 }
            /^sluice_jobs_skipped_total\{reason="(already_done|duplicate)"\}/ { s += $2 }
            END { printf "%d", s }')
        sum=$((sum + ${v:-0}))
    done
    echo $sum
}
deadline=$((SECONDS + 240))
until [ "$(handled)" -ge $((IDS * 3)) ]; do
    [ $SECONDS -lt $deadline ] || fail "only $(handled) of $((IDS * 3)) messages handled in 240 s"
    sleep 0.2
done
it_stop_worker a
it_stop_worker b

[ "$(psql_val "SELECT count(*) FROM results")" -eq $IDS ] || fail "$(psql_val "SELECT count(*) FROM results") results for $IDS ids"
waited=$(cat "$RUN"/worker-*.log | sed -n 's/.* \([0-9]*\) duplicates acknowledged after waiting.*/\1/p' | awk '{s += $1} END {print s + 0}')
it_load_usage_log
billed=$(psql_val "SELECT count(*) FROM usage_log")
lines=$(psql_val "SELECT count(*) FROM cost_lines")
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE NOT EXISTS
    (SELECT 1 FROM cost_lines c WHERE c.client_request_id = u.client_request_id)")
echo "billed_calls=$billed cost_lines=$lines unmatched=$unmatched results=$IDS waited=$waited"
[ "$unmatched" -eq 0 ] || fail "$unmatched of $billed billed calls have no cost line: a job id was called twice"
[ "$billed" -eq "$lines" ] || fail "billed calls $billed != cost lines $lines"
bad_attempts=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad_attempts" -eq 0 ] || fail "$bad_attempts jobs whose attempts do not match their cost lines"
[ "$(psql_val "SELECT count(*) FROM job_claims")" -eq 0 ] || fail "claims left behind after a clean stop"
[ "$waited" -gt 0 ] || fail "no copy waited for another: the concurrent case was not exercised"
pass "3 copies x $IDS ids, 2 workers: $billed billed calls = $lines cost lines, one result each; $waited copies waited for the first"
