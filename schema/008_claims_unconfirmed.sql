-- 008_claims_unconfirmed.sql — one provider call per job id at a time, and a
-- cost line for every request sent (also when no answer came back).
--
-- job_claims: a worker claims the ids of a whole micro-batch (one statement,
-- worker/claims.h) before any provider call. A live claim of another owner
-- makes a second copy of the job wait for the first one's result; a claim
-- whose lease ran out (its owner died or lost PostgreSQL) is taken over. A
-- claim is deleted once the job's result is committed; a leftover one is
-- harmless (the jobs row wins) and expires.

CREATE TABLE job_claims (
    job_id      text PRIMARY KEY,
    owner       text NOT NULL,
    lease_until timestamptz NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE job_claims IS 'Job ids a worker is working on (owner + lease): one provider call per job id at a time across workers.';
COMMENT ON COLUMN job_claims.owner IS 'The claiming worker process (host:pid:start token); never reused by a restarted worker.';
COMMENT ON COLUMN job_claims.lease_until IS 'The claim lapses after this time unless its owner renews it (every third of worker.claim_lease_ms).';

-- sluice_claim_jobs(ids, owner, lease_ms): one round trip for a micro-batch.
-- For each element of the JSON array ids (by ordinal idx) it returns
--   'done'    the job has its jobs row: acknowledge, no call;
--   'claimed' this owner now holds the claim: call;
--   'busy'    another live claim (or an earlier copy of the id in the same
--             array, or this owner's own live claim): wait, then ask again;
-- and base_attempt, the highest cost_lines.attempt the job already has (a
-- run released at shutdown leaves its lines), so new lines number on.
-- The jobs check runs again after the claim, in a statement with a newer
-- snapshot: a job committed (and its claim deleted) by another worker while
-- this one claimed is then seen as done, never called twice.
CREATE FUNCTION sluice_claim_jobs(ids json, claim_owner text, lease_ms bigint)
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
    SELECT a.i,
           CASE WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = a.id) THEN 'done'
                WHEN a.id = ANY (took)
                     AND row_number() OVER (PARTITION BY a.id ORDER BY a.i) = 1
                     THEN 'claimed'
                ELSE 'busy' END,
           coalesce((SELECT max(cl.attempt) FROM cost_lines cl
                     WHERE cl.job_id = a.id), 0)
    FROM json_array_elements_text(ids) WITH ORDINALITY AS a(id, i)
    ORDER BY a.i;
END
$fn$;

-- outcome unconfirmed: the request was sent and no usable answer came back
-- (timeout, connection lost after sending, unparseable or oversized body,
-- abandoned at shutdown). The provider may have billed it: the line carries
-- the input tokens estimated from the request and, as output, the request's
-- max_tokens, so its cost is an upper bound of what the call was billed.
ALTER TABLE cost_lines DROP CONSTRAINT cost_lines_outcome_check;
ALTER TABLE cost_lines ADD CONSTRAINT cost_lines_outcome_check
    CHECK (outcome IN ('accepted', 'escalated', 'failed', 'unconfirmed'));
ALTER TABLE cost_lines ADD COLUMN client_request_id text;
CREATE UNIQUE INDEX cost_lines_client_request_id ON cost_lines (client_request_id);

COMMENT ON COLUMN cost_lines.outcome IS 'accepted (answer kept), escalated (sent to the next tier), failed, unconfirmed (sent, no usable answer: tokens estimated, output = max_tokens, so cost is an upper bound).';
COMMENT ON COLUMN cost_lines.client_request_id IS 'The id sluice sent with the request (X-Client-Request-Id), unique per call: matches a call the provider billed even when its answer never arrived.';

-- v_cost_daily: unconfirmed lines are calls, never jobs; their spend is
-- shown apart, so confirmed cost is the lower bound of the bill and
-- cost_nanousd (confirmed + unconfirmed) its upper bound.
CREATE OR REPLACE VIEW v_cost_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date                AS day,
       feature, tenant, cohort, task, tier, provider, model, mode,
       count(*)                                             AS calls,
       count(*) FILTER (WHERE outcome IN ('accepted', 'failed')
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
       count(*) FILTER (WHERE reason = 'shadow_check')      AS shadow_checks,
       count(*) FILTER (WHERE outcome = 'unconfirmed')      AS unconfirmed,
       coalesce(sum(cost_nanousd) FILTER (WHERE outcome = 'unconfirmed'), 0)
                                                            AS unconfirmed_nanousd
FROM cost_lines
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

COMMENT ON VIEW v_cost_daily IS 'Provider calls per UTC day and every dimension; jobs = concluding calls; shadow_checks = calls re-checking a tier-0 answer; unconfirmed = calls sent without a usable answer, unconfirmed_nanousd their upper-bound cost (included in cost_nanousd: the bill lies between cost_nanousd - unconfirmed_nanousd and cost_nanousd). Money in nano-dollars (1e-9 USD).';

-- The bill's two bounds per UTC day, provider and model.
CREATE VIEW v_bill_bounds AS
SELECT day, provider, model,
       sum(calls)                               AS calls,
       sum(unconfirmed)                         AS unconfirmed_calls,
       sum(cost_nanousd) - sum(unconfirmed_nanousd) AS confirmed_nanousd,
       sum(unconfirmed_nanousd)                 AS unconfirmed_nanousd,
       sum(cost_nanousd) - sum(unconfirmed_nanousd) AS lower_bound_nanousd,
       sum(cost_nanousd)                        AS upper_bound_nanousd
FROM v_cost_daily GROUP BY 1, 2, 3;

COMMENT ON VIEW v_bill_bounds IS 'Per UTC day, provider and model: confirmed spend (the bill''s lower bound) and unconfirmed spend (calls sent without an answer, priced with max_tokens out); their sum is the upper bound. Nano-dollars.';
