-- 015_write_path_plans.sql — cheaper plans for the statements every job
-- runs: the rollup trigger of 013 as static SQL, and the claim of 008/014
-- kept on its indexes.
--
-- The rollup. cost_daily_apply() built its upsert as text and ran it with
-- EXECUTE, so PostgreSQL planned it again for every statement that wrote
-- cost lines, however few: 6,000 statements of two lines (an intent line,
-- then its outcome) took 4.6 s with it, 1.3 s with this one and 0.25 s
-- without the triggers. PL/pgSQL keeps the plans of static statements for
-- the session. Same sums, same key order (writers lock cost_daily rows in
-- key order, so two writers sharing keys never deadlock), same skipping of
-- keys that net to zero; the triggers of 013/014 call the function by name
-- and stay as they are. Each branch names only the transition tables its
-- trigger has (an INSERT trigger has no old table).
CREATE OR REPLACE FUNCTION cost_daily_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- The fast path of the ledger's writes: rows summed as they are.
        INSERT INTO cost_daily AS d
        SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant, cohort, task,
               tier, provider, model, mode, outcome,
               coalesce(reason = 'shadow_check', false),
               count(*),
               sum(tokens_in),
               sum(tokens_cached_in),
               sum(tokens_cache_write),
               sum(tokens_cache_write_1h),
               sum(tokens_out),
               sum(cost_nanousd),
               sum(baseline_nanousd),
               sum(latency_ms)
        FROM cost_daily_new
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        ON CONFLICT (day, feature, tenant, cohort, task, tier, provider, model, mode,
                     outcome, shadow_check) DO UPDATE SET
            calls = d.calls + EXCLUDED.calls,
            tokens_in = d.tokens_in + EXCLUDED.tokens_in,
            tokens_cached_in = d.tokens_cached_in + EXCLUDED.tokens_cached_in,
            tokens_cache_write = d.tokens_cache_write + EXCLUDED.tokens_cache_write,
            tokens_cache_write_1h = d.tokens_cache_write_1h + EXCLUDED.tokens_cache_write_1h,
            tokens_out = d.tokens_out + EXCLUDED.tokens_out,
            cost_nanousd = d.cost_nanousd + EXCLUDED.cost_nanousd,
            baseline_nanousd = d.baseline_nanousd + EXCLUDED.baseline_nanousd,
            latency_ms = d.latency_ms + EXCLUDED.latency_ms;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Old rows out, new rows in (possibly on another day), in one
        -- upsert. Removed rows are negated in numeric: -1 * a bigint line
        -- could overflow.
        INSERT INTO cost_daily AS d
        SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant, cohort, task,
               tier, provider, model, mode, outcome,
               coalesce(reason = 'shadow_check', false),
               sum(s),
               sum(s * tokens_in::numeric),
               sum(s * tokens_cached_in::numeric),
               sum(s * tokens_cache_write::numeric),
               sum(s * tokens_cache_write_1h::numeric),
               sum(s * tokens_out::numeric),
               sum(s * cost_nanousd::numeric),
               sum(s * baseline_nanousd::numeric),
               sum(s * latency_ms::numeric)
        FROM (SELECT 1 AS s, n.* FROM cost_daily_new n
              UNION ALL SELECT -1, o.* FROM cost_daily_old o) x
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        HAVING (sum(s),
                sum(s * tokens_in::numeric),
                sum(s * tokens_cached_in::numeric),
                sum(s * tokens_cache_write::numeric),
                sum(s * tokens_cache_write_1h::numeric),
                sum(s * tokens_out::numeric),
                sum(s * cost_nanousd::numeric),
                sum(s * baseline_nanousd::numeric),
                sum(s * latency_ms::numeric)) <> (0, 0, 0, 0, 0, 0, 0, 0, 0)
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        ON CONFLICT (day, feature, tenant, cohort, task, tier, provider, model, mode,
                     outcome, shadow_check) DO UPDATE SET
            calls = d.calls + EXCLUDED.calls,
            tokens_in = d.tokens_in + EXCLUDED.tokens_in,
            tokens_cached_in = d.tokens_cached_in + EXCLUDED.tokens_cached_in,
            tokens_cache_write = d.tokens_cache_write + EXCLUDED.tokens_cache_write,
            tokens_cache_write_1h = d.tokens_cache_write_1h + EXCLUDED.tokens_cache_write_1h,
            tokens_out = d.tokens_out + EXCLUDED.tokens_out,
            cost_nanousd = d.cost_nanousd + EXCLUDED.cost_nanousd,
            baseline_nanousd = d.baseline_nanousd + EXCLUDED.baseline_nanousd,
            latency_ms = d.latency_ms + EXCLUDED.latency_ms;
    ELSE
        INSERT INTO cost_daily AS d
        SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant, cohort, task,
               tier, provider, model, mode, outcome,
               coalesce(reason = 'shadow_check', false),
               sum(s),
               sum(s * tokens_in::numeric),
               sum(s * tokens_cached_in::numeric),
               sum(s * tokens_cache_write::numeric),
               sum(s * tokens_cache_write_1h::numeric),
               sum(s * tokens_out::numeric),
               sum(s * cost_nanousd::numeric),
               sum(s * baseline_nanousd::numeric),
               sum(s * latency_ms::numeric)
        FROM (SELECT -1 AS s, o.* FROM cost_daily_old o) x
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        HAVING (sum(s),
                sum(s * tokens_in::numeric),
                sum(s * tokens_cached_in::numeric),
                sum(s * tokens_cache_write::numeric),
                sum(s * tokens_cache_write_1h::numeric),
                sum(s * tokens_out::numeric),
                sum(s * cost_nanousd::numeric),
                sum(s * baseline_nanousd::numeric),
                sum(s * latency_ms::numeric)) <> (0, 0, 0, 0, 0, 0, 0, 0, 0)
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        ON CONFLICT (day, feature, tenant, cohort, task, tier, provider, model, mode,
                     outcome, shadow_check) DO UPDATE SET
            calls = d.calls + EXCLUDED.calls,
            tokens_in = d.tokens_in + EXCLUDED.tokens_in,
            tokens_cached_in = d.tokens_cached_in + EXCLUDED.tokens_cached_in,
            tokens_cache_write = d.tokens_cache_write + EXCLUDED.tokens_cache_write,
            tokens_cache_write_1h = d.tokens_cache_write_1h + EXCLUDED.tokens_cache_write_1h,
            tokens_out = d.tokens_out + EXCLUDED.tokens_out,
            cost_nanousd = d.cost_nanousd + EXCLUDED.cost_nanousd,
            baseline_nanousd = d.baseline_nanousd + EXCLUDED.baseline_nanousd,
            latency_ms = d.latency_ms + EXCLUDED.latency_ms;
    END IF;
    RETURN NULL;
END
$fn$;

-- The claim. Every lookup of sluice_claim_jobs() is by primary key (jobs,
-- job_claims, cost_lines), for one micro-batch of ids, but the planner
-- expects 100 ids from the JSON array and, while jobs holds fewer than some
-- 40,000 rows, hashes the whole table instead: 10-12 ms per claim of 256
-- new ids on 20,000 jobs, 5-6 ms on the indexes. The worker waits for its
-- claims on its event loop.
ALTER FUNCTION sluice_claim_jobs(json, text, bigint) SET enable_seqscan = off;
