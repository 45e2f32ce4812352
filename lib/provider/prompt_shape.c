/* prompt_shape.c — stable prefix first, input last; see prompt_shape.h. */
#include "prompt_shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl.h"
#include "utf8.h"

struct strbuf {
    char *data;
    size_t len, cap;
};

static void sb_add(struct strbuf *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        sb->cap = (sb->len + n + 1) * 2;
        sb->data = xrealloc(sb->data, sb->cap);
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void sb_add_str(struct strbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

static void sb_add_labels(struct strbuf *sb, const struct task_conf *task)
{
    for (size_t i = 0; i < task->n_labels; i++) {
        if (i > 0)
            sb_add_str(sb, ", ");
        sb_add_str(sb, task->labels[i]);
    }
}

static bool starts(const char *t, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - t) >= n && memcmp(t, word, n) == 0;
}

char *prompt_shape_render(const struct task_conf *task, const char *tmpl,
                          size_t tmpl_len, const char *input,
                          size_t input_len)
{
    struct strbuf sb = {0};
    const char *t = tmpl, *end = tmpl + tmpl_len;
    sb_add(&sb, "", 0);
    while (t < end) {
        if (starts(t, end, "{{input}}")) {
            sb_add(&sb, input, input_len);
            t += 9;
        } else if (starts(t, end, "{{labels}}")) {
            sb_add_labels(&sb, task);
            t += 10;
        } else if (starts(t, end, "{{schema}}")) {
            sb_add_str(&sb, task->schema_text ? task->schema_text : "");
            t += 10;
        } else {
            /* Copy up to the next possible placeholder in one go. */
            const char *next = t + 1;
            while (next < end && !starts(next, end, "{{"))
                next++;
            sb_add(&sb, t, (size_t)(next - t));
            t = next;
        }
    }
    return sb.data;
}

/* The words "JSON" in these also satisfy OpenAI's json_object mode, which
 * rejects requests whose messages never mention JSON. */
static const char *output_instruction(enum output_type type)
{
    switch (type) {
    case OUTPUT_LABEL:
        return "Reply with exactly one JSON object and nothing else: "
               "{\"label\": \"<one of the allowed labels>\", "
               "\"confidence\": <number from 0.0 to 1.0>}";
    case OUTPUT_JSON:
        return "Reply with exactly one JSON object and nothing else: "
               "{\"data\": <a JSON value matching the schema>, "
               "\"confidence\": <number from 0.0 to 1.0>}";
    case OUTPUT_TEXT:
        break;
    }
    return "Reply with exactly one JSON object and nothing else: "
           "{\"text\": \"<your answer>\", "
           "\"confidence\": <number from 0.0 to 1.0>}";
}

/* The examples live in the system text rather than in the user message:
 * the user message carries the one <input> of the job. */
static char *system_text(const struct task_conf *task)
{
    struct strbuf sb = {0};
    const char *sys = task->system ? task->system : "";
    sb_add_str(&sb, sys);
    if (sys[0])
        sb_add_str(&sb, "\n\n");
    sb_add_str(&sb, output_instruction(task->output));
    if (task->n_examples > 0)
        sb_add_str(&sb, "\n\nExamples of messages and the expected answer:");
    for (size_t i = 0; i < task->n_examples; i++) {
        sb_add_str(&sb, "\n\nMessage: ");
        sb_add_str(&sb, task->examples[i].input);
        sb_add_str(&sb, "\nAnswer: ");
        sb_add_str(&sb, task->examples[i].answer);
    }
    return sb.data;
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
    return h;
}

void prompt_shape_build(const struct provider_conf *p,
                        const struct task_conf *task, const char *input,
                        size_t input_len, struct prompt_shape *out)
{
    memset(out, 0, sizeof(*out));
    const char *tmpl = task->prompt ? task->prompt : "";
    const char *at = strstr(tmpl, "{{input}}");
    size_t head_len = at ? (size_t)(at - tmpl) : strlen(tmpl);
    out->system = system_text(task);
    out->head = prompt_shape_render(task, tmpl, head_len, "", 0);
    out->tail = prompt_shape_render(task, tmpl + head_len,
                                    strlen(tmpl) - head_len, input, input_len);
    int64_t chars = (int64_t)utf8_chars(out->system) +
                    (int64_t)utf8_chars(out->head);
    out->prefix_tokens = (chars + 3) / 4;
    out->ttl_s = task->prompt_cache_ttl_s == 3600 ? 3600 : 300;
    if (!p->prompt_caching)
        return;
    out->breakpoint = out->prefix_tokens >= p->cache_min_tokens;
    uint64_t h = fnv1a(UINT64_C(14695981039346656037), out->system,
                       strlen(out->system) + 1);
    h = fnv1a(h, out->head, strlen(out->head));
    snprintf(out->cache_key, sizeof(out->cache_key), "sluice-%.48s-%016llx",
             task->name ? task->name : "", (unsigned long long)h);
}

void prompt_shape_clear(struct prompt_shape *s)
{
    free(s->system);
    free(s->head);
    free(s->tail);
    memset(s, 0, sizeof(*s));
}
