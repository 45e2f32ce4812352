/* sources: lib/provider/provider.c lib/provider/prompt_shape.c lib/provider/provider_json.c lib/provider/provider_openai.c lib/provider/provider_anthropic.c lib/provider/llm.c lib/provider/answer.c lib/escalate.c lib/jsonschema.c lib/utf8.c lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* Provider response bodies: provider_parse_response for both kinds and
 * several statuses, then, for a parsed 200, escalate_judge on it for a
 * label, a json and a text task (the structured-answer extraction).
 * First input byte: bit 0 the kind (OpenAI / Anthropic), bits 1-3 the HTTP
 * status; the rest is the body. Checks provider.h's and escalate.h's
 * promises about what comes back. */
#include <stdint.h>

#include "escalate.h"
#include "fuzz_tasks.h"
#include "fuzz_util.h"
#include "provider/provider.h"

static const long statuses[8] = {200, 200, 200, 200, 429, 500, 529, 400};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct config *cfg = fuzz_config();
    enum provider_kind kind = (data[0] & 1) ? PROVIDER_ANTHROPIC : PROVIDER_OPENAI;
    long status = statuses[(data[0] >> 1) & 7];
    char *body = fuzz_bytes(data + 1, size - 1);

    struct llm_response resp;
    char err[256];
    err[0] = '\0';
    int rc = provider_parse_response(kind, status, body, size - 1, &resp, err,
                                     sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == SL_EINVAL);
    FUZZ_CHECK(resp.http_status == status);
    if (status != 200) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(resp.error_type != NULL);
        if (resp.error_message && strcmp(resp.error_type, "unparseable") == 0)
            FUZZ_CHECK(fuzz_no_controls(resp.error_message));
    } else if (rc != 0) {
        FUZZ_CHECK(resp.content == NULL && resp.response_id == NULL);
        FUZZ_CHECK(fuzz_printable(err));
    } else {
        FUZZ_CHECK(resp.content || resp.refused || resp.truncated);
    }
    if (resp.has_usage) {
        const struct llm_usage *u = &resp.usage;
        FUZZ_CHECK(u->input_tokens >= 0 && u->output_tokens >= 0);
        FUZZ_CHECK(u->cached_tokens >= 0 && u->cache_write_tokens >= 0);
        FUZZ_CHECK(u->cached_tokens + u->cache_write_tokens <= u->input_tokens);
    }

    for (size_t t = 0; t < cfg->n_tasks; t++) {
        struct llm_answer answer;
        char detail[256];
        detail[0] = '\0';
        enum verdict v = escalate_judge(&cfg->tasks[t], &resp, &answer, detail,
                                        sizeof(detail));
        FUZZ_CHECK(fuzz_printable(detail));
        FUZZ_CHECK(strcmp(verdict_name(v), "unknown") != 0);
        if (status != 200)
            FUZZ_CHECK(v == VERDICT_PROVIDER_FAILED);
        llm_answer_clear(&answer);
    }
    llm_response_clear(&resp);
    free(body);
    return 0;
}
