#!/usr/bin/env bash
# Prometheus metrics of real workers: a few hundred jobs (with provider
# faults, so retries and escalations happen) through two workers on
# ephemeral metrics ports. Every line of two scrapes per worker passes an
# independent text-format 0.0.4 checker (ops/promcheck, no code shared with
# lib/metrics/metrics.c), counters only grow between scrapes, and the counters
# agree exactly with the ledger: sum(sluice_jobs_total) = results rows,
# sum(sluice_cost_nanodollars_total) = SUM(cost_nanousd) of cost_lines,
# sum(sluice_rejected_total) = rejected rows. /healthz answers 200, and
# 503 once PostgreSQL is stopped.
# Also: the checker rejects broken exposition text, and the Grafana
# dashboard parses and uses only metric names registered in lib/metrics/telemetry.c.
source "$(dirname "$0")/lib.sh"

PROMCHECK="$SLUICE_BUILD_DIR/ops/promcheck/sluice-promcheck"
DASHBOARD="$SLUICE_SOURCE_DIR/ops/grafana/sluice-dashboard.json"
TELEMETRY_C="$SLUICE_SOURCE_DIR/lib/metrics/telemetry.c"
JOBS=400
BAD=8
[ -x "$PROMCHECK" ] || fail "$PROMCHECK not built"

# --- the checker itself: each broken exposition must be refused ------------
check_refuses() {
    printf '%b' "$2" >"$RUN/bad.txt"
    if "$PROMCHECK" "$RUN/bad.txt" 2>/dev/null; then
        fail "promcheck accepted: $1"
    fi
}
check_refuses "bad label escape" '# TYPE a_total counter\na_total{x="\\q"} 1\n'
check_refuses "unquoted label" '# TYPE a_total counter\na_total{x=1} 1\n'
check_refuses "bad value" '# TYPE a_total counter\na_total 1,5\n'
check_refuses "negative counter" '# TYPE a_total counter\na_total -1\n'
check_refuses "two TYPEs" '# TYPE a counter\n# TYPE a gauge\na 1\n'
check_refuses "unknown type" '# TYPE a countr\na 1\n'
check_refuses "bad HELP escape" '# HELP a x\\ty\n# TYPE a gauge\na 1\n'
check_refuses "split family" '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'
check_refuses "duplicate series" '# TYPE a gauge\na{x="1",y="2"} 1\na{y="2",x="1"} 1\n'
check_refuses "no final newline" '# TYPE a gauge\na 1'
check_refuses "le descending" '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
check_refuses "buckets not cumulative" '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
check_refuses "+Inf != _count" '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'
check_refuses "no +Inf bucket" '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'
check_refuses "no _sum" '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n'
printf '# TYPE a_total counter\na_total{x="y"} 5\n' >"$RUN/prev.txt"
printf '# TYPE a_total counter\na_total{x="y"} 4\n' >"$RUN/cur.txt"
if "$PROMCHECK" "$RUN/cur.txt" "$RUN/prev.txt" 2>/dev/null; then
    fail "promcheck accepted a counter that went down"
fi
pass "the checker refuses 16 kinds of broken exposition"

# --- the dashboard: valid JSON, only registered metric names ---------------
jq empty "$DASHBOARD" || fail "dashboard is not valid JSON"
exprs=$(jq -r '.. | objects | select(has("expr")) | .expr' "$DASHBOARD")
[ -n "$exprs" ] || fail "dashboard has no queries"
names=$(grep -o 'sluice_[a-z0-9_]*' <<<"$exprs" | sed -E 's/_(bucket|sum|count)$//' | sort -u)
n_names=0
for name in $names; do
    grep -q "\"$name\"" "$TELEMETRY_C" || fail "dashboard uses $name, not registered in lib/metrics/telemetry.c"
    n_names=$((n_names + 1))
done
[ "$n_names" -ge 10 ] || fail "dashboard uses only $n_names metric names"
pass "dashboard parses; its $n_names metric names are all registered"

# --- real workers ----------------------------------------------------------
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed $BAD --seed 45 >/dev/null
it_start_services 5 '{"http_500": 0.03, "http_429": 0.03, "retry_after_s": 0}'
it_start_worker a
it_start_worker b

addr_a=$(it_metrics_addr worker a)
addr_b=$(it_metrics_addr worker b)
[ "$addr_a" != "$addr_b" ] || fail "both workers on $addr_a"
for addr in "$addr_a" "$addr_b"; do
    port=${addr##*:}
    [ "$port" -gt 0 ] || fail "port 0 was not resolved in the log ($addr)"
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz")
    [ "$code" = 200 ] || fail "/healthz on $addr answered $code"
done
pass "two workers serve metrics on $addr_a and $addr_b, /healthz 200"

scrape() { # usage: scrape ADDR FILE
    curl -sf -o "$2" "http://$1/metrics" || fail "scrape of $1 failed"
}

# Publish once both hold partitions: a rebalance in mid-run would let a job
# run twice (answered once in the ledger), and the call counters would then
# rightly differ from the ledger's lines.
it_wait_workers_assigned a b
kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l "$RUN/jobs.jsonl" \
    || fail "kcat could not publish"
it_wait_sql "SELECT count(*) FROM results" $((JOBS / 4)) 120
scrape "$addr_a" "$RUN/a1.prom"
scrape "$addr_b" "$RUN/b1.prom"
it_wait_sql "SELECT count(*) FROM results" $JOBS 180
it_wait_sql "SELECT count(*) FROM rejected" $BAD 60
sum_of() { # usage: sum_of NAME — exact sum over both workers' last scrapes
    local a b
    a=$("$PROMCHECK" "$RUN/a2.prom" --sum "$1" 2>/dev/null | awk '{print $2}')
    b=$("$PROMCHECK" "$RUN/b2.prom" --sum "$1" 2>/dev/null | awk '{print $2}')
    echo $((a + b))
}
# The lag gauge is sampled every second and a counter moves only after its
# commit: scrape until both workers show lag 0 and no call in flight, and
# their job and reject counters caught up with the ledger's rows; then
# compare everything.
deadline=$((SECONDS + 30))
while :; do
    scrape "$addr_a" "$RUN/a2.prom"
    scrape "$addr_b" "$RUN/b2.prom"
    jobs_metric=$(sum_of sluice_jobs_total)
    rejected_metric=$(sum_of sluice_rejected_total)
    settled=1
    for w in a b; do
        grep -qx 'sluice_consumer_lag_messages 0' "$RUN/${w}2.prom" || settled=0
        grep -qx 'sluice_inflight_calls 0' "$RUN/${w}2.prom" || settled=0
    done
    [ "$jobs_metric" -ge "$(psql_val "SELECT count(*) FROM results")" ] || settled=0
    [ "$rejected_metric" -ge "$(psql_val "SELECT count(*) FROM rejected")" ] || settled=0
    [ "$settled" = 0 ] || break
    [ $SECONDS -lt $deadline ] || fail "the workers did not settle in 30 s: jobs $jobs_metric, rejects \
$rejected_metric, $(grep -hE '^sluice_(consumer_lag_messages|inflight_calls) ' "$RUN"/[ab]2.prom | tr '\n' ' ')"
    sleep 0.1
done

for w in a b; do
    "$PROMCHECK" "$RUN/${w}1.prom" || fail "scrape 1 of worker $w is not valid 0.0.4"
    "$PROMCHECK" "$RUN/${w}2.prom" "$RUN/${w}1.prom" \
        || fail "scrape 2 of worker $w is invalid or a counter went down"
done
lines=$(cat "$RUN"/a2.prom "$RUN"/b2.prom | wc -l)
pass "4 scrapes ($lines lines in the last two) valid; counters monotonic"

# --- the counters agree with the ledger --------------------------------------
jobs_metric=$(sum_of sluice_jobs_total)
jobs_pg=$(psql_val "SELECT count(*) FROM results")
[ "$jobs_metric" = "$jobs_pg" ] || fail "sum(sluice_jobs_total) = $jobs_metric, results rows = $jobs_pg"
cost_metric=$(sum_of sluice_cost_nanodollars_total)
cost_pg=$(psql_val "SELECT sum(cost_nanousd) FROM cost_lines")
[ "$cost_metric" = "$cost_pg" ] || fail "sum(sluice_cost_nanodollars_total) = $cost_metric, SUM(cost_nanousd) = $cost_pg"
[ "$cost_pg" -gt 0 ] || fail "no cost at all"
rejected_metric=$(sum_of sluice_rejected_total)
rejected_pg=$(psql_val "SELECT count(*) FROM rejected")
[ "$rejected_metric" = "$rejected_pg" ] || fail "sum(sluice_rejected_total) = $rejected_metric, rejected rows = $rejected_pg"
pass "jobs $jobs_metric, cost $cost_metric nano-USD, rejects $rejected_metric: equal to the ledger"

# Per tier and feature too: the labels carry the same split as the ledger.
split_metric=$(cat "$RUN"/a2.prom "$RUN"/b2.prom \
    | sed -n 's/^sluice_cost_nanodollars_total{tier="\([^"]*\)",feature="\([^"]*\)"} \([0-9]*\)$/\1|\2 \3/p' \
    | awk '{s[$1] += $2} END {for (k in s) printf "%s|%d\n", k, s[k]}' | sort)
split_pg=$(psql_val "SELECT tier || '|' || feature || '|' || sum(cost_nanousd) FROM cost_lines
                     GROUP BY tier, feature ORDER BY 1" | sort)
[ "$split_metric" = "$split_pg" ] || fail "cost by tier and feature differs:
metrics:
$split_metric
ledger:
$split_pg"
escalated_metric=$(sum_of sluice_escalations_total)
escalated_pg=$(psql_val "SELECT count(*) FROM cost_lines WHERE outcome = 'escalated'")
[ "$escalated_metric" = "$escalated_pg" ] || fail "escalations $escalated_metric, escalated lines $escalated_pg"
[ "$escalated_metric" -gt 0 ] || fail "no escalation: the ladder was not exercised"
pass "cost by tier and feature, and $escalated_metric escalations, equal to the ledger"

# --- provider calls, retries, latency, in-flight, lag ------------------------
calls_200=$(cat "$RUN"/a2.prom "$RUN"/b2.prom \
    | sed -n 's/^sluice_provider_calls_total{.*status="200"} \([0-9]*\)$/\1/p' | awk '{s += $1} END {print s + 0}')
usage_ok=$(awk -F, 'NR > 1 && $7 == "ok"' "$RUN/usage.csv" | wc -l)
[ "$calls_200" -eq "$usage_ok" ] || fail "provider calls with status 200: $calls_200, emulator billed $usage_ok"
retries=$(sum_of sluice_provider_retries_total)
[ "$retries" -gt 0 ] || fail "no retry counted despite injected 500/429"
calls_all=$(sum_of sluice_provider_calls_total)
hist_count=$(cat "$RUN"/a2.prom "$RUN"/b2.prom \
    | sed -n 's/^sluice_provider_call_duration_seconds_count{.*} \([0-9]*\)$/\1/p' | awk '{s += $1} END {print s + 0}')
[ "$hist_count" -eq "$calls_all" ] || fail "latency histogram counts $hist_count calls, calls_total $calls_all"
for w in a b; do
    grep -qx 'sluice_inflight_calls 0' "$RUN/${w}2.prom" || fail "worker $w: in-flight not back to 0"
    grep -qx 'sluice_consumer_lag_messages 0' "$RUN/${w}2.prom" || fail "worker $w: consumer lag not 0 at the end"
done
pass "$calls_all provider calls ($calls_200 billed), $retries retries, latency histogram complete, in-flight and lag 0"

# --- /healthz follows the database ---------------------------------------------
_svc_pg_stop "$RUN" # services.sh's own stop; svc_stop_all copes with it later
for addr in "$addr_a" "$addr_b"; do
    code=""
    for _ in $(seq 1 100); do # the tier-0 refresh queries every 2 s
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz")
        [ "$code" = 503 ] && break
        sleep 0.1
    done
    [ "$code" = 503 ] || fail "/healthz on $addr still $code with PostgreSQL down"
done
pass "/healthz answers 503 once PostgreSQL is down"

it_stop_worker a
it_stop_worker b
pass "workers drained and stopped"
