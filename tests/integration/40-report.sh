#!/usr/bin/env bash
# The cost views and `sluice report` on a synthetic ledger with known rows:
# every view equals the figures awk computes from the same generated rows;
# the report opens with the bill (cost, baseline, saved share) and the
# learning curve per period, both equal to awk's; the token histogram's
# buckets fit the data; no column shown in dollars is named _nanousd;
# --prices equals an independent SQL re-pricing with pricing.h's rounding,
# --csv parses, --html holds one <svg per chart and fetches nothing.
# Only PostgreSQL is started; the rows are loaded with \copy.
source "$(dirname "$0")/lib.sh"

cp "$SLUICE_SOURCE_DIR/config/sluice.example.json" "$SLUICE_CONFIG"
svc_pg_start "$RUN"
"$SLUICE" migrate >/dev/null || fail "sluice migrate"

# ---- the synthetic ledger (see synthetic-ledger.sh) --------------------------
source "$(dirname "$0")/synthetic-ledger.sh"
it_synthetic_ledger

# usage: agg FILE KEYCOLS SUMCOLS — key columns, row count, then the sums.
agg() {
    awk -F, -v k="$2" -v s="$3" '
        BEGIN { nk = split(k, K, ","); ns = split(s, S, ",") }
        { key = $K[1]; for (i = 2; i <= nk; i++) key = key "," $K[i]
          n[key]++; for (j = 1; j <= ns; j++) v[key, j] += $S[j] }
        END { for (key in n) { line = key "," n[key]
                for (j = 1; j <= ns; j++) line = line "," sprintf("%.0f", v[key, j])
                print line } }' "$1" | LC_ALL=C sort
}
view() {
    psql -X -q -t -A -F, -v ON_ERROR_STOP=1 -c "$1" | LC_ALL=C sort
}
# usage: check NAME EXPECTED_FILE SQL
check() {
    view "$3" >"$RUN/got.$1"
    [ -s "$2" ] || fail "$1: nothing expected (generator broken)"
    diff "$2" "$RUN/got.$1" >"$RUN/diff.$1" || { head -n 20 "$RUN/diff.$1" >&2; fail "view $1 differs"; }
    pass "$1 ($(wc -l <"$2") rows) equals the independent figures"
}
L=$RUN/lines_x.csv
J=$RUN/jobs_x.csv
MONEY="calls, jobs, cost_nanousd, baseline_nanousd"

agg "$L" 1,3,4,5,6,7,8,9,10 11,12,13,14,15,16,17,18,19 >"$RUN/exp.daily"
check v_cost_daily "$RUN/exp.daily" "SELECT day, feature, tenant, cohort, task, tier, provider,
    model, mode, calls, jobs, escalated, failed, tokens_in, tokens_cached_in,
    tokens_cache_write, tokens_out, cost_nanousd, baseline_nanousd FROM v_cost_daily"
agg "$L" 1,3 11,18,19 >"$RUN/exp.fday"
check v_cost_by_feature_day "$RUN/exp.fday" "SELECT day, feature, $MONEY FROM v_cost_by_feature_day"
agg "$L" 2,3 11,18,19 >"$RUN/exp.fmonth"
check v_cost_by_feature_month "$RUN/exp.fmonth" "SELECT month, feature, $MONEY FROM v_cost_by_feature_month"
agg "$L" 2,3,4 11,18 >"$RUN/exp.ftmonth"
check v_cost_by_feature_tenant_month "$RUN/exp.ftmonth" \
    "SELECT month, feature, tenant, calls, jobs, cost_nanousd FROM v_cost_by_feature_tenant_month"
agg "$L" 2,4 11,18,19 >"$RUN/exp.tmonth"
check v_cost_by_tenant_month "$RUN/exp.tmonth" "SELECT month, tenant, $MONEY FROM v_cost_by_tenant_month"
agg "$L" 2,5 11,18,19 >"$RUN/exp.cmonth"
check v_cost_by_cohort_month "$RUN/exp.cmonth" "SELECT month, cohort, $MONEY FROM v_cost_by_cohort_month"
agg "$L" 1,7 11,18 >"$RUN/exp.tier"
check v_cost_by_tier_day "$RUN/exp.tier" "SELECT day, tier, calls, jobs, cost_nanousd FROM v_cost_by_tier_day"
agg "$L" 2,8,9,10 14,15,16,17,18 >"$RUN/exp.model"
check v_cost_by_model_month "$RUN/exp.model" "SELECT month, provider, model, mode, calls, tokens_in,
    tokens_cached_in, tokens_cache_write, tokens_out, cost_nanousd FROM v_cost_by_model_month"
agg "$L" 1,3,4,6,7 12,13 | awk -F, -v OFS=, '{ printf "%s,%s,%s,%s,%s,%s,%s,%s,%.6f\n", $1, $2, $3, $4, $5, $6, $7, $8, $7 / $6 }' \
    >"$RUN/exp.esc"
check v_escalation_rate "$RUN/exp.esc" "SELECT day, feature, tenant, task, tier, calls, escalated,
    failed, to_char(escalation_rate, 'FM0.000000') FROM v_escalation_rate"
agg "$L" 1,3,4 18,19 | awk -F, -v OFS=, '{ printf "%s,%s,%s,%s,%s,%.0f,%.6f\n", $1, $2, $3, $5, $6, $6 - $5, ($6 - $5) / $6 }' \
    >"$RUN/exp.sav"
check v_savings "$RUN/exp.sav" "SELECT day, feature, tenant, cost_nanousd, baseline_nanousd,
    saved_nanousd, to_char(saved_share, 'FM0.000000') FROM v_savings"
agg "$J" 1,3,4,5,6,7,8,9 10 >"$RUN/exp.jobs"
check v_jobs_daily "$RUN/exp.jobs" "SELECT day, feature, tenant, cohort, task, user_tier, mode,
    answered_by, jobs, input_chars FROM v_jobs_daily"
agg "$J" 1,3,4,9 "" >"$RUN/exp.src"
check v_answer_source "$RUN/exp.src" "SELECT day, feature, tenant, answered_by, jobs FROM v_answer_source"
agg "$J" 1,3,4 "" >"$RUN/exp.pj_jobs"
agg "$L" 1,3,4 18 >"$RUN/exp.pj_cost"
awk -F, -v OFS=, 'NR == FNR { calls[$1 "," $2 "," $3] = $4; cost[$1 "," $2 "," $3] = $5; next }
    { k = $1 "," $2 "," $3; c = cost[k] + 0
      printf "%s,%d,%d,%d,%d,%d\n", k, $4, calls[k] + 0, c, int(c / $4 + 0.5), int(c * 1000 / $4 + 0.5) }' \
    "$RUN/exp.pj_cost" "$RUN/exp.pj_jobs" | LC_ALL=C sort >"$RUN/exp.pj"
check v_cost_per_job "$RUN/exp.pj" "SELECT day, feature, tenant, jobs, calls, cost_nanousd,
    cost_per_job_nanousd, cost_per_1000_jobs_nanousd FROM v_cost_per_job"
agg "$J" 1,3,4,11 "" | awk -F, -v OFS=, '{ b = $4 == 0 ? 64 : $4 < 8192 ? $4 * 2 : ""; print $1, $2, $3, $4, b, $5 }' \
    >"$RUN/exp.hist"
check v_input_token_histogram "$RUN/exp.hist" "SELECT day, feature, tenant, tokens_from,
    tokens_below, jobs FROM v_input_token_histogram"
agg "$J" 1,3,4,6 "" >"$RUN/exp.mix"
check v_task_mix "$RUN/exp.mix" "SELECT day, feature, tenant, task, jobs FROM v_task_mix"
agg "$J" 1,3,4,6,8,11 "" >"$RUN/exp.shapes"
check v_request_shapes "$RUN/exp.shapes" "SELECT day, feature, tenant, task, mode, tokens_from, jobs FROM v_request_shapes"
agg "$J" 3,6,8,11 "" | LC_ALL=C sort -t, -k1,1 -k5,5nr -k2,2 -k3,3 -k4,4n \
    | awk -F, -v OFS=, '{ r = ($1 == f) ? r + 1 : 1; f = $1; if (r <= 5) print $1, r, $2, $3, $4, $5 }' \
    | LC_ALL=C sort >"$RUN/exp.top"
check v_top_request_shapes "$RUN/exp.top" "SELECT feature, rank, task, mode, tokens_from, jobs FROM v_top_request_shapes"

# ---- sluice report: text, filters in CSV, CSV syntax --------------------------
"$SLUICE" report >"$RUN/report.txt" || fail "sluice report"
grep -q '^Cost by feature' "$RUN/report.txt" || fail "text report has no cost-by-feature table"
grep -q '^  (total) *300 ' "$RUN/report.txt" || fail "text report total is not 300 jobs"
pass "text report ($(wc -l <"$RUN/report.txt") lines)"

# The bill comes first: pricing_format_usd's dollars (micro-dollars rounded
# half up) of awk's sums, then the learning curve.
usd() { awk -v n="$1" 'BEGIN { m = int(n / 1000) + (n % 1000 >= 500); printf "$%d.%06d", int(m / 1e6), m % 1e6 }'; }
cost=$(awk -F, '{ s += $18 } END { printf "%.0f", s }' "$L")
base=$(awk -F, '{ s += $19 } END { printf "%.0f", s }' "$L")
want="The bill: $(usd "$cost") for 300 jobs, against $(usd "$base") had every job gone to the top tier in realtime: "
first=$(head -n 1 "$RUN/report.txt")
[ "${first#"$want"}" != "$first" ] || fail "the text report does not open with the bill: '$first', wanted '$want...'"
saved=$(awk -v c="$cost" -v b="$base" 'BEGIN { printf "%.1f%% saved", (b - c) / b * 100 }')
grep -qF -- "$saved" <<<"$first" || fail "the bill's saved share is not $saved: $first"
[ "$(sed -n 3p "$RUN/report.txt")" = "Cost per 1,000 jobs and who answered, by period (the learning curve)" ] \
    || fail "the learning curve is not second: $(sed -n 3p "$RUN/report.txt")"
# Money is shown in dollars everywhere, and named so.
! grep -q nanousd "$RUN/report.txt" || fail "text report shows a _nanousd column: $(grep -m1 nanousd "$RUN/report.txt")"
grep -q 'cost_per_1000_jobs_usd' "$RUN/report.txt" || fail "text report has no cost_per_1000_jobs_usd column"
pass "text: the bill first ($first), then the learning curve; no _nanousd header"

"$SLUICE" report --csv >"$RUN/all.csv" || fail "sluice report --csv"
tr -d '\r' <"$RUN/all.csv" >"$RUN/all.lf.csv"
[ "$(sed -n 2p "$RUN/all.lf.csv" | cut -d, -f1)" = bill ] || fail "--csv: the first section is not the bill"
for m in "jobs 300" "cost_nanousd $cost" "baseline_nanousd $base" "saved_nanousd $((base - cost))"; do
    read -r metric value <<<"$m"
    [ "$(awk -F, -v m="$metric" '$1 == "bill" && $3 == m { print $4 }' "$RUN/all.lf.csv")" = "$value" ] \
        || fail "--csv bill $metric is not $value"
done
# The learning curve: 4 days make 6-hour periods (at most 24 in the range);
# jobs, who answered and cost per period, from the generated rows.
awk -F, -v OFS=, '
    FILENAME ~ /jobs.csv$/ { p[$1] = substr($9, 1, 11) sprintf("%02d:00", int(substr($9, 12, 2) / 6) * 6); next }
    FILENAME ~ /results.csv$/ { who[$1] = $2 == "failed" ? "failed" : ($3 == "cache" || $3 == "tier0") ? $3 : "tier" $4; next }
    { c[$1] += $11 }
    END { for (id in p) { k = p[id]; n[k]++; w[k, who[id]]++; cost[k] += c[id] }
          for (k in n) printf "%s,%d,%.6f,%.6f,%.6f,%.6f,%.0f\n", k, n[k], w[k, "tier0"] / n[k],
              w[k, "cache"] / n[k], w[k, "tier1"] / n[k], w[k, "failed"] / n[k], cost[k] }' \
    "$RUN/jobs.csv" "$RUN/results.csv" "$RUN/lines.csv" | LC_ALL=C sort >"$RUN/exp.curve"
awk -F, -v OFS=, '$1 == "learning_curve" { v[$2, $3] = $4; k[$2] = 1 }
    END { for (p in k) printf "%s,%d,%.6f,%.6f,%.6f,%.6f,%s\n", p, v[p, "jobs"], v[p, "tier0_share"],
              v[p, "cache_share"], v[p, "tier1_share"], v[p, "failed_share"], v[p, "cost_nanousd"] }' \
    "$RUN/all.lf.csv" | LC_ALL=C sort >"$RUN/got.curve"
[ "$(wc -l <"$RUN/exp.curve")" -ge 8 ] || fail "the generator's jobs span fewer than 8 six-hour periods"
diff "$RUN/exp.curve" "$RUN/got.curve" || fail "the learning curve differs from the generated rows"
pass "--csv: bill first (cost $cost, baseline $base nano-USD); learning curve per 6 h ($(wc -l <"$RUN/exp.curve") periods) equals awk's"

# Token buckets fit the data: several buckets, every job in one, and each
# bucket's count is the number of jobs whose input_chars / 4 falls in it.
awk -F, '$1 == "token_histogram" && $3 == "tokens_below" { print $2, $4 }' "$RUN/all.lf.csv" >"$RUN/buckets"
[ "$(wc -l <"$RUN/buckets")" -ge 4 ] || fail "token histogram has $(wc -l <"$RUN/buckets") buckets"
while read -r from below; do
    want=$(awk -F, -v a="$from" -v b="$below" '{ t = int($8 / 4) } t >= a && t < b' "$RUN/jobs.csv" | wc -l)
    got=$(awk -F, -v f="$from" '$1 == "token_histogram" && $2 == f && $3 == "jobs" { print $4 }' "$RUN/all.lf.csv")
    [ "$got" = "$want" ] || fail "token bucket [$from, $below): $got jobs, wanted $want"
done <"$RUN/buckets"
[ "$(awk -F, '$1 == "token_histogram" && $3 == "jobs" { s += $4 } END { print s }' "$RUN/all.lf.csv")" = 300 ] \
    || fail "token histogram does not hold the 300 jobs"
pass "token histogram: $(wc -l <"$RUN/buckets") buckets from $(head -n 1 "$RUN/buckets" | cut -d' ' -f1) tokens, each equal to awk's count"

"$SLUICE" report --csv --from 2025-03-31 --to 2025-04-01 --feature support >"$RUN/f.csv" \
    || fail "sluice report --csv with filters"
# PostgreSQL's CSV reader (COPY ... FORMAT csv: quoting, embedded commas
# and newlines) refuses a row with more or fewer than the four columns.
psql_val "DROP TABLE IF EXISTS csv_rows;
  CREATE TABLE csv_rows(n serial, section text, key text, metric text, value text)" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 \
    -c "\\copy csv_rows(section, key, metric, value) FROM '$RUN/f.csv' WITH (FORMAT csv)" \
    || fail "--csv does not parse as 4-field CSV"
[ "$(psql_val "SELECT concat_ws('|', section, key, metric, value) FROM csv_rows ORDER BY n LIMIT 1")" \
    = "section|key|metric|value" ] || fail "--csv header is not section,key,metric,value"
[ "$(psql_val "SELECT count(*) FROM csv_rows")" -gt 50 ] || fail "--csv has only a few rows"
csv_val() { # FILE SECTION KEY METRIC
    awk -F, -v s="$2" -v k="$3" -v m="$4" '$1 == s && $2 == k && $3 == m { sub(/\r$/, "", $4); print $4 }' "$1"
}
want_cost=$(awk -F, '($1 == "2025-03-31" || $1 == "2025-04-01") && $3 == "support" { s += $18 } END { printf "%.0f", s }' "$L")
want_jobs=$(awk -F, '($1 == "2025-03-31" || $1 == "2025-04-01") && $3 == "support"' "$J" | wc -l)
got_cost=$(csv_val "$RUN/f.csv" cost_by_feature '(total)' cost_nanousd)
got_jobs=$(csv_val "$RUN/f.csv" cost_by_feature '(total)' jobs)
[ "$got_cost" = "$want_cost" ] && [ "$got_jobs" = "$want_jobs" ] \
    || fail "filtered report: cost $got_cost jobs $got_jobs, wanted $want_cost / $want_jobs"
[ -z "$(awk -F, '$1 == "cost_by_feature" && $2 != "support" && $2 != "(total)"' "$RUN/f.csv")" ] \
    || fail "--feature support shows other features"
"$SLUICE" report --csv --tenant t3 >"$RUN/t.csv" || fail "sluice report --tenant"
want_t3=$(awk -F, '$4 == "t3" { s += $18 } END { printf "%.0f", s }' "$L")
[ "$(csv_val "$RUN/t.csv" cost_by_tenant '(total)' cost_nanousd)" = "$want_t3" ] || fail "--tenant t3 total"
want_saved=$(awk -F, '$4 == "t3" { s += $19 - $18 } END { printf "%.0f", s }' "$L")
[ "$(csv_val "$RUN/t.csv" savings '(total)' saved_nanousd)" = "$want_saved" ] || fail "--tenant t3 savings"
pass "--csv parses; --from/--to/--feature/--tenant totals equal awk's ($got_cost nano-USD, $got_jobs jobs)"

# ---- --prices: re-pricing equals an independent computation ---------------------
jq '.prices."gpt-6-luna" = {input: 0.137, cached_input: 0.0123, cache_write: 0.2, output: 0.61, batch_discount: 0.4}
    | .prices."claude-sonnet-5-5" = {input: 3.3, cached_input: 0.33, cache_write: 4.1, output: 15.5, batch_discount: 0.5}
    | .prices."gpt-6-astra".output = 47.77' "$SLUICE_CONFIG" >"$RUN/new-prices.json"
"$SLUICE" report --csv --prices "$RUN/new-prices.json" >"$RUN/p.csv" || fail "sluice report --prices"
values=$(jq -r '.prices | to_entries | map("(\(.key | @json | sub("^\""; "'"'"'") | sub("\"$"; "'"'"'")),
    \(.value.input * 1e9 | round), \(.value.cached_input * 1e9 | round),
    \((.value.cache_write // .value.input) * 1e9 | round), \(.value.output * 1e9 | round),
    \((.value.batch_discount // 0) * 100 | round))") | join(", ")' "$RUN/new-prices.json")
view "WITH p(model, pin, pcached, pwrite, pout, pct) AS (VALUES $values),
      priced AS (SELECT c.provider, c.model, c.mode,
          floor((greatest(tokens_in - tokens_cached_in - tokens_cache_write, 0) * pin
                 + tokens_cached_in * pcached + tokens_cache_write * pwrite
                 + tokens_out * pout + 500000) / 1000000) AS full_price, pct
          FROM cost_lines c JOIN p USING (model))
    SELECT provider || '/' || model || '/' || mode,
           sum(CASE WHEN mode = 'batch' THEN floor((full_price * (100 - pct) + 50) / 100)
                    ELSE full_price END)
    FROM priced GROUP BY 1
    UNION ALL
    SELECT '(total)//', sum(CASE WHEN mode = 'batch' THEN floor((full_price * (100 - pct) + 50) / 100)
                                 ELSE full_price END) FROM priced" >"$RUN/exp.reprice"
awk -F, -v OFS=, '$1 == "reprice" && $3 == "new_cost_nanousd" { sub(/\r$/, "", $4); print $2, $4 }' "$RUN/p.csv" \
    | LC_ALL=C sort >"$RUN/got.reprice"
[ "$(wc -l <"$RUN/got.reprice")" -eq 5 ] || fail "reprice rows: $(cat "$RUN/got.reprice")"
diff "$RUN/exp.reprice" "$RUN/got.reprice" || fail "--prices differs from the independent re-pricing"
old_total=$(csv_val "$RUN/p.csv" reprice '(total)//' old_cost_nanousd)
[ "$old_total" = "$(psql_val "SELECT sum(cost_nanousd) FROM cost_lines")" ] || fail "reprice old total"
pass "--prices: new cost per model/mode and total ($(grep '^(total)' "$RUN/got.reprice")) equal SQL's"

# ---- --html: one self-contained page, one <svg per chart --------------------------
"$SLUICE" report --html "$RUN/report.html" >/dev/null || fail "sluice report --html"
svgs=$(grep -o '<svg' "$RUN/report.html" | wc -l)
[ "$svgs" -eq 6 ] || fail "HTML has $svgs <svg elements, wanted 6 (the learning curve and five)"
! grep -Eqi 'https?://' "$RUN/report.html" || fail "HTML references http(s)://"
! grep -Eqi '<script|<link|<img|url\(' "$RUN/report.html" || fail "HTML loads something"
[ "$(grep -o '<rect' "$RUN/report.html" | wc -l)" -gt 20 ] || fail "charts have no bars"
grep -q '<polyline' "$RUN/report.html" || fail "cost-per-call chart has no line"
! grep -q nanousd "$RUN/report.html" || fail "HTML names a column _nanousd: $(grep -o '<th>[^<]*nanousd' "$RUN/report.html" | head -n 1)"
grep -q '<th>cost_<wbr>per_<wbr>1000_<wbr>jobs_<wbr>usd</th>' "$RUN/report.html" || fail "HTML has no cost_per_1000_jobs_usd column"
# The bill first: its heading is the page's first <h2>, its figures come
# before the learning curve, the curve before the other charts.
[ "$(grep -o '<h2[^>]*>[^<]*' "$RUN/report.html" | head -n 1)" = '<h2 id="bill">The bill' ] \
    || fail "the first heading is not the bill: $(grep -o '<h2[^>]*>[^<]*' "$RUN/report.html" | head -n 1)"
at() { grep -b -o -F "$1" "$RUN/report.html" | head -n 1 | cut -d: -f1; }
saved_fig=$(awk -v c="$cost" -v b="$base" 'BEGIN { printf "<b>%.1f%%</b><span>saved", (b - c) / b * 100 }')
[ -n "$(at "$saved_fig")" ] || fail "HTML has no bill figure $saved_fig"
if ! [ "$(at "$saved_fig")" -lt "$(at 'Who answered each period')" ] ||
    ! [ "$(at 'Who answered each period')" -lt "$(at 'Input-token histogram')" ]; then
    fail "HTML order is not bill, learning curve, other charts"
fi
pass "--html: the bill first, then the learning curve; 6 SVG charts, no _nanousd, no external references ($(wc -c <"$RUN/report.html") bytes)"

# One day of data: no one-bar chart. The learning curve goes by the hour;
# the two daily charts become small tables.
"$SLUICE" report --from 2025-03-31 --to 2025-03-31 --html "$RUN/day.html" >"$RUN/day.txt" \
    || fail "sluice report --html for one day"
grep -q '^  note: periods of 1 h ' "$RUN/day.txt" || fail "one day's learning curve is not by the hour: $(grep 'note: periods' "$RUN/day.txt")"
hours=$(awk -F, 'substr($9, 1, 10) == "2025-03-31" { h[substr($9, 12, 2)] = 1 } END { print length(h) }' "$RUN/jobs.csv")
[ "$hours" -ge 2 ] || fail "the generator's day 2025-03-31 has jobs in $hours hours"
[ "$(grep -c '^  2025-03-31 [0-9][0-9]:00 ' "$RUN/day.txt")" -eq "$hours" ] \
    || fail "one day's learning curve does not have the $hours hours with jobs: $(grep -c '^  2025-03-31 ' "$RUN/day.txt")"
[ "$(grep -o '<table class="mini">' "$RUN/day.html" | wc -l)" -eq 2 ] || fail "one day: the two daily charts are not tables"
[ "$(grep -o '<svg' "$RUN/day.html" | wc -l)" -eq 4 ] || fail "one day: $(grep -o '<svg' "$RUN/day.html" | wc -l) SVG charts, wanted 4"
pass "one day: the learning curve by the hour ($(grep -c '^  2025-03-31 [0-9][0-9]:00 ' "$RUN/day.txt") periods), the daily charts as tables, 4 SVG charts"
