/* sources: lib/escalate.c lib/provider/answer.c lib/jsonschema.c lib/utf8.c lib/provider/llm.c lib/sl.c */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "escalate.h"

static char *label_set[] = {"billing", "Refund", "tech_support"};

static struct task_conf label_task = {
    .name = "intent",
    .output = OUTPUT_LABEL,
    .labels = label_set,
    .n_labels = 3,
    .confidence_threshold = 0.7,
    .max_output_tokens = 64,
};

static struct task_conf json_task = {
    .name = "extract",
    .output = OUTPUT_JSON,
    .confidence_threshold = 0.6,
    .max_output_tokens = 256,
};

static struct task_conf text_task = {
    .name = "summary",
    .output = OUTPUT_TEXT,
    .confidence_threshold = 0.5,
    .max_output_tokens = 512,
};

/* Threshold 0: any valid answer is good enough, confidence or not. */
static struct task_conf text_task_no_threshold = {
    .name = "free",
    .output = OUTPUT_TEXT,
    .confidence_threshold = 0.0,
    .max_output_tokens = 512,
};

static const char order_schema[] =
    "{\"type\":\"object\",\"required\":[\"order_id\"],"
    "\"properties\":{\"order_id\":{\"type\":\"string\"},"
    "\"qty\":{\"type\":\"integer\",\"minimum\":1}}}";

static int setup(void **state)
{
    (void)state;
    json_task.schema = cJSON_Parse(order_schema);
    return json_task.schema ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(json_task.schema);
    json_task.schema = NULL;
    return 0;
}

enum flags { F_NONE = 0, F_REFUSED = 1, F_TRUNCATED = 2 };

/* One reply and what the judge must make of it. For ACCEPT and
 * LOW_CONFIDENCE, want is the stored label or text, or the compact JSON of
 * data; confidence and has_conf are the stored confidence. */
struct judge_case {
    const char *name;
    const struct task_conf *task;
    long status;
    int flags;
    const char *content;
    enum verdict verdict;
    const char *want;
    double confidence;
    bool has_conf;
};

static const struct judge_case cases[] = {
    /* label task */
    {"label accept", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":0.91}", VERDICT_ACCEPT, "billing", 0.91, true},
    {"label case and space canonicalised", &label_task, 200, F_NONE,
     "```json\n{\"label\":\"  REFUND \\n\",\"confidence\":0.8}\n```", VERDICT_ACCEPT,
     "Refund", 0.8, true},
    {"label Tech_Support", &label_task, 200, F_NONE,
     "Answer: {\"label\":\"Tech_Support\",\"confidence\":1}", VERDICT_ACCEPT,
     "tech_support", 1.0, true},
    {"label string confidence", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":\" 0.75 \"}", VERDICT_ACCEPT, "billing",
     0.75, true},
    {"label confidence exactly threshold", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":0.7}", VERDICT_ACCEPT, "billing", 0.7, true},
    {"label low confidence", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":0.69}", VERDICT_LOW_CONFIDENCE, "billing",
     0.69, true},
    {"label no confidence", &label_task, 200, F_NONE, "{\"label\":\"billing\"}",
     VERDICT_LOW_CONFIDENCE, "billing", 0.0, false},
    {"label confidence above 1", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":1.5}", VERDICT_LOW_CONFIDENCE, "billing",
     0.0, false},
    {"label confidence negative", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":-0.1}", VERDICT_LOW_CONFIDENCE, "billing",
     0.0, false},
    {"label confidence junk string", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":\"0.9x\"}", VERDICT_LOW_CONFIDENCE,
     "billing", 0.0, false},
    {"label confidence wrong type", &label_task, 200, F_NONE,
     "{\"label\":\"billing\",\"confidence\":true}", VERDICT_LOW_CONFIDENCE, "billing",
     0.0, false},
    {"label not in set", &label_task, 200, F_NONE,
     "{\"label\":\"shipping\",\"confidence\":0.99}", VERDICT_LABEL_NOT_IN_SET, NULL, 0,
     false},
    {"label prefix is not a match", &label_task, 200, F_NONE,
     "{\"label\":\"bill\",\"confidence\":0.99}", VERDICT_LABEL_NOT_IN_SET, NULL, 0, false},
    {"label empty", &label_task, 200, F_NONE, "{\"label\":\"  \",\"confidence\":0.99}",
     VERDICT_EMPTY, NULL, 0, false},
    {"label null", &label_task, 200, F_NONE, "{\"label\":null,\"confidence\":0.99}",
     VERDICT_EMPTY, NULL, 0, false},
    {"label missing", &label_task, 200, F_NONE, "{\"intent\":\"billing\"}",
     VERDICT_UNPARSEABLE, NULL, 0, false},
    {"label not a string", &label_task, 200, F_NONE, "{\"label\":[\"billing\"]}",
     VERDICT_UNPARSEABLE, NULL, 0, false},
    {"label no object", &label_task, 200, F_NONE, "billing", VERDICT_UNPARSEABLE, NULL,
     0, false},
    {"label refusal", &label_task, 200, F_REFUSED, "I can't help with that.",
     VERDICT_REFUSAL, NULL, 0, false},
    {"refusal before truncation", &label_task, 200, F_REFUSED | F_TRUNCATED, NULL,
     VERDICT_REFUSAL, NULL, 0, false},
    {"label truncated", &label_task, 200, F_TRUNCATED,
     "{\"label\":\"billing\",\"confidence\":0.9}", VERDICT_LENGTH_CAP, NULL, 0, false},
    {"label null content", &label_task, 200, F_NONE, NULL, VERDICT_EMPTY, NULL, 0, false},
    {"label blank content", &label_task, 200, F_NONE, " \n\t ", VERDICT_EMPTY, NULL, 0,
     false},
    {"non-200 is a provider failure", &label_task, 500, F_NONE, NULL,
     VERDICT_PROVIDER_FAILED, NULL, 0, false},

    /* json task */
    {"json accept", &json_task, 200, F_NONE,
     "```json\n{\"data\":{\"order_id\":\"A1\",\"qty\":2},\"confidence\":0.9}\n```",
     VERDICT_ACCEPT, "{\"order_id\":\"A1\",\"qty\":2}", 0.9, true},
    {"json low confidence", &json_task, 200, F_NONE,
     "{\"data\":{\"order_id\":\"A1\"},\"confidence\":0.2}", VERDICT_LOW_CONFIDENCE,
     "{\"order_id\":\"A1\"}", 0.2, true},
    {"json schema mismatch", &json_task, 200, F_NONE,
     "{\"data\":{\"order_id\":7},\"confidence\":0.9}", VERDICT_SCHEMA_MISMATCH, NULL, 0,
     false},
    {"json schema missing required", &json_task, 200, F_NONE,
     "{\"data\":{\"qty\":1},\"confidence\":0.9}", VERDICT_SCHEMA_MISMATCH, NULL, 0, false},
    {"json empty data", &json_task, 200, F_NONE, "{\"data\":{},\"confidence\":0.9}",
     VERDICT_EMPTY, NULL, 0, false},
    {"json null data", &json_task, 200, F_NONE, "{\"data\":null,\"confidence\":0.9}",
     VERDICT_EMPTY, NULL, 0, false},
    {"json data is an array", &json_task, 200, F_NONE,
     "{\"data\":[{\"order_id\":\"A1\"}],\"confidence\":0.9}", VERDICT_UNPARSEABLE, NULL,
     0, false},
    {"json data missing (bare object)", &json_task, 200, F_NONE,
     "{\"order_id\":\"A1\",\"confidence\":0.9}", VERDICT_UNPARSEABLE, NULL, 0, false},
    {"json unparseable", &json_task, 200, F_NONE, "{\"data\": {\"order_id\": \"A1\"",
     VERDICT_UNPARSEABLE, NULL, 0, false},
    {"json refusal", &json_task, 200, F_REFUSED, NULL, VERDICT_REFUSAL, NULL, 0, false},
    {"json truncated", &json_task, 200, F_TRUNCATED, "{\"data\":{\"order_id\":\"A",
     VERDICT_LENGTH_CAP, NULL, 0, false},
    {"json empty content", &json_task, 200, F_NONE, "", VERDICT_EMPTY, NULL, 0, false},

    /* text task */
    {"text accept", &text_task, 200, F_NONE,
     "Here you go:\n{\"text\":\"Customer wants a refund {order 12}.\",\"confidence\":0.8}",
     VERDICT_ACCEPT, "Customer wants a refund {order 12}.", 0.8, true},
    {"text low confidence", &text_task, 200, F_NONE,
     "{\"text\":\"maybe\",\"confidence\":\"0.1\"}", VERDICT_LOW_CONFIDENCE, "maybe", 0.1,
     true},
    {"text empty", &text_task, 200, F_NONE, "{\"text\":\" \\n \",\"confidence\":0.9}",
     VERDICT_EMPTY, NULL, 0, false},
    {"text not a string", &text_task, 200, F_NONE, "{\"text\":42,\"confidence\":0.9}",
     VERDICT_UNPARSEABLE, NULL, 0, false},
    {"text no object", &text_task, 200, F_NONE, "Just a plain summary.",
     VERDICT_UNPARSEABLE, NULL, 0, false},
    {"text refusal", &text_task, 200, F_REFUSED, "{\"text\":\"no\"}", VERDICT_REFUSAL,
     NULL, 0, false},
    {"text truncated", &text_task, 200, F_TRUNCATED, "{\"text\":\"long",
     VERDICT_LENGTH_CAP, NULL, 0, false},
    {"text null content", &text_task, 200, F_NONE, NULL, VERDICT_EMPTY, NULL, 0, false},
    {"text threshold 0 needs no confidence", &text_task_no_threshold, 200, F_NONE,
     "{\"text\":\"ok\"}", VERDICT_ACCEPT, "ok", 0.0, false},
};

static void check_answer(const struct judge_case *c, const struct llm_answer *a)
{
    if (c->verdict != VERDICT_ACCEPT && c->verdict != VERDICT_LOW_CONFIDENCE) {
        if (a->label || a->data || a->text || a->has_confidence || a->confidence != 0)
            fail_msg("%s: answer not left empty", c->name);
        return;
    }
    switch (c->task->output) {
    case OUTPUT_LABEL:
        if (!a->label || strcmp(a->label, c->want) != 0 || a->data || a->text)
            fail_msg("%s: label %s, expected %s", c->name, a->label, c->want);
        break;
    case OUTPUT_TEXT:
        if (!a->text || strcmp(a->text, c->want) != 0 || a->data || a->label)
            fail_msg("%s: text %s, expected %s", c->name, a->text, c->want);
        break;
    case OUTPUT_JSON: {
        char *got = a->data ? cJSON_PrintUnformatted(a->data) : NULL;
        if (!got || strcmp(got, c->want) != 0 || a->label || a->text)
            fail_msg("%s: data %s, expected %s", c->name, got, c->want);
        free(got);
        break;
    }
    }
    if (a->has_confidence != c->has_conf || a->confidence != c->confidence)
        fail_msg("%s: confidence %g/%d, expected %g/%d", c->name, a->confidence,
                 a->has_confidence, c->confidence, c->has_conf);
}

static void test_judge_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        const struct judge_case *c = &cases[i];
        struct llm_response resp = {
            .http_status = c->status,
            .content = (char *)c->content,
            .refused = c->flags & F_REFUSED,
            .truncated = c->flags & F_TRUNCATED,
        };
        struct llm_answer answer;
        char detail[200] = "unset";

        enum verdict v = escalate_judge(c->task, &resp, &answer, detail, sizeof(detail));
        if (v != c->verdict)
            fail_msg("%s: verdict %s (%s), expected %s", c->name, verdict_name(v),
                     detail, verdict_name(c->verdict));
        check_answer(c, &answer);
        if (strchr(detail, '\n') || strcmp(detail, "unset") == 0 || !detail[0])
            fail_msg("%s: bad detail \"%s\"", c->name, detail);
        llm_answer_clear(&answer);
    }
}

/* The detail names the reason in one printable line and never carries the
 * whole content, however long or binary the model's label is. */
static void test_detail_is_short_and_safe(void **state)
{
    (void)state;
    char content[2048];
    char label[1500];
    memset(label, 'x', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    label[3] = '\t';
    label[5] = (char)0xC3;
    snprintf(content, sizeof(content), "{\"label\":\"%s\",\"confidence\":0.9}", label);
    struct llm_response resp = {.http_status = 200, .content = content};
    struct llm_answer answer;
    char detail[512];

    assert_int_equal(escalate_judge(&label_task, &resp, &answer, detail, sizeof(detail)),
                     VERDICT_LABEL_NOT_IN_SET);
    assert_true(strlen(detail) < 100);
    assert_non_null(strstr(detail, "xxx?x?xx"));
    for (const char *p = detail; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);

    resp.content = "{\"data\":{\"order_id\":7},\"confidence\":0.9}";
    assert_int_equal(escalate_judge(&json_task, &resp, &answer, detail, sizeof(detail)),
                     VERDICT_SCHEMA_MISMATCH);
    assert_non_null(strstr(detail, "$.order_id: expected string"));

    /* A NULL detail buffer is allowed. */
    assert_int_equal(escalate_judge(&json_task, &resp, &answer, NULL, 0),
                     VERDICT_SCHEMA_MISMATCH);
}

static void test_verdict_names(void **state)
{
    (void)state;
    static const struct {
        enum verdict v;
        const char *name;
    } names[] = {
        {VERDICT_ACCEPT, "accept"},
        {VERDICT_LOW_CONFIDENCE, "low_confidence"},
        {VERDICT_EMPTY, "empty"},
        {VERDICT_REFUSAL, "refusal"},
        {VERDICT_LENGTH_CAP, "length_cap"},
        {VERDICT_UNPARSEABLE, "unparseable"},
        {VERDICT_LABEL_NOT_IN_SET, "label_not_in_set"},
        {VERDICT_SCHEMA_MISMATCH, "schema_mismatch"},
        {VERDICT_PROVIDER_FAILED, "provider_failed"},
        {(enum verdict)99, "unknown"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++)
        assert_string_equal(verdict_name(names[i].v), names[i].name);
}

static void test_should_climb(void **state)
{
    (void)state;
    for (int v = VERDICT_ACCEPT; v <= VERDICT_PROVIDER_FAILED; v++) {
        bool middle = escalate_should_climb((enum verdict)v, false);
        bool last = escalate_should_climb((enum verdict)v, true);
        if (middle != (v != VERDICT_ACCEPT))
            fail_msg("%s: middle tier climb %d", verdict_name((enum verdict)v), middle);
        bool want_last = v != VERDICT_ACCEPT && v != VERDICT_LOW_CONFIDENCE;
        if (last != want_last)
            fail_msg("%s: last tier climb %d", verdict_name((enum verdict)v), last);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge_table),
        cmocka_unit_test(test_detail_is_short_and_safe),
        cmocka_unit_test(test_verdict_names),
        cmocka_unit_test(test_should_climb),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
