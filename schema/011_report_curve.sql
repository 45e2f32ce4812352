-- 011_report_curve.sql — the views behind the first screen of `sluice
-- report`: the learning curve (who answered and what it cost, per second,
-- so that a report of a few hours or minutes still has several periods)
-- and the exact input sizes (so the token histogram's buckets can fit the
-- data instead of a fixed ladder from 64 tokens).
--
-- Both keep `day` (UTC, the jobs_day index expression), feature and tenant
-- like every 003 view, so the report's filter is the same and is pushed
-- below the GROUP BY.

-- answered_at: tier0 and cache answer without a provider call; an LLM
-- answer (realtime or batch) is 'tier' || the tier that answered; a failed
-- job (or one without a result row) is 'failed'. Cost and baseline are the
-- job's whole ledger (escalations and tier-0 shadow checks included),
-- counted in the second the job finished.
CREATE VIEW v_jobs_by_second AS
SELECT date_trunc('second', j.finished_at AT TIME ZONE 'UTC') AS second_utc,
       (j.finished_at AT TIME ZONE 'UTC')::date               AS day,
       j.feature, j.tenant,
       CASE WHEN r.status IS DISTINCT FROM 'answered' THEN 'failed'
            WHEN r.source IN ('tier0', 'cache') THEN r.source
            ELSE 'tier' || coalesce(r.tier::text, '?') END    AS answered_at,
       count(*)                                               AS jobs,
       coalesce(sum(c.cost_nanousd), 0)                       AS cost_nanousd,
       coalesce(sum(c.baseline_nanousd), 0)                   AS baseline_nanousd
FROM jobs j
LEFT JOIN results r ON r.job_id = j.job_id
-- A lateral sum per job: a day filter on the jobs reaches the index, and
-- only those jobs' lines are read (a join with a grouped cost_lines would
-- aggregate the whole ledger first).
LEFT JOIN LATERAL (SELECT sum(cost_nanousd) AS cost_nanousd,
                          sum(baseline_nanousd) AS baseline_nanousd
                   FROM cost_lines l WHERE l.job_id = j.job_id) c ON true
GROUP BY 1, 2, 3, 4, 5;

COMMENT ON VIEW v_jobs_by_second IS 'Finished jobs per UTC second, feature, tenant and who answered (tier0, cache, tier1..3, failed), with their whole cost and baseline in nano-dollars.';

CREATE VIEW v_input_tokens AS
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day, feature, tenant,
       input_chars / 4                        AS tokens,
       count(*)                               AS jobs
FROM jobs GROUP BY 1, 2, 3, 4;

COMMENT ON VIEW v_input_tokens IS 'Finished jobs per UTC day, feature, tenant and estimated input tokens (input_chars / 4).';
