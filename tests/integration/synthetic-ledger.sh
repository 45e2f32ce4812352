# synthetic-ledger.sh — a synthetic ledger with known rows (sourced after
# lib.sh, with PostgreSQL started and migrated), shared by 40-report and
# 41-report-chromium.
#
# it_synthetic_ledger: 300 jobs over 4 days, 3 features, 5 tenants, tiers
# 1-3, cache / tier0 / batch / realtime answers, escalations and failures.
# jobs.csv / results.csv / lines.csv are loaded; lines_x.csv and jobs_x.csv
# (in $RUN) add the derived columns awk needs (day, month, flags,
# answered_by, bucket).
it_synthetic_ledger() {
    awk -v run="$RUN" 'BEGIN {
        OFS = ","
        split("2025-03-30,2025-03-31,2025-04-01,2025-04-02", days, ",")
        split("search,support,summaries", features, ",")
        split("intent,extract,summarize", tasks, ",")
        split("gpt-6-luna,claude-sonnet-5-5,gpt-6-astra", models, ",")
        split("emu-openai,emu-anthropic,emu-openai", providers, ",")
        split("0,64,128,256,512,1024,2048,4096,8192", bounds, ",")
        for (i = 1; i <= 300; i++) {
            day = days[i % 4 + 1]; month = substr(day, 1, 7) "-01"
            ts = sprintf("%s %02d:%02d:00+00", day, i % 24, i % 60)
            feature = features[i % 3 + 1]; tenant = "t" (i % 5); cohort = (i % 2) ? "2025Q1" : "2024Q4"
            task = tasks[int(i / 2) % 3 + 1]; utier = (i % 2) ? "paid" : "free"
            mode = (i % 7 == 0) ? "batch" : "realtime"
            chars = (i % 50 == 0) ? 40000 : (i * 137) % 9000 + 10
            tok = int(chars / 4); b = 1
            for (k = 2; k <= 9; k++) if (tok >= bounds[k]) b = k
            if (i % 11 == 0) source = "cache"; else if (i % 13 == 0) source = "tier0";
            else if (mode == "batch") source = "batch"; else source = "llm"
            n = 0
            if (source == "llm") n = 1 + (i % 4 == 0) + (i % 12 == 0)
            if (source == "batch") n = 1
            status = (n > 0 && i % 17 == 0) ? "failed" : "answered"
            by = (status == "failed") ? "failed" : (source == "llm") ? "realtime" : source
            id = sprintf("job-%04d", i)
            print id, task, mode, feature, tenant, cohort, utier, chars, ts, ts > (run "/jobs.csv")
            print id, status, source, (n ? n : ""), n, ts > (run "/results.csv")
            print day, month, feature, tenant, cohort, task, utier, mode, by, chars, bounds[b] > (run "/jobs_x.csv")
            for (a = 1; a <= n; a++) {
                lmode = (source == "batch") ? "batch" : "realtime"
                tin = tok + 50 * a; cached = (i % 3 == 0) ? 20 : 0
                cw = (i % 5 == 0 && a == 2) ? 10 : 0; tout = 5 + i % 20
                cost = (tin * 7 + tout * 31) * a * 10
                outcome = (a < n) ? "escalated" : (status == "failed") ? "failed" : "accepted"
                base = (a == n) ? tin * 100 + tout * 500 : 0
                print id, a, a, providers[a], models[a], lmode, tin, cached, cw, tout, cost, base, \
                      10 * a, outcome, task, feature, tenant, cohort, ts > (run "/lines.csv")
                print month > (run "/lines_month.csv")
                print day, month, feature, tenant, cohort, task, a, providers[a], models[a], lmode, \
                      (outcome != "escalated"), (outcome == "escalated"), (outcome == "failed"), \
                      tin, cached, cw, tout, cost, base > (run "/lines_x.csv")
            }
        }
    }'
    # A partitioned ledger (schema/014) files each line under its month.
    local cols="created_at" file=$RUN/lines.csv
    if [ "$(psql_val "SELECT to_regprocedure('sluice_ledger_partitions(date, date)') IS NOT NULL")" = t ]; then
        psql_val "SELECT sluice_ledger_partitions('2025-03-01', '2025-04-01')" >/dev/null
        paste -d, "$RUN/lines.csv" "$RUN/lines_month.csv" >"$RUN/lines_filed.csv"
        cols="created_at, ledger_month" file=$RUN/lines_filed.csv
    fi
    psql -X -q -v ON_ERROR_STOP=1 <<SQL || fail "loading the synthetic ledger"
\copy jobs (job_id, task, mode, feature, tenant, cohort, user_tier, input_chars, received_at, finished_at) FROM '$RUN/jobs.csv' WITH (FORMAT csv)
\copy results (job_id, status, source, tier, attempts, created_at) FROM '$RUN/results.csv' WITH (FORMAT csv)
\copy cost_lines (job_id, attempt, tier, provider, model, mode, tokens_in, tokens_cached_in, tokens_cache_write, tokens_out, cost_nanousd, baseline_nanousd, latency_ms, outcome, task, feature, tenant, cohort, $cols) FROM '$file' WITH (FORMAT csv)
SQL
    [ "$(psql_val "SELECT count(*) FROM cost_lines")" -eq "$(wc -l <"$RUN/lines.csv")" ] || fail "cost lines not loaded"
}
