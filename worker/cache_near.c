/* cache_near.c — see cache_near.h. */
#include "cache_near.h"

#include <string.h>

#include "cache_entry.h"
#include "cache_lsh.h"
#include "cache_pg.h"
#include "log.h"
#include "sl.h"

/* The task's verification state for version, (re)started at the task's
 * configured threshold when the version changed. */
struct cache_verify *cache_near_state(struct cache *c,
                                      const struct task_conf *task,
                                      const char *version)
{
    struct near_state *s = NULL;
    for (size_t i = 0; i < c->n_near; i++)
        if (strcmp(c->near[i].task, task->name) == 0)
            s = &c->near[i];
    if (!s) {
        c->near = xrealloc(c->near, (c->n_near + 1) * sizeof(*c->near));
        s = &c->near[c->n_near++];
        s->task = xstrdup(task->name);
        s->version[0] = '\0';
    }
    if (strcmp(s->version, version) != 0) {
        sl_strlcpy(s->version, version, sizeof(s->version));
        cache_verify_init(&s->v, task->cache_near_threshold);
        s->load_at_ms = 0;
    }
    return &s->v;
}

double cache_near_threshold(const struct cache *c, const char *task)
{
    for (size_t i = 0; i < c->n_near; i++)
        if (strcmp(c->near[i].task, task) == 0)
            return c->near[i].v.stopped ? -1.0 : c->near[i].v.threshold;
    return -1.0;
}

void cache_record_check(struct cache *c, const struct task_conf *task,
                        const char *version, double similarity, bool agreed)
{
    struct cache_verify *v = cache_near_state(c, task, version);
    double before = v->threshold;
    cache_count(task->name, "check");
    if (!agreed)
        cache_count(task->name, "disagreement");
    switch (cache_verify_record(v, similarity, agreed, task->cache_max_false_hit)) {
    case CV_NONE:
        break;
    case CV_TIGHTENED:
        cache_count(task->name, "tightened");
        log_warn("cache: task %s: near-duplicate disagreement bound above %g; "
                 "threshold tightened from %.2f to %.2f", task->name,
                 task->cache_max_false_hit, before, v->threshold);
        break;
    case CV_STOPPED:
        cache_count(task->name, "stopped");
        log_warn("cache: task %s: near-duplicate disagreement bound above %g "
                 "at every threshold; near-duplicate hits stopped",
                 task->name, task->cache_max_false_hit);
        break;
    }
}

enum cache_decision cache_near_lookup(struct cache *c, const struct job *job,
                                      int64_t now_ms, double u,
                                      struct cache_hit *hit,
                                      struct cache_probe *probe)
{
    const struct task_conf *task = job->task;
    struct cache_verify *v = cache_near_state(c, task, probe->version);
    if (v->stopped)
        return CACHE_MISS;
    struct cache_sketch sk;
    cache_sim_sketch(job->input, job->input_len, &sk);
    double sim;
    struct entry *e = cache_lsh_nearest(c, job, probe->version, &sk, now_ms, &sim);
    if (!e || !e->label || sim + 1e-9 < v->threshold)
        return CACHE_MISS;
    probe->similarity = sim;
    probe->threshold = v->threshold;
    if (cache_verify_serving(v) && u >= task->cache_verify_share) {
        cache_fill_hit(e, hit);
        hit->near = true;
        hit->similarity = sim;
        cache_touch(c, e);
        cache_count(task->name, "near_hit");
        return CACHE_HIT;
    }
    /* Not served (no bound yet), or sampled for verification: the ladder
     * answers and its answer is compared with the candidate's. */
    probe->has_candidate = true;
    probe->served = cache_verify_serving(v);
    probe->candidate_label = xstrdup(e->label);
    return CACHE_MISS;
}
