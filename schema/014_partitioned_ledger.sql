-- 014_partitioned_ledger.sql — cost_lines partitioned by month.
--
-- A busy product writes 100M+ cost lines a year. Partitioned by month, a
-- month of lines is one table: old months leave by DROP (retention:
-- scheduler.ledger_retention_months) instead of a DELETE that rewrites the
-- table, and every index stays the size of a month. The daily
-- rollup (cost_daily, 013) is not touched by a dropped month, so the
-- report and the v_cost_* views keep whole days after their lines are gone.
--
-- The partition key is ledger_month: the first day of the UTC month in
-- which the line's job run began (a worker's run of the job, or the
-- scheduler's tick). A line's key must be known before its call leaves,
-- since the line written then ('unconfirmed', 'in_flight') is replaced by
-- the call's outcome through ON CONFLICT (job_id, attempt, ledger_month):
-- the time the line is written (created_at) would differ between the two.
-- lib/ledger.c sets it; created_at keeps meaning when the cost became known.

-- The upgrade moves the existing lines in one transaction (cost_daily
-- already holds their sums, so the rollup triggers are created after the
-- copy) and points the views that read cost_lines at the new table
-- (CREATE OR REPLACE keeps their grants, comments and dependents). Table
-- grants and row-level security are schema/roles.sql's: run
-- `sluice migrate --roles` after upgrading, as deployments do at boot;
-- until then only the owner reads the new table (it fails closed).

LOCK TABLE cost_lines IN ACCESS EXCLUSIVE MODE;

-- ---- 1. the views that read cost_lines, as their text says it -------------
CREATE TEMP TABLE ledger_views ON COMMIT DROP AS
SELECT DISTINCT r.ev_class::regclass::text AS name, pg_get_viewdef(r.ev_class) AS def
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
WHERE d.classid = 'pg_rewrite'::regclass
  AND d.refobjid = 'cost_lines'::regclass
  AND r.ev_class <> 'cost_lines'::regclass;

-- ---- 2. the old table steps aside -----------------------------------------
ALTER TABLE cost_lines RENAME TO cost_lines_unpartitioned;
ALTER TABLE cost_lines_unpartitioned RENAME CONSTRAINT cost_lines_pkey TO cost_lines_unpartitioned_pkey;
DROP INDEX cost_lines_created_brin, cost_lines_feature_created,
           cost_lines_tenant_created, cost_lines_day,
           cost_lines_escalated_tier_created, cost_lines_client_request_id;
DROP TRIGGER cost_daily_insert ON cost_lines_unpartitioned;
DROP TRIGGER cost_daily_update ON cost_lines_unpartitioned;
DROP TRIGGER cost_daily_delete ON cost_lines_unpartitioned;
DROP TRIGGER cost_daily_truncate ON cost_lines_unpartitioned;

-- ---- 3. the partitioned table ---------------------------------------------
CREATE TABLE cost_lines (
    LIKE cost_lines_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS,
    ledger_month date NOT NULL
        DEFAULT date_trunc('month', now() AT TIME ZONE 'UTC')::date
        CHECK (ledger_month = date_trunc('month', ledger_month)::date),
    PRIMARY KEY (job_id, attempt, ledger_month)
) PARTITION BY RANGE (ledger_month);

COMMENT ON TABLE cost_lines IS 'One row per provider call, escalated or not. Money in nano-dollars (1e-9 USD). Partitioned by ledger_month (one table per month, cost_lines_YYYY_MM); sluice_ledger_partitions() creates months ahead and sluice_ledger_retain() drops old ones.';
COMMENT ON COLUMN cost_lines.ledger_month IS 'The partition key: first day of the UTC month in which the job run that wrote the line began (a worker''s run, a scheduler tick), so that a line and the line replacing it share it. When the cost became known is created_at.';

-- The month's table name, e.g. cost_lines_2026_12.
CREATE FUNCTION sluice_ledger_partition_name(month date) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT 'cost_lines_' || to_char(month, 'YYYY_MM')
$fn$;

-- Creates the monthly partitions from `first` to `last` (months, inclusive)
-- that do not exist yet; returns how many it created. SECURITY DEFINER: the
-- workers and the scheduler call it at start and then hourly (creating a
-- partition needs the table's owner), and a row whose month has no table
-- cannot be written. The names are checked before any lock is taken, so
-- the usual call, with every month present, locks nothing. Creating (and
-- dropping, below) takes the ledger's exclusive lock: queued behind a long
-- report it would stall every write queued behind it, so it gives up after
-- lock_timeout and the next hourly call tries again (months are made three
-- ahead).
CREATE FUNCTION sluice_ledger_partitions(first date, last date) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
SET lock_timeout = '2s' AS $fn$
DECLARE
    m date := date_trunc('month', first)::date;
    created int := 0;
BEGIN
    WHILE m <= last LOOP
        IF to_regclass(sluice_ledger_partition_name(m)) IS NULL THEN
            -- Two processes starting at once: one creates, the other sees it.
            PERFORM pg_advisory_xact_lock(8317151707346042883);
            IF to_regclass(sluice_ledger_partition_name(m)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF cost_lines'
                               ' FOR VALUES FROM (%L) TO (%L)',
                               sluice_ledger_partition_name(m), m,
                               (m + interval '1 month')::date);
                created := created + 1;
            END IF;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END
$fn$;

-- This month and the `ahead` next ones.
CREATE FUNCTION sluice_ledger_partitions_ahead(ahead int) RETURNS int
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    SELECT sluice_ledger_partitions(
        date_trunc('month', now() AT TIME ZONE 'UTC')::date,
        (date_trunc('month', now() AT TIME ZONE 'UTC') + ahead * interval '1 month')::date)
$fn$;

-- Drops the monthly partitions that end before the first day of the month
-- `keep_months` - 1 months back (keep_months 12 in December 2026 keeps
-- January 2026 on); at least this month and the last are kept, since a
-- job run begun last month may still write its lines. Returns the names
-- dropped. The rollup (cost_daily) keeps the dropped months' sums: DROP
-- fires no row trigger. Only the scheduler calls it, when
-- scheduler.ledger_retention_months > 0.
CREATE FUNCTION sluice_ledger_retain(keep_months int) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
SET lock_timeout = '2s' AS $fn$
DECLARE
    cutoff date := (date_trunc('month', now() AT TIME ZONE 'UTC')
                    - (greatest(keep_months, 2) - 1) * interval '1 month')::date;
    p record;
BEGIN
    IF keep_months < 1 THEN
        RAISE EXCEPTION 'sluice_ledger_retain: keep_months must be >= 1, got %', keep_months;
    END IF;
    FOR p IN
        SELECT c.relname,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                             'TO \(''([0-9-]+)''\)'))[1]::date AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'cost_lines'::regclass
        ORDER BY 1
    LOOP
        IF p.upper_bound <= cutoff THEN
            EXECUTE format('DROP TABLE %I', p.relname);
            RETURN NEXT p.relname;
        END IF;
    END LOOP;
END
$fn$;

COMMENT ON FUNCTION sluice_ledger_partitions(date, date) IS 'Creates the missing monthly cost_lines partitions from the month of first to the month of last; returns how many.';
COMMENT ON FUNCTION sluice_ledger_partitions_ahead(int) IS 'Creates the missing cost_lines partitions of this month and the next ahead months; returns how many.';
COMMENT ON FUNCTION sluice_ledger_retain(int) IS 'Drops the cost_lines partitions older than the last keep_months months (the daily rollup keeps their sums); returns their names.';

-- ---- 4. the lines move ----------------------------------------------------
-- An old line's month is the month it was written in. (A line left in
-- flight by a worker of the old version is not replaced by the new one:
-- the job's next run numbers its calls on, as after any restart.)
SELECT sluice_ledger_partitions(
    coalesce((SELECT min(created_at AT TIME ZONE 'UTC')::date FROM cost_lines_unpartitioned),
             (now() AT TIME ZONE 'UTC')::date),
    (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months')::date);

INSERT INTO cost_lines
SELECT o.*, date_trunc('month', o.created_at AT TIME ZONE 'UTC')::date
FROM cost_lines_unpartitioned o;

-- ---- 5. indexes, on every partition -----------------------------------------
CREATE INDEX cost_lines_created_brin ON cost_lines USING brin (created_at);
CREATE INDEX cost_lines_feature_created ON cost_lines (feature, created_at);
CREATE INDEX cost_lines_tenant_created ON cost_lines (tenant, created_at);
CREATE INDEX cost_lines_day ON cost_lines (((created_at AT TIME ZONE 'UTC')::date));
CREATE INDEX cost_lines_escalated_tier_created ON cost_lines (tier, created_at) WHERE attempt > 1;
-- A unique index of a partitioned table holds its partition key.
CREATE UNIQUE INDEX cost_lines_client_request_id ON cost_lines (client_request_id, ledger_month);

-- ---- 6. the rollup follows the new table (013) ----------------------------
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

-- ---- 7. the views read the new table; the old one goes --------------------
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT name, def FROM ledger_views ORDER BY name LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', v.name, v.def);
    END LOOP;
END
$$;

DROP TABLE cost_lines_unpartitioned;

-- ---- 8. a job's lines, read by month ----------------------------------------
-- Two views look up each job's lines (by job_id, which does not say the
-- month): unbounded, every lookup would probe every month's index. A job's
-- lines are filed under the months its runs began, which lie between its
-- arrival and its end (a day either side for clocks), so a lookup probes
-- one month, two near a month's end (run-time partition pruning). A run
-- released at shutdown before the jobs row was written, and run again more
-- than a day later across a month's start, would leave its first lines out
-- of these two views (never out of the rollup, the bill or v_job_costs).
CREATE FUNCTION sluice_ledger_month(t timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT date_trunc('month', t AT TIME ZONE 'UTC')::date
$fn$;

-- The start of the oldest month whose lines are kept (retention drops the
-- older ones): per-job costs are whole from there on.
CREATE FUNCTION sluice_ledger_kept_since() RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(min(to_date(substring(c.relname FROM '^cost_lines_([0-9]{4}_[0-9]{2})$'),
                                'YYYY_MM')), 'infinity')::timestamp AT TIME ZONE 'UTC'
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'cost_lines'::regclass
$fn$;

CREATE OR REPLACE VIEW v_jobs_daily AS
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
-- LATERAL: the month bounds prune per job only as the subquery's own
-- conditions (a plain join's would be checked after probing every month).
LEFT JOIN LATERAL (SELECT l.mode FROM cost_lines l
                   WHERE l.job_id = r.job_id AND l.attempt = r.attempts
                     AND l.ledger_month >= sluice_ledger_month(j.received_at - interval '1 day')
                     AND l.ledger_month <= sluice_ledger_month(coalesce(j.finished_at, 'infinity')
                                                               + interval '1 day')
                   LIMIT 1) c ON true
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

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
LEFT JOIN results r ON r.job_id = j.job_id
LEFT JOIN LATERAL (SELECT sum(cost_nanousd) AS cost_nanousd,
                          sum(baseline_nanousd) AS baseline_nanousd
                   FROM cost_lines l WHERE l.job_id = j.job_id
                     AND l.ledger_month >= sluice_ledger_month(j.received_at - interval '1 day')
                     AND l.ledger_month <= sluice_ledger_month(coalesce(j.finished_at, 'infinity')
                                                               + interval '1 day')) c ON true
-- Jobs whose lines retention dropped would count with no cost: the curve
-- starts where the kept lines do (the bill and the daily views read the
-- rollup and keep every day).
WHERE j.finished_at >= (SELECT sluice_ledger_kept_since()) -- once, not per row
GROUP BY 1, 2, 3, 4, 5;

-- Creating and dropping months is for the roles schema/roles.sql names.
REVOKE ALL ON FUNCTION sluice_ledger_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION sluice_ledger_partitions_ahead(int) FROM PUBLIC;
REVOKE ALL ON FUNCTION sluice_ledger_retain(int) FROM PUBLIC;

-- ---- 9. a claim reads the job's recent months only --------------------------
-- sluice_claim_jobs (008) numbers a claimed job's calls after its highest
-- cost line, looked up by job id for every message a worker takes: over
-- all months that would probe every month's index per job. A job's earlier
-- lines come from runs released in the last few minutes or hours (a lease,
-- a restart, a replay within the topic's retention), so the last two months
-- hold them; a run older than that would only see its attempt numbers
-- reused under another month, each line still its own call. The lookup is
-- also made for claimed ids only (done and busy ones never use it).
CREATE OR REPLACE FUNCTION sluice_claim_jobs(ids json, claim_owner text, lease_ms bigint)
RETURNS TABLE (idx bigint, claim_state text, base_attempt int)
LANGUAGE plpgsql AS $fn$
DECLARE
    took text[];
BEGIN
    WITH wanted AS (
        SELECT DISTINCT a.id FROM json_array_elements_text(ids) AS a(id)
        WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = a.id)),
    ins AS (
        INSERT INTO job_claims AS c (job_id, owner, lease_until)
        SELECT w.id, claim_owner, now() + lease_ms * interval '1 ms'
        FROM wanted w ORDER BY w.id
        ON CONFLICT (job_id) DO UPDATE
            SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
                claimed_at = now()
            WHERE c.lease_until < clock_timestamp()
        RETURNING c.job_id)
    SELECT coalesce(array_agg(ins.job_id), '{}') INTO took FROM ins;

    DELETE FROM job_claims c
    WHERE c.job_id = ANY (took) AND c.owner = claim_owner
      AND EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = c.job_id);

    RETURN QUERY
    SELECT s.i, s.state,
           CASE WHEN s.state = 'claimed' THEN
               coalesce((SELECT max(cl.attempt) FROM cost_lines cl
                         WHERE cl.job_id = s.id
                           AND cl.ledger_month >= sluice_ledger_month(now() - interval '2 months')), 0)
           ELSE 0 END
    FROM (SELECT a.i, a.id,
                 CASE WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = a.id) THEN 'done'
                      WHEN a.id = ANY (took)
                           AND row_number() OVER (PARTITION BY a.id ORDER BY a.i) = 1
                           THEN 'claimed'
                      ELSE 'busy' END AS state
          FROM json_array_elements_text(ids) WITH ORDINALITY AS a(id, i)) s
    ORDER BY s.i;
END
$fn$;
