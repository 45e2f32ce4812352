-- 006_budgets.sql — an index for the free users' escalation count that
-- every worker's budget refresh reads (worker/budget.c, docs/budgets.md).
--
-- The count is of today's top-tier lines that followed a lower tier
-- (attempt > 1), joined to jobs for the user tier. Escalated lines are a
-- small share of the ledger, so a partial index on them keeps that branch
-- a short range scan instead of a pass over the day's lines. Spend per
-- feature and tenant uses the (feature, created_at) and (tenant,
-- created_at) indexes of 001; the cost drift check reads a week's range
-- through the BRIN index of 001 (one pass over the week, off the loop).

CREATE INDEX cost_lines_escalated_tier_created
    ON cost_lines (tier, created_at) WHERE attempt > 1;
