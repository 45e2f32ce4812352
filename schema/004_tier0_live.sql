-- 004_tier0_live.sql — the live guarantee of tier 0: shadow checks of
-- tier-0 answers by the LLM ladder, and the labels withdrawn because of them.

CREATE TABLE tier0_shadow (
    job_id      text PRIMARY KEY,
    task        text NOT NULL,
    version     bigint NOT NULL,
    tier0_label text NOT NULL,
    llm_label   text NOT NULL,
    agreed      boolean NOT NULL,
    cohort      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tier0_shadow_task_version ON tier0_shadow (task, version, tier0_label);
COMMENT ON TABLE tier0_shadow IS 'A sampled tier-0 answer (tasks.*.tier0.shadow_share) re-answered by the LLM ladder; agreed = same label. Jobs whose LLM check failed have no row.';

CREATE TABLE tier0_withdrawals (
    task          text NOT NULL,
    version       bigint NOT NULL,
    label         text NOT NULL,
    bound         double precision NOT NULL,
    checks        bigint NOT NULL,
    disagreements bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task, version, label)
);
COMMENT ON TABLE tier0_withdrawals IS 'Labels of a tier-0 model version that workers no longer answer: the 95 % Clopper-Pearson upper bound of disagreement over certification plus shadow checks crossed 1 - target. label ''*'' withdraws the whole model. A new certified version starts clean.';
COMMENT ON COLUMN tier0_withdrawals.checks IS 'Certification answers plus shadow checks the bound was computed over.';
