#!/usr/bin/env bash
# The cost views after a real run, against an independent computation:
# 600 jobs through two workers and the emulator (with faults, so retries
# and escalations happen); then awk prices every billed call of the
# emulator's usage log with the config's price table (integer nano-dollars
# per million tokens, half-up rounding as pricing.h documents) and sums by
# tier, by feature and by provider/model. v_cost_by_tier_day,
# v_cost_by_feature_day and v_cost_by_model_month must give exactly the same
# nano-dollars (and tokens). Attribution uses only the request id -> job id
# pairs of the ledger, the job -> feature of the workload file and the
# tier -> model of the config. `sluice report --prices` with another price
# table must equal the same awk computation with that table.
source "$(dirname "$0")/lib.sh"

JOBS=600
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed 0 --seed 42 >/dev/null
it_start_services 0 '{"http_500": 0.02, "http_429": 0.02, "retry_after_s": 0}'
it_start_worker a
it_start_worker b
# A job in flight across a rebalance is called twice and billed twice but
# recorded once: publish once the group is settled.
it_wait_workers_assigned a b
kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l "$RUN/jobs.jsonl" \
    || fail "kcat could not publish"
it_wait_sql "SELECT count(*) FROM results" $JOBS 180
it_stop_worker a
it_stop_worker b
it_stop_emulator # its usage log is complete once it has exited

# ---- the independent inputs -------------------------------------------------
# prices.tsv: model, nano-USD per 1M tokens: input, cached input, output.
# usage.csv rows carry total input (cached included), as the README says.
price_table() { # usage: price_table CONFIG_FILE
    jq -r '.prices | to_entries[] | [.key, (.value.input * 1e9 | round),
            (.value.cached_input * 1e9 | round), (.value.output * 1e9 | round)] | @tsv' "$1"
}
jq -r '.tiers | to_entries[] | [.value.model, .key, .value.provider] | @tsv' "$SLUICE_CONFIG" >"$RUN/tiers.tsv"
jq -rR 'fromjson? | [.id, .feature] | @tsv' "$RUN/jobs.jsonl" >"$RUN/features.tsv"
psql_val "SELECT provider_request_id || E'\t' || job_id FROM cost_lines
          WHERE provider_request_id IS NOT NULL" >"$RUN/requests.tsv"
[ "$(cut -f1 "$RUN/tiers.tsv" | sort | uniq -d | wc -l)" -eq 0 ] || fail "a model serves two tiers"

# usage: price_usage PRICES_TSV — prints "tier|T|cost", "feature|F|cost",
# "model|P|M|tokens_in|cached|out|cost" and "reprice|P/M/realtime|cost".
price_usage() {
    awk -F'\t' -v prices="$1" -v tiers="$RUN/tiers.tsv" -v feats="$RUN/features.tsv" \
        -v reqs="$RUN/requests.tsv" '
      function cost_of(m, tin, cached, tout,   n, r) {
          # pricing.h: (uncached*in + cached*cached_in + out*out + 5e5) / 1e6, integers
          n = (tin - cached) * pin[m] + cached * pcached[m] + tout * pout[m] + 500000
          r = n % 1000000
          return (n - r) / 1000000
      }
      BEGIN {
          while ((getline l < prices) > 0) { split(l, f, "\t"); pin[f[1]] = f[2]; pcached[f[1]] = f[3]; pout[f[1]] = f[4] }
          while ((getline l < tiers) > 0) { split(l, f, "\t"); tier[f[1]] = f[2]; prov[f[1]] = f[3] }
          while ((getline l < feats) > 0) { split(l, f, "\t"); feature[f[1]] = f[2] }
          while ((getline l < reqs) > 0) { split(l, f, "\t"); job[f[1]] = f[2] }
          FS = ","
      }
      NR > 1 && $7 == "ok" {
          m = $3
          if (!(m in pin) || !(m in tier) || !($1 in job)) { print "unattributed " $0; bad = 1; next }
          c = cost_of(m, $4, $5, $6)
          by_tier[tier[m]] += c
          by_feature[feature[job[$1]]] += c
          k = prov[m] "|" m
          tok_in[k] += $4; tok_cached[k] += $5; tok_out[k] += $6; by_model[k] += c
          total += c
      }
      END {
          for (t in by_tier) printf "tier|%s|%.0f\n", t, by_tier[t]
          for (ft in by_feature) printf "feature|%s|%.0f\n", ft, by_feature[ft]
          for (k in by_model) {
              printf "model|%s|%.0f|%.0f|%.0f|%.0f\n", k, tok_in[k], tok_cached[k], tok_out[k], by_model[k]
              split(k, pm, "|"); printf "reprice|%s/%s/realtime|%.0f\n", pm[1], pm[2], by_model[k]
          }
          printf "reprice|(total)//|%.0f\n", total
          exit bad
      }' "$RUN/usage.csv" | LC_ALL=C sort
}
price_table "$SLUICE_CONFIG" >"$RUN/prices.tsv"
price_usage "$RUN/prices.tsv" >"$RUN/expected" || fail "usage lines the ledger cannot attribute: $(grep unattributed "$RUN/expected" | head -3)"
[ "$(grep -c '^tier|' "$RUN/expected")" -ge 2 ] || fail "fewer than 2 tiers billed: the ladder was not exercised"

# ---- the views ------------------------------------------------------------------
view() { psql -X -q -t -A -F'|' -v ON_ERROR_STOP=1 -c "$1" | LC_ALL=C sort; }
# Lines of provider failures cost nothing and have no usage line: only
# groups that were billed are compared.
view "SELECT 'tier', tier, sum(cost_nanousd) FROM v_cost_by_tier_day
      GROUP BY tier HAVING sum(cost_nanousd) > 0" >"$RUN/got.tier"
view "SELECT 'feature', feature, sum(cost_nanousd) FROM v_cost_by_feature_day
      GROUP BY feature HAVING sum(cost_nanousd) > 0" >"$RUN/got.feature"
view "SELECT 'model', provider, model, sum(tokens_in), sum(tokens_cached_in), sum(tokens_out),
             sum(cost_nanousd) FROM v_cost_by_model_month
      GROUP BY provider, model HAVING sum(cost_nanousd) > 0" >"$RUN/got.model"
for what in tier feature model; do
    grep "^$what|" "$RUN/expected" >"$RUN/exp.$what"
    diff "$RUN/exp.$what" "$RUN/got.$what" >"$RUN/diff.$what" \
        || { cat "$RUN/diff.$what" >&2; fail "view cost by $what differs from the usage log priced by awk"; }
    pass "cost by $what ($(wc -l <"$RUN/exp.$what") rows) equals the usage log priced independently"
done
total=$(sed -n 's/^reprice|(total)\/\/|//p' "$RUN/expected")
[ "$total" = "$(psql_val "SELECT sum(cost_nanousd) FROM cost_lines")" ] || fail "ledger total != $total"
pass "ledger total $total nano-USD"

# ---- sluice report --prices: another price table --------------------------------
jq '.prices."gpt-6-luna" += {input: 0.173, cached_input: 0.0171, output: 0.77}
    | .prices."claude-sonnet-5-5" += {input: 2.9, cached_input: 0.29, output: 13.1}
    | .prices."gpt-6-astra" += {input: 7.31, cached_input: 0.731, output: 41.3}' \
    "$SLUICE_CONFIG" >"$RUN/other-prices.json"
price_table "$RUN/other-prices.json" >"$RUN/other.tsv"
price_usage "$RUN/other.tsv" | grep '^reprice|' >"$RUN/exp.reprice" || fail "awk re-pricing"
"$SLUICE" report --csv --prices "$RUN/other-prices.json" >"$RUN/p.csv" || fail "sluice report --prices"
awk -F, '$1 == "reprice" && $3 == "new_cost_nanousd" { sub(/\r$/, "", $4); print "reprice|" $2 "|" $4 }' \
    "$RUN/p.csv" | LC_ALL=C sort >"$RUN/got.reprice"
diff "$RUN/exp.reprice" "$RUN/got.reprice" >"$RUN/diff.reprice" \
    || { cat "$RUN/diff.reprice" >&2; fail "--prices differs from the usage log re-priced by awk"; }
[ "$(sed -n 's/^reprice|(total)\/\/|//p' "$RUN/exp.reprice")" != "$total" ] || fail "the other table changed nothing"
pass "--prices: $(wc -l <"$RUN/exp.reprice") re-priced rows equal the usage log priced with the other table"
