/* cachesim — measures near-duplicate similarities for the answer cache on a
 * `text,label` corpus (ops/bench-cache-sim runs it on banking77; columns
 * `text` and `label` by header name, or the first two, read by
 * ops/common/csv_reader).
 *
 * Methods: minhash_char3 (lib/cache_sim.c, what the cache uses), minhash
 * over word unigrams + bigrams (same normalisation, same 64 positions), and
 * the cosine of tier 0's hashed features (tier0_feat_extract with the
 * default parameters). For every query row (test.csv, every --step'th row)
 * the nearest training row is found; per threshold t it prints
 *   nn_cover       share of queries whose nearest neighbour has sim >= t
 *   nn_same_label  share of those whose neighbour has the query's label:
 *                  how often a near-duplicate hit would be right
 *   edit_recall    share of light edits of the query (deterministic: case,
 *                  punctuation, a word added, two words swapped, one letter
 *                  dropped; one per query, in turn) with sim >= t to it
 * and the cost: sketch_us (per text) and compare_ns (per pair).
 *
 * `cachesim workload --jobs N --seed S --repeat-share R --edit-share E
 * CSV DIR` writes the workload of ops/bench-cache instead: N jobs of task
 * "banking" whose inputs are, in a seeded order, fresh messages of CSV (each
 * once), exact repeats of an earlier job's input (share R) and light edits of
 * an earlier input (share E, the edits above); DIR/jobs.jsonl,
 * DIR/gold.jsonl (every input with its message's label, for the emulator)
 * and DIR/labels.json (the label set). Deterministic. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cache_sim.h"
#include "csv_reader.h"
#include "sl.h"
#include "tier0/tier0_features.h"

#define MAX_FIELD 65536
#define MAX_FEATS 2048

/* Reads a `text,label` data set, exiting on a malformed file. */
static void read_csv(const char *path, struct csv_labelled *r)
{
    char err[512];
    if (csv_labelled_read(path, r, err, sizeof err) != SL_OK) {
        fprintf(stderr, "cachesim: %s\n", err);
        exit(1);
    }
}

/* ---- the alternatives ------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void add(struct cache_sketch *sk, uint64_t h)
{
    for (int k = 0; k < CACHE_SIM_K; k++) {
        uint32_t v = (uint32_t)mix(h + 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1));
        if (v < sk->min[k])
            sk->min[k] = v;
    }
    sk->shingles++;
}

static void sketch_words(const char *text, struct cache_sketch *sk)
{
    char norm[CACHE_SIM_MAX_TEXT + 1];
    size_t n = cache_sim_normalize(text, strlen(text), norm, sizeof(norm));
    memset(sk->min, 0xff, sizeof(sk->min));
    sk->shingles = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && norm[j] != ' ')
            j++;
        uint64_t w = fnv(norm + i, j - i, 14695981039346656037ull);
        add(sk, w);
        if (prev)
            add(sk, mix(prev) ^ w);
        prev = w;
        i = j + 1;
    }
}

struct vec {
    struct tier0_feat *f;
    size_t n;
};

static int by_index(const void *a, const void *b)
{
    uint32_t x = ((const struct tier0_feat *)a)->index;
    uint32_t y = ((const struct tier0_feat *)b)->index;
    return (x > y) - (x < y);
}

static void features(const char *text, struct vec *v)
{
    static struct tier0_feat buf[TIER0_MAX_FEATS];
    struct tier0_feat_params p;
    char norm[TIER0_MAX_TEXT + 1];
    tier0_feat_params_default(&p);
    size_t len = tier0_feat_normalize(text, norm, sizeof(norm));
    v->n = tier0_feat_extract(&p, norm, len, buf, TIER0_MAX_FEATS);
    qsort(buf, v->n, sizeof(*buf), by_index);
    v->f = xmalloc((v->n ? v->n : 1) * sizeof(*v->f));
    memcpy(v->f, buf, v->n * sizeof(*v->f));
}

static double cosine(const struct vec *a, const struct vec *b)
{
    double s = 0;
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        if (a->f[i].index == b->f[j].index)
            s += (double)a->f[i++].value * b->f[j++].value;
        else if (a->f[i].index < b->f[j].index)
            i++;
        else
            j++;
    }
    return s;
}

/* ---- edits ------------------------------------------------------------------- */

/* A light edit of text, kind k % 5, into out. */
static void edit(const char *text, unsigned k, char *out, size_t cap)
{
    static const char *const extra[] = {"please", "hi", "thanks", "now", "really"};
    size_t n = strlen(text);
    char words[64][128];
    size_t nw = 0;
    switch (k % 5) {
    case 0: /* casing */
        for (size_t i = 0; i < n && i + 1 < cap; i++)
            out[i] = (char)(k % 2 ? toupper((unsigned char)text[i])
                                  : tolower((unsigned char)text[i]));
        out[n < cap ? n : cap - 1] = '\0';
        return;
    case 1: /* punctuation */
        snprintf(out, cap, "%.*s%s", (int)(n && ispunct((unsigned char)text[n - 1]) ? n - 1 : n),
                 text, k % 2 ? "!!" : "");
        return;
    case 4: /* one letter dropped */
        snprintf(out, cap, "%.*s%s", (int)(n / 2), text, text + n / 2 + (n > 3));
        return;
    default:
        break;
    }
    /* word edits */
    const char *p = text;
    while (*p && nw < 64) {
        while (*p == ' ')
            p++;
        size_t l = strcspn(p, " ");
        if (!l)
            break;
        snprintf(words[nw++], sizeof(words[0]), "%.*s", (int)(l < 127 ? l : 127), p);
        p += l;
    }
    size_t at = nw ? (k / 5) % nw : 0;
    out[0] = '\0';
    for (size_t i = 0; i < nw; i++) {
        const char *w = words[i];
        if (k % 5 == 3 && i + 1 < nw && i == at)
            w = words[i + 1];
        else if (k % 5 == 3 && i > 0 && i == at + 1)
            w = words[at];
        if (k % 5 == 2 && i == at)
            snprintf(out + strlen(out), cap - strlen(out), "%s ", extra[(k / 5) % 5]);
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", w, i + 1 < nw ? " " : "");
    }
}

/* ---- the measurement ------------------------------------------------------------ */

enum method { MINHASH_CHAR3, MINHASH_WORDS12, COSINE_TIER0, N_METHODS };
static const char *const method_names[] = {"minhash_char3", "minhash_words12",
                                           "cosine_tier0_features"};
static const double thresholds[] = {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95};
#define N_T (sizeof(thresholds) / sizeof(thresholds[0]))

struct repr {
    struct cache_sketch sk;
    struct vec v;
};

static void make(enum method m, const char *text, struct repr *r)
{
    if (m == MINHASH_CHAR3)
        cache_sim_sketch(text, strlen(text), &r->sk);
    else if (m == MINHASH_WORDS12)
        sketch_words(text, &r->sk);
    else
        features(text, &r->v);
}

static double similarity(enum method m, const struct repr *a, const struct repr *b)
{
    return m == COSINE_TIER0 ? cosine(&a->v, &b->v)
                             : cache_sim_similarity(&a->sk, &b->sk);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void measure(enum method m, const struct csv_labelled *train,
                    const struct csv_labelled *test, size_t step)
{
    struct repr *tr = xcalloc(train->n, sizeof(*tr));
    double t0 = now_s();
    for (size_t i = 0; i < train->n; i++)
        make(m, train->text[i], &tr[i]);
    double sketch_us = (now_s() - t0) * 1e6 / (double)train->n;
    size_t queries = 0, cover[N_T] = {0}, same[N_T] = {0}, recall[N_T] = {0};
    double cmp_s = 0;
    size_t compares = 0;
    for (size_t q = 0; q < test->n; q += step) {
        struct repr qr, er;
        char edited[MAX_FIELD];
        make(m, test->text[q], &qr);
        edit(test->text[q], (unsigned)queries, edited, sizeof(edited));
        make(m, edited, &er);
        double best = -1, e = similarity(m, &qr, &er);
        size_t arg = 0;
        double c0 = now_s();
        for (size_t i = 0; i < train->n; i++) {
            double s = similarity(m, &qr, &tr[i]);
            if (s > best) {
                best = s;
                arg = i;
            }
        }
        cmp_s += now_s() - c0;
        compares += train->n;
        for (size_t t = 0; t < N_T; t++) {
            if (best >= thresholds[t]) {
                cover[t]++;
                same[t] += strcmp(train->label[arg], test->label[q]) == 0;
            }
            recall[t] += e >= thresholds[t];
        }
        if (m == COSINE_TIER0) {
            free(qr.v.f);
            free(er.v.f);
        }
        queries++;
    }
    for (size_t t = 0; t < N_T; t++)
        printf("method=%s t=%.2f nn_cover=%.3f nn_same_label=%.3f (n=%zu) edit_recall=%.3f\n",
               method_names[m], thresholds[t], (double)cover[t] / (double)queries,
               cover[t] ? (double)same[t] / (double)cover[t] : 0.0, cover[t],
               (double)recall[t] / (double)queries);
    printf("method=%s sketch_us=%.2f compare_ns=%.1f queries=%zu\n", method_names[m],
           sketch_us, cmp_s * 1e9 / (double)compares, queries);
    if (m == COSINE_TIER0)
        for (size_t i = 0; i < train->n; i++)
            free(tr[i].v.f);
    free(tr);
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- the bench workload ------------------------------------------------------ */

static uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return mix(*state);
}

static double rng_unit(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) / 9007199254740992.0;
}

static void write_line(FILE *f, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    fprintf(f, "%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
}

static FILE *open_in(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    return f;
}

static int workload(int argc, char **argv)
{
    size_t jobs = 3000;
    unsigned long long seed = 1;
    double repeat = 0.3, edits = 0.2;
    int a = 1;
    for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        if (strcmp(argv[a], "--jobs") == 0)
            jobs = (size_t)strtoul(argv[a + 1], NULL, 10);
        else if (strcmp(argv[a], "--seed") == 0)
            seed = strtoull(argv[a + 1], NULL, 10);
        else if (strcmp(argv[a], "--repeat-share") == 0)
            repeat = strtod(argv[a + 1], NULL);
        else if (strcmp(argv[a], "--edit-share") == 0)
            edits = strtod(argv[a + 1], NULL);
        else
            break;
    }
    if (argc - a != 2 || jobs == 0 || repeat < 0 || edits < 0 || repeat + edits >= 1) {
        fprintf(stderr, "usage: cachesim workload [--jobs N] [--seed S] "
                        "[--repeat-share R] [--edit-share E] CSV DIR\n");
        return 2;
    }
    struct csv_labelled src = {0};
    read_csv(argv[a], &src);
    uint64_t st = seed;
    /* A seeded shuffle of the messages: fresh inputs are taken in order. */
    for (size_t i = src.n; i > 1; i--) {
        size_t k = (size_t)(rng_next(&st) % i);
        char *t = src.text[i - 1], *l = src.label[i - 1];
        src.text[i - 1] = src.text[k];
        src.label[i - 1] = src.label[k];
        src.text[k] = t;
        src.label[k] = l;
    }
    FILE *jf = open_in(argv[a + 1], "jobs.jsonl"), *gf = open_in(argv[a + 1], "gold.jsonl");
    char **input = xcalloc(jobs, sizeof(char *));
    size_t *origin = xcalloc(jobs, sizeof(size_t));
    size_t fresh = 0;
    static char edited[MAX_FIELD];
    for (size_t i = 0; i < jobs; i++) {
        double u = rng_unit(&st);
        const char *kind = "fresh";
        if (i > 0 && u < repeat + edits) {
            size_t k = (size_t)(rng_next(&st) % i);
            origin[i] = origin[k];
            if (u < repeat) {
                input[i] = xstrdup(input[k]);
                kind = "repeat";
            } else {
                edit(src.text[origin[k]], (unsigned)rng_next(&st), edited, sizeof(edited));
                input[i] = xstrdup(edited);
                kind = "edit";
            }
        } else {
            origin[i] = fresh++ % src.n;
            input[i] = xstrdup(src.text[origin[i]]);
        }
        char id[64];
        snprintf(id, sizeof(id), "bc-%06zu-%s", i, kind);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", id);
        cJSON_AddStringToObject(j, "task", "banking");
        cJSON_AddStringToObject(j, "input", input[i]);
        cJSON_AddStringToObject(j, "mode", "interactive");
        cJSON_AddStringToObject(j, "feature", "support-inbox");
        cJSON_AddStringToObject(j, "tenant", "tenant-1");
        write_line(jf, j);
        cJSON *g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "text", input[i]);
        cJSON *labels = cJSON_AddObjectToObject(g, "labels");
        cJSON_AddStringToObject(labels, "banking", src.label[origin[i]]);
        write_line(gf, g);
    }
    fclose(jf);
    fclose(gf);
    /* The label set, sorted (the task's labels). */
    cJSON *set = cJSON_CreateArray();
    char **sorted = xcalloc(src.n, sizeof(char *));
    memcpy(sorted, src.label, src.n * sizeof(char *));
    qsort(sorted, src.n, sizeof(char *), strcmp_ptr);
    for (size_t i = 0; i < src.n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            cJSON_AddItemToArray(set, cJSON_CreateString(sorted[i]));
    FILE *lf = open_in(argv[a + 1], "labels.json");
    write_line(lf, set);
    fclose(lf);
    printf("jobs=%zu fresh=%zu\n", jobs, fresh);
    for (size_t i = 0; i < jobs; i++)
        free(input[i]);
    free(input);
    free(origin);
    free(sorted);
    csv_labelled_free(&src);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "workload") == 0)
        return workload(argc - 1, argv + 1);
    size_t step = 3;
    int a = 1;
    if (argc > 2 && strcmp(argv[1], "--step") == 0) {
        step = (size_t)strtoul(argv[2], NULL, 10);
        a = 3;
    }
    if (argc - a != 2 || step == 0) {
        fprintf(stderr, "usage: cachesim [--step N] TRAIN.csv TEST.csv\n");
        return 2;
    }
    struct csv_labelled train = {0}, test = {0};
    read_csv(argv[a], &train);
    read_csv(argv[a + 1], &test);
    printf("train_rows=%zu test_rows=%zu step=%zu\n", train.n, test.n, step);
    for (int m = 0; m < N_METHODS; m++)
        measure((enum method)m, &train, &test, step);
    csv_labelled_free(&train);
    csv_labelled_free(&test);
    return 0;
}
