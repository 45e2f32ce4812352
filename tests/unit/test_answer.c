/* sources: lib/provider/answer.c */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "provider/answer.h"

/* Each case: model content and the compact JSON the finder must return, or
 * NULL when it must find nothing. */
static const struct {
    const char *name;
    const char *content;
    const char *expect;
} cases[] = {
    {"bare object", "{\"label\":\"billing\",\"confidence\":0.9}",
     "{\"label\":\"billing\",\"confidence\":0.9}"},
    {"json fence", "```json\n{\"label\":\"a\"}\n```", "{\"label\":\"a\"}"},
    {"plain fence", "```\n{\"label\":\"a\"}\n```", "{\"label\":\"a\"}"},
    {"fence on one line", "```{\"label\":\"a\"}```", "{\"label\":\"a\"}"},
    {"unclosed fence (truncated)", "```json\n{\"label\":\"a\"}\n",
     "{\"label\":\"a\"}"},
    {"fenced answer beats example in prose",
     "Format: {\"label\":\"example\"}\n```json\n{\"label\":\"real\"}\n```",
     "{\"label\":\"real\"}"},
    {"prose before and after",
     "Sure! Here is the answer: {\"label\":\"a\",\"confidence\":1} Hope it helps.",
     "{\"label\":\"a\",\"confidence\":1}"},
    {"prose braces that are not JSON first",
     "I think {this} is it: {\"label\":\"a\"}", "{\"label\":\"a\"}"},
    {"braces inside strings",
     "{\"text\":\"use } and { and {{\",\"n\":{\"k\":\"}\"}} trailing }",
     "{\"text\":\"use } and { and {{\",\"n\":{\"k\":\"}\"}}"},
    {"escaped quotes",
     "x {\"text\":\"she said \\\"}\\\" then left\",\"confidence\":0.5} y",
     "{\"text\":\"she said \\\"}\\\" then left\",\"confidence\":0.5}"},
    {"escaped backslash before closing quote",
     "{\"text\":\"path C:\\\\\",\"k\":1}", "{\"text\":\"path C:\\\\\",\"k\":1}"},
    {"nested object", "{\"data\":{\"a\":{\"b\":[1,{\"c\":2}]}}}",
     "{\"data\":{\"a\":{\"b\":[1,{\"c\":2}]}}}"},
    {"two objects: first wins", "{\"label\":\"first\"} {\"label\":\"second\"}",
     "{\"label\":\"first\"}"},
    {"broken first, good second", "{\"label\": oops} {\"label\":\"ok\"}",
     "{\"label\":\"ok\"}"},
    {"unclosed first, nested good", "{ {\"label\":\"ok\"}", "{\"label\":\"ok\"}"},
    {"no object", "I cannot classify this input.", NULL},
    {"array only", "[\"billing\", \"refund\"]", NULL},
    {"array of scalars", "[1, 2, 3]", NULL},
    {"unbalanced", "{\"label\":\"a\"", NULL},
    {"empty", "", NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *got = answer_find_object(cases[i].content);
        if (!cases[i].expect) {
            if (got)
                fail_msg("%s: expected nothing, got an object", cases[i].name);
            continue;
        }
        if (!got)
            fail_msg("%s: expected an object, got NULL", cases[i].name);
        char *text = cJSON_PrintUnformatted(got);
        if (strcmp(text, cases[i].expect) != 0)
            fail_msg("%s: got %s, expected %s", cases[i].name, text, cases[i].expect);
        free(text);
        cJSON_Delete(got);
    }
}

static void test_null_content(void **state)
{
    (void)state;
    assert_null(answer_find_object(NULL));
}

/* The contract asks for an object; a model that wraps it in an array still
 * gave one, and the first balanced {...} rule takes it. */
static void test_object_inside_array_is_found(void **state)
{
    (void)state;
    cJSON *got = answer_find_object("[{\"label\":\"a\"}, {\"label\":\"b\"}]");
    assert_non_null(got);
    assert_string_equal(cJSON_GetObjectItem(got, "label")->valuestring, "a");
    cJSON_Delete(got);
}

static char *braces_then_answer(size_t n_braces)
{
    static const char answer[] = "{\"label\":\"late\"}";
    char *content = malloc(n_braces + sizeof(answer));
    memset(content, '{', n_braces);
    memcpy(content + n_braces, answer, sizeof(answer));
    return content;
}

/* Every stray '{' opens a candidate that never closes. A few are skipped;
 * past the budget the scan gives up instead of going quadratic. */
static void test_candidate_budget(void **state)
{
    (void)state;
    char *few = braces_then_answer(ANSWER_MAX_CANDIDATES - 10);
    char *many = braces_then_answer(200000);
    cJSON *got = answer_find_object(few);
    assert_non_null(got);
    cJSON_Delete(got);
    assert_null(answer_find_object(many));
    free(few);
    free(many);
}

/* A run of fences on one line, the answer in the last (unclosed) block.
 * Each fence used to search for a newline to the end of the content, so
 * this took 2 s per MB and grew with the square of the length (found
 * while writing the fuzz harness); now it is one pass. 1 MB must take well under a second of CPU,
 * sanitizers included. */
static void test_fence_run_is_linear(void **state)
{
    (void)state;
    const size_t fences = 333333; /* odd: the last block stays open */
    const char *answer = "{\"label\": \"x\"}";
    size_t len = fences * 3 + strlen(answer);
    char *content = malloc(len + 1);
    assert_non_null(content);
    memset(content, '`', fences * 3);
    strcpy(content + fences * 3, answer);
    clock_t start = clock();
    cJSON *got = answer_find_object(content);
    double cpu_s = (double)(clock() - start) / CLOCKS_PER_SEC;
    assert_non_null(got);
    assert_string_equal(cJSON_GetObjectItem(got, "label")->valuestring, "x");
    assert_true(cpu_s < 0.5);
    cJSON_Delete(got);
    free(content);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_null_content),
        cmocka_unit_test(test_object_inside_array_is_found),
        cmocka_unit_test(test_candidate_budget),
        cmocka_unit_test(test_fence_run_is_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
