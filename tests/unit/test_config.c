/* sources: lib/config.c lib/config_table.c lib/config_reload.c lib/log.c lib/sl.c */
/* Config loading and validation: the shipped example loads with the values
 * it states; each broken variant of a small valid config is refused with a
 * message naming the key path; env overrides, defaults and price conversion
 * behave as documented; every accepted key is documented in docs/config.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_reload.h"
#include "config_table.h"

#define EXAMPLE SLUICE_SOURCE_DIR "/config/sluice.example.json"

static const char base_json[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\","
    "   \"properties\": {\"client.id\": \"t\"}},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"providers\": {\"p1\": {\"kind\": \"openai\","
    "   \"base_url\": \"http://127.0.0.1:1/v1\"}},"
    " \"prices\": {\"m1\": {\"input\": 0.1, \"output\": 0.5},"
    "   \"m2\": {\"input\": 2, \"output\": 10}},"
    " \"tiers\": {\"2\": {\"provider\": \"p1\", \"model\": \"m2\"},"
    "   \"1\": {\"provider\": \"p1\", \"model\": \"m1\"}},"
    " \"tasks\": {"
    "   \"intent\": {\"output\": \"label\", \"labels\": [\"a\", \"b\"],"
    "     \"prompt\": \"<labels>{{labels}}</labels><input>{{input}}</input>\","
    "     \"ladder\": [1, 2]},"
    "   \"extract\": {\"output\": \"json\", \"schema\": {\"type\": \"object\"},"
    "     \"prompt\": \"<schema>{{schema}}</schema><input>{{input}}</input>\"},"
    "   \"summary\": {\"output\": \"text\", \"prompt\": \"<input>{{input}}</input>\"}},"
    " \"routing\": [{\"when\": {\"task\": \"summary\"}, \"start_tier\": 2},"
    "   {\"when\": {\"user_tier\": \"free\"}, \"max_tier\": 1}]}";

/* Sets (or with value NULL deletes) the item at a '/'-separated path;
 * numeric segments index arrays. '/' because model names contain dots. */
static void set_at(cJSON *root, const char *path, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *seg = buf, *slash;
    cJSON *node = root;
    while ((slash = strchr(seg, '/')) != NULL) {
        *slash = '\0';
        node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, atoi(seg))
                                   : cJSON_GetObjectItemCaseSensitive(node, seg);
        assert_non_null(node);
        seg = slash + 1;
    }
    cJSON *v = value ? cJSON_Parse(value) : NULL;
    assert_true(!value || v);
    if (cJSON_IsArray(node)) {
        if (v)
            cJSON_ReplaceItemInArray(node, atoi(seg), v);
        else
            cJSON_DeleteItemFromArray(node, atoi(seg));
    } else if (!v) {
        cJSON_DeleteItemFromObjectCaseSensitive(node, seg);
    } else if (cJSON_GetObjectItemCaseSensitive(node, seg)) {
        cJSON_ReplaceItemInObjectCaseSensitive(node, seg, v);
    } else {
        cJSON_AddItemToObject(node, seg, v);
    }
}

static char *mutated(const char *path, const char *value)
{
    cJSON *root = cJSON_Parse(base_json);
    assert_non_null(root);
    if (path)
        set_at(root, path, value);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static struct config *parse_ok(const char *json)
{
    struct config *cfg = NULL;
    char err[512] = "";
    int rc = config_parse(json, "test.json", &cfg, err, sizeof(err));
    if (rc != SL_OK)
        fail_msg("unexpected error: %s", err);
    return cfg;
}

static void test_base_is_valid(void **state)
{
    (void)state;
    char *text = mutated(NULL, NULL);
    struct config *cfg = parse_ok(text);
    free(text);
    /* tiers come sorted whatever the file order */
    assert_int_equal(cfg->n_tiers, 2);
    assert_int_equal(cfg->tiers[0].tier, 1);
    assert_string_equal(cfg->tiers[0].model, "m1");
    assert_ptr_equal(cfg->tiers[0].price, config_price(cfg, "m1"));
    assert_ptr_equal(cfg->tiers[1].provider, config_provider(cfg, "p1"));
    assert_int_equal(cfg->top_tier, 2);
    config_free(cfg);
}

struct broken_case {
    const char *path;  /* NULL: raw is the whole text */
    const char *value; /* NULL: delete */
    const char *raw;
    const char *want;  /* substring of the message */
};

static const struct broken_case broken_cases[] = {
    {"kafak", "{}", NULL, "test.json: kafak: unknown key"},
    {"kafka/topc", "\"x\"", NULL, "kafka.topc: unknown key"},
    {"kafka/bootstrap_servers", NULL, NULL, "kafka.bootstrap_servers: missing"},
    {"kafka/topic", "\"\"", NULL, "kafka.topic: must not be empty"},
    {"kafka/properties/client.id", "5", NULL, "kafka.properties.client.id: must be a string"},
    {"kafka", NULL, NULL, "kafka: missing"},
    {"postgres/conninfo", NULL, NULL, "postgres.conninfo: missing"},
    {"postgres/conninfo", "1", NULL, "postgres.conninfo: must be a string"},
    {"log_level", "\"verbose\"", NULL, "log_level: must be one of"},
    {"worker", "{\"max_in_flight\": 0}", NULL, "worker.max_in_flight: must be in [1,"},
    {"worker", "{\"batch_flush_ms\": \"50\"}", NULL, "worker.batch_flush_ms: must be an integer"},
    {"worker", "{\"max_input_bytes\": 1.5}", NULL, "worker.max_input_bytes: must be an integer"},
    {"worker", "{\"max_inflight\": 5}", NULL, "worker.max_inflight: unknown key"},
    {"worker", "[]", NULL, "worker: must be an object"},
    {"providers/p1/kind", "\"azure\"", NULL, "providers.p1.kind: must be \"openai\" or \"anthropic\""},
    {"providers/p1/kind", NULL, NULL, "providers.p1.kind: missing"},
    {"providers/p1/base_url", "\"127.0.0.1:1\"", NULL, "providers.p1.base_url: must start with http"},
    {"providers/p1/timeout_ms", "-1", NULL, "providers.p1.timeout_ms: must be in [1,"},
    {"providers/p1/max_retries", "11", NULL, "providers.p1.max_retries: must be in [0, 10]"},
    {"providers/p1/retry_cap_ms", "100", NULL, "providers.p1.retry_cap_ms: must be >= retry_base_ms"},
    {"providers/p1/api_key", "\"sk-x\"", NULL, "providers.p1.api_key: unknown key"},
    {"providers/p 1", "{\"kind\": \"openai\", \"base_url\": \"http://x\"}", NULL, "providers.p 1: provider names"},
    {"providers", "{}", NULL, "providers: must define at least one entry"},
    {"prices/m1/input", "-1", NULL, "prices.m1.input: must be in [0,"},
    {"prices/m1/output", NULL, NULL, "prices.m1.output: missing"},
    {"prices/m1/batch_discount", "2", NULL, "prices.m1.batch_discount: must be in [0, 1]"},
    {"prices/m1/cached", "0.01", NULL, "prices.m1.cached: unknown key"},
    {"tiers/1/provider", "\"nope\"", NULL, "tiers.1.provider: provider \"nope\" is not defined"},
    {"tiers/2/model", "\"unpriced\"", NULL, "tiers.2.model: model \"unpriced\" has no entry in prices"},
    {"tiers/9", "{\"provider\": \"p1\", \"model\": \"m1\"}", NULL, "tiers.9: tier keys must be numbers 1..8"},
    {"tiers/01", "{\"provider\": \"p1\", \"model\": \"m1\"}", NULL, "tiers.01: tier keys"},
    {"tiers", "{}", NULL, "tiers: must define at least one entry"},
    {"tasks/intent/ladder", "[1, 4]", NULL, "test.json: tasks.intent.ladder[1]: tier 4 is not defined in tiers"},
    {"tasks/intent/ladder", "[2, 1]", NULL, "tasks.intent.ladder[1]: tiers must be strictly increasing"},
    {"tasks/intent/ladder", "[1, 1]", NULL, "tasks.intent.ladder[1]: tiers must be strictly increasing"},
    {"tasks/intent/ladder", "[]", NULL, "tasks.intent.ladder: must be an array"},
    {"tasks/intent/ladder", "[1.5]", NULL, "tasks.intent.ladder[0]: must be an integer"},
    {"tasks/intent/labels", NULL, NULL, "tasks.intent.labels: missing"},
    {"tasks/intent/labels", "[\"a\", \"a\"]", NULL, "tasks.intent.labels[1]: duplicate label"},
    {"tasks/intent/labels", "[\"a\", 3]", NULL, "tasks.intent.labels[1]: must be a non-empty string"},
    {"tasks/intent/prompt", "\"<labels>{{labels}}</labels>\"", NULL, "tasks.intent.prompt: must contain {{input}}"},
    {"tasks/intent/prompt", "\"<input>{{input}}</input>\"", NULL, "tasks.intent.prompt: label tasks must contain {{labels}}"},
    {"tasks/intent/prompt", NULL, NULL, "tasks.intent.prompt: missing"},
    {"tasks/intent/output", "\"enum\"", NULL, "tasks.intent.output: must be"},
    {"tasks/intent/confidence_threshold", "1.5", NULL, "tasks.intent.confidence_threshold: must be in [0, 1]"},
    {"tasks/intent/confidence_threshold", "-0.1", NULL, "tasks.intent.confidence_threshold: must be in [0, 1]"},
    {"tasks/intent/tier0", "{\"target\": 1.5}", NULL, "tasks.intent.tier0.target: must be in [0.5, 0.9999]"},
    {"tasks/intent/tier0", "{\"shadow\": 0.1}", NULL, "tasks.intent.tier0.shadow: unknown key"},
    {"tasks/intent/tier0", "{\"enabled\": 1}", NULL, "tasks.intent.tier0.enabled: must be true or false"},
    {"tasks/intent/max_output_tokens", "0", NULL, "tasks.intent.max_output_tokens: must be in [1,"},
    {"tasks/intent/ladderr", "[1]", NULL, "tasks.intent.ladderr: unknown key"},
    {"tasks/extract/schema", NULL, NULL, "tasks.extract.schema: missing"},
    {"tasks/extract/tier0", "{\"enabled\": true}", NULL, "tasks.extract.tier0: tier 0 serves label tasks only"},
    {"tasks/extract/schema", "\"object\"", NULL, "tasks.extract.schema: must be an object"},
    {"tasks/extract/prompt", "\"<input>{{input}}</input>\"", NULL, "tasks.extract.prompt: json tasks must contain {{schema}}"},
    {"tasks/summary/labels", "[\"a\"]", NULL, "tasks.summary.labels: only label tasks"},
    {"tasks/summary/schema", "{}", NULL, "tasks.summary.schema: only json tasks"},
    {"tasks/summary", "\"text\"", NULL, "tasks.summary: must be an object"},
    {"tasks/intent/examples", "{}", NULL, "tasks.intent.examples: must be an array"},
    {"tasks/intent/examples", "[{\"input\": \"x\"}]", NULL, "tasks.intent.examples[0].output: missing"},
    {"tasks/intent/examples", "[{\"input\": \"x\", \"output\": \"c\"}]", NULL,
     "tasks.intent.examples[0].output: must be one of the task's labels"},
    {"tasks/intent/examples", "[{\"input\": \"x\", \"output\": \"a\", \"why\": 1}]", NULL,
     "tasks.intent.examples[0].why: unknown key"},
    {"tasks/intent/examples", "[{\"output\": \"a\"}]", NULL, "tasks.intent.examples[0].input: missing"},
    {"tasks/summary/examples", "[{\"input\": \"x\", \"output\": 3}]", NULL,
     "tasks.summary.examples[0].output: must be a string"},
    {"tasks/intent/prompt_cache_ttl", "\"2h\"", NULL, "tasks.intent.prompt_cache_ttl: must be \"5m\" or \"1h\""},
    {"routing", "{}", NULL, "routing: must be an array"},
    {"routing/0/when/mode", "\"batch\"", NULL, "routing[0].when.mode: must be"},
    {"routing/0/when/task", "\"nope\"", NULL, "routing[0].when.task: task \"nope\" is not defined"},
    {"routing/0/when/tsk", "\"x\"", NULL, "routing[0].when.tsk: unknown key"},
    {"routing/0/when/min_input_tokens", "-5", NULL, "routing[0].when.min_input_tokens: must be in [0,"},
    {"routing/0/start_tier", "7", NULL, "routing[0].start_tier: tier 7 is not defined"},
    {"routing/0/start_tier", "9", NULL, "routing[0].start_tier: must be in [1, 8]"},
    {"routing/0/start_tier", NULL, NULL, "routing[0]: a rule needs start_tier or max_tier"},
    {"routing/0/max_tier", "1", NULL, "routing[0]: start_tier 2 is above max_tier 1"},
    {"routing/1/start_tier", "2", NULL, "routing[1]: a rule on user_tier alone may set only max_tier"},
    {"routing/1/then", "1", NULL, "routing[1].then: unknown key"},
    {NULL, NULL, "{\"kafka\": {", "test.json:1:12: invalid JSON"},
    {NULL, NULL, "[]", "test.json: (top level): must be a JSON object"},
    {NULL, NULL,
     "{\"log_level\": \"info\", \"log_level\": \"debug\"}",
     "test.json: log_level: duplicate key"},
};

static void test_broken_configs(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(broken_cases); i++) {
        const struct broken_case *bc = &broken_cases[i];
        char *text = bc->raw ? strdup(bc->raw) : mutated(bc->path, bc->value);
        struct config *cfg = (struct config *)1;
        char err[512] = "";
        int rc = config_parse(text, "test.json", &cfg, err, sizeof(err));
        free(text);
        if (rc != SL_ECONFIG || cfg != NULL || !strstr(err, bc->want))
            fail_msg("case %zu (%s): rc=%d err=\"%s\", want \"%s\"", i,
                     bc->path ? bc->path : bc->raw, rc, err, bc->want);
    }
}

static struct config *load_example(void)
{
    unsetenv("SLUICE_KAFKA_BOOTSTRAP");
    unsetenv("SLUICE_PG_CONNINFO");
    unsetenv("SLUICE_PROVIDER_EMU_OPENAI_BASE_URL");
    unsetenv("SLUICE_PROVIDER_EMU_ANTHROPIC_BASE_URL");
    struct config *cfg = NULL;
    char err[512] = "";
    if (config_load(EXAMPLE, &cfg, err, sizeof(err)) != SL_OK)
        fail_msg("%s", err);
    return cfg;
}

static void test_example_services(void **state)
{
    (void)state;
    struct config *cfg = load_example();
    assert_string_equal(cfg->kafka.bootstrap_servers, "127.0.0.1:9092");
    assert_string_equal(cfg->kafka.topic, "sluice.jobs");
    assert_string_equal(cfg->kafka.dlq_topic, "sluice.jobs.dlq");
    assert_string_equal(cfg->kafka.group_id, "sluice-workers");
    assert_true(cfg->kafka.n_properties >= 1);
    assert_string_equal(cfg->kafka.properties[0].key, "session.timeout.ms");
    assert_string_equal(cfg->kafka.properties[0].value, "10000");
    assert_int_equal(cfg->worker.max_in_flight, 512);
    assert_int_equal(cfg->worker.max_input_bytes, 32768);

    const struct provider_conf *oa = config_provider(cfg, "emu-openai");
    const struct provider_conf *an = config_provider(cfg, "emu-anthropic");
    assert_non_null(oa);
    assert_non_null(an);
    assert_int_equal(oa->kind, PROVIDER_OPENAI);
    assert_int_equal(an->kind, PROVIDER_ANTHROPIC);
    assert_string_equal(oa->base_url, "http://127.0.0.1:8090/v1");
    assert_string_equal(an->base_url, "http://127.0.0.1:8090");
    assert_string_equal(oa->api_key_env, "OPENAI_API_KEY");
    assert_int_equal(oa->retry_after_cap_ms, 120000);

    /* Tier 2 runs on the Anthropic client, so both wire formats are in
     * every end-to-end run. */
    static const char *const models[] = {"gpt-6-luna", "claude-sonnet-5-5",
                                         "gpt-6-astra"};
    assert_int_equal(cfg->n_tiers, 3);
    assert_int_equal(cfg->top_tier, 3);
    for (int t = 1; t <= 3; t++) {
        const struct tier_conf *tier = config_tier(cfg, t);
        assert_non_null(tier);
        assert_string_equal(tier->model, models[t - 1]);
        assert_ptr_equal(tier->provider, t == 2 ? an : oa);
        assert_ptr_equal(tier->price, config_price(cfg, models[t - 1]));
    }
    assert_null(config_tier(cfg, 4));
    assert_non_null(config_price(cfg, "claude-haiku-5-5"));
    assert_int_equal(config_price(cfg, "gpt-6.2-sol")->output, 10000000000LL);
    /* no cache_write listed for astra: it costs what input costs */
    assert_int_equal(config_price(cfg, "gpt-6-astra")->cache_write,
                     10000000000LL);
    config_free(cfg);
}

static void test_example_tasks(void **state)
{
    (void)state;
    struct config *cfg = load_example();
    const struct task_conf *intent = config_task(cfg, "intent");
    assert_non_null(intent);
    assert_int_equal(intent->output, OUTPUT_LABEL);
    assert_int_equal(intent->n_labels, 8);
    assert_string_equal(intent->labels[0], "refund");
    assert_int_equal(intent->n_ladder, 3);
    assert_true(intent->confidence_threshold == 0.8);
    assert_int_equal(intent->max_output_tokens, 64);
    assert_int_equal(config_task(cfg, "priority")->n_labels, 4);
    const struct task_conf *extract = config_task(cfg, "extract");
    assert_int_equal(extract->output, OUTPUT_JSON);
    assert_true(cJSON_IsObject(extract->schema));
    assert_non_null(strstr(extract->schema_text, "\"order_id\""));
    assert_int_equal(config_task(cfg, "summary")->output, OUTPUT_TEXT);
    assert_null(config_task(cfg, "nope"));

    assert_int_equal(cfg->n_rules, 2);
    assert_string_equal(cfg->rules[0].task, "summary");
    assert_int_equal(cfg->rules[0].min_input_tokens, 2000);
    assert_int_equal(cfg->rules[0].max_input_tokens, -1);
    assert_int_equal(cfg->rules[0].start_tier, 2);
    assert_int_equal(cfg->rules[0].max_tier, 0);
    assert_string_equal(cfg->rules[1].user_tier, "free");
    assert_null(cfg->rules[1].task);
    assert_int_equal(cfg->rules[1].max_tier, 2);
    config_free(cfg);
}

static void test_env_overrides(void **state)
{
    (void)state;
    setenv("SLUICE_KAFKA_BOOTSTRAP", "10.0.0.1:9093", 1);
    setenv("SLUICE_PG_CONNINFO", "dbname=other", 1);
    setenv("SLUICE_PROVIDER_EMU_OPENAI_BASE_URL", "http://127.0.0.1:9999/v1", 1);
    setenv("SLUICE_PROVIDER_EMU_ANTHROPIC_BASE_URL", "", 1); /* empty: unset */
    struct config *cfg = NULL;
    char err[512] = "";
    int rc = config_load(EXAMPLE, &cfg, err, sizeof(err));
    unsetenv("SLUICE_KAFKA_BOOTSTRAP");
    unsetenv("SLUICE_PG_CONNINFO");
    unsetenv("SLUICE_PROVIDER_EMU_OPENAI_BASE_URL");
    unsetenv("SLUICE_PROVIDER_EMU_ANTHROPIC_BASE_URL");
    if (rc != SL_OK)
        fail_msg("%s", err);
    assert_string_equal(cfg->kafka.bootstrap_servers, "10.0.0.1:9093");
    assert_string_equal(cfg->pg_conninfo, "dbname=other");
    assert_string_equal(config_provider(cfg, "emu-openai")->base_url,
                        "http://127.0.0.1:9999/v1");
    assert_string_equal(config_provider(cfg, "emu-anthropic")->base_url,
                        "http://127.0.0.1:8090");
    config_free(cfg);

    /* config_parse applies no overrides */
    setenv("SLUICE_PG_CONNINFO", "dbname=other", 1);
    char *text = mutated(NULL, NULL);
    cfg = parse_ok(text);
    unsetenv("SLUICE_PG_CONNINFO");
    free(text);
    assert_string_equal(cfg->pg_conninfo, "dbname=t");
    config_free(cfg);
}

static void test_load_missing_file(void **state)
{
    (void)state;
    struct config *cfg = (struct config *)1;
    char err[512] = "";
    assert_int_equal(config_load("/nonexistent/sluice.json", &cfg, err,
                                 sizeof(err)),
                     SL_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err, "/nonexistent/sluice.json: cannot open"));
}

struct price_case {
    const char *price_json;
    int64_t input, cached_input, cache_write, output;
    int batch_pct;
};

static const struct price_case price_cases[] = {
    {"{\"input\": 0.10, \"cached_input\": 0.01, \"cache_write\": 0.125,"
     " \"output\": 0.50, \"batch_discount\": 0.5}",
     100000000, 10000000, 125000000, 500000000, 50},
    /* In binary 1.001 * 1e9 is 1000999999.9999999 and 0.29 * 100 is
     * 28.999999999999996: both must round, not truncate. */
    {"{\"input\": 1.001, \"output\": 50, \"batch_discount\": 0.29}",
     1001000000, 1001000000, 1001000000, 50000000000, 29},
    {"{\"input\": 0.000001, \"output\": 0}", 1000, 1000, 1000, 0, 0},
    {"{\"input\": 2, \"cached_input\": 0.1, \"output\": 10, \"batch_discount\": 1}",
     2000000000, 100000000, 2000000000, 10000000000, 100},
};

static void test_price_conversion(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(price_cases); i++) {
        const struct price_case *pc = &price_cases[i];
        char *text = mutated("prices/m1", pc->price_json);
        struct config *cfg = parse_ok(text);
        free(text);
        const struct price *p = config_price(cfg, "m1");
        assert_non_null(p);
        assert_string_equal(p->model, "m1");
        assert_int_equal(p->input, pc->input);
        assert_int_equal(p->cached_input, pc->cached_input);
        assert_int_equal(p->cache_write, pc->cache_write);
        assert_int_equal(p->output, pc->output);
        assert_int_equal(p->batch_discount_pct, pc->batch_pct);
        config_free(cfg);
    }
}

static void test_defaults(void **state)
{
    (void)state;
    char *text = mutated(NULL, NULL);
    struct config *cfg = parse_ok(text);
    free(text);
    assert_string_equal(cfg->kafka.topic, "sluice.jobs");
    assert_string_equal(cfg->kafka.dlq_topic, "sluice.jobs.dlq");
    assert_string_equal(cfg->kafka.group_id, "sluice-workers");
    assert_int_equal(cfg->worker.max_in_flight, 512);
    assert_int_equal(cfg->worker.batch_max_jobs, 500);
    assert_int_equal(cfg->worker.batch_flush_ms, 50);
    assert_int_equal(cfg->worker.max_input_bytes, 32768);
    const struct provider_conf *p = config_provider(cfg, "p1");
    assert_null(p->api_key_env);
    assert_int_equal(p->timeout_ms, 30000);
    assert_int_equal(p->connect_timeout_ms, 3000);
    assert_int_equal(p->max_concurrency, 512);
    assert_int_equal(p->max_retries, 2);
    assert_int_equal(p->retry_base_ms, 500);
    assert_int_equal(p->retry_cap_ms, 8000);
    assert_int_equal(p->retry_after_cap_ms, 120000);
    const struct task_conf *t = config_task(cfg, "summary");
    assert_string_equal(t->system, "");
    assert_true(t->confidence_threshold == 0.8);
    assert_int_equal(t->max_output_tokens, 256);
    assert_int_equal(t->n_ladder, 2); /* every tier, cheapest first */
    assert_int_equal(t->ladder[0], 1);
    assert_int_equal(t->ladder[1], 2);
    assert_null(t->labels);
    assert_null(t->schema);
    config_free(cfg);
}

/* The prompt-cache and flex keys: defaults, examples rendered as answer
 * objects, and flex refused on a provider that is not OpenAI. */
static void test_discount_keys(void **state)
{
    (void)state;
    char *text = mutated(NULL, NULL);
    struct config *cfg = parse_ok(text);
    free(text);
    const struct provider_conf *p = config_provider(cfg, "p1");
    assert_true(p->prompt_caching);
    assert_int_equal(p->cache_min_tokens, 1024);
    assert_false(p->flex);
    assert_int_equal(p->flex_retries, 2);
    assert_int_equal(config_task(cfg, "intent")->prompt_cache_ttl_s, 300);
    assert_int_equal(config_task(cfg, "intent")->n_examples, 0);
    /* 1-hour writes default to twice the input price: 0.1 -> 0.2 $/M */
    assert_int_equal(config_price(cfg, "m1")->cache_write_1h, 200000000);
    config_free(cfg);

    cJSON *root = cJSON_Parse(base_json);
    set_at(root, "tasks/intent/examples",
           "[{\"input\": \"refund me\", \"output\": \"b\"}, {\"input\": \"hi\", \"output\": \"a\"}]");
    set_at(root, "tasks/extract/examples", "[{\"input\": \"order 7\", \"output\": {\"id\": 7}}]");
    set_at(root, "tasks/summary/prompt_cache_ttl", "\"1h\"");
    set_at(root, "providers/p1/flex", "true");
    set_at(root, "prices/m1/cache_write_1h", "0.3");
    text = cJSON_PrintUnformatted(root);
    cfg = parse_ok(text);
    free(text);
    const struct task_conf *t = config_task(cfg, "intent");
    assert_int_equal(t->n_examples, 2);
    assert_string_equal(t->examples[0].input, "refund me");
    assert_string_equal(t->examples[0].answer, "{\"label\":\"b\"}");
    assert_string_equal(config_task(cfg, "extract")->examples[0].answer,
                        "{\"data\":{\"id\":7}}");
    assert_int_equal(config_task(cfg, "summary")->prompt_cache_ttl_s, 3600);
    assert_true(config_provider(cfg, "p1")->flex);
    assert_int_equal(config_price(cfg, "m1")->cache_write_1h, 300000000);
    config_free(cfg);

    set_at(root, "providers/p1/kind", "\"anthropic\"");
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char err[512] = "";
    cfg = NULL;
    assert_int_equal(config_parse(text, "test.json", &cfg, err, sizeof(err)), SL_ECONFIG);
    free(text);
    assert_non_null(strstr(err, "providers.p1.flex: flex processing is an OpenAI service tier"));
}

static void test_job_mode_names(void **state)
{
    (void)state;
    static const char *const names[] = {"interactive", "async", "offpeak"};
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        enum job_mode m;
        assert_int_equal(job_mode_parse(names[i], &m), SL_OK);
        assert_int_equal(m, (enum job_mode)i);
        assert_string_equal(job_mode_name(m), names[i]);
    }
    enum job_mode m;
    assert_int_equal(job_mode_parse("Async", &m), SL_EINVAL);
    assert_int_equal(job_mode_parse("", &m), SL_EINVAL);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Which key a reload must refuse, table-driven: NULL = the change is
 * reloadable (config_restart_only_diff finds nothing). */
static const struct {
    const char *path, *value, *restart_key;
} reload_cases[] = {
    {"tasks/intent/prompt", "\"<labels>{{labels}}</labels> now <input>{{input}}</input>\"", NULL},
    {"tasks/intent/labels", "[\"a\", \"b\", \"c\"]", NULL},
    {"prices/m1/input", "0.2", NULL},
    {"routing/0/start_tier", "1", NULL},
    {"providers/p1/timeout_ms", "1234", NULL},
    {"providers/p2", "{\"kind\": \"anthropic\", \"base_url\": \"http://h\", \"max_concurrency\": 9}", NULL},
    {"budgets", "{\"refresh_ms\": 1000}", NULL},
    {"log_level", "\"debug\"", NULL},
    {"kafka/topic", "\"other.jobs\"", "kafka.topic"},
    {"kafka/properties/client.id", "\"u\"", "kafka.properties"},
    {"postgres/conninfo", "\"dbname=u\"", "postgres.conninfo"},
    {"worker", "{\"max_in_flight\": 7}", "worker.max_in_flight"},
    {"scheduler", "{\"tick_ms\": 20}", "scheduler.tick_ms"},
    {"scheduler", "{\"offpeak\": {\"windows\": [\"01:00-02:00\"]}}", "scheduler.offpeak.windows"},
    {"metrics", "{\"listen\": \"\"}", "metrics.listen"},
    {"providers/p1/max_concurrency", "9", "providers.p1.max_concurrency"},
};

static void test_reload_restart_only_keys(void **state)
{
    (void)state;
    char *text = mutated(NULL, NULL);
    struct config *base = parse_ok(text);
    free(text);
    for (size_t i = 0; i < sizeof(reload_cases) / sizeof(reload_cases[0]); i++) {
        text = mutated(reload_cases[i].path, reload_cases[i].value);
        struct config *next = parse_ok(text);
        char key[256] = "";
        int differs = config_restart_only_diff(base, next, key, sizeof(key));
        if (reload_cases[i].restart_key) {
            assert_int_equal(differs, 1);
            assert_string_equal(key, reload_cases[i].restart_key);
        } else if (differs) {
            fail_msg("%s: reloadable, but refused for %s", reload_cases[i].path, key);
        }
        config_free(next);
        free(text);
    }
    config_free(base);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A valid file replaces the config in force; an invalid one or one changing
 * a restart-only key leaves it, and says why. */
static void test_reload_holder(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-reload-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char *text = mutated(NULL, NULL), err[512];
    write_file(path, text);
    free(text);
    struct config *initial;
    assert_int_equal(config_load(path, &initial, err, sizeof(err)), SL_OK);
    struct config_holder h;
    config_holder_init(&h, path, initial);

    text = mutated("tasks/intent/labels", "[\"a\", \"b\", \"c\"]");
    write_file(path, text);
    free(text);
    assert_int_equal(config_holder_reload(&h, err, sizeof(err)), SL_OK);
    assert_ptr_not_equal(h.current, initial);
    assert_int_equal(config_task(h.current, "intent")->n_labels, 3);
    assert_int_equal(config_task(initial, "intent")->n_labels, 2); /* still alive */
    const struct config *good = h.current;

    write_file(path, "{\"kafka\": ");
    assert_int_equal(config_holder_reload(&h, err, sizeof(err)), SL_ECONFIG);
    assert_non_null(strstr(err, "invalid JSON"));
    assert_ptr_equal(h.current, good);

    text = mutated("kafka/topic", "\"other.jobs\"");
    write_file(path, text);
    free(text);
    assert_int_equal(config_holder_reload(&h, err, sizeof(err)), SL_ECONFIG);
    assert_non_null(strstr(err, "kafka.topic changes only at restart"));
    assert_ptr_equal(h.current, good);

    config_holder_free(&h);
    config_free(initial);
    unlink(path);
}

/* The docs row of key ("| `key` | ..." up to its end of line), or NULL. */
static char *doc_row(const char *doc, const char *key)
{
    char head[256];
    snprintf(head, sizeof(head), "| `%s` |", key);
    const char *row = strstr(doc, head);
    if (!row)
        return NULL;
    const char *end = strchr(row, '\n');
    return strndup(row, end ? (size_t)(end - row) : strlen(row));
}

/* docs/config.md holds a row for every key of the table, showing the
 * table's default and range, so the docs cannot drift from the parser. */
static void test_keys_documented(void **state)
{
    (void)state;
    char *doc = read_all(SLUICE_SOURCE_DIR "/docs/config.md");
    size_t n;
    const struct config_key *keys = config_keys(&n);
    assert_true(n > 40);
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        char *row = doc_row(doc, keys[i].name);
        char range[64] = "";
        if (keys[i].min != 0 || keys[i].max != 0)
            snprintf(range, sizeof(range), "%.15g..%.15g", keys[i].min,
                     keys[i].max);
        if (!row)
            print_error("undocumented config key: %s\n", keys[i].name);
        else if (keys[i].def && !strstr(row, keys[i].def))
            print_error("%s: docs do not show the default %s\n", keys[i].name,
                        keys[i].def);
        else if (range[0] && !strstr(row, range))
            print_error("%s: docs do not show the range %s\n", keys[i].name,
                        range);
        else {
            free(row);
            continue;
        }
        free(row);
        wrong++;
    }
    free(doc);
    assert_int_equal(wrong, 0);
}

/* The docs' reload section names exactly the keys a reload does not apply
 * (sections aside: their keys are listed). */
static void test_restart_only_keys_documented(void **state)
{
    (void)state;
    char *doc = read_all(SLUICE_SOURCE_DIR "/docs/config.md");
    const char *reload = strstr(doc, "## Reloading");
    assert_non_null(reload);
    const char *next = strstr(reload + 1, "\n## ");
    char *section = strndup(reload, next ? (size_t)(next - reload) : strlen(reload));
    size_t n;
    const struct config_key *keys = config_keys(&n);
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].type == CONFIG_SECTION || keys[i].type == CONFIG_MAP)
            continue;
        char quoted[256];
        snprintf(quoted, sizeof(quoted), "`%s`", keys[i].name);
        bool listed = strstr(section, quoted) != NULL;
        bool restart_only = !(keys[i].flags & CONFIG_RELOAD);
        if (listed != restart_only) {
            print_error("%s: %s\n", keys[i].name,
                        restart_only ? "restart-only but not listed"
                                     : "reloadable but listed as restart-only");
            wrong++;
        }
    }
    free(section);
    free(doc);
    assert_int_equal(wrong, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_is_valid),
        cmocka_unit_test(test_broken_configs),
        cmocka_unit_test(test_example_services),
        cmocka_unit_test(test_example_tasks),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_price_conversion),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_discount_keys),
        cmocka_unit_test(test_job_mode_names),
        cmocka_unit_test(test_keys_documented),
        cmocka_unit_test(test_restart_only_keys_documented),
        cmocka_unit_test(test_reload_restart_only_keys),
        cmocka_unit_test(test_reload_holder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
