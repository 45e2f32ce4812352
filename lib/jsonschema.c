#include "jsonschema.h"
#include "utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PATH_MAX_LEN 256
/* Member names come from model output: cap what of them reaches a message. */
#define KEY_MAX_SHOWN 64

struct path {
    char buf[PATH_MAX_LEN];
    size_t len;
};

static const char *const type_names[] = {
    "object", "array", "string", "number", "integer", "boolean", "null",
};

static void path_init(struct path *p, const char *root)
{
    sl_strlcpy(p->buf, root, sizeof(p->buf));
    p->len = strlen(p->buf);
}

/* Appends printf-style text; truncates silently when the path is full. */
static void path_push(struct path *p, const char *fmt, ...) SL_PRINTF(2, 3);
static void path_push(struct path *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        p->len += (size_t)n < sizeof(p->buf) - p->len
                      ? (size_t)n : sizeof(p->buf) - p->len - 1;
}

static void path_pop(struct path *p, size_t len)
{
    p->len = len;
    p->buf[len] = '\0';
}

static bool is_ident(const char *key)
{
    if (!*key)
        return false;
    for (const char *c = key; *c; c++)
        if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9')))
            return false;
    return true;
}

/* Copies at most KEY_MAX_SHOWN bytes of key, keeping only printable ASCII
 * so that messages stay one safe line. Returns whether all of key fit. */
static bool sanitise(char shown[KEY_MAX_SHOWN + 1], const char *key)
{
    size_t i;
    for (i = 0; key[i] && i < KEY_MAX_SHOWN; i++) {
        unsigned char c = (unsigned char)key[i];
        shown[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
    }
    shown[i] = '\0';
    return key[i] == '\0';
}

/* Pushes a member name as ".key", or ["key"] when it is not an identifier. */
static void path_push_key(struct path *p, const char *key)
{
    char shown[KEY_MAX_SHOWN + 1];
    bool whole = sanitise(shown, key);
    if (whole && is_ident(key))
        path_push(p, ".%s", shown);
    else
        path_push(p, "[\"%s%s\"]", shown, whole ? "" : "...");
}

static int fail(char *errstr, size_t errstr_size, const struct path *p,
                const char *fmt, ...) SL_PRINTF(4, 5);
static int fail(char *errstr, size_t errstr_size, const struct path *p,
                const char *fmt, ...)
{
    if (errstr && errstr_size > 0) {
        int n = snprintf(errstr, errstr_size, "%s: ", p->buf);
        if (n >= 0 && (size_t)n < errstr_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(errstr + n, errstr_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return SL_EINVAL;
}

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* ---- schema checking ---- */

static int check_node(const cJSON *schema, struct path *p, char *errstr,
                      size_t errstr_size);

/* The name is schema text: sanitised like a member name, so that the
 * message stays one printable line as promised (found by fuzzing: it was
 * copied raw, control bytes and all). */
static int unknown_type(const char *name, struct path *p, char *e, size_t n)
{
    char shown[KEY_MAX_SHOWN + 1];
    sanitise(shown, name);
    return fail(e, n, p, "unknown type \"%.32s\"", shown);
}

static int check_type(const cJSON *kw, struct path *p, char *e, size_t n)
{
    if (cJSON_IsString(kw)) {
        if (in_list(kw->valuestring, type_names, SL_ARRAY_LEN(type_names)))
            return 0;
        return unknown_type(kw->valuestring, p, e, n);
    }
    if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0)
        return fail(e, n, p, "must be a type name or a non-empty array of them");
    const cJSON *t;
    cJSON_ArrayForEach(t, kw) {
        if (!cJSON_IsString(t))
            return fail(e, n, p, "must be a type name or a non-empty array of them");
        if (!in_list(t->valuestring, type_names, SL_ARRAY_LEN(type_names)))
            return unknown_type(t->valuestring, p, e, n);
    }
    return 0;
}

static int check_properties(const cJSON *kw, struct path *p, char *e, size_t n)
{
    if (!cJSON_IsObject(kw))
        return fail(e, n, p, "must be an object");
    const cJSON *sub;
    cJSON_ArrayForEach(sub, kw) {
        size_t saved = p->len;
        path_push_key(p, sub->string);
        int rc = check_node(sub, p, e, n);
        if (rc != 0)
            return rc;
        path_pop(p, saved);
    }
    return 0;
}

static int check_required(const cJSON *kw, struct path *p, char *e, size_t n)
{
    if (!cJSON_IsArray(kw))
        return fail(e, n, p, "must be an array of strings");
    const cJSON *name;
    cJSON_ArrayForEach(name, kw) {
        if (!cJSON_IsString(name))
            return fail(e, n, p, "must be an array of strings");
    }
    return 0;
}

static bool is_count(const cJSON *kw)
{
    return cJSON_IsNumber(kw) && kw->valuedouble >= 0
           && kw->valuedouble == floor(kw->valuedouble);
}

static int check_items(const cJSON *kw, struct path *p, char *e, size_t n)
{
    return check_node(kw, p, e, n);
}

static int check_bool(const cJSON *kw, struct path *p, char *e, size_t n)
{
    return cJSON_IsBool(kw) ? 0 : fail(e, n, p, "only true or false is supported");
}

static int check_enum(const cJSON *kw, struct path *p, char *e, size_t n)
{
    if (cJSON_IsArray(kw) && cJSON_GetArraySize(kw) > 0)
        return 0;
    return fail(e, n, p, "must be a non-empty array");
}

static int check_count(const cJSON *kw, struct path *p, char *e, size_t n)
{
    return is_count(kw) ? 0 : fail(e, n, p, "must be a non-negative integer");
}

static int check_number(const cJSON *kw, struct path *p, char *e, size_t n)
{
    return cJSON_IsNumber(kw) ? 0 : fail(e, n, p, "must be a number");
}

static int check_any(const cJSON *kw, struct path *p, char *e, size_t n)
{
    (void)kw, (void)p, (void)e, (void)n;
    return 0;
}

/* The whole supported vocabulary: a keyword not listed here is rejected. */
static const struct {
    const char *name;
    int (*check)(const cJSON *kw, struct path *p, char *e, size_t n);
} keywords[] = {
    {"type", check_type},           {"properties", check_properties},
    {"required", check_required},   {"additionalProperties", check_bool},
    {"items", check_items},         {"enum", check_enum},
    {"minLength", check_count},     {"maxLength", check_count},
    {"minItems", check_count},      {"maxItems", check_count},
    {"minimum", check_number},      {"maximum", check_number},
    {"$schema", check_any},         {"$id", check_any},
    {"$comment", check_any},        {"title", check_any},
    {"description", check_any},     {"default", check_any},
    {"examples", check_any},
};

static int check_keyword(const cJSON *kw, struct path *p, char *e, size_t n)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(keywords); i++) {
        if (strcmp(kw->string, keywords[i].name) != 0)
            continue;
        size_t saved = p->len;
        path_push(p, ".%s", kw->string);
        int rc = keywords[i].check(kw, p, e, n);
        if (rc == 0)
            path_pop(p, saved);
        return rc;
    }
    char shown[KEY_MAX_SHOWN + 1];
    sanitise(shown, kw->string);
    return fail(e, n, p, "unsupported keyword \"%s\"", shown);
}

static int check_node(const cJSON *schema, struct path *p, char *errstr,
                      size_t errstr_size)
{
    if (!cJSON_IsObject(schema))
        return fail(errstr, errstr_size, p, "schema must be an object");
    const cJSON *kw;
    cJSON_ArrayForEach(kw, schema) {
        int rc = check_keyword(kw, p, errstr, errstr_size);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int jsonschema_check_schema(const cJSON *schema, char *errstr,
                            size_t errstr_size)
{
    struct path p;
    path_init(&p, "schema");
    return check_node(schema, &p, errstr, errstr_size);
}

/* ---- validation (the schema has passed check_node) ---- */

static int validate_node(const cJSON *schema, const cJSON *value,
                         struct path *p, char *e, size_t n);

static bool type_matches(const char *type, const cJSON *v)
{
    if (strcmp(type, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(type, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(type, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(type, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(type, "integer") == 0)
        return cJSON_IsNumber(v) && isfinite(v->valuedouble)
               && v->valuedouble == floor(v->valuedouble);
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(v);
    return strcmp(type, "null") == 0 && cJSON_IsNull(v);
}

static int validate_type(const cJSON *type, const cJSON *v, struct path *p,
                         char *e, size_t n)
{
    if (cJSON_IsString(type))
        return type_matches(type->valuestring, v)
                   ? 0 : fail(e, n, p, "expected %s", type->valuestring);

    char expected[128] = "";
    const cJSON *t;
    cJSON_ArrayForEach(t, type) {
        if (type_matches(t->valuestring, v))
            return 0;
        size_t used = strlen(expected);
        snprintf(expected + used, sizeof(expected) - used, "%s%s",
                 used ? " or " : "", t->valuestring);
    }
    return fail(e, n, p, "expected %s", expected);
}

static int validate_enum(const cJSON *allowed, const cJSON *v, struct path *p,
                         char *e, size_t n)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, allowed) {
        if (cJSON_Compare(a, v, 1))
            return 0;
    }
    return fail(e, n, p, "not one of the enum values");
}

static int validate_string(const cJSON *schema, const cJSON *v,
                           struct path *p, char *e, size_t n)
{
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
    double len = (double)utf8_chars(v->valuestring); /* code points */

    if (min && len < min->valuedouble)
        return fail(e, n, p, "shorter than minLength %g", min->valuedouble);
    if (max && len > max->valuedouble)
        return fail(e, n, p, "longer than maxLength %g", max->valuedouble);
    return 0;
}

static int validate_number(const cJSON *schema, const cJSON *v,
                           struct path *p, char *e, size_t n)
{
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maximum");

    if (min && v->valuedouble < min->valuedouble)
        return fail(e, n, p, "below minimum %g", min->valuedouble);
    if (max && v->valuedouble > max->valuedouble)
        return fail(e, n, p, "above maximum %g", max->valuedouble);
    return 0;
}

static int validate_array(const cJSON *schema, const cJSON *v,
                          struct path *p, char *e, size_t n)
{
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maxItems");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
    double count = (double)cJSON_GetArraySize(v);

    if (min && count < min->valuedouble)
        return fail(e, n, p, "fewer than minItems %g", min->valuedouble);
    if (max && count > max->valuedouble)
        return fail(e, n, p, "more than maxItems %g", max->valuedouble);
    if (!items)
        return 0;

    size_t index = 0;
    const cJSON *elem;
    cJSON_ArrayForEach(elem, v) {
        size_t saved = p->len;
        path_push(p, "[%zu]", index++);
        int rc = validate_node(items, elem, p, e, n);
        if (rc != 0)
            return rc;
        path_pop(p, saved);
    }
    return 0;
}

static int validate_required(const cJSON *required, const cJSON *v,
                             struct path *p, char *e, size_t n)
{
    const cJSON *name;
    cJSON_ArrayForEach(name, required) {
        if (cJSON_GetObjectItemCaseSensitive(v, name->valuestring))
            continue;
        path_push_key(p, name->valuestring);
        return fail(e, n, p, "missing required property");
    }
    return 0;
}

static int validate_object(const cJSON *schema, const cJSON *v,
                           struct path *p, char *e, size_t n)
{
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *extra =
        cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");

    if (required && validate_required(required, v, p, e, n) != 0)
        return SL_EINVAL;

    const cJSON *member;
    cJSON_ArrayForEach(member, v) {
        const cJSON *sub =
            props ? cJSON_GetObjectItemCaseSensitive(props, member->string) : NULL;
        size_t saved = p->len;
        path_push_key(p, member->string);
        if (!sub && cJSON_IsFalse(extra))
            return fail(e, n, p, "additional property not allowed");
        if (sub && validate_node(sub, member, p, e, n) != 0)
            return SL_EINVAL;
        path_pop(p, saved);
    }
    return 0;
}

static int validate_node(const cJSON *schema, const cJSON *value,
                         struct path *p, char *e, size_t n)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(schema, "enum");

    if (type && validate_type(type, value, p, e, n) != 0)
        return SL_EINVAL;
    if (allowed && validate_enum(allowed, value, p, e, n) != 0)
        return SL_EINVAL;
    if (cJSON_IsString(value))
        return validate_string(schema, value, p, e, n);
    if (cJSON_IsNumber(value))
        return validate_number(schema, value, p, e, n);
    if (cJSON_IsArray(value))
        return validate_array(schema, value, p, e, n);
    if (cJSON_IsObject(value))
        return validate_object(schema, value, p, e, n);
    return 0;
}

int jsonschema_validate(const cJSON *schema, const cJSON *value,
                        char *errstr, size_t errstr_size)
{
    /* A schema that was never checked must not be half-enforced. */
    if (jsonschema_check_schema(schema, errstr, errstr_size) != 0)
        return SL_EINVAL;
    if (!value) {
        struct path root;
        path_init(&root, "$");
        return fail(errstr, errstr_size, &root, "no value");
    }
    struct path p;
    path_init(&p, "$");
    return validate_node(schema, value, &p, errstr, errstr_size);
}
