/* tier0_certify.c — see tier0_certify.h. */
#include "tier0_certify.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define NEVER 2.0 /* a threshold no score reaches */

/* ---- Clopper-Pearson ---- */

/* Continued fraction of the incomplete beta (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1), h;
    d = fabs(d) < tiny ? tiny : d;
    d = 1 / d;
    h = d;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        for (int half = 0; half < 2; half++) {
            d = 1 + num * d;
            d = fabs(d) < tiny ? tiny : d;
            c = 1 + num / c;
            c = fabs(c) < tiny ? tiny : c;
            d = 1 / d;
            h *= d * c;
            num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        }
        if (fabs(d * c - 1) < 1e-15)
            break;
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b). */
static double beta_reg(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) +
                       b * log1p(-x));
    /* The fraction converges fast only below the mean; use the symmetry
     * I_x(a,b) = 1 - I_{1-x}(b,a) above it. */
    if (x < (a + 1) / (a + b + 2))
        return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

/* P(X <= x) for X ~ Binomial(n, p), x < n. */
static double binom_cdf(uint64_t x, uint64_t n, double p)
{
    return beta_reg((double)(n - x), (double)x + 1, 1 - p);
}

double tier0_cp_upper(uint64_t x, uint64_t n, double alpha)
{
    if (n == 0 || x >= n)
        return 1;
    double lo = (double)x / (double)n, hi = 1;
    /* The CDF falls as p grows; keep hi on the side where it is <= alpha so
     * the returned bound errs upward. */
    for (int i = 0; i < 200 && hi - lo > 1e-12; i++) {
        double mid = (lo + hi) / 2;
        if (binom_cdf(x, n, mid) > alpha)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* ---- selection ---- */

struct ranked {
    double score;
    size_t i;
};

static int cmp_score_desc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* A label's threshold: the pooled one, or its own floor when higher. */
static double label_threshold(double pooled, double floor)
{
    return floor > pooled ? floor : pooled;
}

/* The lowest pooled threshold whose answer set (each label above its
 * floor too) meets the bound; NEVER when none does. */
static double scan_threshold(const struct tier0_oof *oof, const size_t *order,
                             size_t n, const double *floor, double target)
{
    double best = NEVER, risk = 1 - target;
    uint64_t k = 0, x = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tier0_oof *o = &oof[order[i]];
        if (o->score < floor[o->pred])
            continue;
        k++;
        x += o->pred != o->y;
        /* A threshold cannot split tied scores: test only at a group end. */
        size_t j = i + 1;
        while (j < n && oof[order[j]].score < floor[oof[order[j]].pred])
            j++;
        if (j < n && oof[order[j]].score == o->score)
            continue;
        if ((double)x <= risk * (double)k && tier0_cp_upper(x, k, TIER0_ALPHA) <= risk)
            best = o->score;
    }
    return best;
}

static void count_labels(const struct tier0_oof *oof, size_t n,
                         const double *floor, double t, struct tier0_cert *c)
{
    memset(c->labels, 0, c->n_labels * sizeof *c->labels);
    c->n_answered = c->n_disagree = 0;
    for (size_t i = 0; i < n; i++) {
        struct tier0_label_cert *l = &c->labels[oof[i].pred];
        l->support++;
        if (oof[i].score < label_threshold(t, floor[oof[i].pred]))
            continue;
        l->answered++;
        l->agreed += oof[i].pred == oof[i].y;
        c->n_answered++;
        c->n_disagree += oof[i].pred != oof[i].y;
    }
}

/* The lowest score s >= from (at the end of a tie group) at which label k's
 * own answer set {pred == k, score >= s} is not clearly below target (upper
 * bound of its agreement >= target); NEVER when there is none. Always above
 * `from` when the set at `from` itself is clearly below. */
static double raised_floor(const struct tier0_oof *oof, const size_t *order,
                           size_t n, int k, double from, double target)
{
    double best = NEVER;
    uint64_t seen = 0, agreed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tier0_oof *o = &oof[order[i]];
        if (o->pred != k)
            continue;
        if (o->score < from)
            break;
        seen++;
        agreed += o->y == k;
        size_t j = i + 1;
        while (j < n && oof[order[j]].pred != k)
            j++;
        if (j < n && oof[order[j]].score == o->score)
            continue;
        if (tier0_cp_upper(agreed, seen, TIER0_ALPHA) >= target)
            best = o->score;
    }
    return best;
}

/* Per-label refinement: a label clearly below target inside the answer set
 * gets its own, higher threshold (its floor) where it is not, or is dropped
 * when no score gets it there. Raising a threshold only removes answers;
 * the pooled bound is then computed again over the union of every label's
 * answers, so the guarantee is still the one of the whole answer set.
 * Returns whether any floor rose. */
static bool raise_floors(const struct tier0_oof *oof, const size_t *order,
                         size_t n, double t, struct tier0_cert *c, double *floor)
{
    bool changed = false;
    for (size_t k = 0; k < c->n_labels; k++) {
        const struct tier0_label_cert *l = &c->labels[k];
        if (floor[k] > 1 || l->answered == 0 ||
            tier0_cp_upper(l->agreed, l->answered, TIER0_ALPHA) >= c->target)
            continue;
        floor[k] = raised_floor(oof, order, n, (int)k, label_threshold(t, floor[k]),
                                c->target);
        changed = true;
    }
    return changed;
}

static void finish_cert(struct tier0_cert *c, const double *floor)
{
    c->coverage = c->n_traces ? (double)c->n_answered / (double)c->n_traces : 0;
    c->agreement = c->n_answered ? 1 - (double)c->n_disagree / (double)c->n_answered : 0;
    c->bound = tier0_cp_upper(c->n_disagree, c->n_answered, TIER0_ALPHA);
    bool any = false;
    for (size_t k = 0; k < c->n_labels; k++) {
        struct tier0_label_cert *l = &c->labels[k];
        l->certified = floor[k] <= 1 && l->answered > 0 && c->threshold <= 1;
        l->threshold = l->certified ? label_threshold(c->threshold, floor[k]) : NEVER;
        l->agreement = l->answered ? (double)l->agreed / (double)l->answered : 0;
        l->coverage = l->support ? (double)l->answered / (double)l->support : 0;
        any = any || l->certified;
    }
    c->certified = any && c->bound <= 1 - c->target;
    if (!c->certified) {
        for (size_t k = 0; k < c->n_labels; k++) {
            c->labels[k].certified = false;
            c->labels[k].threshold = NEVER;
        }
        c->threshold = NEVER;
    }
}

static size_t *order_by_score(const struct tier0_oof *oof, size_t n)
{
    struct ranked *r = xmalloc((n ? n : 1) * sizeof *r);
    size_t *order = xmalloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++)
        r[i] = (struct ranked){oof[i].score, i};
    qsort(r, n, sizeof *r, cmp_score_desc);
    for (size_t i = 0; i < n; i++)
        order[i] = r[i].i;
    free(r);
    return order;
}

int tier0_cert_select(const struct tier0_oof *oof, size_t n, size_t n_labels,
                      double target, struct tier0_cert *out)
{
    memset(out, 0, sizeof *out);
    if (!(target > 0 && target < 1) || n_labels == 0)
        return SL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (oof[i].y < 0 || (size_t)oof[i].y >= n_labels || oof[i].pred < 0 ||
            (size_t)oof[i].pred >= n_labels)
            return SL_EINVAL;
    out->target = target;
    out->n_traces = n;
    out->n_labels = n_labels;
    out->labels = xcalloc(n_labels, sizeof *out->labels);
    size_t *order = order_by_score(oof, n);
    double *floor = xmalloc(n_labels * sizeof *floor);
    for (size_t k = 0; k < n_labels; k++)
        floor[k] = -1; /* no floor: scores are >= 0 */
    /* Floors only rise, each to a higher score or out, so this ends. When
     * no threshold works yet, labels are judged over all their predictions:
     * one bad label must not keep the others out. */
    double t;
    do {
        out->threshold = scan_threshold(oof, order, n, floor, target);
        t = out->threshold <= 1 ? out->threshold : 0;
        count_labels(oof, n, floor, t, out);
    } while (raise_floors(oof, order, n, t, out, floor));
    count_labels(oof, n, floor, out->threshold, out);
    finish_cert(out, floor);
    free(order);
    free(floor);
    return SL_OK;
}

void tier0_cert_clear(struct tier0_cert *c)
{
    if (!c)
        return;
    free(c->labels);
    memset(c, 0, sizeof *c);
}

bool tier0_cert_answers(const struct tier0_cert *c, int label, double score)
{
    if (!c->certified || label < 0 || (size_t)label >= c->n_labels)
        return false;
    const struct tier0_label_cert *l = &c->labels[label];
    return l->certified && score >= l->threshold;
}

/* ---- k-fold ---- */

struct fold_job {
    const struct tier0_data *d;
    const struct tier0_train_params *params;
    const int *fold_of;
    int folds, first, step;
    struct tier0_oof *oof;
    int rc;
    char err[256];
};

static void *run_folds(void *arg)
{
    struct fold_job *j = arg;
    size_t n = tier0_data_count(j->d);
    bool *use = xmalloc(n * sizeof *use);
    for (int f = j->first; f < j->folds && j->rc == SL_OK; f += j->step) {
        for (size_t i = 0; i < n; i++)
            use[i] = j->fold_of[i] != f;
        struct tier0_model *m = NULL;
        j->rc = tier0_model_train(j->d, j->params, use, &m, j->err, sizeof j->err);
        for (size_t i = 0; m && i < n; i++) {
            if (use[i])
                continue;
            j->oof[i].y = tier0_data_y(j->d, i);
            tier0_model_predict_row(m, j->d, i, &j->oof[i].pred, &j->oof[i].score);
        }
        tier0_model_free(m);
    }
    free(use);
    return NULL;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Shuffles the rows, then deals each label's rows round-robin so every
 * fold sees every label in proportion. */
static int *stratified_folds(const struct tier0_data *d, int folds, uint64_t seed)
{
    size_t n = tier0_data_count(d);
    size_t *perm = xmalloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)(splitmix64(&seed) % i), t = perm[i - 1];
        perm[i - 1] = perm[k];
        perm[k] = t;
    }
    int *fold_of = xmalloc(n * sizeof *fold_of);
    size_t next = 0;
    for (size_t lab = 0; lab < tier0_data_n_labels(d); lab++)
        for (size_t i = 0; i < n; i++)
            if ((size_t)tier0_data_y(d, perm[i]) == lab)
                fold_of[perm[i]] = (int)(next++ % (size_t)folds);
    free(perm);
    return fold_of;
}

int tier0_cert_kfold(const struct tier0_data *d,
                     const struct tier0_train_params *params, int folds,
                     uint64_t seed, int threads, struct tier0_oof *oof,
                     char *errstr, size_t errstr_size)
{
    if (folds < 2 || (size_t)folds > tier0_data_count(d)) {
        snprintf(errstr, errstr_size, "folds must be in [2, traces]");
        return SL_EINVAL;
    }
    threads = threads < 1 ? 1 : threads > folds ? folds : threads;
    int *fold_of = stratified_folds(d, folds, seed);
    struct fold_job *jobs = xcalloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = xcalloc((size_t)threads, sizeof *tid);
    bool *started = xcalloc((size_t)threads, sizeof *started);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct fold_job){d, params, fold_of, folds, t, threads, oof,
                                    SL_OK, ""};
        started[t] = t > 0 && pthread_create(&tid[t], NULL, run_folds, &jobs[t]) == 0;
    }
    for (int t = 0; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            run_folds(&jobs[t]); /* thread 0, or one that could not start */
    }
    int rc = SL_OK;
    for (int t = 0; t < threads && rc == SL_OK; t++)
        if (jobs[t].rc != SL_OK) {
            rc = jobs[t].rc;
            snprintf(errstr, errstr_size, "%s", jobs[t].err);
        }
    free(jobs);
    free(tid);
    free(started);
    free(fold_of);
    return rc;
}

/* ---- output ---- */

void tier0_cert_print(FILE *f, const struct tier0_cert *c,
                      const struct tier0_model *m)
{
    fprintf(f, "certified=%s target=%.4f threshold=%s%.4f coverage=%.4f "
            "agreement=%.4f bound=%.4f answered=%zu/%zu\n",
            c->certified ? "yes" : "no", c->target,
            c->threshold > 1 ? "none " : "", c->threshold > 1 ? 0 : c->threshold,
            c->coverage, c->agreement, c->bound, c->n_answered, c->n_traces);
    fprintf(f, "%-40s %7s %9s %9s %8s %9s\n", "label", "support", "threshold",
            "agreement", "coverage", "certified");
    for (size_t k = 0; k < c->n_labels; k++) {
        const struct tier0_label_cert *l = &c->labels[k];
        char thr[16];
        if (l->threshold > 1)
            snprintf(thr, sizeof thr, "-");
        else
            snprintf(thr, sizeof thr, "%.4f", l->threshold);
        fprintf(f, "%-40s %7zu %9s %9.4f %8.4f %9s\n", tier0_model_label(m, k),
                l->support, thr, l->agreement, l->coverage,
                l->certified ? "yes" : "no");
    }
}

char *tier0_cert_thresholds_json(const struct tier0_cert *c,
                                 const struct tier0_model *m)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "target", c->target);
    if (c->threshold <= 1)
        cJSON_AddNumberToObject(root, "threshold", c->threshold);
    cJSON *labels = cJSON_AddObjectToObject(root, "labels");
    for (size_t k = 0; k < c->n_labels; k++)
        if (c->labels[k].certified)
            cJSON_AddNumberToObject(labels, tier0_model_label(m, k),
                                    c->labels[k].threshold);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

char *tier0_cert_metrics_json(const struct tier0_cert *c,
                              const struct tier0_model *m)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "certified", c->certified);
    cJSON_AddNumberToObject(root, "traces", (double)c->n_traces);
    cJSON_AddNumberToObject(root, "answered", (double)c->n_answered);
    cJSON_AddNumberToObject(root, "disagree", (double)c->n_disagree);
    cJSON_AddNumberToObject(root, "coverage", c->coverage);
    cJSON_AddNumberToObject(root, "agreement", c->agreement);
    cJSON_AddNumberToObject(root, "bound", c->bound);
    cJSON *labels = cJSON_AddObjectToObject(root, "labels");
    for (size_t k = 0; k < c->n_labels; k++) {
        const struct tier0_label_cert *l = &c->labels[k];
        cJSON *o = cJSON_AddObjectToObject(labels, tier0_model_label(m, k));
        cJSON_AddNumberToObject(o, "support", (double)l->support);
        cJSON_AddNumberToObject(o, "answered", (double)l->answered);
        cJSON_AddNumberToObject(o, "agreed", (double)l->agreed);
        cJSON_AddNumberToObject(o, "agreement", l->agreement);
        cJSON_AddNumberToObject(o, "coverage", l->coverage);
        cJSON_AddBoolToObject(o, "certified", l->certified);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static int from_json(const cJSON *root, const struct tier0_model *m,
                     struct tier0_cert *out, char *errstr, size_t errstr_size)
{
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(root, "target");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(root, "threshold");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    if (!cJSON_IsNumber(target) || !cJSON_IsObject(labels) ||
        (thr && !cJSON_IsNumber(thr))) {
        snprintf(errstr, errstr_size, "tier0 thresholds: need target and labels");
        return SL_EINVAL;
    }
    out->target = target->valuedouble;
    out->threshold = thr ? thr->valuedouble : NEVER;
    const cJSON *it;
    cJSON_ArrayForEach(it, labels) {
        int k = tier0_model_label_index(m, it->string);
        if (k < 0 || !cJSON_IsNumber(it)) {
            snprintf(errstr, errstr_size, "tier0 thresholds: label '%.64s' "
                     "unknown to the model or not a number", it->string);
            return SL_EINVAL;
        }
        out->labels[k].threshold = it->valuedouble;
        out->labels[k].certified = true;
        out->certified = true;
    }
    return SL_OK;
}

int tier0_cert_from_json(const char *thresholds_json,
                         const struct tier0_model *m, struct tier0_cert *out,
                         char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_Parse(thresholds_json);
    if (!root) {
        snprintf(errstr, errstr_size, "tier0 thresholds: not JSON");
        return SL_EINVAL;
    }
    out->n_labels = tier0_model_n_labels(m);
    out->labels = xcalloc(out->n_labels, sizeof *out->labels);
    for (size_t k = 0; k < out->n_labels; k++)
        out->labels[k].threshold = NEVER;
    int rc = from_json(root, m, out, errstr, errstr_size);
    cJSON_Delete(root);
    if (rc != SL_OK)
        tier0_cert_clear(out);
    return rc;
}
