/* sources: lib/provider/provider.c lib/provider/prompt_shape.c lib/provider/provider_json.c lib/provider/provider_openai.c lib/provider/provider_anthropic.c lib/provider/llm.c lib/sl.c lib/utf8.c */
/* Request shaping for prompt caching: the stable prefix is byte-identical
 * across jobs up to the input, the Anthropic breakpoint sits on the last
 * stable block only when the prefix reaches the minimum, OpenAI gets a
 * prompt_cache_key per task version and service_tier flex on request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provider/prompt_shape.h"
#include "provider/provider.h"

static struct provider_conf openai_conf = {
    .name = "oai", .kind = PROVIDER_OPENAI, .base_url = "http://127.0.0.1:9/v1",
    .prompt_caching = true, .cache_min_tokens = 1024,
};
static struct provider_conf anthropic_conf = {
    .name = "ant", .kind = PROVIDER_ANTHROPIC, .base_url = "http://127.0.0.1:9",
    .prompt_caching = true, .cache_min_tokens = 1024,
};

static char *labels[] = {"refund", "billing", "other"};

/* 40 examples of about 120 characters: a prefix of well over 1024 tokens. */
#define N_EXAMPLES 40
static struct task_example examples[N_EXAMPLES];
static char example_text[N_EXAMPLES][160];

static struct task_conf task = {
    .name = "intent", .output = OUTPUT_LABEL, .labels = labels, .n_labels = 3,
    .system = "You classify support tickets.",
    .prompt = "Pick one of <labels>{{labels}}</labels>.\n<input>{{input}}</input>",
    .max_output_tokens = 64, .prompt_cache_ttl_s = 300,
};

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < N_EXAMPLES; i++) {
        snprintf(example_text[i], sizeof(example_text[i]),
                 "Example ticket number %02d: I was charged twice for my order "
                 "and would like the second charge returned to my card, please.",
                 i);
        examples[i].input = example_text[i];
        examples[i].answer = i % 2 ? "{\"label\":\"refund\"}" : "{\"label\":\"billing\"}";
    }
    task.examples = examples;
    task.n_examples = N_EXAMPLES;
    return 0;
}

static size_t common_prefix(const char *a, const char *b)
{
    size_t n = 0;
    while (a[n] && a[n] == b[n])
        n++;
    return n;
}

/* Everything before the input is the same bytes for two jobs. */
static void check_stable_prefix(const struct provider_conf *p)
{
    const char *in1 = "Where is my parcel?", *in2 = "Cancel my subscription now";
    char *b1 = provider_request_body(p, &task, "m", in1, strlen(in1));
    char *b2 = provider_request_body(p, &task, "m", in2, strlen(in2));
    const char *at = strstr(b1, in1);
    assert_non_null(at);
    size_t before_input = (size_t)(at - b1);
    assert_true(common_prefix(b1, b2) >= before_input);
    /* and the input comes after the examples and the labels */
    assert_true(strstr(b1, example_text[N_EXAMPLES - 1]) < at);
    assert_true(strstr(b1, "refund, billing, other") < at);
    free(b1);
    free(b2);
}

static void test_prefix_byte_identical(void **state)
{
    (void)state;
    check_stable_prefix(&anthropic_conf);
    check_stable_prefix(&openai_conf);
}

static void test_render_is_head_plus_tail(void **state)
{
    (void)state;
    struct prompt_shape s;
    prompt_shape_build(&anthropic_conf, &task, "abc", 3, &s);
    char *whole = provider_render_prompt(&task, "abc", 3);
    char joined[512];
    snprintf(joined, sizeof(joined), "%s%s", s.head, s.tail);
    assert_string_equal(joined, whole);
    assert_string_equal(s.head, "Pick one of <labels>refund, billing, other</labels>.\n<input>");
    assert_string_equal(s.tail, "abc</input>");
    assert_non_null(strstr(s.system, "Message: Example ticket number 00"));
    assert_non_null(strstr(s.system, "Answer: {\"label\":\"billing\"}"));
    free(whole);
    prompt_shape_clear(&s);
}

/* The breakpoint is on the head block (the last stable one), not on the
 * tail; exactly one. */
static void test_anthropic_breakpoint_placement(void **state)
{
    (void)state;
    char *body = provider_request_body(&anthropic_conf, &task, "m", "hi", 2);
    const char *cc = strstr(body, "\"cache_control\":{\"type\":\"ephemeral\"}");
    assert_non_null(cc);
    assert_null(strstr(cc + strlen("\"cache_control\""), "cache_control"));
    const char *head = strstr(body, "{\"type\":\"text\",\"text\":\"Pick one of");
    const char *tail = strstr(body, "{\"type\":\"text\",\"text\":\"hi</input>\"}");
    assert_non_null(head);
    assert_non_null(tail);
    assert_true(head < cc && cc < tail);
    assert_non_null(strstr(body, "\"system\":\"You classify")); /* stays a string */
    assert_null(strstr(body, "\"ttl\""));
    free(body);

    task.prompt_cache_ttl_s = 3600;
    body = provider_request_body(&anthropic_conf, &task, "m", "hi", 2);
    assert_non_null(strstr(body, "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}"));
    free(body);
    task.prompt_cache_ttl_s = 300;

    /* A template that starts with the input: the system text is the last
     * stable block. */
    struct task_conf first = task;
    first.prompt = "{{input}}\nOne of <labels>{{labels}}</labels>";
    body = provider_request_body(&anthropic_conf, &first, "m", "hi", 2);
    assert_non_null(strstr(body, "\"system\":[{\"type\":\"text\",\"text\":\"You classify"));
    cc = strstr(body, "cache_control");
    assert_non_null(cc);
    assert_true(cc < strstr(body, "\"messages\""));
    assert_non_null(strstr(body, "\"content\":\"hi\\nOne of"));
    free(body);
}

/* The minimum: a prefix of exactly cache_min_tokens gets the breakpoint,
 * one token short does not (and the body is then the plain form). */
static void test_min_length(void **state)
{
    (void)state;
    struct prompt_shape s;
    prompt_shape_build(&anthropic_conf, &task, "x", 1, &s);
    int64_t tokens = s.prefix_tokens;
    assert_true(tokens > 1024);
    prompt_shape_clear(&s);

    struct provider_conf p = anthropic_conf;
    p.cache_min_tokens = (int)tokens;
    char *body = provider_request_body(&p, &task, "m", "x", 1);
    assert_non_null(strstr(body, "cache_control"));
    free(body);
    p.cache_min_tokens = (int)tokens + 1;
    body = provider_request_body(&p, &task, "m", "x", 1);
    assert_null(strstr(body, "cache_control"));
    assert_non_null(strstr(body, "\"content\":\"Pick one of"));
    free(body);

    /* Short tasks (no examples) stay below the default minimum. */
    struct task_conf bare = task;
    bare.n_examples = 0;
    body = provider_request_body(&anthropic_conf, &bare, "m", "x", 1);
    assert_null(strstr(body, "cache_control"));
    free(body);

    p = anthropic_conf;
    p.prompt_caching = false;
    body = provider_request_body(&p, &task, "m", "x", 1);
    assert_null(strstr(body, "cache_control"));
    free(body);
}

static char *cache_key_of(const struct provider_conf *p, const struct task_conf *t,
                          const char *input)
{
    char *body = provider_request_body(p, t, "m", input, strlen(input));
    const char *k = strstr(body, "\"prompt_cache_key\":\"");
    char *key = NULL;
    if (k) {
        k += strlen("\"prompt_cache_key\":\"");
        key = strndup(k, strcspn(k, "\""));
    }
    free(body);
    return key;
}

/* One key per task version: the same for every job, another when the
 * stable prefix changes; none when caching is off. */
static void test_openai_cache_key_and_flex(void **state)
{
    (void)state;
    char *k1 = cache_key_of(&openai_conf, &task, "a");
    char *k2 = cache_key_of(&openai_conf, &task, "something else");
    assert_non_null(k1);
    assert_string_equal(k1, k2);
    assert_int_equal(strncmp(k1, "sluice-intent-", 14), 0);
    struct task_conf v2 = task;
    v2.n_examples = N_EXAMPLES - 1;
    char *k3 = cache_key_of(&openai_conf, &v2, "a");
    assert_string_not_equal(k1, k3);
    struct provider_conf off = openai_conf;
    off.prompt_caching = false;
    assert_null(cache_key_of(&off, &task, "a"));
    free(k1);
    free(k2);
    free(k3);

    char *body = provider_request_body_ex(&openai_conf, &task, "m", "a", 1, true, NULL);
    assert_non_null(strstr(body, "\"service_tier\":\"flex\""));
    free(body);
    body = provider_request_body(&openai_conf, &task, "m", "a", 1);
    assert_null(strstr(body, "service_tier"));
    free(body);
}

/* Usage: the 1-hour share of Anthropic writes and OpenAI's served tier. */
static void test_parse_cache_and_tier(void **state)
{
    (void)state;
    const char *ant = "{\"id\":\"msg_1\",\"content\":[{\"type\":\"text\",\"text\":\"{}\"}],"
                      "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":12,"
                      "\"output_tokens\":5,\"cache_creation_input_tokens\":1500,"
                      "\"cache_read_input_tokens\":900,\"cache_creation\":"
                      "{\"ephemeral_5m_input_tokens\":300,\"ephemeral_1h_input_tokens\":1200}}}";
    struct llm_response r;
    char err[128];
    assert_int_equal(provider_parse_response(PROVIDER_ANTHROPIC, 200, ant, strlen(ant), &r,
                                             err, sizeof(err)), 0);
    assert_int_equal(r.usage.input_tokens, 12 + 1500 + 900);
    assert_int_equal(r.usage.cached_tokens, 900);
    assert_int_equal(r.usage.cache_write_tokens, 1500);
    assert_int_equal(r.usage.cache_write_1h_tokens, 1200);
    assert_false(r.flex);
    llm_response_clear(&r);

    const char *oai = "{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"content\":\"{}\"},"
                      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2048,"
                      "\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":1920}},"
                      "\"service_tier\":\"flex\"}";
    assert_int_equal(provider_parse_response(PROVIDER_OPENAI, 200, oai, strlen(oai), &r,
                                             err, sizeof(err)), 0);
    assert_true(r.flex);
    assert_int_equal(r.usage.cached_tokens, 1920);
    llm_response_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_byte_identical),
        cmocka_unit_test(test_render_is_head_plus_tail),
        cmocka_unit_test(test_anthropic_breakpoint_placement),
        cmocka_unit_test(test_min_length),
        cmocka_unit_test(test_openai_cache_key_and_flex),
        cmocka_unit_test(test_parse_cache_and_tier),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
