/* server.c — HTTP plumbing, faults, latency and the usage log.
 *
 * One thread per connection (libmicrohttpd) so that simulated latency can
 * simply sleep; the sleeps are sliced so shutdown never waits for them. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "server.h"
#include "sim.h"
#include "util.h"
#include "wire.h"

#define SLEEP_SLICE_MS 50
#define MAX_LATENCY_MS 120000.0
#define CONNECTION_LIMIT 4096u
#define IDLE_TIMEOUT_S 600u

struct emu_server {
    const struct emu_config *cfg;
    struct MHD_Daemon *daemon;
    FILE *usage_log;
    pthread_mutex_t log_lock;
    bool verbose;
    atomic_bool stopping;
};

/* State of one request while its body arrives. */
struct conn {
    enum emu_api api;
    char *body;
    size_t len;
    bool too_large;
};

enum fault { FAULT_NONE, FAULT_500, FAULT_429, FAULT_OVERLOAD, FAULT_TIMEOUT, FAULT_MALFORMED };

static const char *const fault_names[] = {"none", "http_500", "http_429", "overload", "timeout", "malformed"};

/* Everything a finished request needs to answer and to log. */
struct exchange {
    struct emu_server *s;
    struct MHD_Connection *c;
    enum emu_api api;
    char id[64];         /* the body's id: chatcmpl-… / msg_… */
    char request_id[64]; /* the request-id header */
    const char *model;
    enum fault fault;
    int status; /* the status sent, for the verbose log */
};

static void random_chars(char *out, size_t n, const char *alphabet)
{
    size_t k = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[emu_rng_next() % k];
    out[n] = '\0';
}

static void make_ids(struct exchange *x)
{
    static const char b62[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char tail[33];
    if (x->api == EMU_API_OPENAI) {
        random_chars(tail, 29, b62);
        snprintf(x->id, sizeof(x->id), "chatcmpl-%s", tail);
        random_chars(tail, 32, "0123456789abcdef");
        snprintf(x->request_id, sizeof(x->request_id), "req_%s", tail);
    } else {
        random_chars(tail, 22, b62);
        snprintf(x->id, sizeof(x->id), "msg_01%s", tail);
        random_chars(tail, 22, b62);
        snprintf(x->request_id, sizeof(x->request_id), "req_01%s", tail);
    }
}

static void verbose_log(const struct exchange *x, const char *method, const char *path)
{
    if (x->s->verbose)
        fprintf(stderr, "sluice-emulator: %.16s %.200s model=%.200s status=%d fault=%s id=%s\n", method, path,
                x->model ? x->model : "-", x->status, fault_names[x->fault], x->id);
}

/* Takes ownership of body (malloc'd). retry_after_s < 0 sends no retry-after. */
static enum MHD_Result respond(struct exchange *x, int status, char *body, double retry_after_s)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, x->api == EMU_API_OPENAI ? "x-request-id" : "request-id", x->request_id);
    if (retry_after_s >= 0) {
        char secs[32], ms[32];
        snprintf(secs, sizeof(secs), "%.0f", ceil(retry_after_s));
        snprintf(ms, sizeof(ms), "%.0f", retry_after_s * 1000.0);
        MHD_add_response_header(r, "retry-after", secs);
        MHD_add_response_header(r, "retry-after-ms", ms);
    }
    enum MHD_Result rc = MHD_queue_response(x->c, (unsigned)status, r);
    MHD_destroy_response(r);
    x->status = status;
    return rc;
}

static enum MHD_Result respond_error(struct exchange *x, enum emu_err e, const char *message,
                                     double retry_after_s)
{
    return respond(x, emu_error_status(x->api, e), emu_render_error(x->api, e, message, x->request_id),
                   retry_after_s);
}

static enum MHD_Result respond_text(struct MHD_Connection *c, int status, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static void sleep_ms(struct emu_server *s, double ms)
{
    while (ms > 0 && !atomic_load(&s->stopping)) {
        double step = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;
        struct timespec ts = {0, (long)(step * 1e6)};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Lognormal around the median, as real API latencies are skewed. */
static double latency_ms(const struct emu_model *m)
{
    if (m->latency_median_ms <= 0)
        return 0;
    double ms = m->latency_median_ms * exp(m->latency_sigma * emu_rng_normal());
    return ms < MAX_LATENCY_MS ? ms : MAX_LATENCY_MS;
}

static enum fault draw_fault(const struct emu_faults *f)
{
    const double p[] = {0, f->http_500, f->http_429, f->overload, f->timeout, f->malformed};
    double u = emu_rng_uniform(), acc = 0;
    for (size_t i = 1; i < sizeof(p) / sizeof(p[0]); i++) {
        acc += p[i];
        if (u < acc)
            return (enum fault)i;
    }
    return FAULT_NONE;
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

static void usage_log(struct emu_server *s, const struct exchange *x, const struct emu_reply *r)
{
    if (s->usage_log == NULL)
        return;
    pthread_mutex_lock(&s->log_lock);
    fprintf(s->usage_log, "%s,%s,", x->id, x->api == EMU_API_OPENAI ? "openai" : "anthropic");
    csv_field(s->usage_log, x->model);
    fprintf(s->usage_log, ",%ld,%ld,%ld,%s\n", r->input_tokens, r->cached_tokens, r->output_tokens,
            x->fault == FAULT_MALFORMED ? "malformed" : "ok");
    fflush(s->usage_log);
    pthread_mutex_unlock(&s->log_lock);
}

/* A stable fingerprint per model, like a deployment's build id. */
static void fingerprint(const char *model, char *out, size_t out_size)
{
    uint32_t h = 2166136261u;
    for (; *model; model++)
        h = (h ^ (unsigned char)*model) * 16777619u;
    snprintf(out, out_size, "fp_%08x", h);
}

static enum MHD_Result answer(struct exchange *x, const struct emu_model *m, const struct emu_request *req)
{
    struct emu_task task;
    struct emu_draws d;
    char fp[16];
    emu_task_parse(req->user_text, &task);
    emu_task_draws(m->name, &task, &d);
    char *content = emu_answer(m, &x->s->cfg->gold, &task, &d);
    emu_task_free(&task);
    fingerprint(m->name, fp, sizeof(fp));
    struct emu_reply r = {.id = x->id, .model = m->name, .content = content, .fingerprint = fp,
                          .input_tokens = emu_tokens(req->prompt_chars)};
    r.output_tokens = emu_limit_output(content, req->max_tokens, &r.truncated);
    if (d.cache < m->cache_hit_rate)
        r.cached_tokens = emu_tokens(req->system_chars);
    char *body = emu_render_reply(x->api, &r);
    free(content);
    if (x->fault == FAULT_MALFORMED)
        body[strlen(body) / 2] = '\0'; /* half an object never parses */
    usage_log(x->s, x, &r);
    return respond(x, 200, body, -1);
}

static enum MHD_Result apply_fault(struct exchange *x, const struct emu_model *m)
{
    const struct emu_faults *f = &m->faults;
    switch (x->fault) {
    case FAULT_500:
        return respond_error(x, EMU_ERR_SERVER, "The server had an error while processing your request.", -1);
    case FAULT_429:
        return respond_error(x, EMU_ERR_RATE_LIMIT, "Rate limit reached for requests (emulated).",
                             f->retry_after_s);
    case FAULT_OVERLOAD:
        return respond_error(x, EMU_ERR_OVERLOAD, "Overloaded", f->retry_after_s);
    default:
        return MHD_NO; /* not an error fault */
    }
}

static bool is_json(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    return ct && strncasecmp(ct, "application/json", strlen("application/json")) == 0;
}

static enum MHD_Result process(struct exchange *x, struct conn *st)
{
    struct emu_request req;
    char why[256], msg[400];
    if (st->too_large)
        return respond_error(x, EMU_ERR_TOO_LARGE, "Request exceeds the maximum allowed size (1 MiB).", -1);
    if (!is_json(x->c))
        return respond_error(x, EMU_ERR_INVALID, "Content-Type must be application/json.", -1);
    if (emu_request_parse(x->api, st->body ? st->body : "", st->len, &req, why, sizeof(why)) != 0)
        return respond_error(x, EMU_ERR_INVALID, why, -1);
    const struct emu_model *m = emu_config_model(x->s->cfg, req.model);
    enum MHD_Result rc;
    if (m == NULL) {
        if (x->api == EMU_API_OPENAI)
            snprintf(msg, sizeof(msg), "The model `%.300s` does not exist or you do not have access to it.", req.model);
        else
            snprintf(msg, sizeof(msg), "model: %.300s", req.model);
        rc = respond_error(x, EMU_ERR_MODEL, msg, -1);
    } else {
        x->model = m->name;
        x->fault = draw_fault(&m->faults);
        rc = apply_fault(x, m);
        if (rc == MHD_NO) {
            if (x->fault == FAULT_TIMEOUT)
                sleep_ms(x->s, m->faults.timeout_s * 1000.0);
            sleep_ms(x->s, latency_ms(m));
            rc = answer(x, m, &req);
        }
    }
    emu_request_free(&req);
    return rc;
}

static void append(struct conn *st, const char *data, size_t n)
{
    if (st->too_large || st->len + n > EMU_MAX_BODY) {
        st->too_large = true; /* keep draining so the connection stays usable */
        return;
    }
    st->body = emu_xrealloc(st->body, st->len + n + 1);
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
}

static bool declared_too_large(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoull(cl, NULL, 10) > EMU_MAX_BODY;
}

static enum MHD_Result refuse(struct exchange *x, const char *method, const char *url, enum emu_err e,
                              const char *message)
{
    enum MHD_Result rc = respond_error(x, e, message, -1);
    verbose_log(x, method, url);
    return rc;
}

static enum MHD_Result first_call(struct emu_server *s, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    if (strcmp(url, "/healthz") == 0)
        return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? respond_text(c, 200, "ok")
                                                                          : respond_text(c, 405, "method not allowed");
    struct exchange x = {.s = s, .c = c};
    bool openai = strcmp(url, "/v1/chat/completions") == 0, anthropic = strcmp(url, "/v1/messages") == 0;
    x.api = strncmp(url, "/v1/messages", strlen("/v1/messages")) == 0 ? EMU_API_ANTHROPIC : EMU_API_OPENAI;
    make_ids(&x);
    if (!openai && !anthropic) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid URL (%.20s %.100s)", method, url);
        return refuse(&x, method, url, EMU_ERR_ROUTE, msg);
    }
    if (strcmp(method, "POST") != 0)
        return refuse(&x, method, url, EMU_ERR_METHOD, "Only POST is supported here.");
    /* Refuse before reading: a huge declared body is never worth receiving. */
    if (declared_too_large(c))
        return refuse(&x, method, url, EMU_ERR_TOO_LARGE, "Request exceeds the maximum allowed size (1 MiB).");
    struct conn *st = emu_xcalloc(1, sizeof(*st));
    st->api = x.api;
    *con_cls = st;
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct emu_server *s = cls;
    struct conn *st = *con_cls;
    (void)version;
    if (st == NULL)
        return first_call(s, c, url, method, con_cls);
    if (*upload_size > 0) {
        append(st, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    struct exchange x = {.s = s, .c = c, .api = st->api};
    make_ids(&x);
    enum MHD_Result rc = process(&x, st);
    verbose_log(&x, method, url);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct conn *st = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static FILE *open_usage_log(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        snprintf(err, err_size, "--usage-log %s: cannot open for appending", path);
        return NULL;
    }
    /* A restarted emulator appends to the same log: one header only. */
    if (ftell(f) == 0) {
        fputs("request_id,api,model,input_tokens,cached_tokens,output_tokens,status\n", f);
        fflush(f);
    }
    return f;
}

static struct MHD_Daemon *start_daemon(struct emu_server *s, uint16_t port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (s->verbose)
        flags |= MHD_USE_ERROR_LOG;
    /* poll, not select: hundreds of kept-alive connections exceed FD_SETSIZE. */
    return MHD_start_daemon(flags, port, NULL, NULL, handle, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_END);
}

struct emu_server *emu_server_start(const struct emu_config *cfg, uint16_t port, const char *usage_log_path,
                                    bool verbose, char *err, size_t err_size)
{
    struct emu_server *s = emu_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->verbose = verbose;
    atomic_init(&s->stopping, false);
    pthread_mutex_init(&s->log_lock, NULL);
    if (usage_log_path && (s->usage_log = open_usage_log(usage_log_path, err, err_size)) == NULL) {
        emu_server_stop(s);
        return NULL;
    }
    s->daemon = start_daemon(s, port);
    if (s->daemon == NULL) {
        snprintf(err, err_size, "cannot listen on 127.0.0.1:%u", (unsigned)port);
        emu_server_stop(s);
        return NULL;
    }
    return s;
}

uint16_t emu_server_port(const struct emu_server *s)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void emu_server_stop(struct emu_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->usage_log)
        fclose(s->usage_log);
    pthread_mutex_destroy(&s->log_lock);
    free(s);
}
