/* sources: lib/jsonschema.c lib/utf8.c lib/sl.c */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonschema.h"

#define ORDER_SCHEMA                                                           \
    "{\"type\":\"object\",\"required\":[\"order_id\",\"items\"],"              \
    "\"additionalProperties\":false,\"properties\":{"                          \
    "\"order_id\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":8},"      \
    "\"status\":{\"enum\":[\"open\",\"shipped\"]},"                            \
    "\"note\":{\"type\":[\"string\",\"null\"]},"                               \
    "\"urgent\":{\"type\":\"boolean\"},"                                       \
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,"             \
    "\"items\":{\"type\":\"object\",\"required\":[\"qty\"],\"properties\":{"   \
    "\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"            \
    "\"price\":{\"type\":\"number\",\"minimum\":0}}}}}}"

#define ITEMS "\"items\":[{\"qty\":1}]"

/* Each case: schema, value, and the expected errstr, or NULL when the value
 * is valid. */
static const struct {
    const char *schema;
    const char *value;
    const char *expect;
} cases[] = {
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\"," ITEMS "}", NULL},
    {ORDER_SCHEMA,
     "{\"order_id\":\"A-12\",\"status\":\"open\",\"note\":null,\"urgent\":true,"
     "\"items\":[{\"qty\":1,\"price\":0},{\"qty\":100,\"price\":9.5}]}",
     NULL},
    {ORDER_SCHEMA, "[]", "$: expected object"},
    {ORDER_SCHEMA, "{" ITEMS "}", "$.order_id: missing required property"},
    {ORDER_SCHEMA, "{\"order_id\":12," ITEMS "}", "$.order_id: expected string"},
    {ORDER_SCHEMA, "{\"order_id\":\"AB\"," ITEMS "}",
     "$.order_id: shorter than minLength 3"},
    {ORDER_SCHEMA, "{\"order_id\":\"ABCDEFGHI\"," ITEMS "}",
     "$.order_id: longer than maxLength 8"},
    /* Lengths count code points: "ééé" is 6 bytes but 3 characters. */
    {ORDER_SCHEMA, "{\"order_id\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"," ITEMS "}", NULL},
    {ORDER_SCHEMA, "{\"order_id\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"," ITEMS "}",
     NULL},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"status\":\"lost\"," ITEMS "}",
     "$.status: not one of the enum values"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"status\":\"OPEN\"," ITEMS "}",
     "$.status: not one of the enum values"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"note\":3," ITEMS "}",
     "$.note: expected string or null"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"urgent\":\"yes\"," ITEMS "}",
     "$.urgent: expected boolean"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"extra\":1," ITEMS "}",
     "$.extra: additional property not allowed"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"bad key\\n\":1," ITEMS "}",
     "$[\"bad key?\"]: additional property not allowed"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":{}}", "$.items: expected array"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[]}",
     "$.items: fewer than minItems 1"},
    {ORDER_SCHEMA,
     "{\"order_id\":\"A-12\",\"items\":[{\"qty\":1},{\"qty\":1},{\"qty\":1},{\"qty\":1}]}",
     "$.items: more than maxItems 3"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[{\"qty\":1},{}]}",
     "$.items[1].qty: missing required property"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[{\"qty\":1.5}]}",
     "$.items[0].qty: expected integer"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[{\"qty\":2.0}]}", NULL},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[{\"qty\":0}]}",
     "$.items[0].qty: below minimum 1"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[{\"qty\":101}]}",
     "$.items[0].qty: above maximum 100"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[{\"qty\":1,\"price\":-1}]}",
     "$.items[0].price: below minimum 0"},
    {ORDER_SCHEMA, "{\"order_id\":\"A-12\",\"items\":[{\"qty\":1,\"price\":\"1\"}]}",
     "$.items[0].price: expected number"},
    /* Without additionalProperties:false, unknown members pass. */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}",
     "{\"a\":\"x\",\"b\":1}", NULL},
    {"{\"type\":\"object\",\"additionalProperties\":true}", "{\"b\":1}", NULL},
    {"{\"type\":\"null\"}", "null", NULL},
    {"{\"type\":\"null\"}", "0", "$: expected null"},
    {"{\"type\":\"number\"}", "7", NULL},
    {"{\"type\":[\"integer\",\"boolean\"]}", "false", NULL},
    {"{\"type\":[\"integer\",\"boolean\"]}", "\"1\"", "$: expected integer or boolean"},
    {"{\"enum\":[1,\"a\",{\"k\":[true]}]}", "{\"k\":[true]}", NULL},
    {"{\"enum\":[1,\"a\",{\"k\":[true]}]}", "{\"k\":[false]}",
     "$: not one of the enum values"},
    {"{}", "{\"anything\":[1,2]}", NULL},
    {"{\"title\":\"t\",\"description\":\"d\",\"type\":\"string\"}", "\"x\"", NULL},
    /* An unchecked schema is refused rather than half-enforced. */
    {"{\"type\":\"string\",\"pattern\":\"^a\"}", "\"b\"",
     "schema: unsupported keyword \"pattern\""},
};

static void test_validate_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        cJSON *schema = cJSON_Parse(cases[i].schema);
        cJSON *value = cJSON_Parse(cases[i].value);
        char err[256] = "";
        if (!schema || !value)
            fail_msg("case %zu: bad test JSON", i);
        int rc = jsonschema_validate(schema, value, err, sizeof(err));
        if (!cases[i].expect && rc != 0)
            fail_msg("case %zu (%s): expected valid, got \"%s\"", i, cases[i].value, err);
        if (cases[i].expect && (rc != SL_EINVAL || strcmp(err, cases[i].expect) != 0))
            fail_msg("case %zu (%s): rc %d \"%s\", expected \"%s\"", i,
                     cases[i].value, rc, err, cases[i].expect);
        cJSON_Delete(schema);
        cJSON_Delete(value);
    }
}

/* Each case: a schema and the expected check_schema errstr (NULL: fine). */
static const struct {
    const char *schema;
    const char *expect;
} schema_cases[] = {
    {ORDER_SCHEMA, NULL},
    {"{}", NULL},
    {"{\"$schema\":\"x\",\"$id\":\"y\",\"$comment\":\"c\",\"default\":1,"
     "\"examples\":[1],\"type\":\"integer\"}", NULL},
    {"[]", "schema: schema must be an object"},
    {"{\"type\":\"date\"}", "schema.type: unknown type \"date\""},
    {"{\"type\":[]}", "schema.type: must be a type name or a non-empty array of them"},
    {"{\"type\":[\"string\",1]}",
     "schema.type: must be a type name or a non-empty array of them"},
    {"{\"type\":[\"string\",\"text\"]}", "schema.type: unknown type \"text\""},
    /* the name is shown sanitised, as one printable line (found by fuzzing) */
    {"{\"type\":\"null\\u007f\\n\\\"\\u00e9\"}", "schema.type: unknown type \"null?????\""},
    {"{\"properties\":[]}", "schema.properties: must be an object"},
    {"{\"properties\":{\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]+$\"}}}",
     "schema.properties.sku: unsupported keyword \"pattern\""},
    {"{\"properties\":{\"sku\":3}}", "schema.properties.sku: schema must be an object"},
    {"{\"required\":\"a\"}", "schema.required: must be an array of strings"},
    {"{\"required\":[\"a\",2]}", "schema.required: must be an array of strings"},
    {"{\"additionalProperties\":{\"type\":\"string\"}}",
     "schema.additionalProperties: only true or false is supported"},
    {"{\"items\":{\"format\":\"email\"}}", "schema.items: unsupported keyword \"format\""},
    {"{\"items\":[{}]}", "schema.items: schema must be an object"},
    {"{\"enum\":[]}", "schema.enum: must be a non-empty array"},
    {"{\"minLength\":-1}", "schema.minLength: must be a non-negative integer"},
    {"{\"maxLength\":1.5}", "schema.maxLength: must be a non-negative integer"},
    {"{\"minItems\":\"1\"}", "schema.minItems: must be a non-negative integer"},
    {"{\"maxItems\":2}", NULL},
    {"{\"minimum\":\"0\"}", "schema.minimum: must be a number"},
    {"{\"maximum\":-2.5}", NULL},
    {"{\"oneOf\":[{}]}", "schema: unsupported keyword \"oneOf\""},
    {"{\"$ref\":\"#/x\"}", "schema: unsupported keyword \"$ref\""},
};

static void test_check_schema_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(schema_cases); i++) {
        cJSON *schema = cJSON_Parse(schema_cases[i].schema);
        char err[256] = "";
        if (!schema)
            fail_msg("case %zu: bad test JSON", i);
        int rc = jsonschema_check_schema(schema, err, sizeof(err));
        if (!schema_cases[i].expect && rc != 0)
            fail_msg("case %zu: expected fine, got \"%s\"", i, err);
        if (schema_cases[i].expect
            && (rc != SL_EINVAL || strcmp(err, schema_cases[i].expect) != 0))
            fail_msg("case %zu: rc %d \"%s\", expected \"%s\"", i, rc, err,
                     schema_cases[i].expect);
        cJSON_Delete(schema);
    }
}

static void test_small_and_null_errstr(void **state)
{
    (void)state;
    cJSON *schema = cJSON_Parse("{\"type\":\"string\"}");
    cJSON *value = cJSON_Parse("1");
    char tiny[4] = "xxx";
    assert_int_equal(jsonschema_validate(schema, value, NULL, 0), SL_EINVAL);
    assert_int_equal(jsonschema_validate(schema, value, tiny, sizeof(tiny)), SL_EINVAL);
    assert_string_equal(tiny, "$: ");
    assert_int_equal(jsonschema_validate(schema, NULL, NULL, 0), SL_EINVAL);
    cJSON_Delete(schema);
    cJSON_Delete(value);
}

/* A long, hostile member name is capped and kept printable in messages. */
static void test_long_key_is_capped(void **state)
{
    (void)state;
    cJSON *schema = cJSON_Parse("{\"additionalProperties\":false}");
    cJSON *value = cJSON_CreateObject();
    char key[300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    cJSON_AddNumberToObject(value, key, 1);
    char err[512];
    assert_int_equal(jsonschema_validate(schema, value, err, sizeof(err)), SL_EINVAL);
    assert_non_null(strstr(err, "...\"]: additional property not allowed"));
    assert_true(strlen(err) < 120);
    cJSON_Delete(schema);
    cJSON_Delete(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_table),
        cmocka_unit_test(test_check_schema_table),
        cmocka_unit_test(test_small_and_null_errstr),
        cmocka_unit_test(test_long_key_is_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
