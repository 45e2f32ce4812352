/* cache_entry.c — see cache_entry.h. */
#include "cache_entry.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/telemetry.h"
#include "sl.h"

void cache_count(const char *task, const char *event)
{
    metrics_count(telemetry()->cache_events, 1, task, event, NULL);
}

struct entry_near *cache_entry_near_new(const struct cache_sketch *sk)
{
    struct entry_near *n = xcalloc(1, sizeof(*n));
    n->sketch = *sk;
    return n;
}

void cache_entry_free(struct entry *e)
{
    free(e->near);
    free(e->task);
    free(e->tenant);
    free(e->label);
    free(e->data_json);
    free(e->text_output);
    free(e->provider);
    free(e->model);
    free(e);
}

struct entry *cache_entry_new(const char *key, const char *version,
                              const char *task, const char *tenant)
{
    struct entry *e = xcalloc(1, sizeof(*e));
    sl_strlcpy(e->key, key, sizeof(e->key));
    sl_strlcpy(e->version, version, sizeof(e->version));
    e->task = xstrdup(task);
    e->tenant = xstrdup(tenant ? tenant : "");
    return e;
}

const char *cache_scope_of(const struct job *job)
{
    return job->task->cache_shared || !job->tenant ? "" : job->tenant;
}

bool cache_entry_fresh(const struct entry *e, const struct task_conf *task,
                       int64_t now_ms)
{
    return now_ms - e->created_ms < task->cache_ttl_s * 1000;
}

void cache_fill_hit(const struct entry *e, struct cache_hit *hit)
{
    *hit = (struct cache_hit){
        .label = e->label ? xstrdup(e->label) : NULL,
        .data_json = e->data_json ? xstrdup(e->data_json) : NULL,
        .text_output = e->text_output ? xstrdup(e->text_output) : NULL,
        .confidence = e->confidence, .has_confidence = e->has_confidence,
        .tier = e->tier, .provider = xstrdup(e->provider),
        .model = xstrdup(e->model),
    };
}

/* The version key of task under cfg, memoised for the config in force.
 * A config is never freed while the worker runs (the reload holder keeps
 * every config a job may still borrow), so its task pointers are not
 * reused for another task. */
static void version_of(struct cache *c, const struct config *cfg,
                       const struct task_conf *task, char out[CACHE_KEY_HEX])
{
    if (c->memo_cfg != cfg) {
        c->memo_cfg = cfg;
        c->n_memo = 0;
    }
    for (size_t i = 0; i < c->n_memo; i++)
        if (c->memo[i].task == task) {
            memcpy(out, c->memo[i].version, CACHE_KEY_HEX);
            return;
        }
    cache_key_version(cfg, task, out);
    c->memo = xrealloc(c->memo, (c->n_memo + 1) * sizeof(*c->memo));
    c->memo[c->n_memo].task = task;
    memcpy(c->memo[c->n_memo++].version, out, CACHE_KEY_HEX);
}

/* The job's version and entry keys. */
void cache_job_keys(struct cache *c, const struct config *cfg,
                    const struct job *job, char version[CACHE_KEY_HEX],
                    char key[CACHE_KEY_HEX])
{
    char *norm = xmalloc(job->input_len + 1);
    size_t len = cache_key_normalize(job->input, job->input_len, norm,
                                     job->input_len + 1);
    version_of(c, cfg, job->task, version);
    cache_key_entry(version, cache_scope_of(job), norm, len, key);
    free(norm);
}
