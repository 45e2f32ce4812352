-- 007_tier0_views.sql — the cost views, corrected for tier-0 shadow checks.
--
-- A shadow check (tasks.*.tier0.shadow_share) sends a tier-0 answer through
-- the LLM ladder too. Its provider calls are real and billed, so they stay
-- in calls and cost, but they neither conclude the job (the tier-0 line
-- does) nor escalate it: 003's views counted a shadow-checked job twice in
-- `jobs` and its ladder's climbs as escalations. Shadow-check lines are the
-- ones with reason = 'shadow_check' (the worker marks every call of a
-- shadow ladder so). Column lists are unchanged except for the new trailing
-- v_cost_daily.shadow_checks, so the views built on v_cost_daily stay.

CREATE OR REPLACE VIEW v_cost_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date                AS day,
       feature, tenant, cohort, task, tier, provider, model, mode,
       count(*)                                             AS calls,
       count(*) FILTER (WHERE outcome <> 'escalated'
                          AND reason IS DISTINCT FROM 'shadow_check') AS jobs,
       count(*) FILTER (WHERE outcome = 'escalated'
                          AND reason IS DISTINCT FROM 'shadow_check') AS escalated,
       count(*) FILTER (WHERE outcome = 'failed'
                          AND reason IS DISTINCT FROM 'shadow_check') AS failed,
       sum(tokens_in)                                       AS tokens_in,
       sum(tokens_cached_in)                                AS tokens_cached_in,
       sum(tokens_cache_write)                              AS tokens_cache_write,
       sum(tokens_out)                                      AS tokens_out,
       sum(cost_nanousd)                                    AS cost_nanousd,
       sum(baseline_nanousd)                                AS baseline_nanousd,
       count(*) FILTER (WHERE reason = 'shadow_check')      AS shadow_checks
FROM cost_lines
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

COMMENT ON VIEW v_cost_daily IS 'Provider calls per UTC day and every dimension; jobs = concluding calls; shadow_checks = calls re-checking a tier-0 answer (in calls and cost, never in jobs, escalated or failed). Money in nano-dollars (1e-9 USD).';

-- The rate is over the calls that could escalate: shadow checks cannot.
CREATE OR REPLACE VIEW v_escalation_rate AS
SELECT day, feature, tenant, task, tier,
       sum(calls) AS calls, sum(escalated) AS escalated, sum(failed) AS failed,
       sum(escalated)::float8 / nullif(sum(calls) - sum(shadow_checks), 0) AS escalation_rate
FROM v_cost_daily GROUP BY 1, 2, 3, 4, 5;

COMMENT ON VIEW v_escalation_rate IS 'Escalated calls over calls, per UTC day, feature, tenant, task and tier; tier-0 shadow checks count in calls but not in the rate.';

-- 002's comment on traces said retention was not yet scheduled; it is now.
COMMENT ON TABLE traces IS 'Accepted LLM answers of label tasks (also the LLM answers of tier-0 shadow checks), kept as tier-0 training data. Retention: tier0_train_task() (sluice train, scheduled retraining) first deletes the task''s rows older than tasks.<t>.tier0.trace_retention_days (default 90; 0 keeps them), in batches; training reads the newest rows of a task.';
