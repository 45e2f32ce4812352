/* sources: lib/batch/batch_wire.c lib/batch/batch_parse.c lib/rfc3339.c lib/batch/batch_splitter.c lib/provider/provider.c lib/provider/prompt_shape.c lib/provider/provider_json.c lib/provider/provider_openai.c lib/provider/provider_anthropic.c lib/provider/llm.c lib/sl.c lib/utf8.c tests/unit/fixture.c */
/* Batch wire formats: request files and bodies read back field by field,
 * multipart framing, URLs, batch objects in every state and result lines of
 * every kind from fixtures shaped per docs/providers.md
 * (tests/unit/data/batch_*), and the streaming line splitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include <cjson/cJSON.h>

#include "batch/batch_wire.h"
#include "provider/provider.h"


static struct provider_conf openai_conf = {
    .name = "oai", .kind = PROVIDER_OPENAI,
    .base_url = "http://127.0.0.1:9/v1/",
};
static struct provider_conf anthropic_conf = {
    .name = "ant", .kind = PROVIDER_ANTHROPIC,
    .base_url = "http://127.0.0.1:9",
};

static char *label_set[] = {"billing", "shipping", "other"};

static struct task_conf label_task = {
    .name = "intent", .output = OUTPUT_LABEL,
    .labels = label_set, .n_labels = 3,
    .system = "You classify support tickets.",
    .prompt = "Labels: {{labels}}\n<input>{{input}}</input>",
    .max_output_tokens = 64,
};

/* Inputs with newlines, quotes and non-ASCII: the JSONL must stay one
 * request per line whatever the input holds. */
static const char *inputs[] = {
    "refund please", "line one\nline two\r\n", "quote \" and \\ backslash",
    "caf\xc3\xa9 \xe2\x9c\x93", "{\"custom_id\":\"r0-a0\"}",
};
#define N_ITEMS 5

static void make_items(struct batch_item *items, char ids[][32],
                       const char *model)
{
    for (size_t i = 0; i < N_ITEMS; i++) {
        char *id = batch_custom_id((int64_t)i * 1000 + 7, (int)i % 2);
        snprintf(ids[i], 32, "%s", id);
        free(id);
        items[i] = (struct batch_item){
            .custom_id = ids[i], .task = &label_task, .model = model,
            .input = inputs[i], .input_len = strlen(inputs[i]),
        };
    }
}

/* The realtime body for an item, parsed, to compare with what a batch
 * request carries. */
static cJSON *realtime_body(const struct provider_conf *p,
                            const struct batch_item *it)
{
    char *s = provider_request_body(p, it->task, it->model, it->input,
                                    it->input_len);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsString(it));
    return it->valuestring;
}

/* --- custom ids --- */

static void test_custom_ids(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        bool valid;
    } cases[] = {
        {"r1-a0", true}, {"abc_DEF-09", true},
        {"0123456789012345678901234567890123456789012345678901234567890123",
         true},
        {"01234567890123456789012345678901234567890123456789012345678901234",
         false},
        {"", false}, {"job:1", false}, {"a b", false}, {"a.b", false},
        {"caf\xc3\xa9", false},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++)
        assert_int_equal(batch_custom_id_valid(cases[i].id), cases[i].valid);
    assert_false(batch_custom_id_valid(NULL));

    char *id = batch_custom_id(INT64_MAX, 2147483647);
    assert_true(batch_custom_id_valid(id));
    int64_t row;
    int attempt;
    assert_int_equal(batch_custom_id_parse(id, &row, &attempt), SL_OK);
    assert_true(row == INT64_MAX);
    assert_int_equal(attempt, 2147483647);
    free(id);
    assert_int_equal(batch_custom_id_parse("r12-a3", &row, &attempt), SL_OK);
    assert_true(row == 12);
    assert_int_equal(attempt, 3);
    assert_int_equal(batch_custom_id_parse("r0-a0", &row, &attempt), SL_OK);
    assert_true(row == 0);
    assert_int_equal(attempt, 0);

    static const char *bad[] = {
        "", "r-1-a2", "r1-a", "r1-a2x", "x1-a2", "r1a2", "r+1-a2",
        "r99999999999999999999-a1", "r1-a2147483648", "r1-a-1",
        /* one id per (row, attempt): no leading zeros (found by fuzzing) */
        "r4-a00", "r04-a0", "r00-a1",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(batch_custom_id_parse(bad[i], &row, &attempt),
                         SL_EINVAL);
}

/* --- OpenAI input file --- */

static void test_openai_jsonl(void **state)
{
    (void)state;
    struct batch_item items[N_ITEMS];
    char ids[N_ITEMS][32];
    make_items(items, ids, "gpt-4o-mini");
    char err[256] = "", *jsonl = NULL;
    size_t len = 0;
    assert_int_equal(batch_openai_input_jsonl(&openai_conf, items, N_ITEMS,
                                              &jsonl, &len, err, sizeof(err)),
                     SL_OK);
    assert_int_equal(strlen(jsonl), len);
    assert_int_equal(jsonl[len - 1], '\n');

    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(jsonl, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), n++) {
        assert_true(n < N_ITEMS);
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        assert_int_equal(cJSON_GetArraySize(j), 4);
        assert_string_equal(jstr(j, "custom_id"), ids[n]);
        assert_string_equal(jstr(j, "method"), "POST");
        assert_string_equal(jstr(j, "url"), "/v1/chat/completions");
        cJSON *want = realtime_body(&openai_conf, &items[n]);
        assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(j, "body"),
                                  want, true));
        cJSON_Delete(want);
        for (size_t k = 0; k < n; k++)
            assert_string_not_equal(ids[k], ids[n]);
        cJSON_Delete(j);
    }
    assert_int_equal(n, N_ITEMS);
    free(jsonl);
}

/* Bad item lists are refused whole, before anything is built. */
static void test_build_errors(void **state)
{
    (void)state;
    struct batch_item items[N_ITEMS];
    char ids[N_ITEMS][32];
    char err[256], *out = (char *)"untouched";
    size_t len = 0;
    const struct provider_conf *confs[] = {&openai_conf, &anthropic_conf};

    for (size_t c = 0; c < 2; c++) {
        int (*build)(const struct provider_conf *, const struct batch_item *,
                     size_t, char **, size_t *, char *, size_t) =
            c == 0 ? batch_openai_input_jsonl : batch_anthropic_create_body;
        make_items(items, ids, "m");
        assert_int_equal(build(confs[c], items, 0, &out, &len, err,
                               sizeof(err)), SL_EINVAL);
        items[3].custom_id = ids[1]; /* repeated */
        assert_int_equal(build(confs[c], items, N_ITEMS, &out, &len, err,
                               sizeof(err)), SL_EINVAL);
        assert_non_null(strstr(err, "repeated"));
        items[3].custom_id = "job-7:1"; /* ':' is not allowed */
        assert_int_equal(build(confs[c], items, N_ITEMS, &out, &len, err,
                               sizeof(err)), SL_EINVAL);

        size_t over = batch_max_requests(confs[c]->kind) + 1;
        struct batch_item *many = calloc(over, sizeof(*many));
        assert_non_null(many);
        assert_int_equal(build(confs[c], many, over, &out, &len, err,
                               sizeof(err)), SL_ENOMEM);
        free(many);
    }
    make_items(items, ids, "gpt-4o-mini");
    items[2].model = "gpt-4o";
    assert_int_equal(batch_openai_input_jsonl(&openai_conf, items, N_ITEMS,
                                              &out, &len, err, sizeof(err)),
                     SL_EINVAL);
    assert_non_null(strstr(err, "models"));

    struct task_conf zero = label_task;
    zero.max_output_tokens = 0;
    make_items(items, ids, "claude-haiku-4-5");
    items[4].task = &zero;
    assert_int_equal(batch_anthropic_create_body(&anthropic_conf, items,
                                                 N_ITEMS, &out, &len, err,
                                                 sizeof(err)), SL_EINVAL);
    assert_string_equal(out, "untouched");
}

static void test_limits(void **state)
{
    (void)state;
    assert_int_equal(batch_max_requests(PROVIDER_OPENAI), 50000);
    assert_int_equal(batch_max_requests(PROVIDER_ANTHROPIC), 100000);
    assert_int_equal(batch_max_bytes(PROVIDER_OPENAI), 200000000);
    assert_int_equal(batch_max_bytes(PROVIDER_ANTHROPIC), 256000000);
}

/* --- multipart upload --- */

static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    }
    return NULL;
}

static void check_multipart(const char *content, size_t clen)
{
    char err[256], *body = NULL, *ctype = NULL;
    size_t blen = 0;
    assert_int_equal(batch_openai_upload_body(content, clen, "sluice-42.jsonl",
                                              &body, &blen, &ctype, err,
                                              sizeof(err)), SL_OK);
    const char *prefix = "multipart/form-data; boundary=";
    assert_memory_equal(ctype, prefix, strlen(prefix));
    const char *b = ctype + strlen(prefix);
    assert_true(strlen(b) >= 16 && strlen(b) <= 70); /* RFC 2046 */
    assert_null(find(content, clen, b));

    char head[512], tail[128];
    snprintf(head, sizeof(head),
             "--%s\r\n"
             "Content-Disposition: form-data; name=\"purpose\"\r\n\r\n"
             "batch\r\n"
             "--%s\r\n"
             "Content-Disposition: form-data; name=\"file\"; "
             "filename=\"sluice-42.jsonl\"\r\n"
             "Content-Type: application/jsonl\r\n\r\n", b, b);
    snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", b);
    size_t hl = strlen(head), tl = strlen(tail);
    assert_int_equal(blen, hl + clen + tl);
    assert_memory_equal(body, head, hl);
    if (clen > 0)
        assert_memory_equal(body + hl, content, clen);
    assert_memory_equal(body + hl + clen, tail, tl);
    free(body);
    free(ctype);
}

static void test_multipart(void **state)
{
    (void)state;
    static const char *contents[] = {
        "", "{\"a\":1}\n",
        "--sluice-\r\n--\r\nContent-Disposition: form-data\r\n\r\n",
        "sluice-sluice-0000000000000000-00000000 sluice-",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(contents); i++)
        check_multipart(contents[i], strlen(contents[i]));
    static const char nul[] = "a\0b\0--\r\n";
    check_multipart(nul, sizeof(nul) - 1);

    char err[256], *body = NULL, *ctype = NULL;
    size_t blen;
    static const char *bad[] = {"", "a\"b.jsonl", "a\r\nb", "a\\b"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(batch_openai_upload_body("x", 1, bad[i], &body,
                                                  &blen, &ctype, err,
                                                  sizeof(err)), SL_EINVAL);
    assert_null(body);
    assert_null(ctype);
}

/* --- create bodies --- */

static void test_openai_create_body(void **state)
{
    (void)state;
    char *s = batch_openai_create_body("file-In9Xw2", "42");
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 4);
    assert_string_equal(jstr(j, "input_file_id"), "file-In9Xw2");
    assert_string_equal(jstr(j, "endpoint"), "/v1/chat/completions");
    assert_string_equal(jstr(j, "completion_window"), "24h");
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    assert_int_equal(cJSON_GetArraySize(meta), 1);
    assert_string_equal(jstr(meta, "sluice_batch_id"), "42");
    cJSON_Delete(j);
    free(s);
}

static void test_anthropic_create_body(void **state)
{
    (void)state;
    struct batch_item items[N_ITEMS];
    char ids[N_ITEMS][32];
    make_items(items, ids, "claude-haiku-4-5");
    items[1].model = "claude-sonnet-4-5"; /* models may differ */
    char err[256] = "", *body = NULL;
    size_t len = 0;
    assert_int_equal(batch_anthropic_create_body(&anthropic_conf, items,
                                                 N_ITEMS, &body, &len, err,
                                                 sizeof(err)), SL_OK);
    assert_int_equal(strlen(body), len);
    cJSON *j = cJSON_Parse(body);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 1);
    cJSON *reqs = cJSON_GetObjectItemCaseSensitive(j, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), N_ITEMS);
    for (int i = 0; i < N_ITEMS; i++) {
        cJSON *r = cJSON_GetArrayItem(reqs, i);
        assert_int_equal(cJSON_GetArraySize(r), 2);
        assert_string_equal(jstr(r, "custom_id"), ids[i]);
        cJSON *want = realtime_body(&anthropic_conf, &items[i]);
        assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(r,
                                                                   "params"),
                                  want, true));
        cJSON_Delete(want);
    }
    cJSON_Delete(j);
    free(body);
}

/* --- URLs --- */

static void test_urls(void **state)
{
    (void)state;
    static const struct {
        const struct provider_conf *p;
        enum batch_call call;
        const char *id, *want;
    } cases[] = {
        {&openai_conf, BATCH_CALL_UPLOAD, NULL, "http://127.0.0.1:9/v1/files"},
        {&openai_conf, BATCH_CALL_CREATE, NULL,
         "http://127.0.0.1:9/v1/batches"},
        {&openai_conf, BATCH_CALL_GET, "batch_6f2a1c",
         "http://127.0.0.1:9/v1/batches/batch_6f2a1c"},
        {&openai_conf, BATCH_CALL_CANCEL, "batch_6f2a1c",
         "http://127.0.0.1:9/v1/batches/batch_6f2a1c/cancel"},
        {&openai_conf, BATCH_CALL_FILE_CONTENT, "file-Out7Qa",
         "http://127.0.0.1:9/v1/files/file-Out7Qa/content"},
        {&openai_conf, BATCH_CALL_RESULTS, "x", NULL},
        {&openai_conf, BATCH_CALL_GET, NULL, NULL},
        {&openai_conf, BATCH_CALL_GET, "", NULL},
        {&openai_conf, BATCH_CALL_GET, "../files", NULL},
        {&openai_conf, BATCH_CALL_GET, "a?b", NULL},
        {&anthropic_conf, BATCH_CALL_CREATE, NULL,
         "http://127.0.0.1:9/v1/messages/batches"},
        {&anthropic_conf, BATCH_CALL_GET, "msgbatch_013Z",
         "http://127.0.0.1:9/v1/messages/batches/msgbatch_013Z"},
        {&anthropic_conf, BATCH_CALL_CANCEL, "msgbatch_013Z",
         "http://127.0.0.1:9/v1/messages/batches/msgbatch_013Z/cancel"},
        {&anthropic_conf, BATCH_CALL_RESULTS, "msgbatch_013Z",
         "http://127.0.0.1:9/v1/messages/batches/msgbatch_013Z/results"},
        {&anthropic_conf, BATCH_CALL_UPLOAD, NULL, NULL},
        {&anthropic_conf, BATCH_CALL_FILE_CONTENT, "f", NULL},
        {&anthropic_conf, BATCH_CALL_RESULTS, "a/b", NULL},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        char *u = batch_url(cases[i].p, cases[i].call, cases[i].id);
        if (cases[i].want)
            assert_string_equal(u, cases[i].want);
        else
            assert_null(u);
        free(u);
    }
}

/* --- batch objects --- */

struct status_case {
    enum provider_kind kind;
    const char *file;
    enum batch_state state;
    const char *output_file_id, *error_file_id, *results_url, *error;
    int64_t total, completed, failed;
};

static const char ANT_ID[] = "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF";
static const char ANT_RESULTS[] = "https://api.anthropic.com/v1/messages/"
                                  "batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/"
                                  "results";

static const struct status_case status_cases[] = {
    {PROVIDER_OPENAI, "validating", BATCH_IN_PROGRESS, NULL, NULL, NULL, NULL,
     0, 0, 0},
    {PROVIDER_OPENAI, "in_progress", BATCH_IN_PROGRESS, NULL, NULL, NULL,
     NULL, 100, 40, 1},
    {PROVIDER_OPENAI, "finalizing", BATCH_IN_PROGRESS, NULL, NULL, NULL, NULL,
     100, 98, 2},
    {PROVIDER_OPENAI, "cancelling", BATCH_IN_PROGRESS, NULL, NULL, NULL, NULL,
     100, 10, 0},
    {PROVIDER_OPENAI, "completed", BATCH_ENDED, "file-Out7Qa", "file-Err3Zk",
     NULL, NULL, 100, 97, 3},
    {PROVIDER_OPENAI, "failed", BATCH_FAILED, NULL, NULL, NULL,
     "invalid_json_line: This line is not parseable as valid JSON. (line 3)",
     0, 0, 0},
    {PROVIDER_OPENAI, "expired", BATCH_EXPIRED, "file-Out7Qa", "file-Err3Zk",
     NULL, NULL, 100, 60, 40},
    {PROVIDER_OPENAI, "cancelled", BATCH_CANCELLED, "file-Out7Qa",
     "file-Err3Zk", NULL, NULL, 100, 10, 90},
    {PROVIDER_ANTHROPIC, "in_progress", BATCH_IN_PROGRESS, NULL, NULL, NULL,
     NULL, 100, 0, 0},
    {PROVIDER_ANTHROPIC, "canceling", BATCH_IN_PROGRESS, NULL, NULL, NULL,
     NULL, 100, 0, 0},
    {PROVIDER_ANTHROPIC, "ended", BATCH_ENDED, NULL, NULL, ANT_RESULTS, NULL,
     100, 90, 10},
};

static void assert_opt_string(const char *got, const char *want)
{
    if (want)
        assert_string_equal(got, want);
    else
        assert_null(got);
}

static void test_status_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(status_cases); i++) {
        const struct status_case *c = &status_cases[i];
        bool ant = c->kind == PROVIDER_ANTHROPIC;
        char name[128], err[256] = "";
        snprintf(name, sizeof(name), "batch_%s_status_%s.json",
                 ant ? "anthropic" : "openai", c->file);
        size_t len;
        char *body = fixture_read(name, &len);
        struct batch_status st;
        assert_int_equal(batch_parse_status(c->kind, body, len, &st, err,
                                            sizeof(err)), SL_OK);
        assert_string_equal(st.id, ant ? ANT_ID : "batch_6f2a1c");
        assert_int_equal(st.state, c->state);
        assert_opt_string(st.output_file_id, c->output_file_id);
        assert_opt_string(st.error_file_id, c->error_file_id);
        assert_opt_string(st.results_url, c->results_url);
        assert_opt_string(st.error, c->error);
        assert_opt_string(st.sluice_batch_id, ant ? NULL : "42");
        assert_true(st.total == c->total);
        assert_true(st.completed == c->completed);
        assert_true(st.failed == c->failed);
        /* fixtures: openai 1764000000 (unix s), anthropic
         * 2026-11-24T18:37:24.100435Z (fraction kept to the ms) */
        assert_true(st.created_ms == (ant ? INT64_C(1795545444100)
                                          : INT64_C(1764000000000)));
        batch_status_clear(&st);
        batch_status_clear(&st); /* cleared twice is harmless */
        free(body);
    }
    batch_status_clear(NULL);
}

static void test_status_errors(void **state)
{
    (void)state;
    static const struct {
        enum provider_kind kind;
        const char *body, *why;
    } cases[] = {
        {PROVIDER_OPENAI, "", "malformed"},
        {PROVIDER_OPENAI, "<html>502</html>", "malformed"},
        {PROVIDER_OPENAI, "[]", "malformed"},
        {PROVIDER_OPENAI, "{\"status\":\"completed\"}", "no id"},
        {PROVIDER_OPENAI, "{\"id\":\"b\",\"status\":\"ended\"}", "unknown"},
        {PROVIDER_OPENAI, "{\"id\":\"b\"}", "unknown"},
        {PROVIDER_OPENAI,
         "{\"error\":{\"message\":\"No batch found\",\"type\":"
         "\"invalid_request_error\",\"code\":\"not_found\"}}",
         "not_found: No batch found"},
        {PROVIDER_ANTHROPIC,
         "{\"id\":\"m\",\"processing_status\":\"completed\"}", "unknown"},
        {PROVIDER_ANTHROPIC, "{\"id\":\"m\",\"status\":\"ended\"}", "unknown"},
        {PROVIDER_ANTHROPIC,
         "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
         "\"message\":\"batch not found\"}}",
         "not_found_error: batch not found"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        struct batch_status st;
        char err[256] = "";
        assert_int_equal(batch_parse_status(cases[i].kind, cases[i].body,
                                            strlen(cases[i].body), &st, err,
                                            sizeof(err)), SL_EINVAL);
        assert_non_null(strstr(err, cases[i].why));
        assert_null(st.id);
    }
}

/* --- batch lists --- */

static void test_created_times(void **state)
{
    (void)state;
    static const struct {
        enum provider_kind kind;
        const char *created;
        int64_t want;
    } cases[] = {
        {PROVIDER_ANTHROPIC, "\"2026-11-24T18:37:24Z\"", 1795545444000},
        {PROVIDER_ANTHROPIC, "\"2026-11-24T18:37:24.5Z\"", 1795545444500},
        {PROVIDER_ANTHROPIC, "\"2026-11-24T20:37:24+02:00\"", 1795545444000},
        {PROVIDER_ANTHROPIC, "\"2026-11-24T16:37:24.25-02:00\"",
         1795545444250},
        {PROVIDER_ANTHROPIC, "\"2026-11-24 18:37:24Z\"", 0},
        {PROVIDER_ANTHROPIC, "\"2026-11-24T18:37:24\"", 0},
        {PROVIDER_ANTHROPIC, "1764000000", 0},
        {PROVIDER_ANTHROPIC, "null", 0},
        /* up to the epoch: no batch time, like OpenAI's (found by fuzzing) */
        {PROVIDER_ANTHROPIC, "\"1450-11-24T18:37:24Z\"", 0},
        {PROVIDER_ANTHROPIC, "\"1970-01-01T00:00:00Z\"", 0},
        {PROVIDER_OPENAI, "1764000000", 1764000000000},
        {PROVIDER_OPENAI, "\"2026-11-24T18:37:24Z\"", 0},
        {PROVIDER_OPENAI, "-5", 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        bool ant = cases[i].kind == PROVIDER_ANTHROPIC;
        char body[256], err[256] = "";
        snprintf(body, sizeof(body), "{\"id\":\"b1\",\"%s\":\"%s\","
                 "\"created_at\":%s}", ant ? "processing_status" : "status",
                 ant ? "ended" : "completed", cases[i].created);
        struct batch_status st;
        assert_int_equal(batch_parse_status(cases[i].kind, body, strlen(body),
                                            &st, err, sizeof(err)), SL_OK);
        if (st.created_ms != cases[i].want)
            fail_msg("case %zu: %s -> %lld", i, cases[i].created,
                     (long long)st.created_ms);
        batch_status_clear(&st);
    }
}

/* The shapes of the two list answers (newest first), with an entry that
 * does not parse in the middle: it is skipped, the others kept. */
static void test_list(void **state)
{
    (void)state;
    static const char openai_page[] =
        "{\"object\":\"list\",\"data\":["
        "{\"id\":\"batch_b\",\"object\":\"batch\",\"status\":\"completed\","
        "\"created_at\":1764000100,\"output_file_id\":\"file-o\","
        "\"metadata\":{\"sluice_batch_id\":\"sb-2\"},"
        "\"request_counts\":{\"total\":3,\"completed\":3,\"failed\":0}},"
        "{\"id\":\"batch_x\",\"status\":\"exploded\"},"
        "{\"id\":\"batch_a\",\"object\":\"batch\",\"status\":\"in_progress\","
        "\"created_at\":1764000000,\"metadata\":null}],"
        "\"first_id\":\"batch_b\",\"last_id\":\"batch_a\",\"has_more\":true}";
    static const char anthropic_page[] =
        "{\"data\":[{\"id\":\"msgbatch_2\",\"type\":\"message_batch\","
        "\"processing_status\":\"in_progress\","
        "\"created_at\":\"2026-11-24T18:37:24Z\",\"results_url\":null},"
        "{\"id\":\"msgbatch_1\",\"processing_status\":\"ended\","
        "\"created_at\":\"2026-11-24T18:00:00Z\","
        "\"results_url\":\"http://h/v1/messages/batches/msgbatch_1/results\"}],"
        "\"has_more\":false}";
    struct batch_list l;
    char err[256] = "";
    assert_int_equal(batch_parse_list(PROVIDER_OPENAI, openai_page,
                                      strlen(openai_page), &l, err,
                                      sizeof(err)), SL_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.skipped, 1);
    assert_true(l.has_more);
    assert_string_equal(l.last_id, "batch_a");
    assert_string_equal(l.items[0].id, "batch_b");
    assert_string_equal(l.items[0].sluice_batch_id, "sb-2");
    assert_int_equal(l.items[0].state, BATCH_ENDED);
    assert_true(l.items[0].created_ms == INT64_C(1764000100000));
    assert_string_equal(l.items[1].id, "batch_a");
    assert_null(l.items[1].sluice_batch_id);
    assert_int_equal(l.items[1].state, BATCH_IN_PROGRESS);
    batch_list_clear(&l);
    batch_list_clear(&l);

    /* no last_id in the body: the last entry's id is the cursor */
    assert_int_equal(batch_parse_list(PROVIDER_ANTHROPIC, anthropic_page,
                                      strlen(anthropic_page), &l, err,
                                      sizeof(err)), SL_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.skipped, 0);
    assert_false(l.has_more);
    assert_string_equal(l.last_id, "msgbatch_1");
    assert_int_equal(l.items[0].state, BATCH_IN_PROGRESS);
    assert_true(l.items[0].created_ms == INT64_C(1795545444000));
    assert_int_equal(l.items[1].state, BATCH_ENDED);
    assert_string_equal(l.items[1].results_url,
                        "http://h/v1/messages/batches/msgbatch_1/results");
    batch_list_clear(&l);
    batch_list_clear(NULL);

    static const struct {
        enum provider_kind kind;
        const char *body, *why;
    } bad[] = {
        {PROVIDER_OPENAI, "", "malformed"},
        {PROVIDER_OPENAI, "[]", "malformed"},
        {PROVIDER_OPENAI, "{\"object\":\"list\"}", "no data"},
        {PROVIDER_OPENAI, "{\"data\":{}}", "no data"},
        {PROVIDER_OPENAI, "{\"error\":{\"code\":\"invalid_api_key\","
         "\"message\":\"bad key\"}}", "invalid_api_key: bad key"},
        {PROVIDER_ANTHROPIC, "{\"type\":\"error\",\"error\":{\"type\":"
         "\"authentication_error\",\"message\":\"no\"}}",
         "authentication_error: no"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        assert_int_equal(batch_parse_list(bad[i].kind, bad[i].body,
                                          strlen(bad[i].body), &l, err,
                                          sizeof(err)), SL_EINVAL);
        assert_non_null(strstr(err, bad[i].why));
        assert_int_equal(l.n, 0);
        assert_null(l.items);
    }
}

static void test_file_id(void **state)
{
    (void)state;
    size_t len;
    char *body = fixture_read("batch_openai_file.json", &len);
    char err[256] = "", *id = NULL;
    assert_int_equal(batch_parse_file_id(body, len, &id, err, sizeof(err)),
                     SL_OK);
    assert_string_equal(id, "file-In9Xw2");
    free(id);
    free(body);
    static const char *bad[] = {
        "", "nope", "{\"object\":\"file\"}",
        "{\"error\":{\"message\":\"bad purpose\",\"type\":"
        "\"invalid_request_error\"}}",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        id = NULL;
        assert_int_equal(batch_parse_file_id(bad[i], strlen(bad[i]), &id,
                                             err, sizeof(err)), SL_EINVAL);
        assert_null(id);
    }
    assert_non_null(strstr(err, "bad purpose"));
}

/* --- result lines --- */

struct line_case {
    enum provider_kind kind;
    size_t index; /* line number in the fixture, from 0 */
    const char *custom_id;
    enum batch_line_kind line_kind;
    long http_status;
    const char *content, *error_type;
    int64_t input, cached, cache_write, output;
    bool truncated;
};

static const struct line_case line_cases[] = {
    /* OpenAI: cached_tokens is a subset of prompt_tokens. */
    {PROVIDER_OPENAI, 0, "r1-a0", BATCH_LINE_SUCCEEDED, 200,
     "{\"label\": \"billing\", \"confidence\": 0.93}", NULL, 1200, 1024, 0,
     12, false},
    {PROVIDER_OPENAI, 1, "r2-a1", BATCH_LINE_SUCCEEDED, 200,
     "{\"label\": \"shipping\", \"confidence\": 0.55}", NULL, 300, 0, 0, 11,
     false},
    {PROVIDER_OPENAI, 2, "r3-a0", BATCH_LINE_ERRORED, 400, NULL,
     "string_above_max_length", 0, 0, 0, 0, false},
    {PROVIDER_OPENAI, 3, "r4-a0", BATCH_LINE_EXPIRED, 0, NULL,
     "batch_expired", 0, 0, 0, 0, false},
    {PROVIDER_OPENAI, 4, "r5-a0", BATCH_LINE_CANCELED, 0, NULL,
     "batch_cancelled", 0, 0, 0, 0, false},
    {PROVIDER_OPENAI, 5, "r6-a0", BATCH_LINE_ERRORED, 0, NULL,
     "request_timeout", 0, 0, 0, 0, false},
    {PROVIDER_OPENAI, 6, "r7-a0", BATCH_LINE_ERRORED, 200, NULL,
     "invalid_response", 0, 0, 0, 0, false},
    /* Anthropic: input = input + cache_creation + cache_read. */
    {PROVIDER_ANTHROPIC, 0, "r1-a0", BATCH_LINE_SUCCEEDED, 200,
     "{\"label\": \"billing\", \"confidence\": 0.91}", NULL, 1300, 1000, 200,
     14, false},
    {PROVIDER_ANTHROPIC, 1, "r2-a0", BATCH_LINE_ERRORED, 400, NULL,
     "invalid_request_error", 0, 0, 0, 0, false},
    {PROVIDER_ANTHROPIC, 2, "r3-a0", BATCH_LINE_ERRORED, 529, NULL,
     "overloaded_error", 0, 0, 0, 0, false},
    {PROVIDER_ANTHROPIC, 3, "r4-a0", BATCH_LINE_CANCELED, 0, NULL,
     "canceled", 0, 0, 0, 0, false},
    {PROVIDER_ANTHROPIC, 4, "r5-a0", BATCH_LINE_EXPIRED, 0, NULL, "expired",
     0, 0, 0, 0, false},
    {PROVIDER_ANTHROPIC, 5, "r6-a2", BATCH_LINE_SUCCEEDED, 200,
     "{\"label\": \"other\", \"confi", NULL, 50, 0, 0, 64, true},
};

/* Returns a pointer to line `index` of text and its length. */
static const char *nth_line(const char *text, size_t index, size_t *len)
{
    for (size_t i = 0; i < index; i++) {
        text = strchr(text, '\n');
        assert_non_null(text);
        text++;
    }
    const char *end = strchr(text, '\n');
    assert_non_null(end);
    *len = (size_t)(end - text);
    return text;
}

static void check_line(const struct line_case *c, const char *file)
{
    size_t flen, len;
    char *text = fixture_read(file, &flen);
    const char *line = nth_line(text, c->index, &len);
    struct batch_line bl;
    char err[256] = "";
    assert_int_equal(batch_parse_line(c->kind, line, len, &bl, err,
                                      sizeof(err)), SL_OK);
    assert_string_equal(bl.custom_id, c->custom_id);
    assert_int_equal(bl.kind, c->line_kind);
    assert_int_equal(bl.resp.http_status, c->http_status);
    assert_opt_string(bl.resp.content, c->content);
    assert_int_equal(bl.resp.truncated, c->truncated);
    if (c->line_kind == BATCH_LINE_SUCCEEDED) {
        assert_null(bl.error);
        assert_null(bl.resp.error_type);
        assert_true(bl.resp.has_usage);
        assert_true(bl.resp.usage.input_tokens == c->input);
        assert_true(bl.resp.usage.cached_tokens == c->cached);
        assert_true(bl.resp.usage.cache_write_tokens == c->cache_write);
        assert_true(bl.resp.usage.output_tokens == c->output);
        assert_non_null(bl.resp.response_id);
    } else {
        assert_non_null(bl.error);
        assert_non_null(strstr(bl.error, c->error_type));
        assert_string_equal(bl.resp.error_type, c->error_type);
        assert_false(bl.resp.has_usage);
    }
    batch_line_clear(&bl);
    batch_line_clear(&bl);
    free(text);
}

static void test_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(line_cases); i++)
        check_line(&line_cases[i],
                   line_cases[i].kind == PROVIDER_ANTHROPIC
                       ? "batch_anthropic_results.jsonl"
                       : "batch_openai_output.jsonl");
    batch_line_clear(NULL);
}

static void test_garbage_lines(void **state)
{
    (void)state;
    static const struct {
        enum provider_kind kind;
        const char *line;
    } cases[] = {
        {PROVIDER_OPENAI, ""}, {PROVIDER_OPENAI, "garbage"},
        {PROVIDER_OPENAI, "[1,2]"}, {PROVIDER_OPENAI, "{}"},
        {PROVIDER_OPENAI, "{\"custom_id\":5,\"error\":{\"code\":\"x\"}}"},
        {PROVIDER_OPENAI, "{\"custom_id\":\"a\"}"},
        {PROVIDER_OPENAI,
         "{\"custom_id\":\"a\",\"response\":null,\"error\":null}"},
        {PROVIDER_OPENAI, "{\"custom_id\":\"a\",\"response\":{\"status"},
        {PROVIDER_ANTHROPIC, "{\"custom_id\":\"a\"}"},
        {PROVIDER_ANTHROPIC, "{\"custom_id\":\"a\",\"result\":{}}"},
        {PROVIDER_ANTHROPIC,
         "{\"custom_id\":\"a\",\"result\":{\"type\":\"weird\"}}"},
        {PROVIDER_ANTHROPIC, "{\"result\":{\"type\":\"expired\"}}"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        struct batch_line bl;
        char err[256] = "";
        assert_int_equal(batch_parse_line(cases[i].kind, cases[i].line,
                                          strlen(cases[i].line), &bl, err,
                                          sizeof(err)), SL_EINVAL);
        assert_true(err[0] != '\0');
        assert_null(bl.custom_id);
        assert_null(bl.error);
    }
}

/* --- the splitter --- */

struct collected {
    char text[4096]; /* lines joined with '|'; over-long ones as <N> */
    size_t len;
    int stop_after;  /* return 7 from the nth line, 0: never */
    int calls;
};

static int collect(const char *line, size_t len, void *arg)
{
    struct collected *c = arg;
    char tmp[64];
    const char *s = line;
    size_t n = len;
    if (!line) {
        n = (size_t)snprintf(tmp, sizeof(tmp), "<%zu>", len);
        s = tmp;
    } else {
        assert_null(memchr(line, '\n', len));
    }
    assert_true(c->len + n + 1 < sizeof(c->text));
    memcpy(c->text + c->len, s, n);
    c->len += n;
    c->text[c->len++] = '|';
    c->text[c->len] = '\0';
    return ++c->calls == c->stop_after ? 7 : 0;
}

static void split(const char *data, size_t len, size_t max_line,
                  const size_t *cuts, size_t n_cuts, struct collected *out)
{
    memset(out, 0, sizeof(*out));
    struct batch_splitter *s = batch_splitter_new(max_line, collect, out);
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        assert_int_equal(batch_splitter_feed(s, data + at, end - at), 0);
        at = end;
    }
    assert_int_equal(batch_splitter_finish(s), 0);
    batch_splitter_free(s);
}

static const struct {
    const char *data;
    size_t max_line;
    const char *want;
} split_cases[] = {
    {"a\nbb\nccc\n", 16, "a|bb|ccc|"},
    {"a\nbb\nccc", 16, "a|bb|ccc|"},            /* no final newline */
    {"a\r\n\r\n\nb\r\n", 16, "a|b|"},           /* CRLF, blank lines */
    {"0123456789\n", 10, "0123456789|"},        /* exactly max_line */
    {"0123456789\r\n", 10, "0123456789|"},      /* plus the "\r" */
    {"01234567890\nok\n", 10, "<11>|ok|"},      /* one over */
    {"x\nyyyyyyyyyyyyyyyyyyyyyyyyy\nz\n", 5, "x|<25>|z|"},
    {"x\nyyyyyyyyyyyyyyyyyyyyyyyyy", 5, "x|<25>|"}, /* over, unterminated */
    {"", 4, ""},
    {"\n\n", 4, ""},
};

static void test_splitter_chunks(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(split_cases); i++) {
        const char *d = split_cases[i].data;
        size_t len = strlen(d), max = split_cases[i].max_line;
        struct collected got;
        split(d, len, max, NULL, 0, &got);
        assert_string_equal(got.text, split_cases[i].want);
        /* every single cut point */
        for (size_t cut = 0; cut <= len; cut++) {
            split(d, len, max, &cut, 1, &got);
            assert_string_equal(got.text, split_cases[i].want);
        }
        /* byte by byte */
        size_t *cuts = calloc(len + 1, sizeof(*cuts));
        assert_non_null(cuts);
        for (size_t k = 0; k < len; k++)
            cuts[k] = k;
        split(d, len, max, cuts, len, &got);
        assert_string_equal(got.text, split_cases[i].want);
        /* random chunkings, seeded so a failure reproduces */
        srand(1234u + (unsigned)i);
        for (int round = 0; round < 50; round++) {
            size_t n = 0;
            for (size_t k = 1; k < len; k++) {
                if (rand() % 3 == 0)
                    cuts[n++] = k;
            }
            split(d, len, max, cuts, n, &got);
            assert_string_equal(got.text, split_cases[i].want);
        }
        free(cuts);
    }
}

/* A real result file fed in odd-sized chunks gives its lines, which all
 * parse. */
static void test_splitter_fixture(void **state)
{
    (void)state;
    size_t len;
    char *text = fixture_read("batch_anthropic_results.jsonl", &len);
    struct collected whole, chunked;
    split(text, len, BATCH_MAX_LINE_DEFAULT, NULL, 0, &whole);
    size_t cuts[64], n = 0;
    for (size_t at = 7; at < len && n < SL_ARRAY_LEN(cuts); at += 37)
        cuts[n++] = at;
    split(text, len, BATCH_MAX_LINE_DEFAULT, cuts, n, &chunked);
    assert_string_equal(whole.text, chunked.text);
    assert_int_equal(whole.calls, 6);
    free(text);
}

static void test_splitter_stop(void **state)
{
    (void)state;
    struct collected got = {.stop_after = 2};
    struct batch_splitter *s = batch_splitter_new(8, collect, &got);
    assert_int_equal(batch_splitter_feed(s, "a\nb\nc\n", 6), 7);
    assert_string_equal(got.text, "a|b|");
    assert_int_equal(batch_splitter_feed(s, "d\n", 2), 7);
    assert_int_equal(batch_splitter_finish(s), 7);
    assert_int_equal(got.calls, 2);
    batch_splitter_free(s);
    batch_splitter_free(NULL);

    /* a stop from the final, unterminated line comes out of finish */
    memset(&got, 0, sizeof(got));
    got.stop_after = 1;
    s = batch_splitter_new(8, collect, &got);
    assert_int_equal(batch_splitter_feed(s, "tail", 4), 0);
    assert_int_equal(batch_splitter_finish(s), 7);
    batch_splitter_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_ids),
        cmocka_unit_test(test_openai_jsonl),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_openai_create_body),
        cmocka_unit_test(test_anthropic_create_body),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_status_fixtures),
        cmocka_unit_test(test_status_errors),
        cmocka_unit_test(test_created_times),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_file_id),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_garbage_lines),
        cmocka_unit_test(test_splitter_chunks),
        cmocka_unit_test(test_splitter_fixture),
        cmocka_unit_test(test_splitter_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
