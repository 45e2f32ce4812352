/* claiming_release.c — see claiming_release.h. */
#include "claiming_release.h"

#include <stdlib.h>

#include "claims.h"
#include "log.h"
#include "worker_base.h"
#include "worker_internal.h"

/* A claim to delete once what its job left is durable
 * (claiming_flush_releases). */
void claiming_queue_release(struct worker *w, const char *job_id)
{
    worker_push_ptr((void ***)&w->release_ids, &w->n_release, &w->cap_release,
                    xstrdup(job_id));
}

void claiming_flush_releases(struct worker *w)
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
