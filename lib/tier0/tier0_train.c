/* tier0_train.c — see tier0_train.h. */
#include "tier0_train.h"

#include <stdlib.h>
#include <string.h>

#include "tier0_store.h"

#define MS_PER_DAY (24LL * 3600 * 1000)

static void resolve_opts(const struct task_conf *task,
                         const struct tier0_train_opts *in,
                         struct tier0_train_opts *o)
{
    *o = in ? *in : (struct tier0_train_opts){0, 0, 0};
    if (!(o->target > 0 && o->target < 1))
        o->target = task->tier0_target;
    if (o->seed == 0)
        o->seed = 1;
    if (o->max_traces == 0)
        o->max_traces = TIER0_TRAIN_MAX_TRACES;
}

static int prune(struct db *db, const struct task_conf *task,
                 struct tier0_train_report *out, char *errstr,
                 size_t errstr_size)
{
    if (task->tier0_trace_retention_days <= 0)
        return SL_OK;
    int64_t cutoff = sl_now_ms() - task->tier0_trace_retention_days * MS_PER_DAY;
    return tier0_store_prune_traces(db, task->name, cutoff, TIER0_PRUNE_BATCH,
                                    &out->pruned, errstr, errstr_size);
}

/* The procedure of tier0_certify.h, the same one ops/bench-tier0
 * measures: the served model is certified on traces it never saw. */
static int fit(const struct tier0_trace_set *s, const struct task_conf *task,
               const struct tier0_train_opts *o, struct tier0_train_report *out,
               char *errstr, size_t errstr_size)
{
    struct tier0_train_params p;
    tier0_train_params_default(&p);
    struct tier0_cert_opts co;
    tier0_cert_opts_default(&co);
    co.target = o->target;
    co.seed = o->seed;
    co.fallback = task->tier0_fallback_label;
    co.floor_quantile = task->tier0_oos_floor_quantile;
    struct tier0_data *d = NULL;
    int rc = tier0_data_new(&p.feat, (const char *const *)s->texts,
                            (const char *const *)s->labels, s->n, &d, errstr,
                            errstr_size);
    if (rc == SL_OK)
        rc = tier0_cert_build(d, NULL, &p, &co, &out->model, &out->cert, errstr,
                              errstr_size);
    tier0_data_free(d);
    return rc;
}

int tier0_train_task_opts(const struct config *cfg, struct db *db,
                          const char *task_name,
                          const struct tier0_train_opts *opts,
                          struct tier0_train_report *out, char *errstr,
                          size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = sl_monotonic_us();
    const struct task_conf *task = config_task(cfg, task_name);
    if (!task || task->output != OUTPUT_LABEL) {
        snprintf(errstr, errstr_size, "task %s: %s", task_name,
                 task ? "not a label task" : "no such task in the config");
        return SL_EINVAL;
    }
    struct tier0_train_opts o;
    resolve_opts(task, opts, &o);
    struct tier0_trace_set s = {0};
    int rc = prune(db, task, out, errstr, errstr_size);
    if (rc == SL_OK)
        rc = tier0_store_load_traces(db, task->name, o.max_traces, &s, errstr,
                                     errstr_size);
    out->traces = s.n;
    if (rc == SL_OK && s.n < TIER0_TRAIN_MIN_TRACES) {
        snprintf(errstr, errstr_size, "task %s: %zu traces, need at least %d",
                 task->name, s.n, TIER0_TRAIN_MIN_TRACES);
        rc = SL_EINVAL;
    }
    if (rc == SL_OK)
        rc = fit(&s, task, &o, out, errstr, errstr_size);
    if (rc == SL_OK)
        rc = tier0_store_save(db, task->name, out->model, &out->cert,
                              &out->version, errstr, errstr_size);
    tier0_trace_set_clear(&s);
    out->train_s = (double)(sl_monotonic_us() - t0) / 1e6;
    return rc;
}

int tier0_train_task(const struct config *cfg, struct db *db, const char *task,
                     struct tier0_train_report *out, char *errstr,
                     size_t errstr_size)
{
    return tier0_train_task_opts(cfg, db, task, NULL, out, errstr, errstr_size);
}

void tier0_train_report_clear(struct tier0_train_report *r)
{
    if (!r)
        return;
    tier0_cert_clear(&r->cert);
    tier0_model_free(r->model);
    memset(r, 0, sizeof *r);
}

void tier0_train_report_print(FILE *f, const char *task,
                              const struct tier0_train_report *r)
{
    fprintf(f, "task=%s version=%lld traces=%zu pruned=%llu labels=%zu "
            "certify_rows=%zu train_s=%.2f\n", task, (long long)r->version,
            r->traces, (unsigned long long)r->pruned,
            r->model ? tier0_model_n_labels(r->model) : 0, r->cert.n_traces,
            r->train_s);
    if (r->model)
        tier0_cert_print(f, &r->cert, r->model);
}
