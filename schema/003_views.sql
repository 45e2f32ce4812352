-- 003_views.sql — the cost views that `sluice report` and people query.
--
-- Days and months are UTC calendar dates: (ts AT TIME ZONE 'UTC')::date is
-- immutable, so it can be indexed, and a filter on a view's `day` column is
-- pushed below the view's GROUP BY onto that index. Money stays integer
-- nano-dollars (bigint sums are exact numerics); rates are float8 for display.
--
-- Every view keeps its grouping columns additive (calls, jobs, sums), so a
-- reader can filter on day/feature/tenant and re-aggregate without ever
-- averaging averages. A job "concludes" on its last cost line (outcome
-- accepted or failed); that line alone carries the job's baseline.

CREATE INDEX cost_lines_day ON cost_lines (((created_at AT TIME ZONE 'UTC')::date));
CREATE INDEX jobs_day ON jobs (((finished_at AT TIME ZONE 'UTC')::date));

-- ---- cost ------------------------------------------------------------------

CREATE VIEW v_cost_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date                AS day,
       feature, tenant, cohort, task, tier, provider, model, mode,
       count(*)                                             AS calls,
       count(*) FILTER (WHERE outcome <> 'escalated')       AS jobs,
       count(*) FILTER (WHERE outcome = 'escalated')        AS escalated,
       count(*) FILTER (WHERE outcome = 'failed')           AS failed,
       sum(tokens_in)                                       AS tokens_in,
       sum(tokens_cached_in)                                AS tokens_cached_in,
       sum(tokens_cache_write)                              AS tokens_cache_write,
       sum(tokens_out)                                      AS tokens_out,
       sum(cost_nanousd)                                    AS cost_nanousd,
       sum(baseline_nanousd)                                AS baseline_nanousd
FROM cost_lines
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

COMMENT ON VIEW v_cost_daily IS 'Provider calls per UTC day and every dimension; jobs = concluding calls. Money in nano-dollars (1e-9 USD).';

CREATE VIEW v_cost_by_feature_day AS
SELECT day, feature, sum(calls) AS calls, sum(jobs) AS jobs,
       sum(cost_nanousd) AS cost_nanousd, sum(baseline_nanousd) AS baseline_nanousd
FROM v_cost_daily GROUP BY 1, 2;

CREATE VIEW v_cost_by_feature_month AS
SELECT date_trunc('month', day)::date AS month, feature,
       sum(calls) AS calls, sum(jobs) AS jobs,
       sum(cost_nanousd) AS cost_nanousd, sum(baseline_nanousd) AS baseline_nanousd
FROM v_cost_daily GROUP BY 1, 2;

CREATE VIEW v_cost_by_feature_tenant_month AS
SELECT date_trunc('month', day)::date AS month, feature, tenant,
       sum(calls) AS calls, sum(jobs) AS jobs, sum(cost_nanousd) AS cost_nanousd
FROM v_cost_daily GROUP BY 1, 2, 3;

CREATE VIEW v_cost_by_tenant_month AS
SELECT date_trunc('month', day)::date AS month, tenant,
       sum(calls) AS calls, sum(jobs) AS jobs,
       sum(cost_nanousd) AS cost_nanousd, sum(baseline_nanousd) AS baseline_nanousd
FROM v_cost_daily GROUP BY 1, 2;

CREATE VIEW v_cost_by_cohort_month AS
SELECT date_trunc('month', day)::date AS month, cohort,
       sum(calls) AS calls, sum(jobs) AS jobs,
       sum(cost_nanousd) AS cost_nanousd, sum(baseline_nanousd) AS baseline_nanousd
FROM v_cost_daily GROUP BY 1, 2;

CREATE VIEW v_cost_by_tier_day AS
SELECT day, tier, sum(calls) AS calls, sum(jobs) AS jobs,
       sum(cost_nanousd) AS cost_nanousd
FROM v_cost_daily GROUP BY 1, 2;

CREATE VIEW v_cost_by_model_month AS
SELECT date_trunc('month', day)::date AS month, provider, model, mode,
       sum(calls) AS calls,
       sum(tokens_in) AS tokens_in, sum(tokens_cached_in) AS tokens_cached_in,
       sum(tokens_cache_write) AS tokens_cache_write, sum(tokens_out) AS tokens_out,
       sum(cost_nanousd) AS cost_nanousd
FROM v_cost_daily GROUP BY 1, 2, 3, 4;

-- ---- jobs (including those answered without a provider call) ---------------

-- answered_by: cache and tier0 answer without a call; an LLM answer is
-- batch when it came through the batch API (results.source or the
-- concluding call's mode), else realtime. Failed jobs are 'failed'.
CREATE VIEW v_jobs_daily AS
SELECT (j.finished_at AT TIME ZONE 'UTC')::date AS day,
       j.feature, j.tenant, j.cohort, j.task, j.user_tier, j.mode,
       CASE WHEN r.status = 'failed' THEN 'failed'
            WHEN r.source IN ('cache', 'tier0') THEN r.source
            WHEN r.source = 'batch' OR c.mode = 'batch' THEN 'batch'
            ELSE 'realtime' END               AS answered_by,
       count(*)                               AS jobs,
       sum(j.input_chars)                     AS input_chars
FROM jobs j
LEFT JOIN results r ON r.job_id = j.job_id
LEFT JOIN cost_lines c ON c.job_id = r.job_id AND c.attempt = r.attempts
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

COMMENT ON VIEW v_jobs_daily IS 'Finished jobs per UTC day, dimension and who answered (cache, tier0, realtime, batch, failed).';

CREATE VIEW v_answer_source AS
SELECT day, feature, tenant, answered_by, sum(jobs) AS jobs
FROM v_jobs_daily GROUP BY 1, 2, 3, 4;

-- Cost per job counts every finished job, also those answered for free.
-- UNION ALL rather than a join of two aggregates: a day/feature/tenant filter
-- on this view is pushed into both branches (it cannot pass a FULL JOIN).
CREATE VIEW v_cost_per_job AS
SELECT day, feature, tenant,
       sum(jobs)          AS jobs,
       sum(calls)         AS calls,
       sum(cost_nanousd)  AS cost_nanousd,
       round(sum(cost_nanousd) / nullif(sum(jobs), 0))        AS cost_per_job_nanousd,
       round(sum(cost_nanousd) * 1000 / nullif(sum(jobs), 0)) AS cost_per_1000_jobs_nanousd
FROM (SELECT (finished_at AT TIME ZONE 'UTC')::date AS day, feature, tenant,
             1::bigint AS jobs, 0::bigint AS calls, 0::numeric AS cost_nanousd
      FROM jobs
      UNION ALL
      SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant,
             0, 1, cost_nanousd
      FROM cost_lines) u
GROUP BY 1, 2, 3;

-- ---- escalation and savings -------------------------------------------------

CREATE VIEW v_escalation_rate AS
SELECT day, feature, tenant, task, tier,
       sum(calls) AS calls, sum(escalated) AS escalated, sum(failed) AS failed,
       sum(escalated)::float8 / nullif(sum(calls), 0) AS escalation_rate
FROM v_cost_daily GROUP BY 1, 2, 3, 4, 5;

CREATE VIEW v_savings AS
SELECT day, feature, tenant,
       sum(cost_nanousd)                     AS cost_nanousd,
       sum(baseline_nanousd)                 AS baseline_nanousd,
       sum(baseline_nanousd - cost_nanousd)  AS saved_nanousd,
       (sum(baseline_nanousd - cost_nanousd) / nullif(sum(baseline_nanousd), 0))::float8
                                             AS saved_share
FROM v_cost_daily GROUP BY 1, 2, 3;

COMMENT ON VIEW v_savings IS 'Actual cost against the same jobs on the top tier, realtime (baseline), in nano-dollars. Jobs answered without a call carry no baseline.';

-- ---- request profile ----------------------------------------------------------

-- Input tokens are estimated as input_chars / 4; buckets double from 64.
CREATE VIEW v_request_shapes AS
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day, feature, tenant, task, mode,
       (ARRAY[0, 64, 128, 256, 512, 1024, 2048, 4096, 8192])
           [width_bucket(input_chars / 4, ARRAY[0, 64, 128, 256, 512, 1024, 2048, 4096, 8192])]
                                              AS tokens_from,
       count(*)                               AS jobs
FROM jobs
GROUP BY 1, 2, 3, 4, 5, 6;

COMMENT ON VIEW v_request_shapes IS 'Jobs per UTC day, feature, tenant, task, mode and input-token bucket [tokens_from, next bucket); tokens = input_chars / 4.';

CREATE VIEW v_input_token_histogram AS
SELECT day, feature, tenant, tokens_from,
       CASE WHEN tokens_from = 0 THEN 64 WHEN tokens_from < 8192 THEN tokens_from * 2 END
           AS tokens_below,
       sum(jobs) AS jobs
FROM v_request_shapes GROUP BY 1, 2, 3, 4;

CREATE VIEW v_task_mix AS
SELECT day, feature, tenant, task, sum(jobs) AS jobs
FROM v_request_shapes GROUP BY 1, 2, 3, 4;

-- All time; `sluice report` ranks the same shapes within its date range.
CREATE VIEW v_top_request_shapes AS
SELECT feature, rank, task, mode, tokens_from, jobs, share
FROM (SELECT feature, task, mode, tokens_from, sum(jobs) AS jobs,
             (sum(jobs) / sum(sum(jobs)) OVER (PARTITION BY feature))::float8 AS share,
             row_number() OVER (PARTITION BY feature
                                ORDER BY sum(jobs) DESC, task, mode, tokens_from) AS rank
      FROM v_request_shapes GROUP BY 1, 2, 3, 4) s
WHERE rank <= 5;
