/* config.c — loads and validates the JSON configuration (see config.h).
 *
 * One table, known_keys[], lists every accepted key; each object is checked
 * against it so a typo is an error rather than a silently ignored setting,
 * and a unit test holds docs/config.md to the same table. Sections are
 * parsed in dependency order (prices and providers before tiers, tiers
 * before tasks, tasks before routing) so every cross-reference can be
 * checked where it is read. The first error wins and stops the parse. */
#include "config.h"
#include "config_table.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define PATH_MAX_LEN 256
#define CONFIG_FILE_MAX (4u << 20) /* a config bigger than this is a mistake */

/* ---- messages and paths ---- */

struct pctx {
    const char *source;
    char *err;
    size_t err_size;
};

static int fail(struct pctx *c, const char *path, const char *fmt, ...)
    SL_PRINTF(3, 4);

static int fail(struct pctx *c, const char *path, const char *fmt, ...)
{
    if (c->err_size == 0)
        return SL_ECONFIG;
    int n = snprintf(c->err, c->err_size, "%s: %s: ", c->source, path);
    if (n >= 0 && (size_t)n < c->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return SL_ECONFIG;
}

/* Paths are for messages only, so a name too long for the buffer is simply
 * cut short. */
static void append(char *buf, const char *s)
{
    size_t len = strlen(buf);
    size_t n = strlen(s);
    if (n > PATH_MAX_LEN - 1 - len)
        n = PATH_MAX_LEN - 1 - len;
    memcpy(buf + len, s, n);
    buf[len + n] = '\0';
}

static void join(char *buf, const char *path, const char *key)
{
    buf[0] = '\0';
    append(buf, path);
    if (path[0] != '\0')
        append(buf, ".");
    append(buf, key);
}

static void join_index(char *buf, const char *path, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof(idx), "[%zu]", i);
    buf[0] = '\0';
    append(buf, path);
    append(buf, idx);
}

/* The table entry of section.key ("providers.*" and "timeout_ms"), or NULL
 * for a key the file may not hold. */
static const struct config_key *entry_of(const char *section, const char *key)
{
    char name[PATH_MAX_LEN];
    join(name, section, key);
    return config_key_find(name);
}

/* cJSON keeps both copies of a repeated key and lookups see only the first,
 * so a repeat would silently shadow a setting. */
static bool is_duplicate(const cJSON *obj, const cJSON *item)
{
    for (const cJSON *p = obj->child; p && p != item; p = p->next)
        if (strcmp(p->string, item->string) == 0)
            return true;
    return false;
}

static int check_duplicates(struct pctx *c, const cJSON *obj, const char *path)
{
    char sub[PATH_MAX_LEN];
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (is_duplicate(obj, it)) {
            join(sub, path, it->string);
            return fail(c, sub, "duplicate key");
        }
    }
    return SL_OK;
}

/* Every key of obj must be section.<key> in the table (config_table.c). */
static int check_keys(struct pctx *c, const cJSON *obj, const char *path,
                      const char *section)
{
    char sub[PATH_MAX_LEN];
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (!entry_of(section, it->string)) {
            join(sub, path, it->string);
            return fail(c, sub, "unknown key");
        }
    }
    return check_duplicates(c, obj, path);
}

/* ---- typed getters: absent keys take the default unless required ---- */

enum { OPTIONAL = 0, REQUIRED = 1 };

static int get_object(struct pctx *c, const cJSON *obj, const char *path,
                      const char *key, int required, const cJSON **out)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, key);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = it;
    if (!it)
        return required ? fail(c, sub, "missing (required)") : SL_OK;
    if (!cJSON_IsObject(it))
        return fail(c, sub, "must be an object");
    return SL_OK;
}

/* def == NULL with !required leaves *out NULL. Empty strings are refused:
 * no string setting has a meaning for "" except system (allow_empty). */
static int get_string_ex(struct pctx *c, const cJSON *obj, const char *path,
                         const char *key, int required, const char *def,
                         bool allow_empty, char **out)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, key);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) {
        if (required)
            return fail(c, sub, "missing (required)");
        *out = def ? xstrdup(def) : NULL;
        return SL_OK;
    }
    if (!cJSON_IsString(it))
        return fail(c, sub, "must be a string");
    if (!allow_empty && it->valuestring[0] == '\0')
        return fail(c, sub, "must not be empty");
    *out = xstrdup(it->valuestring);
    return SL_OK;
}

static int get_string(struct pctx *c, const cJSON *obj, const char *path,
                      const char *key, int required, const char *def,
                      char **out)
{
    return get_string_ex(c, obj, path, key, required, def, false, out);
}

static int check_int(struct pctx *c, const cJSON *it, const char *sub,
                     int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsNumber(it))
        return fail(c, sub, "must be an integer");
    double d = it->valuedouble;
    if (d != floor(d))
        return fail(c, sub, "must be an integer");
    if (d < (double)min || d > (double)max)
        return fail(c, sub, "must be in [%lld, %lld]", (long long)min,
                    (long long)max);
    *out = (int64_t)d;
    return SL_OK;
}

static int get_int(struct pctx *c, const cJSON *obj, const char *path,
                   const char *key, int64_t min, int64_t max, int64_t def,
                   int64_t *out)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, key);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) {
        *out = def;
        return SL_OK;
    }
    return check_int(c, it, sub, min, max, out);
}

static int check_number(struct pctx *c, const cJSON *it, const char *sub,
                        double min, double max, double *out)
{
    if (!cJSON_IsNumber(it))
        return fail(c, sub, "must be a number");
    if (!(it->valuedouble >= min && it->valuedouble <= max))
        return fail(c, sub, "must be in [%g, %g]", min, max);
    *out = it->valuedouble;
    return SL_OK;
}

static int get_bool(struct pctx *c, const cJSON *obj, const char *path,
                    const char *key, bool def, bool *out)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, key);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) {
        *out = def;
        return SL_OK;
    }
    if (!cJSON_IsBool(it))
        return fail(c, sub, "must be true or false");
    *out = cJSON_IsTrue(it);
    return SL_OK;
}

/* ---- plain values through the table ---- */

/* obj[key], else the table's default parsed from its JSON text (returned
 * in *def too, for the caller to delete), else NULL: absent with no
 * default, which *rc says is fine or, for a required key, a failure. */
static const cJSON *table_item(struct pctx *c, const cJSON *obj,
                               const char *sub, const struct config_key *k,
                               const char *key, cJSON **def, int *rc)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *def = NULL;
    *rc = SL_OK;
    if (it)
        return it;
    if (k->def)
        return *def = cJSON_Parse(k->def);
    if (k->flags & CONFIG_REQUIRED)
        *rc = fail(c, sub, "missing (required)");
    return NULL;
}

/* A number or integer key of section, checked against the table's type and
 * bounds: into *number (CONFIG_NUMBER) or *integer (the integer types). An
 * absent key without a default leaves both alone. */
static int table_scalar(struct pctx *c, const cJSON *obj, const char *path,
                        const char *section, const char *key, double *number,
                        int64_t *integer)
{
    const struct config_key *k = entry_of(section, key);
    char sub[PATH_MAX_LEN];
    cJSON *def;
    int rc;
    join(sub, path, key);
    const cJSON *it = table_item(c, obj, sub, k, key, &def, &rc);
    if (it && k->type == CONFIG_NUMBER)
        rc = check_number(c, it, sub, k->min, k->max, number);
    else if (it)
        rc = check_int(c, it, sub, (int64_t)k->min, (int64_t)k->max, integer);
    cJSON_Delete(def);
    return rc;
}

static int table_int(struct pctx *c, const cJSON *obj, const char *path,
                     const char *section, const char *key, int64_t *out)
{
    return table_scalar(c, obj, path, section, key, NULL, out);
}

static int table_number(struct pctx *c, const cJSON *obj, const char *path,
                        const char *section, const char *key, double *out)
{
    return table_scalar(c, obj, path, section, key, out, NULL);
}

/* A string key of section (required-ness, "" allowed and default from the
 * table). */
static int table_string(struct pctx *c, const cJSON *obj, const char *path,
                        const char *section, const char *key, char **out)
{
    const struct config_key *k = entry_of(section, key);
    cJSON *def = k->def ? cJSON_Parse(k->def) : NULL;
    int rc = get_string_ex(c, obj, path, key,
                           (k->flags & CONFIG_REQUIRED) ? REQUIRED : OPTIONAL,
                           cJSON_GetStringValue(def),
                           (k->flags & CONFIG_EMPTY_OK) != 0, out);
    cJSON_Delete(def);
    return rc;
}

/* Reads one plain value of the table into base + k->offset. */
static int table_field(struct pctx *c, const cJSON *obj, const char *path,
                       const char *section, const struct config_key *k,
                       const char *key, void *base)
{
    void *dst = (char *)base + k->offset;
    int64_t v = k->type == CONFIG_INT64 ? *(int64_t *)dst : 0;
    int rc;
    switch (k->type) {
    case CONFIG_STRING:
        return table_string(c, obj, path, section, key, (char **)dst);
    case CONFIG_NUMBER:
        return table_number(c, obj, path, section, key, (double *)dst);
    case CONFIG_BOOL:
        return get_bool(c, obj, path, key, k->def && strcmp(k->def, "true") == 0,
                        (bool *)dst);
    case CONFIG_INT:
    case CONFIG_INT64:
    case CONFIG_SIZE:
        rc = table_int(c, obj, path, section, key, &v);
        if (rc == SL_OK && k->type == CONFIG_INT)
            *(int *)dst = (int)v;
        else if (rc == SL_OK && k->type == CONFIG_INT64)
            *(int64_t *)dst = v;
        else if (rc == SL_OK)
            *(size_t *)dst = (size_t)v;
        return rc;
    default:
        return SL_OK;
    }
}

/* Reads every plain value the table places directly in section (e.g.
 * "providers.*" reads providers.*.timeout_ms, not deeper keys) from obj
 * (NULL: the section is absent, all defaults) into base. */
static int table_fields(struct pctx *c, const cJSON *obj, const char *path,
                        const char *section, void *base)
{
    size_t n, len = strlen(section);
    const struct config_key *keys = config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        const char *name = keys[i].name;
        if (keys[i].offset == CONFIG_BY_HAND ||
            strncmp(name, section, len) != 0 || name[len] != '.' ||
            strchr(name + len + 1, '.'))
            continue;
        int rc = table_field(c, obj, path, section, &keys[i], name + len + 1,
                             base);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* ---- sections ---- */

static int parse_log_level(struct pctx *c, const cJSON *root,
                           struct config *cfg)
{
    char *name = NULL;
    enum log_level level = SL_LOG_INFO;
    int rc = table_string(c, root, "", "", "log_level", &name);
    if (rc == SL_OK && log_level_parse(name, &level) != SL_OK)
        rc = fail(c, "log_level", "must be one of debug, info, warn, error");
    cfg->log_level = (int)level;
    free(name);
    return rc;
}

static int parse_kafka_properties(struct pctx *c, const cJSON *kafka,
                                  struct kafka_conf *k)
{
    const cJSON *props;
    int rc = get_object(c, kafka, "kafka", "properties", OPTIONAL, &props);
    if (rc != SL_OK || !props)
        return rc;
    if ((rc = check_duplicates(c, props, "kafka.properties")) != SL_OK)
        return rc;
    k->properties = xcalloc((size_t)cJSON_GetArraySize(props),
                            sizeof(*k->properties));
    for (const cJSON *it = props->child; it; it = it->next) {
        if (!cJSON_IsString(it)) {
            char sub[PATH_MAX_LEN];
            join(sub, "kafka.properties", it->string);
            return fail(c, sub, "must be a string (librdkafka takes strings)");
        }
        struct kv_pair *kv = &k->properties[k->n_properties++];
        kv->key = xstrdup(it->string);
        kv->value = xstrdup(it->valuestring);
    }
    return SL_OK;
}

static int parse_kafka(struct pctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *obj;
    struct kafka_conf *k = &cfg->kafka;
    int rc = get_object(c, root, "", "kafka", REQUIRED, &obj);
    if (rc == SL_OK)
        rc = check_keys(c, obj, "kafka", "kafka");
    if (rc == SL_OK)
        rc = table_fields(c, obj, "kafka", "kafka", k);
    if (rc == SL_OK)
        rc = parse_kafka_properties(c, obj, k);
    return rc;
}

static int parse_postgres(struct pctx *c, const cJSON *root,
                          struct config *cfg)
{
    const cJSON *obj;
    int rc = get_object(c, root, "", "postgres", REQUIRED, &obj);
    if (rc == SL_OK)
        rc = check_keys(c, obj, "postgres", "postgres");
    if (rc == SL_OK)
        rc = table_fields(c, obj, "postgres", "postgres", cfg);
    return rc;
}

/* "" disables the server; otherwise a numeric "HOST:PORT" or "[IPv6]:PORT"
 * (checked fully when the server binds it, see metrics_http.h). */
static int check_listen(struct pctx *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    if (v[0] == '\0')
        return SL_OK;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == v || end == colon + 1 || *end != '\0' || port < 0 ||
        port > 65535)
        return fail(c, "metrics.listen",
                    "must be \"HOST:PORT\" (port 0..65535) or \"\" to disable");
    return SL_OK;
}

static int parse_metrics(struct pctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *obj; /* NULL when absent: defaults */
    int rc = get_object(c, root, "", "metrics", OPTIONAL, &obj);
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, "metrics", "metrics");
    if (rc == SL_OK)
        rc = table_fields(c, obj, "metrics", "metrics", &cfg->metrics);
    if (rc == SL_OK)
        rc = check_listen(c, cfg->metrics.listen);
    return rc;
}

static int parse_worker(struct pctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *obj; /* NULL when absent: every getter then takes defaults */
    int rc = get_object(c, root, "", "worker", OPTIONAL, &obj);
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, "worker", "worker");
    if (rc == SL_OK)
        rc = table_fields(c, obj, "worker", "worker", &cfg->worker);
    return rc;
}

/* "HH:MM[:SS]" into seconds of the day; 24:00 is the end of the day. */
static bool parse_clock(const char *text, const char **end, int *out)
{
    int h, m, sec = 0, used = 0;
    if (sscanf(text, "%2d:%2d%n", &h, &m, &used) != 2)
        return false;
    text += used;
    if (*text == ':') {
        used = 0;
        if (sscanf(text + 1, "%2d%n", &sec, &used) != 1 || used != 2)
            return false;
        text += 3;
    }
    *end = text;
    *out = h * 3600 + m * 60 + sec;
    return h >= 0 && m >= 0 && m < 60 && sec >= 0 && sec < 60 &&
           (h < 24 || (h == 24 && m == 0 && sec == 0));
}

/* "HH:MM[:SS]-HH:MM[:SS]" local time; an empty window is an error. */
static int parse_window(struct pctx *c, const cJSON *it, const char *path,
                        struct offpeak_window *w)
{
    const char *p = cJSON_IsString(it) ? it->valuestring : "";
    bool ok = parse_clock(p, &p, &w->start_s) && w->start_s < 86400 &&
              *p++ == '-' && parse_clock(p, &p, &w->end_s) && *p == '\0';
    if (!ok)
        return fail(c, path, "must be \"HH:MM-HH:MM\", e.g. \"01:00-06:00\"");
    if (w->start_s == w->end_s % 86400)
        return fail(c, path, "start and end are equal");
    return SL_OK;
}

static int parse_offpeak(struct pctx *c, const cJSON *sched,
                         struct scheduler_conf *s)
{
    const cJSON *obj = NULL, *arr;
    char path[PATH_MAX_LEN];
    int rc = sched ? get_object(c, sched, "scheduler", "offpeak", OPTIONAL, &obj)
                   : SL_OK;
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, "scheduler.offpeak", "scheduler.offpeak");
    if (rc == SL_OK)
        rc = table_string(c, obj, "scheduler.offpeak", "scheduler.offpeak",
                          "timezone", &s->timezone);
    arr = obj ? cJSON_GetObjectItemCaseSensitive(obj, "windows") : NULL;
    if (rc != SL_OK || !arr)
        return rc;
    if (!cJSON_IsArray(arr))
        return fail(c, "scheduler.offpeak.windows", "must be an array of \"HH:MM-HH:MM\"");
    s->windows = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*s->windows));
    for (const cJSON *it = arr->child; rc == SL_OK && it; it = it->next) {
        join_index(path, "scheduler.offpeak.windows", s->n_windows);
        rc = parse_window(c, it, path, &s->windows[s->n_windows++]);
    }
    return rc;
}

static int parse_scheduler(struct pctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *obj;
    struct scheduler_conf *s = &cfg->scheduler;
    int rc = get_object(c, root, "", "scheduler", OPTIONAL, &obj);
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, "scheduler", "scheduler");
    if (rc == SL_OK)
        rc = table_fields(c, obj, "scheduler", "scheduler", s);
    if (rc == SL_OK && s->poll_max_ms < s->poll_min_ms)
        rc = fail(c, "scheduler.poll_max_ms", "must be >= poll_min_ms");
    if (rc == SL_OK)
        rc = parse_offpeak(c, obj, s);
    return rc;
}

/* Walks a map section (an object of named entries), parsing each entry into
 * the next element of an array; *n counts entries as they start so that
 * config_free releases a half-parsed one. */
typedef int (*entry_fn)(struct pctx *c, const cJSON *item, const char *path,
                        void *elem, struct config *cfg);

static int parse_map(struct pctx *c, const cJSON *root, const char *key,
                     size_t elem_size, void **arr, size_t *n, entry_fn fn,
                     struct config *cfg)
{
    const cJSON *obj;
    char sub[PATH_MAX_LEN];
    int rc = get_object(c, root, "", key, REQUIRED, &obj);
    if (rc == SL_OK)
        rc = check_duplicates(c, obj, key);
    if (rc != SL_OK)
        return rc;
    if (!obj->child)
        return fail(c, key, "must define at least one entry");
    *arr = xcalloc((size_t)cJSON_GetArraySize(obj), elem_size);
    for (const cJSON *it = obj->child; it && rc == SL_OK; it = it->next) {
        join(sub, key, it->string);
        if (!cJSON_IsObject(it))
            return fail(c, sub, "must be an object");
        char section[PATH_MAX_LEN];
        join(section, key, "*");
        if ((rc = check_keys(c, it, sub, section)) != SL_OK)
            return rc;
        void *elem = (char *)*arr + (*n)++ * elem_size;
        rc = fn(c, it, sub, elem, cfg);
    }
    return rc;
}

/* Names become parts of environment variable names and SQL labels. */
static bool name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
            return false;
    return true;
}

static int parse_provider_kind(struct pctx *c, const cJSON *item,
                               const char *path, struct provider_conf *p)
{
    char *kind = NULL;
    int rc = get_string(c, item, path, "kind", REQUIRED, NULL, &kind);
    if (rc == SL_OK) {
        if (strcmp(kind, "openai") == 0)
            p->kind = PROVIDER_OPENAI;
        else if (strcmp(kind, "anthropic") == 0)
            p->kind = PROVIDER_ANTHROPIC;
        else {
            char sub[PATH_MAX_LEN];
            join(sub, path, "kind");
            rc = fail(c, sub, "must be \"openai\" or \"anthropic\"");
        }
    }
    free(kind);
    return rc;
}

static int parse_provider(struct pctx *c, const cJSON *item, const char *path,
                          void *elem, struct config *cfg)
{
    (void)cfg;
    struct provider_conf *p = elem;
    char sub[PATH_MAX_LEN];
    p->name = xstrdup(item->string);
    if (!name_ok(p->name))
        return fail(c, path, "provider names may use only letters, digits, "
                             "'-', '_' and '.'");
    int rc = parse_provider_kind(c, item, path, p);
    if (rc == SL_OK)
        rc = table_fields(c, item, path, "providers.*", p);
    join(sub, path, "base_url");
    if (rc == SL_OK && strncmp(p->base_url, "http://", 7) != 0 &&
        strncmp(p->base_url, "https://", 8) != 0)
        rc = fail(c, sub, "must start with http:// or https://");
    join(sub, path, "retry_cap_ms");
    if (rc == SL_OK && p->retry_cap_ms < p->retry_base_ms)
        rc = fail(c, sub, "must be >= retry_base_ms");
    join(sub, path, "flex");
    if (rc == SL_OK && p->flex && p->kind != PROVIDER_OPENAI)
        rc = fail(c, sub, "flex processing is an OpenAI service tier (kind \"openai\")");
    return rc;
}

static int64_t usd_to_nano(double usd)
{
    return (int64_t)llround(usd * 1e9);
}

static int parse_price(struct pctx *c, const cJSON *item, const char *path,
                       void *elem, struct config *cfg)
{
    (void)cfg;
    struct price *p = elem;
    double in = 0, cached = 0, write = 0, write_1h = 0, out = 0, discount = 0;
    p->model = xstrdup(item->string);
    int rc = table_number(c, item, path, "prices.*", "input", &in);
    if (rc == SL_OK)
        rc = table_number(c, item, path, "prices.*", "output", &out);
    /* Without a separate figure, cached input and cache writes cost what
     * plain input costs: never cheaper than the truth. */
    cached = write = in;
    /* A 1-hour write costs twice the input price at Anthropic (5 minutes:
     * 1.25 times, which the config states with cache_write). */
    write_1h = 2 * in;
    if (rc == SL_OK)
        rc = table_number(c, item, path, "prices.*", "cached_input", &cached);
    if (rc == SL_OK)
        rc = table_number(c, item, path, "prices.*", "cache_write", &write);
    if (rc == SL_OK)
        rc = table_number(c, item, path, "prices.*", "cache_write_1h",
                          &write_1h);
    if (rc == SL_OK)
        rc = table_number(c, item, path, "prices.*", "batch_discount",
                          &discount);
    if (rc != SL_OK)
        return rc;
    p->input = usd_to_nano(in);
    p->cached_input = usd_to_nano(cached);
    p->cache_write = usd_to_nano(write);
    p->cache_write_1h = usd_to_nano(write_1h);
    p->output = usd_to_nano(out);
    p->batch_discount_pct = (int)lround(discount * 100);
    return SL_OK;
}

/* Tier keys are "1".."CONFIG_MAX_TIERS", without signs or leading zeros. */
static int tier_number(const char *key)
{
    if (key[0] < '1' || key[0] > '9' || key[1] != '\0')
        return 0;
    int t = key[0] - '0';
    return t <= CONFIG_MAX_TIERS ? t : 0;
}

static int parse_tier(struct pctx *c, const cJSON *item, const char *path,
                      void *elem, struct config *cfg)
{
    struct tier_conf *t = elem;
    char *provider = NULL;
    char sub[PATH_MAX_LEN];
    t->tier = tier_number(item->string);
    if (t->tier == 0)
        return fail(c, path, "tier keys must be numbers 1..%d",
                    CONFIG_MAX_TIERS);
    int rc = get_string(c, item, path, "provider", REQUIRED, NULL, &provider);
    if (rc == SL_OK) {
        t->provider = config_provider(cfg, provider);
        join(sub, path, "provider");
        if (!t->provider)
            rc = fail(c, sub, "provider \"%s\" is not defined in providers",
                      provider);
    }
    free(provider);
    if (rc == SL_OK)
        rc = get_string(c, item, path, "model", REQUIRED, NULL, &t->model);
    if (rc == SL_OK) {
        t->price = config_price(cfg, t->model);
        join(sub, path, "model");
        if (!t->price)
            rc = fail(c, sub, "model \"%s\" has no entry in prices", t->model);
    }
    return rc;
}

static int tier_cmp(const void *a, const void *b)
{
    const struct tier_conf *x = a, *y = b;
    return (x->tier > y->tier) - (x->tier < y->tier);
}

static int parse_tiers(struct pctx *c, const cJSON *root, struct config *cfg)
{
    int rc = parse_map(c, root, "tiers", sizeof(struct tier_conf),
                       (void **)&cfg->tiers, &cfg->n_tiers, parse_tier, cfg);
    if (rc != SL_OK)
        return rc;
    qsort(cfg->tiers, cfg->n_tiers, sizeof(*cfg->tiers), tier_cmp);
    cfg->top_tier = cfg->tiers[cfg->n_tiers - 1].tier;
    return SL_OK;
}

static int parse_providers(struct pctx *c, const cJSON *root,
                           struct config *cfg)
{
    return parse_map(c, root, "providers", sizeof(struct provider_conf),
                     (void **)&cfg->providers, &cfg->n_providers,
                     parse_provider, cfg);
}

static int parse_prices(struct pctx *c, const cJSON *root, struct config *cfg)
{
    return parse_map(c, root, "prices", sizeof(struct price),
                     (void **)&cfg->prices, &cfg->n_prices, parse_price, cfg);
}

/* ---- tasks ---- */

static int parse_output(struct pctx *c, const cJSON *item, const char *path,
                        struct task_conf *t)
{
    static const char *const names[] = {"label", "json", "text"};
    char *out = NULL;
    int rc = get_string(c, item, path, "output", REQUIRED, NULL, &out);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        if (strcmp(out, names[i]) == 0) {
            t->output = (enum output_type)i;
            free(out);
            return SL_OK;
        }
    }
    free(out);
    char sub[PATH_MAX_LEN];
    join(sub, path, "output");
    return fail(c, sub, "must be \"label\", \"json\" or \"text\"");
}

static int parse_label_list(struct pctx *c, const cJSON *arr, const char *sub,
                            struct task_conf *t)
{
    char el[PATH_MAX_LEN];
    t->labels = xcalloc((size_t)cJSON_GetArraySize(arr), sizeof(char *));
    for (const cJSON *it = arr->child; it; it = it->next) {
        join_index(el, sub, t->n_labels);
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0')
            return fail(c, el, "must be a non-empty string");
        for (size_t i = 0; i < t->n_labels; i++)
            if (strcmp(t->labels[i], it->valuestring) == 0)
                return fail(c, el, "duplicate label \"%s\"", it->valuestring);
        t->labels[t->n_labels++] = xstrdup(it->valuestring);
    }
    return SL_OK;
}

static int parse_labels(struct pctx *c, const cJSON *item, const char *path,
                        struct task_conf *t)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, "labels");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(item, "labels");
    if (t->output != OUTPUT_LABEL)
        return arr ? fail(c, sub, "only label tasks take labels") : SL_OK;
    if (!arr)
        return fail(c, sub, "missing (required for label tasks)");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return fail(c, sub, "must be a non-empty array of strings");
    return parse_label_list(c, arr, sub, t);
}

static int parse_schema(struct pctx *c, const cJSON *item, const char *path,
                        struct task_conf *t)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, "schema");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(item, "schema");
    if (t->output != OUTPUT_JSON)
        return schema ? fail(c, sub, "only json tasks take a schema") : SL_OK;
    if (!schema)
        return fail(c, sub, "missing (required for json tasks)");
    if (!cJSON_IsObject(schema))
        return fail(c, sub, "must be an object (a JSON schema)");
    t->schema = cJSON_Duplicate(schema, 1);
    t->schema_text = cJSON_PrintUnformatted(schema);
    if (!t->schema || !t->schema_text)
        return fail(c, sub, "cannot copy the schema");
    return SL_OK;
}

static int parse_prompt(struct pctx *c, const cJSON *item, const char *path,
                        struct task_conf *t)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, "prompt");
    int rc = table_string(c, item, path, "tasks.*", "prompt", &t->prompt);
    if (rc != SL_OK)
        return rc;
    if (!strstr(t->prompt, "{{input}}"))
        return fail(c, sub, "must contain {{input}}");
    if (t->output == OUTPUT_LABEL && !strstr(t->prompt, "{{labels}}"))
        return fail(c, sub, "label tasks must contain {{labels}}");
    if (t->output == OUTPUT_JSON && !strstr(t->prompt, "{{schema}}"))
        return fail(c, sub, "json tasks must contain {{schema}}");
    return SL_OK;
}

static int parse_ladder_list(struct pctx *c, const cJSON *arr, const char *sub,
                             const struct config *cfg, struct task_conf *t)
{
    char el[PATH_MAX_LEN];
    for (const cJSON *it = arr->child; it; it = it->next) {
        int64_t tier = 0; /* GCC -O3 cannot see that fail() is nonzero */
        join_index(el, sub, t->n_ladder);
        int rc = check_int(c, it, el, 1, CONFIG_MAX_TIERS, &tier);
        if (rc != SL_OK)
            return rc;
        if (!config_tier(cfg, (int)tier))
            return fail(c, el, "tier %d is not defined in tiers", (int)tier);
        if (t->n_ladder > 0 && tier <= t->ladder[t->n_ladder - 1])
            return fail(c, el, "tiers must be strictly increasing");
        t->ladder[t->n_ladder++] = (int)tier;
    }
    return SL_OK;
}

/* Without a ladder a task climbs every tier. */
static int parse_ladder(struct pctx *c, const cJSON *item, const char *path,
                        const struct config *cfg, struct task_conf *t)
{
    char sub[PATH_MAX_LEN];
    join(sub, path, "ladder");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(item, "ladder");
    if (!arr) {
        for (size_t i = 0; i < cfg->n_tiers; i++)
            t->ladder[t->n_ladder++] = cfg->tiers[i].tier;
        return SL_OK;
    }
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0 ||
        cJSON_GetArraySize(arr) > CONFIG_MAX_TIERS)
        return fail(c, sub, "must be an array of 1..%d tier numbers",
                    CONFIG_MAX_TIERS);
    return parse_ladder_list(c, arr, sub, cfg, t);
}

static bool has_label(const struct task_conf *t, const char *label)
{
    for (size_t i = 0; i < t->n_labels; i++)
        if (strcmp(t->labels[i], label) == 0)
            return true;
    return false;
}

/* Tier-0 settings; present or not, only label tasks use them. */
static int parse_tier0(struct pctx *c, const cJSON *item, const char *path,
                       struct task_conf *t)
{
    char sub[PATH_MAX_LEN];
    const cJSON *obj;
    join(sub, path, "tier0");
    int rc = get_object(c, item, path, "tier0", OPTIONAL, &obj);
    /* Absent or not, the defaults apply (the table's, and "enabled" for
     * label tasks). */
    t->tier0_enabled = t->output == OUTPUT_LABEL;
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, sub, "tasks.*.tier0");
    if (rc == SL_OK)
        rc = table_fields(c, obj, sub, "tasks.*.tier0", t);
    if (rc == SL_OK && obj)
        rc = get_bool(c, obj, sub, "enabled", t->tier0_enabled, &t->tier0_enabled);
    if (rc == SL_OK && t->tier0_fallback_label &&
        !has_label(t, t->tier0_fallback_label))
        return fail(c, sub, "fallback_label must be one of the task's labels");
    if (rc == SL_OK && t->tier0_enabled && t->output != OUTPUT_LABEL)
        return fail(c, sub, "tier 0 serves label tasks only");
    return rc;
}

/* An example's answer as the model is asked to give it, without the
 * confidence: {"label":…}, {"data":…} or {"text":…}. */
static int example_answer(struct pctx *c, const cJSON *out, const char *sub,
                          const struct task_conf *t, char **answer)
{
    if (t->output != OUTPUT_JSON && !cJSON_IsString(out))
        return fail(c, sub, "must be a string");
    if (t->output == OUTPUT_LABEL && !has_label(t, out->valuestring))
        return fail(c, sub, "must be one of the task's labels");
    cJSON *obj = cJSON_CreateObject();
    cJSON *copy = cJSON_Duplicate(out, 1);
    const char *key = t->output == OUTPUT_LABEL ? "label"
                      : t->output == OUTPUT_JSON ? "data" : "text";
    if (!obj || !copy || !cJSON_AddItemToObject(obj, key, copy)) {
        cJSON_Delete(obj);
        cJSON_Delete(copy);
        return fail(c, sub, "out of memory");
    }
    *answer = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    return *answer ? SL_OK : fail(c, sub, "out of memory");
}

static int parse_example(struct pctx *c, const cJSON *el, const char *path,
                         struct task_conf *t, struct task_example *ex)
{
    char sub[PATH_MAX_LEN];
    if (!cJSON_IsObject(el))
        return fail(c, path, "must be an object with input and output");
    int rc = check_keys(c, el, path, "tasks.*.examples[]");
    if (rc == SL_OK)
        rc = get_string(c, el, path, "input", REQUIRED, NULL, &ex->input);
    join(sub, path, "output");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(el, "output");
    if (rc == SL_OK && !out)
        rc = fail(c, sub, "missing (required)");
    if (rc == SL_OK)
        rc = example_answer(c, out, sub, t, &ex->answer);
    return rc;
}

/* Few-shot examples: what makes a task's stable prefix long enough to be
 * worth caching. */
static int parse_examples(struct pctx *c, const cJSON *item, const char *path,
                          struct task_conf *t)
{
    char sub[PATH_MAX_LEN], el[PATH_MAX_LEN];
    join(sub, path, "examples");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(item, "examples");
    if (!arr)
        return SL_OK;
    if (!cJSON_IsArray(arr))
        return fail(c, sub, "must be an array of {input, output}");
    t->examples = xcalloc((size_t)cJSON_GetArraySize(arr) + 1,
                          sizeof(*t->examples));
    for (const cJSON *it = arr->child; it; it = it->next) {
        join_index(el, sub, t->n_examples);
        int rc = parse_example(c, it, el, t, &t->examples[t->n_examples++]);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

static int parse_prompt_cache_ttl(struct pctx *c, const cJSON *item, const char *path,
                           struct task_conf *t)
{
    char sub[PATH_MAX_LEN];
    char *ttl = NULL;
    join(sub, path, "prompt_cache_ttl");
    int rc = table_string(c, item, path, "tasks.*", "prompt_cache_ttl", &ttl);
    if (rc == SL_OK && strcmp(ttl, "5m") == 0)
        t->prompt_cache_ttl_s = 300;
    else if (rc == SL_OK && strcmp(ttl, "1h") == 0)
        t->prompt_cache_ttl_s = 3600;
    else if (rc == SL_OK)
        rc = fail(c, sub, "must be \"5m\" or \"1h\"");
    free(ttl);
    return rc;
}

/* Cache settings. Absent, label and JSON tasks cache exact repeats (the
 * same question gets the same answer), text generation does not (a user
 * asking twice may well want a second draft). */
static int parse_cache(struct pctx *c, const cJSON *item, const char *path,
                       struct task_conf *t)
{
    static const char *const modes[] = {"off", "exact", "near"};
    char sub[PATH_MAX_LEN];
    const cJSON *obj;
    char *mode = NULL;
    join(sub, path, "cache");
    int rc = get_object(c, item, path, "cache", OPTIONAL, &obj);
    const char *by_default = t->output == OUTPUT_TEXT ? "off" : "exact";
    t->cache_mode = t->output == OUTPUT_TEXT ? CACHE_OFF : CACHE_EXACT;
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, sub, "tasks.*.cache");
    if (rc == SL_OK)
        rc = table_fields(c, obj, sub, "tasks.*.cache", t);
    if (rc == SL_OK && obj)
        rc = get_bool(c, obj, sub, "shared", false, &t->cache_shared);
    if (rc == SL_OK && obj)
        rc = get_string(c, obj, sub, "mode", OPTIONAL, by_default, &mode);
    if (rc != SL_OK || !mode)
        return rc;
    size_t i = 0;
    while (i < SL_ARRAY_LEN(modes) && strcmp(mode, modes[i]) != 0)
        i++;
    free(mode);
    char key[PATH_MAX_LEN];
    join(key, sub, "mode");
    if (i == SL_ARRAY_LEN(modes))
        return fail(c, key, "must be \"off\", \"exact\" or \"near\"");
    t->cache_mode = (enum cache_mode)i;
    if (t->cache_mode == CACHE_NEAR && t->output != OUTPUT_LABEL)
        return fail(c, key, "near-duplicate answers serve label tasks only");
    return SL_OK;
}

static int parse_task(struct pctx *c, const cJSON *item, const char *path,
                      void *elem, struct config *cfg)
{
    struct task_conf *t = elem;
    t->name = xstrdup(item->string);
    if (t->name[0] == '\0')
        return fail(c, path, "task names must not be empty");
    int rc = parse_output(c, item, path, t);
    if (rc == SL_OK)
        rc = parse_labels(c, item, path, t);
    if (rc == SL_OK)
        rc = parse_schema(c, item, path, t);
    if (rc == SL_OK)
        rc = parse_prompt(c, item, path, t);
    if (rc == SL_OK)
        rc = parse_ladder(c, item, path, cfg, t);
    if (rc == SL_OK) /* system, confidence_threshold, max_output_tokens */
        rc = table_fields(c, item, path, "tasks.*", t);
    if (rc == SL_OK)
        rc = parse_tier0(c, item, path, t);
    if (rc == SL_OK)
        rc = parse_examples(c, item, path, t);
    if (rc == SL_OK)
        rc = parse_prompt_cache_ttl(c, item, path, t);
    if (rc == SL_OK)
        rc = parse_cache(c, item, path, t);
    return rc;
}

static int parse_tasks(struct pctx *c, const cJSON *root, struct config *cfg)
{
    return parse_map(c, root, "tasks", sizeof(struct task_conf),
                     (void **)&cfg->tasks, &cfg->n_tasks, parse_task, cfg);
}

/* ---- routing ---- */

static int get_tier_ref(struct pctx *c, const cJSON *obj, const char *path,
                        const char *key, const struct config *cfg, int *out)
{
    int64_t v = 0;
    int rc = get_int(c, obj, path, key, 1, CONFIG_MAX_TIERS, 0, &v);
    if (rc != SL_OK)
        return rc;
    char sub[PATH_MAX_LEN];
    join(sub, path, key);
    if (v != 0 && !config_tier(cfg, (int)v))
        return fail(c, sub, "tier %d is not defined in tiers", (int)v);
    *out = (int)v;
    return SL_OK;
}

static int check_when_refs(struct pctx *c, const char *wpath,
                           const struct config *cfg, const struct route_rule *r)
{
    char sub[PATH_MAX_LEN];
    enum job_mode mode;
    join(sub, wpath, "task");
    if (r->task && !config_task(cfg, r->task))
        return fail(c, sub, "task \"%s\" is not defined in tasks", r->task);
    join(sub, wpath, "mode");
    if (r->mode && job_mode_parse(r->mode, &mode) != SL_OK)
        return fail(c, sub, "must be \"interactive\", \"async\" or \"offpeak\"");
    join(sub, wpath, "max_input_tokens");
    if (r->min_input_tokens >= 0 && r->max_input_tokens >= 0 &&
        r->max_input_tokens < r->min_input_tokens)
        return fail(c, sub, "must be >= min_input_tokens");
    return SL_OK;
}

static int parse_when(struct pctx *c, const cJSON *rule, const char *path,
                      const struct config *cfg, struct route_rule *r)
{
    const cJSON *w;
    char wpath[PATH_MAX_LEN];
    join(wpath, path, "when");
    r->min_input_tokens = r->max_input_tokens = -1;
    int rc = get_object(c, rule, path, "when", OPTIONAL, &w);
    if (rc != SL_OK || !w)
        return rc;
    rc = check_keys(c, w, wpath, "routing[].when");
    if (rc == SL_OK)
        rc = get_string(c, w, wpath, "task", OPTIONAL, NULL, &r->task);
    if (rc == SL_OK)
        rc = get_string(c, w, wpath, "mode", OPTIONAL, NULL, &r->mode);
    if (rc == SL_OK)
        rc = get_string(c, w, wpath, "user_tier", OPTIONAL, NULL, &r->user_tier);
    if (rc == SL_OK)
        rc = table_int(c, w, wpath, "routing[].when", "min_input_tokens",
                       &r->min_input_tokens);
    if (rc == SL_OK)
        rc = table_int(c, w, wpath, "routing[].when", "max_input_tokens",
                       &r->max_input_tokens);
    return rc == SL_OK ? check_when_refs(c, wpath, cfg, r) : rc;
}

static bool only_user_tier(const struct route_rule *r)
{
    return r->user_tier && !r->task && !r->mode && r->min_input_tokens < 0 &&
           r->max_input_tokens < 0;
}

static int check_actions(struct pctx *c, const char *path,
                         const struct route_rule *r)
{
    if (r->start_tier == 0 && r->max_tier == 0)
        return fail(c, path, "a rule needs start_tier or max_tier");
    /* The user tier only ever caps a job's spend; it never sends a job to a
     * dearer tier (docs/architecture.md). */
    if (only_user_tier(r) && r->start_tier)
        return fail(c, path, "a rule on user_tier alone may set only max_tier");
    if (r->start_tier && r->max_tier && r->start_tier > r->max_tier)
        return fail(c, path, "start_tier %d is above max_tier %d",
                    r->start_tier, r->max_tier);
    return SL_OK;
}

static int parse_rule(struct pctx *c, const cJSON *rule, const char *path,
                      struct config *cfg, struct route_rule *r)
{
    if (!cJSON_IsObject(rule))
        return fail(c, path, "must be an object");
    int rc = check_keys(c, rule, path, "routing[]");
    if (rc == SL_OK)
        rc = parse_when(c, rule, path, cfg, r);
    if (rc == SL_OK)
        rc = get_tier_ref(c, rule, path, "start_tier", cfg, &r->start_tier);
    if (rc == SL_OK)
        rc = get_tier_ref(c, rule, path, "max_tier", cfg, &r->max_tier);
    return rc == SL_OK ? check_actions(c, path, r) : rc;
}

static int parse_routing(struct pctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "routing");
    char path[PATH_MAX_LEN];
    if (!arr)
        return SL_OK;
    if (!cJSON_IsArray(arr))
        return fail(c, "routing", "must be an array of rules");
    cfg->rules = xcalloc((size_t)cJSON_GetArraySize(arr), sizeof(*cfg->rules));
    for (const cJSON *it = arr->child; it; it = it->next) {
        join_index(path, "routing", cfg->n_rules);
        struct route_rule *r = &cfg->rules[cfg->n_rules++];
        int rc = parse_rule(c, it, path, cfg, r);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* ---- budgets and alerts ---- */

static const char *const budget_action_names[] = {"cap_tier", "defer", "reject"};

const char *budget_action_name(enum budget_action action)
{
    if ((size_t)action < SL_ARRAY_LEN(budget_action_names))
        return budget_action_names[action];
    return "unknown";
}

static int parse_budget_action(struct pctx *c, const cJSON *item,
                               const char *path, struct budget_conf *b)
{
    char *name = NULL;
    char sub[PATH_MAX_LEN];
    int rc = get_string(c, item, path, "action", REQUIRED, NULL, &name);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < SL_ARRAY_LEN(budget_action_names); i++) {
        if (strcmp(name, budget_action_names[i]) == 0) {
            b->action = (enum budget_action)i;
            free(name);
            return SL_OK;
        }
    }
    free(name);
    join(sub, path, "action");
    return fail(c, sub, "must be \"cap_tier\", \"defer\" or \"reject\"");
}

static int parse_budget(struct pctx *c, const cJSON *item, const char *path,
                        const char *section, const struct config *cfg,
                        struct budget_conf *b)
{
    double usd = 0;
    char sub[PATH_MAX_LEN];
    int rc = table_number(c, item, path, section, "daily_usd", &usd);
    if (rc == SL_OK)
        rc = parse_budget_action(c, item, path, b);
    if (rc == SL_OK)
        rc = get_tier_ref(c, item, path, "max_tier", cfg, &b->max_tier);
    if (rc != SL_OK)
        return rc;
    b->daily_nanousd = usd_to_nano(usd);
    join(sub, path, "max_tier");
    if (b->action == BUDGET_CAP_TIER && b->max_tier == 0)
        return fail(c, sub, "missing (required for action cap_tier)");
    if (b->action != BUDGET_CAP_TIER && b->max_tier != 0)
        return fail(c, sub, "only action cap_tier takes max_tier");
    return SL_OK;
}

/* budgets.features / budgets.tenants: name -> budget. */
static int parse_budget_map(struct pctx *c, const cJSON *budgets,
                            const char *key, const struct config *cfg,
                            struct budget_conf **arr, size_t *n)
{
    const cJSON *obj;
    char path[PATH_MAX_LEN], sub[PATH_MAX_LEN], section[PATH_MAX_LEN];
    join(path, "budgets", key);
    join(section, path, "*");
    int rc = get_object(c, budgets, "budgets", key, OPTIONAL, &obj);
    if (rc == SL_OK && obj)
        rc = check_duplicates(c, obj, path);
    if (rc != SL_OK || !obj)
        return rc;
    *arr = xcalloc((size_t)cJSON_GetArraySize(obj) + 1, sizeof(**arr));
    for (const cJSON *it = obj->child; it; it = it->next) {
        join(sub, path, it->string);
        if (it->string[0] == '\0')
            return fail(c, sub, "names must not be empty");
        if (!cJSON_IsObject(it))
            return fail(c, sub, "must be an object");
        struct budget_conf *b = &(*arr)[(*n)++];
        b->name = xstrdup(it->string);
        if ((rc = check_keys(c, it, sub, section)) != SL_OK ||
            (rc = parse_budget(c, it, sub, section, cfg, b)) != SL_OK)
            return rc;
    }
    return SL_OK;
}

static int parse_budgets(struct pctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *obj;
    struct budgets_conf *b = &cfg->budgets;
    int rc = get_object(c, root, "", "budgets", OPTIONAL, &obj);
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, "budgets", "budgets");
    if (rc == SL_OK && obj)
        rc = parse_budget_map(c, obj, "features", cfg, &b->features,
                              &b->n_features);
    if (rc == SL_OK && obj)
        rc = parse_budget_map(c, obj, "tenants", cfg, &b->tenants,
                              &b->n_tenants);
    b->free_top_tier_escalations_per_day = -1; /* no cap */
    if (rc == SL_OK)
        rc = table_fields(c, obj, "budgets", "budgets", b);
    return rc;
}

static int parse_alerts(struct pctx *c, const cJSON *root, struct config *cfg)
{
    const cJSON *obj;
    struct alerts_conf *a = &cfg->alerts;
    int rc = get_object(c, root, "", "alerts", OPTIONAL, &obj);
    if (rc == SL_OK && obj)
        rc = check_keys(c, obj, "alerts", "alerts");
    if (rc == SL_OK)
        rc = table_fields(c, obj, "alerts", "alerts", a);
    double tolerance = 0;
    if (rc == SL_OK)
        rc = table_number(c, obj, "alerts", "alerts", "reconcile_tolerance_usd",
                          &tolerance);
    a->reconcile_tolerance_nanousd = usd_to_nano(tolerance);
    return rc;
}

/* ---- top level ---- */

typedef int (*section_fn)(struct pctx *c, const cJSON *root, struct config *cfg);

/* Order matters: each section may refer only to those before it. */
static const section_fn sections[] = {
    parse_log_level, parse_kafka, parse_postgres, parse_worker, parse_scheduler,
    parse_metrics, parse_prices, parse_providers, parse_tiers, parse_tasks,
    parse_routing, parse_budgets, parse_alerts,
};

static int parse_root(struct pctx *c, const cJSON *root, struct config *cfg)
{
    if (!cJSON_IsObject(root))
        return fail(c, "(top level)", "must be a JSON object");
    int rc = check_keys(c, root, "", "");
    for (size_t i = 0; rc == SL_OK && i < SL_ARRAY_LEN(sections); i++)
        rc = sections[i](c, root, cfg);
    return rc;
}

static int syntax_error(struct pctx *c, const char *json, const char *at)
{
    int line = 1, col = 1;
    for (const char *p = json; at && p < at && *p; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(c->err, c->err_size, "%s:%d:%d: invalid JSON", c->source, line,
             col);
    return SL_ECONFIG;
}

int config_parse(const char *json, const char *source_name,
                 struct config **out, char *errstr, size_t errstr_size)
{
    struct pctx c = {source_name, errstr, errstr_size};
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    const char *end = NULL;
    int rc;
    cfg->source = xstrdup(source_name);
    *out = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root)
        rc = syntax_error(&c, json, end);
    else
        rc = parse_root(&c, root, cfg);
    cJSON_Delete(root);
    if (rc != SL_OK) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return SL_OK;
}

/* ---- loading and environment overrides ---- */

/* An empty variable counts as unset, so `VAR= sluice …` cannot blank a
 * connection string. */
static void override(char **field, const char *env_name)
{
    const char *v = getenv(env_name);
    if (v && v[0] != '\0') {
        free(*field);
        *field = xstrdup(v);
    }
}

static void provider_env_name(const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "SLUICE_PROVIDER_%s_BASE_URL", name);
    size_t end = n > 0 && (size_t)n < size ? strlen(buf) - strlen("_BASE_URL")
                                           : 0;
    for (size_t i = strlen("SLUICE_PROVIDER_"); i < end; i++) {
        unsigned char ch = (unsigned char)buf[i];
        buf[i] = (ch == '-' || ch == '.') ? '_' : (char)toupper(ch);
    }
}

static void apply_env(struct config *cfg)
{
    char name[PATH_MAX_LEN];
    override(&cfg->kafka.bootstrap_servers, "SLUICE_KAFKA_BOOTSTRAP");
    override(&cfg->pg_conninfo, "SLUICE_PG_CONNINFO");
    override(&cfg->metrics.listen, "SLUICE_METRICS_LISTEN");
    for (size_t i = 0; i < cfg->n_providers; i++) {
        provider_env_name(cfg->providers[i].name, name, sizeof(name));
        override(&cfg->providers[i].base_url, name);
    }
}

int config_load(const char *path, struct config **out, char *errstr,
                size_t errstr_size)
{
    *out = NULL;
    char *text = sl_read_file(path, CONFIG_FILE_MAX, NULL, errstr, errstr_size);
    if (!text)
        return SL_ECONFIG;
    int rc = config_parse(text, path, out, errstr, errstr_size);
    free(text);
    if (rc == SL_OK)
        apply_env(*out);
    return rc;
}

/* ---- freeing and lookups ---- */

static void free_task(struct task_conf *t)
{
    free(t->name);
    for (size_t i = 0; i < t->n_labels; i++)
        free(t->labels[i]);
    free(t->labels);
    cJSON_Delete(t->schema);
    free(t->schema_text);
    free(t->tier0_fallback_label);
    free(t->system);
    free(t->prompt);
    for (size_t i = 0; i < t->n_examples; i++) {
        free(t->examples[i].input);
        free(t->examples[i].answer);
    }
    free(t->examples);
}

static void free_kafka(struct kafka_conf *k)
{
    free(k->bootstrap_servers);
    free(k->topic);
    free(k->dlq_topic);
    free(k->group_id);
    for (size_t i = 0; i < k->n_properties; i++) {
        free(k->properties[i].key);
        free(k->properties[i].value);
    }
    free(k->properties);
}

static void free_routing(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_rules; i++) {
        free(cfg->rules[i].task);
        free(cfg->rules[i].mode);
        free(cfg->rules[i].user_tier);
    }
    free(cfg->rules);
}

static void free_budgets(struct budgets_conf *b)
{
    for (size_t i = 0; i < b->n_features; i++)
        free(b->features[i].name);
    for (size_t i = 0; i < b->n_tenants; i++)
        free(b->tenants[i].name);
    free(b->features);
    free(b->tenants);
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free_kafka(&cfg->kafka);
    free(cfg->pg_conninfo);
    free(cfg->scheduler.timezone);
    free(cfg->scheduler.windows);
    free(cfg->metrics.listen);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        free(cfg->providers[i].name);
        free(cfg->providers[i].base_url);
        free(cfg->providers[i].api_key_env);
        free(cfg->providers[i].admin_key_env);
    }
    free(cfg->providers);
    for (size_t i = 0; i < cfg->n_prices; i++)
        free(cfg->prices[i].model);
    free(cfg->prices);
    for (size_t i = 0; i < cfg->n_tiers; i++)
        free(cfg->tiers[i].model);
    free(cfg->tiers);
    for (size_t i = 0; i < cfg->n_tasks; i++)
        free_task(&cfg->tasks[i]);
    free(cfg->tasks);
    free_routing(cfg);
    free_budgets(&cfg->budgets);
    free(cfg);
}

const struct task_conf *config_task(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_tasks; i++)
        if (cfg->tasks[i].name && strcmp(cfg->tasks[i].name, name) == 0)
            return &cfg->tasks[i];
    return NULL;
}

const struct tier_conf *config_tier(const struct config *cfg, int tier)
{
    for (size_t i = 0; i < cfg->n_tiers; i++)
        if (cfg->tiers[i].tier == tier)
            return &cfg->tiers[i];
    return NULL;
}

const struct price *config_price(const struct config *cfg, const char *model)
{
    for (size_t i = 0; i < cfg->n_prices; i++)
        if (cfg->prices[i].model && strcmp(cfg->prices[i].model, model) == 0)
            return &cfg->prices[i];
    return NULL;
}

const struct provider_conf *config_provider(const struct config *cfg,
                                            const char *name)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].name &&
            strcmp(cfg->providers[i].name, name) == 0)
            return &cfg->providers[i];
    return NULL;
}

static const char *const mode_names[] = {"interactive", "async", "offpeak"};

const char *job_mode_name(enum job_mode mode)
{
    if ((size_t)mode < SL_ARRAY_LEN(mode_names))
        return mode_names[mode];
    return "unknown";
}

int job_mode_parse(const char *name, enum job_mode *out)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(mode_names); i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            *out = (enum job_mode)i;
            return SL_OK;
        }
    }
    return SL_EINVAL;
}

int config_load_for(const char *cmd, const char *path, struct config **out)
{
    char err[1024];
    int rc = config_load(path, out, err, sizeof(err));
    if (rc != SL_OK)
        fprintf(stderr, "sluice %s: %s\n", cmd, err);
    return rc;
}

void config_apply_log_level(const struct config *cfg)
{
    if (!log_level_pinned)
        log_min_level = (enum log_level)cfg->log_level;
}

const char *config_default_path(void)
{
    const char *env = getenv("SLUICE_CONFIG");
    return env && *env ? env : "config/sluice.json";
}
