/* batch_openai.c — OpenAI Files + Batch: /v1/files and /v1/batches.
 *
 * Timeline of a batch with turnaround T from created_at: validating for
 * 0.1·T, in_progress until 0.9·T (lines finish in input order, evenly),
 * finalizing until T, then completed (or expired / failed). A cancel
 * freezes progress and the batch is cancelled 0.5·T later. */
#include <stdlib.h>
#include <string.h>

#include "batch_internal.h"
#include "util.h"

#define FILE_TTL_S (30 * 86400.0)
#define WINDOW_S 86400.0
#define MAX_ERRORS 100
#define LIST_DEFAULT 20
#define LIST_MAX 100

struct oa_file {
    char id[40];
    char *filename;
    const char *purpose; /* "batch" or "batch_output" */
    char *data;          /* immutable once listed, so readable without the lock */
    size_t len;
    double created;
};

enum oa_end { END_COMPLETED, END_EXPIRED, END_FAILED };

struct oa_batch {
    char id[48], input_file_id[40], output_file_id[40], error_file_id[40];
    char *model;     /* of the first line; NULL when none */
    cJSON *metadata; /* NULL renders null */
    cJSON *errors;   /* array of {code, message, param, line}; NULL when none */
    double created, in_progress_at, finalizing_at, end_at, failed_at;
    double cancelling_at, cancelled_at; /* -1 until cancelled */
    enum oa_end end;
    struct emu_line *lines;
    size_t n;
    bool materialised; /* output written and usage logged */
};

struct tally {
    size_t processed, completed, failed;
    long in, cached, out;
};

static void file_free(struct oa_file *f)
{
    if (f) {
        free(f->filename);
        free(f->data);
        free(f);
    }
}

static void batch_free(struct oa_batch *ob)
{
    if (ob) {
        free(ob->model);
        cJSON_Delete(ob->metadata);
        cJSON_Delete(ob->errors);
        emu_lines_free(ob->lines, ob->n);
        free(ob);
    }
}

void emu_batches_free_openai(struct emu_batches *b)
{
    for (size_t i = 0; i < b->n_files; i++)
        file_free(b->files[i]);
    free(b->files);
    for (size_t i = 0; i < b->n_oa; i++)
        batch_free(b->oa[i]);
    free(b->oa);
}

/* ---------------------------------------------------------------- files */

static void file_json(cJSON *o, const struct oa_file *f)
{
    cJSON_AddStringToObject(o, "id", f->id);
    cJSON_AddStringToObject(o, "object", "file");
    cJSON_AddNumberToObject(o, "bytes", (double)f->len);
    emu_add_unix(o, "created_at", f->created);
    emu_add_unix(o, "expires_at", f->created + FILE_TTL_S);
    cJSON_AddStringToObject(o, "filename", f->filename);
    cJSON_AddStringToObject(o, "purpose", f->purpose);
    cJSON_AddStringToObject(o, "status", "processed");
    cJSON_AddNullToObject(o, "status_details");
}

/* Caller holds the lock; takes ownership of data. */
static struct oa_file *file_add(struct emu_batches *b, const char *filename, const char *purpose, char *data,
                                size_t len, double now)
{
    char tail[23];
    struct oa_file *f = emu_xcalloc(1, sizeof(*f));
    emu_random_chars(tail, 22, emu_b62);
    snprintf(f->id, sizeof(f->id), "file-%s", tail);
    f->filename = emu_xstrdup(filename);
    f->purpose = purpose;
    f->data = data;
    f->len = len;
    f->created = now;
    b->files = emu_xrealloc(b->files, (b->n_files + 1) * sizeof(*b->files));
    b->files[b->n_files++] = f;
    return f;
}

static struct oa_file *file_find(struct emu_batches *b, const char *id)
{
    for (size_t i = 0; i < b->n_files; i++)
        if (strcmp(b->files[i]->id, id) == 0)
            return b->files[i];
    return NULL;
}

static void upload(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a)
{
    if (c->purpose == NULL || strcmp(c->purpose, "batch") != 0) {
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_INVALID,
                         c->purpose ? "purpose: the emulator accepts only 'batch'." : "'purpose' is a required property",
                         c->request_id);
        return;
    }
    if (c->filename == NULL) {
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_INVALID, "'file' is a required property", c->request_id);
        return;
    }
    if (c->len > EMU_OPENAI_FILE_MAX) {
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_TOO_LARGE, "File exceeds the maximum size of 200 MB.",
                         c->request_id);
        return;
    }
    char *data = emu_xmalloc(c->len + 1);
    if (c->len)
        memcpy(data, c->body, c->len);
    data[c->len] = '\0';
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&b->lock);
    file_json(o, file_add(b, c->filename[0] ? c->filename : "file", "batch", data, c->len, emu_now()));
    pthread_mutex_unlock(&b->lock);
    emu_answer_json(a, 200, o);
}

static void file_get(struct emu_batches *b, const struct emu_call *c, const char *tail, struct emu_answer *a)
{
    const char *slash = strchr(tail, '/');
    bool content = slash && strcmp(slash, "/content") == 0;
    char id[40];
    size_t n = slash ? (size_t)(slash - tail) : strlen(tail);
    if ((slash && !content) || strcmp(c->method, "GET") != 0 || n >= sizeof(id)) {
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_ROUTE, "Invalid URL", c->request_id);
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)n, tail);
    pthread_mutex_lock(&b->lock);
    struct oa_file *f = file_find(b, id);
    pthread_mutex_unlock(&b->lock);
    if (f == NULL) {
        char msg[96];
        snprintf(msg, sizeof(msg), "No such File object: %s", id);
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_NOT_FOUND, msg, c->request_id);
    } else if (content) {
        char *copy = emu_xmalloc(f->len + 1);
        memcpy(copy, f->data, f->len + 1);
        emu_answer_raw(a, 200, copy, f->len, "application/octet-stream");
    } else {
        cJSON *o = cJSON_CreateObject();
        file_json(o, f);
        emu_answer_json(a, 200, o);
    }
}

/* ---------------------------------------------------------------- batch state */

static const char *status_at(const struct oa_batch *ob, double now)
{
    if (ob->cancelling_at >= 0)
        return now < ob->cancelled_at ? "cancelling" : "cancelled";
    if (now < ob->in_progress_at)
        return "validating";
    if (ob->end == END_FAILED)
        return now < ob->failed_at ? "in_progress" : "failed";
    if (now < ob->finalizing_at)
        return "in_progress";
    if (now < ob->end_at)
        return "finalizing";
    return ob->end == END_EXPIRED ? "expired" : "completed";
}

static bool is_terminal(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "expired") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

/* Lines finish in input order; an expiring batch gets through half. */
static size_t processed_at(const struct oa_batch *ob, double now)
{
    if (ob->end == END_FAILED)
        return 0;
    if (ob->cancelling_at >= 0 && now > ob->cancelling_at)
        now = ob->cancelling_at;
    size_t goal = ob->end == END_EXPIRED ? ob->n / 2 : ob->n;
    return (size_t)((double)goal * emu_progress(ob->in_progress_at, ob->finalizing_at, now));
}

static void tally_at(const struct oa_batch *ob, double now, struct tally *t)
{
    *t = (struct tally){.processed = processed_at(ob, now)};
    if (ob->end == END_FAILED)
        return; /* a failed batch ran nothing */
    for (size_t i = 0; i < t->processed; i++) {
        const struct emu_line *l = &ob->lines[i];
        if (l->status != 200) {
            t->failed++;
            continue;
        }
        t->completed++;
        t->in += l->usage.input_tokens;
        t->cached += l->usage.cached_tokens;
        t->out += l->usage.output_tokens;
    }
    if (is_terminal(status_at(ob, now)))
        t->failed += ob->n - t->processed; /* expired or cancelled lines */
}

static void output_line(struct emu_buf *out, const struct emu_line *l)
{
    char tail[33];
    emu_random_chars(tail, 32, emu_b62);
    emu_buf_puts(out, "{\"id\":\"batch_req_");
    emu_buf_puts(out, tail);
    emu_buf_puts(out, "\",\"custom_id\":");
    emu_buf_json_str(out, l->custom_id);
    emu_buf_puts(out, ",\"response\":{\"status_code\":");
    char num[16];
    snprintf(num, sizeof(num), "%d", l->status);
    emu_buf_puts(out, num);
    emu_buf_puts(out, ",\"request_id\":\"");
    emu_buf_puts(out, l->request_id);
    emu_buf_puts(out, "\",\"body\":");
    emu_buf_puts(out, l->body);
    emu_buf_puts(out, "},\"error\":null}\n");
}

static void unprocessed_line(struct emu_buf *out, const struct emu_line *l, bool cancelled)
{
    char tail[33];
    emu_random_chars(tail, 32, emu_b62);
    emu_buf_puts(out, "{\"id\":\"batch_req_");
    emu_buf_puts(out, tail);
    emu_buf_puts(out, "\",\"custom_id\":");
    emu_buf_json_str(out, l->custom_id);
    emu_buf_puts(out, cancelled ? ",\"response\":null,\"error\":{\"code\":\"batch_cancelled\",\"message\":"
                                  "\"This request was not executed because the batch was cancelled.\"}}\n"
                                : ",\"response\":null,\"error\":{\"code\":\"batch_expired\",\"message\":"
                                  "\"This request could not be executed before the completion window expired.\"}}\n");
}

/* Caller holds the lock. Writes the output and error files (shuffled)
 * and logs the billed lines, once. */
static void materialise(struct emu_batches *b, struct oa_batch *ob, double now)
{
    struct emu_buf out = {0}, err = {0};
    size_t done = processed_at(ob, now), *order = emu_shuffled(ob->n);
    bool cancelled = ob->cancelling_at >= 0;
    ob->materialised = true;
    for (size_t k = 0; k < ob->n; k++) {
        const struct emu_line *l = &ob->lines[order[k]];
        if (order[k] >= done)
            unprocessed_line(&err, l, cancelled);
        else
            output_line(l->status == 200 ? &out : &err, l);
        if (order[k] < done && l->status == 200)
            emu_usage_write(b->usage, l->body_id, "openai-batch", l->model, &l->usage, "ok", NULL);
    }
    free(order);
    if (out.len)
        snprintf(ob->output_file_id, sizeof(ob->output_file_id), "%s",
                 file_add(b, "batch_output.jsonl", "batch_output", out.p, out.len, now)->id);
    if (err.len)
        snprintf(ob->error_file_id, sizeof(ob->error_file_id), "%s",
                 file_add(b, "batch_error.jsonl", "batch_output", err.p, err.len, now)->id);
}

static void advance(struct emu_batches *b, struct oa_batch *ob, double now)
{
    if (!ob->materialised && ob->end != END_FAILED && is_terminal(status_at(ob, now)))
        materialise(b, ob, now);
}

static void add_id_or_null(cJSON *o, const char *name, const char *id)
{
    if (id[0])
        cJSON_AddStringToObject(o, name, id);
    else
        cJSON_AddNullToObject(o, name);
}

/* The time a milestone was reached, or -1 while it lies ahead. */
static double reached(double at, double now)
{
    return at >= 0 && now >= at ? at : -1;
}

static void usage_json(cJSON *o, const struct tally *t)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "input_tokens", (double)t->in);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "input_tokens_details"), "cached_tokens", (double)t->cached);
    cJSON_AddNumberToObject(u, "output_tokens", (double)t->out);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "output_tokens_details"), "reasoning_tokens", 0);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(t->in + t->out));
}

static void times_json(cJSON *o, const struct oa_batch *ob, const char *status, double now)
{
    bool cancel = ob->cancelling_at >= 0, failed = strcmp(status, "failed") == 0;
    double in_progress = ob->end == END_FAILED && ob->failed_at <= ob->in_progress_at ? -1 : ob->in_progress_at;
    if (cancel && ob->cancelling_at < ob->in_progress_at)
        in_progress = -1;
    emu_add_unix(o, "created_at", ob->created);
    emu_add_unix(o, "in_progress_at", reached(in_progress, now));
    emu_add_unix(o, "expires_at", ob->created + WINDOW_S);
    emu_add_unix(o, "finalizing_at", cancel || ob->end == END_FAILED ? -1 : reached(ob->finalizing_at, now));
    emu_add_unix(o, "completed_at", strcmp(status, "completed") == 0 ? ob->end_at : -1);
    emu_add_unix(o, "failed_at", failed ? ob->failed_at : -1);
    emu_add_unix(o, "expired_at", strcmp(status, "expired") == 0 ? ob->end_at : -1);
    emu_add_unix(o, "cancelling_at", cancel ? ob->cancelling_at : -1);
    emu_add_unix(o, "cancelled_at", cancel ? reached(ob->cancelled_at, now) : -1);
}

static cJSON *batch_json(const struct oa_batch *ob, double now)
{
    const char *status = status_at(ob, now);
    struct tally t;
    cJSON *o = cJSON_CreateObject();
    tally_at(ob, now, &t);
    cJSON_AddStringToObject(o, "id", ob->id);
    cJSON_AddStringToObject(o, "object", "batch");
    cJSON_AddStringToObject(o, "endpoint", "/v1/chat/completions");
    if (ob->model)
        cJSON_AddStringToObject(o, "model", ob->model);
    else
        cJSON_AddNullToObject(o, "model");
    if (ob->errors && strcmp(status, "failed") == 0) {
        cJSON *e = cJSON_AddObjectToObject(o, "errors");
        cJSON_AddStringToObject(e, "object", "list");
        cJSON_AddItemToObject(e, "data", cJSON_Duplicate(ob->errors, true));
    } else {
        cJSON_AddNullToObject(o, "errors");
    }
    cJSON_AddStringToObject(o, "input_file_id", ob->input_file_id);
    cJSON_AddStringToObject(o, "completion_window", "24h");
    cJSON_AddStringToObject(o, "status", status);
    add_id_or_null(o, "output_file_id", ob->materialised ? ob->output_file_id : "");
    add_id_or_null(o, "error_file_id", ob->materialised ? ob->error_file_id : "");
    times_json(o, ob, status, now);
    cJSON *rc = cJSON_AddObjectToObject(o, "request_counts");
    bool counted = ob->end != END_FAILED;
    cJSON_AddNumberToObject(rc, "total", counted ? (double)ob->n : 0);
    cJSON_AddNumberToObject(rc, "completed", (double)t.completed);
    cJSON_AddNumberToObject(rc, "failed", (double)t.failed);
    cJSON_AddItemToObject(o, "metadata", ob->metadata ? cJSON_Duplicate(ob->metadata, true) : cJSON_CreateNull());
    usage_json(o, &t);
    return o;
}

/* ---------------------------------------------------------------- create */

static void add_error(cJSON **errors, const char *code, const char *message, const char *param, long line)
{
    if (*errors == NULL)
        *errors = cJSON_CreateArray();
    if (cJSON_GetArraySize(*errors) >= MAX_ERRORS)
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    if (line > 0)
        cJSON_AddNumberToObject(e, "line", (double)line);
    else
        cJSON_AddNullToObject(e, "line");
    cJSON_AddItemToArray(*errors, e);
}

/* Checks one input line; returns its body (borrowed from root) or NULL. */
static const cJSON *check_line(const cJSON *root, long line, cJSON **errors)
{
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(root, "custom_id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(root, "url");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "body");
    if (!cJSON_IsObject(root)) {
        add_error(errors, "invalid_json_line", "This line is not parseable as valid JSON.", NULL, line);
    } else if (!cJSON_IsString(cid) || cid->valuestring[0] == '\0') {
        add_error(errors, "missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id", line);
    } else if (!cJSON_IsString(method) || strcmp(method->valuestring, "POST") != 0) {
        add_error(errors, "invalid_method", "Only the POST method is supported.", "method", line);
    } else if (!cJSON_IsString(url) || strcmp(url->valuestring, "/v1/chat/completions") != 0) {
        add_error(errors, "mismatched_url",
                  "The URL provided for this request does not match the batch endpoint /v1/chat/completions.",
                  "url", line);
    } else if (!cJSON_IsObject(body)) {
        add_error(errors, "missing_required_parameter", "Missing required parameter: 'body'.", "body", line);
    } else {
        return body;
    }
    return NULL;
}

static int cmp_custom_id(const void *a, const void *b)
{
    const struct emu_line *x = *(const struct emu_line *const *)a, *y = *(const struct emu_line *const *)b;
    return strcmp(x->custom_id, y->custom_id);
}

static void check_unique(struct oa_batch *ob)
{
    const struct emu_line **sorted = emu_xmalloc(ob->n * sizeof(*sorted));
    for (size_t i = 0; i < ob->n; i++)
        sorted[i] = &ob->lines[i];
    qsort(sorted, ob->n, sizeof(*sorted), cmp_custom_id);
    for (size_t i = 1; i < ob->n; i++) {
        if (strcmp(sorted[i - 1]->custom_id, sorted[i]->custom_id) == 0) {
            char msg[400];
            snprintf(msg, sizeof(msg), "The custom_id '%.300s' is used more than once in this batch.",
                     sorted[i]->custom_id);
            add_error(&ob->errors, "duplicate_custom_id", msg, "custom_id",
                      (long)(sorted[i] - ob->lines) + 1);
        }
    }
    free(sorted);
}

/* Appends one well-formed line; it is answered only while the file is
 * still valid (after an error only the custom_id matters, for duplicates). */
static void take_line(const struct emu_batches *b, struct oa_batch *ob, const cJSON *root, const cJSON *body)
{
    struct emu_line *l = &ob->lines[ob->n++];
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    l->custom_id = emu_xstrdup(cJSON_GetObjectItemCaseSensitive(root, "custom_id")->valuestring);
    if (ob->model == NULL && cJSON_IsString(model))
        ob->model = emu_xstrdup(model->valuestring);
    if (ob->errors == NULL)
        emu_line_answer(b, EMU_API_OPENAI, ob->id, body, l);
}

/* Reads the input file. Problems make the batch fail after validating,
 * as the real API does, rather than refusing the create call. */
static void read_input(const struct emu_batches *b, struct oa_batch *ob, const struct oa_file *f)
{
    size_t cap = 0;
    long line = 0;
    for (const char *p = f->data, *end = f->data + f->len; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *at = p;
        p += n + 1;
        if (n == 0 || (n == 1 && at[0] == '\r'))
            continue; /* blank lines carry nothing */
        if (ob->n >= EMU_OPENAI_BATCH_LINES_MAX) {
            add_error(&ob->errors, "batch_too_large",
                      "The batch input file has more than the 50000 requests allowed per batch.", NULL, 0);
            return;
        }
        cJSON *root = cJSON_ParseWithLength(at, n);
        const cJSON *body = check_line(root, line + 1, &ob->errors);
        if (body) {
            if (ob->n == cap) {
                cap = cap ? cap * 2 : 64;
                ob->lines = emu_xrealloc(ob->lines, cap * sizeof(*ob->lines));
            }
            memset(&ob->lines[ob->n], 0, sizeof(*ob->lines));
            take_line(b, ob, root, body);
        }
        cJSON_Delete(root);
    }
    if (ob->n == 0 && ob->errors == NULL)
        add_error(&ob->errors, "empty_file", "The batch input file is empty.", NULL, 0);
    check_unique(ob);
}

static void plan(const struct emu_config *cfg, struct oa_batch *ob, double now)
{
    double t = cfg->batch.turnaround_s;
    ob->created = now;
    ob->in_progress_at = now + 0.1 * t;
    ob->finalizing_at = now + 0.9 * t;
    ob->end_at = now + t;
    ob->cancelling_at = ob->cancelled_at = -1;
    if (ob->errors) {
        ob->end = END_FAILED;
        ob->failed_at = ob->in_progress_at;
    } else if (cfg->batch.fail) {
        ob->end = END_FAILED;
        ob->failed_at = ob->end_at;
        add_error(&ob->errors, "batch_failed", "The batch failed (emulated: batch.fail).", NULL, 0);
    } else {
        ob->end = cfg->batch.expire ? END_EXPIRED : END_COMPLETED;
    }
}

static const char *check_metadata(const cJSON *md)
{
    const cJSON *kv;
    if (md == NULL || cJSON_IsNull(md))
        return NULL;
    if (!cJSON_IsObject(md) || cJSON_GetArraySize(md) > 16)
        return "metadata: must be an object of at most 16 string pairs";
    cJSON_ArrayForEach(kv, md) {
        if (strlen(kv->string) > 64 || !cJSON_IsString(kv) || strlen(kv->valuestring) > 512)
            return "metadata: keys are at most 64 characters, values strings of at most 512";
    }
    return NULL;
}

static const char *check_expires_after(const cJSON *ea)
{
    const cJSON *anchor = cJSON_GetObjectItemCaseSensitive(ea, "anchor");
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(ea, "seconds");
    if (ea == NULL)
        return NULL;
    if (!cJSON_IsString(anchor) || strcmp(anchor->valuestring, "created_at") != 0 || !cJSON_IsNumber(secs) ||
        secs->valuedouble < 3600 || secs->valuedouble > 2592000)
        return "output_expires_after: needs anchor 'created_at' and seconds in [3600, 2592000]";
    return NULL;
}

/* Returns the problem with the create request, or NULL. */
static const char *check_create(const cJSON *root)
{
    const cJSON *fid = cJSON_GetObjectItemCaseSensitive(root, "input_file_id");
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(root, "endpoint");
    const cJSON *win = cJSON_GetObjectItemCaseSensitive(root, "completion_window");
    const char *why;
    if (!cJSON_IsObject(root))
        return "We could not parse the JSON body of your request.";
    if (!cJSON_IsString(fid) || fid->valuestring[0] == '\0')
        return "Missing required parameter: 'input_file_id'.";
    if (!cJSON_IsString(ep))
        return "Missing required parameter: 'endpoint'.";
    if (strcmp(ep->valuestring, "/v1/chat/completions") != 0)
        return "endpoint: the emulator serves only '/v1/chat/completions'.";
    if (!cJSON_IsString(win) || strcmp(win->valuestring, "24h") != 0)
        return "completion_window: must be '24h'.";
    if ((why = check_metadata(cJSON_GetObjectItemCaseSensitive(root, "metadata"))) != NULL)
        return why;
    return check_expires_after(cJSON_GetObjectItemCaseSensitive(root, "output_expires_after"));
}

static struct oa_batch *batch_new(const cJSON *root)
{
    char tail[33];
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    struct oa_batch *ob = emu_xcalloc(1, sizeof(*ob));
    emu_random_chars(tail, 32, "0123456789abcdef");
    snprintf(ob->id, sizeof(ob->id), "batch_%s", tail);
    snprintf(ob->input_file_id, sizeof(ob->input_file_id), "%s",
             cJSON_GetObjectItemCaseSensitive(root, "input_file_id")->valuestring);
    if (md && !cJSON_IsNull(md))
        ob->metadata = cJSON_Duplicate(md, true);
    return ob;
}

static void create(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a)
{
    cJSON *root = cJSON_ParseWithLength(c->body ? c->body : "", c->len);
    const char *why = check_create(root);
    if (why) {
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_INVALID, why, c->request_id);
        cJSON_Delete(root);
        return;
    }
    struct oa_batch *ob = batch_new(root);
    cJSON_Delete(root);
    pthread_mutex_lock(&b->lock);
    const struct oa_file *f = file_find(b, ob->input_file_id);
    pthread_mutex_unlock(&b->lock);
    if (f == NULL || strcmp(f->purpose, "batch") != 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "No such File object: %s", ob->input_file_id);
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_NOT_FOUND, msg, c->request_id);
        batch_free(ob);
        return;
    }
    read_input(b, ob, f); /* files are immutable: no lock needed */
    plan(b->cfg, ob, emu_now());
    pthread_mutex_lock(&b->lock);
    b->oa = emu_xrealloc(b->oa, (b->n_oa + 1) * sizeof(*b->oa));
    b->oa[b->n_oa++] = ob;
    cJSON *o = batch_json(ob, ob->created);
    pthread_mutex_unlock(&b->lock);
    emu_answer_json(a, 200, o);
}

/* ---------------------------------------------------------------- get, cancel, list */

static struct oa_batch *batch_find(struct emu_batches *b, const char *id, size_t *index)
{
    for (size_t i = 0; i < b->n_oa; i++) {
        if (strcmp(b->oa[i]->id, id) == 0) {
            if (index)
                *index = i;
            return b->oa[i];
        }
    }
    return NULL;
}

/* Caller holds the lock. Returns the answer body or an error. */
static void cancel(struct emu_batches *b, struct oa_batch *ob, const struct emu_call *c, double now,
                   struct emu_answer *a)
{
    const char *status = status_at(ob, now);
    if (strcmp(status, "cancelling") != 0 && is_terminal(status)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Cannot cancel a batch with status '%s'.", status);
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_CONFLICT, msg, c->request_id);
        return;
    }
    if (ob->cancelling_at < 0) {
        ob->cancelling_at = now;
        ob->cancelled_at = now + 0.5 * b->cfg->batch.turnaround_s;
    }
    advance(b, ob, now);
    emu_answer_json(a, 200, batch_json(ob, now));
}

static void one_batch(struct emu_batches *b, const struct emu_call *c, const char *tail, struct emu_answer *a)
{
    const char *slash = strchr(tail, '/');
    bool is_cancel = slash && strcmp(slash, "/cancel") == 0;
    char id[48];
    size_t n = slash ? (size_t)(slash - tail) : strlen(tail);
    if ((slash && !is_cancel) || n >= sizeof(id) ||
        strcmp(c->method, is_cancel ? "POST" : "GET") != 0) {
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_ROUTE, "Invalid URL", c->request_id);
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)n, tail);
    double now = emu_now();
    pthread_mutex_lock(&b->lock);
    struct oa_batch *ob = batch_find(b, id, NULL);
    if (ob == NULL) {
        char msg[96];
        snprintf(msg, sizeof(msg), "No batch found with id '%s'.", id);
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_NOT_FOUND, msg, c->request_id);
    } else if (is_cancel) {
        cancel(b, ob, c, now, a);
    } else {
        advance(b, ob, now);
        emu_answer_json(a, 200, batch_json(ob, now));
    }
    pthread_mutex_unlock(&b->lock);
}

/* Newest first, like the real list; `after` is the last id of the page before. */
static void list(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a)
{
    long limit = emu_query_long(c, "limit", 1, LIST_MAX, LIST_DEFAULT);
    const char *after = c->query ? c->query(c->query_ctx, "after") : NULL;
    if (limit < 0) {
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_INVALID, "limit: must be an integer in [1, 100].", c->request_id);
        return;
    }
    double now = emu_now();
    cJSON *o = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(o, "object", "list");
    data = cJSON_AddArrayToObject(o, "data");
    pthread_mutex_lock(&b->lock);
    size_t start = b->n_oa, at;
    if (after && *after)
        start = batch_find(b, after, &at) ? at : 0;
    size_t i = start;
    for (; i > 0 && cJSON_GetArraySize(data) < limit; i--) {
        advance(b, b->oa[i - 1], now);
        cJSON_AddItemToArray(data, batch_json(b->oa[i - 1], now));
    }
    pthread_mutex_unlock(&b->lock);
    cJSON *first = cJSON_GetArrayItem(data, 0), *last = cJSON_GetArrayItem(data, cJSON_GetArraySize(data) - 1);
    cJSON_AddItemToObject(o, "first_id", first ? cJSON_CreateString(cJSON_GetObjectItem(first, "id")->valuestring)
                                               : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "last_id", last ? cJSON_CreateString(cJSON_GetObjectItem(last, "id")->valuestring)
                                             : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "has_more", i > 0);
    emu_answer_json(a, 200, o);
}

void emu_batches_openai(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a)
{
    const char *tail;
    if (strcmp(c->path, "/v1/files") == 0 && strcmp(c->method, "POST") == 0)
        upload(b, c, a);
    else if ((tail = emu_path_tail(c->path, "/v1/files")) != NULL && *tail)
        file_get(b, c, tail, a);
    else if (strcmp(c->path, "/v1/batches") == 0 && strcmp(c->method, "POST") == 0)
        create(b, c, a);
    else if (strcmp(c->path, "/v1/batches") == 0 && strcmp(c->method, "GET") == 0)
        list(b, c, a);
    else if ((tail = emu_path_tail(c->path, "/v1/batches")) != NULL && *tail)
        one_batch(b, c, tail, a);
    else
        emu_answer_error(a, EMU_API_OPENAI, EMU_ERR_ROUTE, "Invalid URL", c->request_id);
}
