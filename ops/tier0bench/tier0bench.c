/* tier0bench — trains and certifies tier 0 on a `text,label` CSV (RFC 4180)
 * with the procedure the service uses (tier0_cert_build: fit / certify
 * split, tuning on inner folds of the fit rows, fixed-sequence testing on
 * the held-out certify rows), and
 * evaluates the certified answer set on a second CSV, whose labels stand for
 * what the LLM would have answered. Both CSV files are read by
 * ops/common/csv_reader: columns `text` and `label` by header name, or the
 * first two.
 *
 * Single run: coverage=, agreement=, the per-label table on the test split,
 * timings, and a learning curve over 10/25/50/100 % of the training split (a
 * fixed shuffle, so each step contains the previous).
 * Re-splits (--resplits N): train and test rows are pooled and re-split N
 * times at random (same test size, seed = re-split number; --resplit-from K
 * starts at re-split K, so a long series can run in parts). Open-set
 * variant (--open-share, default 0.1): that share of the labels is held out
 * of training entirely, and their test messages are sent as out-of-scope
 * traffic; the LLM's answer to them is the fallback label (--fallback) if
 * there is one, so any other tier-0 answer to them is wrong. Per re-split:
 * coverage, agreement and answers, counting out-of-scope answers; then the
 * means, the minimum, below_target_share, violation_share (re-splits whose
 * one-sided 95 % upper confidence limit of test agreement is below target)
 * and oos_answered_wrong (out-of-scope messages answered with a wrong label,
 * as a share of all tier-0 answers). The *_in_scope lines count only the
 * messages the guarantee is about (traffic like the traces). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csv_reader.h"
#include "sl.h"
#include "tier0/tier0_certify.h"
#include "tier0/tier0_model.h"

/* Reads a `text,label` data set; 0, or -1 with the reason on stderr. */
static int read_csv(const char *path, struct csv_labelled *r)
{
    char err[512];
    if (csv_labelled_read(path, r, err, sizeof err) == SL_OK)
        return 0;
    fprintf(stderr, "tier0bench: %s\n", err);
    return -1;
}

struct opts {
    struct tier0_train_params params;
    struct tier0_cert_opts cert;
    int curve, resplits, resplit_from, single;
    double open_share;
    size_t n_floors;   /* --floors: out-of-scope floor quantiles compared on */
    double floors[16]; /* the same trained models of each re-split */
};

struct result {
    struct tier0_model *model;
    struct tier0_cert cert;   /* from the certify rows */
    struct tier0_cert test;   /* the same answer set, counted on test */
    double train_s;
};

/* Counts the certified answer set over the test rows, by predicted label. */
static void evaluate(struct result *res, const struct csv_labelled *test)
{
    struct tier0_cert *t = &res->test;
    size_t L = tier0_model_n_labels(res->model);
    *t = res->cert;
    t->labels = xcalloc(L, sizeof *t->labels);
    t->n_traces = test->n;
    t->n_answered = t->n_disagree = 0;
    for (size_t k = 0; k < L; k++) {
        t->labels[k].threshold = res->cert.labels[k].threshold;
        t->labels[k].certified = res->cert.labels[k].certified;
    }
    for (size_t i = 0; i < test->n; i++) {
        struct tier0_pred p;
        tier0_model_predict_full(res->model, test->text[i], &p);
        struct tier0_label_cert *l = &t->labels[p.label];
        l->support++;
        if (!tier0_cert_answers(&res->cert, &p))
            continue;
        bool agree = strcmp(tier0_model_label(res->model, (size_t)p.label),
                            test->label[i]) == 0;
        l->answered++;
        l->agreed += agree;
        t->n_answered++;
        t->n_disagree += !agree;
    }
    for (size_t k = 0; k < L; k++) {
        struct tier0_label_cert *l = &t->labels[k];
        l->agreement = l->answered ? (double)l->agreed / (double)l->answered : 0;
        l->coverage = l->support ? (double)l->answered / (double)l->support : 0;
    }
    t->coverage = (double)t->n_answered / (double)(test->n ? test->n : 1);
    t->agreement = t->n_answered ? 1 - (double)t->n_disagree / (double)t->n_answered : 0;
    t->bound = tier0_cp_upper(t->n_disagree, t->n_answered, TIER0_ALPHA);
}

static int run(const struct opts *o, const struct csv_labelled *train, size_t n,
               const struct csv_labelled *test, struct result *res)
{
    char err[512];
    struct tier0_data *d = NULL;
    int64_t t0 = sl_monotonic_us();
    int rc = tier0_data_new(&o->params.feat, (const char *const *)train->text,
                            (const char *const *)train->label, n, &d, err, sizeof err);
    if (rc == SL_OK)
        rc = tier0_cert_build(d, NULL, &o->params, &o->cert, &res->model,
                              &res->cert, err, sizeof err);
    res->train_s = (double)(sl_monotonic_us() - t0) / 1e6;
    if (rc != SL_OK)
        fprintf(stderr, "tier0bench: %s\n", err);
    else
        evaluate(res, test);
    tier0_data_free(d);
    return rc;
}

static double thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time per prediction (with the serving decision), best of 5 passes
 * over the test rows: on a busy machine wall time measures the neighbours
 * more than the model. */
static double predict_us(const struct result *r, const struct csv_labelled *test)
{
    struct tier0_pred p;
    double best = -1;
    size_t sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = thread_cpu_us();
        for (size_t i = 0; i < test->n; i++) {
            tier0_model_predict_full(r->model, test->text[i], &p);
            sink += tier0_cert_answers(&r->cert, &p);
        }
        double us = (thread_cpu_us() - t0) / (double)(test->n ? test->n : 1);
        if (best < 0 || us < best)
            best = us;
    }
    return sink > 0 ? best : best;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static void swap_rows(struct csv_labelled *r, size_t i, size_t k)
{
    char *t = r->text[i], *l = r->label[i];
    r->text[i] = r->text[k];
    r->label[i] = r->label[k];
    r->text[k] = t;
    r->label[k] = l;
}

static void shuffle(struct csv_labelled *r, uint64_t seed)
{
    for (size_t i = r->n; i > 1; i--)
        swap_rows(r, i - 1, (size_t)(lcg(&seed) % i));
}

static void result_free(struct result *r)
{
    tier0_model_free(r->model);
    tier0_cert_clear(&r->cert);
    tier0_cert_clear(&r->test);
}

/* ---- re-splits ---- */

struct tally {
    size_t in_scope, oos;            /* test messages */
    size_t answered, agreed;         /* all tier-0 answers */
    size_t in_answered, in_agreed;   /* answers to in-scope messages */
    size_t oos_wrong;                /* out-of-scope answered with a wrong label */
};

/* How well a novelty signal tells out-of-scope test messages from in-scope
 * ones, as the area under the ROC curve (0.5: not at all). */
struct scored {
    double v;
    bool oos;
};

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->v, y = ((const struct scored *)b)->v;
    return x < y ? -1 : x > y;
}

static double auroc(struct scored *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_scored);
    double rank_sum = 0, n_oos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].v == v[i].v)
            j++;
        for (size_t k = i; k < j; k++)
            if (v[k].oos) {
                rank_sum += (double)(i + j + 1) / 2; /* mid-rank of the tie group */
                n_oos++;
            }
        i = j;
    }
    double n_in = (double)n - n_oos;
    return n_oos > 0 && n_in > 0
               ? (rank_sum - n_oos * (n_oos + 1) / 2) / (n_oos * n_in) : 0.5;
}

enum { SIG_SCORE, SIG_MARGIN, SIG_UNSEEN, SIG_TOP, N_SIG };
static const char *const sig_name[N_SIG] = {"low_score", "small_margin", "unseen_share",
                                            "low_top"};

struct summary {
    double auc[N_SIG];
    double cov_sum, agr_sum, agr_min, in_cov_sum, in_agr_sum, in_agr_min;
    size_t below, violations, in_below, in_violations, runs;
    size_t answered, oos_wrong, oos;
};

/* The held-out labels of one re-split: a seeded share of the distinct
 * labels, never the fallback. held[k] is for label index k of d. */
static bool *held_labels(const struct tier0_data *d, const char *fallback,
                         double share, uint64_t seed)
{
    size_t L = tier0_data_n_labels(d);
    size_t *perm = xmalloc(L * sizeof *perm);
    bool *held = xcalloc(L, sizeof *held);
    for (size_t k = 0; k < L; k++)
        perm[k] = k;
    for (size_t k = L; k > 1; k--) {
        size_t j = (size_t)(lcg(&seed) % k), t = perm[k - 1];
        perm[k - 1] = perm[j];
        perm[j] = t;
    }
    size_t want = (size_t)(share * (double)L + 0.5);
    for (size_t k = 0, taken = 0; k < L && taken < want; k++) {
        if (fallback && strcmp(tier0_data_label(d, perm[k]), fallback) == 0)
            continue;
        held[perm[k]] = true;
        taken++;
    }
    free(perm);
    return held;
}

static void tally_answer(struct tally *t, const struct tier0_cert *c,
                         const struct tier0_pred *p, int y, bool oos, int fallback)
{
    t->oos += oos;
    t->in_scope += !oos;
    if (!tier0_cert_answers(c, p))
        return;
    /* The LLM answers an out-of-scope message with the fallback label. */
    bool agree = oos ? p->label == fallback && fallback >= 0 : p->label == y;
    t->answered++;
    t->agreed += agree;
    t->in_answered += !oos;
    t->in_agreed += !oos && agree;
    t->oos_wrong += oos && !agree;
}

static void summarise(struct summary *s, const struct tally *t, double target,
                      size_t test_n, uint64_t seed)
{
    double cov = (double)t->answered / (double)(test_n ? test_n : 1);
    double agr = t->answered ? (double)t->agreed / (double)t->answered : 1;
    double in_cov = (double)t->in_answered / (double)(t->in_scope ? t->in_scope : 1);
    double in_agr = t->in_answered ? (double)t->in_agreed / (double)t->in_answered : 1;
    /* One-sided 95 % upper confidence limit of the test agreement. */
    double ucl = tier0_cp_upper(t->agreed, t->answered, TIER0_ALPHA);
    double in_ucl = tier0_cp_upper(t->in_agreed, t->in_answered, TIER0_ALPHA);
    if (s->runs == 0)
        s->agr_min = agr, s->in_agr_min = in_agr;
    s->runs++;
    s->cov_sum += cov, s->agr_sum += agr, s->in_cov_sum += in_cov, s->in_agr_sum += in_agr;
    s->agr_min = agr < s->agr_min ? agr : s->agr_min;
    s->in_agr_min = in_agr < s->in_agr_min ? in_agr : s->in_agr_min;
    s->below += agr < target, s->in_below += in_agr < target;
    s->violations += t->answered > 0 && ucl < target;
    s->in_violations += t->in_answered > 0 && in_ucl < target;
    s->answered += t->answered, s->oos_wrong += t->oos_wrong, s->oos += t->oos;
    printf("resplit=%zu coverage=%.4f agreement=%.4f answered=%zu ucl=%.4f "
           "in_scope_coverage=%.4f in_scope_agreement=%.4f oos=%zu oos_answered_wrong=%zu\n",
           (size_t)seed, cov, agr, t->answered, ucl, in_cov, in_agr, t->oos, t->oos_wrong);
    fflush(stdout);
}

/* Which signal would tell the out-of-scope messages the answer set c lets
 * through from the in-scope ones it answers (AUROC over c's test answers). */
static void answered_auroc(const struct tier0_cert *c, const struct tier0_pred *tp,
                           size_t test_n, const struct tier0_data *d,
                           const size_t *perm, const bool *held)
{
    struct scored *v = xmalloc((test_n ? test_n : 1) * sizeof *v);
    printf("answered_auroc");
    static const char *const name[] = {"low_score", "small_margin", "unseen_share",
                                       "low_top", "low_conf"};
    for (int k = 0; k < 5; k++) {
        size_t m = 0;
        for (size_t i = 0; i < test_n; i++) {
            const struct tier0_pred *q = &tp[i];
            if (!tier0_cert_answers(c, q))
                continue;
            double x = k == 0 ? -q->score : k == 1 ? -q->margin : k == 2 ? q->unseen
                     : k == 3 ? -q->top : -q->conf;
            v[m++] = (struct scored){x, held[tier0_data_y(d, perm[i])]};
        }
        printf(" %s=%.3f", name[k], auroc(v, m));
    }
    printf("\n");
    free(v);
}

/* The steps of tier0_cert_build, with the training done once and the
 * tuning and certification repeated for each --floors quantile: the rules
 * compared see the same models, folds and rows. s has o->n_floors entries. */
static int resplit_floors(const struct opts *o, const struct tier0_data *d,
                          const size_t *perm, const bool *held, const bool *train,
                          size_t test_n, uint64_t seed, struct summary *s)
{
    size_t n = tier0_data_count(d), nt = 0, nc = 0, L = tier0_data_n_labels(d);
    struct tier0_cert_opts co = o->cert;
    struct tier0_train_params p = o->params;
    co.seed = p.seed = (unsigned)seed;
    char err[512];
    int *part = tier0_cert_split(d, train, 0, tier0_cert_share(d, train, &co),
                                 co.seed);
    struct tier0_point *oof = xmalloc(n * sizeof *oof), *cal = xmalloc(n * sizeof *cal);
    struct tier0_pred *tp = xmalloc((test_n ? test_n : 1) * sizeof *tp);
    bool *use = xmalloc(n * sizeof *use);
    struct tier0_model *m = NULL;
    for (size_t i = 0; i < n; i++)
        use[i] = part[i] == 0;
    int rc = tier0_cert_oof(d, part, &p, co.inner_folds, co.seed, oof, &nt, err, sizeof err);
    if (rc == SL_OK)
        rc = tier0_model_train(d, &p, use, &m, err, sizeof err);
    if (rc != SL_OK)
        fprintf(stderr, "tier0bench: resplit %llu: %s\n", (unsigned long long)seed, err);
    for (size_t i = 0; rc == SL_OK && i < n; i++)
        if (part[i] == 2) {
            cal[nc].y = tier0_data_y(d, i);
            tier0_model_predict_row_full(m, d, i, &cal[nc++].p);
        }
    for (size_t i = 0; rc == SL_OK && i < test_n; i++)
        tier0_model_predict_row_full(m, d, perm[i], &tp[i]);
    int fallback = rc == SL_OK && co.fallback ? tier0_model_label_index(m, co.fallback) : -1;
    struct scored *sig = xmalloc((test_n ? test_n : 1) * sizeof *sig);
    for (int k = 0; rc == SL_OK && k < N_SIG; k++) {
        for (size_t i = 0; i < test_n; i++) {
            const struct tier0_pred *q = &tp[i];
            double v = k == SIG_SCORE ? -q->score : k == SIG_MARGIN ? -q->margin
                     : k == SIG_UNSEEN ? q->unseen : -q->top;
            sig[i] = (struct scored){v, held[tier0_data_y(d, perm[i])]};
        }
        double a = auroc(sig, test_n);
        for (size_t f = 0; f < o->n_floors; f++)
            s[f].auc[k] += a;
    }
    free(sig);
    for (size_t f = 0; rc == SL_OK && f < o->n_floors; f++) {
        struct tier0_rank r;
        struct tier0_cert c;
        rc = tier0_cert_tune(oof, nt, L, fallback, co.novelty_quantile, o->floors[f],
                             co.target, nc, &r);
        if (rc == SL_OK)
            rc = tier0_cert_ltt(cal, nc, &r, co.target, &c);
        if (rc != SL_OK)
            break;
        struct tally t = {0};
        for (size_t i = 0; i < test_n; i++) {
            int y = tier0_data_y(d, perm[i]);
            tally_answer(&t, &c, &tp[i], y, held[y], fallback);
        }
        if (f == 0)
            answered_auroc(&c, tp, test_n, d, perm, held);
        printf("floor=%.3f min_top=%.4f ", o->floors[f], c.min_top);
        summarise(&s[f], &t, co.target, test_n, seed);
        tier0_rank_clear(&r);
        tier0_cert_clear(&c);
    }
    tier0_model_free(m);
    free(use), free(tp), free(cal), free(oof), free(part);
    return rc;
}

/* One re-split of the pooled rows (test_n test rows) with the given seed. */
static int resplit(const struct opts *o, const struct tier0_data *d, size_t test_n,
                   uint64_t seed, struct summary *s)
{
    size_t n = tier0_data_count(d);
    size_t *perm = xmalloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    uint64_t st = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)(lcg(&st) % i), t = perm[i - 1];
        perm[i - 1] = perm[k];
        perm[k] = t;
    }
    bool *held = held_labels(d, o->cert.fallback, o->open_share, seed);
    bool *train = xcalloc(n, sizeof *train);
    for (size_t i = test_n; i < n; i++)
        train[perm[i]] = !held[tier0_data_y(d, perm[i])];
    if (o->n_floors > 0) {
        int rc = resplit_floors(o, d, perm, held, train, test_n, seed, s);
        free(train), free(held), free(perm);
        return rc;
    }
    struct tier0_cert_opts co = o->cert;
    co.seed = (unsigned)seed;
    struct tier0_model *m = NULL;
    struct tier0_cert c;
    char err[512];
    int rc = tier0_cert_build(d, train, &o->params, &co, &m, &c, err, sizeof err);
    if (rc == SL_OK) {
        struct tally t = {0};
        int fallback = o->cert.fallback ? tier0_model_label_index(m, o->cert.fallback) : -1;
        struct scored *sig[N_SIG];
        for (int k = 0; k < N_SIG; k++)
            sig[k] = xmalloc((test_n ? test_n : 1) * sizeof *sig[k]);
        for (size_t i = 0; i < test_n; i++) {
            struct tier0_pred p;
            int y = tier0_data_y(d, perm[i]);
            tier0_model_predict_row_full(m, d, perm[i], &p);
            tally_answer(&t, &c, &p, y, held[y], fallback);
            sig[SIG_SCORE][i] = (struct scored){-p.score, held[y]};
            sig[SIG_MARGIN][i] = (struct scored){-p.margin, held[y]};
            sig[SIG_UNSEEN][i] = (struct scored){p.unseen, held[y]};
            sig[SIG_TOP][i] = (struct scored){-p.top, held[y]};
        }
        for (int k = 0; k < N_SIG; k++) {
            s->auc[k] += auroc(sig[k], test_n);
            free(sig[k]);
        }
        summarise(s, &t, co.target, test_n, seed);
    } else {
        fprintf(stderr, "tier0bench: resplit %llu: %s\n", (unsigned long long)seed, err);
    }
    tier0_model_free(m);
    tier0_cert_clear(&c);
    free(train);
    free(held);
    free(perm);
    return rc;
}

static void print_summary(const struct summary *sp, double secs);

static int resplits(const struct opts *o, const struct csv_labelled *train,
                    const struct csv_labelled *test)
{
    struct csv_labelled pool = {0};
    pool.n = train->n + test->n;
    pool.text = xmalloc(pool.n * sizeof *pool.text);
    pool.label = xmalloc(pool.n * sizeof *pool.label);
    for (size_t i = 0; i < pool.n; i++) {
        const struct csv_labelled *r = i < train->n ? train : test;
        size_t k = i < train->n ? i : i - train->n;
        pool.text[i] = r->text[k];
        pool.label[i] = r->label[k];
    }
    char err[512];
    struct tier0_data *d = NULL;
    int rc = tier0_data_new(&o->params.feat, (const char *const *)pool.text,
                            (const char *const *)pool.label, pool.n, &d, err, sizeof err);
    free(pool.text);
    free(pool.label);
    if (rc != SL_OK) {
        fprintf(stderr, "tier0bench: %s\n", err);
        return rc;
    }
    printf("\n# re-splits (%d, test rows %zu, open-set share of labels %.2f, fallback %s)\n",
           o->resplits, test->n, o->open_share, o->cert.fallback ? o->cert.fallback : "-");
    struct summary s[SL_ARRAY_LEN(o->floors)] = {0};
    int64_t t0 = sl_monotonic_us();
    for (int r = o->resplit_from; r < o->resplit_from + o->resplits && rc == SL_OK; r++)
        rc = resplit(o, d, test->n, (uint64_t)r, s);
    tier0_data_free(d);
    double secs = (double)(sl_monotonic_us() - t0) / 1e6;
    for (size_t f = 0; rc == SL_OK && f < (o->n_floors ? o->n_floors : 1); f++) {
        if (o->n_floors)
            printf("\n# out-of-scope floor quantile %.3f\n", o->floors[f]);
        print_summary(&s[f], secs);
    }
    return rc;
}

static void print_summary(const struct summary *sp, double secs)
{
    struct summary s = *sp;
    if (s.runs == 0)
        return;
    double runs = (double)s.runs;
    printf("coverage_mean=%.4f\nagreement_mean=%.4f\nagreement_min=%.4f\n"
           "below_target_share=%.4f\nviolation_share=%.4f\noos_answered_wrong=%.4f\n",
           s.cov_sum / runs, s.agr_sum / runs, s.agr_min, (double)s.below / runs,
           (double)s.violations / runs,
           (double)s.oos_wrong / (double)(s.answered ? s.answered : 1));
    printf("coverage_mean_in_scope=%.4f agreement_mean_in_scope=%.4f "
           "agreement_min_in_scope=%.4f below_target_share_in_scope=%.4f "
           "violation_share_in_scope=%.4f oos_messages=%zu resplits_s=%.1f\n",
           s.in_cov_sum / runs, s.in_agr_sum / runs, s.in_agr_min,
           (double)s.in_below / runs, (double)s.in_violations / runs, s.oos, secs);
    printf("# out-of-scope detection, mean AUROC over re-splits (0.5 = none):");
    for (int k = 0; k < N_SIG; k++)
        printf(" %s=%.3f", sig_name[k], s.auc[k] / runs);
    printf("\n");
}

/* ---- main ---- */

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"C", required_argument, NULL, 'C'}, {"dim-bits", required_argument, NULL, 'd'},
        {"target", required_argument, NULL, 't'},
        {"char-weight", required_argument, NULL, 'w'}, {"char-min", required_argument, NULL, 'm'},
        {"char-max", required_argument, NULL, 'M'}, {"primal", no_argument, NULL, 'p'},
        {"no-curve", no_argument, NULL, 'n'}, {"resplits", required_argument, NULL, 'r'},
        {"open-share", required_argument, NULL, 'o'}, {"fallback", required_argument, NULL, 'f'},
        {"novelty-quantile", required_argument, NULL, 'q'},
        {"tune-share", required_argument, NULL, 'u'}, {"cert-share", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'}, {"inner-folds", required_argument, NULL, 'k'},
        {"resplit-from", required_argument, NULL, 'F'},
        {"floor-quantile", required_argument, NULL, 'Q'},
        {"floors", required_argument, NULL, 'L'}, {"no-single", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'C': o->params.C = atof(optarg); break;
        case 'd': o->params.feat.dim_bits = (uint8_t)atoi(optarg); break;
        case 't': o->cert.target = atof(optarg); break;
        case 'w': o->params.feat.char_weight = (float)atof(optarg); break;
        case 'm': o->params.feat.char_min = (uint8_t)atoi(optarg); break;
        case 'M': o->params.feat.char_max = (uint8_t)atoi(optarg); break;
        case 'p': o->params.dual = false; break;
        case 'n': o->curve = 0; break;
        case 'r': o->resplits = atoi(optarg); break;
        case 'o': o->open_share = atof(optarg); break;
        case 'f': o->cert.fallback = optarg; break;
        case 'q': o->cert.novelty_quantile = atof(optarg); break;
        case 'u': o->cert.tune_share = atof(optarg); break;
        case 'c': o->cert.cert_share = atof(optarg); break;
        case 's': o->cert.seed = (unsigned)atoi(optarg); break;
        case 'k': o->cert.inner_folds = (unsigned)atoi(optarg); break;
        case 'Q': o->cert.floor_quantile = atof(optarg); break;
        case 'L':
            for (char *t = strtok(optarg, ","); t && o->n_floors < SL_ARRAY_LEN(o->floors);
                 t = strtok(NULL, ","))
                o->floors[o->n_floors++] = atof(t);
            break;
        case 'S': o->single = 0; break;
        case 'F': o->resplit_from = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        default: exit(2);
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: tier0bench [options] TRAIN.csv TEST.csv\n");
        exit(2);
    }
}

static void print_single(const struct opts *o, const struct result *full,
                         const struct csv_labelled *train, const struct csv_labelled *test)
{
    printf("coverage=%.4f\nagreement=%.4f\nanswered=%zu/%zu\n", full->test.coverage,
           full->test.agreement, full->test.n_answered, test->n);
    printf("\n# certification (held-out certify rows, %.0f %% of train; tune %.0f %%; "
           "inner folds %u; target %.2f)\n",
           100 * (double)full->cert.n_traces / (double)(train->n ? train->n : 1),
           100 * o->cert.tune_share, o->cert.inner_folds, o->cert.target);
    tier0_cert_print(stdout, &full->cert, full->model);
    printf("\n# per label on test (support = test rows predicted as the label)\n");
    tier0_cert_print(stdout, &full->test, full->model);
    printf("\ntrain_rows=%zu test_rows=%zu labels=%zu\n", train->n, test->n,
           tier0_model_n_labels(full->model));
    printf("training_s=%.2f (inner-fold or tune models + served model)\n", full->train_s);
    printf("predict_us=%.2f (per job, raw text to label, score and decision; "
           "CPU time, best of 5 passes)\n", predict_us(full, test));
}

static int curve(const struct opts *o, const struct csv_labelled *train,
                 const struct csv_labelled *test, const struct result *full)
{
    static const double steps[] = {0.10, 0.25, 0.50, 1.00};
    printf("\n# learning curve (fraction of train: test coverage, agreement)\n");
    for (size_t s = 0; s < SL_ARRAY_LEN(steps); s++) {
        struct result r = {0};
        size_t n = (size_t)(steps[s] * (double)train->n + 0.5);
        if (s + 1 == SL_ARRAY_LEN(steps))
            r = *full;
        else if (run(o, train, n, test, &r) != SL_OK)
            return 1;
        printf("curve fraction=%.2f rows=%zu coverage=%.4f agreement=%.4f train_s=%.2f\n",
               steps[s], n, r.test.coverage, r.test.agreement, r.train_s);
        if (s + 1 < SL_ARRAY_LEN(steps))
            result_free(&r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.curve = 1, .single = 1, .resplits = 50, .resplit_from = 1,
                     .open_share = 0.10};
    tier0_train_params_default(&o.params);
    tier0_cert_opts_default(&o.cert);
    parse(argc, argv, &o);
    struct csv_labelled train = {0}, test = {0};
    if (read_csv(argv[optind], &train) != 0 || read_csv(argv[optind + 1], &test) != 0)
        return 1;
    shuffle(&train, 42);
    struct result full = {0};
    int rc = !o.single ? 0 : run(&o, &train, train.n, &test, &full) == SL_OK ? 0 : 1;
    if (rc == 0 && o.single) {
        print_single(&o, &full, &train, &test);
        fflush(stdout);
        if (o.curve)
            rc = curve(&o, &train, &test, &full);
    }
    if (rc == 0 && o.resplits > 0)
        rc = resplits(&o, &train, &test) == SL_OK ? 0 : 1;
    result_free(&full);
    csv_labelled_free(&train);
    csv_labelled_free(&test);
    return rc;
}
