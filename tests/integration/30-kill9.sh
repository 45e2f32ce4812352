#!/usr/bin/env bash
# kill -9 one of two workers halfway, let the other go on, restart it: still
# exactly one result per job and one set of cost lines per job, although
# the killed worker's uncommitted jobs are redelivered and answered again.
source "$(dirname "$0")/lib.sh"

JOBS=2000
"$WORKLOAD" --out "$RUN" --jobs $JOBS --seed 23 >/dev/null
# Slow enough (40 ms a call, 16 jobs in flight per worker) to kill mid-run.
it_start_services 40 '{}' '.worker.max_in_flight = 16'

# A worker stopped while it is still joining its group (the dev broker takes
# ~3 s) exits cleanly: librdkafka < 2.3 asserts when a consumer is destroyed
# before its first assignment, so the worker finishes the join first.
it_start_worker early
it_wait_log "$RUN/worker-early.log" "worker consuming" 60 # its SIGTERM handler is set
[ "$(it_worker_partitions early)" -eq 0 ] || fail "worker early joined before the stop"
it_stop_worker early
grep -q "finishing the group join before closing" "$RUN/worker-early.log" \
    || fail "the early stop did not wait for the group join"
pass "a worker stopped during its group join exits 0"

kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l "$RUN/jobs.jsonl" || fail "kcat"

it_start_worker a
it_start_worker b
it_wait_sql "SELECT count(*) FROM results" 400 120
it_kill9_worker a
killed_at=$(psql_val "SELECT count(*) FROM results")
[ "$killed_at" -lt $JOBS ] || fail "the run ended before the kill"
echo "killed worker a at $killed_at results"
it_wait_sql "SELECT count(*) FROM results" $((killed_at + 300)) 120
it_start_worker a
it_wait_sql "SELECT count(*) FROM results" $JOBS 180
# A duplicate still in flight must land before the counts below: wait for
# the calls to be answered (the stops then drain: finish and write the jobs).
it_wait_calls_answered a b
it_stop_worker a
it_stop_worker b

[ "$(psql_val "SELECT count(*) FROM results")" -eq $JOBS ] || fail "result count"
[ "$(psql_val "SELECT count(*) FROM jobs")" -eq $JOBS ] || fail "job count"
lines=$(psql_val "SELECT count(*) FROM cost_lines")
attempts=$(psql_val "SELECT sum(attempts) FROM results")
[ "$lines" -eq "$attempts" ] || fail "$lines cost lines for $attempts attempts"
# (an unconfirmed line, e.g. the killed worker's estimate of a call it never
# saw answered, has no provider id)
dup_requests=$(psql_val "SELECT count(provider_request_id) - count(DISTINCT provider_request_id) FROM cost_lines")
[ "$dup_requests" -eq 0 ] || fail "$dup_requests provider answers booked twice"
orphans=$(psql_val "SELECT count(*) FROM cost_lines c WHERE NOT EXISTS
    (SELECT 1 FROM results r WHERE r.job_id = c.job_id AND c.attempt <= r.attempts)")
[ "$orphans" -eq 0 ] || fail "$orphans cost lines outside their job's attempts"
# Every call the emulator billed has its line, confirmed or (the killed
# worker's calls) unconfirmed: nothing billed goes unrecorded.
it_stop_emulator # its usage log is complete once it has exited
it_load_usage_log
calls=$(psql_val "SELECT count(*) FROM usage_log")
unrecorded=$(psql_val "SELECT count(*) FROM usage_log u WHERE NOT EXISTS
    (SELECT 1 FROM cost_lines c WHERE c.client_request_id = u.client_request_id)")
[ "$unrecorded" -eq 0 ] || fail "$unrecorded of $calls billed calls have no cost line"
confirmed=$(psql_val "SELECT count(*) FROM cost_lines WHERE outcome <> 'unconfirmed'")
[ "$calls" -ge "$confirmed" ] || fail "fewer provider calls ($calls) than confirmed lines ($confirmed)"
pass "after kill -9 and restart: $JOBS results, $lines cost lines, no duplicate, all $calls billed calls recorded"
