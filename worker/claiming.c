/* claiming.c — see claiming.h. */
#include "claiming.h"

#include <stdlib.h>

#include "cache.h"
#include "claiming_release.h"
#include "claims.h"
#include "log.h"
#include "parked.h"
#include "worker_internal.h"

/* A copy of a job claimed elsewhere asks again this often: about the time
 * a ledger batch takes to land, so it is acknowledged soon after. */
#define CLAIM_RECHECK_MS 200

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
void claiming_sort(struct worker *w, struct parked_job *jobs, size_t n,
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
            parked_push(w, p);
            break;
        case CLAIM_BUSY:
            wait_job(w, p);
            break;
        }
    }
}

/* Asks again for the copies waiting on another claim: the result may be in
 * now (acknowledge), or the claim released or lapsed (run it). Copies of a
 * partition this worker lost are dropped: their new owner reads them. */
void claiming_recheck_waiting(struct worker *w)
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
        claiming_sort(w, batch + i, kept - i < INTAKE_CHUNK ? kept - i
                                                           : INTAKE_CHUNK, true);
    free(batch);
    parked_start(w);
}

/* One statement keeps every claim of this worker alive, well before its
 * lease runs out; a worker that stops renewing (dead, or cut off from
 * PostgreSQL) loses its claims to whoever asks after the lease. */
void claiming_renew(struct worker *w)
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
    claiming_flush_releases(w);
}
