/* sources: ops/emulator/sim.c ops/emulator/confusion.c ops/emulator/gold.c ops/emulator/util.c */
/* test_emulator_sim.c — the emulator's deterministic model simulation:
 * prompt parsing, gold lookup, answer determinism and rates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ops/emulator/confusion.h"
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

/* Labels shaped like banking77's: words shared between neighbours. */
static const char *const BANK[] = {"card_arrival", "card_delivery_estimate", "card_linking",
                                   "lost_or_stolen_card", "transfer_timing", "pending_transfer",
                                   "failed_transfer", "top_up_failed", "pending_top_up", "exchange_rate",
                                   "wrong_exchange_rate_for_cash_withdrawal", "atm_support"};
#define N_BANK (sizeof(BANK) / sizeof(BANK[0]))
#define BANK_PROMPT "<labels>card_arrival, card_delivery_estimate, card_linking, lost_or_stolen_card, " \
    "transfer_timing, pending_transfer, failed_transfer, top_up_failed, pending_top_up, exchange_rate, " \
    "wrong_exchange_rate_for_cash_withdrawal, atm_support</labels><input>message %d</input>"

static struct emu_model shared_model(const char *name, double skill, const struct emu_sim *sim)
{
    return (struct emu_model){.name = (char *)name, .accuracy = skill, .conf_correct = {0.3, 0.99},
                              .conf_wrong = {0.3, 0.99}, .calibration = 1.0, .sim = sim};
}

static void bank_gold(struct emu_gold *g, int n)
{
    char text[64];
    for (int i = 0; i < n; i++) {
        char **labels = emu_xcalloc(1, sizeof(*labels));
        labels[0] = emu_xstrdup(BANK[i % N_BANK]);
        snprintf(text, sizeof(text), "message %d", i);
        emu_gold_add(g, text, labels, 1, NULL);
    }
}

/* The difficulty is the input's alone: the same for every model, and
 * different models' noise keeps it apart from their own draws. */
static void test_shared_difficulty(void **state)
{
    struct emu_task t;
    struct emu_draws a, b;
    (void)state;
    emu_task_parse("<labels>x, y</labels><input>the same input</input>", &t);
    emu_task_draws("weak", &t, &a);
    emu_task_draws("strong", &t, &b);
    assert_true(a.difficulty == b.difficulty);
    assert_true(a.shared_pick == b.shared_pick);
    assert_true(a.correct != b.correct);
    emu_task_free(&t);
    emu_task_parse("<labels>x, y, z</labels><input>the same input</input>", &t);
    emu_task_draws("weak", &t, &b);
    assert_true(a.difficulty == b.difficulty); /* the labels do not change it */
    emu_task_free(&t);
}

/* Shared errors: each model keeps its accuracy, the stronger one is right
 * wherever the weaker one is (up to the noise), and the weaker one's errors
 * include nearly all of the stronger one's (correlated errors); with
 * independent errors they would overlap only by chance. */
static void test_shared_errors_nest(void **state)
{
    struct emu_sim sim = {.errors = EMU_ERRORS_SHARED, .noise = 0.02, .confusable = 3};
    struct emu_sim indep = {.errors = EMU_ERRORS_INDEPENDENT};
    struct emu_model weak = shared_model("weak", 0.70, &sim), strong = shared_model("strong", 0.90, &sim);
    struct emu_model iweak = shared_model("weak", 0.70, &indep), istrong = shared_model("strong", 0.90, &indep);
    struct emu_gold g = {0};
    char prompt[512];
    int n = 4000, weak_ok = 0, strong_ok = 0, weak_only = 0, both_wrong = 0, ind_both_wrong = 0;
    double conf;
    (void)state;
    bank_gold(&g, n);
    for (int i = 0; i < n; i++) {
        snprintf(prompt, sizeof(prompt), BANK_PROMPT, i);
        const char *gold = BANK[i % N_BANK];
        char *w = label_of(&weak, &g, prompt, &conf), *s = label_of(&strong, &g, prompt, &conf);
        char *iw = label_of(&iweak, &g, prompt, &conf), *is = label_of(&istrong, &g, prompt, &conf);
        bool wo = strcmp(w, gold) == 0, so = strcmp(s, gold) == 0;
        weak_ok += wo;
        strong_ok += so;
        weak_only += wo && !so;
        both_wrong += !wo && !so;
        ind_both_wrong += strcmp(iw, gold) != 0 && strcmp(is, gold) != 0;
        free(w);
        free(s);
        free(iw);
        free(is);
    }
    assert_in_range(weak_ok, (int)(0.67 * n), (int)(0.73 * n));
    assert_in_range(strong_ok, (int)(0.87 * n), (int)(0.93 * n));
    assert_true(weak_only < n / 100);                  /* only within the noise band */
    assert_true(both_wrong > (n - strong_ok) * 9 / 10); /* the strong model's errors are the weak one's */
    assert_true(ind_both_wrong < (n - strong_ok) / 2); /* independent: about 0.3 of them */
    emu_gold_free(&g);
}

/* A wrong label is one of the `confusable` labels whose names share the
 * most words with the right one, or the confusion map's; models agree on
 * it because it comes from the input's shared draw. */
static void test_wrong_labels_confusable(void **state)
{
    struct emu_confusion map = {.label = "atm_support", .near = (char *[]){"card_linking"}, .n_near = 1};
    struct emu_sim sim = {.errors = EMU_ERRORS_SHARED, .noise = 0.02, .confusable = 2, .map = &map, .n_map = 1};
    struct emu_model liar = shared_model("liar", 0.0, &sim), other = shared_model("other-liar", 0.0, &sim);
    struct emu_gold g = {0};
    char prompt[512];
    int n = 1200, agree = 0;
    double conf;
    (void)state;
    assert_true(emu_label_overlap("pending_top_up", "top_up_failed") > 0.4);
    assert_true(emu_label_overlap("card_arrival", "exchange_rate") == 0.0);
    bank_gold(&g, n);
    for (int i = 0; i < n; i++) {
        snprintf(prompt, sizeof(prompt), BANK_PROMPT, i);
        size_t gold = (size_t)i % N_BANK, near[2];
        char *a = label_of(&liar, &g, prompt, &conf), *b = label_of(&other, &g, prompt, &conf);
        size_t k = emu_confusable(&sim, (char *const *)BANK, N_BANK, gold, near, 2);
        assert_int_equal(k, 2);
        assert_true(strcmp(a, BANK[near[0]]) == 0 || strcmp(a, BANK[near[1]]) == 0);
        if (strcmp(BANK[gold], "pending_top_up") == 0)
            assert_true(strcmp(a, "top_up_failed") == 0 || strcmp(a, "pending_transfer") == 0);
        if (strcmp(BANK[gold], "atm_support") == 0)
            assert_string_equal(BANK[near[0]], "card_linking"); /* the map comes first */
        agree += strcmp(a, b) == 0;
        free(a);
        free(b);
    }
    assert_int_equal(agree, n);
    emu_gold_free(&g);
}

/* Calibration: with the same range for right and wrong answers, a
 * calibrated model's confidence still separates them (AUC near 1), an
 * uncalibrated one's does not (about 0.5). */
static double auc_of(double calibration)
{
    struct emu_sim sim = {.errors = EMU_ERRORS_SHARED, .noise = 0.02, .confusable = 3};
    struct emu_model m = shared_model("m", 0.8, &sim);
    struct emu_gold g = {0};
    char prompt[512];
    int n = 2000, n_right = 0, n_wrong = 0;
    double right[2000], wrong[2000];
    m.calibration = calibration;
    bank_gold(&g, n);
    for (int i = 0; i < n; i++) {
        double conf;
        snprintf(prompt, sizeof(prompt), BANK_PROMPT, i);
        char *a = label_of(&m, &g, prompt, &conf);
        if (strcmp(a, BANK[i % N_BANK]) == 0)
            right[n_right++] = conf;
        else
            wrong[n_wrong++] = conf;
        free(a);
    }
    emu_gold_free(&g);
    double above = 0;
    for (int i = 0; i < n_right; i++)
        for (int j = 0; j < n_wrong; j++)
            above += right[i] > wrong[j] ? 1.0 : right[i] == wrong[j] ? 0.5 : 0.0;
    return above / ((double)n_right * n_wrong);
}

static void test_confidence_calibration(void **state)
{
    (void)state;
    assert_true(auc_of(1.0) > 0.95);
    assert_true(auc_of(0.6) > 0.8);
    double none = auc_of(0.0);
    assert_true(none > 0.4 && none < 0.6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_tags),
        cmocka_unit_test(test_gold_lookup),
        cmocka_unit_test(test_label_rates),
        cmocka_unit_test(test_fence_rate_and_truncation),
        cmocka_unit_test(test_json_wrong_drops_required),
        cmocka_unit_test(test_shared_difficulty),
        cmocka_unit_test(test_shared_errors_nest),
        cmocka_unit_test(test_wrong_labels_confusable),
        cmocka_unit_test(test_confidence_calibration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
