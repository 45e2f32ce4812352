#include "escalate.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider/answer.h"
#include "jsonschema.h"

/* How much of a model-provided string (a rejected label) a detail shows. */
#define EXCERPT_MAX 40

static void set_detail(char *detail, size_t detail_size, const char *fmt, ...)
    SL_PRINTF(3, 4);
static void set_detail(char *detail, size_t detail_size, const char *fmt, ...)
{
    if (!detail || detail_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, detail_size, fmt, ap);
    va_end(ap);
}

/* Copies a short, printable-ASCII excerpt of model text: details end up in
 * logs and the ledger, where raw model bytes (newlines, invalid UTF-8) do
 * not belong. */
static void excerpt(char out[EXCERPT_MAX + 4], const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len && i < EXCERPT_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
    }
    strcpy(out + i, len > EXCERPT_MAX ? "..." : "");
}

/* Trims ASCII whitespace; returns the start and sets *len. */
static const char *trim(const char *s, size_t *len)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

static bool is_blank(const char *s)
{
    size_t len;
    return !s || (trim(s, &len), len == 0);
}

static enum verdict judge_label(const struct task_conf *task, const cJSON *obj,
                                struct llm_answer *out, char *detail,
                                size_t detail_size)
{
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(obj, "label");
    if (cJSON_IsNull(label) || (cJSON_IsString(label) && is_blank(label->valuestring))) {
        set_detail(detail, detail_size, "empty label");
        return VERDICT_EMPTY;
    }
    if (!cJSON_IsString(label)) {
        set_detail(detail, detail_size, "answer has no \"label\" string");
        return VERDICT_UNPARSEABLE;
    }
    size_t len;
    const char *given = trim(label->valuestring, &len);
    for (size_t i = 0; i < task->n_labels; i++) {
        const char *canon = task->labels[i];
        if (strlen(canon) == len && strncasecmp(canon, given, len) == 0) {
            out->label = xstrdup(canon);
            return VERDICT_ACCEPT;
        }
    }
    char shown[EXCERPT_MAX + 4];
    excerpt(shown, given, len);
    set_detail(detail, detail_size, "label \"%s\" not in the task's set", shown);
    return VERDICT_LABEL_NOT_IN_SET;
}

static enum verdict judge_json(const struct task_conf *task, cJSON *obj,
                               struct llm_answer *out, char *detail,
                               size_t detail_size)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
    if (cJSON_IsNull(data) || (cJSON_IsObject(data) && !data->child)) {
        set_detail(detail, detail_size, "empty data");
        return VERDICT_EMPTY;
    }
    if (!cJSON_IsObject(data)) {
        set_detail(detail, detail_size, "answer has no \"data\" object");
        return VERDICT_UNPARSEABLE;
    }
    if (task->schema) {
        char why[256];
        if (jsonschema_validate(task->schema, data, why, sizeof(why)) != 0) {
            set_detail(detail, detail_size, "data does not match schema: %s", why);
            return VERDICT_SCHEMA_MISMATCH;
        }
    }
    out->data = cJSON_DetachItemFromObjectCaseSensitive(obj, "data");
    return VERDICT_ACCEPT;
}

static enum verdict judge_text(const cJSON *obj, struct llm_answer *out,
                               char *detail, size_t detail_size)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(obj, "text");
    if (cJSON_IsNull(text) || (cJSON_IsString(text) && is_blank(text->valuestring))) {
        set_detail(detail, detail_size, "empty text");
        return VERDICT_EMPTY;
    }
    if (!cJSON_IsString(text)) {
        set_detail(detail, detail_size, "answer has no \"text\" string");
        return VERDICT_UNPARSEABLE;
    }
    out->text = xstrdup(text->valuestring);
    return VERDICT_ACCEPT;
}

/* Models sometimes quote numbers: "0.9" counts like 0.9. */
static bool parse_confidence(const cJSON *item, double *out)
{
    double value;
    if (cJSON_IsNumber(item)) {
        value = item->valuedouble;
    } else if (cJSON_IsString(item)) {
        size_t len;
        const char *s = trim(item->valuestring, &len);
        char *end;
        if (len == 0)
            return false;
        value = strtod(s, &end);
        if ((size_t)(end - s) != len)
            return false;
    } else {
        return false;
    }
    if (!isfinite(value) || value < 0.0 || value > 1.0)
        return false;
    *out = value;
    return true;
}

static enum verdict judge_confidence(const struct task_conf *task,
                                     const cJSON *obj, struct llm_answer *out,
                                     char *detail, size_t detail_size)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "confidence");
    out->has_confidence = parse_confidence(item, &out->confidence);
    if (!out->has_confidence)
        out->confidence = 0.0;

    if (out->confidence >= task->confidence_threshold) {
        set_detail(detail, detail_size, "accepted, confidence %.2f", out->confidence);
        return VERDICT_ACCEPT;
    }
    if (!out->has_confidence)
        set_detail(detail, detail_size, "no valid confidence (threshold %.2f)",
                   task->confidence_threshold);
    else
        set_detail(detail, detail_size, "confidence %.2f under threshold %.2f",
                   out->confidence, task->confidence_threshold);
    return VERDICT_LOW_CONFIDENCE;
}

/* Shape and content of the answer object for the task's output type. */
static enum verdict judge_shape(const struct task_conf *task, cJSON *obj,
                                struct llm_answer *out, char *detail,
                                size_t detail_size)
{
    switch (task->output) {
    case OUTPUT_LABEL: return judge_label(task, obj, out, detail, detail_size);
    case OUTPUT_JSON: return judge_json(task, obj, out, detail, detail_size);
    case OUTPUT_TEXT: return judge_text(obj, out, detail, detail_size);
    }
    set_detail(detail, detail_size, "unknown output type %d", (int)task->output);
    return VERDICT_UNPARSEABLE;
}

/* The checks that need no parsing; VERDICT_ACCEPT means "go on". */
static enum verdict judge_envelope(const struct task_conf *task,
                                   const struct llm_response *resp,
                                   char *detail, size_t detail_size)
{
    if (resp->http_status != 200) {
        set_detail(detail, detail_size, "http status %ld", resp->http_status);
        return VERDICT_PROVIDER_FAILED;
    }
    if (resp->refused) {
        set_detail(detail, detail_size, "model refused");
        return VERDICT_REFUSAL;
    }
    if (resp->truncated) {
        set_detail(detail, detail_size, "output cut at max_output_tokens %d",
                   task->max_output_tokens);
        return VERDICT_LENGTH_CAP;
    }
    if (is_blank(resp->content)) {
        set_detail(detail, detail_size, "empty content");
        return VERDICT_EMPTY;
    }
    return VERDICT_ACCEPT;
}

enum verdict escalate_judge(const struct task_conf *task,
                            const struct llm_response *resp,
                            struct llm_answer *answer, char *detail,
                            size_t detail_size)
{
    struct llm_answer parsed = {0};
    cJSON *obj = NULL;
    enum verdict v;

    memset(answer, 0, sizeof(*answer));
    set_detail(detail, detail_size, "%s", "");

    v = judge_envelope(task, resp, detail, detail_size);
    if (v != VERDICT_ACCEPT)
        goto out;
    obj = answer_find_object(resp->content);
    if (!obj) {
        set_detail(detail, detail_size, "no JSON object in %zu bytes of content",
                   strlen(resp->content));
        v = VERDICT_UNPARSEABLE;
        goto out;
    }
    v = judge_shape(task, obj, &parsed, detail, detail_size);
    if (v != VERDICT_ACCEPT)
        goto out;
    v = judge_confidence(task, obj, &parsed, detail, detail_size);
    *answer = parsed;
    parsed = (struct llm_answer){0};

out:
    /* Only the shape step allocates, and only on success; free defensively
     * so a future early exit cannot leak. */
    free(parsed.label);
    free(parsed.text);
    cJSON_Delete(parsed.data);
    cJSON_Delete(obj);
    return v;
}

const char *verdict_name(enum verdict v)
{
    switch (v) {
    case VERDICT_ACCEPT: return "accept";
    case VERDICT_LOW_CONFIDENCE: return "low_confidence";
    case VERDICT_EMPTY: return "empty";
    case VERDICT_REFUSAL: return "refusal";
    case VERDICT_LENGTH_CAP: return "length_cap";
    case VERDICT_UNPARSEABLE: return "unparseable";
    case VERDICT_LABEL_NOT_IN_SET: return "label_not_in_set";
    case VERDICT_SCHEMA_MISMATCH: return "schema_mismatch";
    case VERDICT_PROVIDER_FAILED: return "provider_failed";
    }
    return "unknown";
}

bool escalate_should_climb(enum verdict v, bool is_last_tier)
{
    if (v == VERDICT_ACCEPT)
        return false;
    return !(is_last_tier && v == VERDICT_LOW_CONFIDENCE);
}
