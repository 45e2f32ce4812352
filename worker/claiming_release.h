/* claiming_release.h — the worker's claims to delete (struct worker's
 * release_ids): a claim is queued once what its job left is durable or
 * the job is given up (handed over, released at shutdown), and the queue
 * is deleted in one statement (claims_release, claims.h), kept and
 * retried on failure. Below claiming.c, parked.c, results.c and shutdown.c,
 * which use it (its own module because parked.c queues too, and claiming.c
 * calls parked.c).
 *
 * Loop thread only. Queued ids are copied; the queue owns them. */
#ifndef SL_WORKER_CLAIMING_RELEASE_H
#define SL_WORKER_CLAIMING_RELEASE_H

struct worker;

/* Queues job_id's claim for deletion (claiming_flush_releases). */
void claiming_queue_release(struct worker *w, const char *job_id);

/* Deletes the queued claims in one statement; kept on failure. */
void claiming_flush_releases(struct worker *w);

#endif
