-- 002_tier0.sql — tier 0: the traces it learns from and the models it serves.
--
-- Applied by db_migrate() inside one transaction (no BEGIN/COMMIT here).

CREATE TABLE traces (
    id          bigserial PRIMARY KEY,
    task        text NOT NULL,
    input_norm  text NOT NULL,
    label       text NOT NULL,
    tier        int,
    model       text,
    confidence  double precision,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX traces_task_created ON traces (task, created_at);

COMMENT ON TABLE traces IS 'Accepted LLM answers of label tasks, kept as tier-0 training data. Retention: rows older than the configured retention are deleted by a periodic DELETE ... WHERE created_at < now() - retention (not yet scheduled); training reads the newest rows of a task.';
COMMENT ON COLUMN traces.input_norm IS 'The job input after tier0_feat_normalize() (lower-cased ASCII, punctuation as spaces), at most 1024 bytes.';
COMMENT ON COLUMN traces.label IS 'The label the answering tier gave, taken as the truth tier 0 must agree with.';
COMMENT ON COLUMN traces.tier IS 'Ladder tier that answered; NULL when unknown.';
COMMENT ON COLUMN traces.model IS 'Model that answered; NULL when unknown.';
COMMENT ON COLUMN traces.confidence IS 'Confidence the tier reported, in [0,1]; NULL when none.';

CREATE TABLE tier0_models (
    task             text NOT NULL,
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    model            bytea NOT NULL,
    thresholds       jsonb NOT NULL,
    metrics          jsonb NOT NULL,
    certified_labels text[] NOT NULL,
    PRIMARY KEY (task, version)
);

COMMENT ON TABLE tier0_models IS 'Every trained tier-0 model; workers serve the highest version of each task.';
COMMENT ON COLUMN tier0_models.version IS 'Per-task sequence, 1 for the first model of a task.';
COMMENT ON COLUMN tier0_models.model IS 'tier0_model_serialize() output (format SLT0 v1, little-endian).';
COMMENT ON COLUMN tier0_models.thresholds IS '{"target":t,"threshold":s,"labels":{"<label>":s}}: answer a prediction of a listed label when its score >= s.';
COMMENT ON COLUMN tier0_models.metrics IS 'Out-of-fold certification figures: coverage, agreement, Clopper-Pearson bound, per-label counts.';
COMMENT ON COLUMN tier0_models.certified_labels IS 'Labels tier 0 may answer (empty when the model certified nothing).';
