-- 013_daily_rollups.sql — cost_daily: the ledger summed per UTC day and
-- dimension, kept exact by triggers, so that the daily cost views (and
-- `sluice report`, which reads them) cost what the range's days hold, not
-- what the ledger holds.
--
-- Key: v_cost_daily's dimensions plus the two things its counts filter on
-- (outcome, and whether the line is a tier-0 shadow check), so that every
-- view that grouped cost_lines by day reads the same figures from here.
-- Sums are numeric, like sum(bigint) in the views before: exact, and a
-- ledger write can never fail on a rollup overflow (lines of any bigint
-- value are stored, so their sum may exceed bigint).
CREATE TABLE cost_daily (
    day                   date NOT NULL,
    feature               text NOT NULL,
    tenant                text NOT NULL,
    cohort                text NOT NULL,
    task                  text NOT NULL,
    tier                  int NOT NULL,
    provider              text NOT NULL,
    model                 text NOT NULL,
    mode                  text NOT NULL,
    outcome               text NOT NULL,
    shadow_check          boolean NOT NULL,
    calls                 bigint NOT NULL,
    tokens_in             numeric NOT NULL,
    tokens_cached_in      numeric NOT NULL,
    tokens_cache_write    numeric NOT NULL,
    tokens_cache_write_1h numeric NOT NULL,
    tokens_out            numeric NOT NULL,
    cost_nanousd          numeric NOT NULL,
    baseline_nanousd      numeric NOT NULL,
    latency_ms            numeric NOT NULL,
    PRIMARY KEY (day, feature, tenant, cohort, task, tier, provider, model, mode,
                 outcome, shadow_check)
);
COMMENT ON TABLE cost_daily IS 'cost_lines summed per UTC day (created_at), feature, tenant, cohort, task, tier, provider, model, mode, outcome and shadow check (reason = ''shadow_check''); maintained by the cost_daily_* triggers on cost_lines. A key whose lines were all deleted or moved stays with calls = 0 (every sum 0). Money in nano-dollars (1e-9 USD).';
COMMENT ON COLUMN cost_daily.calls IS 'Cost lines (provider calls) of the key.';
COMMENT ON COLUMN cost_daily.latency_ms IS 'Sum of the lines'' latency_ms (milliseconds).';

-- Adds (sign 1) or subtracts (sign -1) the rows of the statement's
-- transition tables, one upsert per statement, grouped per key. An upsert
-- updates conflicting rows in the order its SELECT returns them, so every
-- writer locks cost_daily rows in key order: two writers sharing keys wait
-- for each other, never in a cycle. A key that nets to zero everywhere (an
-- update of provider_request_id alone) is not touched. SECURITY DEFINER:
-- the writers need no privilege on cost_daily (schema/roles.sql gives no
-- role any), so none can change it but through cost_lines.
CREATE FUNCTION cost_daily_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
DECLARE
    src text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS s, n.* FROM cost_daily_new n'
        WHEN 'DELETE' THEN 'SELECT -1 AS s, o.* FROM cost_daily_old o'
        ELSE 'SELECT 1 AS s, n.* FROM cost_daily_new n'
             ' UNION ALL SELECT -1, o.* FROM cost_daily_old o' END;
    -- Inserted rows are summed as they are (the fast path of the ledger's
    -- writes); removed rows are negated in numeric (-1 * a bigint line
    -- could overflow).
    sums text;
BEGIN
    SELECT string_agg(CASE WHEN TG_OP = 'INSERT' THEN format('sum(%I)', c)
                           ELSE format('sum(s * %I::numeric)', c) END, ', ' ORDER BY i)
    INTO sums
    FROM unnest(ARRAY['tokens_in', 'tokens_cached_in', 'tokens_cache_write',
                      'tokens_cache_write_1h', 'tokens_out', 'cost_nanousd',
                      'baseline_nanousd', 'latency_ms']) WITH ORDINALITY AS u(c, i);
    EXECUTE format($sql$
        INSERT INTO cost_daily AS d
        SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant, cohort, task,
               tier, provider, model, mode, outcome,
               coalesce(reason = 'shadow_check', false), sum(s), %2$s
        FROM (%1$s) x
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        HAVING (sum(s), %2$s) <> (0, 0, 0, 0, 0, 0, 0, 0, 0)
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
            latency_ms = d.latency_ms + EXCLUDED.latency_ms$sql$, src, sums);
    RETURN NULL;
END
$fn$;

-- TRUNCATE has no transition table: it empties the rollup too.
CREATE FUNCTION cost_daily_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
BEGIN
    DELETE FROM cost_daily;
    RETURN NULL;
END
$fn$;

-- The ledger's upsert (INSERT ... ON CONFLICT DO UPDATE) fires both the
-- INSERT trigger (the rows it inserted) and the UPDATE trigger (the intent
-- lines it replaced: old row out, new row in, possibly on the next day).
-- The table is locked first so that no line is written between the
-- triggers' creation and the backfill below.
LOCK TABLE cost_lines IN SHARE MODE;

CREATE TRIGGER cost_daily_insert AFTER INSERT ON cost_lines
    REFERENCING NEW TABLE AS cost_daily_new
    FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_apply();
CREATE TRIGGER cost_daily_update AFTER UPDATE ON cost_lines
    REFERENCING OLD TABLE AS cost_daily_old NEW TABLE AS cost_daily_new
    FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_apply();
CREATE TRIGGER cost_daily_delete AFTER DELETE ON cost_lines
    REFERENCING OLD TABLE AS cost_daily_old
    FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_apply();
CREATE TRIGGER cost_daily_truncate AFTER TRUNCATE ON cost_lines
    FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_truncate();

-- Recomputes the whole rollup from the lines: the upgrade path below, and
-- after a bulk load run with the triggers disabled (ALTER TABLE cost_lines
-- DISABLE TRIGGER USER; ops/bench-report does so). Writers wait meanwhile
-- (SHARE lock) so that no line is counted twice or missed.
CREATE FUNCTION cost_daily_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE cost_lines IN SHARE MODE;
    DELETE FROM cost_daily;
    INSERT INTO cost_daily
    SELECT (created_at AT TIME ZONE 'UTC')::date, feature, tenant, cohort, task, tier,
           provider, model, mode, outcome, coalesce(reason = 'shadow_check', false),
           count(*), sum(tokens_in), sum(tokens_cached_in), sum(tokens_cache_write),
           sum(tokens_cache_write_1h), sum(tokens_out), sum(cost_nanousd),
           sum(baseline_nanousd), sum(latency_ms)
    FROM cost_lines GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION cost_daily_rebuild() IS 'Recomputes cost_daily from cost_lines (after a bulk load with the triggers disabled); returns the number of keys.';

-- The upgrade path: a database with lines gets their sums once.
SELECT cost_daily_rebuild();

-- ---- the views, now over cost_daily --------------------------------------------
-- Same columns, types and rows as before: a key with calls = 0 (all its
-- lines gone) is skipped, so a group exists exactly when it has lines;
-- counts are bigint as count(*) was, sums numeric as sum(bigint) was.

CREATE OR REPLACE VIEW v_cost_daily AS
SELECT day, feature, tenant, cohort, task, tier, provider, model, mode,
       sum(calls)::bigint                                   AS calls,
       coalesce(sum(calls) FILTER (WHERE outcome IN ('accepted', 'failed')
                                     AND NOT shadow_check), 0)::bigint AS jobs,
       coalesce(sum(calls) FILTER (WHERE outcome = 'escalated'
                                     AND NOT shadow_check), 0)::bigint AS escalated,
       coalesce(sum(calls) FILTER (WHERE outcome = 'failed'
                                     AND NOT shadow_check), 0)::bigint AS failed,
       sum(tokens_in)                                       AS tokens_in,
       sum(tokens_cached_in)                                AS tokens_cached_in,
       sum(tokens_cache_write)                              AS tokens_cache_write,
       sum(tokens_out)                                      AS tokens_out,
       sum(cost_nanousd)                                    AS cost_nanousd,
       sum(baseline_nanousd)                                AS baseline_nanousd,
       coalesce(sum(calls) FILTER (WHERE shadow_check), 0)::bigint AS shadow_checks,
       coalesce(sum(calls) FILTER (WHERE outcome = 'unconfirmed'), 0)::bigint
                                                            AS unconfirmed,
       coalesce(sum(cost_nanousd) FILTER (WHERE outcome = 'unconfirmed'), 0)
                                                            AS unconfirmed_nanousd
FROM cost_daily
WHERE calls <> 0
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

COMMENT ON VIEW v_cost_daily IS 'Provider calls per UTC day and every dimension (from the cost_daily rollup); jobs = concluding calls; shadow_checks = calls re-checking a tier-0 answer; unconfirmed = calls sent without a usable answer, unconfirmed_nanousd their upper-bound cost (included in cost_nanousd: the bill lies between cost_nanousd - unconfirmed_nanousd and cost_nanousd). Money in nano-dollars (1e-9 USD).';

-- The jobs branch is unchanged; the calls branch reads the rollup.
CREATE OR REPLACE VIEW v_cost_per_job AS
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
      SELECT day, feature, tenant, 0, calls, cost_nanousd
      FROM cost_daily WHERE calls <> 0) u
GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW v_cache_daily AS
SELECT day, feature, tenant, task, sum(jobs) AS jobs,
       sum(exact_hits) AS exact_hits, sum(near_hits) AS near_hits,
       sum(saved_nanousd) AS saved_nanousd, sum(checks) AS checks,
       sum(disagreements) AS disagreements
FROM (SELECT day, feature, tenant, task,
             coalesce(sum(calls) FILTER (WHERE outcome <> 'escalated'
                                           AND NOT shadow_check), 0)::bigint AS jobs,
             coalesce(sum(calls) FILTER (WHERE provider = 'cache'
                                           AND model = 'cache-exact'), 0)::bigint AS exact_hits,
             coalesce(sum(calls) FILTER (WHERE provider = 'cache'
                                           AND model = 'cache-near'), 0)::bigint AS near_hits,
             coalesce(sum(baseline_nanousd - cost_nanousd) FILTER (WHERE provider = 'cache'), 0)
                                                                    AS saved_nanousd,
             0::bigint AS checks, 0::bigint AS disagreements
      FROM cost_daily WHERE calls <> 0 GROUP BY 1, 2, 3, 4
      UNION ALL
      SELECT (k.checked_at AT TIME ZONE 'UTC')::date, j.feature, j.tenant, k.task,
             0, 0, 0, 0, count(*), count(*) FILTER (WHERE NOT k.agreed)
      FROM cache_checks k JOIN jobs j USING (job_id) GROUP BY 1, 2, 3, 4) u
GROUP BY 1, 2, 3, 4;

CREATE OR REPLACE VIEW v_provider_discounts_day AS
SELECT day, tier, provider, model,
       sum(calls)::bigint AS calls,
       sum(tokens_in) AS tokens_in,
       sum(tokens_cached_in) AS tokens_cached_in,
       sum(tokens_cache_write) AS tokens_cache_write,
       sum(tokens_cache_write_1h) AS tokens_cache_write_1h,
       round(sum(tokens_cached_in)::numeric / nullif(sum(tokens_in), 0), 4) AS cached_input_share,
       coalesce(sum(calls) FILTER (WHERE mode = 'flex'), 0)::bigint AS flex_calls,
       round(coalesce(sum(calls) FILTER (WHERE mode = 'flex'), 0)::numeric / sum(calls), 4)
           AS flex_share,
       coalesce(sum(cost_nanousd) FILTER (WHERE mode = 'flex'), 0) AS flex_cost_nanousd,
       sum(cost_nanousd) AS cost_nanousd
FROM cost_daily
WHERE calls <> 0 AND tier > 0 AND outcome <> 'unconfirmed'
GROUP BY 1, 2, 3, 4;
