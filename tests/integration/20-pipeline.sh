#!/usr/bin/env bash
# The whole pipeline on real services: 2,000 jobs plus malformed messages
# published with kcat, two workers; exactly one result per job, cost lines
# equal to the price table applied to the emulator's reported usage, one
# cost line per attempt, rejects in the DLQ and in `rejected`, and a replay
# of the same messages changes nothing.
source "$(dirname "$0")/lib.sh"

JOBS=2000
BAD=30
"$WORKLOAD" --out "$RUN" --jobs $JOBS --malformed $BAD --seed 11 >/dev/null
# Some faults so that retries and provider-failure escalation are exercised.
it_start_services 0 '{"http_500": 0.02, "http_429": 0.02, "retry_after_s": 0, "malformed": 0.01}'

kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l "$RUN/jobs.jsonl" \
    || fail "kcat could not publish"
it_start_worker a
it_start_worker b

it_wait_sql "SELECT count(*) FROM results" $JOBS 180
it_wait_sql "SELECT count(*) FROM rejected" $BAD 60

# --- exactly one result per valid job ------------------------------------
[ "$(psql_val "SELECT count(*) FROM results")" -eq $JOBS ] || fail "result count"
missing=$(psql_val "SELECT count(*) FROM jobs j LEFT JOIN results r USING (job_id) WHERE r.job_id IS NULL")
[ "$missing" -eq 0 ] || fail "$missing jobs without a result"
pass "one result for each of $JOBS jobs"

# --- cost lines equal the price table applied to the emulator's usage ------
# Every ok usage line needs its cost line: once no call is in flight, the
# emulator has logged every call (the workers stay up for the replay below).
it_wait_calls_answered a b
it_load_usage_log
it_load_prices
unmatched=$(psql_val "SELECT count(*) FROM usage_log u WHERE u.status = 'ok'
    AND NOT EXISTS (SELECT 1 FROM cost_lines c WHERE c.provider_request_id = u.request_id)")
[ "$unmatched" -eq 0 ] || fail "$unmatched billed emulator answers have no cost line"
mismatched=$(psql_val "SELECT count(*) FROM cost_lines c JOIN usage_log u ON u.request_id = c.provider_request_id
    WHERE (c.tokens_in, c.tokens_cached_in, c.tokens_cache_write, c.tokens_cache_write_1h, c.tokens_out,
           c.model, c.mode)
       IS DISTINCT FROM (u.input_tokens, u.cached_tokens, u.cache_write_tokens, u.cache_write_1h_tokens,
           u.output_tokens, u.model, CASE u.service_tier WHEN 'flex' THEN 'flex' ELSE 'realtime' END)")
[ "$mismatched" -eq 0 ] || fail "$mismatched cost lines disagree with the usage the emulator reported"
ledger=$(psql_val "SELECT sum(cost_nanousd) FROM cost_lines WHERE outcome <> 'unconfirmed'")
expected=$(it_usage_priced_total)
[ "$ledger" = "$expected" ] || fail "ledger total $ledger nano-USD != independent total $expected"
[ "$ledger" -gt 0 ] || fail "ledger total is zero"
pass "ledger total $ledger nano-USD equals the price table applied to the emulator's usage"

# --- every malformed answer the emulator billed has an unconfirmed line ----
malformed=$(psql_val "SELECT count(*) FROM usage_log WHERE status = 'malformed'")
[ "$malformed" -gt 0 ] || fail "no malformed answer: the unconfirmed case was not exercised"
unconfirmed_bad=$(psql_val "SELECT count(*) FROM usage_log u WHERE u.status = 'malformed'
    AND NOT EXISTS (SELECT 1 FROM cost_lines c WHERE c.client_request_id = u.client_request_id
                    AND c.outcome = 'unconfirmed' AND c.reason = 'unparseable'
                    AND c.tokens_in = u.input_tokens)")
[ "$unconfirmed_bad" -eq 0 ] || fail "$unconfirmed_bad of $malformed malformed (billed) answers lack an unconfirmed line with the billed input tokens"
pass "$malformed unparseable answers: each has an unconfirmed line whose input tokens are what the emulator billed"

# --- one cost line per attempt, outcomes in order ------------------------
bad_attempts=$(psql_val "SELECT count(*) FROM results r
    WHERE r.attempts <> (SELECT count(*) FROM cost_lines c WHERE c.job_id = r.job_id)
       OR r.attempts <> (SELECT max(attempt) FROM cost_lines c WHERE c.job_id = r.job_id)")
[ "$bad_attempts" -eq 0 ] || fail "$bad_attempts jobs whose attempts do not match their cost lines"
escalated=$(psql_val "SELECT count(*) FROM results WHERE attempts > 1")
[ "$escalated" -gt 0 ] || fail "no job escalated: the ladder was not exercised"
bad_outcomes=$(psql_val "SELECT count(*) FROM cost_lines c JOIN results r USING (job_id)
    WHERE (c.attempt < r.attempts AND c.outcome NOT IN ('escalated', 'unconfirmed'))
       OR (c.attempt = r.attempts AND c.outcome <> CASE r.status WHEN 'answered' THEN 'accepted' ELSE 'failed' END)")
[ "$bad_outcomes" -eq 0 ] || fail "$bad_outcomes cost lines with an outcome out of order"
tiers_up=$(psql_val "SELECT count(*) FROM cost_lines c1 JOIN cost_lines c2
    ON c1.job_id = c2.job_id AND c2.attempt = c1.attempt + 1 WHERE c1.outcome = 'escalated' AND c2.tier <= c1.tier")
[ "$tiers_up" -eq 0 ] || fail "$tiers_up escalations that did not climb"
baseline_lines=$(psql_val "SELECT count(*) FROM cost_lines WHERE baseline_nanousd > 0 AND tokens_in > 0")
[ "$baseline_lines" -ge $((JOBS * 9 / 10)) ] || fail "only $baseline_lines lines carry a baseline"
pass "$escalated escalated jobs, one cost line per attempt, climbing"

# --- accepted label answers are kept as tier-0 traces ----------------------
# ... except those under the task's threshold, which the top tier kept only
# because no tier was left.
traces=$(psql_val "SELECT count(*) FROM traces")
confident="(j.task = 'intent' AND r.confidence >= $(jq .tasks.intent.confidence_threshold "$SLUICE_CONFIG")
    OR j.task = 'priority' AND r.confidence >= $(jq .tasks.priority.confidence_threshold "$SLUICE_CONFIG"))"
labelled=$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id)
    WHERE j.task IN ('intent', 'priority') AND r.status = 'answered' AND $confident")
unsure=$(psql_val "SELECT count(*) FROM results r JOIN jobs j USING (job_id)
    WHERE j.task IN ('intent', 'priority') AND r.status = 'answered' AND NOT $confident")
[ "$traces" -eq "$labelled" ] || fail "$traces traces for $labelled confident answered label jobs"
[ "$unsure" -gt 0 ] || fail "no top-tier answer under the threshold: the exclusion was not exercised"
pass "$traces tier-0 traces kept, $unsure answers under the threshold left out"

# --- malformed messages: DLQ and rejected rows ----------------------------
dlq=$(it_topic_count sluice.jobs.dlq)
[ "$dlq" -eq $BAD ] || fail "DLQ has $dlq messages, wanted $BAD"
reasons=$(kcat -C -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs.dlq -o beginning -e -q -f '%h\n' \
          | grep -c 'sluice-reject-reason=' || true)
[ "$reasons" -eq $BAD ] || fail "only $reasons DLQ messages carry the reason header"
codes=$(psql_val "SELECT string_agg(DISTINCT reason_code, ',' ORDER BY reason_code) FROM rejected")
[ "$codes" = "invalid_utf8,malformed_json,missing_field,oversize,unknown_task,wrong_type" ] \
    || fail "reject reasons seen: $codes"
pass "$BAD malformed messages in the DLQ and in rejected ($codes)"

# --- publishing the same messages again changes nothing -------------------
snapshot="SELECT (SELECT count(*) FROM results) || '/' || (SELECT count(*) FROM cost_lines)
          || '/' || (SELECT sum(cost_nanousd) FROM cost_lines) || '/' || (SELECT count(*) FROM rejected)"
before=$(psql_val "$snapshot")
calls_before=$(wc -l <"$RUN/usage.csv")
kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -l "$RUN/jobs.jsonl" || fail "kcat replay"
# The rejects are re-sent to the DLQ before their offsets move: wait for them.
for _ in $(seq 1 300); do
    [ "$(it_topic_count sluice.jobs.dlq)" -ge $((2 * BAD)) ] && break
    sleep 0.2
done
[ "$(it_topic_count sluice.jobs.dlq)" -eq $((2 * BAD)) ] || fail "replayed rejects did not reach the DLQ"
it_stop_worker a
it_stop_worker b
skipped=$(cat "$RUN"/worker-*.log | sed -n 's/.* \([0-9]*\) already done,.*/\1/p' | awk '{s += $1} END {print s + 0}')
[ "$skipped" -eq $JOBS ] || fail "workers skipped $skipped replayed jobs, wanted $JOBS"
after=$(psql_val "$snapshot")
[ "$before" = "$after" ] || fail "replay changed the ledger: $before -> $after"
[ "$(wc -l <"$RUN/usage.csv")" -eq "$calls_before" ] || fail "replay called the providers again"
pass "replay of $JOBS jobs changed nothing ($after) and made no provider call"
