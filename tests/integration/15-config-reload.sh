#!/usr/bin/env bash
# SIGHUP reloads on real services: a worker applies a valid new file to the
# jobs it starts from then on (a routing rule added by the reload sends the
# task's later jobs straight to tier 3); an invalid file and a file that
# changes a restart-only key are logged and ignored, the running config
# stays and jobs keep flowing; the scheduler reloads too.
source "$(dirname "$0")/lib.sh"

"$WORKLOAD" --out "$RUN" --jobs 400 --seed 15 >/dev/null
jq -c 'select(.task == "intent") | .mode = "interactive" | del(.deadline, .user_tier)' \
    "$RUN/jobs.jsonl" >"$RUN/intent.jsonl"
it_start_services 0 '{}'

# usage: publish PREFIX COUNT — COUNT interactive intent jobs PREFIX-1..N
publish() {
    head -n "$2" "$RUN/intent.jsonl" | jq -c --arg p "$1" '.id = "\($p)-\(input_line_number)"' \
        >"$RUN/$1.jsonl"
    [ "$(wc -l <"$RUN/$1.jsonl")" -eq "$2" ] || fail "workload has too few intent jobs"
    "$SLUICE" publish "$RUN/$1.jsonl" >/dev/null || fail "publish $1"
}

# usage: lowest_first_tier PREFIX — the lowest tier any PREFIX job started on
lowest_first_tier() {
    psql_val "SELECT min(tier) FROM cost_lines WHERE attempt = 1 AND job_id LIKE '$1-%'"
}

# usage: wait_log FILE TEXT — waits until FILE has a line containing TEXT
wait_log() {
    it_wait_log "$1" "$(sed 's/[].[*^$\\]/\\&/g' <<<"$2")" 60
}

reload() {
    kill -HUP "$(cat "$RUN/$1.pid")"
}

it_start_worker a
it_start_scheduler s
it_wait_workers_assigned a

publish before 20
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'before-%'" 20 60
[ "$(lowest_first_tier before)" -eq 1 ] || fail "jobs before the reload did not start on tier 1"
pass "before the reload, intent jobs start on tier 1"

# --- a valid file: later jobs follow it ------------------------------------
cp "$SLUICE_CONFIG" "$RUN/original.json"
jq '.routing = [{"when": {"task": "intent"}, "start_tier": 3}] + .routing' \
    "$RUN/original.json" >"$SLUICE_CONFIG"
reload worker-a
wait_log "$RUN/worker-a.log" "reload: $SLUICE_CONFIG applied"
publish after 20
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'after-%'" 20 60
[ "$(lowest_first_tier after)" -eq 3 ] || fail "jobs after the reload did not start on tier 3"
pass "after the reload, intent jobs start on tier 3 (the new routing rule)"

# --- an invalid file: logged, the running config stays -----------------------
cp "$SLUICE_CONFIG" "$RUN/applied.json"
echo '{"kafka": ' >"$SLUICE_CONFIG"
reload worker-a
wait_log "$RUN/worker-a.log" "invalid JSON; keeping the running config"
# --- a restart-only change: refused with the key named ------------------------
jq '.kafka.topic = "other.jobs"' "$RUN/applied.json" >"$SLUICE_CONFIG"
reload worker-a
wait_log "$RUN/worker-a.log" "kafka.topic changes only at restart"
cp "$RUN/applied.json" "$SLUICE_CONFIG" # `sluice publish` reads it too
publish still 10
it_wait_sql "SELECT count(*) FROM results WHERE job_id LIKE 'still-%'" 10 60
[ "$(lowest_first_tier still)" -eq 3 ] || fail "a refused reload changed the routing"
kill -0 "$(cat "$RUN/worker-a.pid")" || fail "the worker died on a bad reload"
pass "an invalid file and a restart-only change are refused; the worker keeps its config"

# --- the scheduler reloads between ticks ------------------------------------
reload scheduler-s
wait_log "$RUN/scheduler-s.log" "reload: $SLUICE_CONFIG applied"
jq '.scheduler.tick_ms = 50' "$RUN/applied.json" >"$SLUICE_CONFIG"
reload scheduler-s
wait_log "$RUN/scheduler-s.log" "scheduler.tick_ms changes only at restart"
kill -0 "$(cat "$RUN/scheduler-s.pid")" || fail "the scheduler died on a reload"
pass "the scheduler applies a valid file and refuses a restart-only change"

it_stop_worker a
it_stop_scheduler s
