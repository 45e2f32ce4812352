/* tier0_certify.c — see tier0_certify.h. */
#include "tier0_certify.h"

#include <math.h>
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

/* ---- tuning: the ranking and the candidate sequence ---- */

static double risk_of(const struct tier0_rank *r, const struct tier0_pred *p)
{
    return (1 - p->conf) * r->factor[p->label];
}

/* Out-of-scope abstention: text unlike the training data (mostly unseen
 * features) or that no label's model claims (top decision value under the
 * floor). The fallback label is what the LLM answers such text with, so a
 * prediction of it is exempt. */
static bool out_of_scope(int fallback, double max_unseen, double min_top,
                         const struct tier0_pred *p)
{
    return p->label != fallback && (p->unseen > max_unseen || p->top < min_top);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (q in (0, 1]) of n values, sorted in place. */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

/* Per-label factors: a label's observed tune errors over the errors its
 * scores predicted (sum of 1 - score), shrunk towards the pooled ratio by
 * TIER0_TUNE_PRIOR pseudo-errors, so a label seen a dozen times moves only
 * as far as its evidence warrants. */
static void tune_factors(const struct tier0_point *t, size_t n,
                         struct tier0_rank *r)
{
    double *obs = xcalloc(r->n_labels, sizeof *obs);
    double *exp_err = xcalloc(r->n_labels, sizeof *exp_err);
    double all_obs = 0, all_exp = 0;
    for (size_t i = 0; i < n; i++) {
        int k = t[i].p.label;
        obs[k] += t[i].y != k;
        exp_err[k] += 1 - t[i].p.conf;
    }
    for (size_t k = 0; k < r->n_labels; k++)
        all_obs += obs[k], all_exp += exp_err[k];
    double prior = TIER0_TUNE_PRIOR;
    double pooled = (all_obs + prior) / (all_exp + prior);
    for (size_t k = 0; k < r->n_labels; k++)
        r->factor[k] = (obs[k] + prior * pooled) /
                       (exp_err[k] + prior);
    free(obs);
    free(exp_err);
}

struct risked {
    double risk;
    bool wrong;
};

static int cmp_risk(const void *a, const void *b)
{
    const struct risked *x = a, *y = b;
    return x->risk < y->risk ? -1 : x->risk > y->risk;
}

/* Where the sequence starts, as a tune coverage: TIER0_SEQ_BACKOFF times
 * the largest coverage at which the tune rows' own bound meets the target,
 * and at least TIER0_SEQ_FIRST, but never so low that the first candidate
 * could not pass even without an error (fewer than
 * ln(alpha) / ln(1 - (1 - target)) answers among the n_cert certify rows,
 * with 10 % to spare). Fixed-sequence testing stops at its first failure, and
 * on a few hundred answers one unlucky error fails a test, so starting
 * where the tune rows say the answer set is comfortably inside the target
 * keeps early noise from ending the search. The tune rows are independent
 * of the certify rows, so choosing the start costs no validity. */
static double sequence_start(const struct risked *v, size_t m, size_t n_cert,
                             double target)
{
    double best = 0;
    uint64_t x = 0;
    for (size_t i = 0; i < m; i++) {
        x += v[i].wrong;
        if ((i + 1 == m || v[i + 1].risk > v[i].risk) &&
            tier0_cp_upper(x, i + 1, TIER0_ALPHA) <= 1 - target)
            best = (double)(i + 1) / (double)m;
    }
    double start = best * TIER0_SEQ_BACKOFF;
    double n_min = 1.1 * log(TIER0_ALPHA) / log(target);
    double least = n_cert ? n_min / (double)n_cert : 1;
    if (start < TIER0_SEQ_FIRST)
        start = TIER0_SEQ_FIRST;
    /* Below least the first candidate fails for certain and ends the
     * search, even where the tune rows found nothing inside the target:
     * their fold models are weaker than the served one, which the certify
     * rows may still find good enough. */
    if (start < least)
        start = least;
    return start < 1 ? start : 1;
}

/* The candidates: the tune risks at tune coverage start, + TIER0_SEQ_STEP,
 * ..., 1 (duplicates dropped), most conservative first. */
static void tune_sequence(const struct tier0_point *t, size_t n, size_t n_cert,
                          double target,
                          struct tier0_rank *r)
{
    struct risked *v = xmalloc((n ? n : 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!out_of_scope(r->fallback, r->max_unseen, r->min_top, &t[i].p))
            v[m++] = (struct risked){risk_of(r, &t[i].p), t[i].y != t[i].p.label};
    qsort(v, m, sizeof *v, cmp_risk);
    /* The certify rows left after out-of-scope abstention, as on the tune
     * points. */
    double kept = n ? (double)m / (double)n : 1;
    double start = sequence_start(v, m, (size_t)(kept * (double)n_cert), target);
    size_t cap = (size_t)((1 - start) / TIER0_SEQ_STEP) + 2;
    r->lambda = xmalloc(cap * sizeof *r->lambda);
    r->n_steps = 0;
    for (size_t j = 0; m > 0 && j < cap; j++) {
        double q = start + TIER0_SEQ_STEP * (double)j;
        size_t i = (size_t)ceil((q < 1 ? q : 1) * (double)m);
        double l = v[i ? i - 1 : 0].risk;
        if (r->n_steps == 0 || l > r->lambda[r->n_steps - 1])
            r->lambda[r->n_steps++] = l;
        if (q >= 1)
            break;
    }
    free(v);
}

int tier0_cert_tune(const struct tier0_point *tune, size_t n, size_t n_labels,
                    int fallback, double novelty_quantile,
                    double floor_quantile, double target,
                    size_t n_cert, struct tier0_rank *out)
{
    memset(out, 0, sizeof *out);
    if (n_labels == 0 || !(target > 0 && target < 1) || fallback < -1 || (fallback >= 0 && (size_t)fallback >= n_labels) ||
        !(novelty_quantile > 0 && novelty_quantile <= 1) ||
        !(floor_quantile >= 0 && floor_quantile < 1))
        return SL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (tune[i].y < 0 || (size_t)tune[i].y >= n_labels || tune[i].p.label < 0 ||
            (size_t)tune[i].p.label >= n_labels)
            return SL_EINVAL;
    out->n_labels = n_labels;
    out->fallback = fallback;
    out->factor = xcalloc(n_labels, sizeof *out->factor);
    tune_factors(tune, n, out);
    out->max_unseen = 1;
    if (novelty_quantile < 1 && n > 0) {
        double *u = xmalloc(n * sizeof *u);
        for (size_t i = 0; i < n; i++)
            u[i] = tune[i].p.unseen;
        out->max_unseen = quantile(u, n, novelty_quantile);
        free(u);
    }
    out->min_top = -HUGE_VAL;
    if (floor_quantile > 0 && n > 0) {
        double *u = xmalloc(n * sizeof *u);
        for (size_t i = 0; i < n; i++)
            u[i] = tune[i].p.top;
        out->min_top = quantile(u, n, floor_quantile);
        free(u);
    }
    tune_sequence(tune, n, n_cert ? n_cert : n, target, out);
    return SL_OK;
}

void tier0_rank_clear(struct tier0_rank *r)
{
    if (!r)
        return;
    free(r->factor);
    free(r->lambda);
    memset(r, 0, sizeof *r);
}

/* ---- certification: fixed-sequence testing ---- */

/* Label thresholds of risk level lambda: risk <= lambda is
 * score >= 1 - lambda / factor. Serving compares scores only, so
 * certification counts through the very same thresholds. */
static void set_thresholds(struct tier0_cert *c, const struct tier0_rank *r,
                           double lambda)
{
    for (size_t k = 0; k < c->n_labels; k++) {
        double t = r->factor[k] > 0 ? 1 - lambda / r->factor[k] : 0;
        c->labels[k].threshold = t > 0 ? t : 0;
        c->labels[k].certified = true;
    }
}

static void count(const struct tier0_point *cal, size_t n, struct tier0_cert *c)
{
    for (size_t k = 0; k < c->n_labels; k++) {
        struct tier0_label_cert *l = &c->labels[k];
        l->support = l->answered = l->agreed = 0;
    }
    c->n_answered = c->n_disagree = 0;
    for (size_t i = 0; i < n; i++) {
        struct tier0_label_cert *l = &c->labels[cal[i].p.label];
        l->support++;
        if (!tier0_cert_answers(c, &cal[i].p))
            continue;
        l->answered++;
        l->agreed += cal[i].y == cal[i].p.label;
        c->n_answered++;
        c->n_disagree += cal[i].y != cal[i].p.label;
    }
}

/* One test of the sequence: the candidate's disagreement is bounded at or
 * below 1 - target. */
static bool accepted(const struct tier0_cert *c)
{
    return c->n_answered > 0 &&
           tier0_cp_upper(c->n_disagree, c->n_answered, TIER0_ALPHA) <= 1 - c->target;
}

static void finish_cert(struct tier0_cert *c)
{
    c->coverage = c->n_traces ? (double)c->n_answered / (double)c->n_traces : 0;
    c->agreement = c->n_answered ? 1 - (double)c->n_disagree / (double)c->n_answered : 0;
    c->bound = tier0_cp_upper(c->n_disagree, c->n_answered, TIER0_ALPHA);
    for (size_t k = 0; k < c->n_labels; k++) {
        struct tier0_label_cert *l = &c->labels[k];
        l->agreement = l->answered ? (double)l->agreed / (double)l->answered : 0;
        l->coverage = l->support ? (double)l->answered / (double)l->support : 0;
    }
}

int tier0_cert_ltt(const struct tier0_point *cal, size_t n,
                   const struct tier0_rank *r, double target,
                   struct tier0_cert *out)
{
    memset(out, 0, sizeof *out);
    if (!(target > 0 && target < 1) || r->n_labels == 0)
        return SL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (cal[i].y < 0 || (size_t)cal[i].y >= r->n_labels || cal[i].p.label < 0 ||
            (size_t)cal[i].p.label >= r->n_labels)
            return SL_EINVAL;
    out->target = target;
    out->max_unseen = r->max_unseen;
    out->min_top = r->min_top;
    out->fallback = r->fallback;
    out->n_traces = n;
    out->n_labels = r->n_labels;
    out->labels = xcalloc(r->n_labels, sizeof *out->labels);
    out->certified = true; /* so that count() sees the candidate's set */
    size_t j = 0;
    for (; j < r->n_steps; j++) {
        set_thresholds(out, r, r->lambda[j]);
        count(cal, n, out);
        if (!accepted(out))
            break; /* fixed sequence: the first failure ends the search */
    }
    out->steps = j;
    if (j > 0) {
        out->lambda = r->lambda[j - 1];
        set_thresholds(out, r, out->lambda);
    } else {
        out->certified = false;
        for (size_t k = 0; k < out->n_labels; k++)
            out->labels[k] = (struct tier0_label_cert){0, NEVER, 0, 0, 0, 0, false};
    }
    count(cal, n, out);
    finish_cert(out);
    return SL_OK;
}

void tier0_cert_clear(struct tier0_cert *c)
{
    if (!c)
        return;
    free(c->labels);
    memset(c, 0, sizeof *c);
}

bool tier0_cert_answers(const struct tier0_cert *c, const struct tier0_pred *p)
{
    if (!c->certified || p->label < 0 || (size_t)p->label >= c->n_labels)
        return false;
    const struct tier0_label_cert *l = &c->labels[p->label];
    return l->certified && (c->by_score ? p->score : p->conf) >= l->threshold &&
           !out_of_scope(c->fallback, c->max_unseen, c->min_top, p);
}

/* ---- the whole procedure ---- */

void tier0_cert_opts_default(struct tier0_cert_opts *o)
{
    *o = (struct tier0_cert_opts){TIER0_TARGET_DEFAULT, 0, TIER0_CERT_SHARE,
                                  TIER0_NOVELTY_QUANTILE, TIER0_FLOOR_QUANTILE,
                                  NULL, 1, TIER0_INNER_FOLDS};
}

double tier0_cert_share_for(size_t n, double target, double cert_share)
{
    if (n == 0 || cert_share >= TIER0_CERT_MAX_SHARE)
        return cert_share;
    double wanted = TIER0_CERT_ROWS_PER_MISS / (1 - target) / (double)n;
    if (wanted > TIER0_CERT_MAX_SHARE)
        wanted = TIER0_CERT_MAX_SHARE;
    return wanted > cert_share ? wanted : cert_share;
}

double tier0_cert_share(const struct tier0_data *d, const bool *rows,
                        const struct tier0_cert_opts *o)
{
    /* The older tune-split procedure keeps its shares as given. */
    if (o->tune_share > 0)
        return o->cert_share;
    size_t n = tier0_data_count(d), used = 0;
    for (size_t i = 0; i < n; i++)
        used += !rows || rows[i];
    return tier0_cert_share_for(used, o->target, o->cert_share);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int *tier0_cert_split(const struct tier0_data *d, const bool *rows,
                      double tune_share, double cert_share, unsigned seed)
{
    size_t n = tier0_data_count(d);
    uint64_t s = seed;
    size_t *perm = xmalloc((n ? n : 1) * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)(splitmix64(&s) % i), t = perm[i - 1];
        perm[i - 1] = perm[k];
        perm[k] = t;
    }
    /* Deal label by label with one running counter mapped through the
     * golden-ratio sequence, whose consecutive values spread evenly over
     * [0, 1): every part gets its share of every label (to a row or two). */
    int *part = xmalloc((n ? n : 1) * sizeof *part);
    size_t next = 0;
    double fit_end = 1 - tune_share - cert_share, tune_end = 1 - cert_share;
    for (size_t lab = 0; lab < tier0_data_n_labels(d); lab++)
        for (size_t i = 0; i < n; i++) {
            if ((size_t)tier0_data_y(d, perm[i]) != lab)
                continue;
            if (rows && !rows[perm[i]]) {
                part[perm[i]] = -1;
                continue;
            }
            double pos = fmod((double)next++ * 0.6180339887498949, 1.0);
            part[perm[i]] = pos < fit_end ? 0 : pos < tune_end ? 1 : 2;
        }
    free(perm);
    return part;
}

/* Predictions of model m for the rows of part `which`; returns how many. */
static size_t predict_part(const struct tier0_model *m, const struct tier0_data *d,
                           const int *part, int which, struct tier0_point *out)
{
    size_t k = 0;
    for (size_t i = 0; i < tier0_data_count(d); i++) {
        if (part[i] != which)
            continue;
        out[k].y = tier0_data_y(d, i);
        tier0_model_predict_row_full(m, d, i, &out[k].p);
        k++;
    }
    return k;
}

/* The fallback's label index, or -1: a fallback the LLM has not answered
 * yet is not among the labels, and there is nothing to exempt. */
static int fallback_index(const struct tier0_data *d, const char *name)
{
    for (size_t k = 0; name && k < tier0_data_n_labels(d); k++)
        if (strcmp(tier0_data_label(d, k), name) == 0)
            return (int)k;
    return -1;
}

int *tier0_cert_folds(const struct tier0_data *d, const int *part,
                      unsigned k, unsigned seed)
{
    size_t n = tier0_data_count(d), L = tier0_data_n_labels(d);
    uint64_t s = (uint64_t)seed ^ 0x6a09e667f3bcc909ULL; /* not the split's stream */
    size_t *perm = xmalloc((n ? n : 1) * sizeof *perm);
    size_t *dealt = xcalloc(L, sizeof *dealt);
    int *fold = xmalloc((n ? n : 1) * sizeof *fold);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(&s) % i), t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = perm[i];
        int y = tier0_data_y(d, r);
        /* Each label's rows go round the folds, starting where the label
         * before left off, so small labels do not all pile into fold 0. */
        fold[r] = part[r] == 0 ? (int)((dealt[y]++ + (size_t)y) % k) : -1;
    }
    free(dealt);
    free(perm);
    return fold;
}

int tier0_cert_oof(const struct tier0_data *d, const int *part,
                   const struct tier0_train_params *params, unsigned k,
                   unsigned seed, struct tier0_point *out, size_t *n_out,
                   char *errstr, size_t errstr_size)
{
    size_t n = tier0_data_count(d), m = 0;
    int *fold = tier0_cert_folds(d, part, k, seed);
    bool *use = xmalloc((n ? n : 1) * sizeof *use);
    int rc = SL_OK;
    for (unsigned f = 0; f < k && rc == SL_OK; f++) {
        struct tier0_model *fm = NULL;
        int first = -1;
        bool two = false; /* the other folds hold two labels or more */
        for (size_t i = 0; i < n; i++) {
            use[i] = fold[i] >= 0 && fold[i] != (int)f;
            if (use[i] && first < 0)
                first = tier0_data_y(d, i);
            two = two || (use[i] && tier0_data_y(d, i) != first);
        }
        /* A handful of traces can leave one label outside a fold: its rows
         * then tune nothing, which costs no validity. */
        if (!two)
            continue;
        rc = tier0_model_train(d, params, use, &fm, errstr, errstr_size);
        for (size_t i = 0; rc == SL_OK && i < n; i++) {
            if (fold[i] != (int)f)
                continue;
            out[m].y = tier0_data_y(d, i);
            tier0_model_predict_row_full(fm, d, i, &out[m].p);
            m++;
        }
        tier0_model_free(fm);
    }
    *n_out = m;
    free(use);
    free(fold);
    return rc;
}

static int check_opts(const struct tier0_cert_opts *o, char *errstr,
                      size_t errstr_size)
{
    bool inner = o->inner_folds > 0;
    if (!(o->target > 0 && o->target < 1) ||
        (inner ? o->inner_folds < 2 || o->inner_folds > TIER0_MAX_FOLDS || o->tune_share != 0
               : !(o->tune_share > 0)) ||
        !(o->cert_share > 0) || !(o->tune_share + o->cert_share < 1) ||
        !(o->novelty_quantile > 0 && o->novelty_quantile <= 1) ||
        !(o->floor_quantile >= 0 && o->floor_quantile < 1)) {
        snprintf(errstr, errstr_size, "tier0 certify: target, shares, inner "
                 "folds, novelty or floor quantile out of range");
        return SL_EINVAL;
    }
    return SL_OK;
}

int tier0_cert_build(const struct tier0_data *d, const bool *rows,
                     const struct tier0_train_params *params,
                     const struct tier0_cert_opts *o,
                     struct tier0_model **model, struct tier0_cert *cert,
                     char *errstr, size_t errstr_size)
{
    *model = NULL;
    memset(cert, 0, sizeof *cert);
    if (errstr_size > 0)
        errstr[0] = '\0';
    int fallback = fallback_index(d, o->fallback), rc = check_opts(o, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    size_t n = tier0_data_count(d);
    struct tier0_train_params p = *params;
    p.seed = o->seed;
    int *part = tier0_cert_split(d, rows, o->tune_share,
                                 tier0_cert_share(d, rows, o), o->seed);
    bool *use = xmalloc((n ? n : 1) * sizeof *use);
    struct tier0_point *pts = xmalloc((n ? n : 1) * sizeof *pts);
    struct tier0_rank rank = {0};
    for (size_t i = 0; i < n; i++)
        use[i] = part[i] == 0;
    size_t nt = 0;
    if (o->inner_folds > 0)
        rc = tier0_cert_oof(d, part, &p, o->inner_folds, o->seed, pts, &nt,
                            errstr, errstr_size);
    if (rc == SL_OK)
        rc = tier0_model_train(d, &p, use, model, errstr, errstr_size);
    if (rc == SL_OK) {
        if (o->inner_folds == 0)
            nt = predict_part(*model, d, part, 1, pts);
        size_t n_cert = 0;
        for (size_t i = 0; i < n; i++)
            n_cert += part[i] == 2;
        rc = tier0_cert_tune(pts, nt, tier0_data_n_labels(d), fallback,
                             o->novelty_quantile, o->floor_quantile,
                             o->target, n_cert, &rank);
    }
    if (rc == SL_OK) {
        size_t nc = predict_part(*model, d, part, 2, pts);
        rc = tier0_cert_ltt(pts, nc, &rank, o->target, cert);
    }
    if (rc != SL_OK && !errstr[0])
        snprintf(errstr, errstr_size, "tier0 certify: bad labels");
    tier0_rank_clear(&rank);
    free(pts);
    free(use);
    free(part);
    return rc;
}

/* ---- output ---- */

void tier0_cert_print(FILE *f, const struct tier0_cert *c,
                      const struct tier0_model *m)
{
    fprintf(f, "certified=%s target=%.4f lambda=%.6f steps=%zu max_unseen=%.4f "
            "min_top=%.4f fallback=%s coverage=%.4f agreement=%.4f bound=%.4f "
            "answered=%zu/%zu\n",
            c->certified ? "yes" : "no", c->target, c->lambda, c->steps,
            c->max_unseen, c->min_top, c->fallback >= 0 ? tier0_model_label(m, (size_t)c->fallback) : "-",
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
    cJSON_AddNumberToObject(root, "lambda", c->lambda);
    cJSON_AddNumberToObject(root, "max_unseen", c->max_unseen);
    if (isfinite(c->min_top)) /* JSON has no infinity: no floor, no key */
        cJSON_AddNumberToObject(root, "min_top", c->min_top);
    cJSON_AddStringToObject(root, "rank", c->by_score ? "score" : "conf");
    if (c->fallback >= 0)
        cJSON_AddStringToObject(root, "fallback", tier0_model_label(m, (size_t)c->fallback));
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
    cJSON_AddNumberToObject(root, "lambda", c->lambda);
    cJSON_AddNumberToObject(root, "steps", (double)c->steps);
    cJSON_AddNumberToObject(root, "max_unseen", c->max_unseen);
    if (isfinite(c->min_top))
        cJSON_AddNumberToObject(root, "min_top", c->min_top);
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
    const cJSON *lambda = cJSON_GetObjectItemCaseSensitive(root, "lambda");
    const cJSON *unseen = cJSON_GetObjectItemCaseSensitive(root, "max_unseen");
    const cJSON *min_top = cJSON_GetObjectItemCaseSensitive(root, "min_top");
    const cJSON *fallback = cJSON_GetObjectItemCaseSensitive(root, "fallback");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    const cJSON *rank = cJSON_GetObjectItemCaseSensitive(root, "rank");
    if (!cJSON_IsNumber(target) || !cJSON_IsObject(labels) ||
        (rank && !(cJSON_IsString(rank) && (strcmp(rank->valuestring, "score") == 0 ||
                                            strcmp(rank->valuestring, "conf") == 0))) ||
        (lambda && !cJSON_IsNumber(lambda)) || (unseen && !cJSON_IsNumber(unseen)) ||
        (min_top && !cJSON_IsNumber(min_top)) ||
        (fallback && !cJSON_IsString(fallback))) {
        snprintf(errstr, errstr_size, "tier0 thresholds: need target and labels");
        return SL_EINVAL;
    }
    out->target = target->valuedouble;
    out->lambda = lambda ? lambda->valuedouble : 0;
    out->max_unseen = unseen ? unseen->valuedouble : 1;
    /* A version stored before the out-of-scope floor serves as it did. */
    out->min_top = min_top ? min_top->valuedouble : -HUGE_VAL;
    /* Thresholds stored before "rank" existed are on the score. */
    out->by_score = !rank || strcmp(rank->valuestring, "score") == 0;
    out->fallback = fallback ? tier0_model_label_index(m, fallback->valuestring) : -1;
    if (fallback && out->fallback < 0) {
        snprintf(errstr, errstr_size, "tier0 thresholds: fallback '%.64s' "
                 "unknown to the model", fallback->valuestring);
        return SL_EINVAL;
    }
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
