#!/usr/bin/env bash
# Tier 0 end to end: traces accumulate from LLM answers, `sluice train`
# certifies a model, the next run answers a share at tier 0 with zero-cost
# lines and shadow checks; then the LLM's answer for one label drifts, the
# shadow checks withdraw that label, and tier 0 stops answering it. A run
# with 20 % out-of-scope text (sentences no ticket looks like, which the
# LLM files under the fallback label 'other') checks that tier 0 answers
# almost none of them with an in-scope label.
source "$(dirname "$0")/lib.sh"

publish_run() { # publish_run NAME SEED JOBS — a workload, answered by two workers
    local dir=$RUN/$1
    mkdir -p "$dir"
    "$WORKLOAD" --out "$dir" --jobs "$3" --seed "$2" --id-prefix "$1" >/dev/null
    cat "$dir/gold.jsonl" >>"$RUN/gold.jsonl"
    "$SLUICE" publish "$dir/jobs.jsonl" >/dev/null || fail "publish $1"
}

run_workers() { # run_workers TOTAL_RESULTS [WITHDRAWALS] — the workers refresh
    it_start_worker a   # tier 0 every 2 s: the last shadow checks need one more
    it_start_worker b
    it_wait_sql "SELECT count(*) FROM results" "$1" 240
    it_wait_sql "SELECT count(*) FROM tier0_withdrawals" "${2:-0}" 30
    it_stop_worker a
    it_stop_worker b
}

# --- run 1: no model yet, every answer is an LLM's and becomes a trace ----
: >"$RUN/gold.jsonl"
mkdir -p "$RUN/run1"
"$WORKLOAD" --out "$RUN/run1" --jobs 4000 --seed 101 --id-prefix run1 >/dev/null
cp "$RUN/run1/gold.jsonl" "$RUN/gold.jsonl"
# The emulator's LLM labels are noisy (a few % wrong at random, like a real
# ladder's), so agreement with them cannot be certified near 98 % on a few
# thousand traces; target 0.9 keeps the test about the mechanics.
it_start_services 0 '{}' '.tasks.intent.tier0.shadow_share = 0.3 | .tasks.intent.tier0.target = 0.9'
"$SLUICE" publish "$RUN/run1/jobs.jsonl" >/dev/null
run_workers 4000
[ "$(psql_val "SELECT count(*) FROM results WHERE source = 'tier0'")" -eq 0 ] \
    || fail "tier 0 answered before any model existed"
traces=$(psql_val "SELECT count(*) FROM traces WHERE task = 'intent'")
[ "$traces" -gt 1500 ] || fail "only $traces intent traces"
pass "run 1: $traces intent traces, nothing at tier 0"

# --- train and certify ----------------------------------------------------
"$SLUICE" train --task intent | tee "$RUN/train.txt"
[ "$(psql_val "SELECT count(*) FROM tier0_models WHERE task = 'intent' AND cardinality(certified_labels) > 0")" -eq 1 ] \
    || fail "sluice train certified nothing"
pass "model certified: $(psql_val "SELECT array_to_string(certified_labels, ',') FROM tier0_models")"

# --- run 2: a share answered at tier 0, zero-cost lines, shadow checks -----
publish_run run2 202 3000
it_restart_emulator # it reads the new gold labels
run_workers 7000
tier0=$(psql_val "SELECT count(*) FROM results WHERE source = 'tier0' AND job_id LIKE 'run2-%'")
intent=$(psql_val "SELECT count(*) FROM jobs WHERE task = 'intent' AND job_id LIKE 'run2-%'")
[ "$tier0" -gt $((intent / 3)) ] || fail "tier 0 answered only $tier0 of $intent intent jobs"
bad_lines=$(psql_val "SELECT count(*) FROM cost_lines c JOIN results r USING (job_id)
    WHERE r.source = 'tier0' AND c.tier = 0
      AND (c.cost_nanousd <> 0 OR c.baseline_nanousd <= 0 OR c.outcome <> 'accepted')")
[ "$bad_lines" -eq 0 ] || fail "$bad_lines tier-0 cost lines are not zero-cost with a baseline"
missing=$(psql_val "SELECT count(*) FROM results r WHERE r.source = 'tier0' AND NOT EXISTS
    (SELECT 1 FROM cost_lines c WHERE c.job_id = r.job_id AND c.tier = 0 AND c.attempt = r.attempts)")
[ "$missing" -eq 0 ] || fail "$missing tier-0 results without their zero-cost line"
shadows=$(psql_val "SELECT count(*) FROM tier0_shadow")
agreed=$(psql_val "SELECT count(*) FROM tier0_shadow WHERE agreed")
[ "$shadows" -gt $((tier0 / 10)) ] || fail "only $shadows shadow checks for $tier0 tier-0 answers"
[ "$agreed" -ge $((shadows * 9 / 10)) ] || fail "shadow agreement $agreed/$shadows before any drift"
[ "$(psql_val "SELECT count(*) FROM tier0_withdrawals")" -eq 0 ] || fail "withdrawal without drift"
# The views (schema 007) count a shadow-checked job once and its check as
# no escalation.
view_jobs=$(psql_val "SELECT sum(jobs) FROM v_cost_daily")
results=$(psql_val "SELECT count(*) FROM results")
[ "$view_jobs" -eq "$results" ] || fail "v_cost_daily counts $view_jobs jobs for $results results"
shadow_esc=$(psql_val "SELECT count(*) FROM cost_lines WHERE reason = 'shadow_check' AND outcome = 'escalated'")
esc=$(psql_val "SELECT count(*) FROM cost_lines WHERE outcome = 'escalated'")
[ "$(psql_val "SELECT sum(escalated) FROM v_cost_daily")" -eq $((esc - shadow_esc)) ] \
    || fail "v_cost_daily counts shadow-check escalations"
pass "run 2: $tier0 of $intent intent jobs at tier 0; $agreed of $shadows shadow checks agree"

# --- run 2b: 20 % out-of-scope text ----------------------------------------
# 800 tickets and 200 sentences from nothing like a support inbox; the LLM
# answers those 'other' (the task's fallback_label in the example config).
oos_jobs() { # oos_jobs N — N distinct out-of-scope intent jobs, and their gold
    local subjects=("the sourdough starter" "my tomato seedlings" "the choir rehearsal"
                    "our chess club" "the comet tonight" "grandma's knitting pattern"
                    "the marathon route" "this haiku" "the volcano documentary" "my saxophone reed")
    local asks=("Any tips for %s before the weekend?" "What do you think about %s, honestly?"
                "Could you write a short poem about %s?" "Is %s better in spring or in autumn?"
                "Tell me a fun fact related to %s.")
    for ((i = 0; i < $1; i++)); do
        local text
        # shellcheck disable=SC2059
        text="$(printf "${asks[i % 5]}" "${subjects[(i / 5) % 10]}") ($((i / 50)))"
        jq -nc --arg id "run2b-oos-$i" --arg t "$text" \
            '{id: $id, task: "intent", input: $t, mode: "interactive", feature: "support-inbox",
              tenant: "tenant-1", cohort: "2026-q3", user_tier: "free"}' >>"$RUN/run2b/jobs.jsonl"
        jq -nc --arg t "$text" '{text: $t, labels: {intent: "other", priority: "low"}}' >>"$RUN/gold.jsonl"
    done
}
mkdir -p "$RUN/run2b"
"$WORKLOAD" --out "$RUN/run2b" --jobs 800 --seed 252 --id-prefix run2b >/dev/null
cat "$RUN/run2b/gold.jsonl" >>"$RUN/gold.jsonl"
oos_jobs 200
"$SLUICE" publish "$RUN/run2b/jobs.jsonl" >/dev/null || fail "publish run2b"
it_restart_emulator # it reads the new gold labels
run_workers 8000
t0_2b=$(psql_val "SELECT count(*) FROM results WHERE source = 'tier0' AND job_id LIKE 'run2b-%'")
oos_t0=$(psql_val "SELECT count(*) FROM results WHERE source = 'tier0' AND job_id LIKE 'run2b-oos-%'")
oos_wrong=$(psql_val "SELECT count(*) FROM results WHERE source = 'tier0' AND job_id LIKE 'run2b-oos-%'
    AND label <> 'other'")
[ "$t0_2b" -gt 100 ] || fail "run 2b: tier 0 answered only $t0_2b jobs"
# The guarantee allows 1 - target = 10 % disagreement here; out-of-scope text
# answered with an in-scope label must stay far below: at most 2 % of tier 0's
# answers (about 7 of ~350), and in any case at most 10 of the 200 sentences.
[ $((oos_wrong * 50)) -le "$t0_2b" ] && [ "$oos_wrong" -le 10 ] \
    || fail "run 2b: $oos_wrong of 200 out-of-scope jobs answered at tier 0 with an in-scope label ($t0_2b tier-0 answers)"
pass "run 2b: $t0_2b tier-0 answers; of 200 out-of-scope jobs, $oos_t0 answered at tier 0, $oos_wrong with an in-scope label"

# --- run 3: the LLM now answers 'billing' where it said 'refund' -----------
jq -c 'if .labels.intent == "refund" then .labels.intent = "billing" else . end' \
    "$RUN/gold.jsonl" >"$RUN/gold.drift" && mv "$RUN/gold.drift" "$RUN/gold.jsonl"
jq '.tasks.intent.tier0.shadow_share = 1.0' "$SLUICE_CONFIG" >"$RUN/c.json" && mv "$RUN/c.json" "$SLUICE_CONFIG"
publish_run run3 303 3000
jq -c 'if .labels.intent == "refund" then .labels.intent = "billing" else . end' \
    "$RUN/gold.jsonl" >"$RUN/gold.drift" && mv "$RUN/gold.drift" "$RUN/gold.jsonl"
it_restart_emulator # it reads the new gold labels
run_workers 11000 1
withdrawn=$(psql_val "SELECT coalesce(string_agg(label, ',' ORDER BY label), '') FROM tier0_withdrawals")
echo "withdrawn: $withdrawn"
case ",$withdrawn," in
    *,refund,*|*,\*,*) ;;
    *) fail "drift on 'refund' withdrew nothing for it (withdrawn: '$withdrawn')" ;;
esac
grep -q "tier0: withdrew" "$RUN"/worker-*.log || fail "the withdrawal was not logged"

# --- run 4: the withdrawn label is no longer answered at tier 0 ------------
publish_run run4 404 1000
it_restart_emulator # it reads the new gold labels
run_workers 12000
refund_t0=$(psql_val "SELECT count(*) FROM results WHERE source = 'tier0' AND label = 'refund' AND job_id LIKE 'run4-%'")
[ "$refund_t0" -eq 0 ] || fail "$refund_t0 'refund' answers at tier 0 after the withdrawal"
pass "run 4: 'refund' withdrawn ($withdrawn), none answered at tier 0"
