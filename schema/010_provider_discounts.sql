-- Provider discounts: prompt-cache writes with a 1-hour TTL (priced at
-- their own rate) and flex processing (OpenAI service_tier "flex", billed
-- at the batch discount) on the cost line.

ALTER TABLE cost_lines ADD COLUMN tokens_cache_write_1h bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN cost_lines.tokens_cache_write_1h IS 'Of tokens_cache_write, the tokens written with a 1-hour TTL (priced at prices.*.cache_write_1h) (tokens).';

-- 'flex' joins whatever modes the check allows by now (an earlier
-- migration may have added one): the check is rebuilt from its own
-- definition, e.g. CHECK ((mode = ANY (ARRAY['realtime'::text, 'batch'::text]))).
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
    WHERE conrelid = 'cost_lines'::regclass AND conname = 'cost_lines_mode_check';
    IF def IS NULL OR def LIKE '%''flex''%' THEN
        RETURN;
    END IF;
    IF position('''batch''::text' IN def) = 0 THEN
        RAISE EXCEPTION 'cost_lines_mode_check has an unexpected form: %', def;
    END IF;
    ALTER TABLE cost_lines DROP CONSTRAINT cost_lines_mode_check;
    EXECUTE 'ALTER TABLE cost_lines ADD CONSTRAINT cost_lines_mode_check '
            || replace(def, '''batch''::text', '''batch''::text, ''flex''::text');
END $$;
COMMENT ON COLUMN cost_lines.mode IS 'The service tier that billed the call: realtime (standard), batch (provider batch API) or flex (OpenAI flex processing, batch prices on the synchronous API).';

-- What the provider discounts do, per UTC day, tier and model: the share of
-- input read from the prompt cache, what was written to it, and the share
-- of calls (and their spend) served at the flex tier. Confirmed lines only.
CREATE VIEW v_provider_discounts_day AS
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, tier, provider, model,
       count(*) AS calls,
       sum(tokens_in) AS tokens_in,
       sum(tokens_cached_in) AS tokens_cached_in,
       sum(tokens_cache_write) AS tokens_cache_write,
       sum(tokens_cache_write_1h) AS tokens_cache_write_1h,
       round(sum(tokens_cached_in)::numeric / nullif(sum(tokens_in), 0), 4) AS cached_input_share,
       count(*) FILTER (WHERE mode = 'flex') AS flex_calls,
       round(count(*) FILTER (WHERE mode = 'flex')::numeric / count(*), 4) AS flex_share,
       coalesce(sum(cost_nanousd) FILTER (WHERE mode = 'flex'), 0) AS flex_cost_nanousd,
       sum(cost_nanousd) AS cost_nanousd
FROM cost_lines
WHERE tier > 0 AND outcome <> 'unconfirmed'
GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW v_provider_discounts_day IS 'Per UTC day, tier, provider and model (confirmed LLM calls): input tokens, the share read from the prompt cache, tokens written to it (and with the 1-hour TTL), flex calls, their share and spend. Nano-dollars.';
