-- 009_cache.sql — the answer cache in front of the tier ladder
-- (worker/cache.h, docs/cache.md).
--
-- cache_entries: one accepted answer per key. The key is the SHA-256 (hex)
-- of the task's version key (everything in its config that changes the
-- answer, and its ladder), the tenant (empty when the task's cache is shared)
-- and the normalised input; a config change makes a new version, so old
-- entries are never looked up again and age out by TTL. Workers read the
-- keys of a whole micro-batch in one statement and write new entries in one
-- statement per flush.
CREATE TABLE cache_entries (
    key         text PRIMARY KEY,
    task        text NOT NULL,
    version     text NOT NULL,
    tenant      text NOT NULL DEFAULT '',
    input_norm  text,
    label       text,
    data_json   text,
    text_output text,
    confidence  double precision,
    tier        int NOT NULL,
    provider    text NOT NULL,
    model       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    hit_at      timestamptz NOT NULL DEFAULT now(),
    bands       bigint[]
);
CREATE INDEX cache_entries_task ON cache_entries (task, tenant);
CREATE INDEX cache_entries_expiry ON cache_entries (expires_at);
CREATE INDEX cache_entries_bands ON cache_entries USING gin (bands);

COMMENT ON TABLE cache_entries IS 'Accepted answers served again for the same task version, tenant scope and normalised input (tasks.<t>.cache).';
COMMENT ON COLUMN cache_entries.version IS 'Hash of the task config that changes the answer (prompt, system, labels, schema, limits) and its ladder; a change makes a new version.';
COMMENT ON COLUMN cache_entries.tenant IS 'The tenant the answer belongs to; empty when the task''s cache is shared across tenants.';
COMMENT ON COLUMN cache_entries.input_norm IS 'Normalised input of label tasks (what near-duplicate similarity is computed on); NULL otherwise.';
COMMENT ON COLUMN cache_entries.bands IS 'Label tasks: 4 LSH band keys of the MinHash sketch of input_norm (scope included); a worker reads the entries sharing a band with its micro-batch''s near-task jobs as near-duplicate candidates.';
COMMENT ON COLUMN cache_entries.hit_at IS 'Last time a worker served it (updated once per flush); eviction past tasks.<t>.cache.max_entries drops the least recently served.';

-- cache_purges: what `sluice cache purge` removed. Workers read the newest id
-- with every lookup statement and drop their in-process entries when it
-- changes, so a purge reaches every worker within a micro-batch.
CREATE TABLE cache_purges (
    id        bigserial PRIMARY KEY,
    task      text NOT NULL,
    tenant    text,
    entries   bigint NOT NULL,
    purged_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cache_purges IS 'Cache purges (sluice cache purge): task, tenant (NULL: all) and entries removed.';

-- cache_checks: a near-duplicate candidate compared with what the ladder
-- answered for the same job: a served hit sampled by cache.verify_share, or
-- a candidate not served (the task's bound not yet established).
CREATE TABLE cache_checks (
    task       text NOT NULL,
    version    text NOT NULL,
    job_id     text NOT NULL,
    similarity real NOT NULL,
    threshold  real NOT NULL,
    served     boolean NOT NULL,
    agreed     boolean NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cache_checks_task ON cache_checks (task, version, checked_at);
COMMENT ON TABLE cache_checks IS 'Near-duplicate cache answers re-checked by the ladder: similarity, the threshold in force, whether the hit was served and whether the ladder agreed.';

-- Cache lines are the zero-cost lines of jobs answered from the cache
-- (provider 'cache', model 'cache-exact' or 'cache-near'), carrying the
-- baseline the job would have cost on the top tier: saved = baseline.
CREATE VIEW v_cache_daily AS
SELECT day, feature, tenant, task, sum(jobs) AS jobs,
       sum(exact_hits) AS exact_hits, sum(near_hits) AS near_hits,
       sum(saved_nanousd) AS saved_nanousd, sum(checks) AS checks,
       sum(disagreements) AS disagreements
FROM (SELECT (created_at AT TIME ZONE 'UTC')::date AS day, feature, tenant, task,
             count(*) FILTER (WHERE outcome <> 'escalated'
                                AND reason IS DISTINCT FROM 'shadow_check') AS jobs,
             count(*) FILTER (WHERE provider = 'cache' AND model = 'cache-exact') AS exact_hits,
             count(*) FILTER (WHERE provider = 'cache' AND model = 'cache-near') AS near_hits,
             coalesce(sum(baseline_nanousd - cost_nanousd) FILTER (WHERE provider = 'cache'), 0)
                                                                    AS saved_nanousd,
             0::bigint AS checks, 0::bigint AS disagreements
      FROM cost_lines GROUP BY 1, 2, 3, 4
      UNION ALL
      SELECT (k.checked_at AT TIME ZONE 'UTC')::date, j.feature, j.tenant, k.task,
             0, 0, 0, 0, count(*), count(*) FILTER (WHERE NOT k.agreed)
      FROM cache_checks k JOIN jobs j USING (job_id) GROUP BY 1, 2, 3, 4) u
GROUP BY 1, 2, 3, 4;

COMMENT ON VIEW v_cache_daily IS 'Cache per UTC day, feature, tenant and task: jobs concluded, exact and near-duplicate hits, nano-dollars saved against the baseline, near-duplicate checks and disagreements with the ladder.';
