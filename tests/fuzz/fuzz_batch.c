/* sources: lib/batch/batch_wire.c lib/batch/batch_parse.c lib/batch/batch_splitter.c lib/rfc3339.c lib/provider/provider.c lib/provider/prompt_shape.c lib/provider/provider_json.c lib/provider/provider_openai.c lib/provider/provider_anthropic.c lib/provider/llm.c lib/utf8.c lib/sl.c */
/* Batch API answers for both kinds. First input byte: bit 0 the kind
 * (OpenAI / Anthropic), bits 1-2 what the rest is:
 *   0, 1  a result file (OpenAI output/error JSONL, Anthropic results
 *         stream), fed to a batch_splitter in chunks of 1 + byte[1] % 64
 *         bytes with max_line 1 + byte[2] * 8 (byte[2] == 255: the
 *         default cap), every line to batch_parse_line, and its custom_id
 *         to batch_custom_id_parse;
 *   2     a batch object (batch_parse_status) and a file upload answer
 *         (batch_parse_file_id);
 *   3     a batch list page (batch_parse_list).
 * The splitter's lines are checked against a plain split of the whole
 * stream, so chunking can never change what the scheduler reads. */
#include <stdint.h>

#include "batch/batch_wire.h"
#include "fuzz_util.h"

struct lines {
    enum provider_kind kind;
    const char *stream; /* the whole stream, for the reference split */
    size_t len, pos;    /* pos: where the next expected line starts */
    size_t max_line;
};

/* The next non-empty line of the stream after pos, without "\n" and a "\r"
 * before it; *full is its length with that "\r". */
static bool next_line(struct lines *l, const char **line, size_t *len,
                      size_t *full)
{
    while (l->pos < l->len) {
        const char *s = l->stream + l->pos;
        const char *nl = memchr(s, '\n', l->len - l->pos);
        size_t n = nl ? (size_t)(nl - s) : l->len - l->pos;
        l->pos += n + (nl ? 1 : 0);
        *full = n;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        *line = s;
        *len = n;
        return true;
    }
    return false;
}

static int on_line(const char *line, size_t len, void *arg)
{
    struct lines *l = arg;
    const char *want = NULL;
    size_t want_len = 0, full = 0;
    FUZZ_CHECK(next_line(l, &want, &want_len, &full));
    if (!line) {
        /* An over-long line: its length, counted with or without the "\r"
         * depending on where the chunks fell. */
        FUZZ_CHECK(want_len > l->max_line);
        FUZZ_CHECK(len == want_len || len == full);
        return 0;
    }
    FUZZ_CHECK(len == want_len && len <= l->max_line);
    FUZZ_CHECK(memcmp(line, want, len) == 0);

    /* The borrowed bytes are not NUL-terminated: copy them exactly, so
     * ASan sees a read past len. */
    char *copy = fuzz_bytes((const uint8_t *)line, len);
    struct batch_line bl;
    char err[256];
    int rc = batch_parse_line(l->kind, copy, len, &bl, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == SL_EINVAL);
    if (rc == 0) {
        FUZZ_CHECK(bl.custom_id != NULL);
        FUZZ_CHECK((bl.kind == BATCH_LINE_SUCCEEDED) == (bl.error == NULL));
        if (bl.kind == BATCH_LINE_SUCCEEDED)
            FUZZ_CHECK(bl.resp.http_status == 200);
        else
            FUZZ_CHECK(bl.resp.error_type != NULL);
        int64_t row = -1;
        int attempt = -1;
        if (batch_custom_id_parse(bl.custom_id, &row, &attempt) == 0) {
            FUZZ_CHECK(row >= 0 && attempt >= 0);
            FUZZ_CHECK(batch_custom_id_valid(bl.custom_id));
            char *again = batch_custom_id(row, attempt);
            FUZZ_CHECK(strcmp(again, bl.custom_id) == 0);
            free(again);
        }
        batch_line_clear(&bl);
    }
    free(copy);
    return 0;
}

static void result_stream(enum provider_kind kind, const uint8_t *data,
                          size_t size)
{
    if (size < 2)
        return;
    size_t chunk = 1 + data[0] % 64;
    size_t max_line = data[1] == 255 ? BATCH_MAX_LINE_DEFAULT
                                     : 1 + (size_t)data[1] * 8;
    data += 2;
    size -= 2;
    char *stream = fuzz_bytes(data, size);
    struct lines l = {kind, stream, size, 0, max_line};
    struct batch_splitter *s = batch_splitter_new(max_line, on_line, &l);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        FUZZ_CHECK(batch_splitter_feed(s, stream + off, n) == 0);
    }
    FUZZ_CHECK(batch_splitter_finish(s) == 0);
    const char *rest;
    size_t rest_len, full;
    FUZZ_CHECK(!next_line(&l, &rest, &rest_len, &full)); /* all delivered */
    batch_splitter_free(s);
    free(stream);
}

static void check_status(const struct batch_status *st)
{
    FUZZ_CHECK(st->id != NULL);
    FUZZ_CHECK(st->created_ms >= 0);
    FUZZ_CHECK(st->state >= BATCH_IN_PROGRESS && st->state <= BATCH_CANCELLED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum provider_kind kind = (data[0] & 1) ? PROVIDER_ANTHROPIC : PROVIDER_OPENAI;
    int mode = (data[0] >> 1) & 3;
    data++;
    size--;
    if (mode <= 1) {
        result_stream(kind, data, size);
        return 0;
    }
    char *body = fuzz_bytes(data, size);
    char err[256];
    if (mode == 2) {
        struct batch_status st;
        if (batch_parse_status(kind, body, size, &st, err, sizeof(err)) == 0) {
            check_status(&st);
            batch_status_clear(&st);
        }
        char *id = NULL;
        if (batch_parse_file_id(body, size, &id, err, sizeof(err)) == 0) {
            FUZZ_CHECK(id != NULL);
            free(id);
        }
    } else {
        struct batch_list list;
        if (batch_parse_list(kind, body, size, &list, err, sizeof(err)) == 0) {
            for (size_t i = 0; i < list.n; i++)
                check_status(&list.items[i]);
            batch_list_clear(&list);
        }
    }
    free(body);
    return 0;
}
