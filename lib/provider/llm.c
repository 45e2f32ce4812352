/* llm.c — destructors for the provider-neutral types of llm.h. */
#include "llm.h"

#include <stdlib.h>
#include <string.h>

void llm_response_clear(struct llm_response *resp)
{
    if (!resp)
        return;
    free(resp->content);
    free(resp->response_id);
    free(resp->error_type);
    free(resp->error_message);
    memset(resp, 0, sizeof(*resp));
}

void llm_answer_clear(struct llm_answer *answer)
{
    if (!answer)
        return;
    free(answer->label);
    cJSON_Delete(answer->data);
    free(answer->text);
    memset(answer, 0, sizeof(*answer));
}

struct llm_usage llm_response_usage(const struct llm_response *resp)
{
    return resp && resp->has_usage ? resp->usage : (struct llm_usage){0};
}
