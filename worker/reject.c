/* reject.c — see reject.h.
 *
 * Every rejected message goes to the DLQ with its original key and headers
 * plus the reason headers. One larger than kafka.dlq_max_message_bytes, or
 * refused by the broker as too large, goes as a truncated copy (headers
 * give the original size and SHA-256; the whole payload stays in the
 * rejected row). Other failures are retried with a doubling delay on a
 * timer, never from inside the failure: DLQ_MAX_ATTEMPTS in all. */
#include "reject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "log.h"
#include "worker_base.h"
#include "worker_internal.h"

#define DLQ_MAX_ATTEMPTS 5
#define HDR_REASON "sluice-reject-reason"
#define HDR_CODE "sluice-reject-code"
#define DLQ_RETRY_BASE_MS 200
#define DLQ_MIN_COPY_BYTES 1024
#define HDR_TRUNCATED "sluice-truncated"
#define HDR_ORIG_SIZE "sluice-original-size"
#define HDR_ORIG_SHA "sluice-original-sha256"
#define HDR_SOURCE "sluice-source"

static void send_to_dlq(struct reject_item *r);

static void on_reject_timer_closed(uv_handle_t *h)
{
    struct reject_item *r = h->data;
    free(r);
}

void reject_free(struct reject_item *r)
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
    worker_push_ptr((void ***)&w->rejects, &w->n_rejects, &w->cap_rejects, r);
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

void reject_message(struct worker *w, const rd_kafka_message_t *m,
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
