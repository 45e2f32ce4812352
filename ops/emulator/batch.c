/* batch.c — helpers both batch APIs (batch_openai.c, batch_anthropic.c)
 * share, below them: answering one line, progress, shuffling, times,
 * answers, paths and query strings. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "batch_internal.h"
#include "util.h"

const char *emu_path_tail(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return NULL;
    if (path[n] == '\0')
        return "";
    return path[n] == '/' ? path + n + 1 : NULL;
}

long emu_query_long(const struct emu_call *c, const char *name, long lo, long hi, long dflt)
{
    const char *v = c->query ? c->query(c->query_ctx, name) : NULL;
    char *end;
    if (v == NULL || *v == '\0')
        return dflt;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n >= lo && n <= hi ? n : -1;
}

/* Uniform [0, 1) from SHA-256(batch id NUL custom id): which lines error
 * is fixed per batch, yet a retry in a new batch may succeed. */
static double line_draw(const char *batch_id, const char *custom_id)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        abort(); /* only on OOM or a broken libcrypto */
    EVP_DigestUpdate(ctx, batch_id, strlen(batch_id) + 1);
    EVP_DigestUpdate(ctx, custom_id, strlen(custom_id));
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | md[i];
    return (double)(x >> 11) * 0x1.0p-53;
}

static void line_error(enum emu_api api, struct emu_line *l, enum emu_err e, const char *message)
{
    l->status = emu_error_status(api, e);
    l->body = emu_render_error(api, e, message, l->request_id);
}

void emu_line_answer(const struct emu_batches *b, enum emu_api api, const char *batch_id, const cJSON *params,
                     struct emu_line *l)
{
    struct emu_request req;
    char why[256], msg[400];
    emu_make_ids(api, l->body_id, sizeof(l->body_id), l->request_id,
                 sizeof(l->request_id));
    if (b->cfg->batch.fail || line_draw(batch_id, l->custom_id) < b->cfg->batch.errored_share) {
        line_error(api, l, EMU_ERR_SERVER,
                   api == EMU_API_OPENAI ? "The server had an error while processing your request."
                                         : "Internal server error");
        return;
    }
    if (emu_request_from_json(api, params, &req, why, sizeof(why)) != 0) {
        line_error(api, l, EMU_ERR_INVALID, why);
        return;
    }
    const struct emu_model *m = emu_config_model(b->cfg, req.model);
    if (m == NULL) {
        if (api == EMU_API_OPENAI)
            snprintf(msg, sizeof(msg), "The model `%.300s` does not exist or you do not have access to it.", req.model);
        else
            snprintf(msg, sizeof(msg), "model: %.300s", req.model);
        line_error(api, l, EMU_ERR_MODEL, msg);
    } else {
        l->status = 200;
        l->model = m->name;
        /* Anthropic bills batch lines at the batch tier and says so. */
        l->body = emu_reply_render(b->cfg, api, m, &req, l->body_id, api == EMU_API_OPENAI ? NULL : "batch",
                                   &l->usage);
        l->usage.id = NULL;
        l->usage.model = NULL;
    }
    emu_request_free(&req);
}

void emu_lines_free(struct emu_line *lines, size_t n)
{
    for (size_t i = 0; lines && i < n; i++) {
        free(lines[i].custom_id);
        free(lines[i].body);
    }
    free(lines);
}

double emu_progress(double start, double end, double now)
{
    if (now >= end)
        return 1.0;
    if (now <= start || end <= start)
        return 0.0;
    return (now - start) / (end - start);
}

size_t *emu_shuffled(size_t n)
{
    size_t *p = emu_xmalloc(n * sizeof(*p));
    for (size_t i = 0; i < n; i++)
        p[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(emu_rng_next() % i), t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

void emu_add_time(cJSON *o, const char *name, double t)
{
    char buf[40];
    struct tm tm;
    if (t < 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    time_t s = (time_t)t;
    gmtime_r(&s, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, name, buf);
}

void emu_add_unix(cJSON *o, const char *name, double t)
{
    if (t < 0)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, (double)(long long)t);
}

void emu_answer_raw(struct emu_answer *a, int status, char *body, size_t len, const char *content_type)
{
    *a = (struct emu_answer){.status = status, .body = body, .len = len, .content_type = content_type};
}

void emu_answer_json(struct emu_answer *a, int status, cJSON *root)
{
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (s == NULL)
        abort(); /* cJSON only fails on OOM */
    emu_answer_raw(a, status, s, strlen(s), "application/json");
}

void emu_answer_error(struct emu_answer *a, enum emu_api api, enum emu_err e, const char *message,
                      const char *request_id)
{
    char *s = emu_render_error(api, e, message, request_id);
    emu_answer_raw(a, emu_error_status(api, e), s, strlen(s), "application/json");
}
