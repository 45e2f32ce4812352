/* server.c — HTTP plumbing, faults, latency and the usage log.
 *
 * libmicrohttpd on epoll with a small thread pool. Simulated latency does
 * not hold a thread: the connection is suspended and a timer thread
 * resumes it when its answer is due (struct delays), so thousands of
 * slow calls in flight cost a heap entry each, not a thread each. */
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

#include "batch.h"
#include "reply.h"
#include "server.h"
#include "usage_report.h"
#include "util.h"
#include "wire.h"

#define MAX_LATENCY_MS 120000.0
/* Above what a bench drives (workers x max_in_flight), below RLIMIT_NOFILE
 * as main.c raises it. */
#define CONNECTION_LIMIT 16384u
#define POOL_THREADS 2u
#define IDLE_TIMEOUT_S 600u
#define FORM_BUFFER 65536
#define PURPOSE_MAX 64

/* Suspended connections by the time their answer is due: a min-heap
 * under lock, served by one timer thread. */
struct delay {
    double due_ms; /* CLOCK_MONOTONIC */
    struct MHD_Connection *c;
};

struct delays {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a new earliest entry, or stop */
    pthread_t thread;
    bool started, stopped;
    struct delay *heap;
    size_t n, cap;
};

struct emu_server {
    const struct emu_config *cfg;
    struct MHD_Daemon *daemon;
    struct delays delays;
    struct emu_usage_log *usage_log;
    struct emu_batches *batches;
    size_t max_upload; /* body cap of uploads and batch creation */
    bool verbose;
    atomic_bool stopping;
};

/* State of one request while its body arrives. */
struct conn {
    enum emu_api api;
    enum emu_batch_route route;
    size_t max;    /* body cap */
    size_t seen;   /* raw body bytes received */
    char *body;    /* the JSON body, or the uploaded file */
    size_t len;
    bool too_large;
    struct MHD_PostProcessor *form; /* POST /v1/files */
    char *filename;
    char purpose[PURPOSE_MAX + 1];
    /* A realtime call suspended for its latency: what the answer needs. */
    bool delayed;
    struct emu_request req;
    const struct emu_model *model;
    int fault;
    char *client_id; /* X-Client-Request-Id, for billing a call given up */
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
    bool suspended; /* no answer yet: the call waits for its latency */
};

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

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void heap_push(struct delays *d, struct delay e)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->heap = emu_xrealloc(d->heap, d->cap * sizeof(*d->heap));
    }
    size_t i = d->n++;
    while (i > 0 && d->heap[(i - 1) / 2].due_ms > e.due_ms) {
        d->heap[i] = d->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    d->heap[i] = e;
}

static struct delay heap_pop(struct delays *d)
{
    struct delay top = d->heap[0], last = d->heap[--d->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= d->n)
            break;
        if (c + 1 < d->n && d->heap[c + 1].due_ms < d->heap[c].due_ms)
            c++;
        if (d->heap[c].due_ms >= last.due_ms)
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    if (d->n > 0)
        d->heap[i] = last;
    return top;
}

/* Resumes connections as they fall due; on stop, all of them at once.
 * Those due within RESUME_SLACK_MS go together: libmicrohttpd looks
 * through every suspended connection of a thread after each wake-up, so a
 * wake-up per call cost O(suspended) each with thousands waiting. */
#define RESUME_SLACK_MS 5.0
static void *delays_main(void *arg)
{
    struct delays *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        double now = mono_ms();
        while (d->n > 0 && (d->stopped || d->heap[0].due_ms <= now + RESUME_SLACK_MS))
            MHD_resume_connection(heap_pop(d).c);
        if (d->stopped)
            break;
        if (d->n == 0) {
            pthread_cond_wait(&d->cond, &d->lock);
            continue;
        }
        double wait_ms = d->heap[0].due_ms - now;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long ns = (long long)ts.tv_nsec + (long long)(wait_ms * 1e6);
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&d->cond, &d->lock, &ts);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static int delays_start(struct delays *d)
{
    pthread_condattr_t attr;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &attr);
    pthread_condattr_destroy(&attr);
    d->started = pthread_create(&d->thread, NULL, delays_main, d) == 0;
    return d->started ? 0 : -1;
}

/* Resumes everything still waiting (MHD_stop_daemon must not find a
 * suspended connection) and stops the thread. */
static void delays_stop(struct delays *d)
{
    if (!d->started)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopped = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    d->started = false;
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    free(d->heap);
}

/* Suspends c for ms; false when stopping (answer at once instead). Runs in
 * the access handler, as MHD_suspend_connection requires. */
static bool delay_connection(struct emu_server *s, struct MHD_Connection *c, double ms)
{
    struct delays *d = &s->delays;
    pthread_mutex_lock(&d->lock);
    if (d->stopped || atomic_load(&s->stopping)) {
        pthread_mutex_unlock(&d->lock);
        return false;
    }
    MHD_suspend_connection(c);
    heap_push(d, (struct delay){mono_ms() + ms, c});
    if (d->heap[0].c == c)
        pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return true;
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

static bool is_flex(const struct emu_request *req)
{
    return req->service_tier && strcmp(req->service_tier, "flex") == 0;
}

static enum MHD_Result answer(struct exchange *x, const struct emu_model *m, const struct emu_request *req)
{
    struct emu_reply r;
    char *body = emu_reply_render(x->s->cfg, x->api, m, req, x->id, is_flex(req) ? "flex" : NULL, &r);
    if (x->fault == FAULT_MALFORMED)
        body[strlen(body) / 2] = '\0'; /* half an object never parses */
    emu_usage_write(x->s->usage_log, x->id, x->api == EMU_API_OPENAI ? "openai" : "anthropic", m->name, &r,
                    x->fault == FAULT_MALFORMED ? "malformed" : "ok",
                    MHD_lookup_connection_value(x->c, MHD_HEADER_KIND, "X-Client-Request-Id"));
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

static enum MHD_Result respond_too_large(struct exchange *x, size_t max)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "Request exceeds the maximum allowed size (%zu bytes).", max);
    return respond_error(x, EMU_ERR_TOO_LARGE, msg, -1);
}

static enum MHD_Result process(struct exchange *x, struct conn *st)
{
    struct emu_request req;
    char why[256], msg[400];
    if (st->delayed) { /* resumed: its latency has passed */
        st->delayed = false;
        x->model = st->model->name;
        x->fault = (enum fault)st->fault;
        enum MHD_Result rc = answer(x, st->model, &st->req);
        emu_request_free(&st->req);
        return rc;
    }
    if (st->too_large)
        return respond_too_large(x, st->max);
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
    } else if (is_flex(&req) && !m->flex.offered) {
        snprintf(msg, sizeof(msg), "Flex processing is not available for model %.300s.", req.model);
        rc = respond_error(x, EMU_ERR_INVALID, msg, -1);
    } else if (is_flex(&req) && emu_rng_uniform() < m->flex.http_429) {
        /* Flex capacity is short: a 429 that is not billed. */
        x->model = m->name;
        rc = respond_error(x, EMU_ERR_RATE_LIMIT,
                           "Resource unavailable: flex processing capacity is exhausted, retry later.",
                           m->faults.retry_after_s);
    } else {
        x->model = m->name;
        x->fault = draw_fault(&m->faults);
        rc = apply_fault(x, m);
        if (rc == MHD_NO) {
            double ms = latency_ms(m) * (is_flex(&req) ? m->flex.latency_factor : 1.0);
            if (x->fault == FAULT_TIMEOUT)
                ms += m->faults.timeout_s * 1000.0;
            st->req = req;
            st->model = m;
            st->fault = (int)x->fault;
            const char *cid = MHD_lookup_connection_value(x->c, MHD_HEADER_KIND, "X-Client-Request-Id");
            st->client_id = cid ? emu_xstrdup(cid) : NULL;
            st->delayed = ms > 0 && delay_connection(x->s, x->c, ms);
            if (st->delayed) {
                x->suspended = true;
                return MHD_YES; /* handle() runs again once resumed */
            }
            rc = answer(x, m, &req);
        }
    }
    emu_request_free(&req);
    return rc;
}

static const char *query_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_answer(struct exchange *x, struct emu_answer *a)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    MHD_add_response_header(r, x->api == EMU_API_OPENAI ? "x-request-id" : "request-id", x->request_id);
    enum MHD_Result rc = MHD_queue_response(x->c, (unsigned)a->status, r);
    MHD_destroy_response(r);
    x->status = a->status;
    return rc;
}

/* Hands a finished batch-endpoint request to batch.c. */
static enum MHD_Result process_batch(struct exchange *x, struct conn *st, const char *method, const char *url)
{
    struct emu_answer a;
    char base[300];
    const char *host = MHD_lookup_connection_value(x->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (st->too_large)
        return respond_too_large(x, st->max);
    if (st->route != EMU_BATCH_UPLOAD && st->len > 0 && !is_json(x->c))
        return respond_error(x, EMU_ERR_INVALID, "Content-Type must be application/json.", -1);
    if (host && strlen(host) < 256 && strpbrk(host, "\"\\/ ") == NULL)
        snprintf(base, sizeof(base), "http://%s", host);
    else
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)emu_server_port(x->s));
    struct emu_call call = {.method = method, .path = url, .body = st->body, .len = st->len,
                            .request_id = x->request_id, .base_url = base, .query = query_arg,
                            .query_ctx = x->c, .filename = st->filename,
                            .purpose = st->purpose[0] ? st->purpose : NULL};
    if (st->route == EMU_BATCH_ANTHROPIC)
        emu_batches_anthropic(x->s->batches, &call, &a);
    else
        emu_batches_openai(x->s->batches, &call, &a);
    return send_answer(x, &a);
}

static void append(struct conn *st, const char *data, size_t n)
{
    if (st->too_large || st->len + n > st->max) {
        st->too_large = true; /* keep draining so the connection stays usable */
        return;
    }
    st->body = emu_xrealloc(st->body, st->len + n + 1);
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
}

/* Multipart fields of POST /v1/files: the file's bytes go to st->body. */
static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                  const char *content_type, const char *transfer_encoding, const char *data,
                                  uint64_t off, size_t size)
{
    struct conn *st = cls;
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    if (strcmp(key, "file") == 0) {
        if (st->filename == NULL)
            st->filename = emu_xstrdup(filename ? filename : "");
        append(st, data, size);
    } else if (strcmp(key, "purpose") == 0 && off + size <= PURPOSE_MAX) {
        memcpy(st->purpose + off, data, size);
        st->purpose[off + size] = '\0';
    }
    return MHD_YES;
}

static void receive(struct conn *st, const char *data, size_t n)
{
    st->seen += n;
    if (st->form == NULL) {
        append(st, data, n);
        return;
    }
    if (st->seen > st->max)
        st->too_large = true;
    if (!st->too_large && MHD_post_process(st->form, data, n) != MHD_YES)
        st->too_large = st->too_large || st->len >= st->max;
}

static size_t declared_length(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl ? (size_t)strtoull(cl, NULL, 10) : 0;
}

static enum MHD_Result refuse(struct exchange *x, const char *method, const char *url, enum emu_err e,
                              const char *message)
{
    enum MHD_Result rc = respond_error(x, e, message, -1);
    verbose_log(x, method, url);
    return rc;
}

/* Checks the route before any body arrives; NULL = go on reading. */
static const char *refusal(struct exchange *x, const char *url, const char *method, enum emu_batch_route route,
                           enum emu_err *e)
{
    bool realtime = strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/v1/messages") == 0;
    *e = EMU_ERR_ROUTE;
    if (!realtime && route == EMU_BATCH_NONE)
        return "Invalid URL";
    *e = EMU_ERR_METHOD;
    if (realtime && strcmp(method, "POST") != 0)
        return "Only POST is supported here.";
    (void)x;
    return NULL;
}

static enum MHD_Result first_call(struct emu_server *s, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    if (strcmp(url, "/healthz") == 0)
        return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? respond_text(c, 200, "ok")
                                                                          : respond_text(c, 405, "method not allowed");
    if (emu_usage_report_route(url))
        return emu_usage_report_answer(c, url, method, s->usage_log);
    struct exchange x = {.s = s, .c = c};
    enum emu_batch_route route = emu_batch_route(method, url);
    enum emu_err e;
    x.api = strncmp(url, "/v1/messages", strlen("/v1/messages")) == 0 ? EMU_API_ANTHROPIC : EMU_API_OPENAI;
    emu_make_ids(x.api, x.id, sizeof(x.id), x.request_id, sizeof(x.request_id));
    const char *why = refusal(&x, url, method, route, &e);
    if (why) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s (%.20s %.100s)", why, method, url);
        return refuse(&x, method, url, e, msg);
    }
    size_t max = route == EMU_BATCH_UPLOAD || route == EMU_BATCH_ANTHROPIC ? s->max_upload : EMU_MAX_BODY;
    /* Refuse before reading: a huge declared body is never worth receiving. */
    if (declared_length(c) > max) {
        enum MHD_Result rc = respond_too_large(&x, max);
        verbose_log(&x, method, url);
        return rc;
    }
    struct conn *st = emu_xcalloc(1, sizeof(*st));
    st->api = x.api;
    st->route = route;
    st->max = max;
    if (route == EMU_BATCH_UPLOAD && (st->form = MHD_create_post_processor(c, FORM_BUFFER, form_field, st)) == NULL) {
        free(st);
        return refuse(&x, method, url, EMU_ERR_INVALID, "Content-Type must be multipart/form-data.");
    }
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
        receive(st, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    struct exchange x = {.s = s, .c = c, .api = st->api};
    emu_make_ids(x.api, x.id, sizeof(x.id), x.request_id, sizeof(x.request_id));
    enum MHD_Result rc = st->route == EMU_BATCH_NONE ? process(&x, st) : process_batch(&x, st, method, url);
    if (!x.suspended)
        verbose_log(&x, method, url);
    return rc;
}

/* A call whose client went away while it waited for its latency: the
 * provider billed it all the same (what unconfirmed cost lines are about),
 * so its usage is logged as if it had been answered. */
static void bill_unanswered(struct emu_server *s, struct conn *st)
{
    char id[64], request_id[64];
    struct emu_reply r;
    emu_make_ids(st->api, id, sizeof(id), request_id, sizeof(request_id));
    char *body = emu_reply_render(s->cfg, st->api, st->model, &st->req, id, NULL, &r);
    emu_usage_write(s->usage_log, id, st->api == EMU_API_OPENAI ? "openai" : "anthropic", st->model->name, &r,
                    st->fault == FAULT_MALFORMED ? "malformed" : "ok", st->client_id);
    free(body);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct conn *st = *con_cls;
    (void)c;
    (void)toe;
    if (st) {
        if (st->form)
            MHD_destroy_post_processor(st->form);
        if (st->delayed) {
            bill_unanswered(cls, st);
            emu_request_free(&st->req);
        }
        free(st->client_id);
        free(st->filename);
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static struct MHD_Daemon *start_daemon(struct emu_server *s, uint16_t port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* epoll, not select: thousands of kept-alive connections exceed
     * FD_SETSIZE; suspend/resume for the latency (delay_connection). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (s->verbose)
        flags |= MHD_USE_ERROR_LOG;
    return MHD_start_daemon(flags, port, NULL, NULL, handle, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_THREAD_POOL_SIZE, POOL_THREADS,
                            MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_END);
}

struct emu_server *emu_server_start(const struct emu_config *cfg, const struct emu_server_options *o, char *err,
                                    size_t err_size)
{
    struct emu_server *s = emu_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->verbose = o->verbose;
    s->max_upload = o->max_upload;
    atomic_init(&s->stopping, false);
    if (emu_usage_open(o->usage_log_path, &s->usage_log, err, err_size) != 0) {
        emu_server_stop(s);
        return NULL;
    }
    s->batches = emu_batches_new(cfg, s->usage_log);
    if (delays_start(&s->delays) != 0) {
        snprintf(err, err_size, "cannot start the latency timer thread");
        emu_server_stop(s);
        return NULL;
    }
    s->daemon = start_daemon(s, o->port);
    if (s->daemon == NULL) {
        snprintf(err, err_size, "cannot listen on 127.0.0.1:%u", (unsigned)o->port);
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
    delays_stop(&s->delays);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    emu_batches_free(s->batches);
    emu_usage_close(s->usage_log);
    free(s);
}
