/* worker_base.c — see worker_base.h. */
#include "worker_base.h"

#include "worker_internal.h"

struct worker *worker_of(struct job_run_host *host)
{
    return (struct worker *)((char *)host - offsetof(struct worker, runs));
}

void worker_push_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *arr = xrealloc(*arr, *cap * sizeof(void *));
    }
    (*arr)[(*n)++] = p;
}
