/* batch_wire.c — building the batch requests: limits, custom ids, the
 * OpenAI input file and its multipart upload, the create bodies and URLs.
 * The parsing half lives in batch_parse.c, the line splitter in
 * batch_splitter.c. */
#include "batch_wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "provider/provider.h"

#define OPENAI_ENDPOINT "/v1/chat/completions"

size_t batch_max_requests(enum provider_kind kind)
{
    return kind == PROVIDER_ANTHROPIC ? 100000 : 50000;
}

size_t batch_max_bytes(enum provider_kind kind)
{
    return kind == PROVIDER_ANTHROPIC ? (size_t)256000000 : (size_t)200000000;
}

static bool id_char(char c, bool allow_dot)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           (allow_dot && c == '.');
}

bool batch_custom_id_valid(const char *id)
{
    if (!id || !id[0])
        return false;
    size_t n = 0;
    for (; id[n]; n++) {
        if (n >= BATCH_CUSTOM_ID_MAX || !id_char(id[n], false))
            return false;
    }
    return true;
}

char *batch_custom_id(int64_t row_id, int attempt)
{
    return xasprintf("r%" PRId64 "-a%d", row_id, attempt);
}

/* Digits only, no sign, no leading '+': strtoll alone would accept those.
 * No leading zero either (found by fuzzing): batch_custom_id never writes
 * one, and "r4-a00" must not pass for "r4-a0", so that each (row, attempt)
 * has exactly one id. */
static bool read_digits(const char **s, int64_t max, int64_t *out)
{
    const char *p = *s;
    int64_t v = 0;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (max - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    *s = p;
    *out = v;
    return true;
}

int batch_custom_id_parse(const char *id, int64_t *row_id, int *attempt)
{
    const char *p = id;
    int64_t row, att;
    if (!p || *p++ != 'r' || !read_digits(&p, INT64_MAX, &row) ||
        strncmp(p, "-a", 2) != 0)
        return SL_EINVAL;
    p += 2;
    if (!read_digits(&p, INT32_MAX, &att) || *p != '\0')
        return SL_EINVAL;
    *row_id = row;
    *attempt = (int)att;
    return SL_OK;
}

/* --- a growing buffer with a hard cap --- */

struct wbuf {
    char *data;
    size_t len, cap, max;
    bool over;
};

static void wb_add(struct wbuf *b, const char *s, size_t n)
{
    if (b->over || b->len + n > b->max) {
        b->over = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void wb_str(struct wbuf *b, const char *s)
{
    wb_add(b, s, strlen(s));
}

/* --- the request list shared by both providers --- */

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A repeated custom_id would make two answers indistinguishable, and both
 * providers reject the whole batch for it. */
static int check_ids(const struct batch_item *items, size_t n, char *errstr,
                     size_t errstr_size)
{
    for (size_t i = 0; i < n; i++) {
        if (!batch_custom_id_valid(items[i].custom_id)) {
            snprintf(errstr, errstr_size,
                     "batch item %zu: custom_id must match "
                     "^[a-zA-Z0-9_-]{1,64}$", i);
            return SL_EINVAL;
        }
    }
    const char **ids = xmalloc(n * sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = items[i].custom_id;
    qsort(ids, n, sizeof(*ids), cmp_str_ptr);
    int rc = SL_OK;
    for (size_t i = 1; i < n && rc == SL_OK; i++) {
        if (strcmp(ids[i - 1], ids[i]) == 0) {
            snprintf(errstr, errstr_size, "batch: custom_id %s repeated",
                     ids[i]);
            rc = SL_EINVAL;
        }
    }
    free(ids);
    return rc;
}

static int check_items(const struct provider_conf *p,
                       const struct batch_item *items, size_t n, char *errstr,
                       size_t errstr_size)
{
    if (n == 0) {
        snprintf(errstr, errstr_size, "batch: no requests");
        return SL_EINVAL;
    }
    if (n > batch_max_requests(p->kind)) {
        snprintf(errstr, errstr_size, "batch: %zu requests, %s takes %zu",
                 n, provider_kind_name(p->kind), batch_max_requests(p->kind));
        return SL_ENOMEM;
    }
    return check_ids(items, n, errstr, errstr_size);
}

/* How one provider wraps each request body: head, then per item
 * item_open(custom_id) + body + item_close, separated by sep, then tail.
 * The ids are checked to need no JSON escaping. */
struct frame {
    const char *head, *item_open, *item_close, *sep, *tail;
};

static int build_requests(const struct provider_conf *p,
                          const struct frame *f,
                          const struct batch_item *items, size_t n,
                          char **out, size_t *len_out, char *errstr,
                          size_t errstr_size)
{
    struct wbuf b = {.max = batch_max_bytes(p->kind)};
    wb_str(&b, f->head);
    for (size_t i = 0; i < n && !b.over; i++) {
        const struct batch_item *it = &items[i];
        char *body = provider_request_body(p, it->task, it->model, it->input,
                                           it->input_len);
        char *open = xasprintf(f->item_open, it->custom_id);
        wb_str(&b, i > 0 ? f->sep : "");
        wb_str(&b, open);
        wb_str(&b, body);
        wb_str(&b, f->item_close);
        free(open);
        free(body);
    }
    wb_str(&b, f->tail);
    if (b.over) {
        free(b.data);
        snprintf(errstr, errstr_size, "batch: over %zu bytes, the %s limit",
                 b.max, provider_kind_name(p->kind));
        return SL_ENOMEM;
    }
    *out = b.data;
    *len_out = b.len;
    return SL_OK;
}

int batch_openai_input_jsonl(const struct provider_conf *p,
                             const struct batch_item *items, size_t n,
                             char **out, size_t *len_out, char *errstr,
                             size_t errstr_size)
{
    int rc = check_items(p, items, n, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(items[i].model, items[0].model) != 0) {
            snprintf(errstr, errstr_size,
                     "openai batch: models %s and %s in one file",
                     items[0].model, items[i].model);
            return SL_EINVAL;
        }
    }
    /* cJSON prints bodies unformatted, escaping every newline inside
     * strings, so each request stays on one line. */
    static const struct frame f = {
        .head = "",
        .item_open = "{\"custom_id\":\"%s\",\"method\":\"POST\","
                     "\"url\":\"" OPENAI_ENDPOINT "\",\"body\":",
        .item_close = "}\n", .sep = "", .tail = "",
    };
    return build_requests(p, &f, items, n, out, len_out, errstr, errstr_size);
}

int batch_anthropic_create_body(const struct provider_conf *p,
                                const struct batch_item *items, size_t n,
                                char **out, size_t *len_out, char *errstr,
                                size_t errstr_size)
{
    int rc = check_items(p, items, n, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (items[i].task->max_output_tokens < 1) {
            snprintf(errstr, errstr_size,
                     "anthropic batch: task %s has max_output_tokens < 1",
                     items[i].task->name);
            return SL_EINVAL;
        }
    }
    static const struct frame f = {
        .head = "{\"requests\":[",
        .item_open = "{\"custom_id\":\"%s\",\"params\":",
        .item_close = "}", .sep = ",", .tail = "]}",
    };
    return build_requests(p, &f, items, n, out, len_out, errstr, errstr_size);
}

char *batch_openai_create_body(const char *input_file_id,
                               const char *sluice_batch_id)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    if (!root || !meta ||
        !cJSON_AddStringToObject(root, "input_file_id", input_file_id) ||
        !cJSON_AddStringToObject(root, "endpoint", OPENAI_ENDPOINT) ||
        !cJSON_AddStringToObject(root, "completion_window", "24h") ||
        !cJSON_AddStringToObject(meta, "sluice_batch_id", sluice_batch_id)) {
        fprintf(stderr, "sluice: out of memory building JSON\n");
        abort();
    }
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!body) {
        fprintf(stderr, "sluice: out of memory printing JSON\n");
        abort();
    }
    return body;
}

/* --- multipart upload --- */

static bool contains(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle);
    if (hay_len < n)
        return false;
    const char *p = hay, *end = hay + hay_len;
    while ((size_t)(end - p) >= n) {
        const char *c = memchr(p, needle[0], (size_t)(end - p) - n + 1);
        if (!c)
            return false;
        if (memcmp(c, needle, n) == 0)
            return true;
        p = c + 1;
    }
    return false;
}

/* FNV-1a of the content: the boundary depends on what it must avoid, and a
 * rare clash is resolved by trying the next salt. */
static char *pick_boundary(const char *data, size_t len)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * UINT64_C(1099511628211);
    for (uint32_t salt = 0;; salt++) {
        char *b = xasprintf("sluice-%016" PRIx64 "-%08" PRIx32, h, salt);
        if (!contains(data, len, b))
            return b;
        free(b);
    }
}

static bool filename_ok(const char *name)
{
    if (!name || !name[0])
        return false;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\')
            return false;
    }
    return true;
}

int batch_openai_upload_body(const char *jsonl, size_t len,
                             const char *filename, char **body,
                             size_t *body_len, char **content_type,
                             char *errstr, size_t errstr_size)
{
    if (!filename_ok(filename)) {
        snprintf(errstr, errstr_size, "upload: bad filename");
        return SL_EINVAL;
    }
    char *boundary = pick_boundary(jsonl, len);
    char *head = xasprintf(
        "--%s\r\n"
        "Content-Disposition: form-data; name=\"purpose\"\r\n\r\n"
        "batch\r\n"
        "--%s\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
        "Content-Type: application/jsonl\r\n\r\n",
        boundary, boundary, filename);
    char *tail = xasprintf("\r\n--%s--\r\n", boundary);
    struct wbuf b = {.max = SIZE_MAX - 1};
    wb_str(&b, head);
    wb_add(&b, jsonl, len);
    wb_str(&b, tail);
    *body = b.data;
    *body_len = b.len;
    *content_type = xasprintf("multipart/form-data; boundary=%s", boundary);
    free(tail);
    free(head);
    free(boundary);
    return SL_OK;
}

/* --- URLs --- */

bool batch_provider_id_valid(const char *id)
{
    if (!id || !id[0] || strlen(id) > 256)
        return false;
    for (; *id; id++) {
        if (!id_char(*id, true))
            return false;
    }
    return true;
}

static const char *openai_path(enum batch_call call)
{
    switch (call) {
    case BATCH_CALL_UPLOAD: return "/files";
    case BATCH_CALL_CREATE: return "/batches";
    case BATCH_CALL_GET: return "/batches/%s";
    case BATCH_CALL_CANCEL: return "/batches/%s/cancel";
    case BATCH_CALL_FILE_CONTENT: return "/files/%s/content";
    case BATCH_CALL_RESULTS: break;
    }
    return NULL;
}

static const char *anthropic_path(enum batch_call call)
{
    switch (call) {
    case BATCH_CALL_CREATE: return "/v1/messages/batches";
    case BATCH_CALL_GET: return "/v1/messages/batches/%s";
    case BATCH_CALL_CANCEL: return "/v1/messages/batches/%s/cancel";
    case BATCH_CALL_RESULTS: return "/v1/messages/batches/%s/results";
    case BATCH_CALL_UPLOAD:
    case BATCH_CALL_FILE_CONTENT: break;
    }
    return NULL;
}

char *batch_url(const struct provider_conf *p, enum batch_call call,
                const char *id)
{
    const char *path = p->kind == PROVIDER_ANTHROPIC ? anthropic_path(call)
                                                     : openai_path(call);
    if (!path)
        return NULL;
    bool takes_id = strstr(path, "%s") != NULL;
    if (takes_id && !batch_provider_id_valid(id))
        return NULL;
    size_t blen = strlen(p->base_url);
    while (blen > 0 && p->base_url[blen - 1] == '/')
        blen--;
    char *tail = takes_id ? xasprintf(path, id) : xstrdup(path);
    char *url = xasprintf("%.*s%s", (int)blen, p->base_url, tail);
    free(tail);
    return url;
}
