#!/usr/bin/env bash
# Provider discounts end to end: tasks with 60 few-shot examples (a stable
# prefix of ~1,600 tokens), half the jobs async with a deadline too near
# for a batch, the OpenAI provider offering flex (20 % flex 429s). Checks
# that prompt-cache writes (5-minute and 1-hour) and reads and flex calls
# happen, that every billed emulator answer has its cost line with the
# same tokens, cache writes and service tier, and that the ledger equals
# the price table applied to the emulator's usage log (cache writes at
# their TTL's price, flex at the batch discount).
source "$(dirname "$0")/lib.sh"

JOBS=300
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 21 >/dev/null
# Examples from another workload run: same kind of text, other tickets.
mkdir -p "$RUN/ex"
"$WORKLOAD" --out "$RUN/ex" --jobs 400 --malformed 0 --seed 99 >/dev/null
examples() { # usage: examples TASK — 60 {input, output} from the other run
    jq -sc --arg t "$1" '[.[] | select(.labels[$t] != null) | {input: .text, output: .labels[$t]}]
                         | unique_by(.input) | .[:60]' "$RUN/ex/gold.jsonl"
}
# Async with a deadline in an hour: nearer than a batch turnaround (24 h).
deadline=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
jq -c --arg d "$deadline" 'if (.id | ltrimstr("job-") | tonumber) % 2 == 0
                           then .mode = "async" | .deadline = $d else . end' \
    "$RUN/jobs.jsonl" > "$RUN/jobs2.jsonl"

MODELS_FILTER='.models["gpt-6-luna"].flex = {http_429: 0.2}
             | .models["gpt-6-astra"].flex = {http_429: 0.2}'
export MODELS_FILTER
it_start_services 0 '{}' "
    .providers[\"emu-openai\"].flex = true
  | .providers[\"emu-openai\"].retry_base_ms = 20
  | .tasks.intent.examples = $(examples intent)
  | .tasks.priority.examples = $(examples priority)
  | .tasks.priority.prompt_cache_ttl = \"1h\""

it_start_worker a
it_wait_workers_assigned a
kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l "$RUN/jobs2.jsonl" \
    || fail "kcat could not publish"
it_wait_sql "SELECT count(*) FROM results" $JOBS 120
curl -sf -o "$RUN/metrics.txt" "http://$(it_metrics_addr worker a)/metrics" || fail "metrics scrape"
it_stop_worker a
it_stop_emulator # its usage log is complete once it has exited

it_load_usage_log
it_load_prices

# --- the discounts happened ---------------------------------------------------
writes=$(psql_val "SELECT count(*) FROM usage_log WHERE cache_write_tokens > 0 AND cache_write_1h_tokens = 0")
writes_1h=$(psql_val "SELECT count(*) FROM usage_log WHERE cache_write_1h_tokens > 0")
reads_a=$(psql_val "SELECT count(*) FROM usage_log WHERE api = 'anthropic' AND cached_tokens > 0")
reads_o=$(psql_val "SELECT count(*) FROM usage_log WHERE api = 'openai' AND cached_tokens > 0")
flex=$(psql_val "SELECT count(*) FROM usage_log WHERE service_tier = 'flex'")
std_openai=$(psql_val "SELECT count(*) FROM usage_log WHERE api = 'openai' AND service_tier = 'standard'")
for v in writes writes_1h reads_a reads_o flex std_openai; do
    [ "${!v}" -gt 0 ] || fail "no usage line shows $v"
done
pass "cache writes ($writes 5-minute, $writes_1h 1-hour), reads ($reads_a Anthropic, $reads_o OpenAI), $flex flex calls, $std_openai standard OpenAI calls"

# --- each billed answer has its line, with the same usage and tier -------------
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE u.status = 'ok'
    AND NOT EXISTS (SELECT 1 FROM cost_lines c WHERE c.provider_request_id = u.request_id)")
[ "$unmatched" -eq 0 ] || fail "$unmatched billed emulator answers have no cost line"
mismatched=$(psql_val "SELECT count(*) FROM cost_lines c JOIN usage_log u ON u.request_id = c.provider_request_id
    WHERE (c.tokens_in, c.tokens_cached_in, c.tokens_cache_write, c.tokens_cache_write_1h, c.tokens_out, c.model,
           c.mode)
       IS DISTINCT FROM (u.input_tokens, u.cached_tokens, u.cache_write_tokens, u.cache_write_1h_tokens,
           u.output_tokens, u.model, CASE u.service_tier WHEN 'flex' THEN 'flex' ELSE 'realtime' END)")
[ "$mismatched" -eq 0 ] || fail "$mismatched cost lines disagree with the emulator's usage (tokens, writes or tier)"
pass "every billed answer has a cost line with the same tokens, cache writes and service tier"

# --- the ledger equals the price table applied to the usage log ------------------
ledger=$(psql_val "SELECT sum(cost_nanousd) FROM cost_lines WHERE outcome <> 'unconfirmed'")
expected=$(it_usage_priced_total)
[ "$ledger" = "$expected" ] || fail "ledger total $ledger nano-USD != price table on the usage log $expected"
flex_cost=$(psql_val "SELECT count(*) FROM cost_lines WHERE mode = 'flex' AND cost_nanousd > 0")
[ "$flex_cost" -eq "$flex" ] || fail "$flex_cost priced flex lines, $flex flex calls"
pass "ledger total $ledger nano-USD = the price table on the usage log (writes by TTL, flex at the batch rate)"

# --- the baseline stays top tier, realtime, no cache -----------------------------
bad_baseline=$(psql_val "SELECT count(*) FROM cost_lines c JOIN prices p ON p.model = 'gpt-6-astra'
    WHERE c.outcome = 'accepted' AND c.provider_request_id IS NOT NULL
      AND c.baseline_nanousd <> floor((c.tokens_in * p.input + c.tokens_out * p.output) * 1000 + 0.5)")
[ "$bad_baseline" -eq 0 ] || fail "$bad_baseline accepted lines have a baseline other than top tier, realtime, no cache"
pass "baselines are the top tier's realtime price without cache, flex or batch discounts"

# --- and Prometheus -------------------------------------------------------------------
prom() { awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%d", s }' "$RUN/metrics.txt"; }
served=$(prom 'sluice_flex_calls_total{provider="emu-openai",outcome="served"}')
[ "$served" -eq "$flex" ] || fail "sluice_flex_calls_total served=$served, the emulator billed $flex flex calls"
[ "$(prom 'sluice_flex_calls_total{provider="emu-openai",outcome="unavailable"}')" -gt 0 ] \
    || fail "no flex 429 counted (the emulator answers 20 % of flex calls with 429)"
cached_log=$(psql_val "SELECT sum(cached_tokens) FROM usage_log WHERE status = 'ok'")
cached_prom=$(awk '/^sluice_input_tokens_total\{.*kind="cached"/ { s += $NF } END { printf "%d", s }' "$RUN/metrics.txt")
[ "$cached_prom" -eq "$cached_log" ] || fail "sluice_input_tokens_total cached $cached_prom != usage log $cached_log"
write_cost=$(psql_val "SELECT sum(floor(((u.cache_write_tokens - u.cache_write_1h_tokens) * p.cache_write
                                     + u.cache_write_1h_tokens * p.cache_write_1h) * 1000 + 0.5))
    FROM usage_log u JOIN prices p USING (model) WHERE u.status = 'ok' AND u.cache_write_tokens > 0")
[ "$(prom 'sluice_cache_write_nanodollars_total')" -eq "$write_cost" ] \
    || fail "sluice_cache_write_nanodollars_total $(prom 'sluice_cache_write_nanodollars_total') != $write_cost"
pass "Prometheus: $served flex calls served, cached input tokens $cached_prom, cache writes $write_cost nano-USD as in the usage log"

# --- migration 010 kept the mode check, with flex ------------------------------------
check=$(psql_val "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'cost_lines_mode_check'")
[[ "$check" == *"'realtime'"*"'batch'"*"'flex'"* ]] || fail "cost_lines_mode_check is $check"
pass "cost_lines.mode allows realtime, batch and flex only: $check"

# --- the view shows the same ------------------------------------------------------
view=$(psql_val "SELECT sum(flex_calls) || ' ' || sum(tokens_cache_write) || ' ' || sum(tokens_cache_write_1h)
                 || ' ' || sum(tokens_cached_in) FROM v_provider_discounts_day")
log=$(psql_val "SELECT count(*) FILTER (WHERE service_tier = 'flex') || ' ' || sum(cache_write_tokens) || ' '
                || sum(cache_write_1h_tokens) || ' ' || sum(cached_tokens) FROM usage_log WHERE status = 'ok'")
[ "$view" = "$log" ] || fail "v_provider_discounts_day (flex calls, writes, 1h writes, reads) $view != usage log $log"
pass "v_provider_discounts_day: flex calls, cache writes and reads as in the usage log ($view)"

# --- and sluice report ----------------------------------------------------------------
"$SLUICE" report --csv | tr -d '\r' > "$RUN/report.csv" || fail "sluice report"
grep -q '^discounts,1/gpt-6-luna,flex_share,0\.[0-9]*[1-9]' "$RUN/report.csv" \
    || fail "report: no flex share for tier 1: $(grep '^discounts,' "$RUN/report.csv" | head -20)"
cached2=$(psql_val "SELECT sum(cached_tokens) FROM usage_log WHERE model = 'claude-sonnet-5-5' AND status = 'ok'")
grep -q "^discounts,2/claude-sonnet-5-5,tokens_cached_in,$cached2\$" "$RUN/report.csv" \
    || fail "report: tier 2 cached tokens are not $cached2: $(grep '^discounts,2' "$RUN/report.csv")"
share2=$(sed -n 's|^discounts,2/claude-sonnet-5-5,cached_input_share,||p' "$RUN/report.csv")
pass "sluice report: the discounts section (tier 2: $cached2 cached tokens, share $share2; a flex share on tier 1)"

# --- figures -----------------------------------------------------------------------
psql_val "SELECT 'cached_input_share_tier' || tier || '=' || round(sum(tokens_cached_in)::numeric / nullif(sum(tokens_in), 0), 3)
          FROM cost_lines WHERE outcome <> 'unconfirmed' GROUP BY tier ORDER BY tier"
