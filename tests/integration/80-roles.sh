#!/usr/bin/env bash
# Least-privilege roles (`sluice migrate --roles`, schema/roles.sql): the
# whole pipeline runs as them — two workers as a sluice_worker login, a
# scheduler and `sluice train` as a sluice_scheduler login, `sluice report`
# as a sluice_reader login — and every result arrives; then each role is
# checked for what it must not do (permission denied, SQLSTATE 42501, not
# any other error), a tenant reader sees only its tenant's rows, a table
# without a declared grant stops `migrate --roles`, and a re-run converges
# (a privilege added by hand is revoked again).
source "$(dirname "$0")/lib.sh"

JOBS=2000
ASYNC=200
"$WORKLOAD" --out "$RUN" --jobs $JOBS --seed 81 >/dev/null
mkdir -p "$RUN/async" "$RUN/run2"
"$WORKLOAD" --out "$RUN/async" --jobs $ASYNC --seed 82 --id-prefix async >/dev/null
"$WORKLOAD" --out "$RUN/run2" --jobs 500 --seed 83 --id-prefix run2 >/dev/null
cat "$RUN/async/gold.jsonl" "$RUN/run2/gold.jsonl" >>"$RUN/gold.jsonl"
jq -c '.mode = "async"' "$RUN/async/jobs.jsonl" >"$RUN/async.jsonl"
MODELS_FILTER='.batch = {"turnaround_s": 1, "errored_share": 0}' \
it_start_services 0 '{}' '
  .scheduler = {batch_max_requests: 100, max_wait_s: 0, turnaround_s: 30,
                poll_min_ms: 200, poll_max_ms: 500, tick_ms: 50, lease_s: 30}
  | .tasks.intent.tier0 += {shadow_share: 0.3, target: 0.9}'
OWNER_CONNINFO=$SLUICE_PG_CONNINFO

# --- roles: applied twice (idempotent), logins made as an operator would ---
for i in 1 2; do
    "$SLUICE" migrate --roles >"$RUN/migrate-roles.$i" 2>&1 || { cat "$RUN/migrate-roles.$i" >&2; fail "migrate --roles (run $i)"; }
    grep -q '^roles applied: sluice_worker sluice_scheduler sluice_reader sluice_tenant_reader$' \
        "$RUN/migrate-roles.$i" || fail "migrate --roles printed no roles line (run $i)"
done
pass "migrate --roles twice"
psql_val "CREATE ROLE it_worker LOGIN IN ROLE sluice_worker;
          CREATE ROLE it_sched LOGIN IN ROLE sluice_scheduler;
          CREATE ROLE it_reader LOGIN IN ROLE sluice_reader;
          CREATE ROLE it_tenant LOGIN IN ROLE sluice_tenant_reader;
          CREATE ROLE it_tenant_unmapped LOGIN IN ROLE sluice_tenant_reader;
          INSERT INTO sluice_tenant_readers VALUES ('it_tenant', 'tenant-03'),
                                                   ('it_tenant', 'tenant-07'),
                                                   ('someone_else', 'tenant-05')" >/dev/null

as_role() { # as_role LOGIN COMMAND... — runs a sluice command as LOGIN
    local login=$1
    shift
    SLUICE_PG_CONNINFO="$OWNER_CONNINFO user=$login" "$@"
}

# --- the pipeline as the restricted roles -----------------------------------
as_role it_worker it_start_worker a
as_role it_worker it_start_worker b
it_wait_workers_assigned a b
"$SLUICE" publish "$RUN/jobs.jsonl" >/dev/null || fail "publish"
"$SLUICE" publish "$RUN/async.jsonl" >/dev/null || fail "publish async"
printf 'not json at all\n{"id": "no-task"}\n' |
    kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l /dev/stdin || fail "kcat"
as_role it_sched it_start_scheduler a
it_wait_sql "SELECT count(*) FROM results" $((JOBS + ASYNC)) 240
it_wait_sql "SELECT count(*) FROM rejected" 2 60
it_stop_scheduler a
it_stop_worker a
it_stop_worker b
# A refused statement is logged as "<what>: 42501: ERROR:  permission denied
# ...": the SQLSTATE between colons, so that a port number such as 42501 in
# "listening on 127.0.0.1:42501" does not count.
hit_denied() { grep -iE 'permission denied|: 42501: ' "$@"; }
hit_denied "$RUN"/worker-*.log "$RUN"/scheduler-*.log &&
    fail "a process hit permission denied"
[ "$(psql_val "SELECT count(*) FROM results WHERE source = 'batch'")" -gt 0 ] ||
    fail "no batch answers: the scheduler's path was not exercised"
pass "workers (sluice_worker) and scheduler (sluice_scheduler): $((JOBS + ASYNC)) results, 2 rejects, batches"
# The rollup's triggers run as the owner (SECURITY DEFINER): the lines the
# two roles wrote are all in cost_daily, which neither may touch itself.
[ "$(psql_val "SELECT sum(calls) || '/' || sum(cost_nanousd) FROM cost_daily")" = \
  "$(psql_val "SELECT count(*) || '/' || sum(cost_nanousd) FROM cost_lines")" ] ||
    fail "cost_daily does not hold the lines the workers and scheduler wrote"
pass "cost_daily holds the lines written by sluice_worker and sluice_scheduler logins"

# Training prunes and reads traces and stores a model: the scheduler's role.
as_role it_sched "$SLUICE" train --task intent >"$RUN/train.txt" 2>&1 || { cat "$RUN/train.txt" >&2; fail "train as it_sched"; }
[ "$(psql_val "SELECT count(*) FROM tier0_models")" -ge 1 ] || fail "no tier-0 model stored"
# A second run loads it (tier0_models), answers at tier 0, shadow-checks.
as_role it_worker it_start_worker c
it_wait_workers_assigned c
"$SLUICE" publish "$RUN/run2/jobs.jsonl" >/dev/null || fail "publish run2"
it_wait_sql "SELECT count(*) FROM results" $((JOBS + ASYNC + 500)) 240
it_stop_worker c
hit_denied "$RUN"/worker-c.log && fail "worker c hit permission denied"
tier0=$(psql_val "SELECT count(*) FROM results WHERE source = 'tier0'")
shadow=$(psql_val "SELECT count(*) FROM tier0_shadow")
[ "$tier0" -gt 0 ] && [ "$shadow" -gt 0 ] || fail "tier 0 not exercised: $tier0 answers, $shadow shadow checks"
pass "train (sluice_scheduler) stored a model; worker answered $tier0 at tier 0, $shadow shadow checks"

as_role it_sched "$SLUICE" status >"$RUN/status.txt" 2>&1 || { cat "$RUN/status.txt" >&2; fail "status as it_sched"; }
as_role it_reader "$SLUICE" report --html "$RUN/report.html" >"$RUN/report.txt" 2>&1 ||
    { cat "$RUN/report.txt" >&2; fail "report as it_reader"; }
grep -q '<svg' "$RUN/report.html" || fail "report as it_reader drew no chart"
pass "status (sluice_scheduler) and report (sluice_reader, views only)"

# Retention (schema/016) as the scheduler's role, which may not delete
# ledger rows itself: jobs and rejected messages made 40 days old go, with
# their results; the rest and every cost line stay.
old_ids="'$(psql_val "SELECT string_agg(job_id, ''',''') FROM (SELECT job_id FROM results ORDER BY job_id LIMIT 3) r")'"
psql_val "UPDATE jobs SET finished_at = now() - interval '40 days' WHERE job_id IN ($old_ids);
          UPDATE rejected SET created_at = now() - interval '40 days' WHERE id = (SELECT min(id) FROM rejected)" >/dev/null
lines_before=$(psql_val "SELECT count(*) FROM cost_lines")
jobs_before=$(psql_val "SELECT count(*) FROM jobs")
jq '.scheduler += {job_retention_days: 30, rejected_retention_days: 30}' "$SLUICE_CONFIG" >"$RUN/retain.json"
SLUICE_CONFIG=$RUN/retain.json as_role it_sched "$SLUICE" scheduler --once >"$RUN/retain.log" 2>&1 ||
    { cat "$RUN/retain.log" >&2; fail "scheduler --once with retention as it_sched"; }
hit_denied "$RUN/retain.log" && fail "retention hit permission denied"
[ "$(psql_val "SELECT count(*) FROM jobs WHERE job_id IN ($old_ids)") $(psql_val "SELECT count(*) FROM results WHERE job_id IN ($old_ids)")" = "0 0" ] ||
    { cat "$RUN/retain.log" >&2; fail "the 40-day-old jobs or their results remain"; }
[ "$(psql_val "SELECT count(*) FROM jobs")" = $((jobs_before - 3)) ] || fail "retention deleted recent jobs"
[ "$(psql_val "SELECT count(*) FROM rejected")" = 1 ] || fail "rejected: want the recent one left"
[ "$(psql_val "SELECT count(*) FROM cost_lines")" = "$lines_before" ] || fail "retention touched cost lines"
grep -q 'job retention: deleted 3 rows older than 30 days' "$RUN/retain.log" || fail "no job retention log line"
pass "retention (sluice_scheduler): 3 old jobs with their results and 1 rejected message deleted, cost lines kept"

# The report copies v_cost_daily and v_cost_per_job over its range into
# temporary tables once, when the login may create them (TEMP, granted to
# PUBLIC by default), and reads the views themselves otherwise: the same
# report both ways.
db=$(psql_val "SELECT current_database()")
temp_as_reader() { # prints the SQLSTATE of a failure, nothing on success
    PGUSER=it_reader psql -X -q -t -A -v VERBOSITY=sqlstate -c "CREATE TEMP TABLE t_probe (i int)" 2>&1 >/dev/null
}
[ -z "$(temp_as_reader)" ] ||
    fail "it_reader cannot create a temporary table with TEMP granted to PUBLIC"
as_role it_reader "$SLUICE" report --csv >"$RUN/report-temp.csv" || fail "report --csv with TEMP"
psql_val "REVOKE TEMP ON DATABASE \"$db\" FROM PUBLIC" >/dev/null
[[ "$(temp_as_reader)" == *42501* ]] ||
    fail "it_reader can still create a temporary table without TEMP: $(temp_as_reader)"
as_role it_reader "$SLUICE" report --csv >"$RUN/report-views.csv" || fail "report --csv without TEMP"
psql_val "GRANT TEMP ON DATABASE \"$db\" TO PUBLIC" >/dev/null
[ "$(grep -c . "$RUN/report-temp.csv")" -gt 50 ] || fail "report --csv is nearly empty"
diff "$RUN/report-temp.csv" "$RUN/report-views.csv" >&2 ||
    fail "the report differs with and without its temporary tables"
pass "report: the same $(wc -l <"$RUN/report-temp.csv") CSV lines with and without temporary tables"

# --- what each role must not do --------------------------------------------
# usage: sql_as LOGIN SQL — prints the output (an error as its SQLSTATE).
sql_as() {
    PGUSER=$1 psql -X -q -t -A -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "$2" 2>&1
}
allowed() { # allowed LOGIN SQL
    local out
    out=$(sql_as "$1" "$2") || fail "$1 was refused: $2 ($out)"
}
denied() { # denied LOGIN SQL — must fail with 42501 (insufficient privilege)
    local out
    if out=$(sql_as "$1" "$2"); then
        fail "$1 was allowed: $2"
    fi
    grep -q '42501' <<<"$out" || fail "$1: $2 failed for another reason: $out"
}

checks=("DROP TABLE cost_lines" "DELETE FROM cost_lines"
        "TRUNCATE cost_lines" "UPDATE results SET label = 'x'" "DELETE FROM jobs"
        "ALTER TABLE jobs ADD COLUMN x int" "CREATE TABLE it_mine (x int)"
        "SELECT count(*) FROM batches" "DELETE FROM pending" "DELETE FROM traces"
        "INSERT INTO tier0_models (task, version, model, thresholds, metrics, certified_labels)
            VALUES ('t', 1, '', '{}', '{}', '{}')" "SELECT count(*) FROM schema_migrations"
        "SELECT count(*) FROM sluice_tenant_readers" "DROP VIEW v_cost_daily"
        "SELECT count(*) FROM cost_daily" "UPDATE cost_daily SET calls = 0")
for sql in "${checks[@]}"; do
    denied it_worker "$sql"
done
allowed it_worker "SELECT sum(cost_nanousd) FROM cost_lines"
# A worker may replace only an in-flight estimate: a billed line stays.
before=$(psql_val "SELECT sum(cost_nanousd) || '/' || count(*) FROM cost_lines WHERE reason IS DISTINCT FROM 'in_flight'")
sql_as it_worker "UPDATE cost_lines SET cost_nanousd = 0" >/dev/null || fail "worker UPDATE errored"
[ "$(psql_val "SELECT sum(cost_nanousd) || '/' || count(*) FROM cost_lines WHERE reason IS DISTINCT FROM 'in_flight'")" = "$before" ] ||
    fail "a worker changed a billed cost line"
# Row-level security costs the worker nothing: its budget query plans as the owner's.
q="EXPLAIN (COSTS OFF) SELECT feature, sum(cost_nanousd) FROM cost_lines WHERE created_at >= now() - interval '1 day' GROUP BY 1"
[ "$(sql_as it_worker "$q")" = "$(psql_val "$q")" ] || fail "RLS changed the worker's plan: $(sql_as it_worker "$q")"
pass "worker: cannot drop, delete, update, truncate, alter or create; reads what budgets need"

checks=("DROP TABLE pending" "DELETE FROM cost_lines" "UPDATE jobs SET task = 'x'"
        "TRUNCATE batches" "DELETE FROM batches" "SELECT count(*) FROM rejected"
        "DELETE FROM results" "CREATE TABLE it_mine (x int)")
for sql in "${checks[@]}"; do
    denied it_sched "$sql"
done
allowed it_sched "SELECT count(*) FROM pending"
pass "scheduler: cannot drop, touch the ledger beyond inserts, or read rejected payloads"

checks=("SELECT count(*) FROM traces" "SELECT count(*) FROM cost_lines" "DELETE FROM cost_lines"
        "SELECT count(*) FROM jobs" "SELECT count(*) FROM results" "SELECT count(*) FROM rejected"
        "INSERT INTO jobs (job_id, task, mode, input_chars, received_at) VALUES ('x', 't', 'm', 1, now())"
        "SELECT count(*) FROM pending" "CREATE TABLE it_mine (x int)"
        "SELECT count(*) FROM cost_daily")
for sql in "${checks[@]}"; do
    denied it_reader "$sql"
done
views=$(psql_val "SELECT string_agg(viewname, ' ' ORDER BY viewname) FROM pg_views WHERE schemaname = 'public'")
for v in $views; do
    [ "$(sql_as it_reader "SELECT count(*) FROM $v")" = "$(psql_val "SELECT count(*) FROM $v")" ] ||
        fail "reader sees other rows in $v than the owner"
done
pass "reader: every view ($(wc -w <<<"$views")) as the owner sees it, no table"

# --- tenant reader: row-level security -------------------------------------
want=$(psql_val "SELECT count(*) FROM cost_lines WHERE tenant IN ('tenant-03', 'tenant-07')")
[ "$want" -gt 0 ] || fail "no cost lines of tenant-03/07 (workload changed?)"
[ "$(sql_as it_tenant "SELECT count(*) FROM cost_lines")" = "$want" ] || fail "tenant reader cost_lines count"
[ "$(sql_as it_tenant "SELECT string_agg(DISTINCT tenant, ',' ORDER BY tenant) FROM jobs")" = "tenant-03,tenant-07" ] ||
    fail "tenant reader sees jobs of other tenants"
[ "$(sql_as it_tenant "SELECT count(*) FROM results")" = \
  "$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id) WHERE j.tenant IN ('tenant-03', 'tenant-07')")" ] ||
    fail "tenant reader results count"
[ "$(sql_as it_tenant "SELECT string_agg(tenant, ',' ORDER BY tenant) FROM sluice_tenant_readers")" = "tenant-03,tenant-07" ] ||
    fail "tenant reader sees other logins' mappings"
[ "$(sql_as it_tenant_unmapped "SELECT count(*) FROM cost_lines")" = 0 ] || fail "unmapped tenant reader sees rows"
checks=("SELECT count(*) FROM v_cost_daily" "DELETE FROM cost_lines" "SELECT count(*) FROM traces"
        "INSERT INTO sluice_tenant_readers VALUES ('it_tenant', 'tenant-05')")
for sql in "${checks[@]}"; do
    denied it_tenant "$sql"
done
pass "tenant reader: $want cost lines of its two tenants, no view, no other tenant"

# --- an undeclared table stops migrate --roles; a re-run converges -----------
psql_val "CREATE TABLE it_undeclared (x int); GRANT DELETE ON cost_lines TO sluice_worker" >/dev/null
"$SLUICE" migrate --roles >"$RUN/undeclared.txt" 2>&1 && fail "migrate --roles accepted an undeclared table"
grep -q 'no grants declared for it_undeclared' "$RUN/undeclared.txt" || { cat "$RUN/undeclared.txt" >&2; fail "wrong error"; }
allowed it_worker "DELETE FROM cost_lines WHERE false" # the failed run rolled back, changed nothing
psql_val "DROP TABLE it_undeclared" >/dev/null
"$SLUICE" migrate --roles >/dev/null || fail "migrate --roles after dropping the table"
denied it_worker "DELETE FROM cost_lines WHERE false"
pass "undeclared table refused by name; a re-run revokes a privilege granted by hand"

