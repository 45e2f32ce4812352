-- 012_report_range.sql — the learning curve of a bounded range costs what
-- the range holds, not what the ledger holds.
--
-- v_jobs_by_second (011) joined results to jobs with a plain LEFT JOIN: for
-- a 7-day range of a growing ledger the planner hashed the whole results
-- table (a full scan that grows with it) rather than look up the range's
-- jobs by id. The lookup is now a lateral per job, like the job's cost
-- lines already were (OFFSET 0 keeps the planner from turning it back into
-- a join). Same columns, same rows: a job has at most one results row
-- (primary key), and a job without one is still 'failed'.
CREATE OR REPLACE VIEW v_jobs_by_second AS
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
LEFT JOIN LATERAL (SELECT r.status, r.source, r.tier FROM results r
                   WHERE r.job_id = j.job_id OFFSET 0) r ON true
LEFT JOIN LATERAL (SELECT sum(cost_nanousd) AS cost_nanousd,
                          sum(baseline_nanousd) AS baseline_nanousd
                   FROM cost_lines l WHERE l.job_id = j.job_id) c ON true
GROUP BY 1, 2, 3, 4, 5;
