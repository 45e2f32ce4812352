#!/usr/bin/env bash
# 12-batch-client.sh — lib/batch_client against real emulators, for both
# providers, through ops/batchcheck (sluice-batchcheck):
#   normal  (50 items) submit, poll to the end, stream every line once with
#           a parsed label; callback stop; find by sluice id / custom_id
#           probe, unknown -> SL_ENOTFOUND, time window; keep-alive;
#           realtime call; 404, timeout and transport errors
#   pending (turnaround 4 s) Anthropic find() on a running batch ->
#           SL_ETIMEOUT, then found once it ended
#   errored (errored_share 0.2) errored lines with reasons = failed count
#   fail    OpenAI BATCH_FAILED; Anthropic every line errored
#   large   3,000 items: results over the client's body cap, streamed
#   paging  105 one-item batches: find() reads past the first list page
# Standalone (emulator-lib.sh, not lib.sh): it needs no PostgreSQL or broker.
set -euo pipefail

# shellcheck source=emulator-lib.sh
source "$(dirname "$0")/emulator-lib.sh" batch-client
CHECK="$SLUICE_BUILD_DIR/ops/batchcheck/sluice-batchcheck"
[ -x "$CHECK" ] || fail "no sluice-batchcheck at $CHECK"

echo '{"text": "I was charged twice.", "labels": {"intent": "billing"}}' > "$DIR/gold.jsonl"

# usage: start NAME BATCH_JSON — sets URL_<NAME>.
start() {
    local name=$1
    cat > "$DIR/$name.json" <<JSON
{
  "gold": "gold.jsonl",
  "models": {"oracle": {"accuracy": 1.0, "latency_ms": {"median": 5, "sigma": 0}},
             "slowpoke": {"latency_ms": {"median": 3000, "sigma": 0}}},
  "batch": $2
}
JSON
    emu_start "$name"
}
start normal '{"turnaround_s": 1.0}'
start errored '{"turnaround_s": 1.0, "errored_share": 0.2}'
start failing '{"turnaround_s": 1.0, "fail": true}'
start big '{"turnaround_s": 1.0}'
start slow '{"turnaround_s": 4.0}'

groups=0
run() { # usage: run MODE URL N
    "$CHECK" "$1" "$2" "$3" 2>"$DIR/check-$1.err" || {
        cat "$DIR/check-$1.err" >&2
        fail "sluice-batchcheck $1"
    }
    groups=$((groups + 1))
}
run normal "$URL_normal" 50
run errored "$URL_errored" 50
run fail "$URL_failing" 50
run large "$URL_big" 3000
run paging "$URL_big" 105
run pending "$URL_slow" 5

# What the emulator billed for the normal run: each submitted line once
# (50 per provider).
n=$(grep -c ',openai-batch,' "$DIR/normal.csv" || true)
[ "$n" = 50 ] || fail "normal: $n openai-batch usage lines, want 50"
n=$(grep -c ',anthropic-batch,' "$DIR/normal.csv" || true)
[ "$n" = 50 ] || fail "normal: $n anthropic-batch usage lines, want 50"
groups=$((groups + 1))
echo "$groups passed, 0 failed"
