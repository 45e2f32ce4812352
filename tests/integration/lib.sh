# lib.sh — shared set-up for the integration tests (sourced, not run).
#
# Each test gets its own run directory with its own PostgreSQL, dev broker
# and provider emulator on 127.0.0.1, and tears everything down on exit.
# Helpers here never hide a failure: `fail` exits non-zero with the reason.
set -euo pipefail

: "${SLUICE_BUILD_DIR:?run me from ctest (SLUICE_BUILD_DIR unset)}"
: "${SLUICE_SOURCE_DIR:?run me from ctest (SLUICE_SOURCE_DIR unset)}"
# shellcheck source=../../ops/lib/services.sh
source "$SLUICE_SOURCE_DIR/ops/lib/services.sh"

SLUICE="$SLUICE_BUILD_DIR/sluice"
WORKLOAD="$SLUICE_BUILD_DIR/ops/workload/sluice-workload"
RUN=$(mktemp -d /tmp/sluice-it.XXXXXX)
chmod 755 "$RUN"
export SLUICE_CONFIG="$RUN/sluice.json"
export SLUICE_SCHEMA_DIR="$SLUICE_SOURCE_DIR/schema"
export PGOPTIONS="-c client_min_messages=warning"
# Partitions of the dev broker's topics (it_wait_workers_assigned counts them).
IT_PARTITIONS=8

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

pass() {
    echo "ok: $*"
}

it_cleanup() {
    local rc=$?
    for pidfile in "$RUN"/worker-*.pid "$RUN"/scheduler-*.pid; do
        [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        for log in "$RUN"/*.log; do
            [ -f "$log" ] || continue
            echo "---- tail of $log" >&2
            tail -n 30 "$log" >&2
        done
    fi
    svc_stop_all "$RUN" || true
    [ -n "${KEEP_RUN:-}" ] || rm -rf "$RUN"
    exit $rc
}
trap it_cleanup EXIT

psql_val() {
    psql -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

# Writes the emulator's model file for the tiers of $SLUICE_CONFIG:
# accuracy rises with the tier. $MODELS_FILTER (a jq filter) may adjust it.
it_write_models() {
    local latency_ms=$1 faults=$2
    jq --argjson lat "$latency_ms" --argjson faults "$faults" --arg gold "$RUN/gold.jsonl" '
      { gold: $gold,
        models: ([.tiers | to_entries[] | {key: .value.model, value: {
            accuracy: ([0.78, 0.90, 0.97, 0.99][(.key | tonumber) - 1] // 0.99),
            confidence_correct: [0.80, 0.99],
            confidence_wrong: [0.30, 0.85],
            latency_ms: {median: $lat, sigma: 0.3},
            flex: {http_429: 0},
            faults: $faults }}] | from_entries) }' "$SLUICE_CONFIG" \
        | jq "${MODELS_FILTER:-.}" > "$RUN/models.json"
}

# Starts PostgreSQL, the broker and the emulator, writes $SLUICE_CONFIG from
# the example config with test-sized settings, and migrates.
# usage: it_start_services LATENCY_MS FAULTS_JSON [JQ_CONFIG_FILTER]
it_start_services() {
    local latency=$1 faults=$2 filter=${3:-.}
    jq '.kafka.properties += {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
        | .worker.batch_flush_ms = 20
        | .metrics.listen = "127.0.0.1:0"' \
        "$SLUICE_SOURCE_DIR/config/sluice.example.json" | jq "$filter" > "$SLUICE_CONFIG"
    it_write_models "$latency" "$faults"
    svc_pg_start "$RUN"
    svc_broker_start "$RUN" "$SLUICE_BUILD_DIR" "$IT_PARTITIONS"
    svc_emulator_start "$RUN" "$SLUICE_BUILD_DIR" "$RUN/models.json" "$RUN/usage.csv"
    it_point_providers_at_emulator
    "$SLUICE" migrate >/dev/null || fail "sluice migrate"
}

# Stops the emulator and waits until it has exited. Its usage log is then
# complete: read it after this (and after stopping what calls it).
it_stop_emulator() {
    _svc_stop_pid "$(cat "$RUN/emulator.pid")"
    rm -f "$RUN/emulator.pid"
}

# Restarts the emulator, which re-reads $RUN/models.json and $RUN/gold.jsonl,
# and points the providers at it. It comes back on another port, which only
# processes started afterwards learn: so no worker or scheduler may run.
it_restart_emulator() {
    local pidfile
    for pidfile in "$RUN"/worker-*.pid "$RUN"/scheduler-*.pid; do
        [ ! -f "$pidfile" ] ||
            fail "$(basename "$pidfile" .pid) runs: it would keep calling the old emulator address"
    done
    it_stop_emulator
    svc_emulator_start "$RUN" "$SLUICE_BUILD_DIR" "$RUN/models.json" "$RUN/usage.csv"
    it_point_providers_at_emulator
}

# Every provider of the config talks to the emulator (env overrides).
it_point_providers_at_emulator() {
    local name kind var
    while IFS=$'\t' read -r name kind; do
        var="SLUICE_PROVIDER_$(echo "$name" | tr 'a-z.-' 'A-Z__')_BASE_URL"
        if [ "$kind" = openai ]; then
            export "$var=$SLUICE_EMULATOR_URL/v1"
        else
            export "$var=$SLUICE_EMULATOR_URL"
        fi
    done < <(jq -r '.providers | to_entries[] | [.key, .value.kind] | @tsv' "$SLUICE_CONFIG")
}

# Long-running sluice processes (workers, schedulers), one pid and one log
# per KIND-NAME in $RUN. A restart under the same name starts a fresh log
# (the previous one becomes KIND-NAME.log.1): what the tests read from a
# log is then always the running process's (see svc_rotate_log).
# usage: it_start_proc KIND NAME [ARGS...] — runs `sluice KIND ARGS...`
it_start_proc() {
    local kind=$1 name=$2
    shift 2
    svc_rotate_log "$RUN/$kind-$name.log"
    "$SLUICE" "$kind" "$@" >>"$RUN/$kind-$name.log" 2>&1 &
    echo $! >"$RUN/$kind-$name.pid"
}

# Reloads PostgreSQL's configuration (pg_hba.conf, sluice.conf) and waits
# until the server has read it (pg_conf_load_time moves).
it_pg_reload() {
    local before deadline=$((SECONDS + 30))
    before=$(psql_val "SELECT pg_conf_load_time()")
    _svc_as_pg "$(_svc_pg_bindir)/pg_ctl" -D "$(readlink -f "$RUN/pg")" reload >/dev/null
    until [ "$(psql_val "SELECT pg_conf_load_time()")" != "$before" ]; do
        [ $SECONDS -lt $deadline ] || fail "PostgreSQL did not reload its configuration within 30 s"
        sleep 0.05
    done
}

# usage: it_wait_log FILE PATTERN TIMEOUT_S — until a line of FILE matches
# the grep pattern.
it_wait_log() {
    local file=$1 pattern=$2 deadline=$((SECONDS + $3))
    until grep -q "$pattern" "$file" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "no '$pattern' in $file within $3 s"
        sleep 0.05
    done
}

# usage: it_metrics_addr KIND NAME — prints the host:port the process logged
# for its /metrics (metrics.listen is 127.0.0.1:0), waiting for the line.
it_metrics_addr() {
    local log=$RUN/$1-$2.log
    it_wait_log "$log" 'metrics listening on [0-9.]*:[0-9]' 30
    sed -n 's/.*metrics listening on \([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -n 1
}

# Sends SIGTERM and requires a clean exit 0 (drain, commit).
it_stop_proc() {
    local pid
    pid=$(cat "$RUN/$1-$2.pid")
    kill -TERM "$pid"
    wait "$pid" || fail "$1 $2 exited with $? after SIGTERM"
    rm -f "$RUN/$1-$2.pid"
}

it_kill9_proc() {
    local pid
    pid=$(cat "$RUN/$1-$2.pid")
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$RUN/$1-$2.pid"
}

it_start_worker() { it_start_proc worker "$@"; }
it_stop_worker() { it_stop_proc worker "$1"; }
it_kill9_worker() { it_kill9_proc worker "$1"; }
# Partitions a worker holds now: the count its last "kafka: assigned" or
# "revoked"/"lost" line leaves it with (0 before any).
it_worker_partitions() {
    { sed -n 's/.*kafka: [a-z]* [0-9]* partition(s) of .*, \([0-9]*\) \(now\|left\)$/\1/p' \
        "$RUN/worker-$1.log" 2>/dev/null || true; } | tail -n 1 | awk '{print $1 + 0} END {if (!NR) print 0}'
}

# Waits until every named worker holds partitions and the running workers
# (those with a pid file) hold all $IT_PARTITIONS between them, so that the
# group's rebalance is over before a test publishes: jobs published during
# one wait seconds (deadlines pass) or run twice. A cooperative rebalance
# takes partitions away first and hands them out in a later round, and a
# member the mock broker makes rejoin holds none until it has synced; so
# until then they do not add up.
# usage: it_wait_workers_assigned NAME...
it_wait_workers_assigned() {
    local name pidfile held total deadline=$((SECONDS + 120))
    while :; do
        held=1
        for name in "$@"; do
            [ "$(it_worker_partitions "$name")" -gt 0 ] || held=0
        done
        total=0
        for pidfile in "$RUN"/worker-*.pid; do
            [ -f "$pidfile" ] || continue
            name=$(basename "$pidfile" .pid)
            total=$((total + $(it_worker_partitions "${name#worker-}")))
        done
        [ "$held" = 0 ] || [ "$total" -ne "$IT_PARTITIONS" ] || return 0
        [ $SECONDS -lt $deadline ] ||
            fail "workers $* not all assigned in 120 s ($total of $IT_PARTITIONS partitions held)"
        sleep 0.1
    done
}

# Waits until no named worker has a provider call in flight (its
# sluice_inflight_calls gauge is 0). Every call it made has then been
# answered, and the emulator writes a call's usage line before it answers.
# usage: it_wait_calls_answered NAME...
it_wait_calls_answered() {
    local name addr prom deadline=$((SECONDS + 60))
    for name in "$@"; do
        addr=$(it_metrics_addr worker "$name")
        until prom=$(curl -sf "http://$addr/metrics") &&
            grep -qx 'sluice_inflight_calls 0' <<<"$prom"; do
            [ $SECONDS -lt $deadline ] || fail "worker $name still has calls in flight after 60 s: $(
                grep '^sluice_inflight_calls ' <<<"${prom:-}")"
            sleep 0.1
        done
    done
}
it_start_scheduler() { it_start_proc scheduler "$@"; }
it_stop_scheduler() { it_stop_proc scheduler "$1"; }
it_kill9_scheduler() { it_kill9_proc scheduler "$1"; }

# The exact batch price of every batch cost line, recomputed from its tokens
# and the price table (pricing.h's rounding): prints the lines that differ.
it_batch_price_mismatches() {
    it_load_prices
    psql_val "SELECT count(*) FROM cost_lines c JOIN prices p USING (model)
      WHERE c.mode = 'batch' AND c.cost_nanousd <> floor((floor((
        greatest(c.tokens_in - c.tokens_cached_in - c.tokens_cache_write, 0) * p.input
        + c.tokens_cached_in * p.cached_input
        + (c.tokens_cache_write - c.tokens_cache_write_1h) * p.cache_write
        + c.tokens_cache_write_1h * p.cache_write_1h
        + c.tokens_out * p.output) * 1000 + 0.5) * 50 + 50) / 100)"
}

# The scheduler settings of the tests that hand jobs over to its realtime
# pass: no batch is ever full or due, short ticks, four realtime threads. A
# jq filter for it_start_services.
IT_REALTIME_PASS_SCHEDULER='.scheduler = {turnaround_s: 60, max_wait_s: 3600,
    batch_max_requests: 1000, tick_ms: 100, realtime_concurrency: 4}'

# usage: it_hand_over_to_realtime_pass JOBS_FILE COUNT — worker a takes the
# async jobs of JOBS_FILE (deadlines beyond scheduler.turnaround_s) and hands
# all COUNT over to the scheduler without calling anyone; then the
# turnaround is raised past every deadline, so that the scheduler started
# next answers every row in its realtime pass.
it_hand_over_to_realtime_pass() {
    it_start_worker a
    it_wait_workers_assigned a
    "$SLUICE" publish "$1" >/dev/null || fail "publish"
    it_wait_sql "SELECT count(*) FROM pending" "$2" 60
    it_stop_worker a
    [ "$(psql_val "SELECT count(*) FROM cost_lines")" -eq 0 ] || fail "the worker called a provider"
    jq '.scheduler.turnaround_s = 86400' "$SLUICE_CONFIG" > "$RUN/c.json" && mv "$RUN/c.json" "$SLUICE_CONFIG"
}

# usage: it_run_realtime_pass COUNT — scheduler a answers the handed-over
# rows until COUNT results exist; its metrics are kept in $RUN/metrics.txt.
it_run_realtime_pass() {
    it_start_scheduler a
    it_wait_sql "SELECT count(*) FROM results" "$1" 120
    curl -sf -o "$RUN/metrics.txt" "http://$(it_metrics_addr scheduler a)/metrics" || fail "metrics scrape"
    it_stop_scheduler a
}

# The price table applied to the emulator's usage log (it_load_usage_log,
# it_load_prices first), in nano-dollars with pricing.h's rounding: cache
# writes at their TTL's price, flex at the batch discount (0.5 for every
# model of the example config). What the ledger's confirmed lines must sum to.
it_usage_priced_total() {
    psql_val "SELECT sum(CASE WHEN service_tier = 'flex' THEN floor((n * 50 + 50) / 100) ELSE n END)
      FROM (SELECT u.service_tier, floor(((u.input_tokens - u.cached_tokens - u.cache_write_tokens) * p.input
                   + u.cached_tokens * p.cached_input
                   + (u.cache_write_tokens - u.cache_write_1h_tokens) * p.cache_write
                   + u.cache_write_1h_tokens * p.cache_write_1h
                   + u.output_tokens * p.output) * 1000 + 0.5) AS n
            FROM usage_log u JOIN prices p USING (model) WHERE u.status = 'ok') x"
}

# usage: it_wait_sql "SQL returning a number" TARGET TIMEOUT_S
it_wait_sql() {
    local sql=$1 target=$2 timeout=$3 start now value
    start=$(date +%s)
    while :; do
        value=$(psql_val "$sql")
        [ "$value" -ge "$target" ] && return 0
        now=$(date +%s)
        [ $((now - start)) -lt "$timeout" ] || fail "timed out: '$sql' = $value, wanted $target"
        sleep 0.2
    done
}

# Number of messages in a topic, read to its end with kcat.
it_topic_count() {
    kcat -C -b "$SLUICE_KAFKA_BOOTSTRAP" -t "$1" -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l
}

# Loads the emulator's usage log into table usage_log.
it_load_usage_log() {
    psql_val "DROP TABLE IF EXISTS usage_log;
      CREATE TABLE usage_log(request_id text, api text, model text, input_tokens bigint,
                             cached_tokens bigint, output_tokens bigint, status text,
                             client_request_id text, cache_write_tokens bigint,
                             cache_write_1h_tokens bigint, service_tier text)" >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -c "\\copy usage_log FROM '$RUN/usage.csv' WITH (FORMAT csv, HEADER true)"
}

# Loads the price table of $SLUICE_CONFIG into table prices (USD per 1M).
it_load_prices() {
    psql_val "DROP TABLE IF EXISTS prices;
      CREATE TABLE prices(model text primary key, input numeric, cached_input numeric,
                          cache_write numeric, output numeric, cache_write_1h numeric)" >/dev/null
    jq -r '.prices | to_entries[] | [.key, .value.input, .value.cached_input,
            (.value.cache_write // .value.input), .value.output,
            (.value.cache_write_1h // (2 * .value.input))] | @csv' "$SLUICE_CONFIG" \
        > "$RUN/prices.csv"
    psql -X -q -v ON_ERROR_STOP=1 -c "\\copy prices FROM '$RUN/prices.csv' WITH (FORMAT csv)"
}
