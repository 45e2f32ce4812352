-- 001_core.sql — the durable record of every job sluice finished.
--
-- Applied by db_migrate() inside one transaction, so this file must not
-- contain BEGIN/COMMIT or CREATE INDEX CONCURRENTLY. Money is always an
-- integer count of nano-dollars (1 nano-dollar = 1e-9 USD): never a float.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    job_id          text PRIMARY KEY,
    task            text NOT NULL,
    mode            text NOT NULL,
    feature         text NOT NULL DEFAULT '',
    tenant          text NOT NULL DEFAULT '',
    cohort          text NOT NULL DEFAULT '',
    user_tier       text NOT NULL DEFAULT '',
    input_chars     int NOT NULL,
    deadline        timestamptz,
    metadata        jsonb,
    kafka_partition int,
    kafka_offset    bigint,
    received_at     timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE jobs IS 'One row per finished job; job_id is the idempotency key (redelivery inserts nothing).';
COMMENT ON COLUMN jobs.mode IS 'Requested mode: realtime or batch.';
COMMENT ON COLUMN jobs.input_chars IS 'Length of the job input in characters (bytes of UTF-8).';
COMMENT ON COLUMN jobs.deadline IS 'Deadline the producer gave, NULL when none.';
COMMENT ON COLUMN jobs.metadata IS 'Producer metadata, passed through; a value that was not valid JSON is stored as a JSON string.';
COMMENT ON COLUMN jobs.kafka_partition IS 'Kafka partition the job was read from (NULL when not from Kafka).';
COMMENT ON COLUMN jobs.kafka_offset IS 'Kafka offset the job was read from (NULL when not from Kafka).';
COMMENT ON COLUMN jobs.received_at IS 'When a worker read the job.';
COMMENT ON COLUMN jobs.finished_at IS 'When the ledger row was written.';

CREATE TABLE results (
    job_id      text PRIMARY KEY REFERENCES jobs,
    status      text NOT NULL CHECK (status IN ('answered', 'failed')),
    source      text NOT NULL CHECK (source IN ('llm', 'batch', 'tier0', 'cache')),
    tier        int,
    provider    text,
    model       text,
    label       text,
    data        jsonb,
    text_output text,
    confidence  double precision,
    attempts    int NOT NULL,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE results IS 'The final answer (or failure) of a job, one per job.';
COMMENT ON COLUMN results.source IS 'Who answered: llm (realtime call), batch (provider batch API), tier0 (local classifier), cache.';
COMMENT ON COLUMN results.tier IS 'Routing tier that produced the answer (1 = cheapest LLM tier); NULL for none.';
COMMENT ON COLUMN results.confidence IS 'Confidence in [0,1] when the answering tier reports one; NULL otherwise.';
COMMENT ON COLUMN results.attempts IS 'Number of provider calls made for the job (equals its cost_lines rows).';

CREATE TABLE cost_lines (
    job_id              text NOT NULL,
    attempt             int NOT NULL,
    tier                int NOT NULL,
    provider            text NOT NULL,
    model               text NOT NULL,
    mode                text NOT NULL CHECK (mode IN ('realtime', 'batch')),
    tokens_in           bigint NOT NULL,
    tokens_cached_in    bigint NOT NULL,
    tokens_cache_write  bigint NOT NULL DEFAULT 0,
    tokens_out          bigint NOT NULL,
    cost_nanousd        bigint NOT NULL,
    baseline_nanousd    bigint NOT NULL,
    latency_ms          int NOT NULL,
    outcome             text NOT NULL CHECK (outcome IN ('accepted', 'escalated', 'failed')),
    reason              text,
    task                text NOT NULL,
    feature             text NOT NULL,
    tenant              text NOT NULL,
    cohort              text NOT NULL,
    provider_request_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, attempt)
);

-- The dimensions (task, feature, tenant, cohort) are copied from the job so
-- that cost reports never need a join on the largest table.
COMMENT ON TABLE cost_lines IS 'One row per provider call, escalated or not. Money in nano-dollars (1e-9 USD).';
COMMENT ON COLUMN cost_lines.attempt IS 'Call number within the job, from 1.';
COMMENT ON COLUMN cost_lines.tokens_in IS 'Input tokens billed at the full input price (tokens).';
COMMENT ON COLUMN cost_lines.tokens_cached_in IS 'Input tokens read from the provider prompt cache (tokens).';
COMMENT ON COLUMN cost_lines.tokens_cache_write IS 'Input tokens written to the provider prompt cache (tokens).';
COMMENT ON COLUMN cost_lines.tokens_out IS 'Output tokens (tokens).';
COMMENT ON COLUMN cost_lines.cost_nanousd IS 'What this call cost, in nano-dollars (1e-9 USD).';
COMMENT ON COLUMN cost_lines.baseline_nanousd IS 'What the same call would have cost on the top tier, realtime, in nano-dollars (1e-9 USD).';
COMMENT ON COLUMN cost_lines.latency_ms IS 'Wall time of the provider call in milliseconds.';
COMMENT ON COLUMN cost_lines.outcome IS 'accepted (answer kept), escalated (sent to the next tier), failed.';
COMMENT ON COLUMN cost_lines.reason IS 'Why the call escalated or failed; NULL when accepted.';
COMMENT ON COLUMN cost_lines.provider_request_id IS 'The provider''s request id, for reconciling with its invoice.';

CREATE INDEX cost_lines_created_brin ON cost_lines USING brin (created_at);
CREATE INDEX cost_lines_feature_created ON cost_lines (feature, created_at);
CREATE INDEX cost_lines_tenant_created ON cost_lines (tenant, created_at);

CREATE TABLE rejected (
    id              bigserial PRIMARY KEY,
    payload_sha256  bytea NOT NULL UNIQUE,
    job_id          text,
    reason_code     text NOT NULL,
    reason          text NOT NULL,
    kafka_topic     text,
    kafka_partition int,
    kafka_offset    bigint,
    payload         bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE rejected IS 'Messages that could not become jobs; deduplicated by payload hash.';
COMMENT ON COLUMN rejected.payload_sha256 IS 'SHA-256 of payload (32 bytes); a redelivered message inserts nothing.';
COMMENT ON COLUMN rejected.job_id IS 'The job id when the payload had a readable one, else NULL.';
COMMENT ON COLUMN rejected.reason_code IS 'Stable machine-readable code, e.g. bad_json, unknown_task.';
COMMENT ON COLUMN rejected.payload IS 'The message exactly as received.';

CREATE INDEX rejected_created ON rejected (created_at);

CREATE VIEW v_job_costs AS
SELECT job_id,
       count(*)::int          AS attempts,
       sum(cost_nanousd)      AS cost_nanousd,
       sum(baseline_nanousd)  AS baseline_nanousd,
       max(tier)              AS max_tier,
       min(created_at)        AS first_call_at
FROM cost_lines
GROUP BY job_id;

COMMENT ON VIEW v_job_costs IS 'Per job: provider calls, total cost and baseline in nano-dollars (1e-9 USD).';
