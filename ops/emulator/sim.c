/* sim.c — the deterministic part of the emulated models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "confusion.h"
#include "sim.h"
#include "util.h"

struct span {
    size_t begin, end; /* byte offsets of the text between the tags */
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char *trimmed_copy(const char *s, size_t begin, size_t end)
{
    while (begin < end && is_space(s[begin]))
        begin++;
    while (end > begin && is_space(s[end - 1]))
        end--;
    return emu_xstrndup(s + begin, end - begin);
}

static const char *find_in(const char *s, size_t from, size_t to, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = from; to >= n && i <= to - n; i++)
        if (memcmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/* The input may itself contain "</input>", so it ends at the LAST one. */
static bool find_input(const char *s, struct span *sp)
{
    size_t len = strlen(s);
    const char *open = find_in(s, 0, len, "<input>"), *close = NULL, *p;
    if (open == NULL)
        return false;
    size_t from = (size_t)(open - s) + strlen("<input>");
    for (size_t at = from; (p = find_in(s, at, len, "</input>")) != NULL; at = (size_t)(p - s) + 1)
        close = p;
    if (close == NULL)
        return false;
    *sp = (struct span){from, (size_t)(close - s)};
    return true;
}

static bool find_tag_in(const char *s, size_t from, size_t to, const char *open_tag,
                        const char *close_tag, struct span *sp)
{
    const char *open = find_in(s, from, to, open_tag);
    if (open == NULL)
        return false;
    size_t begin = (size_t)(open - s) + strlen(open_tag);
    const char *close = find_in(s, begin, to, close_tag);
    if (close == NULL)
        return false;
    *sp = (struct span){begin, (size_t)(close - s)};
    return true;
}

/* Tags inside the user's input are the user's text, not instructions. */
static bool find_tag(const char *s, const struct span *input, const char *open_tag,
                     const char *close_tag, struct span *sp)
{
    size_t len = strlen(s);
    if (input == NULL)
        return find_tag_in(s, 0, len, open_tag, close_tag, sp);
    size_t input_open = input->begin - strlen("<input>");
    size_t input_close = input->end + strlen("</input>");
    return find_tag_in(s, 0, input_open, open_tag, close_tag, sp) ||
           find_tag_in(s, input_close, len, open_tag, close_tag, sp);
}

static void parse_labels(const char *s, const struct span *sp, struct emu_task *t)
{
    size_t cap = 8, key_len = 0, i = sp->begin;
    t->labels = emu_xcalloc(cap, sizeof(*t->labels));
    /* Each ", " separator replaces at least one ',' byte: twice the span fits. */
    t->labels_key = emu_xcalloc(2 * (sp->end - sp->begin) + 1, 1);
    while (i < sp->end && t->n_labels < EMU_MAX_LABELS) {
        size_t j = i;
        while (j < sp->end && s[j] != ',')
            j++;
        char *label = trimmed_copy(s, i, j);
        i = j + 1;
        if (label[0] == '\0') {
            free(label);
            continue;
        }
        if (t->n_labels == cap)
            t->labels = emu_xrealloc(t->labels, (cap *= 2) * sizeof(*t->labels));
        key_len += (size_t)sprintf(t->labels_key + key_len, "%s%s", t->n_labels ? ", " : "", label);
        t->labels[t->n_labels++] = label;
    }
}

void emu_task_parse(const char *user_text, struct emu_task *t)
{
    struct span in, sp;
    bool has_input = find_input(user_text, &in);
    *t = (struct emu_task){.kind = EMU_TASK_TEXT};
    t->input = has_input ? trimmed_copy(user_text, in.begin, in.end)
                         : trimmed_copy(user_text, 0, strlen(user_text));
    if (find_tag(user_text, has_input ? &in : NULL, "<labels>", "</labels>", &sp)) {
        parse_labels(user_text, &sp, t);
        if (t->n_labels > 0) {
            t->kind = EMU_TASK_LABEL;
            return;
        }
    }
    if (find_tag(user_text, has_input ? &in : NULL, "<schema>", "</schema>", &sp)) {
        t->kind = EMU_TASK_JSON;
        t->schema_text = trimmed_copy(user_text, sp.begin, sp.end);
        t->schema = cJSON_Parse(t->schema_text);
    }
}

void emu_task_free(struct emu_task *t)
{
    free(t->input);
    emu_free_strv(t->labels, t->n_labels);
    free(t->labels_key);
    cJSON_Delete(t->schema);
    free(t->schema_text);
    *t = (struct emu_task){0};
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | p[i];
    return x;
}

static double unit53(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

void emu_task_draws(const char *model, const struct emu_task *t, struct emu_draws *d)
{
    static const char kinds[] = {'t', 'l', 'j'};
    const char *key = t->kind == EMU_TASK_LABEL ? t->labels_key
                      : t->kind == EMU_TASK_JSON ? t->schema_text
                                                 : "";
    unsigned char md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        abort(); /* only on OOM or a broken libcrypto */
    EVP_DigestUpdate(ctx, model, strlen(model) + 1);
    EVP_DigestUpdate(ctx, &kinds[t->kind], 1);
    EVP_DigestUpdate(ctx, "", 1);
    EVP_DigestUpdate(ctx, t->input, strlen(t->input) + 1);
    EVP_DigestUpdate(ctx, key, strlen(key));
    EVP_DigestFinal_ex(ctx, md, NULL);
    d->correct = unit53(be64(md));
    d->confidence = unit53(be64(md + 8));
    d->pick = be64(md + 16);
    d->fence = (double)(be64(md + 24) >> 32) * 0x1.0p-32;
    /* The input alone: every model sees the same difficulty. */
    if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        abort();
    EVP_DigestUpdate(ctx, "difficulty", sizeof("difficulty"));
    EVP_DigestUpdate(ctx, t->input, strlen(t->input));
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    d->difficulty = unit53(be64(md));
    d->shared_pick = be64(md + 8);
}

bool emu_correct(const struct emu_model *m, const struct emu_draws *d, double *margin)
{
    if (m->sim == NULL || m->sim->errors == EMU_ERRORS_INDEPENDENT) {
        *margin = m->accuracy - d->correct;
    } else {
        /* The model's own noise, uniform in [-noise, +noise), so that two
         * models of equal skill still differ a little. */
        double noise = (2.0 * d->correct - 1.0) * m->sim->noise;
        *margin = m->accuracy - (d->difficulty + noise);
    }
    /* Accuracy 1 and 0 stay exact whatever the noise. */
    if (m->accuracy >= 1.0 && *margin <= 0)
        *margin = 1e-9;
    if (m->accuracy <= 0.0 && *margin > 0)
        *margin = 0;
    return *margin > 0;
}

/* Two decimals, as models tend to report; kept inside the range. */
static double confidence(struct emu_range r, double u)
{
    double c = round((r.lo + u * (r.hi - r.lo)) * 100.0) / 100.0;
    return c < r.lo ? r.lo : c > r.hi ? r.hi : c;
}

/* Where in its range the confidence falls: a calibrated model is surer the
 * further the input is below its skill, and least sure where it is wrong
 * by far; calibration blends that position with the uniform draw. */
static double reported(const struct emu_model *m, const struct emu_draws *d, double margin)
{
    bool correct = margin > 0;
    double q = 0.5 + margin / (2.0 * EMU_CALIBRATION_WIDTH);
    /* In (0.5, 1] when right, [0, 0.5] when wrong: a calibrated model's
     * right answers sit in the upper half of their range, its wrong ones
     * in the lower half of theirs. */
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    double u = m->calibration * q + (1.0 - m->calibration) * d->confidence;
    return confidence(correct ? m->conf_correct : m->conf_wrong, u);
}

static long gold_label_index(const struct emu_gold_entry *e, const struct emu_task *t)
{
    for (size_t i = 0; e && i < e->n_labels; i++)
        for (size_t j = 0; j < t->n_labels; j++)
            if (strcmp(e->labels[i], t->labels[j]) == 0)
                return (long)j;
    return -1;
}

/* A wrong label: independent errors pick any other label evenly; shared
 * errors one of the sim's `confusable` labels most confusable with the
 * right one, by the input's shared draw, so models err alike. */
static size_t wrong_label(const struct emu_model *m, const struct emu_task *t, size_t gold,
                          const struct emu_draws *d)
{
    size_t n = t->n_labels;
    if (m->sim == NULL || m->sim->errors == EMU_ERRORS_INDEPENDENT) {
        size_t idx = (size_t)(d->pick % (n - 1));
        return idx + (idx >= gold);
    }
    size_t *near = emu_xcalloc((size_t)m->sim->confusable, sizeof(*near));
    size_t k = emu_confusable(m->sim, t->labels, n, gold, near, (size_t)m->sim->confusable);
    size_t idx = near[d->shared_pick % k];
    free(near);
    return idx;
}

static cJSON *label_answer(const struct emu_model *m, const struct emu_gold *g,
                           const struct emu_task *t, const struct emu_draws *d)
{
    long gold = gold_label_index(emu_gold_find(g, t->input), t);
    size_t n = t->n_labels, idx;
    double margin, conf;
    bool correct = emu_correct(m, d, &margin);
    if (gold < 0) {
        idx = (size_t)(d->pick % n);
        conf = confidence(m->conf_wrong, d->confidence);
    } else if (correct || n == 1) {
        idx = (size_t)gold;
        conf = reported(m, d, margin > 0 ? margin : 1e-9);
    } else {
        idx = wrong_label(m, t, (size_t)gold, d);
        conf = reported(m, d, margin);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", t->labels[idx]);
    cJSON_AddNumberToObject(o, "confidence", conf);
    return o;
}

static const char *schema_type(const cJSON *schema)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type"), *v;
    if (cJSON_IsString(type))
        return type->valuestring;
    if (!cJSON_IsArray(type))
        return "string";
    cJSON_ArrayForEach(v, type)
        if (cJSON_IsString(v) && strcmp(v->valuestring, "null") != 0)
            return v->valuestring;
    return "string";
}

static cJSON *fill_required(const cJSON *schema, int depth);

static cJSON *sample_value(const cJSON *prop, const char *name, int depth)
{
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(prop, "enum");
    if (cJSON_IsArray(options) && options->child)
        return cJSON_Duplicate(options->child, 1);
    const char *type = schema_type(prop);
    if (strcmp(type, "number") == 0 || strcmp(type, "integer") == 0)
        return cJSON_CreateNumber(1);
    if (strcmp(type, "boolean") == 0)
        return cJSON_CreateFalse();
    if (strcmp(type, "array") == 0)
        return cJSON_CreateArray();
    if (strcmp(type, "object") == 0)
        return fill_required(prop, depth + 1);
    return cJSON_CreateString(name);
}

/* A minimal valid instance: every required property, nothing else. */
static cJSON *fill_required(const cJSON *schema, int depth)
{
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties"), *r;
    cJSON *obj = cJSON_CreateObject();
    if (depth > 8 || !cJSON_IsArray(required))
        return obj;
    cJSON_ArrayForEach(r, required)
        if (cJSON_IsString(r) && !cJSON_HasObjectItem(obj, r->valuestring))
            cJSON_AddItemToObject(obj, r->valuestring,
                                  sample_value(cJSON_GetObjectItemCaseSensitive(props, r->valuestring),
                                               r->valuestring, depth));
    return obj;
}

static void drop_required(cJSON *data, const cJSON *schema, uint64_t pick)
{
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
    int n = cJSON_IsArray(required) ? cJSON_GetArraySize(required) : 0;
    if (n == 0 || !cJSON_IsObject(data))
        return;
    const cJSON *victim = cJSON_GetArrayItem(required, (int)(pick % (uint64_t)n));
    if (cJSON_IsString(victim))
        cJSON_DeleteItemFromObjectCaseSensitive(data, victim->valuestring);
}

static cJSON *json_answer(const struct emu_model *m, const struct emu_gold *g,
                          const struct emu_task *t, const struct emu_draws *d)
{
    const struct emu_gold_entry *e = emu_gold_find(g, t->input);
    double margin;
    bool correct = emu_correct(m, d, &margin);
    cJSON *data = e && e->data ? cJSON_Duplicate(e->data, 1) : fill_required(t->schema, 0);
    if (!correct)
        drop_required(data, t->schema, d->pick);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "data", data);
    cJSON_AddNumberToObject(o, "confidence", reported(m, d, margin));
    return o;
}

/* The first EMU_SUMMARY_WORDS words, single-spaced. */
static char *summary(const char *s)
{
    size_t len = strlen(s), out = 0;
    char *buf = emu_xmalloc(len + 1);
    for (int words = 0; *s && words < EMU_SUMMARY_WORDS; words++) {
        while (is_space(*s))
            s++;
        if (!*s)
            break;
        if (out)
            buf[out++] = ' ';
        while (*s && !is_space(*s))
            buf[out++] = *s++;
    }
    buf[out] = '\0';
    return buf;
}

static cJSON *text_answer(const struct emu_model *m, const struct emu_task *t, const struct emu_draws *d)
{
    char *text = summary(t->input);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", text);
    cJSON_AddNumberToObject(o, "confidence", confidence(m->conf_correct, d->confidence));
    free(text);
    return o;
}

char *emu_answer(const struct emu_model *m, const struct emu_gold *g, const struct emu_task *t,
                 const struct emu_draws *d)
{
    cJSON *o = t->kind == EMU_TASK_LABEL  ? label_answer(m, g, t, d)
               : t->kind == EMU_TASK_JSON ? json_answer(m, g, t, d)
                                          : text_answer(m, t, d);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json == NULL)
        abort(); /* cJSON only fails on OOM */
    if (d->fence >= EMU_FENCE_RATE)
        return json;
    size_t n = strlen(json) + sizeof("```json\n\n```");
    char *fenced = emu_xmalloc(n);
    snprintf(fenced, n, "```json\n%s\n```", json);
    free(json);
    return fenced;
}

long emu_tokens(size_t chars)
{
    return (long)((chars + 3) / 4);
}

long emu_limit_output(char *content, long max_tokens, bool *truncated)
{
    long out = emu_tokens(emu_utf8_chars(content));
    *truncated = max_tokens >= 0 && max_tokens < out;
    if (!*truncated)
        return out;
    content[emu_utf8_prefix(content, (size_t)max_tokens * 4)] = '\0';
    return emu_tokens(emu_utf8_chars(content));
}
