-- 005_scheduler.sql — the hand-off from workers to `sluice scheduler`.
--
-- A worker writes an async/offpeak job as a pending row in the same
-- transaction as its jobs row, then commits the Kafka offset: from then on
-- the row is the only copy of the work. The scheduler claims ready rows with
-- FOR UPDATE SKIP LOCKED, so any number of schedulers can run.

CREATE TABLE batches (
    id                bigserial PRIMARY KEY,
    provider          text NOT NULL,
    model             text NOT NULL,
    state             text NOT NULL CHECK (state IN
                      ('submitting', 'submitted', 'ingesting', 'done',
                       'failed', 'abandoned')),
    provider_batch_id text UNIQUE,
    n_rows            int NOT NULL,
    bytes             bigint NOT NULL DEFAULT 0,
    owner             text NOT NULL,
    lease_until       timestamptz NOT NULL,
    polls             int NOT NULL DEFAULT 0,
    next_poll_at      timestamptz NOT NULL DEFAULT now(),
    provider_state    text,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    submitted_at      timestamptz,
    ended_at          timestamptz
);

COMMENT ON TABLE batches IS 'Provider batches: written as submitting BEFORE the provider call, so a crash can always be reconciled.';
COMMENT ON COLUMN batches.state IS 'submitting (row written, provider call not known to have succeeded), submitted (provider id recorded, polling), ingesting (results being read), done, failed (provider failed the batch; rows re-queued), abandoned (never reached the provider; rows re-queued).';
COMMENT ON COLUMN batches.provider_batch_id IS 'The provider''s batch id; NULL until the create call returned.';
COMMENT ON COLUMN batches.owner IS 'Scheduler instance holding the lease (host:pid).';
COMMENT ON COLUMN batches.lease_until IS 'Another scheduler may take the batch over after this.';

CREATE INDEX batches_active ON batches (state, next_poll_at)
    WHERE state IN ('submitting', 'submitted', 'ingesting');

CREATE TABLE pending (
    id          bigserial PRIMARY KEY,
    job_id      text NOT NULL UNIQUE REFERENCES jobs,
    task        text NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('async', 'offpeak')),
    input       text NOT NULL,
    feature     text NOT NULL DEFAULT '',
    tenant      text NOT NULL DEFAULT '',
    cohort      text NOT NULL DEFAULT '',
    ladder      int[] NOT NULL,
    step        int NOT NULL DEFAULT 0,
    tier        int NOT NULL,
    provider    text NOT NULL,
    model       text NOT NULL,
    attempt     int NOT NULL DEFAULT 1,
    lines       int NOT NULL DEFAULT 0,
    retries     int NOT NULL DEFAULT 0,
    state       text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'batched')),
    batch_id    bigint REFERENCES batches,
    not_before  timestamptz NOT NULL DEFAULT now(),
    deadline    timestamptz,
    last_error  text,
    enqueued_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE pending IS 'Jobs waiting for (or inside) a provider batch; deleted when the job has its result.';
COMMENT ON COLUMN pending.ladder IS 'The job''s route plan (tier numbers, cheapest first); step indexes it.';
COMMENT ON COLUMN pending.attempt IS 'Submission number; the batch custom_id is r<id>-a<attempt>, so an answer to an older submission is recognised and ignored.';
COMMENT ON COLUMN pending.lines IS 'Cost lines already written for the job (the next one is lines + 1).';
COMMENT ON COLUMN pending.retries IS 'Errored or expired batch answers at the current tier.';
COMMENT ON COLUMN pending.not_before IS 'Not claimed before this time (retry backoff).';

CREATE INDEX pending_ready ON pending (provider, model, not_before) WHERE state = 'ready';
CREATE INDEX pending_batch ON pending (batch_id) WHERE state = 'batched';
