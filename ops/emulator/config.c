/* config.c — the emulated models and where their gold answers live.
 *
 * Validation is strict (unknown keys are errors) because a typo such as
 * "http500" would otherwise silently turn a fault test into a pass. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "prefix_cache.h"
#include "util.h"

#define CONFIG_MAX_BYTES (16 * 1024 * 1024)
#define MAX_MODELS 256

struct ctx {
    char *err;
    size_t err_size;
};

static int fail(struct ctx *c, const char *key, const char *why)
{
    snprintf(c->err, c->err_size, "config key \"%s\": %s", key, why);
    return -1;
}

static int check_keys(struct ctx *c, const cJSON *obj, const char *path, const char *const *allowed)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, item->string) == 0;
        if (!known) {
            char key[512];
            snprintf(key, sizeof(key), "%s%s%s", path, *path ? "." : "", item->string);
            return fail(c, key, "unknown key");
        }
    }
    return 0;
}

/* Optional number in [lo, hi]; *out keeps its default when absent. */
static int get_num(struct ctx *c, const cJSON *obj, const char *path, const char *name,
                   double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[512], why[96];
    snprintf(key, sizeof(key), "%s.%s", path, name);
    if (v == NULL)
        return 0;
    snprintf(why, sizeof(why), "must be a number in [%g, %g]", lo, hi);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return fail(c, key, why);
    *out = v->valuedouble;
    return 0;
}

static int get_range(struct ctx *c, const cJSON *obj, const char *path, const char *name,
                     struct emu_range *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[512];
    snprintf(key, sizeof(key), "%s.%s", path, name);
    if (v == NULL)
        return 0;
    const cJSON *lo = cJSON_GetArrayItem(v, 0), *hi = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(lo) || !cJSON_IsNumber(hi) ||
        !(lo->valuedouble >= 0 && lo->valuedouble <= hi->valuedouble && hi->valuedouble <= 1))
        return fail(c, key, "must be [lo, hi] with 0 <= lo <= hi <= 1");
    *out = (struct emu_range){lo->valuedouble, hi->valuedouble};
    return 0;
}

static int need_object(struct ctx *c, const cJSON *v, const char *path)
{
    return v == NULL || cJSON_IsObject(v) ? 0 : fail(c, path, "must be an object");
}

static int parse_latency(struct ctx *c, const cJSON *obj, const char *path, struct emu_model *m)
{
    static const char *const keys[] = {"median", "sigma", NULL};
    if (obj == NULL)
        return 0;
    if (need_object(c, obj, path) || check_keys(c, obj, path, keys) ||
        get_num(c, obj, path, "median", 0, 600000, &m->latency_median_ms) ||
        get_num(c, obj, path, "sigma", 0, 10, &m->latency_sigma))
        return -1;
    return 0;
}

static int parse_faults(struct ctx *c, const cJSON *obj, const char *path, struct emu_faults *f)
{
    static const char *const keys[] = {"http_500", "http_429", "retry_after_s", "overload",
                                       "timeout", "timeout_s", "malformed", NULL};
    if (obj == NULL)
        return 0;
    if (need_object(c, obj, path) || check_keys(c, obj, path, keys) ||
        get_num(c, obj, path, "http_500", 0, 1, &f->http_500) ||
        get_num(c, obj, path, "http_429", 0, 1, &f->http_429) ||
        get_num(c, obj, path, "overload", 0, 1, &f->overload) ||
        get_num(c, obj, path, "timeout", 0, 1, &f->timeout) ||
        get_num(c, obj, path, "malformed", 0, 1, &f->malformed) ||
        get_num(c, obj, path, "retry_after_s", 0, 86400, &f->retry_after_s) ||
        get_num(c, obj, path, "timeout_s", 0, 3600, &f->timeout_s))
        return -1;
    /* One draw per request picks at most one fault, so they must fit in 1. */
    if (f->http_500 + f->http_429 + f->overload + f->timeout + f->malformed > 1.0 + 1e-9)
        return fail(c, path, "fault probabilities add up to more than 1");
    return 0;
}

static void model_defaults(struct emu_model *m, const char *name)
{
    *m = (struct emu_model){
        .name = emu_xstrdup(name),
        .accuracy = 0.9,
        .conf_correct = {0.70, 0.99},
        .conf_wrong = {0.30, 0.85},
        .faults = {.retry_after_s = 1, .timeout_s = 30},
        .cache = {.min_tokens = 1024, .ttl_s = 300, .ttl_scale = 1},
        .flex = {.latency_factor = 2},
    };
}

static int get_bool(struct ctx *c, const cJSON *obj, const char *path, const char *name, bool *out);

static int parse_prompt_cache(struct ctx *c, const cJSON *obj, const char *path, struct emu_cache_rules *r)
{
    static const char *const keys[] = {"min_tokens", "ttl_s", "ttl_scale", NULL};
    if (obj == NULL)
        return 0;
    if (need_object(c, obj, path) || check_keys(c, obj, path, keys) ||
        get_num(c, obj, path, "min_tokens", 1, 1e6, &r->min_tokens) ||
        get_num(c, obj, path, "ttl_s", 0, 86400, &r->ttl_s) ||
        get_num(c, obj, path, "ttl_scale", 0, 1000, &r->ttl_scale))
        return -1;
    return 0;
}

static int parse_flex(struct ctx *c, const cJSON *obj, const char *path, struct emu_flex *f)
{
    static const char *const keys[] = {"offered", "latency_factor", "http_429", NULL};
    if (obj == NULL)
        return 0;
    f->offered = true; /* a flex section offers it unless it says otherwise */
    if (need_object(c, obj, path) || check_keys(c, obj, path, keys) ||
        get_bool(c, obj, path, "offered", &f->offered) ||
        get_num(c, obj, path, "latency_factor", 1, 1000, &f->latency_factor) ||
        get_num(c, obj, path, "http_429", 0, 1, &f->http_429))
        return -1;
    return 0;
}

static int parse_model(struct ctx *c, const cJSON *obj, struct emu_model *m)
{
    static const char *const keys[] = {"accuracy", "confidence_correct", "confidence_wrong",
                                       "calibration", "latency_ms", "prompt_cache", "flex",
                                       "faults", NULL};
    char path[384], sub[448];
    snprintf(path, sizeof(path), "models.%s", obj->string);
    model_defaults(m, obj->string);
    if (need_object(c, obj, path) || check_keys(c, obj, path, keys) ||
        get_num(c, obj, path, "accuracy", 0, 1, &m->accuracy) ||
        get_range(c, obj, path, "confidence_correct", &m->conf_correct) ||
        get_range(c, obj, path, "confidence_wrong", &m->conf_wrong) ||
        get_num(c, obj, path, "calibration", 0, 1, &m->calibration))
        return -1;
    snprintf(sub, sizeof(sub), "%s.prompt_cache", path);
    if (parse_prompt_cache(c, cJSON_GetObjectItemCaseSensitive(obj, "prompt_cache"), sub, &m->cache))
        return -1;
    snprintf(sub, sizeof(sub), "%s.flex", path);
    if (parse_flex(c, cJSON_GetObjectItemCaseSensitive(obj, "flex"), sub, &m->flex))
        return -1;
    snprintf(sub, sizeof(sub), "%s.latency_ms", path);
    if (parse_latency(c, cJSON_GetObjectItemCaseSensitive(obj, "latency_ms"), sub, m))
        return -1;
    snprintf(sub, sizeof(sub), "%s.faults", path);
    return parse_faults(c, cJSON_GetObjectItemCaseSensitive(obj, "faults"), sub, &m->faults);
}

static int parse_models(struct ctx *c, const cJSON *models, struct emu_config *cfg)
{
    const cJSON *m;
    if (!cJSON_IsObject(models) || cJSON_GetArraySize(models) == 0)
        return fail(c, "models", "must be a non-empty object of model name -> settings");
    if (cJSON_GetArraySize(models) > MAX_MODELS)
        return fail(c, "models", "too many models");
    cfg->models = emu_xcalloc((size_t)cJSON_GetArraySize(models), sizeof(*cfg->models));
    cJSON_ArrayForEach(m, models) {
        if (m->string[0] == '\0' || strlen(m->string) > 256)
            return fail(c, "models", "a model name is empty or longer than 256 bytes");
        if (parse_model(c, m, &cfg->models[cfg->n_models++]))
            return -1;
    }
    return 0;
}

static int get_bool(struct ctx *c, const cJSON *obj, const char *path, const char *name, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[512];
    snprintf(key, sizeof(key), "%s.%s", path, name);
    if (v == NULL)
        return 0;
    if (!cJSON_IsBool(v))
        return fail(c, key, "must be true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

static int parse_batch(struct ctx *c, const cJSON *obj, struct emu_batch_cfg *b)
{
    static const char *const keys[] = {"turnaround_s", "errored_share", "expire", "fail", NULL};
    *b = (struct emu_batch_cfg){.turnaround_s = 2.0};
    if (obj == NULL)
        return 0;
    if (need_object(c, obj, "batch") || check_keys(c, obj, "batch", keys) ||
        get_num(c, obj, "batch", "turnaround_s", 0, 86400, &b->turnaround_s) ||
        get_num(c, obj, "batch", "errored_share", 0, 1, &b->errored_share) ||
        get_bool(c, obj, "batch", "expire", &b->expire) || get_bool(c, obj, "batch", "fail", &b->fail))
        return -1;
    return 0;
}

static int parse_confusion(struct ctx *c, const cJSON *obj, struct emu_sim *sim)
{
    const cJSON *entry, *v;
    if (obj == NULL)
        return 0;
    if (!cJSON_IsObject(obj))
        return fail(c, "simulation.confusion", "must be an object of label -> [labels]");
    sim->map = emu_xcalloc((size_t)cJSON_GetArraySize(obj) + 1, sizeof(*sim->map));
    cJSON_ArrayForEach(entry, obj) {
        char key[512];
        snprintf(key, sizeof(key), "simulation.confusion.%s", entry->string);
        if (!cJSON_IsArray(entry) || cJSON_GetArraySize(entry) == 0)
            return fail(c, key, "must be a non-empty array of label names");
        struct emu_confusion *e = &sim->map[sim->n_map++];
        e->label = emu_xstrdup(entry->string);
        e->near = emu_xcalloc((size_t)cJSON_GetArraySize(entry), sizeof(*e->near));
        cJSON_ArrayForEach(v, entry) {
            if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
                return fail(c, key, "must be a non-empty array of label names");
            e->near[e->n_near++] = emu_xstrdup(v->valuestring);
        }
    }
    return 0;
}

static int parse_simulation(struct ctx *c, const cJSON *obj, struct emu_sim *sim)
{
    static const char *const keys[] = {"errors", "noise", "confusable", "confusion", NULL};
    double confusable = 3;
    *sim = (struct emu_sim){.errors = EMU_ERRORS_INDEPENDENT, .noise = 0.03, .confusable = 3};
    if (obj == NULL)
        return 0;
    if (need_object(c, obj, "simulation") || check_keys(c, obj, "simulation", keys))
        return -1;
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(obj, "errors");
    if (errors != NULL) {
        if (!cJSON_IsString(errors) ||
            (strcmp(errors->valuestring, "independent") != 0 && strcmp(errors->valuestring, "shared") != 0))
            return fail(c, "simulation.errors", "must be \"independent\" or \"shared\"");
        sim->errors = strcmp(errors->valuestring, "shared") == 0 ? EMU_ERRORS_SHARED : EMU_ERRORS_INDEPENDENT;
    }
    if (get_num(c, obj, "simulation", "noise", 0, 0.5, &sim->noise) ||
        get_num(c, obj, "simulation", "confusable", 1, 100, &confusable))
        return -1;
    sim->confusable = (int)confusable;
    return parse_confusion(c, cJSON_GetObjectItemCaseSensitive(obj, "confusion"), sim);
}

/* The gold path is relative to the config file's folder, so a config and
 * its gold file can move together. */
static char *gold_path(const char *config_path, const char *gold)
{
    if (gold[0] == '/')
        return emu_xstrdup(gold);
    char *copy = emu_xstrdup(config_path);
    size_t n = strlen(copy) + strlen(gold) + 2;
    char *path = emu_xmalloc(n);
    snprintf(path, n, "%s/%s", dirname(copy), gold);
    free(copy);
    return path;
}

static int parse_root(struct ctx *c, const char *config_path, const cJSON *root, struct emu_config *cfg)
{
    static const char *const keys[] = {"gold", "models", "batch", "simulation", NULL};
    const cJSON *gold = cJSON_GetObjectItemCaseSensitive(root, "gold");
    if (!cJSON_IsObject(root))
        return fail(c, "(top level)", "must be a JSON object");
    cfg->sim = emu_xcalloc(1, sizeof(*cfg->sim));
    if (check_keys(c, root, "", keys) ||
        parse_simulation(c, cJSON_GetObjectItemCaseSensitive(root, "simulation"), cfg->sim) ||
        parse_models(c, cJSON_GetObjectItemCaseSensitive(root, "models"), cfg) ||
        parse_batch(c, cJSON_GetObjectItemCaseSensitive(root, "batch"), &cfg->batch))
        return -1;
    for (size_t i = 0; i < cfg->n_models; i++)
        cfg->models[i].sim = cfg->sim;
    if (gold == NULL || cJSON_IsNull(gold))
        return 0;
    if (!cJSON_IsString(gold) || gold->valuestring[0] == '\0')
        return fail(c, "gold", "must be a non-empty string (path of a JSONL file)");
    char *path = gold_path(config_path, gold->valuestring);
    int rc = emu_gold_load(&cfg->gold, path, c->err, c->err_size);
    free(path);
    return rc;
}

int emu_config_load(const char *path, struct emu_config *cfg, char *err, size_t err_size)
{
    struct ctx c = {err, err_size};
    size_t len;
    *cfg = (struct emu_config){0};
    char *text = emu_read_file(path, CONFIG_MAX_BYTES, &len);
    if (text == NULL) {
        snprintf(err, err_size, "%s: cannot read (or larger than %d bytes)", path, CONFIG_MAX_BYTES);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (root == NULL) {
        snprintf(err, err_size, "%s: not valid JSON", path);
        return -1;
    }
    int rc = parse_root(&c, path, root, cfg);
    cJSON_Delete(root);
    if (rc != 0)
        emu_config_free(cfg);
    else
        cfg->prefix_cache = emu_prefix_cache_new();
    return rc;
}

void emu_config_free(struct emu_config *cfg)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        free(cfg->models[i].name);
    free(cfg->models);
    for (size_t i = 0; cfg->sim && i < cfg->sim->n_map; i++) {
        free(cfg->sim->map[i].label);
        emu_free_strv(cfg->sim->map[i].near, cfg->sim->map[i].n_near);
    }
    if (cfg->sim)
        free(cfg->sim->map);
    free(cfg->sim);
    emu_gold_free(&cfg->gold);
    emu_prefix_cache_free(cfg->prefix_cache);
    *cfg = (struct emu_config){0};
}

const struct emu_model *emu_config_model(const struct emu_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        if (strcmp(cfg->models[i].name, name) == 0)
            return &cfg->models[i];
    return NULL;
}
