/* batch_anthropic.c — Anthropic Message Batches: /v1/messages/batches.
 *
 * A batch is in_progress for batch.turnaround_s after creation, then
 * ended; lines finish evenly in input order. A cancel freezes progress
 * and the batch ends (canceling → ended) 0.5·turnaround_s later. Counts
 * other than processing stay 0 until the batch ends, as documented. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "batch_internal.h"
#include "util.h"

#define WINDOW_S 86400.0
#define LIST_DEFAULT 20
#define LIST_MAX 1000
#define CUSTOM_ID_MAX 64

struct an_batch {
    char id[48];
    double created, end_at;
    double cancel_at, cancel_end; /* -1 unless canceled */
    bool expire;
    struct emu_line *lines;
    size_t n;
    char *results; /* JSONL once ended */
    size_t results_len;
};

struct counts {
    size_t processing, succeeded, errored, canceled, expired;
};

static void batch_free(struct an_batch *ab)
{
    if (ab) {
        emu_lines_free(ab->lines, ab->n);
        free(ab->results);
        free(ab);
    }
}

void emu_batches_free_anthropic(struct emu_batches *b)
{
    for (size_t i = 0; i < b->n_an; i++)
        batch_free(b->an[i]);
    free(b->an);
}

static double ended_at(const struct an_batch *ab)
{
    return ab->cancel_at >= 0 ? ab->cancel_end : ab->end_at;
}

static bool is_ended(const struct an_batch *ab, double now)
{
    return now >= ended_at(ab);
}

static const char *status_at(const struct an_batch *ab, double now)
{
    if (is_ended(ab, now))
        return "ended";
    return ab->cancel_at >= 0 ? "canceling" : "in_progress";
}

/* Lines done by now; an expiring batch gets through the first half. */
static size_t processed_at(const struct an_batch *ab, double now)
{
    if (ab->cancel_at >= 0 && now > ab->cancel_at)
        now = ab->cancel_at;
    size_t goal = ab->expire ? ab->n / 2 : ab->n;
    return (size_t)((double)goal * emu_progress(ab->created, ab->end_at, now));
}

static void counts_at(const struct an_batch *ab, double now, struct counts *c)
{
    *c = (struct counts){0};
    if (!is_ended(ab, now)) {
        c->processing = ab->n;
        return;
    }
    size_t done = processed_at(ab, now);
    for (size_t i = 0; i < done; i++) {
        if (ab->lines[i].status == 200)
            c->succeeded++;
        else
            c->errored++;
    }
    if (ab->cancel_at >= 0)
        c->canceled = ab->n - done;
    else
        c->expired = ab->n - done;
}

static void result_line(struct emu_buf *out, const struct emu_line *l, bool done, bool canceled)
{
    emu_buf_puts(out, "{\"custom_id\":");
    emu_buf_json_str(out, l->custom_id);
    if (!done) {
        emu_buf_puts(out, canceled ? ",\"result\":{\"type\":\"canceled\"}}\n" : ",\"result\":{\"type\":\"expired\"}}\n");
        return;
    }
    emu_buf_puts(out, l->status == 200 ? ",\"result\":{\"type\":\"succeeded\",\"message\":"
                                       : ",\"result\":{\"type\":\"errored\",\"error\":");
    emu_buf_puts(out, l->body);
    emu_buf_puts(out, "}}\n");
}

/* Caller holds the lock. Builds the shuffled results and logs the billed
 * lines, once. */
static void advance(struct emu_batches *b, struct an_batch *ab, double now)
{
    if (ab->results || !is_ended(ab, now))
        return;
    struct emu_buf out = {0};
    size_t done = processed_at(ab, now), *order = emu_shuffled(ab->n);
    for (size_t k = 0; k < ab->n; k++) {
        const struct emu_line *l = &ab->lines[order[k]];
        result_line(&out, l, order[k] < done, ab->cancel_at >= 0);
        if (order[k] < done && l->status == 200)
            emu_usage_write(b->usage, l->body_id, "anthropic-batch", l->model, &l->usage, "ok", NULL);
    }
    free(order);
    ab->results = out.p ? out.p : emu_xstrdup("");
    ab->results_len = out.len;
}

static cJSON *batch_json(const struct an_batch *ab, const char *base_url, double now)
{
    struct counts n;
    bool ended = is_ended(ab, now);
    cJSON *o = cJSON_CreateObject();
    counts_at(ab, now, &n);
    cJSON_AddStringToObject(o, "id", ab->id);
    cJSON_AddStringToObject(o, "type", "message_batch");
    cJSON_AddStringToObject(o, "processing_status", status_at(ab, now));
    cJSON *rc = cJSON_AddObjectToObject(o, "request_counts");
    cJSON_AddNumberToObject(rc, "processing", (double)n.processing);
    cJSON_AddNumberToObject(rc, "succeeded", (double)n.succeeded);
    cJSON_AddNumberToObject(rc, "errored", (double)n.errored);
    cJSON_AddNumberToObject(rc, "canceled", (double)n.canceled);
    cJSON_AddNumberToObject(rc, "expired", (double)n.expired);
    emu_add_time(o, "ended_at", ended ? ended_at(ab) : -1);
    emu_add_time(o, "created_at", ab->created);
    emu_add_time(o, "expires_at", ab->created + WINDOW_S);
    emu_add_time(o, "archived_at", -1);
    emu_add_time(o, "cancel_initiated_at", ab->cancel_at);
    if (ended) {
        struct emu_buf url = {0};
        emu_buf_puts(&url, base_url);
        emu_buf_puts(&url, "/v1/messages/batches/");
        emu_buf_puts(&url, ab->id);
        emu_buf_puts(&url, "/results");
        cJSON_AddStringToObject(o, "results_url", url.p);
        free(url.p);
    } else {
        cJSON_AddNullToObject(o, "results_url");
    }
    return o;
}

/* ---------------------------------------------------------------- create */

static bool valid_custom_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CUSTOM_ID_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

/* Shape of request i; returns 0 or -1 with why. */
static int check_request(const cJSON *r, int i, char *why, size_t why_size)
{
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(r, "custom_id");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(r, "params");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(params, "max_tokens");
    if (!cJSON_IsObject(r) || !cJSON_IsString(cid) || !valid_custom_id(cid->valuestring))
        snprintf(why, why_size, "requests.%d.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", i);
    else if (!cJSON_IsObject(params))
        snprintf(why, why_size, "requests.%d.params: Field required", i);
    else if (max == NULL)
        snprintf(why, why_size, "requests.%d.params.max_tokens: Field required", i);
    else if (!cJSON_IsNumber(max) || max->valuedouble < 1 || max->valuedouble != (double)(long)max->valuedouble)
        snprintf(why, why_size, "requests.%d.params.max_tokens: Input should be greater than or equal to 1", i);
    else
        return 0;
    return -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_unique(const cJSON *requests, int n, char *why, size_t why_size)
{
    const char **ids = emu_xmalloc((size_t)n * sizeof(*ids));
    const cJSON *r;
    int i = 0, rc = 0;
    cJSON_ArrayForEach(r, requests)
        ids[i++] = cJSON_GetObjectItemCaseSensitive(r, "custom_id")->valuestring;
    qsort(ids, (size_t)n, sizeof(*ids), cmp_str);
    for (i = 1; i < n && rc == 0; i++) {
        if (strcmp(ids[i - 1], ids[i]) == 0) {
            snprintf(why, why_size, "Duplicate custom_id '%.64s': custom_id must be unique within a batch", ids[i]);
            rc = -1;
        }
    }
    free(ids);
    return rc;
}

static int check_create(const cJSON *root, char *why, size_t why_size)
{
    const cJSON *requests = cJSON_GetObjectItemCaseSensitive(root, "requests"), *r;
    int i = 0;
    if (!cJSON_IsObject(root)) {
        snprintf(why, why_size, "The request body is not valid JSON.");
        return -1;
    }
    if (!cJSON_IsArray(requests) || cJSON_GetArraySize(requests) == 0) {
        snprintf(why, why_size, "requests: must be a non-empty array");
        return -1;
    }
    if (cJSON_GetArraySize(requests) > (int)EMU_ANTHROPIC_BATCH_LINES_MAX) {
        snprintf(why, why_size, "requests: a batch holds at most 100000 requests");
        return -1;
    }
    cJSON_ArrayForEach(r, requests) {
        if (check_request(r, i++, why, why_size))
            return -1;
    }
    return check_unique(requests, i, why, why_size);
}

static struct an_batch *batch_build(const struct emu_batches *b, const cJSON *requests, double now)
{
    char tail[23];
    const cJSON *r;
    struct an_batch *ab = emu_xcalloc(1, sizeof(*ab));
    emu_random_chars(tail, 22, emu_b62);
    snprintf(ab->id, sizeof(ab->id), "msgbatch_01%s", tail);
    ab->lines = emu_xcalloc((size_t)cJSON_GetArraySize(requests), sizeof(*ab->lines));
    cJSON_ArrayForEach(r, requests) {
        struct emu_line *l = &ab->lines[ab->n++];
        l->custom_id = emu_xstrdup(cJSON_GetObjectItemCaseSensitive(r, "custom_id")->valuestring);
        emu_line_answer(b, EMU_API_ANTHROPIC, ab->id, cJSON_GetObjectItemCaseSensitive(r, "params"), l);
    }
    ab->created = now;
    ab->end_at = now + b->cfg->batch.turnaround_s;
    ab->cancel_at = ab->cancel_end = -1;
    ab->expire = b->cfg->batch.expire;
    return ab;
}

static void create(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a)
{
    char why[256];
    if (c->len > EMU_ANTHROPIC_BATCH_BYTES_MAX) {
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_TOO_LARGE, "A batch request is limited to 256 MB.",
                         c->request_id);
        return;
    }
    cJSON *root = cJSON_ParseWithLength(c->body ? c->body : "", c->len);
    if (check_create(root, why, sizeof(why)) != 0) {
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_INVALID, why, c->request_id);
        cJSON_Delete(root);
        return;
    }
    struct an_batch *ab = batch_build(b, cJSON_GetObjectItemCaseSensitive(root, "requests"), emu_now());
    cJSON_Delete(root);
    pthread_mutex_lock(&b->lock);
    b->an = emu_xrealloc(b->an, (b->n_an + 1) * sizeof(*b->an));
    b->an[b->n_an++] = ab;
    cJSON *o = batch_json(ab, c->base_url, ab->created);
    pthread_mutex_unlock(&b->lock);
    emu_answer_json(a, 200, o);
}

/* ---------------------------------------------------------------- one batch */

static size_t batch_index(const struct emu_batches *b, const char *id)
{
    for (size_t i = 0; i < b->n_an; i++)
        if (strcmp(b->an[i]->id, id) == 0)
            return i;
    return (size_t)-1;
}

static void results(struct an_batch *ab, const struct emu_call *c, double now, struct emu_answer *a)
{
    if (!is_ended(ab, now)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Batch %s has not ended (processing_status %s): no results yet.", ab->id,
                 status_at(ab, now));
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_NOT_FOUND, msg, c->request_id);
        return;
    }
    char *copy = emu_xmalloc(ab->results_len + 1);
    memcpy(copy, ab->results, ab->results_len + 1);
    emu_answer_raw(a, 200, copy, ab->results_len, "application/x-jsonl");
}

static void cancel(struct emu_batches *b, struct an_batch *ab, const struct emu_call *c, double now,
                   struct emu_answer *a)
{
    if (!is_ended(ab, now) && ab->cancel_at < 0) {
        ab->cancel_at = now;
        ab->cancel_end = now + 0.5 * b->cfg->batch.turnaround_s;
        if (ab->cancel_end > ab->end_at)
            ab->cancel_end = ab->end_at;
    }
    emu_answer_json(a, 200, batch_json(ab, c->base_url, now));
}

/* Caller holds the lock; only ended batches can go. */
static void delete_batch(struct emu_batches *b, size_t i, const struct emu_call *c, double now,
                         struct emu_answer *a)
{
    struct an_batch *ab = b->an[i];
    if (!is_ended(ab, now)) {
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_INVALID,
                         "Batches must be ended (cancel it first) before they can be deleted.", c->request_id);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", ab->id);
    cJSON_AddStringToObject(o, "type", "message_batch_deleted");
    memmove(&b->an[i], &b->an[i + 1], (b->n_an - i - 1) * sizeof(*b->an));
    b->n_an--;
    batch_free(ab);
    emu_answer_json(a, 200, o);
}

static void one_batch(struct emu_batches *b, const struct emu_call *c, const char *tail, struct emu_answer *a)
{
    const char *slash = strchr(tail, '/'), *m = c->method;
    char id[48];
    size_t n = slash ? (size_t)(slash - tail) : strlen(tail);
    enum { GET, RESULTS, CANCEL, DELETE, BAD } op =
        !slash && strcmp(m, "GET") == 0                                  ? GET
        : !slash && strcmp(m, "DELETE") == 0                             ? DELETE
        : slash && strcmp(slash, "/results") == 0 && strcmp(m, "GET") == 0 ? RESULTS
        : slash && strcmp(slash, "/cancel") == 0 && strcmp(m, "POST") == 0 ? CANCEL
                                                                           : BAD;
    if (op == BAD || n >= sizeof(id)) {
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_ROUTE, "Not found", c->request_id);
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)n, tail);
    double now = emu_now();
    pthread_mutex_lock(&b->lock);
    size_t i = batch_index(b, id);
    if (i == (size_t)-1) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Batch %s not found", id);
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_NOT_FOUND, msg, c->request_id);
    } else {
        struct an_batch *ab = b->an[i];
        advance(b, ab, now);
        if (op == GET)
            emu_answer_json(a, 200, batch_json(ab, c->base_url, now));
        else if (op == RESULTS)
            results(ab, c, now, a);
        else if (op == CANCEL)
            cancel(b, ab, c, now, a);
        else
            delete_batch(b, i, c, now, a);
    }
    pthread_mutex_unlock(&b->lock);
}

/* ---------------------------------------------------------------- list */

/* Position of id in newest-first order, or -1. Caller holds the lock. */
static long position(const struct emu_batches *b, const char *id)
{
    size_t i = id ? batch_index(b, id) : (size_t)-1;
    return i == (size_t)-1 ? -1 : (long)(b->n_an - 1 - i);
}

static void list(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a)
{
    long limit = emu_query_long(c, "limit", 1, LIST_MAX, LIST_DEFAULT);
    const char *after = c->query ? c->query(c->query_ctx, "after_id") : NULL;
    const char *before = c->query ? c->query(c->query_ctx, "before_id") : NULL;
    if (limit < 0) {
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_INVALID, "limit: must be an integer in [1, 1000]",
                         c->request_id);
        return;
    }
    double now = emu_now();
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data");
    pthread_mutex_lock(&b->lock);
    long total = (long)b->n_an, from = 0, to = total;
    if (before && *before) {
        to = position(b, before) < 0 ? 0 : position(b, before);
        from = to - limit > 0 ? to - limit : 0;
    } else {
        from = after && *after ? position(b, after) + 1 : 0;
        if (after && *after && from == 0)
            from = total; /* an unknown cursor pages to nothing */
        to = from + limit < total ? from + limit : total;
    }
    for (long p = from; p < to; p++) {
        struct an_batch *ab = b->an[total - 1 - p];
        advance(b, ab, now);
        cJSON_AddItemToArray(data, batch_json(ab, c->base_url, now));
    }
    pthread_mutex_unlock(&b->lock);
    cJSON_AddBoolToObject(o, "has_more", before && *before ? from > 0 : to < total);
    cJSON *first = cJSON_GetArrayItem(data, 0), *last = cJSON_GetArrayItem(data, cJSON_GetArraySize(data) - 1);
    cJSON_AddItemToObject(o, "first_id", first ? cJSON_CreateString(cJSON_GetObjectItem(first, "id")->valuestring)
                                               : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "last_id", last ? cJSON_CreateString(cJSON_GetObjectItem(last, "id")->valuestring)
                                             : cJSON_CreateNull());
    emu_answer_json(a, 200, o);
}

void emu_batches_anthropic(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a)
{
    const char *tail = emu_path_tail(c->path, "/v1/messages/batches");
    if (tail && *tail == '\0' && strcmp(c->method, "POST") == 0)
        create(b, c, a);
    else if (tail && *tail == '\0' && strcmp(c->method, "GET") == 0)
        list(b, c, a);
    else if (tail && *tail)
        one_batch(b, c, tail, a);
    else
        emu_answer_error(a, EMU_API_ANTHROPIC, EMU_ERR_ROUTE, "Not found", c->request_id);
}
