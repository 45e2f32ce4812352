#!/usr/bin/env bash
# The answer cache end to end. Round 1 answers 300 jobs (distinct inputs) through the ladder
# (worker a); round 2 publishes the same inputs under new ids to another
# worker (b, an empty in-process cache, so its hits come from the shared
# table): the cacheable ones are answered from the cache with no provider
# call (the emulator's usage log holds exactly the ledger's provider lines),
# each with one zero-cost line carrying a baseline, and the worker's
# counters equal the ledger. A purge makes the next round call the provider
# again; a prompt change (SIGHUP) makes a new version: no stale hit. Then a
# label task in near mode, on a third worker: light edits find their
# candidates in the shared table, are checked against the ladder until the
# bound holds, then served from the cache, a share still re-checked.
source "$(dirname "$0")/lib.sh"

"$WORKLOAD" --out "$RUN" --jobs 300 --seed 55 --id-prefix r1 >/dev/null
# Distinct inputs per task, all interactive: every repeat below is one of
# an earlier round's job.
jq -s -c 'map(.mode = "interactive" | del(.deadline)) | unique_by([.task, .input]) | .[]' \
    "$RUN/jobs.jsonl" >"$RUN/r1.jsonl"
JOBS=$(wc -l <"$RUN/r1.jsonl")
# The near-duplicate round's edits: upper-cased with "!!" added (an exact
# miss, similarity 1 after normalisation); the emulator answers them like the
# originals.
jq -c '.text |= (ascii_upcase + " !!")' "$RUN/gold.jsonl" >"$RUN/gold-edits.jsonl"
cat "$RUN/gold-edits.jsonl" >>"$RUN/gold.jsonl"
# The same inputs under new ids: round NAME [TASK_FILTER]
round_file() {
    jq -c --arg p "$1" "select(${2:-true}) | .id = (\$p + \"-\" + .id)" "$RUN/r1.jsonl" >"$RUN/$1.jsonl"
    wc -l <"$RUN/$1.jsonl"
}

it_start_services 0 '{}' '.tasks.intent.cache.mode = "exact"
    | .tasks.priority.cache = {"mode": "exact", "shared": true}
    | .tasks.extract.cache.mode = "exact"
    | .tasks.intent.tier0.enabled = false | .tasks.priority.tier0.enabled = false'
"$SLUICE" publish "$RUN/r1.jsonl" >/dev/null || fail "publish round 1"
it_start_worker a
it_wait_sql "SELECT count(*) FROM results" $JOBS 60
it_wait_calls_answered a
it_stop_worker a
entries=$(psql_val "SELECT count(*) FROM cache_entries")
[ "$entries" -gt 0 ] || fail "round 1 stored no cache entry"
[ "$(psql_val "SELECT count(*) FROM cache_entries WHERE task = 'summary'")" -eq 0 ] \
    || fail "summary (cache off) has cache entries"
# Never cached: failed or low-confidence answers.
bad=$(psql_val "SELECT count(*) FROM cache_entries e WHERE e.confidence < 0.75
    OR (e.task <> 'priority' AND e.confidence < 0.8)")
[ "$bad" -eq 0 ] || fail "$bad low-confidence answers were cached"
# Tenant scope: intent's entries belong to their tenant, priority's (shared)
# to none.
[ "$(psql_val "SELECT count(*) FROM cache_entries WHERE task = 'intent' AND tenant = ''")" -eq 0 ] \
    || fail "intent entries without their tenant"
[ "$(psql_val "SELECT count(*) FROM cache_entries WHERE task = 'priority' AND tenant <> ''")" -eq 0 ] \
    || fail "shared priority entries kept under a tenant"
pass "round 1: $entries cache entries from $JOBS jobs"

# --- round 2: another worker, same inputs ---------------------------------
n2=$(round_file r2)
"$SLUICE" publish "$RUN/r2.jsonl" >/dev/null || fail "publish round 2"
it_start_worker b
it_wait_sql "SELECT count(*) FROM results" $((JOBS + n2)) 60
it_wait_calls_answered b
# Which round-2 jobs should hit: a round-1 twin of a cached task whose
# answer was stored (the same key, i.e. the same task, tenant scope, input).
should=$(psql_val "SELECT count(*) FROM jobs j2 JOIN jobs j1 ON j1.job_id = substr(j2.job_id, 4)
    JOIN results r1 ON r1.job_id = j1.job_id
    WHERE j2.job_id LIKE 'r2-%' AND r1.status = 'answered' AND j2.task <> 'summary'
      AND (r1.confidence IS NULL OR r1.confidence >= CASE j2.task WHEN 'priority' THEN 0.75 ELSE 0.8 END)")
hits=$(psql_val "SELECT count(*) FROM results WHERE job_id LIKE 'r2-%' AND source = 'cache'")
[ "$hits" -eq "$should" ] && [ "$should" -gt $((JOBS / 3)) ] \
    || fail "round 2: $hits cache hits, expected $should"
wrong=$(psql_val "SELECT count(*) FROM results r2 JOIN results r1 ON r1.job_id = substr(r2.job_id, 4)
    WHERE r2.job_id LIKE 'r2-%' AND r2.source = 'cache'
      AND (r2.label, r2.data::text, r2.model) IS DISTINCT FROM (r1.label, r1.data::text, r1.model)")
[ "$wrong" -eq 0 ] || fail "$wrong cache hits differ from the answer they repeat"
bad_lines=$(psql_val "SELECT count(*) FROM results r WHERE r.source = 'cache' AND (r.attempts <> 1
    OR (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id AND c.provider = 'cache'
          AND c.tier = 0 AND c.cost_nanousd = 0 AND c.baseline_nanousd > 0
          AND c.outcome = 'accepted' AND c.attempt = 1) <> 1
    OR (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id) <> 1)")
[ "$bad_lines" -eq 0 ] || fail "$bad_lines cache hits without exactly one zero-cost line with a baseline"
# No provider call for a hit: the emulator logged exactly the ledger's calls.
it_load_usage_log
calls=$(psql_val "SELECT count(*) FROM usage_log")
lines=$(psql_val "SELECT count(*) FROM cost_lines WHERE tier > 0")
[ "$calls" -eq "$lines" ] || fail "emulator logged $calls calls, ledger has $lines provider lines"
r2_called=$(psql_val "SELECT count(DISTINCT job_id) FROM cost_lines WHERE job_id LIKE 'r2-%' AND tier > 0")
r2_calls=$(psql_val "SELECT count(*) FROM cost_lines WHERE job_id LIKE 'r2-%' AND tier > 0")
[ "$r2_called" -eq $((n2 - hits)) ] || fail "round 2: $r2_called jobs called a provider, $((n2 - hits)) missed the cache"
# The worker's counters equal the ledger.
addr=$(it_metrics_addr worker b)
prom=$(curl -sf "http://$addr/metrics")
metric_hits=$(awk '/^sluice_cache_events_total\{.*event="exact_hit"/ {s += $2} END {print s + 0}' <<<"$prom")
metric_lookups=$(awk '/^sluice_cache_events_total\{.*event="lookup"/ {s += $2} END {print s + 0}' <<<"$prom")
cached_jobs=$(psql_val "SELECT count(*) FROM jobs WHERE job_id LIKE 'r2-%' AND task <> 'summary'")
[ "$metric_hits" -eq "$hits" ] || fail "metrics count $metric_hits exact hits, ledger $hits"
[ "$metric_lookups" -eq "$cached_jobs" ] || fail "metrics count $metric_lookups lookups for $cached_jobs jobs of cached tasks"
pass "round 2: $hits of $n2 jobs from the cache (expected $should), $r2_calls provider calls, metrics == ledger"

# --- report section ---------------------------------------------------------
"$SLUICE" report --from 2000-01-01 --to 2100-01-01 >"$RUN/report.txt" || fail "sluice report"
grep -q "^Cache" "$RUN/report.txt" || fail "report has no cache section"
pass "report: $(grep -A3 '^Cache' "$RUN/report.txt" | tail -n 1)"

# --- purge: the running worker drops what it holds --------------------------
"$SLUICE" cache purge --task intent | tee "$RUN/purge.txt"
grep -q "^purged [1-9][0-9]* entries of task intent" "$RUN/purge.txt" || fail "purge output"
[ "$(psql_val "SELECT count(*) FROM cache_entries WHERE task = 'intent'")" -eq 0 ] || fail "intent entries left"
# One tenant's entries only.
tenant=$(psql_val "SELECT tenant FROM cache_entries WHERE task = 'extract' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
others=$(psql_val "SELECT count(*) FROM cache_entries WHERE task = 'extract' AND tenant <> '$tenant'")
[ "$others" -gt 0 ] || fail "extract entries of a single tenant: the tenant purge would prove nothing"
"$SLUICE" cache purge --task extract --tenant "$tenant" >/dev/null || fail "purge --tenant"
[ "$(psql_val "SELECT count(*) FROM cache_entries WHERE task = 'extract' AND tenant = '$tenant'")" -eq 0 ] \
    || fail "tenant $tenant's extract entries left"
[ "$(psql_val "SELECT count(*) FROM cache_entries WHERE task = 'extract'")" -eq "$others" ] \
    || fail "a purge of tenant $tenant removed other tenants' entries"
n3=$(round_file r3 '.task == "intent"')
"$SLUICE" publish "$RUN/r3.jsonl" >/dev/null || fail "publish round 3"
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'r3-%'" "$n3" 60
hits3=$(psql_val "SELECT count(*) FROM results WHERE job_id LIKE 'r3-%' AND source = 'cache'")
[ "$hits3" -eq 0 ] || fail "round 3: $hits3 hits after the purge"
calls3=$(psql_val "SELECT count(DISTINCT job_id) FROM cost_lines WHERE job_id LIKE 'r3-%' AND tier > 0")
[ "$calls3" -eq "$n3" ] || fail "round 3: $calls3 of $n3 jobs called a provider"
pass "purge: all $n3 intent jobs of round 3 called the provider again"

# --- a prompt change is a new version: no stale hit -------------------------
jq '.tasks.priority.prompt |= sub("<input>"; "Be strict.\n<input>")' "$SLUICE_CONFIG" >"$RUN/new.json"
mv "$RUN/new.json" "$SLUICE_CONFIG"
kill -HUP "$(cat "$RUN/worker-b.pid")"
it_wait_log "$RUN/worker-b.log" "reload: .* applied" 30
n4=$(round_file r4 '.task == "priority"')
"$SLUICE" publish "$RUN/r4.jsonl" >/dev/null || fail "publish round 4"
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'r4-%'" "$n4" 60
hits4=$(psql_val "SELECT count(*) FROM results WHERE job_id LIKE 'r4-%' AND source = 'cache'")
[ "$hits4" -eq 0 ] || fail "round 4: $hits4 stale hits after a prompt change"
pass "prompt change: none of $n4 priority jobs answered from the old version's entries"

# --- near-duplicates: checks first, then verified hits ----------------------
# The edits of round 3's intent messages go to a new worker c: its
# near-duplicate candidates can only come from the shared table (the LSH
# bands stored with each entry). A loose bound (0.5) keeps the test short:
# it holds after a handful of agreeing checks.
it_stop_worker b
jq '.tasks.intent.cache = {"mode": "near", "verify_share": 0.25, "max_false_hit": 0.5}' \
    "$SLUICE_CONFIG" >"$RUN/new.json"
mv "$RUN/new.json" "$SLUICE_CONFIG"
it_start_worker c
n5=$n3
jq -c --arg p r6 'select(.task == "intent") | .id = ($p + "-" + .id) | .input |= (ascii_upcase + " !!")' \
    "$RUN/r1.jsonl" >"$RUN/r6.jsonl"
half=$((n5 / 2))
head -n $half "$RUN/r6.jsonl" >"$RUN/r6a.jsonl"
tail -n +$((half + 1)) "$RUN/r6.jsonl" >"$RUN/r6b.jsonl"
"$SLUICE" publish "$RUN/r6a.jsonl" >/dev/null || fail "publish round 6a"
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'r6-%'" "$half" 60
it_wait_sql "SELECT count(*) FROM cache_checks" "$((half / 2))" 30
sleep 0.2 # c has recorded the checks it wrote
"$SLUICE" publish "$RUN/r6b.jsonl" >/dev/null || fail "publish round 6b"
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'r6-%'" "$n5" 60
it_wait_calls_answered c
near=$(psql_val "SELECT count(*) FROM results WHERE job_id LIKE 'r6-%' AND source = 'cache'")
[ "$near" -gt $(((n5 - half) / 3)) ] || fail "round 6b: only $near near hits of $((n5 - half)) jobs"
bad=$(psql_val "SELECT count(*) FROM results r WHERE r.job_id LIKE 'r6-%' AND r.source = 'cache'
    AND NOT EXISTS (SELECT 1 FROM cost_lines c WHERE c.job_id = r.job_id AND c.model = 'cache-near'
                    AND c.cost_nanousd = 0 AND c.baseline_nanousd > 0)")
[ "$bad" -eq 0 ] || fail "$bad near hits without their zero-cost cache-near line"
it_load_usage_log
[ "$(psql_val "SELECT count(*) FROM usage_log")" -eq "$(psql_val "SELECT count(*) FROM cost_lines WHERE tier > 0")" ] \
    || fail "emulator calls != ledger provider lines after the near-duplicate rounds"
addr=$(it_metrics_addr worker c)
prom=$(curl -sf "http://$addr/metrics")
m_near=$(awk '/^sluice_cache_events_total\{.*event="near_hit"/ {s += $2} END {print s + 0}' <<<"$prom")
m_checks=$(awk '/^sluice_cache_events_total\{.*event="check"/ {s += $2} END {print s + 0}' <<<"$prom")
checks=$(psql_val "SELECT count(*) FROM cache_checks")
[ "$m_near" -eq "$near" ] || fail "metrics count $m_near near hits, ledger $near"
[ "$m_checks" -eq "$checks" ] || fail "metrics count $m_checks checks, cache_checks has $checks"
served_checks=$(psql_val "SELECT count(*) FROM cache_checks WHERE served")
[ "$served_checks" -gt 0 ] || fail "no served near hit was re-checked (verify_share 0.25)"
# Nothing is served before the bound holds: at 0.5 that takes 5 agreeing
# checks of candidates the ladder answered.
checks_a=$(psql_val "SELECT count(*) FROM cache_checks WHERE NOT served")
[ "$checks_a" -ge 5 ] || fail "only $checks_a unserved checks before near hits were served"
it_stop_worker c
pass "near-duplicates: $checks_a unserved checks, and $near near hits of $((n5 - half)) jobs; $checks checks ($served_checks of served hits), metrics == ledger"
