#!/usr/bin/env bash
# A worker joins in the middle of a run. The first one holds about a
# thousand parked jobs (taken from Kafka, not started), some of them from
# the partitions that move. It must not start
# those once their partitions are revoked: the new owner reads them again
# from the last commit, and both would call the provider. The new owner
# skips what the ledger already has. Calls still in flight when their
# partition moves keep their claim (job_claims): the new owner's copy waits
# for their result instead of calling again. So no job is called twice:
# every call the emulator billed has its cost line (billed == recorded),
# and every job has one result.
source "$(dirname "$0")/lib.sh"

JOBS=1200
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 25 >/dev/null
# 16 calls of 900 ms in flight: the rebalance always finds some running.
# Worker a takes its jobs a partition at a time (as librdkafka delivers
# them) and parks up to 1,024 of the 1,200 (about seven partitions' worth).
# b joins while a is still inside its first partitions, so a's parked jobs
# span more than the four partitions it keeps and some belong to one that
# moves, whichever four move. (With 2,000 jobs and b joining later, the
# four that moved could all be ones a had finished or not yet fetched: the
# case went unexercised now and then under a loaded CI.)
filter='.worker.max_in_flight = 16'
# 24-rebalance-eager runs this with an eager assignor.
[ -z "${REBALANCE_ASSIGNOR:-}" ] || filter="$filter
    | .kafka.properties += {\"partition.assignment.strategy\": \"$REBALANCE_ASSIGNOR\"}"
it_start_services 900 '{}' "$filter"
it_start_worker a
it_wait_workers_assigned a
"$SLUICE" publish "$RUN/jobs.jsonl" >/dev/null || fail "publish"
it_wait_sql "SELECT count(*) FROM results" 16 120
it_start_worker b
it_wait_sql "SELECT count(*) FROM results" $JOBS 300
# The mock cluster hands partitions over in rounds seconds apart: make sure
# b has its share before stopping.
it_wait_workers_assigned b
addr=$(it_metrics_addr worker a)
moved=$(curl -sf "http://$addr/metrics" | awk '/^sluice_jobs_skipped_total\{reason="partition_moved"\}/ {print $2}')
it_stop_worker a
it_stop_worker b

grep -q "kafka: revoked [1-9]" "$RUN/worker-a.log" || fail "worker a gave up no partition"
handed=$(sed -n 's/.* \([0-9]*\) handed over unstarted.*/\1/p' "$RUN/worker-a.log")
[ "${handed:-0}" -gt 0 ] || fail "worker a had no parked job of a revoked partition: the case was not exercised"
[ "${moved:-0}" = "$handed" ] || fail "sluice_jobs_skipped_total{reason=\"partition_moved\"} says ${moved:-nothing}, the worker $handed"
[ "$(psql_val "SELECT count(*) FROM results")" -eq $JOBS ] || fail "result count"
it_stop_emulator # its usage log is complete once it has exited
it_load_usage_log
billed=$(psql_val "SELECT count(*) FROM usage_log WHERE status = 'ok'")
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE u.status = 'ok'
    AND NOT EXISTS (SELECT 1 FROM cost_lines c WHERE c.provider_request_id = u.request_id)")
[ "$unmatched" -eq 0 ] || fail "$unmatched of $billed billed calls have no cost line: jobs were called twice across the rebalance"
all_billed=$(psql_val "SELECT count(*) FROM usage_log")
recorded=$(psql_val "SELECT count(*) FROM usage_log u WHERE EXISTS
    (SELECT 1 FROM cost_lines c WHERE c.client_request_id = u.client_request_id)")
lines=$(psql_val "SELECT count(*) FROM cost_lines")
[ "$recorded" -eq "$all_billed" ] && [ "$lines" -eq "$all_billed" ] \
    || fail "billed $all_billed calls, recorded $recorded of them, $lines cost lines"
waited=$(cat "$RUN"/worker-*.log | sed -n 's/.* \([0-9]*\) duplicates acknowledged after waiting.*/\1/p' | awk '{s += $1} END {print s + 0}')
pass "worker b joined mid-run: a handed $handed parked jobs over unstarted, $waited redelivered copies waited for a call in flight; billed $all_billed = recorded $recorded = $lines cost lines; $JOBS results"
