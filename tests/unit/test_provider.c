/* sources: lib/provider/provider.c lib/provider/prompt_shape.c lib/provider/provider_json.c lib/provider/provider_openai.c lib/provider/provider_anthropic.c lib/provider/llm.c lib/sl.c lib/utf8.c tests/unit/fixture.c */
/* Provider client: URL, headers, prompt rendering, request bodies and the
 * parsing of real-shaped response fixtures (tests/unit/data/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

#include "provider/provider.h"

#define KEY_ENV "SLUICE_TEST_PROVIDER_KEY"
#define SECRET "sk-test-0123456789abcdef"

static struct provider_conf openai_conf = {
    .name = "oai", .kind = PROVIDER_OPENAI,
    .base_url = "http://127.0.0.1:9/v1", .api_key_env = KEY_ENV,
};
static struct provider_conf anthropic_conf = {
    .name = "ant", .kind = PROVIDER_ANTHROPIC,
    .base_url = "http://127.0.0.1:9/", .api_key_env = KEY_ENV,
};

static char *label_set[] = {"billing", "shipping", "other"};

static struct task_conf label_task = {
    .name = "intent", .output = OUTPUT_LABEL,
    .labels = label_set, .n_labels = 3,
    .system = "You classify support tickets.",
    .prompt = "Labels: <labels>{{labels}}</labels>\n<input>{{input}}</input>",
    .max_output_tokens = 64,
};

static struct task_conf json_task = {
    .name = "extract", .output = OUTPUT_JSON,
    .schema_text = "{\"type\":\"object\"}",
    .system = "",
    .prompt = "<schema>{{schema}}</schema><input>{{input}}</input>",
    .max_output_tokens = 512,
};

static void test_kind_name_and_url(void **state)
{
    (void)state;
    assert_string_equal(provider_kind_name(PROVIDER_OPENAI), "openai");
    assert_string_equal(provider_kind_name(PROVIDER_ANTHROPIC), "anthropic");
    char *u = provider_url(&openai_conf);
    assert_string_equal(u, "http://127.0.0.1:9/v1/chat/completions");
    free(u);
    u = provider_url(&anthropic_conf); /* trailing '/' is not doubled */
    assert_string_equal(u, "http://127.0.0.1:9/v1/messages");
    free(u);
}

static void test_render_prompt(void **state)
{
    (void)state;
    /* The input itself holds a placeholder: it must stay literal. */
    const char *input = "refund {{labels}} please";
    char *p = provider_render_prompt(&label_task, input, strlen(input));
    assert_string_equal(p, "Labels: <labels>billing, shipping, other</labels>"
                           "\n<input>refund {{labels}} please</input>");
    free(p);
    p = provider_render_prompt(&json_task, "abcdef", 3); /* input_len honoured */
    assert_string_equal(p, "<schema>{\"type\":\"object\"}</schema>"
                           "<input>abc</input>");
    free(p);
}

static int slist_has(const struct curl_slist *h, const char *line)
{
    for (; h; h = h->next) {
        if (strcmp(h->data, line) == 0)
            return 1;
    }
    return 0;
}

static int slist_mentions(const struct curl_slist *h, const char *needle)
{
    for (; h; h = h->next) {
        if (strstr(h->data, needle))
            return 1;
    }
    return 0;
}

static void test_headers(void **state)
{
    (void)state;
    setenv(KEY_ENV, SECRET, 1);
    struct curl_slist *h = provider_headers(&openai_conf);
    assert_true(slist_has(h, "Content-Type: application/json"));
    assert_true(slist_has(h, "Authorization: Bearer " SECRET));
    assert_false(slist_mentions(h, "x-api-key"));
    curl_slist_free_all(h);

    h = provider_headers(&anthropic_conf);
    assert_true(slist_has(h, "Content-Type: application/json"));
    assert_true(slist_has(h, "x-api-key: " SECRET));
    assert_true(slist_has(h, "anthropic-version: 2023-06-01"));
    assert_false(slist_mentions(h, "Authorization"));
    curl_slist_free_all(h);

    unsetenv(KEY_ENV);
    h = provider_headers(&openai_conf);
    assert_true(slist_has(h, "Content-Type: application/json"));
    assert_false(slist_mentions(h, "Authorization"));
    curl_slist_free_all(h);
    h = provider_headers(&anthropic_conf);
    assert_true(slist_has(h, "anthropic-version: 2023-06-01"));
    assert_false(slist_mentions(h, "x-api-key"));
    curl_slist_free_all(h);
}

static const char *str_at(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static double num_at(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_true(cJSON_IsNumber(item));
    return item->valuedouble;
}

static void check_user_prompt(const char *prompt)
{
    assert_non_null(strstr(prompt, "<labels>billing, shipping, other</labels>"));
    assert_non_null(strstr(prompt, "<input>my card was charged twice</input>"));
}

static void check_system(const char *sys)
{
    assert_non_null(strstr(sys, "You classify support tickets."));
    assert_non_null(strstr(sys, "\"label\""));
    assert_non_null(strstr(sys, "\"confidence\""));
}

static cJSON *build_body(const struct provider_conf *p, const char *model)
{
    setenv(KEY_ENV, SECRET, 1);
    const char *input = "my card was charged twice";
    char *body = provider_request_body(p, &label_task, model, input,
                                       strlen(input));
    assert_null(strstr(body, SECRET)); /* the key only ever goes in headers */
    cJSON *root = cJSON_Parse(body);
    assert_non_null(root);
    free(body);
    unsetenv(KEY_ENV);
    return root;
}

static void test_openai_body(void **state)
{
    (void)state;
    cJSON *root = build_body(&openai_conf, "gpt-6-luna");
    assert_string_equal(str_at(root, "model"), "gpt-6-luna");
    assert_true(num_at(root, "max_completion_tokens") == 64);
    assert_null(cJSON_GetObjectItem(root, "max_tokens"));
    assert_true(num_at(root, "temperature") == 0);
    assert_null(cJSON_GetObjectItem(root, "system"));
    const cJSON *fmt = cJSON_GetObjectItem(root, "response_format");
    assert_string_equal(str_at(fmt, "type"), "json_object");
    const cJSON *msgs = cJSON_GetObjectItem(root, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 2);
    const cJSON *sys = cJSON_GetArrayItem(msgs, 0);
    const cJSON *user = cJSON_GetArrayItem(msgs, 1);
    assert_string_equal(str_at(sys, "role"), "system");
    check_system(str_at(sys, "content"));
    assert_string_equal(str_at(user, "role"), "user");
    check_user_prompt(str_at(user, "content"));
    cJSON_Delete(root);
}

static void test_anthropic_body(void **state)
{
    (void)state;
    cJSON *root = build_body(&anthropic_conf, "claude-haiku-5-5");
    assert_string_equal(str_at(root, "model"), "claude-haiku-5-5");
    assert_true(num_at(root, "max_tokens") == 64);
    assert_null(cJSON_GetObjectItem(root, "max_completion_tokens"));
    assert_null(cJSON_GetObjectItem(root, "response_format"));
    assert_true(num_at(root, "temperature") == 0);
    check_system(str_at(root, "system"));
    const cJSON *msgs = cJSON_GetObjectItem(root, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 1);
    const cJSON *user = cJSON_GetArrayItem(msgs, 0);
    assert_string_equal(str_at(user, "role"), "user");
    check_user_prompt(str_at(user, "content"));
    cJSON_Delete(root);
}

static void test_output_instruction_by_type(void **state)
{
    (void)state;
    /* Empty task system text: the instruction stands alone. */
    char *body = provider_request_body(&anthropic_conf, &json_task, "m",
                                       "x", 1);
    cJSON *root = cJSON_Parse(body);
    const char *sys = str_at(root, "system");
    assert_true(strncmp(sys, "Reply with", 10) == 0);
    assert_non_null(strstr(sys, "\"data\""));
    cJSON_Delete(root);
    free(body);
}

struct parse_case {
    const char *file;
    enum provider_kind kind;
    long status;
    int rc;
    const char *content;  /* exact, NULL = absent */
    const char *id;
    bool truncated, refused, has_usage;
    struct llm_usage usage;
    const char *error_type;
    const char *error_msg_part;
    bool no_retry;
};

static const struct parse_case parse_cases[] = {
    /* cached_tokens is a subset of prompt_tokens: input stays 2006. */
    {"openai_ok_cached.json", PROVIDER_OPENAI, 200, SL_OK,
     "{\"label\": \"billing\", \"confidence\": 0.93}",
     "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", false, false, true,
     {2006, 1920, 0, 300, 0}, NULL, NULL, false},
    {"openai_length.json", PROVIDER_OPENAI, 200, SL_OK,
     "{\"text\": \"The quarterly report shows", "chatcmpl-length01",
     true, false, true, {120, 0, 0, 64, 0}, NULL, NULL, false},
    {"openai_refusal.json", PROVIDER_OPENAI, 200, SL_OK, NULL,
     "chatcmpl-refusal01", false, true, true, {95, 0, 0, 11, 0},
     NULL, NULL, false},
    {"openai_429_rate_limit.json", PROVIDER_OPENAI, 429, SL_OK, NULL, NULL,
     false, false, false, {0, 0, 0, 0, 0}, "rate_limit_exceeded",
     "Rate limit reached", false},
    {"openai_429_insufficient_quota.json", PROVIDER_OPENAI, 429, SL_OK, NULL,
     NULL, false, false, false, {0, 0, 0, 0, 0}, "insufficient_quota",
     "exceeded your current quota", true},
    {"openai_503_overloaded.json", PROVIDER_OPENAI, 503, SL_OK, NULL, NULL,
     false, false, false, {0, 0, 0, 0, 0}, "server_is_overloaded",
     "overloaded", false},
    {"openai_no_choices.json", PROVIDER_OPENAI, 200, SL_EINVAL, NULL, NULL,
     false, false, false, {0, 0, 0, 0, 0}, NULL, NULL, false},
    {"openai_malformed.json", PROVIDER_OPENAI, 200, SL_EINVAL, NULL, NULL,
     false, false, false, {0, 0, 0, 0, 0}, NULL, NULL, false},
    {"error_502.html", PROVIDER_OPENAI, 502, SL_OK, NULL, NULL,
     false, false, false, {0, 0, 0, 0, 0}, "unparseable", "502 Bad Gateway",
     false},
    /* Anthropic counters add up: 50 + 1000 written + 3000 read = 4050. */
    {"anthropic_ok_cache.json", PROVIDER_ANTHROPIC, 200, SL_OK,
     "{\"label\": \"billing\", \"confidence\": 0.88}",
     "msg_01XFDUDYJgAACzvnptvVoYEL", false, false, true,
     {4050, 3000, 1000, 200, 0}, NULL, NULL, false},
    {"anthropic_max_tokens.json", PROVIDER_ANTHROPIC, 200, SL_OK,
     "{\"text\": \"In summary, the", "msg_01MaxTokens", true, false, true,
     {400, 0, 0, 64, 0}, NULL, NULL, false},
    {"anthropic_refusal.json", PROVIDER_ANTHROPIC, 200, SL_OK, NULL,
     "msg_01Refusal", false, true, true, {80, 0, 0, 0, 0}, NULL, NULL, false},
    {"anthropic_529_overloaded.json", PROVIDER_ANTHROPIC, 529, SL_OK, NULL,
     NULL, false, false, false, {0, 0, 0, 0, 0}, "overloaded_error",
     "Overloaded", false},
    {"anthropic_429_rate_limit.json", PROVIDER_ANTHROPIC, 429, SL_OK, NULL,
     NULL, false, false, false, {0, 0, 0, 0, 0}, "rate_limit_error",
     "per-minute rate limit", false},
    {"anthropic_429_spend_limit.json", PROVIDER_ANTHROPIC, 429, SL_OK, NULL,
     NULL, false, false, false, {0, 0, 0, 0, 0}, "rate_limit_error",
     "enforced spend limit", true},
    {"anthropic_no_content.json", PROVIDER_ANTHROPIC, 200, SL_EINVAL, NULL,
     NULL, false, false, false, {0, 0, 0, 0, 0}, NULL, NULL, false},
    {"openai_ok_cached.json", PROVIDER_ANTHROPIC, 200, SL_EINVAL, NULL, NULL,
     false, false, false, {0, 0, 0, 0, 0}, NULL, NULL, false},
    {"error_502.html", PROVIDER_ANTHROPIC, 502, SL_OK, NULL, NULL,
     false, false, false, {0, 0, 0, 0, 0}, "unparseable", "502 Bad Gateway",
     false},
};

static void check_str(const char *got, const char *want)
{
    if (want)
        assert_string_equal(got, want);
    else
        assert_null(got);
}

static void check_case(const struct parse_case *c, const struct llm_response *r)
{
    assert_int_equal(r->http_status, c->status);
    check_str(r->content, c->content);
    check_str(r->response_id, c->id);
    check_str(r->error_type, c->error_type);
    if (c->error_msg_part) {
        assert_non_null(r->error_message);
        assert_non_null(strstr(r->error_message, c->error_msg_part));
        assert_null(strchr(r->error_message, '\n'));
    }
    assert_int_equal(r->truncated, c->truncated);
    assert_int_equal(r->refused, c->refused);
    assert_int_equal(r->no_retry, c->no_retry);
    assert_int_equal(r->has_usage, c->has_usage);
    assert_int_equal(r->usage.input_tokens, c->usage.input_tokens);
    assert_int_equal(r->usage.cached_tokens, c->usage.cached_tokens);
    assert_int_equal(r->usage.cache_write_tokens, c->usage.cache_write_tokens);
    assert_int_equal(r->usage.output_tokens, c->usage.output_tokens);
}

static void test_parse_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        size_t len;
        char *body = fixture_read(c->file, &len);
        struct llm_response r;
        char err[128] = "";
        print_message("case %zu: %s\n", i, c->file);
        int rc = provider_parse_response(c->kind, c->status, body, len, &r,
                                         err, sizeof(err));
        assert_int_equal(rc, c->rc);
        if (rc != SL_OK)
            assert_true(err[0] != '\0');
        check_case(c, &r);
        llm_response_clear(&r);
        free(body);
    }
}

static void test_parse_respects_len(void **state)
{
    (void)state;
    /* Only len bytes count: a valid body cut short is malformed. */
    size_t len;
    char *body = fixture_read("anthropic_ok_cache.json", &len);
    struct llm_response r;
    char err[128] = "";
    assert_int_equal(provider_parse_response(PROVIDER_ANTHROPIC, 200, body,
                                             len / 2, &r, err, sizeof(err)),
                     SL_EINVAL);
    assert_null(r.content);
    llm_response_clear(&r);
    free(body);
}

static void test_usage_clamped(void **state)
{
    (void)state;
    /* A server claiming more cached than total input is not believed. */
    const char *body =
        "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"{}\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,"
        "\"completion_tokens\":-5,\"prompt_tokens_details\":"
        "{\"cached_tokens\":25}}}";
    struct llm_response r;
    char err[128];
    assert_int_equal(provider_parse_response(PROVIDER_OPENAI, 200, body,
                                             strlen(body), &r, err,
                                             sizeof(err)), SL_OK);
    assert_int_equal(r.usage.input_tokens, 10);
    assert_int_equal(r.usage.cached_tokens, 10);
    assert_int_equal(r.usage.output_tokens, 0);
    llm_response_clear(&r);
}

static void test_clear_helpers(void **state)
{
    (void)state;
    llm_response_clear(NULL);
    llm_answer_clear(NULL);
    struct llm_answer a = {.label = strdup("x"), .data = cJSON_CreateObject(),
                           .text = strdup("t"), .confidence = 0.5,
                           .has_confidence = true};
    llm_answer_clear(&a);
    assert_null(a.label);
    assert_null(a.data);
    assert_null(a.text);
    assert_false(a.has_confidence);
}

/* provider_estimate_request: characters of system + messages / 4 rounded
 * up (code points, as the emulator counts), max tokens as output. */
static void test_estimate_request(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int rc;
        int64_t in, out;
    } cases[] = {
        {"{\"messages\":[{\"role\":\"system\",\"content\":\"abcd\"},"
         "{\"role\":\"user\",\"content\":\"efghi\"}],\"max_completion_tokens\":64}",
         SL_OK, 3, 64},                                /* 9 chars -> 3 */
        {"{\"system\":\"abc\",\"messages\":[{\"role\":\"user\",\"content\":"
         "[{\"type\":\"text\",\"text\":\"\u00e9t\u00e9\"}]}],\"max_tokens\":16}",
         SL_OK, 2, 16},                                /* 3 + 3 code points */
        {"{\"messages\":[]}", SL_OK, 0, 0},
        {"not json", SL_EINVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_usage u;
        int rc = provider_estimate_request(cases[i].body, strlen(cases[i].body), &u);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(u.input_tokens, cases[i].in);
        assert_int_equal(u.output_tokens, cases[i].out);
    }
}

/* The bound read off a request's tree while it is built equals the
 * estimate parsed back from the printed body, for both providers, flex or
 * not, with non-ASCII input. */
static void test_body_bound(void **state)
{
    (void)state;
    const struct provider_conf *confs[] = {&openai_conf, &anthropic_conf};
    const struct task_conf *tasks[] = {&label_task, &json_task};
    const char *input = "Where is my card? \u00e9t\u00e9 \xe2\x82\xac 42";
    for (size_t c = 0; c < 2; c++)
        for (size_t t = 0; t < 2; t++)
            for (int flex = 0; flex < 2; flex++) {
                struct llm_usage tree, parsed;
                char *body = provider_request_body_ex(confs[c], tasks[t], "m", input,
                                                      strlen(input), flex, &tree);
                assert_int_equal(provider_estimate_request(body, strlen(body), &parsed),
                                 SL_OK);
                assert_true(tree.input_tokens > 10);
                assert_int_equal(tree.input_tokens, parsed.input_tokens);
                assert_int_equal(tree.output_tokens, tasks[t]->max_output_tokens);
                assert_int_equal(tree.output_tokens, parsed.output_tokens);
                free(body);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_name_and_url),
        cmocka_unit_test(test_render_prompt),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_openai_body),
        cmocka_unit_test(test_anthropic_body),
        cmocka_unit_test(test_output_instruction_by_type),
        cmocka_unit_test(test_parse_fixtures),
        cmocka_unit_test(test_parse_respects_len),
        cmocka_unit_test(test_usage_clamped),
        cmocka_unit_test(test_clear_helpers),
        cmocka_unit_test(test_estimate_request),
        cmocka_unit_test(test_body_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
