/* worker.c — the worker's loop: intake from Kafka, rejects to the DLQ, the
 * ledger batch, offsets committed after the batch commits, drain on SIGTERM.
 *
 * Order of durability for a job: its result and cost lines commit in one
 * PostgreSQL transaction, and only then is its offset marked done and the
 * partition's contiguous watermark stored for Kafka's auto-commit. A crash
 * anywhere before that redelivers the job; the jobs primary key makes the
 * second write a no-op, and the intake skips jobs already in the ledger.
 *
 * One call per job id: intake claims each micro-batch's ids (claims.h)
 * before a run starts; a copy of a claimed id waits (waiting[]) until the
 * ledger has its result. Every call's cost line is written (as an intent,
 * unconfirmed/in_flight) before its request leaves (flush_calls). */
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>


#include <openssl/evp.h>

#include "cache.h"
#include "claims.h"
#include "cost_drift.h"
#include "db.h"
#include "log.h"
#include "worker.h"
#include "worker_internal.h"

#define TICK_MS 10
#define INTAKE_CHUNK 256           /* messages per claim query */
/* A copy of a job claimed elsewhere asks again this often: about the time
 * a ledger batch takes to land, so it is acknowledged soon after. */
#define CLAIM_RECHECK_MS 200
#define WRITE_RETRY_MS 1000
/* Parked jobs per slot: enough to hide a partition refetch after resume. */
#define PARKED_PER_SLOT 4
#define PARKED_MIN 1024
#define DLQ_MAX_ATTEMPTS 5
#define HDR_REASON "sluice-reject-reason"
#define HDR_CODE "sluice-reject-code"

static void drain_consumer(struct worker *w);
static void flush_batch(struct worker *w);

/* ---- bookkeeping of runs and rejects ------------------------------------ */

static void push_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *arr = xrealloc(*arr, *cap * sizeof(void *));
    }
    (*arr)[(*n)++] = p;
}

static struct ledger_job ledger_job_of(const struct job_run *run)
{
    const struct job *job = run->job;
    return (struct ledger_job){
        .trace = run->has_trace ? &run->trace : NULL,
        .shadow = run->has_shadow ? &run->shadow : NULL,
        .pending = run->deferred ? &run->pending : NULL,
        .job_id = job->id,
        .task = job->task->name,
        .mode = job_mode_name(job->mode),
        .feature = job->feature,
        .tenant = job->tenant,
        .cohort = job->cohort,
        .user_tier = job->user_tier,
        .input_chars = (int)job->input_len,
        .deadline_ms = job->deadline_ms,
        .metadata_json = job->metadata_json,
        .kafka_partition = run->partition,
        .kafka_offset = run->offset,
        .received_ms = run->received_ms,
    };
}

/* The worker that embeds host (a run's callbacks get the host). */
static struct worker *worker_of(struct job_run_host *host)
{
    return (struct worker *)((char *)host - offsetof(struct worker, runs));
}

static void start_parked(struct worker *w);

/* The run's cost lines as the ledger takes them; free() the array. */
static struct ledger_cost_line *lines_of(const struct job_run *run)
{
    struct ledger_cost_line *lines =
        xcalloc(run->n_lines ? run->n_lines : 1, sizeof(*lines));
    for (size_t i = 0; i < run->n_lines; i++)
        lines[i] = run->lines[i].line;
    return lines;
}

/* ---- calls: an intent line is durable before the request leaves --------- */

#define INTENT_RETRY_MS 500

static void queue_call(struct job_run_host *host, struct job_run *run)
{
    struct worker *w = worker_of(host);
    push_ptr((void ***)&w->to_send, &w->n_to_send, &w->cap_to_send, run);
}

/* The intent lines of the calls queued since the last write, written by
 * the intent writer (its own connection, off the loop) in one statement;
 * the calls are sent when it is back. */
struct intent_task {
    struct ledger_task t;
    struct worker *w;
    struct job_run **runs;
    size_t n;
    struct ledger_cost_line *lines;
};

static int intent_work(struct db *db, struct ledger_task *t, char *err,
                       size_t err_size)
{
    struct intent_task *it = (struct intent_task *)t;
    return ledger_write_intents(db, it->lines, it->n, err, err_size);
}

static void intent_done(struct ledger_task *t)
{
    struct intent_task *it = (struct intent_task *)t;
    struct worker *w = it->w;
    w->intents_writing = false;
    free(it->lines);
    if (t->rc != SL_OK) {
        /* Without PostgreSQL nothing is sent: a call that could not be
         * recorded must not be made. They go first in the queue again. */
        log_warn("writing %zu intent lines failed, calls wait %d ms: %s",
                 it->n, INTENT_RETRY_MS, t->err);
        w->send_retry_at_ms = sl_now_ms() + INTENT_RETRY_MS;
        size_t n = it->n + w->n_to_send;
        struct job_run **runs = xcalloc(n, sizeof(*runs));
        memcpy(runs, it->runs, it->n * sizeof(*runs));
        if (w->n_to_send)
            memcpy(runs + it->n, w->to_send, w->n_to_send * sizeof(*runs));
        free(w->to_send);
        free(it->runs);
        w->to_send = runs;
        w->n_to_send = w->cap_to_send = n;
        free(it);
        return;
    }
    for (size_t i = 0; i < it->n; i++)
        job_run_send(it->runs[i]);
    free(it->runs);
    free(it);
}

/* Hands the intent lines of every queued call to the intent writer, unless
 * a write is already out (what queues meanwhile goes in the next one). Runs
 * after every loop pass, so a call waits for one insert, not a tick. */
static void flush_calls(struct worker *w)
{
    if (w->n_to_send == 0 || w->intents_writing ||
        sl_now_ms() < w->send_retry_at_ms)
        return;
    struct intent_task *it = xcalloc(1, sizeof(*it));
    it->t.work = intent_work;
    it->t.done = intent_done;
    it->w = w;
    it->n = w->n_to_send;
    it->runs = w->to_send;
    it->lines = xcalloc(it->n, sizeof(*it->lines));
    for (size_t i = 0; i < it->n; i++)
        it->lines[i] = it->runs[i]->intent;
    w->to_send = NULL;
    w->n_to_send = w->cap_to_send = 0;
    w->intents_writing = true;
    ledger_writer_submit(w->intent_writer, &it->t);
}

/* A claim to delete once what its job left is durable (flush_releases). */
static void queue_release(struct worker *w, const char *job_id)
{
    push_ptr((void ***)&w->release_ids, &w->n_release, &w->cap_release,
             xstrdup(job_id));
}

static void flush_releases(struct worker *w)
{
    char err[256];
    if (w->n_release == 0)
        return;
    if (claims_release(w->db, w->claim_owner, (const char *const *)w->release_ids,
                       w->n_release, err, sizeof(err)) != SL_OK) {
        /* Kept for the next try; meanwhile the jobs row (or the lease)
         * settles what a waiting copy does. */
        log_warn("releasing %zu job claims failed, retrying: %s",
                 w->n_release, err);
        return;
    }
    for (size_t i = 0; i < w->n_release; i++)
        free(w->release_ids[i]);
    w->n_release = 0;
}

static void run_finished(struct job_run_host *host, struct job_run *run)
{
    struct worker *w = worker_of(host);
    struct ledger_job lj = ledger_job_of(run);
    struct ledger_cost_line *lines = lines_of(run);
    ledger_batch_add_job(w->batch, &lj, run->deferred ? NULL : &run->result,
                         lines, run->n_lines);
    budget_add_job(w->budget, lj.feature, lj.tenant, lj.user_tier, lines,
                   run->n_lines, sl_now_ms());
    free(lines);
    push_ptr((void ***)&w->done_runs, &w->n_done_runs, &w->cap_done_runs, run);
    w->in_flight--;
    if (run->deferred)
        w->jobs_deferred++;
    else if (strcmp(run->result.status, "answered") == 0)
        w->jobs_answered++;
    else
        w->jobs_failed++;
    if (run->by_tier0)
        w->jobs_tier0++;
    start_parked(w);
}

/* A run handed back at shutdown: the job is redelivered, but the calls it
 * made were billed, so their lines go into the batch on their own (no jobs
 * row, no result, no offset) and its claim is released after they commit;
 * the next run of the job numbers its lines on from them (attempt_base). */
static void run_released(struct job_run_host *host, struct job_run *run)
{
    struct worker *w = worker_of(host);
    log_job(SL_LOG_INFO, run->job->id, run->job->tenant,
            "released unfinished at shutdown after %zu billed call(s); it "
            "will be redelivered", run->n_lines);
    w->in_flight--;
    w->runs_released++;
    if (run->n_lines == 0) {
        queue_release(w, run->job->id);
        job_run_free(run);
        return;
    }
    struct ledger_job lj = ledger_job_of(run);
    lj.recorded = true; /* lines only: the job itself is not finished */
    lj.trace = NULL;
    lj.shadow = NULL;
    lj.pending = NULL;
    struct ledger_cost_line *lines = lines_of(run);
    ledger_batch_add_job(w->batch, &lj, NULL, lines, run->n_lines);
    free(lines);
    run->released = true;
    push_ptr((void ***)&w->done_runs, &w->n_done_runs, &w->cap_done_runs, run);
}

static void on_reject_timer_closed(uv_handle_t *h)
{
    struct reject_item *r = h->data;
    free(r);
}

static void reject_free(struct reject_item *r)
{
    free(r->payload);
    free(r->job_id);
    free(r->key);
    if (r->headers)
        rd_kafka_headers_destroy(r->headers);
    /* The retry timer is embedded: free only once libuv is done with it. */
    if (r->timer_open)
        uv_close((uv_handle_t *)&r->timer, on_reject_timer_closed);
    else
        free(r);
}

/* ---- rejects: DLQ first (awaited), then the rejected row ----------------
 *
 * Every rejected message goes to the DLQ with its original key and headers
 * plus the reason headers. One larger than kafka.dlq_max_message_bytes, or
 * refused by the broker as too large, goes as a truncated copy (headers
 * give the original size and SHA-256; the whole payload stays in the
 * rejected row). Other failures are retried with a doubling delay on a
 * timer, never from inside the failure: DLQ_MAX_ATTEMPTS in all. */

#define DLQ_RETRY_BASE_MS 200
#define DLQ_MIN_COPY_BYTES 1024
#define HDR_TRUNCATED "sluice-truncated"
#define HDR_ORIG_SIZE "sluice-original-size"
#define HDR_ORIG_SHA "sluice-original-sha256"
#define HDR_SOURCE "sluice-source"

static void send_to_dlq(struct reject_item *r);

static void on_reject_timer(uv_timer_t *t)
{
    send_to_dlq(t->data);
}

static void retry_dlq_later(struct reject_item *r)
{
    if (!r->timer_open) {
        uv_timer_init(&r->w->loop, &r->timer);
        r->timer.data = r;
        r->timer_open = true;
    }
    uint64_t delay = (uint64_t)DLQ_RETRY_BASE_MS << (r->dlq_attempts - 1);
    uv_timer_start(&r->timer, on_reject_timer, delay, 0);
}

/* The DLQ is done with r (delivered, or given up): the rejected row goes
 * into the batch, and r's offset is acknowledged once that commits. */
static void dlq_settled(struct reject_item *r, bool delivered)
{
    struct worker *w = r->w;
    w->awaiting_dlq--;
    if (delivered) {
        metrics_count(telemetry()->rejected, 1, r->reason_code, NULL, NULL);
        if (r->copy_len < r->payload_len)
            metrics_count(telemetry()->dlq_truncated, 1, r->reason_code, NULL, NULL);
    } else {
        metrics_count(telemetry()->dlq_failed, 1, r->reason_code, NULL, NULL);
    }
    struct ledger_rejected row = {
        .job_id = r->job_id,
        .reason_code = r->reason_code,
        .reason = r->reason,
        .kafka_topic = w->cfg->kafka.topic,
        .kafka_partition = r->partition,
        .kafka_offset = r->offset,
        .payload = r->payload,
        .payload_len = r->payload_len,
    };
    ledger_batch_add_rejected(w->batch, &row);
    push_ptr((void ***)&w->rejects, &w->n_rejects, &w->cap_rejects, r);
}

static void dlq_failed(struct reject_item *r, int kerr, const char *errmsg)
{
    if (kerr == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE &&
        r->copy_len / 4 >= DLQ_MIN_COPY_BYTES) {
        /* The broker's limit is below ours: a smaller copy, at once (at
         * most a few steps down to DLQ_MIN_COPY_BYTES). */
        log_warn("dlq refused %zu bytes as too large; sending %zu", r->copy_len,
                 r->copy_len / 4);
        r->copy_cap = r->copy_len / 4;
        send_to_dlq(r);
        return;
    }
    if (++r->dlq_attempts < DLQ_MAX_ATTEMPTS) {
        log_warn("dlq delivery failed (%s), retry %d in %d ms", errmsg,
                 r->dlq_attempts, DLQ_RETRY_BASE_MS << (r->dlq_attempts - 1));
        retry_dlq_later(r);
        return;
    }
    log_error("dlq delivery failed %d times (%s); keeping only the rejected "
              "row", r->dlq_attempts, errmsg);
    dlq_settled(r, false);
}

static void on_dlq_delivered(int kerr, const char *errmsg, void *opaque)
{
    struct reject_item *r = opaque;
    if (kerr)
        dlq_failed(r, kerr, errmsg);
    else
        dlq_settled(r, true);
}

static void send_to_dlq(struct reject_item *r)
{
    const struct kafka_conf *k = &r->w->cfg->kafka;
    char size[32], source[300];
    r->copy_len = r->payload_len < r->copy_cap ? r->payload_len : r->copy_cap;
    snprintf(size, sizeof(size), "%zu", r->payload_len);
    snprintf(source, sizeof(source), "%s[%d]@%lld", k->topic, (int)r->partition,
             (long long)r->offset);
    const char *names[] = {HDR_CODE, HDR_REASON, HDR_SOURCE, HDR_TRUNCATED,
                           HDR_ORIG_SIZE, HDR_ORIG_SHA};
    const char *values[] = {r->reason_code, r->reason, source, "true", size,
                            r->sha256_hex};
    size_t n = r->copy_len < r->payload_len ? 6 : 3;
    int kerr = 0;
    if (kproducer_send_copy(r->w->dlq, k->dlq_topic, r->key, r->key_len,
                            r->payload, r->copy_len, r->headers, names, values,
                            n, on_dlq_delivered, r, &kerr) != SL_OK)
        dlq_failed(r, kerr, rd_kafka_err2str((rd_kafka_resp_err_t)kerr));
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    static const char digits[] = "0123456789abcdef";
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < len && i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[64] = '\0';
}

/* Best effort: the id of a message that failed validation for another
 * reason, so the rejected row can be found by job id. */
static char *salvage_job_id(const char *payload, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(payload, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    char *out = cJSON_IsString(id) && id->valuestring[0] &&
                        strlen(id->valuestring) <= 200
                    ? xstrdup(id->valuestring)
                    : NULL;
    cJSON_Delete(root);
    return out;
}

static void reject_message(struct worker *w, const rd_kafka_message_t *m,
                           uint32_t gen, enum job_reject code,
                           const char *reason)
{
    struct reject_item *r = xcalloc(1, sizeof(*r));
    r->w = w;
    r->partition = m->partition;
    r->offset = m->offset;
    r->generation = gen;
    r->payload = xstrndup(m->payload ? m->payload : "", m->len);
    r->payload_len = m->len;
    if (code != JOB_MALFORMED_JSON && code != JOB_INVALID_UTF8)
        r->job_id = salvage_job_id(r->payload, r->payload_len);
    r->reason_code = job_reject_name(code);
    sl_strlcpy(r->reason, reason, sizeof(r->reason));
    /* The copy keeps the producer's key (else the salvaged job id) and
     * headers, so the DLQ can be replayed to the jobs topic as it was. */
    if (m->key && m->key_len) {
        r->key = xmalloc(m->key_len);
        memcpy(r->key, m->key, m->key_len);
        r->key_len = m->key_len;
    } else if (r->job_id) {
        r->key = xstrdup(r->job_id);
        r->key_len = strlen(r->job_id);
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        r->headers = rd_kafka_headers_copy(hdrs);
    sha256_hex(r->payload, r->payload_len, r->sha256_hex);
    /* Room for the headers below the cap. */
    size_t cap = w->cfg->kafka.dlq_max_message_bytes;
    r->copy_cap = cap > 8192 ? cap - 4096 : cap / 2;
    log_warn("rejected message %s[%d]@%lld (%zu bytes): %s",
             w->cfg->kafka.topic, (int)m->partition, (long long)m->offset,
             (size_t)m->len, reason);
    w->jobs_rejected++;
    w->awaiting_dlq++;
    send_to_dlq(r);
}

/* ---- intake -------------------------------------------------------------- */

struct intake {
    struct job *jobs[INTAKE_CHUNK];
    int32_t partitions[INTAKE_CHUNK];
    int64_t offsets[INTAKE_CHUNK];
    uint32_t gens[INTAKE_CHUNK];
    size_t n;
};

/* Appends to the parked ring. The ring is sized so that intake pauses
 * before it fills; it still grows if a paused consumer hands over a
 * message, because a job must never be dropped. */
static void park_job(struct worker *w, const struct parked_job *job)
{
    if (w->parked_len == w->parked_cap) {
        size_t cap = w->parked_cap * 2;
        struct parked_job *ring = xcalloc(cap, sizeof(*ring));
        for (size_t i = 0; i < w->parked_len; i++)
            ring[i] = w->parked[(w->parked_head + i) % w->parked_cap];
        free(w->parked);
        w->parked = ring;
        w->parked_head = 0;
        w->parked_cap = cap;
    }
    w->parked[(w->parked_head + w->parked_len++) % w->parked_cap] = *job;
}

static void wait_job(struct worker *w, const struct parked_job *job)
{
    if (w->n_waiting == w->cap_waiting) {
        w->cap_waiting = w->cap_waiting ? w->cap_waiting * 2 : 64;
        w->waiting = xrealloc(w->waiting, w->cap_waiting * sizeof(*w->waiting));
    }
    w->waiting[w->n_waiting++] = *job;
}

/* Claims jobs[0..n) in one round trip and sorts them: done ones (answered
 * before a crash, a replay, or by the copy another worker ran) are only
 * acknowledged; claimed ones are parked for a slot; the others wait for
 * the claim's holder (waiting[]). Without an answer from PostgreSQL all
 * wait: calling without a claim could call a job twice. `waited` marks
 * copies that had been waiting, for the metrics. */
static void sort_by_claim(struct worker *w, struct parked_job *jobs, size_t n,
                          bool waited)
{
    const char *ids[INTAKE_CHUNK];
    enum claim_state st[INTAKE_CHUNK];
    int base[INTAKE_CHUNK];
    char err[256];
    for (size_t i = 0; i < n; i++)
        ids[i] = jobs[i].job->id;
    if (db_ensure_connected(w->db, err, sizeof(err)) != SL_OK ||
        claims_take(w->db, w->claim_owner, w->cfg->worker.claim_lease_ms, ids,
                    n, st, base, err, sizeof(err)) != SL_OK) {
        log_warn("claiming %zu jobs failed (%s); they wait and ask again", n, err);
        for (size_t i = 0; i < n; i++)
            st[i] = CLAIM_BUSY;
    }
    /* The cache reads the claimed jobs' entries in one statement. */
    const struct job *claimed[INTAKE_CHUNK];
    size_t n_claimed = 0;
    for (size_t i = 0; i < n; i++)
        if (st[i] == CLAIM_TAKEN)
            claimed[n_claimed++] = jobs[i].job;
    cache_prefetch(w->runs.cache, w->db, w->cfg, claimed, n_claimed);
    for (size_t i = 0; i < n; i++) {
        struct parked_job *p = &jobs[i];
        switch (st[i]) {
        case CLAIM_DONE:
            if (waited)
                w->jobs_waited++;
            else
                w->jobs_skipped++;
            metrics_count(telemetry()->jobs_skipped, 1,
                          waited ? "duplicate" : "already_done", NULL, NULL);
            kconsumer_done(w->consumer, p->partition, p->offset, p->generation);
            job_free(p->job);
            break;
        case CLAIM_TAKEN:
            p->attempt_base = base[i];
            park_job(w, p);
            break;
        case CLAIM_BUSY:
            wait_job(w, p);
            break;
        }
    }
}

/* Starts the jobs of a chunk (see sort_by_claim). */
static void start_intake(struct worker *w, struct intake *in)
{
    struct parked_job jobs[INTAKE_CHUNK];
    for (size_t i = 0; i < in->n; i++)
        jobs[i] = (struct parked_job){in->jobs[i], in->partitions[i],
                                      in->offsets[i], in->gens[i], 0};
    sort_by_claim(w, jobs, in->n, false);
    in->n = 0;
    start_parked(w);
}

/* Asks again for the copies waiting on another claim: the result may be in
 * now (acknowledge), or the claim released or lapsed (run it). Copies of a
 * partition this worker lost are dropped: their new owner reads them. */
static void recheck_waiting(struct worker *w)
{
    int64_t now = sl_now_ms();
    if (w->n_waiting == 0 || now < w->waiting_check_at_ms)
        return;
    w->waiting_check_at_ms = now + CLAIM_RECHECK_MS;
    size_t n = w->n_waiting;
    struct parked_job *batch = w->waiting;
    w->waiting = NULL;
    w->n_waiting = w->cap_waiting = 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kconsumer_owns(w->consumer, batch[i].partition, batch[i].generation))
            batch[kept++] = batch[i];
        else
            job_free(batch[i].job);
    }
    for (size_t i = 0; i < kept; i += INTAKE_CHUNK)
        sort_by_claim(w, batch + i, kept - i < INTAKE_CHUNK ? kept - i
                                                           : INTAKE_CHUNK, true);
    free(batch);
    start_parked(w);
}

/* One statement keeps every claim of this worker alive, well before its
 * lease runs out; a worker that stops renewing (dead, or cut off from
 * PostgreSQL) loses its claims to whoever asks after the lease. */
static void renew_claims(struct worker *w)
{
    char err[256];
    int64_t now = sl_now_ms();
    if (now < w->claims_renew_at_ms)
        return;
    w->claims_renew_at_ms = now + w->cfg->worker.claim_lease_ms / 3;
    if (db_ensure_connected(w->db, err, sizeof(err)) != SL_OK ||
        claims_renew(w->db, w->claim_owner, w->cfg->worker.claim_lease_ms,
                     NULL, err, sizeof(err)) != SL_OK)
        log_warn("renewing job claims failed: %s", err);
    flush_releases(w);
}

/* Gives free slots to parked jobs, oldest first. Re-entry (a run that ends
 * inside job_run_start) is left to the outer loop. */
static void start_parked(struct worker *w)
{
    if (w->starting)
        return;
    w->starting = true;
    while (!w->runs.draining && w->parked_len > 0 &&
           w->in_flight < (size_t)w->cfg->worker.max_in_flight) {
        struct parked_job p = w->parked[w->parked_head];
        w->parked_head = (w->parked_head + 1) % w->parked_cap;
        w->parked_len--;
        if (!kconsumer_owns(w->consumer, p.partition, p.generation)) {
            /* Its partition moved on since it was parked: the new owner
             * reads it again, and two calls would be billed twice. */
            w->jobs_handed_over++;
            metrics_count(telemetry()->jobs_skipped, 1, "partition_moved", NULL, NULL);
            queue_release(w, p.job->id);
            job_free(p.job);
            continue;
        }
        w->in_flight++;
        job_run_start(&w->runs, p.job, p.partition, p.offset, p.generation,
                      p.attempt_base);
    }
    w->starting = false;
}

/* A draining worker answers no parked job: they stay uncommitted and are
 * redelivered to whoever owns their partitions next. */
static void release_parked(struct worker *w)
{
    for (size_t i = 0; i < w->n_waiting; i++)
        job_free(w->waiting[i].job);
    w->n_waiting = 0;
    while (w->parked_len > 0) {
        queue_release(w, w->parked[w->parked_head].job->id);
        job_free(w->parked[w->parked_head].job);
        w->parked_head = (w->parked_head + 1) % w->parked_cap;
        w->parked_len--;
    }
}

static void take_message(struct worker *w, struct intake *in,
                         rd_kafka_message_t *m)
{
    uint32_t gen = kconsumer_track(w->consumer, m);
    char reason[256];
    struct job *job = NULL;
    enum job_reject code = job_parse(w->cfg, m->payload ? m->payload : "",
                                     m->len, &job, reason, sizeof(reason));
    if (code != JOB_OK) {
        reject_message(w, m, gen, code, reason);
        return;
    }
    in->jobs[in->n] = job;
    in->partitions[in->n] = m->partition;
    in->offsets[in->n] = m->offset;
    in->gens[in->n] = gen;
    in->n++;
}

/* Parked jobs plus rejects waiting for the DLQ: what intake has taken and
 * not yet handed to a run or the batch. */
static size_t backlog(const struct worker *w)
{
    return w->parked_len + w->n_waiting + w->awaiting_dlq;
}

static void apply_backpressure(struct worker *w)
{
    if (!w->paused && backlog(w) >= w->parked_cap) {
        kconsumer_pause(w->consumer);
        w->paused = true;
        log_debug("paused consumption: %zu jobs parked", backlog(w));
    } else if (w->paused && backlog(w) < w->parked_cap / 2) {
        kconsumer_resume(w->consumer);
        w->paused = false;
    }
}

static void drain_consumer(struct worker *w)
{
    struct intake in;
    in.n = 0;
    /* Polling goes on while paused: rebalances are served from here. */
    for (;;) {
        if (w->runs.draining)
            break;
        if (backlog(w) + in.n >= w->parked_cap && !w->paused)
            break;
        rd_kafka_message_t *m = kconsumer_poll(w->consumer);
        if (!m)
            break;
        take_message(w, &in, m);
        rd_kafka_message_destroy(m);
        if (in.n == INTAKE_CHUNK)
            start_intake(w, &in);
    }
    if (in.n)
        start_intake(w, &in);
    apply_backpressure(w);
}

/* ---- the ledger batch ---------------------------------------------------- */

/* A ledger batch on its way to PostgreSQL: what it borrows from (the runs
 * and rejects) is handed over with it, and comes back acknowledged and
 * freed once it has committed. The claims of its jobs are released on the
 * writer's connection right after the commit. */
struct batch_task {
    struct ledger_task t;
    struct worker *w;
    struct ledger_batch *batch;
    struct job_run **runs;
    size_t n_runs;
    struct reject_item **rejects;
    size_t n_rejects;
    bool *fresh;
    const char **release_ids; /* the runs' job ids, borrowed */
    int release_rc;
    char release_err[256];
};

static void batch_task_free(struct batch_task *bt)
{
    for (size_t i = 0; i < bt->n_runs; i++)
        job_run_free(bt->runs[i]);
    for (size_t i = 0; i < bt->n_rejects; i++)
        reject_free(bt->rejects[i]);
    free(bt->runs);
    free(bt->rejects);
    free(bt->fresh);
    free(bt->release_ids);
    ledger_batch_free(bt->batch);
    free(bt);
}

static void acknowledge_batch(struct worker *w, const struct batch_task *bt)
{
    for (size_t i = 0; i < bt->n_runs; i++) {
        struct job_run *r = bt->runs[i];
        if (bt->release_rc != SL_OK)
            queue_release(w, r->job->id);
        if (!r->released) /* a released job is redelivered, not done */
            kconsumer_done(w->consumer, r->partition, r->offset, r->generation);
    }
    for (size_t i = 0; i < bt->n_rejects; i++) {
        struct reject_item *r = bt->rejects[i];
        kconsumer_done(w->consumer, r->partition, r->offset, r->generation);
    }
}

/* Counted once durable and only when new (fresh[i]: not a redelivered job
 * already in the ledger), so the metrics agree with the ledger's rows. */
static void count_written(const struct batch_task *bt)
{
    const struct telemetry *t = telemetry();
    for (size_t i = 0; i < bt->n_runs; i++) {
        const struct job_run *run = bt->runs[i];
        if (!bt->fresh[i] || run->deferred || run->released) /* the scheduler */
            continue;                       /* counts deferred ones */
        const struct ledger_result *r = &run->result;
        metrics_count(t->jobs, 1, r->status, r->source, telemetry_tier(r->tier));
        for (size_t k = 0; k < run->n_lines; k++)
            metrics_count(t->cost_nanodollars,
                          (double)run->lines[k].line.cost_nanousd,
                          telemetry_tier(run->lines[k].line.tier),
                          run->job->feature, NULL);
    }
}

static int batch_work(struct db *db, struct ledger_task *t, char *err,
                      size_t err_size)
{
    struct batch_task *bt = (struct batch_task *)t;
    int rc = ledger_write(db, bt->batch, bt->fresh, err, err_size);
    /* Releasing is an optimisation (a claim of a done job is harmless:
     * the jobs row settles what a copy does); a failure leaves them to the
     * loop's retry. */
    if (rc == SL_OK && bt->n_runs > 0)
        bt->release_rc = claims_release(db, bt->w->claim_owner,
                                        bt->release_ids, bt->n_runs,
                                        bt->release_err,
                                        sizeof(bt->release_err));
    return rc;
}

static void batch_done(struct ledger_task *t)
{
    struct batch_task *bt = (struct batch_task *)t;
    struct worker *w = bt->w;
    w->batch_writing = false;
    if (t->rc != SL_OK) {
        /* Kept as it is; nothing is acknowledged, so nothing is lost. */
        log_error("ledger write of %zu entries failed, retrying in %d ms: %s",
                  bt->n_runs + bt->n_rejects, WRITE_RETRY_MS, t->err);
        w->write_retry_at_ms = sl_now_ms() + WRITE_RETRY_MS;
        w->batch_retry = bt;
        metrics_serve_set_health(w->metrics, METRICS_CHECK_DB, false);
        return;
    }
    w->write_retry_at_ms = 0;
    metrics_serve_set_health(w->metrics, METRICS_CHECK_DB, true);
    if (bt->release_rc != SL_OK)
        log_warn("releasing %zu job claims failed, retrying: %s", bt->n_runs,
                 bt->release_err);
    count_written(bt);
    acknowledge_batch(w, bt);
    batch_task_free(bt);
}

/* The finished runs and rejects so far, moved into a task. */
static struct batch_task *take_batch(struct worker *w)
{
    struct batch_task *bt = xcalloc(1, sizeof(*bt));
    bt->t.work = batch_work;
    bt->t.done = batch_done;
    bt->w = w;
    bt->release_rc = SL_OK;
    bt->batch = w->batch;
    w->batch = ledger_batch_new();
    bt->runs = w->done_runs;
    bt->n_runs = w->n_done_runs;
    bt->rejects = w->rejects;
    bt->n_rejects = w->n_rejects;
    w->done_runs = NULL;
    w->rejects = NULL;
    w->n_done_runs = w->cap_done_runs = w->n_rejects = w->cap_rejects = 0;
    bt->fresh = xcalloc(bt->n_runs + 1, sizeof(bool));
    bt->release_ids = xcalloc(bt->n_runs + 1, sizeof(char *));
    for (size_t i = 0; i < bt->n_runs; i++)
        bt->release_ids[i] = bt->runs[i]->job->id;
    return bt;
}

/* Hands the batch to the batch writer, unless a write is out (the batch
 * grows meanwhile and goes next) or a failed one waits for its retry,
 * which goes first. */
static void flush_batch(struct worker *w)
{
    int64_t now = sl_now_ms();
    if (w->batch_writing)
        return;
    if (w->batch_retry) {
        if (now < w->write_retry_at_ms)
            return;
        struct batch_task *bt = w->batch_retry;
        w->batch_retry = NULL;
        w->batch_writing = true;
        ledger_writer_submit(w->batch_writer, &bt->t);
        return;
    }
    w->last_flush_ms = now;
    if (w->n_done_runs + w->n_rejects == 0)
        return;
    w->batch_writing = true;
    ledger_writer_submit(w->batch_writer, &take_batch(w)->t);
}

/* Makes everything finished durable before returning (a rebalance): waits
 * for the writes out, then writes what is left, a retry first. Gives up
 * after a failed attempt (the batch stays, nothing is acknowledged). */
static void flush_batch_now(struct worker *w)
{
    for (int round = 0; round < 3; round++) {
        ledger_writer_wait(w->batch_writer);
        if (!w->batch_retry && w->n_done_runs + w->n_rejects == 0)
            return;
        if (w->batch_retry && round > 0)
            return; /* it failed again */
        w->write_retry_at_ms = 0;
        flush_batch(w);
    }
    ledger_writer_wait(w->batch_writer);
}

static bool batch_due(const struct worker *w)
{
    if (w->batch_writing)
        return false;
    if (w->batch_retry)
        return true;
    size_t n = w->n_done_runs + w->n_rejects;
    if (n == 0)
        return false;
    return n >= (size_t)w->cfg->worker.batch_max_jobs ||
           sl_now_ms() - w->last_flush_ms >= w->cfg->worker.batch_flush_ms ||
           w->runs.draining;
}

/* ---- loop callbacks ------------------------------------------------------ */

static void on_revoke(void *arg)
{
    struct worker *w = arg;
    /* Whatever is finished becomes durable before the partitions go, so the
     * revoke commit covers it and the next owner does not redo it. */
    flush_batch_now(w);
}

static bool drained(const struct worker *w)
{
    return w->in_flight == 0 && w->parked_len == 0 && w->n_waiting == 0 &&
           w->awaiting_dlq == 0 &&
           w->n_done_runs + w->n_rejects == 0 && !w->batch_retry &&
           ledger_writer_pending(w->batch_writer) == 0 &&
           ledger_writer_pending(w->intent_writer) == 0;
}

static void stop_loop(struct worker *w)
{
    flush_releases(w);
    uv_timer_stop(&w->tick);
    uv_poll_stop(&w->kafka_poll);
    uv_check_stop(&w->flush_check);
    uv_close((uv_handle_t *)&w->flush_check, NULL);
    ledger_writer_close(w->intent_writer);
    ledger_writer_close(w->batch_writer);
    w->intent_writer = w->batch_writer = NULL;
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->kafka_poll, NULL);
    uv_close((uv_handle_t *)&w->sigterm, NULL);
    uv_close((uv_handle_t *)&w->sigint, NULL);
    uv_close((uv_handle_t *)&w->sighup, NULL);
    http_multi_close(w->http);
    w->http = NULL;
}

/* New tier-0 models, and withdrawals by the live guarantee, reach every
 * worker within this period. */
#define TIER0_REFRESH_MS 2000

static void refresh_tier0(struct worker *w)
{
    char err[512];
    int withdrawn = 0;
    w->tier0_refresh_at_ms = sl_now_ms() + TIER0_REFRESH_MS;
    bool ok = tier0_live_refresh(w->tier0, w->db, &withdrawn, err,
                                 sizeof(err)) == SL_OK;
    if (!ok)
        log_warn("tier0 refresh failed, serving what was loaded: %s", err);
    metrics_serve_set_health(w->metrics, METRICS_CHECK_DB, ok);
    w->tier0_withdrawals += (uint64_t)withdrawn;
}

/* Lag and Kafka health for /metrics and /healthz, from cached state. */
#define METRICS_SAMPLE_MS 1000

static void sample_metrics(struct worker *w)
{
    w->metrics_at_ms = sl_now_ms() + METRICS_SAMPLE_MS;
    int64_t lag = kconsumer_lag(w->consumer);
    if (lag >= 0)
        metrics_set(telemetry()->consumer_lag, (double)lag, NULL, NULL, NULL);
    metrics_serve_set_health(w->metrics, METRICS_CHECK_KAFKA,
                             kconsumer_healthy(w->consumer));
}

/* Every finished job must be written before the spend is re-read, or its
 * cost would drop out of this worker's view (budget_refresh). */
static void refresh_budget(struct worker *w)
{
    char err[512];
    int64_t now = sl_now_ms();
    if (!budget_enabled(w->budget) || now < w->budget_refresh_at_ms ||
        w->n_done_runs > 0 || w->batch_writing || w->batch_retry)
        return;
    w->budget_refresh_at_ms = now + w->cfg->budgets.refresh_ms;
    if (budget_refresh(w->budget, w->db, now, err, sizeof(err)) != SL_OK)
        log_warn("budget refresh failed, keeping the last view: %s", err);
}

/* The drift check reads a week of cost lines: it runs in libuv's thread
 * pool on a connection of its own, never on the loop. */
static void drift_work(uv_work_t *req)
{
    struct worker *w = req->data;
    char err[512];
    int rc = SL_OK;
    if (!w->drift_db)
        w->drift_db = db_open(w->cfg->pg_conninfo, "sluice-worker-drift", err,
                              sizeof(err));
    else
        rc = db_ensure_connected(w->drift_db, err, sizeof(err));
    if (w->drift_db && rc == SL_OK)
        rc = cost_drift_check(w->drift_db, &w->cfg->alerts, sl_now_ms(), NULL,
                              err, sizeof(err));
    if (!w->drift_db || rc != SL_OK)
        log_warn("cost drift check failed: %s", err);
}

static void drift_done(uv_work_t *req, int status)
{
    struct worker *w = req->data;
    (void)status;
    w->drift_running = false;
}

static void check_cost_drift(struct worker *w)
{
    int64_t now = sl_now_ms();
    if (w->cfg->alerts.check_every_s == 0 || w->drift_running ||
        w->runs.draining || now < w->drift_check_at_ms)
        return;
    w->drift_check_at_ms = now + w->cfg->alerts.check_every_s * 1000LL;
    w->drift_req.data = w;
    if (uv_queue_work(&w->loop, &w->drift_req, drift_work, drift_done) == 0)
        w->drift_running = true;
}

static void on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    kproducer_poll(w->dlq);
    if (sl_now_ms() >= w->metrics_at_ms)
        sample_metrics(w);
    if (sl_now_ms() >= w->tier0_refresh_at_ms && !w->runs.draining)
        refresh_tier0(w);
    if (!w->runs.draining)
        drain_consumer(w);
    recheck_waiting(w);
    flush_calls(w);
    if (batch_due(w))
        flush_batch(w);
    cache_tick(w->runs.cache, w->db, w->cfg, sl_now_ms());
    renew_claims(w);
    refresh_budget(w);
    check_cost_drift(w);
    if (w->runs.draining && drained(w))
        stop_loop(w);
}

/* After every pass of the loop: calls queued in it get their intents
 * written at once rather than at the next tick. */
static void on_flush_check(uv_check_t *c)
{
    struct worker *w = c->data;
    flush_calls(w);
    if (batch_due(w))
        flush_batch(w);
}

static void on_kafka_readable(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    drain_consumer(p->data);
}

static void start_drain(struct worker *w)
{
    w->runs.draining = true;
    log_info("draining: %zu jobs in flight, %zu parked, %zu waiting to be "
             "written", w->in_flight, w->parked_len,
             w->n_done_runs + w->n_rejects);
    release_parked(w);
    /* Cut retry waits short: a draining run takes no new call. */
    for (struct retry_wait *wait = w->runs.waits; wait; wait = wait->next)
        uv_timer_start(&wait->timer, wait->timer.timer_cb, 0, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct worker *w = s->data;
    if (w->runs.draining) {
        log_warn("second signal %d: exiting without draining", signum);
        _exit(1);
    }
    log_info("signal %d: stopping consumption", signum);
    start_drain(w);
}

/* A reload swaps the config in force; what was built from the old one
 * (budget state, tier-0 models) is built again. Runs in flight keep the
 * tasks they borrowed: the holder keeps old configs alive. */
static void apply_config(struct worker *w)
{
    const struct config *cfg = w->config.current;
    w->cfg = cfg;
    config_apply_log_level(cfg);
    budget_free(w->budget);
    w->budget = budget_new(cfg);
    refresh_budget(w);
    tier0_live_free(w->tier0);
    w->tier0 = tier0_live_new(cfg);
    refresh_tier0(w);
    w->runs.cfg = cfg;
    w->runs.budget = w->budget;
    w->runs.tier0 = w->tier0;
}

static void on_reload(uv_signal_t *s, int signum)
{
    struct worker *w = s->data;
    char err[1024];
    (void)signum;
    if (config_holder_reload(&w->config, err, sizeof(err)) != SL_OK) {
        log_error("reload: %s; keeping the running config", err);
        return;
    }
    apply_config(w);
    log_info("reload: %s applied (%zu tasks, %zu tiers)", w->config.path,
             w->cfg->n_tasks, w->cfg->n_tiers);
}

/* ---- setup and teardown -------------------------------------------------- */

static int open_services(struct worker *w, char *err, size_t err_size)
{
    const struct config *cfg = w->cfg;
    long max_conn = 1;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].max_concurrency > max_conn)
            max_conn = cfg->providers[i].max_concurrency;

    w->db = db_open(cfg->pg_conninfo, "sluice-worker", err, err_size);
    if (!w->db)
        return SL_EDB;
    w->batch_writer = ledger_writer_new(&w->loop, cfg->pg_conninfo,
                                        "sluice-worker-ledger");
    w->intent_writer = ledger_writer_new(&w->loop, cfg->pg_conninfo,
                                         "sluice-worker-intents");
    w->dlq = kproducer_new_for_copies(&cfg->kafka,
                                      cfg->kafka.dlq_max_message_bytes, err,
                                      err_size);
    if (!w->dlq)
        return SL_EKAFKA;
    w->consumer = kconsumer_new(&cfg->kafka, err, err_size);
    if (!w->consumer)
        return SL_EKAFKA;
    kconsumer_set_revoke_hook(w->consumer, on_revoke, w);
    w->http = http_multi_new(&w->loop, max_conn);
    w->batch = ledger_batch_new();
    w->parked_cap = PARKED_PER_SLOT * (size_t)cfg->worker.max_in_flight;
    if (w->parked_cap < PARKED_MIN)
        w->parked_cap = PARKED_MIN;
    w->parked = xcalloc(w->parked_cap, sizeof(*w->parked));
    w->tier0 = tier0_live_new(cfg);
    refresh_tier0(w);
    w->budget = budget_new(cfg);
    refresh_budget(w);
    claims_owner_token(w->claim_owner, sizeof(w->claim_owner));
    /* Call ids "sl<pid>x<start>-<n>": unique per process and run, ASCII. */
    snprintf(w->call_id_prefix, sizeof(w->call_id_prefix), "sl%ldx%llx",
             (long)getpid(), (unsigned long long)sl_now_ms());
    w->runs = (struct job_run_host){
        .cfg = cfg, .loop = &w->loop, .http = w->http, .budget = w->budget,
        .tier0 = w->tier0, .finished = run_finished, .released = run_released,
        .call_id_prefix = w->call_id_prefix, .queue_call = queue_call,
        .cache = cache_new((size_t)cfg->worker.cache_lru_entries),
    };
    return SL_OK;
}

static void init_handles(struct worker *w)
{
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    uv_check_init(&w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_start(&w->flush_check, on_flush_check);
    uv_poll_init(&w->loop, &w->kafka_poll, kconsumer_fd(w->consumer));
    w->kafka_poll.data = w;
    uv_poll_start(&w->kafka_poll, UV_READABLE, on_kafka_readable);
    uv_signal_init(&w->loop, &w->sigterm);
    uv_signal_init(&w->loop, &w->sigint);
    uv_signal_init(&w->loop, &w->sighup);
    w->sigterm.data = w->sigint.data = w->sighup.data = w;
    uv_signal_start(&w->sigterm, on_signal, SIGTERM);
    uv_signal_start(&w->sigint, on_signal, SIGINT);
    uv_signal_start(&w->sighup, on_reload, SIGHUP);
}

static void close_services(struct worker *w)
{
    kconsumer_close(w->consumer);
    kproducer_free(w->dlq);
    cache_close(w->runs.cache, w->db);
    w->runs.cache = NULL; /* runs freed below must not reach it */
    db_close(w->db);
    ledger_batch_free(w->batch);
    if (w->batch_retry)
        batch_task_free(w->batch_retry);
    for (size_t i = 0; i < w->n_done_runs; i++)
        job_run_free(w->done_runs[i]);
    free(w->done_runs);
    free(w->rejects);
    free(w->parked);
    for (size_t i = 0; i < w->n_waiting; i++)
        job_free(w->waiting[i].job);
    free(w->waiting);
    for (size_t i = 0; i < w->n_release; i++)
        free(w->release_ids[i]);
    free(w->release_ids);
    for (size_t i = 0; i < w->n_to_send; i++)
        job_run_free(w->to_send[i]);
    free(w->to_send);
    tier0_live_free(w->tier0);
    budget_free(w->budget);
    db_close(w->drift_db);
    config_holder_free(&w->config);
}

int worker_run(const struct config *cfg, const char *config_path)
{
    struct worker w;
    char err[512] = "";
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    config_holder_init(&w.config, config_path, cfg);
    if (metrics_serve_start(cfg, &w.metrics, err, sizeof(err)) != SL_OK) {
        log_error("worker start failed: %s", err);
        return 1;
    }
    uv_loop_init(&w.loop);
    if (open_services(&w, err, sizeof(err)) != SL_OK) {
        log_error("worker start failed: %s", err);
        ledger_writer_close(w.intent_writer);
        ledger_writer_close(w.batch_writer);
        http_multi_close(w.http);
        uv_run(&w.loop, UV_RUN_DEFAULT);
        close_services(&w);
        uv_loop_close(&w.loop);
        metrics_serve_stop(w.metrics);
        return 1;
    }
    init_handles(&w);
    log_info("worker consuming %s as group %s", cfg->kafka.topic,
             cfg->kafka.group_id);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    log_info("worker stopped: %llu answered (%llu at tier 0, %llu of them "
             "shadow-checked), %llu failed, %llu rejected, %llu tier-0 "
             "withdrawals, %llu deferred to the scheduler, %llu handed over "
             "unstarted, %llu already done, %llu duplicates acknowledged "
             "after waiting, %llu released at shutdown",
             (unsigned long long)w.jobs_answered,
             (unsigned long long)w.jobs_tier0,
             (unsigned long long)w.runs.tier0_shadowed,
             (unsigned long long)w.jobs_failed,
             (unsigned long long)w.jobs_rejected,
             (unsigned long long)w.tier0_withdrawals,
             (unsigned long long)w.jobs_deferred,
             (unsigned long long)w.jobs_handed_over,
             (unsigned long long)w.jobs_skipped,
             (unsigned long long)w.jobs_waited,
             (unsigned long long)w.runs_released);
    close_services(&w);
    metrics_serve_stop(w.metrics);
    int rc = uv_loop_close(&w.loop);
    if (rc != 0)
        log_warn("event loop closed with handles open: %s", uv_strerror(rc));
    return w.exit_code;
}
