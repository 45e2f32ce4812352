/* config_types.h — the parsed configuration's structs (struct config and
 * its sections). Separate from config.h so that the key table
 * (config_table.c), which places values by offset in these structs, sits
 * below the parser that uses it. Ownership: see config.h. */
#ifndef SL_CONFIG_TYPES_H
#define SL_CONFIG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define CONFIG_MAX_TIERS 8

enum provider_kind { PROVIDER_OPENAI, PROVIDER_ANTHROPIC };
enum output_type { OUTPUT_LABEL, OUTPUT_JSON, OUTPUT_TEXT };
enum job_mode { MODE_INTERACTIVE, MODE_ASYNC, MODE_OFFPEAK };
/* tasks.*.cache.mode (docs/cache.md). */
enum cache_mode { CACHE_OFF, CACHE_EXACT, CACHE_NEAR };

struct kv_pair {
    char *key;
    char *value;
};

struct kafka_conf {
    char *bootstrap_servers;   /* "host:port,…" */
    char *topic;               /* jobs topic, default "sluice.jobs" */
    char *dlq_topic;           /* default "sluice.jobs.dlq" */
    size_t dlq_max_message_bytes; /* larger rejects go truncated (1048576) */
    char *group_id;            /* default "sluice-workers" */
    struct kv_pair *properties; /* passed through to rd_kafka_conf_set */
    size_t n_properties;
};

struct worker_conf {
    int max_in_flight;      /* jobs in flight before consumption pauses (512) */
    int batch_max_jobs;     /* finished jobs per DB transaction (500) */
    int batch_flush_ms;     /* max wait before a partial batch is written (50) */
    int claim_lease_ms;     /* a job claim lapses unless renewed (15000) */
    size_t max_input_bytes; /* larger job inputs are rejected (32768) */
    int cache_lru_entries;  /* answers kept in the process's cache (10000) */
};

/* An off-peak window in local seconds of the day; end < start crosses
 * midnight ("22:00-02:00"). */
struct offpeak_window {
    int start_s, end_s;
};

/* The batch scheduler (`sluice scheduler`) and the worker's hand-off to it. */
struct scheduler_conf {
    int batch_max_requests; /* per batch, also capped by the provider (1000) */
    int max_wait_s;         /* an async row waits at most this long (300) */
    int turnaround_s;       /* batch turnaround assumed for deadlines (86400) */
    int poll_min_ms;        /* first poll of a batch after this (5000) */
    int poll_max_ms;        /* poll backoff ceiling (300000) */
    int tick_ms;            /* scheduler loop period (1000) */
    int max_line_retries;   /* errored/expired lines re-batched (2) */
    int lease_s;            /* a claimed batch is another's after this (120) */
    int realtime_concurrency; /* calls at once in the realtime pass (16) */
    int ledger_retention_months; /* cost_lines months kept; 0 = all (0) */
    int job_retention_days;      /* finished jobs + results kept; 0 = all (0) */
    int rejected_retention_days; /* rejected messages kept; 0 = all (0) */
    char *timezone;         /* IANA name for windows ("UTC") */
    struct offpeak_window *windows; /* none: offpeak behaves like async */
    size_t n_windows;
};

/* Prometheus endpoint (lib/metrics/metrics_serve.h). */
#define CONFIG_METRICS_LISTEN_DEFAULT "127.0.0.1:9464"
struct metrics_conf {
    char *listen; /* "HOST:PORT" to bind, port 0 = any free port; "" = off */
};

struct provider_conf {
    char *name;
    enum provider_kind kind;
    char *base_url;        /* openai: ".../v1"; anthropic: "https://api.anthropic.com" */
    char *api_key_env;     /* name of the environment variable, never the key */
    char *admin_key_env;   /* the same for the usage-report (admin) API */
    int timeout_ms;        /* whole request (30000) */
    int connect_timeout_ms; /* (3000) */
    int max_concurrency;   /* connections per host (256) */
    int max_retries;       /* (2) */
    int retry_base_ms;     /* first backoff ceiling (500) */
    int retry_cap_ms;      /* backoff ceiling (8000) */
    int retry_after_cap_ms; /* a longer Retry-After is not waited for (120000) */
    /* Prompt caching (lib/provider/prompt_shape.h): cache hints on requests
     * (Anthropic cache_control, OpenAI prompt_cache_key), and the shortest
     * stable prefix, in estimated tokens, that gets a cache_control
     * breakpoint (the model's minimum; a provider entry per model group
     * when they differ). */
    bool prompt_caching;   /* (true) */
    int cache_min_tokens;  /* (1024) */
    /* Flex processing (OpenAI service_tier "flex"): async jobs too near
     * their deadline for a batch call flex instead of standard realtime. */
    bool flex;             /* the provider's models offer flex (false) */
    int flex_retries;      /* flex 429s retried before standard (2) */
};

/* Prices are integers: nano-dollars per million tokens ($0.10/M = 1e8). */
struct price {
    char *model;
    int64_t input;
    int64_t cached_input;
    int64_t cache_write;  /* 5-minute cache writes; defaults to input */
    int64_t output;
    int batch_discount_pct; /* 50 = batch costs half */
    int64_t cache_write_1h; /* 1-hour cache writes; defaults to 2 x input */
};

struct tier_conf {
    int tier;                             /* 1.. */
    const struct provider_conf *provider; /* borrowed from config */
    char *model;
    const struct price *price;            /* borrowed from config */
};

/* A few-shot example of a task: shown to the model in the stable prefix. */
struct task_example {
    char *input;   /* the example's input text */
    char *answer;  /* the answer object as compact JSON, e.g. {"label":"refund"} */
};

struct task_conf {
    char *name;
    enum output_type output;
    char **labels;        /* label tasks */
    size_t n_labels;
    cJSON *schema;        /* json tasks: the JSON schema (owned) */
    char *schema_text;    /* compact JSON of schema, for the prompt */
    char *system;         /* system prompt text ("" if absent) */
    char *prompt;         /* template with {{input}}, {{labels}}, {{schema}} */
    int ladder[CONFIG_MAX_TIERS]; /* tier numbers, cheapest first */
    size_t n_ladder;
    double confidence_threshold; /* escalate when confidence < this */
    int max_output_tokens;
    struct task_example *examples; /* few-shot examples, in order (owned) */
    size_t n_examples;
    int prompt_cache_ttl_s; /* prompt cache TTL asked for: 300 ("5m") or 3600 ("1h") */
    /* Tier 0 (label tasks): answer locally what a certified model covers. */
    bool tier0_enabled;       /* default true for label tasks */
    double tier0_target;      /* agreement to guarantee (0.98) */
    double tier0_shadow_share; /* tier-0 answers re-checked by the LLM (0.02) */
    int64_t tier0_trace_retention_days; /* traces older are pruned (90; 0 = keep) */
    int64_t tier0_retrain_every_s; /* scheduled retraining period (0 = off) */
    char *tier0_fallback_label; /* the task's "none of these" label, one of
                                 * labels, or NULL; owned */
    double tier0_oos_floor_quantile; /* out-of-scope floor quantile (0 = off) */
    /* The answer cache (worker/cache.h, docs/cache.md). */
    enum cache_mode cache_mode;  /* default off */
    int64_t cache_ttl_s;         /* an entry is served this long (86400) */
    bool cache_shared;           /* one cache for all tenants (false) */
    int64_t cache_max_entries;   /* rows kept per task in PostgreSQL (100000) */
    double cache_near_threshold; /* near-duplicate similarity to serve (0.9) */
    double cache_verify_share;   /* near hits also sent to the ladder (0.1) */
    double cache_max_false_hit;  /* bound on near hits' disagreement (0.02) */
};

/* A routing rule: every set condition must hold; the first matching rule's
 * actions apply, then user-tier rules (those with only user_tier set) are
 * applied as modifiers on top. */
struct route_rule {
    char *task;              /* NULL: any */
    char *mode;              /* NULL: any; "interactive" | "async" | "offpeak" */
    char *user_tier;         /* NULL: any */
    int64_t min_input_tokens; /* -1: unset */
    int64_t max_input_tokens; /* -1: unset */
    int start_tier;          /* 0: unset; skip ladder tiers below this */
    int max_tier;            /* 0: unset; drop ladder tiers above this */
};

/* Budgets (docs/budgets.md): a daily UTC spend limit per feature or tenant
 * and what happens to that feature's/tenant's later jobs once it is spent. */
enum budget_action { BUDGET_CAP_TIER, BUDGET_DEFER, BUDGET_REJECT };

struct budget_conf {
    char *name;             /* the feature or tenant */
    int64_t daily_nanousd;  /* budget per UTC day, nano-dollars */
    enum budget_action action;
    int max_tier;           /* cap_tier: highest tier used once reached */
};

struct budgets_conf {
    struct budget_conf *features;
    size_t n_features;
    struct budget_conf *tenants;
    size_t n_tenants;
    /* Free users' (user_tier "free") escalations to the top tier per UTC
     * day across all workers; -1: no cap. */
    int64_t free_top_tier_escalations_per_day;
    int refresh_ms;         /* spend re-read from PostgreSQL this often (5000) */
};

/* Cost drift alert (worker/cost_drift.h). */
struct alerts_conf {
    double cost_drift_factor;     /* last hour / trailing 7 days (1.5) */
    int64_t cost_drift_min_calls; /* calls needed in both windows (50) */
    int check_every_s;            /* 0: the worker never checks (300) */
    int64_t reconcile_tolerance_nanousd; /* sluice reconcile warns above (0.01 USD) */
};

struct config {
    char *source;           /* file path, for messages */
    int log_level;          /* enum log_level; see config_apply_log_level */
    struct kafka_conf kafka;
    char *pg_conninfo;
    struct worker_conf worker;
    struct scheduler_conf scheduler;
    struct metrics_conf metrics;
    struct provider_conf *providers;
    size_t n_providers;
    struct price *prices;
    size_t n_prices;
    struct tier_conf *tiers; /* sorted by tier number */
    size_t n_tiers;
    struct task_conf *tasks;
    size_t n_tasks;
    struct route_rule *rules;
    size_t n_rules;
    int top_tier;            /* highest tier number: the baseline tier */
    struct budgets_conf budgets; /* none when the section is absent */
    struct alerts_conf alerts;
};

/* Reads, parses and validates path, then applies the environment overrides.
 * Returns 0 and *out, or SL_ECONFIG with the message in errstr. */

#endif
