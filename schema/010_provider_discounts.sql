-- Provider discounts: prompt-cache writes with a 1-hour TTL (priced at
-- their own rate) and flex processing (OpenAI service_tier "flex", billed
-- at the batch discount) on the cost line.

ALTER TABLE cost_lines ADD COLUMN tokens_cache_write_1h bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN cost_lines.tokens_cache_write_1h IS 'Of tokens_cache_write, the tokens written with a 1-hour TTL (priced at prices.*.cache_write_1h) (tokens).';

ALTER TABLE cost_lines DROP CONSTRAINT cost_lines_mode_check;
ALTER TABLE cost_lines ADD CONSTRAINT cost_lines_mode_check
    CHECK (mode IN ('realtime', 'batch', 'flex'));
COMMENT ON COLUMN cost_lines.mode IS 'The service tier that billed the call: realtime (standard), batch (provider batch API) or flex (OpenAI flex processing, batch prices on the synchronous API).';
