/* tier0bench — trains the tier-0 classifier on a `text,label` CSV (RFC 4180),
 * certifies it with k-fold out-of-fold predictions, and evaluates the
 * certified answer set on a second CSV, whose labels stand for what the LLM
 * would have answered. Prints coverage=, agreement=, the per-label table on
 * the test split, timings, and a learning curve over 10/25/50/100 % of the
 * training split (a fixed shuffle, so each step contains the previous). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl.h"
#include "tier0/tier0_certify.h"
#include "tier0/tier0_model.h"

#define MAX_FIELD 65536

struct rows {
    char **text, **label;
    size_t n, cap;
};

/* Reads one RFC 4180 field into buf; returns the char that ended it
 * (',', '\n' or EOF). */
static int read_field(FILE *f, char *buf, size_t cap)
{
    size_t n = 0;
    int c = fgetc(f), quoted = c == '"';
    if (!quoted)
        ungetc(c, f);
    for (;;) {
        c = fgetc(f);
        if (quoted && c == '"') {
            c = fgetc(f);
            if (c != '"')
                quoted = 0;
        }
        if (c == EOF || (!quoted && (c == ',' || c == '\n')))
            break;
        if (!quoted && c == '\r')
            continue;
        if (n + 1 < cap)
            buf[n++] = (char)c;
    }
    buf[n] = '\0';
    return c;
}

static int read_csv(const char *path, struct rows *r)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    static char a[MAX_FIELD], b[MAX_FIELD];
    int line = 0;
    for (;;) {
        int end = read_field(f, a, sizeof a);
        if (end == EOF && a[0] == '\0')
            break;
        if (end != ',' || read_field(f, b, sizeof b) == ',') {
            fprintf(stderr, "%s: row %d: expected two fields\n", path, line + 1);
            fclose(f);
            return -1;
        }
        if (line++ == 0)
            continue; /* header */
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 1024;
            r->text = xrealloc(r->text, r->cap * sizeof *r->text);
            r->label = xrealloc(r->label, r->cap * sizeof *r->label);
        }
        r->text[r->n] = xstrdup(a);
        r->label[r->n++] = xstrdup(b);
    }
    fclose(f);
    return 0;
}

struct opts {
    struct tier0_train_params params;
    int folds, threads, curve;
    double target;
};

struct result {
    struct tier0_model *model;
    struct tier0_cert cert;   /* from the training traces */
    struct tier0_cert test;   /* the same answer set, counted on test */
    double train_s;
};

/* Counts the certified answer set over the test rows, by predicted label. */
static void evaluate(struct result *res, const struct rows *test)
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
        int pred;
        double score;
        tier0_model_predict(res->model, test->text[i], &pred, &score);
        struct tier0_label_cert *l = &t->labels[pred];
        l->support++;
        if (!tier0_cert_answers(&res->cert, pred, score))
            continue;
        bool agree = strcmp(tier0_model_label(res->model, (size_t)pred),
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

static int run(const struct opts *o, const struct rows *train, size_t n,
               const struct rows *test, struct result *res)
{
    char err[512];
    struct tier0_data *d = NULL;
    int64_t t0 = sl_monotonic_us();
    int rc = tier0_data_new(&o->params.feat, (const char *const *)train->text,
                            (const char *const *)train->label, n, &d, err, sizeof err);
    struct tier0_oof *oof = xcalloc(n, sizeof *oof);
    if (rc == SL_OK)
        rc = tier0_cert_kfold(d, &o->params, o->folds, 1, o->threads, oof, err, sizeof err);
    if (rc == SL_OK)
        rc = tier0_cert_select(oof, n, tier0_data_n_labels(d), o->target, &res->cert);
    if (rc == SL_OK)
        rc = tier0_model_train(d, &o->params, NULL, &res->model, err, sizeof err);
    res->train_s = (double)(sl_monotonic_us() - t0) / 1e6;
    if (rc != SL_OK)
        fprintf(stderr, "tier0bench: %s\n", err);
    else
        evaluate(res, test);
    free(oof);
    tier0_data_free(d);
    return rc;
}

static double thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time per prediction, best of 5 passes over the test rows: on a busy
 * machine wall time measures the neighbours more than the model. */
static double predict_us(const struct tier0_model *m, const struct rows *test)
{
    int label;
    double score, sink = 0, best = -1;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = thread_cpu_us();
        for (size_t i = 0; i < test->n; i++) {
            tier0_model_predict(m, test->text[i], &label, &score);
            sink += score;
        }
        double us = (thread_cpu_us() - t0) / (double)(test->n ? test->n : 1);
        if (best < 0 || us < best)
            best = us;
    }
    return sink > 0 ? best : best;
}

static void shuffle(struct rows *r)
{
    uint64_t s = 42;
    for (size_t i = r->n; i > 1; i--) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t k = (size_t)((s >> 33) % i);
        char *t = r->text[i - 1], *l = r->label[i - 1];
        r->text[i - 1] = r->text[k];
        r->label[i - 1] = r->label[k];
        r->text[k] = t;
        r->label[k] = l;
    }
}

static void result_free(struct result *r)
{
    tier0_model_free(r->model);
    tier0_cert_clear(&r->cert);
    tier0_cert_clear(&r->test);
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"C", required_argument, NULL, 'C'}, {"dim-bits", required_argument, NULL, 'd'},
        {"folds", required_argument, NULL, 'k'}, {"target", required_argument, NULL, 't'},
        {"char-weight", required_argument, NULL, 'w'}, {"char-min", required_argument, NULL, 'm'},
        {"char-max", required_argument, NULL, 'M'}, {"primal", no_argument, NULL, 'p'},
        {"no-curve", no_argument, NULL, 'n'}, {"threads", required_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'C': o->params.C = atof(optarg); break;
        case 'd': o->params.feat.dim_bits = (uint8_t)atoi(optarg); break;
        case 'k': o->folds = atoi(optarg); break;
        case 't': o->target = atof(optarg); break;
        case 'w': o->params.feat.char_weight = (float)atof(optarg); break;
        case 'm': o->params.feat.char_min = (uint8_t)atoi(optarg); break;
        case 'M': o->params.feat.char_max = (uint8_t)atoi(optarg); break;
        case 'p': o->params.dual = false; break;
        case 'n': o->curve = 0; break;
        case 'j': o->threads = atoi(optarg); break;
        default: exit(2);
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: tier0bench [options] TRAIN.csv TEST.csv\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    struct opts o = {.folds = 5, .threads = 2, .curve = 1, .target = TIER0_TARGET_DEFAULT};
    tier0_train_params_default(&o.params);
    parse(argc, argv, &o);
    struct rows train = {0}, test = {0};
    if (read_csv(argv[optind], &train) != 0 || read_csv(argv[optind + 1], &test) != 0)
        return 1;
    shuffle(&train);
    struct result full = {0};
    if (run(&o, &train, train.n, &test, &full) != SL_OK)
        return 1;
    printf("coverage=%.4f\nagreement=%.4f\n", full.test.coverage, full.test.agreement);
    printf("\n# calibration (out-of-fold on train, %d folds, target %.2f)\n", o.folds, o.target);
    printf("train: coverage=%.4f agreement=%.4f bound=%.4f threshold=%.4f\n",
           full.cert.coverage, full.cert.agreement, full.cert.bound, full.cert.threshold);
    printf("\n# per label on test (support = test rows predicted as the label)\n");
    tier0_cert_print(stdout, &full.test, full.model);
    printf("\ntrain_rows=%zu test_rows=%zu labels=%zu\n", train.n, test.n,
           tier0_model_n_labels(full.model));
    printf("training_s=%.2f (k-fold + final model)\n", full.train_s);
    printf("predict_us=%.2f (per job, raw text to label + score; CPU time, best of 5 passes)\n", predict_us(full.model, &test));
    static const double steps[] = {0.10, 0.25, 0.50, 1.00};
    printf("\n# learning curve (fraction of train: test coverage, agreement)\n");
    for (size_t s = 0; o.curve && s < SL_ARRAY_LEN(steps); s++) {
        struct result r = {0};
        size_t n = (size_t)(steps[s] * (double)train.n + 0.5);
        if (s + 1 == SL_ARRAY_LEN(steps))
            r = full;
        else if (run(&o, &train, n, &test, &r) != SL_OK)
            return 1;
        printf("curve fraction=%.2f rows=%zu coverage=%.4f agreement=%.4f train_s=%.2f\n",
               steps[s], n, r.test.coverage, r.test.agreement, r.train_s);
        if (s + 1 < SL_ARRAY_LEN(steps))
            result_free(&r);
    }
    result_free(&full);
    for (size_t i = 0; i < train.n; i++)
        free(train.text[i]), free(train.label[i]);
    for (size_t i = 0; i < test.n; i++)
        free(test.text[i]), free(test.label[i]);
    free(train.text), free(train.label), free(test.text), free(test.label);
    return 0;
}
