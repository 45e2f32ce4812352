#!/usr/bin/env bash
# Budgets on real services, one worker with few jobs in flight so that each
# budget is reached mid-run:
#  - feature ticket-triage (cap_tier 1): once its spend reached the budget,
#    its later jobs have no cost line above tier 1; other features still
#    climb above it;
#  - tenant tenant-05 (reject): its later jobs are failed with the budget
#    reason and no cost line; no other tenant's job is rejected;
#  - feature order-extract (defer): its later jobs are recorded as offpeak
#    and handed to the scheduler (pending rows, no realtime call);
#  - one warning per budget in the worker log;
#  - the worker's cost drift check fires on a synthetic tier-7 history
#    whose last hour costs 2x per call, and not on a flat tier-6 one.
# "Later" means dispatched (jobs.received_at) after the commit time of the
# cost line that brought the spend to the budget: the worker counted that
# line when its job finished, which was before the commit.
source "$(dirname "$0")/lib.sh"

JOBS=1200
"$WORKLOAD" --out "$RUN" --jobs $JOBS --seed 60 >/dev/null
it_start_services 5 '{}' '.worker.max_in_flight = 4
  | .budgets = {
      features: {"ticket-triage": {daily_usd: 0.004, action: "cap_tier", max_tier: 1},
                 "order-extract": {daily_usd: 0.004, action: "defer"}},
      tenants: {"tenant-05": {daily_usd: 0.0005, action: "reject"}},
      refresh_ms: 500}
  | .alerts = {cost_drift_factor: 1.5, cost_drift_min_calls: 50, check_every_s: 2}'

# Histories for the drift check on tiers no live line uses: tier 7 costs
# twice as much per call in the last hour as in the week before, tier 6 the
# same (flat).
psql_val "INSERT INTO cost_lines (job_id, attempt, tier, provider, model, mode, tokens_in,
    tokens_cached_in, tokens_out, cost_nanousd, baseline_nanousd, latency_ms, outcome,
    task, feature, tenant, cohort, created_at)
  SELECT 'drift-' || t || '-' || i, 1, t, 'p', 'm', 'realtime', 1, 0, 1,
         CASE WHEN i <= 100 AND t = 7 THEN 2000 ELSE 1000 END, 0, 1, 'accepted', 't',
         'drift', 'drift', '',
         CASE WHEN i <= 100 THEN now() - i * interval '30 s'
              ELSE now() - interval '1 hour' - i * interval '10 min' END
  FROM generate_series(1, 900) i, generate_series(6, 7) t" >/dev/null

kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l "$RUN/jobs.jsonl" || fail "kcat"
it_start_worker a
# Deferred jobs wait in pending for the scheduler (none runs here).
it_wait_sql "SELECT (SELECT count(*) FROM results) + (SELECT count(*) FROM pending)" $JOBS 120
it_stop_worker a
LOG="$RUN/worker-a.log"

# The commit time at which a scope's spend reached its budget (USD), or
# empty when it never did.
reached_at() {
    local column=$1 name=$2 usd=$3
    psql_val "SELECT min(t) FROM (SELECT created_at AS t,
        sum(cost_nanousd) OVER (ORDER BY created_at) AS spent
        FROM cost_lines WHERE $column = '$name') s WHERE spent >= $usd * 1e9"
}

# The worker must not act before the budget is spent. When it applied the
# action to its first job (dispatched at D), the spend it knew of was that
# of jobs it had finished, all dispatched before D: their cost must reach
# the budget. (Commit times cannot tell: the worker knows a cost when the
# job finishes, which may be well before a loaded machine commits it.)
# usage: acted_early COLUMN NAME USD "SQL condition of the affected jobs"
acted_early() {
    local column=$1 name=$2 usd=$3 affected=$4 first spent
    first=$(psql_val "SELECT min(received_at) FROM jobs WHERE $column = '$name' AND $affected")
    spent=$(psql_val "SELECT coalesce(sum(c.cost_nanousd), 0) FROM cost_lines c JOIN jobs j USING (job_id)
        WHERE j.$column = '$name' AND j.received_at < '$first'")
    [ "$spent" -ge "$(psql_val "SELECT ($usd * 1e9)::bigint")" ] \
        || fail "$column $name: action from $first, when only $spent nano-USD had been spent"
}

# Jobs of a scope dispatched before/after a time.
count_jobs() {
    psql_val "SELECT count(*) FROM jobs WHERE $1"
}

# --- feature ticket-triage: cap_tier 1 ---------------------------------------
T=$(reached_at feature ticket-triage 0.004)
[ -n "$T" ] || fail "the ticket-triage budget was never reached"
before=$(count_jobs "feature = 'ticket-triage' AND received_at <= '$T'")
after=$(count_jobs "feature = 'ticket-triage' AND received_at > '$T'")
echo "ticket-triage reached its budget at $T: $before jobs before, $after after"
[ "$before" -ge 20 ] && [ "$after" -ge 20 ] || fail "the budget was not reached mid-run"
above=$(psql_val "SELECT count(*) FROM cost_lines c JOIN jobs j USING (job_id)
    WHERE j.feature = 'ticket-triage' AND j.received_at > '$T' AND c.tier > 1")
[ "$above" -eq 0 ] || fail "$above ticket-triage cost lines above tier 1 after the budget"
climbed_before=$(psql_val "SELECT count(*) FROM cost_lines c JOIN jobs j USING (job_id)
    WHERE j.feature = 'ticket-triage' AND j.received_at <= '$T' AND c.tier > 1")
others_above=$(psql_val "SELECT count(*) FROM cost_lines c JOIN jobs j USING (job_id)
    WHERE j.feature NOT IN ('ticket-triage', 'order-extract') AND j.tenant <> 'tenant-05'
      AND j.received_at > '$T' AND c.tier > 1")
[ "$climbed_before" -gt 0 ] || fail "no ticket-triage job climbed before the budget: the cap proves nothing"
[ "$others_above" -gt 0 ] || fail "no other feature climbed above tier 1 after the budget"
pass "ticket-triage capped at tier 1 after its budget ($climbed_before climbs before, none after; $others_above climbs of other features after)"

# --- tenant tenant-05: reject --------------------------------------------------
T=$(reached_at tenant tenant-05 0.0005)
[ -n "$T" ] || fail "the tenant-05 budget was never reached"
after=$(count_jobs "tenant = 'tenant-05' AND received_at > '$T'")
reason='budget: tenant tenant-05 reached its daily budget of $0.0005'
rejected=$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id)
    WHERE j.tenant = 'tenant-05' AND j.received_at > '$T'
      AND r.status = 'failed' AND r.attempts = 0 AND r.error = '$reason'")
echo "tenant-05 reached its budget at $T: $after jobs after, $rejected rejected"
[ "$after" -ge 10 ] || fail "too few tenant-05 jobs after its budget ($after)"
[ "$rejected" -eq "$after" ] || fail "$rejected of $after later tenant-05 jobs were rejected"
lines=$(psql_val "SELECT count(*) FROM cost_lines c JOIN jobs j USING (job_id)
    WHERE j.tenant = 'tenant-05' AND j.received_at > '$T'")
[ "$lines" -eq 0 ] || fail "$lines cost lines of rejected tenant-05 jobs"
before_answered=$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id)
    WHERE j.tenant = 'tenant-05' AND j.received_at <= '$T' AND r.status = 'answered'")
[ "$before_answered" -gt 0 ] || fail "no tenant-05 job answered before its budget"
wrong=$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id)
    WHERE r.error LIKE 'budget:%' AND j.tenant <> 'tenant-05'")
[ "$wrong" -eq 0 ] || fail "$wrong jobs of other tenants rejected by a budget"
acted_early tenant tenant-05 0.0005 "job_id IN (SELECT job_id FROM results WHERE error LIKE 'budget:%')"
pass "tenant-05: $rejected later jobs failed with '$reason' and no cost line; other tenants untouched"

# --- feature order-extract: defer -----------------------------------------------
T=$(reached_at feature order-extract 0.004)
[ -n "$T" ] || fail "the order-extract budget was never reached"
after=$(count_jobs "feature = 'order-extract' AND received_at > '$T' AND tenant <> 'tenant-05'")
deferred=$(count_jobs "feature = 'order-extract' AND received_at > '$T' AND mode = 'offpeak'")
others=$(count_jobs "mode = 'offpeak' AND feature <> 'order-extract'")
[ "$others" -eq 0 ] || fail "$others jobs of other features deferred"
echo "order-extract reached its budget at $T: $deferred of $after later jobs offpeak"
[ "$after" -ge 5 ] || fail "too few order-extract jobs after its budget ($after)"
[ "$deferred" -ge "$after" ] || fail "only $deferred of $after later order-extract jobs deferred"
acted_early feature order-extract 0.004 "mode = 'offpeak'"
waiting=$(psql_val "SELECT count(*) FROM pending p JOIN jobs j USING (job_id)
    WHERE p.mode = 'offpeak' AND j.feature = 'order-extract' AND j.mode = 'offpeak'")
all_deferred=$(count_jobs "mode = 'offpeak'")
[ "$waiting" -eq "$all_deferred" ] || fail "$waiting of $all_deferred deferred jobs wait for the scheduler"
early=$(psql_val "SELECT count(*) FROM pending p JOIN cost_lines c USING (job_id)")
[ "$early" -eq 0 ] || fail "$early realtime calls for deferred jobs"
pass "order-extract: $deferred later jobs deferred to offpeak, no other"

# --- one warning per budget -------------------------------------------------------
for scope_name in "feature name=ticket-triage" "feature name=order-extract" "tenant name=tenant-05"; do
    n=$(grep -c "budget reached: scope=${scope_name% *} ${scope_name#* } " "$LOG" || true)
    [ "$n" -eq 1 ] || fail "$n warnings for $scope_name, wanted 1"
done
grep "budget reached" "$LOG"
pass "one structured warning per reached budget"

# --- the worker's cost drift check ----------------------------------------------------
grep -q "cost drift: tier=7 .*ratio=2.00" "$LOG" || fail "no cost drift warning for tier 7"
if grep -q "cost drift: tier=[1-6] " "$LOG"; then fail "cost drift on a flat or live tier"; fi
pass "cost drift warning for the synthetic tier-7 history: $(grep -m1 'cost drift' "$LOG" | sed 's/.*cost drift/cost drift/')"
