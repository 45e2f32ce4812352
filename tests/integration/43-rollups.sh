#!/usr/bin/env bash
# The daily rollup (cost_daily, schema/013) against the raw lines:
# - upgrade path: a database migrated to 012 with a ledger (across a month
#   boundary) is migrated to 013; the rollup holds the lines' sums;
# - after inserts, an intent line replaced by its outcome on the next day
#   (and month), an update that changes no sum, deletes (a key emptied), and
#   concurrent writers upserting the same keys in opposite orders;
# each time cost_daily equals a GROUP BY of cost_lines, and every view that
# reads it, and `sluice report --csv` (whole range and bounded ranges), are
# identical to the same views defined as before 013 (over cost_lines; the
# definitions are taken from the database before the upgrade).
# Only PostgreSQL is started.
source "$(dirname "$0")/lib.sh"

cp "$SLUICE_SOURCE_DIR/config/sluice.example.json" "$SLUICE_CONFIG"
svc_pg_start "$RUN"

# ---- a 012 database with a ledger ------------------------------------------------
mkdir "$RUN/schema012"
for f in "$SLUICE_SOURCE_DIR"/schema/*; do
    case $(basename "$f") in 013_*|01[4-9]_*|0[2-9][0-9]_*) ;; *) cp "$f" "$RUN/schema012/" ;; esac
done
SLUICE_SCHEMA_DIR="$RUN/schema012" "$SLUICE" migrate >/dev/null || fail "migrate to 012"
source "$(dirname "$0")/synthetic-ledger.sh"
it_synthetic_ledger
# Lines the synthetic ledger lacks: a shadow check, an unconfirmed line,
# cache hits, a flex call with 1-hour cache writes.
psql_val "INSERT INTO cost_lines (job_id, attempt, tier, provider, model, mode, tokens_in,
              tokens_cached_in, tokens_cache_write, tokens_cache_write_1h, tokens_out,
              cost_nanousd, baseline_nanousd, latency_ms, outcome, reason, task, feature,
              tenant, cohort, created_at)
          VALUES ('job-0001', 9, 2, 'emu-anthropic', 'claude-sonnet-5-5', 'realtime', 100, 0, 0, 0,
                  10, 5000, 0, 30, 'accepted', 'shadow_check', 'intent', 'support', 't1',
                  '2025Q1', '2025-03-31 23:59:59.9+00'),
                 ('job-0002', 9, 1, 'emu-openai', 'gpt-6-luna', 'realtime', 100, 0, 0, 0,
                  256, 7000, 0, 0, 'unconfirmed', 'timeout', 'extract', 'summaries', 't2',
                  '2024Q4', '2025-04-01 00:00:00+00'),
                 ('job-0003', 9, 0, 'cache', 'cache-exact', 'realtime', 0, 0, 0, 0,
                  0, 0, 9000, 0, 'accepted', NULL, 'intent', 'search', 't3',
                  '2025Q1', '2025-04-01 12:00:00+00'),
                 ('job-0004', 9, 0, 'cache', 'cache-near', 'realtime', 0, 0, 0, 0,
                  0, 0, 8000, 0, 'accepted', NULL, 'intent', 'search', 't4',
                  '2024Q4', '2025-04-02 12:00:00+00'),
                 ('job-0005', 9, 1, 'emu-openai', 'gpt-6-luna', 'flex', 300, 100, 50, 40,
                  20, 900, 20000, 70, 'accepted', NULL, 'summarize', 'search', 't0',
                  '2025Q1', '2025-04-02 08:00:00+00')" >/dev/null

# The views 013 rewrites, as they were: their definitions before the upgrade.
VIEWS=(v_cost_daily v_cost_per_job v_cache_daily v_provider_discounts_day)
for v in "${VIEWS[@]}"; do
    psql_val "SELECT pg_get_viewdef('$v'::regclass)" >"$RUN/raw.$v.sql"
done
"$SLUICE" migrate >/dev/null || fail "migrate to 013"
[ "$(psql_val "SELECT count(*) FROM schema_migrations WHERE version = 13")" = 1 ] \
    || fail "013 not recorded"
for v in "${VIEWS[@]}"; do
    psql_val "SELECT pg_get_viewdef('$v'::regclass)" >"$RUN/rollup.$v.sql"
    grep -q cost_daily "$RUN/rollup.$v.sql" || fail "$v does not read cost_daily"
done

# Every view over the cost views, each whole, in one stable text.
ALL_VIEWS=("${VIEWS[@]}" v_cost_by_feature_day v_cost_by_feature_month
           v_cost_by_feature_tenant_month v_cost_by_tenant_month v_cost_by_cohort_month
           v_cost_by_tier_day v_cost_by_model_month v_escalation_rate v_savings
           v_bill_bounds)
dump_views() {
    local v
    for v in "${ALL_VIEWS[@]}"; do
        echo "== $v"
        psql -X -q -t -A -F'|' -v ON_ERROR_STOP=1 -c "SELECT * FROM $v" | LC_ALL=C sort
    done
}
dump_reports() {
    local r
    for r in "" "--from 2025-03-31 --to 2025-04-01" "--from 2025-04-01 --to 2025-04-30" \
             "--from 2025-04-30 --to 2025-05-01 --feature search" "--tenant t1"; do
        echo "== report $r"
        # shellcheck disable=SC2086
        "$SLUICE" report --csv $r || fail "sluice report $r"
    done
}
use_views() { # usage: use_views raw|rollup
    local v
    for v in "${VIEWS[@]}"; do
        psql -X -q -v ON_ERROR_STOP=1 -c "CREATE OR REPLACE VIEW $v AS $(cat "$RUN/$1.$v.sql")" \
            || fail "restoring $1 $v"
    done
}

# usage: check STEP — the rollup equals the raw lines' sums, and every view
# and report reads the same from either.
check() {
    local d
    d=$(psql_val "SELECT count(*) FROM (
          (SELECT * FROM cost_daily WHERE calls <> 0 EXCEPT ALL
           SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant, cohort, task, tier,
                  provider, model, mode, outcome, coalesce(reason = 'shadow_check', false),
                  count(*), sum(tokens_in), sum(tokens_cached_in), sum(tokens_cache_write),
                  sum(tokens_cache_write_1h), sum(tokens_out), sum(cost_nanousd),
                  sum(baseline_nanousd), sum(latency_ms)
           FROM cost_lines GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
          UNION ALL
          (SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant, cohort, task, tier,
                  provider, model, mode, outcome, coalesce(reason = 'shadow_check', false),
                  count(*), sum(tokens_in), sum(tokens_cached_in), sum(tokens_cache_write),
                  sum(tokens_cache_write_1h), sum(tokens_out), sum(cost_nanousd),
                  sum(baseline_nanousd), sum(latency_ms)
           FROM cost_lines GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
           EXCEPT ALL SELECT * FROM cost_daily WHERE calls <> 0)) x")
    [ "$d" = 0 ] || fail "$1: cost_daily differs from the lines in $d rows"
    [ "$(psql_val "SELECT count(*) FROM cost_daily WHERE calls = 0
                   AND (tokens_in, tokens_cached_in, tokens_cache_write, tokens_cache_write_1h,
                        tokens_out, cost_nanousd, baseline_nanousd, latency_ms)
                       <> (0, 0, 0, 0, 0, 0, 0, 0)")" = 0 ] \
        || fail "$1: a key without lines keeps a sum"
    dump_views >"$RUN/views.rollup"
    dump_reports >"$RUN/report.rollup"
    use_views raw
    dump_views >"$RUN/views.raw"
    dump_reports >"$RUN/report.raw"
    use_views rollup
    diff "$RUN/views.raw" "$RUN/views.rollup" >"$RUN/diff" \
        || { head -n 20 "$RUN/diff" >&2; fail "$1: views differ from the raw lines"; }
    diff "$RUN/report.raw" "$RUN/report.rollup" >"$RUN/diff" \
        || { head -n 20 "$RUN/diff" >&2; fail "$1: sluice report differs from the raw lines"; }
    [ "$(grep -c . "$RUN/views.rollup")" -gt 100 ] || fail "$1: views nearly empty"
    grep -q '^bill,' "$RUN/report.rollup" || fail "$1: no bill in the report"
    pass "$1: cost_daily ($(psql_val "SELECT count(*) FROM cost_daily") keys) = the lines' sums; views and reports identical"
}
check "upgrade from 012"

# ---- the ledger's writes ---------------------------------------------------------
# The ledger's statement (lib/ledger.c): an intent line written before the
# call, then replaced by the outcome, whose created_at moves to the next day
# and month (2025-04-30 23:59:59 -> 2025-05-01 00:00:02). Both are filed in
# the month the job's run began (ledger_month, schema/014): April.
upsert() { # usage: upsert JOB ATTEMPT OUTCOME REASON COST CREATED_AT
    psql_val "INSERT INTO cost_lines (job_id, attempt, tier, provider, model, mode, tokens_in,
                  tokens_cached_in, tokens_cache_write, tokens_out, cost_nanousd,
                  baseline_nanousd, latency_ms, outcome, reason, task, feature, tenant, cohort,
                  client_request_id, tokens_cache_write_1h, created_at, ledger_month)
              VALUES ('$1', $2, 1, 'emu-openai', 'gpt-6-luna', 'realtime', 120, 0, 0, 30, $5,
                      9000, 40, '$3', $4, 'intent', 'search', 't1', '2025Q1', 'c-$1-$2', 0, '$6',
                      '2025-04-01')
              ON CONFLICT (job_id, attempt, ledger_month) DO UPDATE SET tier = EXCLUDED.tier,
                  created_at = EXCLUDED.created_at, provider = EXCLUDED.provider,
                  model = EXCLUDED.model, mode = EXCLUDED.mode, tokens_in = EXCLUDED.tokens_in,
                  tokens_cached_in = EXCLUDED.tokens_cached_in,
                  tokens_cache_write = EXCLUDED.tokens_cache_write,
                  tokens_out = EXCLUDED.tokens_out, cost_nanousd = EXCLUDED.cost_nanousd,
                  baseline_nanousd = EXCLUDED.baseline_nanousd, latency_ms = EXCLUDED.latency_ms,
                  outcome = EXCLUDED.outcome, reason = EXCLUDED.reason,
                  provider_request_id = EXCLUDED.provider_request_id,
                  client_request_id = EXCLUDED.client_request_id,
                  tokens_cache_write_1h = EXCLUDED.tokens_cache_write_1h
              WHERE cost_lines.outcome = 'unconfirmed' AND cost_lines.reason = 'in_flight'" >/dev/null
}
psql_val "INSERT INTO jobs (job_id, task, mode, feature, tenant, cohort, user_tier, input_chars,
              received_at, finished_at)
          VALUES ('late-1', 'intent', 'realtime', 'search', 't1', '2025Q1', 'paid', 480,
                  '2025-04-30 23:59:58+00', '2025-05-01 00:00:02+00')" >/dev/null
upsert late-1 1 unconfirmed "'in_flight'" 99000 '2025-04-30 23:59:59+00'
[ "$(psql_val "SELECT calls FROM cost_daily WHERE day = '2025-04-30' AND outcome = 'unconfirmed'")" = 1 ] \
    || fail "the intent line is not in 2025-04-30's rollup"
check "intent line written on 2025-04-30"
upsert late-1 1 accepted NULL 1234 '2025-05-01 00:00:02+00'
[ "$(psql_val "SELECT calls FROM cost_daily WHERE day = '2025-04-30' AND outcome = 'unconfirmed'")" = 0 ] \
    || fail "the replaced intent line is still in 2025-04-30's rollup"
[ "$(psql_val "SELECT cost_nanousd FROM cost_daily WHERE day = '2025-05-01'")" = 1234 ] \
    || fail "the outcome is not in 2025-05-01's rollup"
# A second upsert of the same key changes nothing (the line is final).
upsert late-1 1 accepted NULL 5555 '2025-05-01 00:00:03+00'
[ "$(psql_val "SELECT tableoid::regclass || ' ' || cost_nanousd FROM cost_lines WHERE job_id = 'late-1'")" \
    = "cost_lines_2025_04 1234" ] || fail "late-1's line is not one line, in April's table"
check "intent line replaced on the next day and month"

psql_val "UPDATE cost_lines SET provider_request_id = 'req-' || job_id
          WHERE created_at < '2025-04-01'" >/dev/null
psql_val "UPDATE cost_lines SET cost_nanousd = cost_nanousd + 1, created_at = created_at + interval '1 day'
          WHERE job_id IN ('job-0010', 'job-0020', 'job-0030')" >/dev/null
check "updates (one changing no sum, one moving lines a day)"

# Lines at the ends of bigint: their sums exceed bigint, the rollup stays
# exact (numeric) and the ledger's write cannot fail on it.
psql_val "INSERT INTO cost_lines (job_id, attempt, tier, provider, model, mode, tokens_in,
              tokens_cached_in, tokens_cache_write, tokens_out, cost_nanousd, baseline_nanousd,
              latency_ms, outcome, task, feature, tenant, cohort, created_at)
          SELECT 'huge-' || i, 1, 3, 'emu-openai', 'gpt-6-astra', 'realtime',
                 9223372036854775807, 0, 0, 1, 9223372036854775807, -9223372036854775808,
                 1, 'accepted', 'intent', 'search', 't9', '2025Q1', '2025-04-02 10:00:00+00'
          FROM generate_series(1, 3) i" >/dev/null
check "lines at the ends of bigint"

# Deletes: a few lines (as a reconciliation test does), then every line of
# one day and feature, whose keys stay at calls = 0 and show nowhere.
psql_val "DELETE FROM cost_lines WHERE job_id IN ('job-0012', 'job-0024', 'huge-2') AND attempt = 1" >/dev/null
psql_val "DELETE FROM cost_lines WHERE feature = 'support'
          AND created_at >= '2025-03-30' AND created_at < '2025-03-31'" >/dev/null
[ "$(psql_val "SELECT count(*) FROM cost_daily WHERE calls = 0")" -gt 0 ] \
    || fail "no emptied key (the delete removed nothing?)"
check "deletes"

# Concurrent writers: four sessions, each 40 statements of 50 lines over the
# same 20 keys (two days x ten tenants), two in ascending and two in
# descending key order, intent lines replaced within the run. A deadlock
# would fail a session (ON_ERROR_STOP).
writer() { # usage: writer N ORDER
    local s
    for s in $(seq 1 40); do
        echo "INSERT INTO cost_lines (job_id, attempt, tier, provider, model, mode, tokens_in,
                  tokens_cached_in, tokens_cache_write, tokens_out, cost_nanousd,
                  baseline_nanousd, latency_ms, outcome, reason, task, feature, tenant, cohort,
                  created_at)
              SELECT 'w$1-' || (($s - 1) / 2) || '-' || i, 1, 1, 'emu-openai', 'gpt-6-luna',
                     'realtime', i, 0, 0, 7, 100 * i + $s, 1000, 5,
                     CASE WHEN $s % 2 = 1 THEN 'unconfirmed' ELSE 'accepted' END,
                     CASE WHEN $s % 2 = 1 THEN 'in_flight' END, 'intent', 'search',
                     't' || (i % 10), '2025Q1',
                     timestamptz '2025-04-30 23:59:59+00' + (i % 2) * interval '2 s'
              FROM generate_series(1, 50) i ORDER BY i $2
              ON CONFLICT (job_id, attempt, ledger_month) DO UPDATE SET outcome = EXCLUDED.outcome,
                  reason = EXCLUDED.reason, cost_nanousd = EXCLUDED.cost_nanousd,
                  created_at = EXCLUDED.created_at + interval '1 s'
              WHERE cost_lines.outcome = 'unconfirmed' AND cost_lines.reason = 'in_flight';"
    done | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
}
writer 1 ASC & p1=$!
writer 2 DESC & p2=$!
writer 3 ASC & p3=$!
writer 4 DESC & p4=$!
for p in $p1 $p2 $p3 $p4; do
    wait "$p" || fail "a concurrent writer failed (deadlock?)"
done
[ "$(psql_val "SELECT count(*) FROM cost_lines WHERE job_id LIKE 'w%'")" = 4000 ] \
    || fail "concurrent writers: lines missing"
[ "$(psql_val "SELECT count(*) FROM cost_lines WHERE job_id LIKE 'w%' AND outcome = 'unconfirmed'")" = 0 ] \
    || fail "concurrent writers: intent lines not replaced"
check "four concurrent writers on the same keys"

# Retention (schema/014): the scheduler drops the month tables older than
# scheduler.ledger_retention_months; the rollup keeps their days, so the
# reports over them do not change, but for the learning curve, which needs
# each job's own lines (v_jobs_by_second) and so starts where they do.
dump_reports >"$RUN/report.kept"
old_months=$(psql_val "SELECT count(*) FROM pg_inherits WHERE inhparent = 'cost_lines'::regclass
                       AND inhrelid::regclass::text LIKE 'cost_lines_2025_%'")
[ "$old_months" -ge 3 ] || fail "expected 2025's month tables, found $old_months"
jq '.scheduler.ledger_retention_months = 2' "$SLUICE_CONFIG" >"$RUN/retain.json"
SLUICE_CONFIG=$RUN/retain.json "$SLUICE" scheduler --once >"$RUN/retain.log" 2>&1 \
    || { cat "$RUN/retain.log" >&2; fail "scheduler --once with retention"; }
[ "$(grep -c 'ledger retention: dropped cost_lines_2025_' "$RUN/retain.log")" = "$old_months" ] \
    || { cat "$RUN/retain.log" >&2; fail "the scheduler did not drop 2025's $old_months month tables"; }
[ "$(psql_val "SELECT count(*) FROM cost_lines WHERE ledger_month < '2026-01-01'")" = 0 ] \
    || fail "lines of dropped months remain"
[ "$(psql_val "SELECT count(*) FROM cost_lines")" -gt 0 ] || fail "retention dropped this month's lines"
dump_reports >"$RUN/report.retained"
grep -q '^bill,' "$RUN/report.retained" || fail "no bill after retention"
grep -q '^learning_curve,2025-' "$RUN/report.kept" || fail "no learning curve of 2025 before retention"
! grep -q '^learning_curve,2025-' "$RUN/report.retained" \
    || fail "the learning curve still shows 2025, whose lines were dropped"
diff <(grep -v '^learning_curve,' "$RUN/report.kept") \
     <(grep -v '^learning_curve,' "$RUN/report.retained") >"$RUN/diff" \
    || { head -n 20 "$RUN/diff" >&2; fail "the reports changed when old month tables were dropped"; }
pass "retention: $old_months month tables of 2025 dropped by the scheduler, reports unchanged"

# TRUNCATE (test fixtures use it) empties the rollup too.
psql_val "TRUNCATE cost_lines" >/dev/null
[ "$(psql_val "SELECT count(*) FROM cost_daily")" = 0 ] || fail "TRUNCATE left the rollup"
pass "TRUNCATE cost_lines empties cost_daily"
