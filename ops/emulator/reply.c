/* reply.c — answers, ids and the usage log shared by every endpoint. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reply.h"
#include "sim.h"
#include "util.h"

const char emu_b62[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

void emu_random_chars(char *out, size_t n, const char *alphabet)
{
    size_t k = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[emu_rng_next() % k];
    out[n] = '\0';
}

/* A stable fingerprint per model, like a deployment's build id. */
static void fingerprint(const char *model, char *out, size_t out_size)
{
    uint32_t h = 2166136261u;
    for (; *model; model++)
        h = (h ^ (unsigned char)*model) * 16777619u;
    snprintf(out, out_size, "fp_%08x", h);
}

/* What the prompt cache reads and writes for this request, by the
 * provider's rules. */
static void cache_use(const struct emu_config *cfg, enum emu_api api, const struct emu_model *m,
                      const struct emu_request *req, struct emu_reply *r)
{
    struct emu_cache_use use = {0};
    if (cfg->prefix_cache == NULL)
        return;
    if (api == EMU_API_ANTHROPIC)
        emu_prefix_cache_anthropic(cfg->prefix_cache, m->name, req->blocks, req->n_blocks,
                                   (long)m->cache.min_tokens, m->cache.ttl_scale, &use);
    else
        emu_prefix_cache_openai(cfg->prefix_cache, m->name, req->blocks, req->n_blocks,
                                (long)m->cache.min_tokens, m->cache.ttl_s * m->cache.ttl_scale, &use);
    /* Never more than the prompt (the positions are the same estimate). */
    r->cached_tokens = use.read < r->input_tokens ? use.read : r->input_tokens;
    r->cache_write_tokens = use.write < r->input_tokens - r->cached_tokens
                                ? use.write : r->input_tokens - r->cached_tokens;
    r->cache_write_1h_tokens = use.write_1h < r->cache_write_tokens ? use.write_1h : r->cache_write_tokens;
}

char *emu_reply_render(const struct emu_config *cfg, enum emu_api api, const struct emu_model *m,
                       const struct emu_request *req, const char *id, const char *service_tier,
                       struct emu_reply *r)
{
    struct emu_task task;
    struct emu_draws d;
    char fp[16];
    emu_task_parse(req->user_text, &task);
    emu_task_draws(m->name, &task, &d);
    char *content = emu_answer(m, &cfg->gold, &task, &d);
    emu_task_free(&task);
    fingerprint(m->name, fp, sizeof(fp));
    *r = (struct emu_reply){.id = id, .model = m->name, .content = content, .fingerprint = fp,
                            .service_tier = service_tier, .input_tokens = emu_tokens(req->prompt_chars)};
    r->output_tokens = emu_limit_output(content, req->max_tokens, &r->truncated);
    cache_use(cfg, api, m, req, r);
    char *body = emu_render_reply(api, r);
    free(content);
    r->content = NULL;
    r->fingerprint = NULL;
    return body;
}

struct emu_usage_log {
    FILE *f; /* NULL: totals only */
    pthread_mutex_t lock;
    struct emu_usage_total *totals;
    size_t n_totals, cap_totals;
};

int emu_usage_open(const char *path, struct emu_usage_log **out, char *err, size_t err_size)
{
    FILE *f = NULL;
    *out = NULL;
    if (path != NULL) {
        f = fopen(path, "a");
        if (f == NULL) {
            snprintf(err, err_size, "--usage-log %s: cannot open for appending", path);
            return -1;
        }
        /* A restarted emulator appends to the same log: one header only. */
        if (ftell(f) == 0) {
            fputs("request_id,api,model,input_tokens,cached_tokens,output_tokens,status,"
                  "client_request_id,cache_write_tokens,cache_write_1h_tokens,service_tier\n", f);
            fflush(f);
        }
    }
    struct emu_usage_log *u = emu_xcalloc(1, sizeof(*u));
    u->f = f;
    pthread_mutex_init(&u->lock, NULL);
    *out = u;
    return 0;
}

/* Adds one billed reply to its day's totals; called with the lock held. */
static void add_total(struct emu_usage_log *u, const char *api, const char *model,
                      const struct emu_reply *r)
{
    long long day = (long long)time(NULL) / 86400 * 86400;
    struct emu_usage_total *t = NULL;
    for (size_t i = 0; i < u->n_totals && !t; i++)
        if (u->totals[i].day == day && strcmp(u->totals[i].api, api) == 0 &&
            strcmp(u->totals[i].model, model) == 0)
            t = &u->totals[i];
    if (!t) {
        if (u->n_totals == u->cap_totals) {
            u->cap_totals = u->cap_totals ? u->cap_totals * 2 : 16;
            u->totals = emu_xrealloc(u->totals, u->cap_totals * sizeof(*u->totals));
        }
        t = &u->totals[u->n_totals++];
        memset(t, 0, sizeof(*t));
        t->day = day;
        snprintf(t->api, sizeof(t->api), "%s", api);
        snprintf(t->model, sizeof(t->model), "%s", model);
    }
    t->requests++;
    t->input_tokens += r->input_tokens;
    t->cached_tokens += r->cached_tokens;
    t->output_tokens += r->output_tokens;
    t->cache_write_tokens += r->cache_write_tokens;
    t->cache_write_1h_tokens += r->cache_write_1h_tokens;
}

static int total_cmp(const void *a, const void *b)
{
    const struct emu_usage_total *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    int c = strcmp(x->api, y->api);
    return c ? c : strcmp(x->model, y->model);
}

struct emu_usage_total *emu_usage_totals(struct emu_usage_log *u, long long from, long long to,
                                         size_t *n)
{
    *n = 0;
    if (u == NULL)
        return NULL;
    pthread_mutex_lock(&u->lock);
    struct emu_usage_total *out = emu_xcalloc(u->n_totals + 1, sizeof(*out));
    for (size_t i = 0; i < u->n_totals; i++)
        if (u->totals[i].day >= from && u->totals[i].day < to)
            out[(*n)++] = u->totals[i];
    pthread_mutex_unlock(&u->lock);
    qsort(out, *n, sizeof(*out), total_cmp);
    return out;
}

static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void emu_usage_write(struct emu_usage_log *u, const char *id, const char *api, const char *model,
                     const struct emu_reply *r, const char *status, const char *client_id)
{
    if (u == NULL)
        return;
    pthread_mutex_lock(&u->lock);
    add_total(u, api, model, r);
    if (u->f) {
        fprintf(u->f, "%s,%s,", id, api);
        csv_field(u->f, model);
        fprintf(u->f, ",%ld,%ld,%ld,%s,", r->input_tokens, r->cached_tokens, r->output_tokens,
                status);
        csv_field(u->f, client_id ? client_id : "");
        fprintf(u->f, ",%ld,%ld,%s\n", r->cache_write_tokens, r->cache_write_1h_tokens,
                strstr(api, "-batch") ? "batch" : r->service_tier && strcmp(r->service_tier, "flex") == 0
                                                      ? "flex" : "standard");
        fflush(u->f);
    }
    pthread_mutex_unlock(&u->lock);
}

void emu_usage_close(struct emu_usage_log *u)
{
    if (u == NULL)
        return;
    if (u->f)
        fclose(u->f);
    free(u->totals);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void emu_make_ids(enum emu_api api, char *body_id, size_t body_id_size,
                  char *request_id, size_t request_id_size)
{
    char tail[33];
    if (api == EMU_API_OPENAI) {
        emu_random_chars(tail, 29, emu_b62);
        snprintf(body_id, body_id_size, "chatcmpl-%s", tail);
        emu_random_chars(tail, 32, "0123456789abcdef");
        snprintf(request_id, request_id_size, "req_%s", tail);
    } else {
        emu_random_chars(tail, 22, emu_b62);
        snprintf(body_id, body_id_size, "msg_01%s", tail);
        emu_random_chars(tail, 22, emu_b62);
        snprintf(request_id, request_id_size, "req_01%s", tail);
    }
}
