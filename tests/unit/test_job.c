/* sources: lib/utf8.c lib/job.c lib/rfc3339.c lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* Job messages: each rejection reason from a table of raw messages, the
 * fields of valid jobs, RFC 3339 deadlines and strict UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "job.h"
#include "rfc3339.h"

/* max_input_bytes is 16 so oversize inputs stay short. */
static const char config_json[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"worker\": {\"max_input_bytes\": 16},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"}},"
    " \"tasks\": {\"intent\": {\"output\": \"text\","
    "   \"prompt\": \"<input>{{input}}</input>\"}}}";

static int setup(void **state)
{
    struct config *cfg = NULL;
    char err[256];
    if (config_parse(config_json, "test", &cfg, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = cfg;
    return 0;
}

static int teardown(void **state)
{
    config_free(*state);
    return 0;
}

#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define ID_201 X100 X100 "x"

struct reject_case {
    const char *msg;
    size_t len; /* 0: strlen(msg) */
    enum job_reject want;
    const char *reason; /* substring of the reason */
};

static const struct reject_case reject_cases[] = {
    {"", 0, JOB_MALFORMED_JSON, "malformed JSON"},
    {"{", 0, JOB_MALFORMED_JSON, "malformed JSON"},
    {"{\"id\": \"a\",}", 0, JOB_MALFORMED_JSON, "malformed JSON"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\"} {}", 0, JOB_MALFORMED_JSON, "malformed JSON"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\"}garbage", 0, JOB_MALFORMED_JSON, "malformed JSON"},
    /* an unpaired surrogate escape cannot become UTF-8 */
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"\\ud800\"}", 0, JOB_MALFORMED_JSON, "malformed JSON"},
    {"[1, 2]", 0, JOB_NOT_OBJECT, "not a JSON object"},
    {"\"job\"", 0, JOB_NOT_OBJECT, "not a JSON object"},
    {"null", 0, JOB_NOT_OBJECT, "not a JSON object"},
    {"{\"task\":\"intent\",\"input\":\"x\"}", 0, JOB_MISSING_FIELD, "missing field: id"},
    {"{\"id\":\"a\",\"input\":\"x\"}", 0, JOB_MISSING_FIELD, "missing field: task"},
    {"{\"id\":\"a\",\"task\":\"intent\"}", 0, JOB_MISSING_FIELD, "missing field: input"},
    {"{\"id\":1,\"task\":\"intent\",\"input\":\"x\"}", 0, JOB_WRONG_TYPE, "id: must be a string"},
    {"{\"id\":\"a\",\"task\":[\"intent\"],\"input\":\"x\"}", 0, JOB_WRONG_TYPE, "task: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":null}", 0, JOB_WRONG_TYPE, "input: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"mode\":1}", 0, JOB_WRONG_TYPE, "mode: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"feature\":true}", 0, JOB_WRONG_TYPE, "feature: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"tenant\":{}}", 0, JOB_WRONG_TYPE, "tenant: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"cohort\":2}", 0, JOB_WRONG_TYPE, "cohort: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"user_tier\":null}", 0, JOB_WRONG_TYPE, "user_tier: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"deadline\":1795000000}", 0, JOB_WRONG_TYPE, "deadline: must be a string"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"metadata\":\"k=v\"}", 0, JOB_WRONG_TYPE, "metadata: must be an object"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"metadata\":[]}", 0, JOB_WRONG_TYPE, "metadata: must be an object"},
    {"{\"id\":\"a\",\"task\":\"sentiment\",\"input\":\"x\"}", 0, JOB_UNKNOWN_TASK, "task: not a task in config"},
    {"{\"id\":\"a\",\"task\":\"Intent\",\"input\":\"x\"}", 0, JOB_UNKNOWN_TASK, "task"},
    /* raw invalid bytes anywhere, not only in input */
    {"{\"id\":\"a\xff\",\"task\":\"intent\",\"input\":\"x\"}", 0, JOB_INVALID_UTF8, "invalid UTF-8"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"\xc0\xaf\"}", 0, JOB_INVALID_UTF8, "invalid UTF-8"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"\xed\xa0\x80\"}", 0, JOB_INVALID_UTF8, "invalid UTF-8"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\"}\xe2\x82", 0, JOB_INVALID_UTF8, "invalid UTF-8"},
    /* a raw NUL inside the message, and its escaped form */
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\0y\"}", 40, JOB_INVALID_UTF8, "invalid UTF-8"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\\u0000y\"}", 0, JOB_INVALID_UTF8, "invalid UTF-8"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"01234567890123456\"}", 0, JOB_OVERSIZE, "input: larger than"},
    /* 6 x 3-byte euro signs = 18 bytes, though only 6 characters */
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\"}", 0, JOB_OVERSIZE, "input"},
    {"{\"id\":\"\",\"task\":\"intent\",\"input\":\"x\"}", 0, JOB_BAD_VALUE, "id: must be 1..200"},
    {"{\"id\":\"" ID_201 "\",\"task\":\"intent\",\"input\":\"x\"}", 0, JOB_BAD_VALUE, "id: must be 1..200"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"mode\":\"batch\"}", 0, JOB_BAD_VALUE, "mode: must be"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"mode\":\"\"}", 0, JOB_BAD_VALUE, "mode"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"deadline\":\"tomorrow\"}", 0, JOB_BAD_VALUE, "deadline: must be"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"deadline\":\"2026-02-30T00:00:00Z\"}", 0, JOB_BAD_VALUE, "deadline"},
    {"{\"id\":\"a\",\"task\":\"intent\",\"input\":\"x\",\"deadline\":\"1960-01-01T00:00:00Z\"}", 0, JOB_BAD_VALUE, "deadline"},
};

static void test_rejects(void **state)
{
    const struct config *cfg = *state;
    for (size_t i = 0; i < SL_ARRAY_LEN(reject_cases); i++) {
        const struct reject_case *rc = &reject_cases[i];
        size_t len = rc->len ? rc->len : strlen(rc->msg);
        struct job *job = (struct job *)1;
        char reason[128] = "";
        enum job_reject got = job_parse(cfg, rc->msg, len, &job, reason,
                                        sizeof(reason));
        if (got != rc->want || job != NULL || !strstr(reason, rc->reason))
            fail_msg("case %zu: got %s \"%s\", want %s \"%s\"", i,
                     job_reject_name(got), reason, job_reject_name(rc->want),
                     rc->reason);
    }
}

/* The reason never echoes payload text, even when the payload is the
 * problem. */
static void test_reason_has_no_payload(void **state)
{
    const struct config *cfg = *state;
    static const char msg[] =
        "{\"id\":\"a\",\"task\":\"SECRET-TASK\",\"input\":\"SECRET\"}";
    struct job *job = NULL;
    char reason[128];
    assert_int_equal(job_parse(cfg, msg, strlen(msg), &job, reason,
                               sizeof(reason)),
                     JOB_UNKNOWN_TASK);
    assert_null(strstr(reason, "SECRET"));
}

static void test_valid_job_fields(void **state)
{
    const struct config *cfg = *state;
    static const char msg[] =
        "  {\"id\": \"job-1\", \"task\": \"intent\", \"input\": \"caf\xc3\xa9 \\u00e9\","
        " \"mode\": \"offpeak\", \"feature\": \"inbox\", \"tenant\": \"acme\","
        " \"cohort\": \"b\", \"user_tier\": \"free\","
        " \"deadline\": \"2026-11-23T10:00:00.250+01:00\","
        " \"metadata\": {\"k\": [1, 2]}, \"extra\": 42}\n";
    struct job *job = NULL;
    char reason[128] = "";
    /* the buffer is not NUL-terminated at len: Kafka payloads are not */
    char *buf = malloc(sizeof(msg) - 1);
    memcpy(buf, msg, sizeof(msg) - 1);
    enum job_reject rc = job_parse(cfg, buf, sizeof(msg) - 1, &job, reason,
                                   sizeof(reason));
    free(buf);
    if (rc != JOB_OK)
        fail_msg("%s: %s", job_reject_name(rc), reason);
    assert_string_equal(job->id, "job-1");
    assert_ptr_equal(job->task, config_task(cfg, "intent"));
    assert_string_equal(job->input, "caf\xc3\xa9 \xc3\xa9");
    assert_int_equal(job->input_len, 8);
    assert_int_equal(job->mode, MODE_OFFPEAK);
    assert_string_equal(job->feature, "inbox");
    assert_string_equal(job->tenant, "acme");
    assert_string_equal(job->cohort, "b");
    assert_string_equal(job->user_tier, "free");
    /* 2026-11-23T09:00:00.250Z */
    assert_int_equal(job->deadline_ms, 1795424400250LL);
    assert_string_equal(job->metadata_json, "{\"k\":[1,2]}");
    job_free(job);
}

static void test_valid_job_defaults(void **state)
{
    const struct config *cfg = *state;
    /* exactly max_input_bytes (16) of input, and a 200-character id of
     * 2-byte characters (400 bytes) */
    char msg[1024];
    char id[401];
    for (int i = 0; i < 200; i++)
        memcpy(id + 2 * i, "\xc3\xa9", 2);
    id[400] = '\0';
    snprintf(msg, sizeof(msg),
             "{\"id\":\"%s\",\"task\":\"intent\",\"input\":\"0123456789abcdef\"}",
             id);
    struct job *job = NULL;
    char reason[128] = "";
    enum job_reject rc = job_parse(cfg, msg, strlen(msg), &job, reason,
                                   sizeof(reason));
    if (rc != JOB_OK)
        fail_msg("%s: %s", job_reject_name(rc), reason);
    assert_int_equal(job->input_len, 16);
    assert_int_equal(job->mode, MODE_INTERACTIVE);
    assert_string_equal(job->feature, "");
    assert_string_equal(job->tenant, "");
    assert_string_equal(job->cohort, "");
    assert_string_equal(job->user_tier, "");
    assert_int_equal(job->deadline_ms, 0);
    assert_null(job->metadata_json);
    job_free(job);
    job_free(NULL);
}

static void test_reject_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "ok", "malformed_json", "not_object", "missing_field", "wrong_type",
        "unknown_task", "invalid_utf8", "oversize", "bad_value"};
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++)
        assert_string_equal(job_reject_name((enum job_reject)i), names[i]);
}

struct time_case {
    const char *text;
    int ok;
    int64_t ms;
};

static const struct time_case time_cases[] = {
    {"2026-11-23T10:00:00Z", 1, 1795428000000LL},
    {"2026-11-23t10:00:00z", 1, 1795428000000LL},
    {"2026-11-23T10:00:00.5Z", 1, 1795428000500LL},
    {"2026-11-23T10:00:00.123456789Z", 1, 1795428000123LL},
    {"2026-11-23T10:00:00+02:00", 1, 1795420800000LL},
    {"2026-11-23T10:00:00-05:30", 1, 1795447800000LL},
    {"2026-11-23T10:00:00.001-00:00", 1, 1795428000001LL},
    {"1970-01-01T00:00:00Z", 1, 0},
    {"1969-12-31T23:59:59Z", 1, -1000},
    {"2024-02-29T00:00:00Z", 1, 1709164800000LL},
    {"2000-02-29T12:00:00Z", 1, 951825600000LL},
    {"2016-12-31T23:59:60Z", 1, 1483228800000LL}, /* leap second */
    {"2025-02-29T00:00:00Z", 0, 0},
    {"1900-02-29T00:00:00Z", 0, 0},
    {"2026-13-01T00:00:00Z", 0, 0},
    {"2026-04-31T00:00:00Z", 0, 0},
    {"2026-11-23T24:00:00Z", 0, 0},
    {"2026-11-23T10:60:00Z", 0, 0},
    {"2026-11-23T10:00:00", 0, 0},  /* no offset */
    {"2026-11-23 10:00:00Z", 0, 0}, /* space instead of T */
    {"2026-11-23T10:00:00.Z", 0, 0},
    {"2026-11-23T10:00:00+0200", 0, 0},
    {"2026-11-23T10:00:00+24:00", 0, 0},
    {"2026-11-23T10:00:00Zjunk", 0, 0},
    {"2026-11-23", 0, 0},
    {"+026-11-23T10:00:00Z", 0, 0},
    {"", 0, 0},
};

static void test_rfc3339(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(time_cases); i++) {
        const struct time_case *tc = &time_cases[i];
        int64_t ms = 42;
        int rc = rfc3339_parse_ms(tc->text, &ms);
        if (tc->ok && (rc != SL_OK || ms != tc->ms))
            fail_msg("\"%s\": rc=%d ms=%lld, want %lld", tc->text, rc,
                     (long long)ms, (long long)tc->ms);
        if (!tc->ok && rc != SL_EINVAL)
            fail_msg("\"%s\": accepted as %lld", tc->text, (long long)ms);
    }
}

struct utf8_case {
    const char *bytes;
    size_t len;
    int valid;
};

#define U(s, v) {s, sizeof(s) - 1, v}

static const struct utf8_case utf8_cases[] = {
    U("", 1),
    U("plain ascii", 1),
    U("\x7f", 1),
    U("\xc2\x80", 1),             /* U+0080, smallest 2-byte */
    U("\xdf\xbf", 1),             /* U+07FF */
    U("\xe0\xa0\x80", 1),         /* U+0800, smallest 3-byte */
    U("\xed\x9f\xbf", 1),         /* U+D7FF, just below surrogates */
    U("\xee\x80\x80", 1),         /* U+E000, just above */
    U("\xef\xbf\xbf", 1),         /* U+FFFF */
    U("\xf0\x90\x80\x80", 1),     /* U+10000 */
    U("\xf4\x8f\xbf\xbf", 1),     /* U+10FFFF, the last scalar */
    U("\x00", 0),                 /* NUL */
    U("a\x00" "b", 0),
    U("\x80", 0),                 /* lone continuation */
    U("\xbf", 0),
    U("\xc0\x80", 0),             /* overlong NUL */
    U("\xc1\xbf", 0),             /* overlong U+007F */
    U("\xe0\x9f\xbf", 0),         /* overlong U+07FF */
    U("\xf0\x8f\xbf\xbf", 0),     /* overlong U+FFFF */
    U("\xed\xa0\x80", 0),         /* U+D800 */
    U("\xed\xbf\xbf", 0),         /* U+DFFF */
    U("\xf4\x90\x80\x80", 0),     /* U+110000 */
    U("\xf5\x80\x80\x80", 0),
    U("\xff", 0),
    U("\xfe", 0),
    U("\xc3", 0),                 /* truncated 2-byte */
    U("\xe2\x82", 0),             /* truncated 3-byte */
    U("\xf0\x9f\x98", 0),         /* truncated 4-byte */
    U("\xe2\x28\xa1", 0),         /* bad continuation */
    U("\xf0\x9f\x98\x80", 1),     /* emoji */
};

static void test_utf8(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(utf8_cases); i++) {
        const struct utf8_case *uc = &utf8_cases[i];
        if (utf8_valid(uc->bytes, uc->len) != uc->valid)
            fail_msg("case %zu: want %d", i, uc->valid);
    }
    /* a valid prefix does not make a cut sequence valid */
    assert_int_equal(utf8_valid("\xe2\x82\xac", 2), 0);
    assert_int_equal(utf8_valid("\xe2\x82\xac", 3), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_reason_has_no_payload),
        cmocka_unit_test(test_valid_job_fields),
        cmocka_unit_test(test_valid_job_defaults),
        cmocka_unit_test(test_reject_names),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
