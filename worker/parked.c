/* parked.c — see parked.h. */
#include "parked.h"

#include <stdlib.h>

#include "claiming_release.h"
#include "worker_internal.h"

/* Appends to the parked ring. The ring is sized so that intake pauses
 * before it fills; it still grows if a paused consumer hands over a
 * message, because a job must never be dropped. */
void parked_push(struct worker *w, const struct parked_job *job)
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

/* Gives free slots to parked jobs, oldest first. Re-entry (a run that ends
 * inside job_run_start) is left to the outer loop. */
void parked_start(struct worker *w)
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
            claiming_queue_release(w, p.job->id);
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
void parked_release(struct worker *w)
{
    for (size_t i = 0; i < w->n_waiting; i++)
        job_free(w->waiting[i].job);
    w->n_waiting = 0;
    while (w->parked_len > 0) {
        claiming_queue_release(w, w->parked[w->parked_head].job->id);
        job_free(w->parked[w->parked_head].job);
        w->parked_head = (w->parked_head + 1) % w->parked_cap;
        w->parked_len--;
    }
}
