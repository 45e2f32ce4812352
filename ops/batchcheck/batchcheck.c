/* sluice-batchcheck — exercises lib/batch_client against a real
 * sluice-emulator, for both providers (OpenAI base URL/v1, Anthropic base
 * URL). Run by tests/integration/12-batch-client.sh:
 *
 *   sluice-batchcheck normal  URL N   submit N, poll, stream, every
 *                                      custom_id once with a parsed label;
 *                                      get/find/realtime/stop/transport errors
 *   sluice-batchcheck errored URL N   (errored_share > 0) errored lines
 *   sluice-batchcheck fail    URL N   (batch.fail) OpenAI BATCH_FAILED,
 *                                      Anthropic every line errored
 *   sluice-batchcheck large   URL N   results larger than the body cap
 *   sluice-batchcheck paging  URL N   find() past the first list page
 *   sluice-batchcheck pending URL N   Anthropic find() on a running batch:
 *                                      SL_ETIMEOUT, then found
 *
 * Prints "ok: …" per check group and exits 0, or "FAIL: file:line: …" and
 * exits 1. The API key variable holds a marker that must never appear in
 * an error text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "provider/answer.h"
#include "batch/batch_client.h"
#include "batch/batch_wire.h"
#include "sl.h"

#define KEY_ENV "SLUICE_BATCHCHECK_KEY"
#define KEY_MARKER "sk-batchcheck-SECRET-7f3a"

static void fail_at(const char *file, int line, const char *fmt, ...)
    SL_PRINTF(3, 4);

static void fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

#define CHECK(cond, ...) \
    do { \
        if (!(cond)) \
            fail_at(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* An error text must never carry the key. */
#define CHECK_RC(rc, want, err) \
    do { \
        CHECK(strstr((err), KEY_MARKER) == NULL, "key in err: %s", (err)); \
        CHECK((rc) == (want), "rc %d (%s), want %d: %s", (rc), \
              sl_strerror(rc), (want), (err)); \
    } while (0)

static char *label_set[] = {"refund", "billing", "shipping", "other"};
static struct task_conf task = {
    .name = "intent", .output = OUTPUT_LABEL,
    .labels = label_set, .n_labels = 4,
    .system = "You classify customer support tickets.",
    .prompt = "Classify the ticket.\n<labels>{{labels}}</labels>\n"
              "<input>{{input}}</input>",
    .max_output_tokens = 64,
};

static struct provider_conf providers[2];

static void setup_providers(const char *url)
{
    static char oa_base[512], an_base[512];
    snprintf(oa_base, sizeof(oa_base), "%s/v1", url);
    snprintf(an_base, sizeof(an_base), "%s/", url); /* trailing '/' ok */
    providers[0] = (struct provider_conf){
        .name = "oai", .kind = PROVIDER_OPENAI, .base_url = oa_base,
        .api_key_env = KEY_ENV, .timeout_ms = 30000,
        .connect_timeout_ms = 3000};
    providers[1] = providers[0];
    providers[1].name = "ant";
    providers[1].kind = PROVIDER_ANTHROPIC;
    providers[1].base_url = an_base;
}

/* ---------------------------------------------------------------- items */

struct items {
    struct batch_item *v;
    char **ids, **inputs;
    size_t n;
};

/* n items with ids r<first+i>-a<attempt>. */
static void items_make(struct items *it, size_t n, int64_t first, int attempt)
{
    it->n = n;
    it->v = xcalloc(n, sizeof(*it->v));
    it->ids = xcalloc(n, sizeof(*it->ids));
    it->inputs = xcalloc(n, sizeof(*it->inputs));
    for (size_t i = 0; i < n; i++) {
        it->ids[i] = batch_custom_id(first + (int64_t)i, attempt);
        it->inputs[i] = xasprintf("Ticket %zu: I was charged twice for "
                                  "order A%05zu.", i, i);
        it->v[i] = (struct batch_item){.custom_id = it->ids[i], .task = &task,
                                       .model = "oracle",
                                       .input = it->inputs[i],
                                       .input_len = strlen(it->inputs[i])};
    }
}

static void items_free(struct items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        free(it->ids[i]);
        free(it->inputs[i]);
    }
    free(it->ids);
    free(it->inputs);
    free(it->v);
    memset(it, 0, sizeof(*it));
}

static char *submit(struct batch_client *c, const struct provider_conf *p,
                    const struct items *it, const char *sluice_id)
{
    char err[512] = "", *id = NULL;
    bool retryable = true;
    int rc = batch_client_submit(c, p, it->v, it->n, sluice_id, &id,
                                 &retryable, err, sizeof(err));
    CHECK_RC(rc, SL_OK, err);
    CHECK(id && id[0], "%s: no batch id", p->name);
    return id;
}

/* Polls (every 100 ms, at most 60 s) until the batch leaves in_progress. */
static void wait_end(struct batch_client *c, const struct provider_conf *p,
                     const char *id, struct batch_status *st)
{
    for (int i = 0; i < 600; i++) {
        char err[512] = "";
        bool retryable;
        int rc = batch_client_get(c, p, id, st, &retryable, err, sizeof(err));
        CHECK_RC(rc, SL_OK, err);
        CHECK(strcmp(st->id, id) == 0, "get returned %s for %s", st->id, id);
        if (st->state != BATCH_IN_PROGRESS)
            return;
        batch_status_clear(st);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK(0, "%s: batch %s never ended", p->name, id);
}

/* ---------------------------------------------------------------- results */

struct tally {
    const struct items *it;
    int *seen;            /* per item */
    size_t succeeded, errored, other, unknown;
    size_t stop_after;    /* 0: never stop */
    size_t lines;
};

static size_t item_index(const struct items *it, const char *custom_id)
{
    int64_t row;
    int attempt;
    if (batch_custom_id_parse(custom_id, &row, &attempt) != SL_OK)
        return (size_t)-1;
    for (size_t i = 0; i < it->n; i++) {
        if (strcmp(it->ids[i], custom_id) == 0)
            return i;
    }
    return (size_t)-1;
}

/* A succeeded line carries a content whose answer object names one of
 * the task's labels. */
static bool has_label(const struct batch_line *l)
{
    cJSON *obj = answer_find_object(l->resp.content);
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(obj, "label");
    bool ok = false;
    for (size_t i = 0; cJSON_IsString(label) && i < task.n_labels; i++)
        ok = ok || strcmp(label->valuestring, label_set[i]) == 0;
    cJSON_Delete(obj);
    return ok;
}

static int on_line(const struct batch_line *l, void *arg)
{
    struct tally *t = arg;
    size_t i = item_index(t->it, l->custom_id);
    t->lines++;
    if (i == (size_t)-1) {
        t->unknown++;
    } else {
        t->seen[i]++;
        if (l->kind == BATCH_LINE_SUCCEEDED) {
            CHECK(has_label(l), "%s: no label in %s", l->custom_id,
                  l->resp.content ? l->resp.content : "(null)");
            CHECK(l->resp.has_usage && l->resp.usage.input_tokens > 0,
                  "%s: no usage", l->custom_id);
            t->succeeded++;
        } else if (l->kind == BATCH_LINE_ERRORED) {
            CHECK(l->error && l->resp.error_type, "%s: errored, no reason",
                  l->custom_id);
            t->errored++;
        } else {
            t->other++;
        }
    }
    return t->stop_after && t->lines == t->stop_after ? 42 : 0;
}

/* Streams the results; every item must come back exactly once. */
static void collect(struct batch_client *c, const struct provider_conf *p,
                    const struct batch_status *st, const struct items *it,
                    struct tally *t)
{
    memset(t, 0, sizeof(*t));
    t->it = it;
    t->seen = xcalloc(it->n, sizeof(*t->seen));
    char err[512] = "";
    size_t bad = 99;
    int rc = batch_client_results(c, p, st, on_line, t, &bad, err,
                                  sizeof(err));
    CHECK_RC(rc, SL_OK, err);
    CHECK(bad == 0, "%s: %zu bad lines", p->name, bad);
    CHECK(t->unknown == 0, "%s: %zu unknown custom_ids", p->name, t->unknown);
    for (size_t i = 0; i < it->n; i++)
        CHECK(t->seen[i] == 1, "%s: %s seen %d times", p->name, it->ids[i],
              t->seen[i]);
    free(t->seen);
    t->seen = NULL;
}

static char *find(struct batch_client *c, const struct provider_conf *p,
                  const char *sluice_id, const char *probe, int64_t after_ms,
                  int want)
{
    char err[512] = "", *id = (char *)"untouched";
    int rc = batch_client_find(c, p, sluice_id, probe, after_ms, &id, err,
                               sizeof(err));
    CHECK_RC(rc, want, err);
    CHECK(rc == SL_OK ? id != NULL : id == NULL, "find: id on rc %d", rc);
    return id;
}

/* ---------------------------------------------------------------- modes */

static void normal_realtime(struct batch_client *c,
                            const struct provider_conf *p)
{
    struct llm_response resp;
    char err[512] = "";
    struct batch_realtime_call call = {.client_request_id = "batchcheck-1"};
    const char *in = "Where is my parcel? It has not shipped.";
    int rc = batch_client_realtime(c, p, &task, "oracle", in, strlen(in),
                                   &resp, &call, err, sizeof(err));
    CHECK_RC(rc, SL_OK, err);
    CHECK(resp.http_status == 200 && resp.content && resp.has_usage,
          "%s realtime: status %ld", p->name, resp.http_status);
    CHECK(call.latency_ms >= 0 && call.latency_ms < 30000, "latency %d",
          call.latency_ms);
    CHECK(call.sent && !call.truncated, "%s realtime: sent=%d truncated=%d",
          p->name, call.sent, call.truncated);
    struct batch_line as_line = {.resp = resp};
    CHECK(has_label(&as_line), "%s realtime: no label in %s", p->name,
          resp.content);
    llm_response_clear(&resp);

    call = (struct batch_realtime_call){.retryable = true};
    rc = batch_client_realtime(c, p, &task, "no-such-model", in, strlen(in),
                               &resp, &call, err, sizeof(err));
    CHECK_RC(rc, SL_EHTTP, err);
    CHECK(resp.http_status == 404 && resp.error_type && !call.retryable,
          "%s realtime unknown model: %ld retryable=%d", p->name,
          resp.http_status, call.retryable);
    CHECK(strstr(err, "HTTP 404"), "err: %s", err);
    llm_response_clear(&resp);
}

/* A model slower than the provider's timeout: a transport error,
 * retryable. */
static void normal_timeout(struct batch_client *c,
                           const struct provider_conf *p)
{
    struct provider_conf hasty = *p;
    hasty.timeout_ms = 300;
    struct llm_response resp;
    char err[512] = "";
    struct batch_realtime_call call = {0};
    int64_t start = sl_monotonic_us();
    int rc = batch_client_realtime(c, &hasty, &task, "slowpoke", "hi", 2,
                                   &resp, &call, err, sizeof(err));
    int64_t took_ms = (sl_monotonic_us() - start) / 1000;
    CHECK_RC(rc, SL_EHTTP, err);
    /* The request left before the timeout: the provider may bill it. */
    CHECK(call.retryable && call.sent && resp.http_status == 0,
          "timeout: retryable=%d sent=%d status %ld", call.retryable,
          call.sent, resp.http_status);
    CHECK(took_ms >= 250 && took_ms < 2500, "timeout took %lld ms",
          (long long)took_ms);
    llm_response_clear(&resp);
}

/* Calls in a row share one keep-alive connection. */
static void normal_keepalive(struct batch_client *c,
                             const struct provider_conf *p, const char *id)
{
    long before = batch_client_connects(c);
    for (int i = 0; i < 20; i++) {
        struct batch_status st;
        char err[512] = "";
        bool retryable;
        int rc = batch_client_get(c, p, id, &st, &retryable, err,
                                  sizeof(err));
        CHECK_RC(rc, SL_OK, err);
        batch_status_clear(&st);
    }
    long opened = batch_client_connects(c) - before;
    CHECK(opened <= 1, "%s: 20 gets opened %ld connections", p->name, opened);
}

/* Nothing listens on port 1: a transport error, retryable. */
static void normal_transport(struct batch_client *c,
                             const struct provider_conf *p)
{
    struct provider_conf dead = *p;
    dead.base_url = p->kind == PROVIDER_OPENAI ? "http://127.0.0.1:1/v1"
                                               : "http://127.0.0.1:1";
    struct batch_status st;
    char err[512] = "";
    bool retryable = false;
    int rc = batch_client_get(c, &dead, "batch_x", &st, &retryable, err,
                              sizeof(err));
    CHECK_RC(rc, SL_EHTTP, err);
    CHECK(retryable, "transport error not retryable: %s", err);
    rc = batch_client_get(c, p, "batch_nope", &st, &retryable, err,
                          sizeof(err));
    CHECK_RC(rc, SL_ENOTFOUND, err);
    CHECK(!retryable && st.id == NULL, "404 retryable");
    rc = batch_client_get(c, p, "../etc", &st, &retryable, err, sizeof(err));
    CHECK_RC(rc, SL_EINVAL, err);
}

static void normal_one(struct batch_client *c, const struct provider_conf *p,
                       size_t n)
{
    bool ant = p->kind == PROVIDER_ANTHROPIC;
    int64_t t0 = sl_now_ms() - 5000;
    struct items it;
    items_make(&it, n, 1000, 0);
    char sluice_id[64];
    snprintf(sluice_id, sizeof(sluice_id), "sb-normal-%s", p->name);
    char *id = submit(c, p, &it, sluice_id);
    struct batch_status st;
    wait_end(c, p, id, &st);
    CHECK(st.state == BATCH_ENDED, "%s: state %d", p->name, st.state);
    CHECK(st.total == (int64_t)n && st.completed == (int64_t)n &&
          st.failed == 0, "%s: counts %lld/%lld/%lld", p->name,
          (long long)st.total, (long long)st.completed, (long long)st.failed);
    CHECK(st.created_ms >= t0 && st.created_ms <= sl_now_ms() + 5000,
          "%s: created_ms %lld", p->name, (long long)st.created_ms);
    if (!ant)
        CHECK(st.sluice_batch_id && strcmp(st.sluice_batch_id, sluice_id) == 0,
              "metadata lost");
    struct tally t;
    collect(c, p, &st, &it, &t);
    CHECK(t.succeeded == n, "%s: %zu of %zu succeeded", p->name, t.succeeded,
          n);
    printf("ok: %s: %zu items submitted, ended, every custom_id once with a "
           "label\n", p->name, n);
    if (ant) {
        /* a results_url off the provider's origin is not followed (the
         * key would go with it): the client falls back to batch_url */
        char *own = st.results_url;
        st.results_url = (char *)"http://127.0.0.1:1/v1/messages/batches/x";
        collect(c, p, &st, &it, &t);
        st.results_url = own;
        CHECK(t.succeeded == n, "fallback: %zu of %zu", t.succeeded, n);
        printf("ok: anthropic: a foreign results_url is not used\n");
    }

    /* a stop from the callback ends the stream with its value */
    memset(&t, 0, sizeof(t));
    t.it = &it;
    t.seen = xcalloc(n, sizeof(*t.seen));
    t.stop_after = 3;
    char err[512] = "";
    int rc = batch_client_results(c, p, &st, on_line, &t, NULL, err,
                                  sizeof(err));
    CHECK(rc == 42 && t.lines == 3, "%s: stop gave %d after %zu lines",
          p->name, rc, t.lines);
    free(t.seen);

    /* find: by sluice id (OpenAI) or a custom_id of the batch (Anthropic) */
    const char *probe = it.ids[n / 2];
    char *found = find(c, p, sluice_id, probe, t0, SL_OK);
    CHECK(strcmp(found, id) == 0, "%s: find gave %s, want %s", p->name,
          found, id);
    free(found);
    find(c, p, "sb-unknown", "r999999-a0", 0, SL_ENOTFOUND);
    if (ant) {
        /* prefixes match at id boundaries only: rows 1000..1049 */
        found = find(c, p, NULL, "r1025", t0, SL_OK);
        CHECK(strcmp(found, id) == 0, "row prefix found %s", found);
        free(found);
        find(c, p, NULL, "r102", t0, SL_ENOTFOUND);
        found = find(c, p, NULL, "r1025-a", t0, SL_OK);
        CHECK(strcmp(found, id) == 0, "row-attempt prefix found %s", found);
        free(found);
        find(c, p, NULL, "r1025-a00", t0, SL_ENOTFOUND);
    }
    /* the window excludes the batch */
    find(c, p, sluice_id, probe, sl_now_ms() + 600000, SL_ENOTFOUND);
    printf("ok: %s: stop from the callback; find by %s; unknown -> "
           "SL_ENOTFOUND\n", p->name, ant ? "custom_id probe" : "sluice id");

    normal_keepalive(c, p, id);
    normal_realtime(c, p);
    normal_timeout(c, p);
    normal_transport(c, p);
    printf("ok: %s: 20 gets on one connection; realtime (label, 404 not "
           "retryable); timeout and transport errors retryable; get 404 -> "
           "SL_ENOTFOUND\n", p->name);
    batch_status_clear(&st);
    free(id);
    items_free(&it);
}

/* Anthropic: a batch still running cannot be read, so find() says "try
 * later" until it ends (run with a turnaround long enough to look). */
static void pending_one(struct batch_client *c, const struct provider_conf *p,
                        size_t n)
{
    if (p->kind != PROVIDER_ANTHROPIC)
        return; /* OpenAI matches on metadata, whatever the state */
    int64_t t0 = sl_now_ms() - 5000;
    struct items it;
    items_make(&it, n, 5000, 1);
    char *id = submit(c, p, &it, "sb-pending");
    find(c, p, NULL, "r999999-a0", t0, SL_ETIMEOUT);
    find(c, p, NULL, it.ids[n - 1], t0, SL_ETIMEOUT);
    struct batch_status st;
    wait_end(c, p, id, &st);
    char *found = find(c, p, NULL, it.ids[n - 1], t0, SL_OK);
    CHECK(strcmp(found, id) == 0, "pending: found %s, want %s", found, id);
    free(found);
    find(c, p, NULL, "r999999-a0", t0, SL_ENOTFOUND);
    printf("ok: anthropic: in-progress candidate -> SL_ETIMEOUT, found once "
           "ended\n");
    batch_status_clear(&st);
    free(id);
    items_free(&it);
}

static void errored_one(struct batch_client *c, const struct provider_conf *p,
                        size_t n)
{
    struct items it;
    items_make(&it, n, 1, 0);
    char *id = submit(c, p, &it, "sb-errored");
    struct batch_status st;
    wait_end(c, p, id, &st);
    CHECK(st.state == BATCH_ENDED, "%s: state %d", p->name, st.state);
    struct tally t;
    collect(c, p, &st, &it, &t);
    CHECK(t.errored > 0 && t.succeeded > 0 && t.errored + t.succeeded == n,
          "%s: %zu errored, %zu succeeded of %zu", p->name, t.errored,
          t.succeeded, n);
    CHECK((int64_t)t.errored == st.failed, "%s: %zu errored lines, failed "
          "count %lld", p->name, t.errored, (long long)st.failed);
    printf("ok: %s: %zu of %zu lines errored, each with a reason\n", p->name,
           t.errored, n);
    batch_status_clear(&st);
    free(id);
    items_free(&it);
}

static void fail_one(struct batch_client *c, const struct provider_conf *p,
                     size_t n)
{
    struct items it;
    items_make(&it, n, 1, 0);
    char *id = submit(c, p, &it, "sb-fail");
    struct batch_status st;
    wait_end(c, p, id, &st);
    struct tally t;
    if (p->kind == PROVIDER_OPENAI) {
        CHECK(st.state == BATCH_FAILED && st.error, "openai: state %d",
              st.state);
        memset(&t, 0, sizeof(t));
        t.it = &it;
        t.seen = xcalloc(n, sizeof(*t.seen));
        char err[512] = "";
        int rc = batch_client_results(c, p, &st, on_line, &t, NULL, err,
                                      sizeof(err));
        CHECK_RC(rc, SL_OK, err);
        CHECK(t.lines == 0, "failed batch gave %zu lines", t.lines);
        free(t.seen);
        printf("ok: openai: BATCH_FAILED (%s), no result lines\n", st.error);
    } else {
        CHECK(st.state == BATCH_ENDED, "anthropic: state %d", st.state);
        collect(c, p, &st, &it, &t);
        CHECK(t.errored == n, "anthropic fail: %zu errored", t.errored);
        printf("ok: anthropic: ended with every line errored (%zu)\n", n);
    }
    batch_status_clear(&st);
    free(id);
    items_free(&it);
}

static size_t count_bytes(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)data;
    *(size_t *)arg += size * nmemb;
    return size * nmemb;
}

/* The raw size of the results, read around the client. */
static size_t raw_size(const struct provider_conf *p,
                       const struct batch_status *st)
{
    char *url = p->kind == PROVIDER_OPENAI
        ? batch_url(p, BATCH_CALL_FILE_CONTENT, st->output_file_id)
        : batch_url(p, BATCH_CALL_RESULTS, st->id);
    CURL *h = curl_easy_init();
    size_t total = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &total);
    CHECK(curl_easy_perform(h) == CURLE_OK, "raw download failed");
    curl_easy_cleanup(h);
    free(url);
    return total;
}

static void large_one(struct batch_client *c, const struct provider_conf *p,
                      size_t n)
{
    struct items it;
    items_make(&it, n, 100000, 2);
    char *id = submit(c, p, &it, "sb-large");
    struct batch_status st;
    wait_end(c, p, id, &st);
    CHECK(st.state == BATCH_ENDED, "%s: state %d", p->name, st.state);
    size_t bytes = raw_size(p, &st);
    CHECK(bytes > BATCH_CLIENT_BODY_MAX, "%s: results only %zu bytes",
          p->name, bytes);
    struct tally t;
    collect(c, p, &st, &it, &t);
    CHECK(t.succeeded == n, "%s: %zu of %zu", p->name, t.succeeded, n);
    printf("ok: %s: %zu results (%zu bytes > body cap %zu) streamed\n",
           p->name, n, bytes, BATCH_CLIENT_BODY_MAX);
    batch_status_clear(&st);
    free(id);
    items_free(&it);
}

/* n one-item batches, so that the first lies past the first list page. */
static void paging_one(struct batch_client *c, const struct provider_conf *p,
                       size_t n)
{
    char **ids = xcalloc(n, sizeof(*ids));
    char first_probe[BATCH_CUSTOM_ID_MAX + 1] = "";
    for (size_t i = 0; i < n; i++) {
        struct items it;
        items_make(&it, 1, 200000 + (int64_t)i, 0);
        char sluice_id[32];
        snprintf(sluice_id, sizeof(sluice_id), "sb-page-%zu", i);
        ids[i] = submit(c, p, &it, sluice_id);
        if (i == 0)
            sl_strlcpy(first_probe, it.ids[0], sizeof(first_probe));
        items_free(&it);
    }
    struct batch_status st;
    wait_end(c, p, ids[n - 1], &st);
    batch_status_clear(&st);
    char *found = find(c, p, "sb-page-0", first_probe, 0, SL_OK);
    CHECK(strcmp(found, ids[0]) == 0, "%s: paging found %s, want %s",
          p->name, found, ids[0]);
    free(found);
    find(c, p, "sb-page-none", "r999999-a0", 0, SL_ENOTFOUND);
    printf("ok: %s: find reaches the oldest of %zu batches across pages\n",
           p->name, n);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(struct batch_client *, const struct provider_conf *,
                    size_t);
    } modes[] = {{"normal", normal_one}, {"errored", errored_one},
                 {"fail", fail_one},     {"large", large_one},
                 {"paging", paging_one}, {"pending", pending_one}};
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODE URL N (see the top of batchcheck.c)\n",
                argv[0]);
        return 2;
    }
    size_t n = (size_t)strtoul(argv[3], NULL, 10);
    setenv(KEY_ENV, KEY_MARKER, 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setup_providers(argv[2]);
    struct batch_client *c = batch_client_new();
    int rc = 2;
    for (size_t m = 0; m < SL_ARRAY_LEN(modes); m++) {
        if (strcmp(modes[m].name, argv[1]) != 0)
            continue;
        for (size_t i = 0; i < SL_ARRAY_LEN(providers); i++)
            modes[m].run(c, &providers[i], n);
        rc = 0;
    }
    batch_client_free(c);
    batch_client_free(NULL);
    curl_global_cleanup();
    if (rc != 0)
        fprintf(stderr, "unknown mode %s\n", argv[1]);
    return rc;
}
