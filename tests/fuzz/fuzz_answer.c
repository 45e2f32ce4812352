/* sources: lib/provider/answer.c lib/escalate.c lib/jsonschema.c lib/utf8.c lib/provider/llm.c lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* A model's free-form content (the input, as is): answer_find_object's
 * fence and brace scan, then escalate_judge of a 200 response with that
 * content for a label, a json and a text task. Checks escalate.h's
 * promises: a one-line printable detail, an answer only on ACCEPT and
 * LOW_CONFIDENCE, exactly one of label/data/text, confidence in [0, 1]. */
#include <math.h>
#include <stdint.h>

#include "escalate.h"
#include "fuzz_tasks.h"
#include "fuzz_util.h"
#include "provider/answer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct config *cfg = fuzz_config();
    char *content = fuzz_cstr(data, size);

    cJSON *obj = answer_find_object(content);
    FUZZ_CHECK(obj == NULL || cJSON_IsObject(obj));
    cJSON_Delete(obj);

    struct llm_response resp = {.http_status = 200, .content = content};
    for (size_t t = 0; t < cfg->n_tasks; t++) {
        const struct task_conf *task = &cfg->tasks[t];
        struct llm_answer a;
        char detail[256];
        detail[0] = '\0';
        enum verdict v = escalate_judge(task, &resp, &a, detail, sizeof(detail));
        FUZZ_CHECK(fuzz_printable(detail));
        if (v == VERDICT_ACCEPT || v == VERDICT_LOW_CONFIDENCE) {
            int set = (a.label != NULL) + (a.data != NULL) + (a.text != NULL);
            FUZZ_CHECK(set == 1);
            FUZZ_CHECK(a.confidence >= 0 && a.confidence <= 1);
            if (task->output == OUTPUT_LABEL) {
                bool known = false;
                for (size_t i = 0; a.label && i < task->n_labels; i++)
                    known = known || strcmp(a.label, task->labels[i]) == 0;
                FUZZ_CHECK(known);
            }
        } else {
            FUZZ_CHECK(!a.label && !a.data && !a.text);
        }
        llm_answer_clear(&a);
    }
    free(content);
    return 0;
}
