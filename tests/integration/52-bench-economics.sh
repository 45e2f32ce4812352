#!/usr/bin/env bash
# ops/bench-economics end to end on a small labelled set written here as
# CSV (synthetic tickets' intents, quoted fields with commas and quotes):
# every message of every day is answered by both runs, the per-day table and
# the final figures are printed, and the ledger equals the price table
# applied to the emulator's usage log, call for call.
source "$(dirname "$0")/lib.sh"

data=$RUN/data
mkdir -p "$data"
mkdir -p "$RUN/wl"
"$WORKLOAD" --out "$RUN/wl" --jobs 700 --seed 52 >/dev/null
{
    echo "text,label"
    jq -r 'select(.labels.intent) | [.text, .labels.intent] | @csv' "$RUN/wl/gold.jsonl"
} >"$RUN/all.csv"
rows=$(($(wc -l <"$RUN/all.csv") - 1))
{ head -n 1 "$RUN/all.csv"; sed -n "2,$((rows - 99))p" "$RUN/all.csv"; } >"$data/train.csv"
{ head -n 1 "$RUN/all.csv"; tail -n 100 "$RUN/all.csv"; } >"$data/test.csv"
grep -q '"' "$data/train.csv" || fail "the CSV has no quoted field: the parser is not exercised"

DAYS=1 "$SLUICE_SOURCE_DIR/ops/bench-economics" "$data" >"$RUN/bench.out" 2>&1 \
    || { cat "$RUN/bench.out"; fail "ops/bench-economics exited non-zero"; }
cat "$RUN/bench.out"
val() { sed -n "s/^$1=//p" "$RUN/bench.out"; }

[ "$(val jobs)" -eq "$rows" ] || fail "jobs=$(val jobs), wanted $rows"
grep -q "^== day 2: 100 messages" "$RUN/bench.out" || fail "the test split was not day 2"
for key in cost_ratio accuracy_sluice accuracy_frontier agreement_with_frontier tier0_share_last_day; do
    [ -n "$(val $key)" ] || fail "no $key= line"
done
awk -v a="$(val accuracy_frontier)" 'BEGIN { exit !(a > 0.9) }' \
    || fail "accuracy_frontier=$(val accuracy_frontier): the gold labels did not reach the emulator"
awk -v r="$(val cost_ratio)" 'BEGIN { exit !(r > 1) }' || fail "cost_ratio=$(val cost_ratio) is not above 1"
[ "$(val billed_without_line)" -eq 0 ] || fail "$(val billed_without_line) billed calls without a cost line"
[ "$(val price_mismatches)" -eq 0 ] || fail "$(val price_mismatches) cost lines differ from the priced usage"
[ "$(val billed_calls)" -eq "$(val ledger_lines)" ] \
    || fail "billed_calls=$(val billed_calls) but ledger_lines=$(val ledger_lines)"
[ "$(val ledger_usd)" = "$(val usage_log_priced_usd)" ] \
    || fail "ledger_usd=$(val ledger_usd) != usage_log_priced_usd=$(val usage_log_priced_usd)"
pass "$rows messages over 2 days, cost_ratio=$(val cost_ratio); ledger = priced usage log ($(val billed_calls) calls)"
