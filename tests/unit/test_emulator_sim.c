/* sources: ops/emulator/sim.c ops/emulator/gold.c ops/emulator/util.c */
/* test_emulator_sim.c — the emulator's deterministic model simulation:
 * prompt parsing, gold lookup, answer determinism and rates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ops/emulator/sim.h"
#include "../../ops/emulator/util.h"

static const char *const LABELS[] = {"refund", "billing", "shipping", "other"};

static struct emu_model model(double accuracy)
{
    return (struct emu_model){.name = "m", .accuracy = accuracy, .conf_correct = {0.7, 0.99},
                              .conf_wrong = {0.3, 0.6}};
}

static void add_gold(struct emu_gold *g, const char *text, const char *label)
{
    char **labels = emu_xcalloc(2, sizeof(*labels));
    labels[0] = emu_xstrdup("high");
    labels[1] = emu_xstrdup(label);
    emu_gold_add(g, text, labels, 2, NULL);
}

/* Parses the answer, stripping a fence; returns the object. */
static cJSON *parse_answer(const char *content)
{
    const char *start = strncmp(content, "```json\n", 8) == 0 ? content + 8 : content;
    return cJSON_ParseWithLength(start, strlen(start) - (start != content ? 4 : 0));
}

static char *label_of(const struct emu_model *m, const struct emu_gold *g, const char *prompt, double *conf)
{
    struct emu_task t;
    struct emu_draws d;
    emu_task_parse(prompt, &t);
    emu_task_draws(m->name, &t, &d);
    char *content = emu_answer(m, g, &t, &d);
    cJSON *o = parse_answer(content);
    assert_non_null(o);
    char *label = emu_xstrdup(cJSON_GetObjectItem(o, "label")->valuestring);
    *conf = cJSON_GetObjectItem(o, "confidence")->valuedouble;
    cJSON_Delete(o);
    free(content);
    emu_task_free(&t);
    return label;
}

static void test_parse_tags(void **state)
{
    struct emu_task t;
    (void)state;
    emu_task_parse("Pick one.\n<labels>a,  b , c</labels>\n<input>\n text with </input> inside </input>", &t);
    assert_int_equal(t.kind, EMU_TASK_LABEL);
    assert_string_equal(t.input, "text with </input> inside");
    assert_int_equal(t.n_labels, 3);
    assert_string_equal(t.labels_key, "a, b, c");
    emu_task_free(&t);
    emu_task_parse("<input>ignore <labels>x</labels></input> <schema>{\"required\":[\"a\"]}</schema>", &t);
    assert_int_equal(t.kind, EMU_TASK_JSON);
    assert_non_null(t.schema);
    emu_task_free(&t);
    emu_task_parse("just text", &t);
    assert_int_equal(t.kind, EMU_TASK_TEXT);
    assert_string_equal(t.input, "just text");
    emu_task_free(&t);
}

static void test_gold_lookup(void **state)
{
    struct emu_gold g = {0};
    char text[64];
    (void)state;
    for (int i = 0; i < 5000; i++) {
        snprintf(text, sizeof(text), "ticket %d", i);
        add_gold(&g, text, LABELS[i % 4]);
    }
    add_gold(&g, "ticket 7", "other"); /* a repeated text keeps the first */
    assert_int_equal(g.n, 5000);
    assert_string_equal(emu_gold_find(&g, "ticket 7")->labels[1], LABELS[3]);
    assert_string_equal(emu_gold_find(&g, "ticket 4242")->labels[1], LABELS[2]);
    assert_null(emu_gold_find(&g, "ticket 5000"));
    emu_gold_free(&g);
}

/* Accuracy is honoured as a rate, wrong answers stay in the set, and the
 * same prompt always gets the same answer. */
static void test_label_rates(void **state)
{
    struct emu_gold g = {0};
    struct emu_model m = model(0.8);
    char text[64], prompt[256];
    int correct = 0, n = 4000;
    (void)state;
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "ticket %d", i);
        add_gold(&g, text, LABELS[i % 4]);
    }
    for (int i = 0; i < n; i++) {
        double c1, c2;
        snprintf(prompt, sizeof(prompt), "<labels>refund, billing, shipping, other</labels><input>ticket %d</input>", i);
        char *a = label_of(&m, &g, prompt, &c1), *b = label_of(&m, &g, prompt, &c2);
        assert_string_equal(a, b);
        assert_true(c1 == c2);
        bool ok = strcmp(a, LABELS[i % 4]) == 0;
        correct += ok;
        assert_true(ok ? c1 >= 0.7 && c1 <= 0.99 : c1 >= 0.3 && c1 <= 0.6);
        free(a);
        free(b);
    }
    assert_in_range(correct, (int)(0.77 * n), (int)(0.83 * n));
    emu_gold_free(&g);
}

static void test_fence_rate_and_truncation(void **state)
{
    struct emu_model m = model(1.0);
    struct emu_gold g = {0};
    char prompt[128];
    int fenced = 0, n = 4000;
    (void)state;
    for (int i = 0; i < n; i++) {
        struct emu_task t;
        struct emu_draws d;
        snprintf(prompt, sizeof(prompt), "<input>some text number %d</input>", i);
        emu_task_parse(prompt, &t);
        emu_task_draws(m.name, &t, &d);
        char *content = emu_answer(&m, &g, &t, &d);
        fenced += strncmp(content, "```json", 7) == 0;
        bool cut;
        long out = emu_limit_output(content, 2, &cut);
        assert_true(cut);
        assert_int_equal(out, 2);
        assert_int_equal(emu_utf8_chars(content), 8);
        free(content);
        emu_task_free(&t);
    }
    assert_in_range(fenced, (int)(0.08 * n), (int)(0.12 * n));
}

static void test_json_wrong_drops_required(void **state)
{
    struct emu_model m = model(0.0);
    struct emu_gold g = {0};
    struct emu_task t;
    struct emu_draws d;
    (void)state;
    emu_task_parse("<schema>{\"required\":[\"a\",\"b\"],\"properties\":{\"b\":{\"type\":\"integer\"}}}</schema>"
                   "<input>x</input>", &t);
    emu_task_draws(m.name, &t, &d);
    char *content = emu_answer(&m, &g, &t, &d);
    cJSON *o = parse_answer(content), *data = cJSON_GetObjectItem(o, "data");
    assert_int_equal(cJSON_GetArraySize(data), 1);
    cJSON_Delete(o);
    free(content);
    m.accuracy = 1.0;
    content = emu_answer(&m, &g, &t, &d);
    o = parse_answer(content);
    data = cJSON_GetObjectItem(o, "data");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(data, "a")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(data, "b")));
    cJSON_Delete(o);
    free(content);
    emu_task_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_tags),
        cmocka_unit_test(test_gold_lookup),
        cmocka_unit_test(test_label_rates),
        cmocka_unit_test(test_fence_rate_and_truncation),
        cmocka_unit_test(test_json_wrong_drops_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
