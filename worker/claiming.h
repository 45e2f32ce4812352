/* claiming.h — the worker's claim step (the queries are claims.h): one
 * provider call per job id. A micro-batch's ids are claimed in one round
 * trip; done jobs are only acknowledged, claimed ones parked (parked.h),
 * the others wait (struct worker's waiting[]) for the claim's holder and
 * ask again. The worker's claims are renewed well within their lease and
 * deleted once what their job left is durable (claiming_release.h).
 *
 * Loop thread only. claiming_sort() takes the jobs it is given (each ends
 * parked, waiting or freed). */
#ifndef SL_WORKER_CLAIMING_H
#define SL_WORKER_CLAIMING_H

#include <stdbool.h>
#include <stddef.h>

struct worker;
struct parked_job;

/* Claims jobs[0..n) (n <= INTAKE_CHUNK) and sorts them; the cache reads
 * the claimed ones' entries first (cache_prefetch). Without an answer from
 * PostgreSQL all wait. waited: they are copies that had been waiting (for
 * the metrics). */
void claiming_sort(struct worker *w, struct parked_job *jobs, size_t n,
                   bool waited);

/* At most every CLAIM_RECHECK_MS: asks again for the waiting copies; those
 * of a partition this worker lost are dropped. */
void claiming_recheck_waiting(struct worker *w);

/* Every third of worker.claim_lease_ms: renews all claims of this worker,
 * then retries the releases queued so far. */
void claiming_renew(struct worker *w);

#endif
