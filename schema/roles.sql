-- roles.sql — least-privilege PostgreSQL roles, applied by
-- `sluice migrate --roles` after the numbered migrations.
--
-- Not a numbered migration (db_migrate only reads NNN_*.sql): it is re-run
-- on every `migrate --roles`, in one transaction, by the role that owns the
-- tables (it needs CREATEROLE, or is a superuser). Re-running it converges:
-- roles are created when missing, every declared relation's grants to the
-- four roles are revoked and granted again from the table below, so a
-- privilege removed here disappears on the next run.
--
-- The roles are NOLOGIN groups with fixed names. Operators create the login
-- roles that processes and people use and make them members, e.g.
--   CREATE ROLE sluice_w LOGIN IN ROLE sluice_worker;  \password sluice_w
-- so no password ever passes through sluice or its configuration
-- (docs/operations.md, "Database roles").
--
-- ADDING A TABLE OR VIEW: add one row to the grants table in step 2. A
-- relation of this schema without a row stops this script with an error
-- naming it, so an undecided table is never silently open or silently
-- closed (tests/integration/80-roles.sh runs it on every build).

-- Concurrent `migrate --roles` runs (every host's migrate unit at boot)
-- serialise here instead of racing on CREATE ROLE. A queued ACCESS
-- EXCLUSIVE lock would stall every worker's insert behind it, so the few
-- statements that take one give up after lock_timeout instead.
SELECT pg_advisory_xact_lock(8317151707346042882);
SET LOCAL lock_timeout = '10s';

-- ---- 1. the group roles -------------------------------------------------------
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['sluice_worker', 'sluice_scheduler',
                             'sluice_reader', 'sluice_tenant_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;

COMMENT ON ROLE sluice_worker IS 'sluice worker: inserts into the ledger, reads what routing, budgets and tier 0 need.';
COMMENT ON ROLE sluice_scheduler IS 'sluice scheduler, status and train: owns the pending/batches queue, inserts into the ledger, trains tier 0.';
COMMENT ON ROLE sluice_reader IS 'People and BI tools: SELECT on the v_* views only.';
COMMENT ON ROLE sluice_tenant_reader IS 'Tenant-scoped reader: jobs, results, cost_lines rows of the tenants mapped to the login in sluice_tenant_readers (row-level security).';

-- The tenant mapping for row-level security: which login sees which tenant.
CREATE TABLE IF NOT EXISTS sluice_tenant_readers (
    role_name name NOT NULL,
    tenant    text NOT NULL,
    PRIMARY KEY (role_name, tenant)
);
COMMENT ON TABLE sluice_tenant_readers IS 'Login role -> tenant it may read (members of sluice_tenant_reader). Maintained by the operator.';

-- ---- 2. the grants: one row per table or view -----------------------------------
-- Privileges are a comma-separated GRANT list ('' = none). USAGE on a
-- table's serial sequences follows from INSERT. Writers may read what they
-- write; only the scheduler changes rows (its own queue, pending and
-- batches), and the writers replace a cost line's 'unconfirmed' estimate
-- by the call's outcome; nobody but the owner deletes ledger rows
-- (jobs, results, cost_lines), drops, truncates or alters anything.
CREATE TEMP TABLE sluice_grants (
    relation      text PRIMARY KEY,
    worker        text NOT NULL,
    scheduler     text NOT NULL,
    reader        text NOT NULL,
    tenant_reader text NOT NULL
) ON COMMIT DROP;

INSERT INTO sluice_grants VALUES
--   relation                          worker            scheduler                          reader    tenant_reader
    ('schema_migrations',              '',               '',                                '',       ''),
    ('jobs',                           'SELECT, INSERT', 'SELECT, INSERT',                  '',       'SELECT'),
    ('results',                        'SELECT, INSERT', 'SELECT, INSERT',                  '',       'SELECT'),
    -- UPDATE: a call's line is written as 'unconfirmed' before it is sent
    -- and replaced by its outcome (ON CONFLICT (job_id, attempt) DO UPDATE).
    ('cost_lines',                     'SELECT, INSERT, UPDATE', 'SELECT, INSERT, UPDATE',  '',       'SELECT'),
    -- Written only by cost_lines' triggers (SECURITY DEFINER functions).
    ('cost_daily',                     '',               '',                                '',       ''),
    ('job_claims',                     'SELECT, INSERT, UPDATE, DELETE', '',                '',       ''),
    ('rejected',                       'SELECT, INSERT', '',                                '',       ''),
    ('traces',                         'INSERT',         'SELECT, INSERT, DELETE',          '',       ''),
    ('tier0_models',                   'SELECT',         'SELECT, INSERT',                  '',       ''),
    ('tier0_shadow',                   'SELECT, INSERT', '',                                '',       ''),
    ('tier0_withdrawals',              'SELECT, INSERT', 'SELECT',                          '',       ''),
    -- DELETE: workers drop expired entries and trim a task to its max_entries.
    ('cache_entries',                  'SELECT, INSERT, UPDATE, DELETE', '',                '',       ''),
    ('cache_purges',                   'SELECT',         '',                                '',       ''),
    ('cache_checks',                   'SELECT, INSERT', '',                                '',       ''),
    ('pending',                        'INSERT',         'SELECT, INSERT, UPDATE, DELETE',  '',       ''),
    ('batches',                        '',               'SELECT, INSERT, UPDATE',          '',       ''),
    ('sluice_tenant_readers',          '',               '',                                '',       'SELECT'),
    ('v_job_costs',                    '',               '',                                'SELECT', ''),
    ('v_cost_daily',                   '',               '',                                'SELECT', ''),
    ('v_cost_by_feature_day',          '',               '',                                'SELECT', ''),
    ('v_cost_by_feature_month',        '',               '',                                'SELECT', ''),
    ('v_cost_by_feature_tenant_month', '',               '',                                'SELECT', ''),
    ('v_cost_by_tenant_month',         '',               '',                                'SELECT', ''),
    ('v_cost_by_cohort_month',         '',               '',                                'SELECT', ''),
    ('v_cost_by_tier_day',             '',               '',                                'SELECT', ''),
    ('v_cost_by_model_month',          '',               '',                                'SELECT', ''),
    ('v_provider_discounts_day',       '',               '',                                'SELECT', ''),
    ('v_jobs_daily',                   '',               '',                                'SELECT', ''),
    ('v_answer_source',                '',               '',                                'SELECT', ''),
    ('v_cost_per_job',                 '',               '',                                'SELECT', ''),
    ('v_escalation_rate',              '',               '',                                'SELECT', ''),
    ('v_savings',                      '',               '',                                'SELECT', ''),
    ('v_request_shapes',               '',               '',                                'SELECT', ''),
    ('v_input_token_histogram',        '',               '',                                'SELECT', ''),
    ('v_task_mix',                     '',               '',                                'SELECT', ''),
    ('v_top_request_shapes',           '',               '',                                'SELECT', ''),
    ('v_bill_bounds',                  '',               '',                                'SELECT', ''),
    ('v_cache_daily',                  '',               '',                                'SELECT', ''),
    ('v_jobs_by_second',               '',               '',                                'SELECT', ''),
    ('v_input_tokens',                 '',               '',                                'SELECT', '');

-- ---- 3. apply them ------------------------------------------------------------
DO $$
DECLARE
    missing text;
    g record;
    r record;
    seq text;
BEGIN
    -- Every table, view and materialized view of this schema must be declared.
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO missing
    FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND NOT c.relispartition -- read through their table, by its grants
      AND c.relname NOT IN (SELECT relation FROM sluice_grants);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no grants declared for %; add a row per relation to the grants table in schema/roles.sql (docs/operations.md, "Database roles")', missing;
    END IF;
    -- A declared relation that does not exist is a typo or a dropped table.
    SELECT string_agg(relation, ', ' ORDER BY relation) INTO missing
    FROM sluice_grants WHERE to_regclass(relation) IS NULL;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'declared relations do not exist: %', missing;
    END IF;

    FOR g IN SELECT * FROM sluice_grants ORDER BY relation LOOP
        EXECUTE format('REVOKE ALL ON %I FROM sluice_worker, sluice_scheduler, sluice_reader, sluice_tenant_reader',
                       g.relation);
        FOR r IN SELECT * FROM (VALUES ('sluice_worker', g.worker),
                                       ('sluice_scheduler', g.scheduler),
                                       ('sluice_reader', g.reader),
                                       ('sluice_tenant_reader', g.tenant_reader)) v(role, privs)
                 WHERE privs <> '' LOOP
            EXECUTE format('GRANT %s ON %I TO %I', r.privs, g.relation, r.role);
        END LOOP;
        -- Serial sequences: nextval needs USAGE; revoked and granted with
        -- the table so a role losing INSERT loses them too.
        FOR seq IN SELECT pg_get_serial_sequence(g.relation, a.attname)
                   FROM pg_attribute a
                   WHERE a.attrelid = g.relation::regclass AND a.attnum > 0
                     AND NOT a.attisdropped
                     AND pg_get_serial_sequence(g.relation, a.attname) IS NOT NULL LOOP
            EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM sluice_worker, sluice_scheduler, sluice_reader, sluice_tenant_reader',
                           seq);
            FOR r IN SELECT * FROM (VALUES ('sluice_worker', g.worker),
                                           ('sluice_scheduler', g.scheduler)) v(role, privs)
                     WHERE privs LIKE '%INSERT%' LOOP
                EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', seq, r.role);
            END LOOP;
        END LOOP;
    END LOOP;
END $$;

-- ---- 4. row-level security for tenant-scoped readers ---------------------------
-- Only members of sluice_tenant_reader are filtered: the permissive
-- sluice_all_rows policy lets every other role (workers, schedulers, any
-- role an operator grants) see and write as before, and the planner drops
-- its constant `true`, so their queries cost nothing extra. The table owner
-- (and so every view, which runs as its owner) bypasses RLS; that is why a
-- tenant reader gets the tables, never the views. Policies are created
-- when missing; to change one, drop it and re-run.
DO $$
DECLARE
    t text;
    scope text;
BEGIN
    FOR t, scope IN VALUES
        ('jobs', 'tenant IN (SELECT m.tenant FROM sluice_tenant_readers m WHERE m.role_name = current_user)'),
        ('cost_lines', 'tenant IN (SELECT m.tenant FROM sluice_tenant_readers m WHERE m.role_name = current_user)'),
        -- results has no tenant: a row is visible when its job is (the
        -- subquery on jobs is itself filtered by jobs' policy).
        ('results', 'EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = results.job_id)'),
        -- a tenant reader sees only its own mapping rows
        ('sluice_tenant_readers', 'role_name = current_user')
    LOOP
        IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = t::regclass) THEN
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema()
                       AND tablename = t AND policyname = 'sluice_all_rows') THEN
            EXECUTE format('CREATE POLICY sluice_all_rows ON %I AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true)', t);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema()
                       AND tablename = t AND policyname = 'sluice_tenant_scope') THEN
            EXECUTE format('CREATE POLICY sluice_tenant_scope ON %I AS RESTRICTIVE FOR ALL TO sluice_tenant_reader USING (%s)', t, scope);
        END IF;
    END LOOP;
END $$;

-- The writers may UPDATE cost_lines only to replace the estimate written
-- before a call was sent (outcome unconfirmed, reason in_flight) by the
-- call's outcome; a line that says what was billed is never changed.
-- (USING picks the rows that may change; the new row may say anything.)
DROP POLICY IF EXISTS sluice_replace_in_flight ON cost_lines;
CREATE POLICY sluice_replace_in_flight ON cost_lines AS RESTRICTIVE FOR UPDATE
    TO sluice_worker, sluice_scheduler
    USING (outcome = 'unconfirmed' AND reason = 'in_flight') WITH CHECK (true);

-- ---- 5. the ledger's partition functions (014) --------------------------------
-- Workers and the scheduler create the coming months' cost_lines tables at
-- start and hourly; only the scheduler drops old months (retention). The
-- migration revoked both from PUBLIC.
GRANT EXECUTE ON FUNCTION sluice_ledger_partitions_ahead(int) TO sluice_worker, sluice_scheduler;
GRANT EXECUTE ON FUNCTION sluice_ledger_retain(int) TO sluice_scheduler;

-- ---- 6. retention of jobs, results and rejected messages (016) -------------
-- Only the scheduler deletes them, through these functions: its role may
-- not delete ledger rows itself.
GRANT EXECUTE ON FUNCTION sluice_jobs_retain(int, int) TO sluice_scheduler;
GRANT EXECUTE ON FUNCTION sluice_rejected_retain(int, int) TO sluice_scheduler;
