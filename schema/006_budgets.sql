-- 006_budgets.sql — an index for the cost drift check (lib/cost_drift.c)
-- and the free-user escalation count of the budget refresh (lib/budget.c).
--
-- Both read a time range of cost_lines and need only tier, attempt and
-- cost: with those included, the drift query over the last 7 days is an
-- index-only scan instead of a heap scan of a week of lines (the BRIN index
-- finds the range but must visit every heap page). Budget spend per
-- feature and tenant uses the (feature, created_at) and (tenant,
-- created_at) indexes of 001.

CREATE INDEX cost_lines_created_tier_cost
    ON cost_lines (created_at) INCLUDE (tier, attempt, cost_nanousd);
