-- 016_row_retention.sql — retention for the tables that grow with traffic
-- but cannot be split by month like cost_lines (014):
--   - jobs and results: a job id must stay unique whatever its month, since
--     it is the "already done" check that keeps a redelivered job from
--     being answered and billed twice;
--   - rejected: raw payloads of bad messages, possibly personal data.
-- The scheduler deletes their old rows in short batches, a transaction
-- each (scheduler.job_retention_days, scheduler.rejected_retention_days;
-- 0, the default, keeps everything). Only the scheduler calls these, as
-- the table owner (SECURITY DEFINER): its role may not delete ledger rows
-- otherwise (schema/roles.sql).

-- Old rows are found on indexes the tables already have: jobs by whole
-- UTC days on jobs_day (003), which the report keeps anyway, rejected on
-- rejected_created (001). One more index on jobs would cost every job's
-- insert: with a BRIN on finished_at, PostgreSQL took 10-20 µs more CPU
-- per job at 0 ms provider latency.

-- Deletes up to max_jobs jobs finished on a UTC day more than keep_days
-- days before today, with their results; returns how many. A job still
-- waiting for the scheduler (a pending row) or without a result is not
-- finished and stays. Rows another transaction holds are skipped (the next
-- call takes them), so several schedulers may run it at once. The job's
-- cost lines stay: they are the bill, kept by month
-- (scheduler.ledger_retention_months).
CREATE FUNCTION sluice_jobs_retain(keep_days int, max_jobs int) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
DECLARE
    ids text[];
BEGIN
    IF keep_days < 1 OR max_jobs < 1 THEN
        RAISE EXCEPTION 'sluice_jobs_retain: keep_days and max_jobs must be >= 1, got % and %',
            keep_days, max_jobs;
    END IF;
    SELECT array_agg(old.job_id) INTO ids
    FROM (SELECT j.job_id FROM jobs j
          WHERE (j.finished_at AT TIME ZONE 'UTC')::date
                < (now() AT TIME ZONE 'UTC')::date - keep_days
            AND EXISTS (SELECT 1 FROM results r WHERE r.job_id = j.job_id)
            AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.job_id = j.job_id)
          LIMIT max_jobs
          FOR UPDATE OF j SKIP LOCKED) old;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM results WHERE job_id = ANY (ids);
    DELETE FROM jobs WHERE job_id = ANY (ids);
    RETURN cardinality(ids);
END
$fn$;

-- Deletes up to max_rows rejected messages older than keep_days days;
-- returns how many.
CREATE FUNCTION sluice_rejected_retain(keep_days int, max_rows int) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
DECLARE
    n int;
BEGIN
    IF keep_days < 1 OR max_rows < 1 THEN
        RAISE EXCEPTION 'sluice_rejected_retain: keep_days and max_rows must be >= 1, got % and %',
            keep_days, max_rows;
    END IF;
    DELETE FROM rejected WHERE id IN (
        SELECT id FROM rejected
        WHERE created_at < now() - keep_days * interval '1 day'
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;

COMMENT ON FUNCTION sluice_jobs_retain(int, int) IS 'Deletes up to max_jobs finished jobs (with their results) of UTC days more than keep_days days before today; returns how many. Called by the scheduler when scheduler.job_retention_days > 0.';
COMMENT ON FUNCTION sluice_rejected_retain(int, int) IS 'Deletes up to max_rows rejected messages older than keep_days days; returns how many. Called by the scheduler when scheduler.rejected_retention_days > 0.';

REVOKE ALL ON FUNCTION sluice_jobs_retain(int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION sluice_rejected_retain(int, int) FROM PUBLIC;
