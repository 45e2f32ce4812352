# shellcheck shell=bash
# retrain.sh — tier 0 retrained between simulated days, the way the
# scheduler does it (sourced after tests/integration/lib.sh; used by
# ops/demo and ops/bench-economics).
#
# A scheduler started with tasks.<t>.tier0.retrain_every_s = 1 finds each
# task due (its newest model is older than that, or it has none) and runs
# tier0_train_task() on its retraining thread, one task after the other;
# once each task's outcome is logged the scheduler is stopped, and the
# named workers are waited for until they serve the new version if it
# certified something (they reload it within 2 s). Prints the outcome and the certified labels.
# usage: ops_retrain_tier0 NAME "WORKER..." TASK...
ops_retrain_tier0() {
    local name=$1 workers=$2 task w version certified deadline
    shift 2
    local cfg=$RUN/retrain-$name.json log=$RUN/scheduler-retrain-$name.log
    jq --argjson tasks "$(printf '%s\n' "$@" | jq -R . | jq -s .)" \
        '.tasks |= with_entries(if (.key | IN($tasks[])) then .value.tier0.retrain_every_s = 1 else . end)' \
        "$SLUICE_CONFIG" >"$cfg"
    it_start_proc scheduler "retrain-$name" --config "$cfg"
    deadline=$((SECONDS + 600))
    for task in "$@"; do
        until grep -q "tier 0 of ${task}[: ]" "$log" 2>/dev/null; do
            [ $SECONDS -lt $deadline ] || fail "tier 0 of $task not retrained within 600 s ($name)"
            sleep 0.2
        done
    done
    it_stop_scheduler "retrain-$name"
    for task in "$@"; do
        sed -n "s/.*scheduler: \(retrain.*tier 0 of ${task}[: ].*\)/   \1/p" "$log"
        version=$(sed -n "s/.*retrained tier 0 of $task: version \([0-9]*\).*/\1/p" "$log")
        [ -n "$version" ] || continue
        # A version that certified nothing is kept for the record but not
        # served: the workers keep what they serve.
        certified=$(psql_val "SELECT cardinality(certified_labels) FROM tier0_models
                              WHERE task = '$task' AND version = $version")
        if [ "$certified" -gt 0 ]; then
            for w in $workers; do
                it_wait_log "$RUN/worker-$w.log" "task $task now serves model version $version " 60
            done
        fi
        psql_val "SELECT '   ' || task || ' v' || version || ': ' || cardinality(certified_labels)
                  || ' labels certified' FROM tier0_models WHERE task = '$task' AND version = $version"
    done
}
