#!/usr/bin/env bash
# A worker joins in the middle of a run while the first one has 64 provider
# calls in flight. The new owner of the partitions that move re-reads what
# was not committed yet and skips the jobs already in the ledger, so no job
# is called twice: every call the emulator billed has its cost line, and
# every job has one result.
source "$(dirname "$0")/lib.sh"

JOBS=3000
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 25 >/dev/null
it_start_services 300 '{}' '.worker.max_in_flight = 64'
it_start_worker a
it_wait_workers_assigned a
"$SLUICE" publish "$RUN/jobs.jsonl" >/dev/null || fail "publish"
it_wait_sql "SELECT count(*) FROM results" $((JOBS / 5)) 120
it_start_worker b
it_wait_sql "SELECT count(*) FROM results" $JOBS 180
it_stop_worker a
it_stop_worker b

grep -q "kafka: revoked [1-9]" "$RUN/worker-a.log" || fail "worker a gave up no partition"
grep -q "kafka: assigned [1-9]" "$RUN/worker-b.log" || fail "worker b got no partition"
[ "$(psql_val "SELECT count(*) FROM results")" -eq $JOBS ] || fail "result count"
sleep 0.3 # the emulator flushes each usage line; let the last land
it_load_usage_log
billed=$(psql_val "SELECT count(*) FROM usage_log WHERE status = 'ok'")
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE u.status = 'ok'
    AND NOT EXISTS (SELECT 1 FROM cost_lines c WHERE c.provider_request_id = u.request_id)")
[ "$unmatched" -eq 0 ] || fail "$unmatched of $billed billed calls have no cost line: jobs were called twice across the rebalance"
pass "worker b joined mid-run: $billed billed calls, each with its cost line; $JOBS results"
