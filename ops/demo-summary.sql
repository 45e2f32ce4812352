-- The demo's summary. Expects a temp table x(job_id, task, expected) with
-- the generator's gold answers for label tasks; job ids start with their
-- day ("day1-…").
\pset footer off
\echo
\echo '== summary'
SELECT count(*) FILTER (WHERE status = 'answered') AS answered,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       (SELECT count(*) FROM rejected) AS rejected,
       -- A tier-0 answer's shadow check adds attempts but escalates nothing.
       round(avg((attempts > 1)::int) FILTER (WHERE source IS DISTINCT FROM 'tier0') * 100, 1)
           AS "escalation %"
FROM results;

\echo '== share of jobs by the tier that answered (0 = tier 0, the local classifier)'
SELECT CASE WHEN source = 'tier0' THEN 0 ELSE tier END AS tier, model, count(*) AS jobs,
       round(count(*) * 100.0 / sum(count(*)) OVER (), 1) AS "share %"
FROM results WHERE status = 'answered'
GROUP BY 1, model ORDER BY 1, model;

\echo '== accuracy against the gold labels (label tasks)'
SELECT j.task, count(*) AS jobs,
       round(avg((r.label = x.expected)::int) * 100, 1) AS "accuracy %"
FROM results r JOIN jobs j USING (job_id) JOIN x USING (job_id)
WHERE x.expected <> '' AND r.status = 'answered'
GROUP BY j.task ORDER BY j.task;

\echo '== cost against sending every job to the top tier, realtime'
SELECT round(sum(cost_nanousd) / 1e9, 4) AS "cost $",
       round(sum(baseline_nanousd) / 1e9, 4) AS "all-top-tier baseline $",
       round(sum(baseline_nanousd)::numeric / nullif(sum(cost_nanousd), 0), 2) AS "baseline / cost",
       round((1 - sum(cost_nanousd)::numeric / nullif(sum(baseline_nanousd), 0)) * 100, 1) AS "saved %"
FROM cost_lines;

\echo '== by day: from the second day tier 0, retrained each night, answers a share at no cost'
SELECT split_part(r.job_id, '-', 1) AS day, count(*) AS jobs,
       round(avg((r.source = 'tier0')::int) * 100, 1) AS "tier0 %",
       round(avg((r.source = 'cache')::int) * 100, 1) AS "cache %",
       round(avg((r.source IN ('llm', 'batch') AND r.tier = 1)::int) * 100, 1) AS "tier1 %",
       round(avg((r.source IN ('llm', 'batch') AND r.tier = 2)::int) * 100, 1) AS "tier2 %",
       round(avg((r.source IN ('llm', 'batch') AND r.tier = 3)::int) * 100, 1) AS "tier3 %",
       round(sum(c.cost) / 1e6 / count(*), 3) AS "$ per 1k jobs",
       round((1 - sum(c.cost)::numeric / nullif(sum(c.baseline), 0)) * 100, 1) AS "saved %",
       round(avg((r.label = x.expected)::int) FILTER (WHERE x.expected <> '') * 100, 1)
           AS "label accuracy %"
FROM results r
LEFT JOIN (SELECT job_id, sum(cost_nanousd) AS cost, sum(baseline_nanousd) AS baseline
           FROM cost_lines GROUP BY job_id) c USING (job_id)
LEFT JOIN x USING (job_id)
GROUP BY 1 ORDER BY 1;

\echo '== cost by feature'
SELECT feature, count(DISTINCT job_id) AS jobs, round(sum(cost_nanousd) / 1e9, 4) AS "cost $",
       round(sum(cost_nanousd) / 1e6 / count(DISTINCT job_id), 3) AS "$ per 1k jobs"
FROM cost_lines GROUP BY feature ORDER BY feature;

\echo '== by source: realtime LLM calls, provider batches (half price), tier 0'
SELECT r.source, count(*) AS jobs, round(sum(c.cost) / 1e9, 4) AS "cost $",
       round(sum(c.cost) / 1e6 / count(*), 3) AS "$ per 1k jobs"
FROM results r
JOIN (SELECT job_id, sum(cost_nanousd) AS cost FROM cost_lines GROUP BY job_id) c USING (job_id)
GROUP BY r.source ORDER BY r.source;

\echo '== provider batches'
SELECT provider, model, state, count(*) AS batches, sum(n_rows) AS requests
FROM batches GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
