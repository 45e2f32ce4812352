/* tier0_model.c — see tier0_model.h. */
#include "tier0_model.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linear.h>

#define MODEL_MAGIC "SLT0"
#define MODEL_FORMAT 1

struct tier0_data {
    struct tier0_feat_params feat;
    size_t n, n_labels;
    char **labels;
    int *y;
    struct feature_node **x; /* per row: features, bias node, terminator */
    struct feature_node *pool;
    uint32_t m;          /* distinct buckets; liblinear index k is bucket_of[k-1] */
    uint32_t *bucket_of;
};

struct tier0_model {
    struct tier0_feat_params feat;
    uint32_t n_labels;
    char **labels;
    uint32_t n_rows;
    uint32_t *row_bucket; /* ascending buckets that have weights */
    float *w;             /* n_rows x n_labels, row-major */
    float *bias;          /* n_labels; -inf for a label never trained */
    int32_t *row_of;      /* bucket -> row or -1; derived, not serialised */
};

void tier0_train_params_default(struct tier0_train_params *p)
{
    tier0_feat_params_default(&p->feat);
    p->C = 10;
    p->dual = true;
    p->eps = 0;
    p->seed = 1;
}

/* ---- data ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_node(const void *a, const void *b)
{
    int x = ((const struct feature_node *)a)->index;
    int y = ((const struct feature_node *)b)->index;
    return x < y ? -1 : x > y;
}

static int data_labels(struct tier0_data *d, const char *const *labels,
                       char *errstr, size_t errstr_size)
{
    char **sorted = xmalloc((d->n ? d->n : 1) * sizeof *sorted);
    for (size_t i = 0; i < d->n; i++) {
        size_t len = strlen(labels[i]);
        if (len == 0 || len > TIER0_MAX_LABEL_LEN) {
            snprintf(errstr, errstr_size, "row %zu: label is empty or longer "
                     "than %d bytes", i, TIER0_MAX_LABEL_LEN);
            free(sorted);
            return SL_EINVAL;
        }
        sorted[i] = (char *)labels[i];
    }
    qsort(sorted, d->n, sizeof *sorted, cmp_str);
    d->labels = xmalloc((d->n ? d->n : 1) * sizeof *d->labels);
    for (size_t i = 0; i < d->n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            d->labels[d->n_labels++] = xstrdup(sorted[i]);
    free(sorted);
    if (d->n_labels < 2 || d->n_labels > TIER0_MAX_LABELS) {
        snprintf(errstr, errstr_size, "need 2..%d distinct labels, have %zu",
                 TIER0_MAX_LABELS, d->n_labels);
        return SL_EINVAL;
    }
    d->y = xmalloc(d->n * sizeof *d->y);
    for (size_t i = 0; i < d->n; i++) {
        char *key = (char *)labels[i];
        char **hit = bsearch(&key, d->labels, d->n_labels, sizeof key, cmp_str);
        d->y[i] = (int)(hit - d->labels);
    }
    return SL_OK;
}

/* Appends the buckets of every text to *buckets, recording row starts. */
static size_t hash_rows(struct tier0_data *d, const char *const *texts,
                        size_t *start, uint32_t **buckets)
{
    struct tier0_feat f[TIER0_MAX_FEATS];
    char norm[TIER0_MAX_TEXT + 1];
    size_t total = 0, cap = 0;
    for (size_t i = 0; i < d->n; i++) {
        size_t len = tier0_feat_normalize(texts[i], norm, sizeof norm);
        size_t nf = tier0_feat_extract(&d->feat, norm, len, f, TIER0_MAX_FEATS);
        if (total + nf > cap) {
            cap = 2 * (total + nf);
            *buckets = xrealloc(*buckets, cap * sizeof **buckets);
        }
        start[i] = total;
        for (size_t k = 0; k < nf; k++)
            (*buckets)[total + k] = f[k].index;
        total += nf;
    }
    start[d->n] = total;
    return total;
}

/* Hashes every text, then renumbers the buckets in use 1..m so liblinear's
 * dense weight matrix holds only them (2^20 x labels doubles would not fit).
 * Values are recomputed rather than stored to keep one bucket array. */
static void data_features(struct tier0_data *d, const char *const *texts)
{
    struct tier0_feat f[TIER0_MAX_FEATS];
    char norm[TIER0_MAX_TEXT + 1];
    size_t *start = xmalloc((d->n + 1) * sizeof *start);
    uint32_t *buckets = NULL;
    size_t total = hash_rows(d, texts, start, &buckets);
    qsort(buckets, total, sizeof *buckets, cmp_u32);
    d->m = 0;
    for (size_t k = 0; k < total; k++)
        if (k == 0 || buckets[k] != buckets[k - 1])
            buckets[d->m++] = buckets[k];
    d->bucket_of = xrealloc(buckets, (d->m ? d->m : 1) * sizeof *buckets);
    d->pool = xmalloc((total + 2 * d->n) * sizeof *d->pool);
    d->x = xmalloc(d->n * sizeof *d->x);
    for (size_t i = 0; i < d->n; i++) {
        struct feature_node *row = d->pool + start[i] + i * 2;
        size_t len = tier0_feat_normalize(texts[i], norm, sizeof norm);
        size_t nf = tier0_feat_extract(&d->feat, norm, len, f, TIER0_MAX_FEATS);
        for (size_t k = 0; k < nf; k++) {
            uint32_t *hit = bsearch(&f[k].index, d->bucket_of, d->m,
                                    sizeof *hit, cmp_u32);
            row[k] = (struct feature_node){(int)(hit - d->bucket_of) + 1,
                                           f[k].value};
        }
        qsort(row, nf, sizeof *row, cmp_node);
        row[nf] = (struct feature_node){(int)d->m + 1, 1.0}; /* bias */
        row[nf + 1] = (struct feature_node){-1, 0};
        d->x[i] = row;
    }
    free(start);
}

int tier0_data_new(const struct tier0_feat_params *feat,
                   const char *const *texts, const char *const *labels,
                   size_t n, struct tier0_data **out, char *errstr,
                   size_t errstr_size)
{
    *out = NULL;
    int rc = tier0_feat_params_check(feat, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    struct tier0_data *d = xcalloc(1, sizeof *d);
    d->feat = *feat;
    d->n = n;
    rc = data_labels(d, labels, errstr, errstr_size);
    if (rc != SL_OK) {
        tier0_data_free(d);
        return rc;
    }
    data_features(d, texts);
    *out = d;
    return SL_OK;
}

void tier0_data_free(struct tier0_data *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_labels; i++)
        free(d->labels[i]);
    free(d->labels);
    free(d->y);
    free(d->x);
    free(d->pool);
    free(d->bucket_of);
    free(d);
}

size_t tier0_data_count(const struct tier0_data *d) { return d->n; }
size_t tier0_data_n_labels(const struct tier0_data *d) { return d->n_labels; }
const char *tier0_data_label(const struct tier0_data *d, size_t i) { return d->labels[i]; }
int tier0_data_y(const struct tier0_data *d, size_t row) { return d->y[row]; }

/* ---- model ---- */

static struct tier0_model *model_alloc(const struct tier0_feat_params *feat,
                                       uint32_t n_labels, uint32_t n_rows)
{
    struct tier0_model *m = xcalloc(1, sizeof *m);
    m->feat = *feat;
    m->n_labels = n_labels;
    m->labels = xcalloc(n_labels, sizeof *m->labels);
    m->n_rows = n_rows;
    m->row_bucket = xmalloc((n_rows ? n_rows : 1) * sizeof *m->row_bucket);
    m->w = xcalloc((size_t)n_rows * n_labels + 1, sizeof *m->w);
    m->bias = xmalloc(n_labels * sizeof *m->bias);
    for (uint32_t c = 0; c < n_labels; c++)
        m->bias[c] = -INFINITY;
    return m;
}

static void model_index(struct tier0_model *m)
{
    size_t buckets = (size_t)1 << m->feat.dim_bits;
    m->row_of = xmalloc(buckets * sizeof *m->row_of);
    memset(m->row_of, 0xff, buckets * sizeof *m->row_of);
    for (uint32_t r = 0; r < m->n_rows; r++)
        m->row_of[m->row_bucket[r]] = (int32_t)r;
}

void tier0_model_free(struct tier0_model *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->row_bucket);
    free(m->w);
    free(m->bias);
    free(m->row_of);
    free(m);
}

static void quiet(const char *s) { (void)s; }

/* Weight of liblinear class k (of nr_w vectors) for feature row j, or the
 * negated single vector's for the second class of a binary model. */
static double lin_w(const struct model *lm, int nr_w, uint32_t j, int k)
{
    if (nr_w == 1)
        return k == 0 ? lm->w[j] : -lm->w[j];
    return lm->w[(size_t)j * nr_w + k];
}

static struct tier0_model *model_from_liblinear(const struct tier0_data *d,
                                                const struct model *lm)
{
    int nr_class = lm->nr_class, nr_w = nr_class == 2 ? 1 : nr_class;
    uint32_t n_rows = 0;
    for (uint32_t j = 0; j < d->m; j++)
        for (int k = 0; k < nr_w; k++)
            if ((float)lm->w[(size_t)j * nr_w + k] != 0) {
                n_rows++;
                break;
            }
    struct tier0_model *m = model_alloc(&d->feat, (uint32_t)d->n_labels, n_rows);
    for (size_t c = 0; c < d->n_labels; c++)
        m->labels[c] = xstrdup(d->labels[c]);
    uint32_t r = 0;
    for (uint32_t j = 0; j < d->m; j++) {
        bool any = false;
        for (int k = 0; k < nr_w; k++)
            any = any || (float)lm->w[(size_t)j * nr_w + k] != 0;
        if (!any)
            continue;
        m->row_bucket[r] = d->bucket_of[j];
        for (int k = 0; k < nr_class; k++)
            m->w[(size_t)r * m->n_labels + lm->label[k]] = (float)lin_w(lm, nr_w, j, k);
        r++;
    }
    for (int k = 0; k < nr_class; k++)
        m->bias[lm->label[k]] = (float)(lin_w(lm, nr_w, d->m, k) * lm->bias);
    model_index(m);
    return m;
}

int tier0_model_train(const struct tier0_data *d,
                      const struct tier0_train_params *params,
                      const bool *use, struct tier0_model **out,
                      char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (memcmp(&params->feat, &d->feat, sizeof d->feat) != 0) {
        snprintf(errstr, errstr_size, "feature parameters differ from the data's");
        return SL_EINVAL;
    }
    struct problem prob = {0};
    prob.n = (int)d->m + 1;
    prob.bias = 1;
    prob.y = xmalloc((d->n ? d->n : 1) * sizeof *prob.y);
    prob.x = xmalloc((d->n ? d->n : 1) * sizeof *prob.x);
    bool *seen = xcalloc(d->n_labels, sizeof *seen);
    size_t n_seen = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (use && !use[i])
            continue;
        prob.y[prob.l] = d->y[i];
        prob.x[prob.l++] = d->x[i];
        n_seen += !seen[d->y[i]];
        seen[d->y[i]] = true;
    }
    free(seen);
    struct parameter param = {0};
    param.solver_type = params->dual ? L2R_LR_DUAL : L2R_LR;
    param.C = params->C;
    param.eps = params->eps > 0 ? params->eps : params->dual ? 0.1 : 0.01;
    param.p = 0.1;
    const char *why = n_seen < 2 ? "training rows need 2 distinct labels"
                                 : check_parameter(&prob, &param);
    int rc = SL_EINVAL;
    if (why) {
        snprintf(errstr, errstr_size, "tier0 train: %s", why);
    } else {
        /* The dual solver draws its shuffles from rand(): seed it and keep
         * every other training off rand() until this one is done. */
        static pthread_mutex_t rand_lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&rand_lock);
        set_print_string_function(quiet);
        srand(params->seed);
        struct model *lm = train(&prob, &param);
        pthread_mutex_unlock(&rand_lock);
        *out = model_from_liblinear(d, lm);
        free_and_destroy_model(&lm);
        rc = SL_OK;
    }
    free(prob.y);
    free(prob.x);
    return rc;
}

size_t tier0_model_n_labels(const struct tier0_model *m) { return m->n_labels; }
const char *tier0_model_label(const struct tier0_model *m, size_t i) { return m->labels[i]; }
const struct tier0_feat_params *tier0_model_feat_params(const struct tier0_model *m) { return &m->feat; }

int tier0_model_label_index(const struct tier0_model *m, const char *label)
{
    for (uint32_t i = 0; i < m->n_labels; i++)
        if (strcmp(m->labels[i], label) == 0)
            return (int)i;
    return -1;
}

/* Adds one feature's weights; false when the model has none for it. */
static bool accumulate(const struct tier0_model *m, float *s, uint32_t bucket,
                       float v)
{
    int32_t r = m->row_of[bucket];
    if (r < 0)
        return false;
    const float *w = m->w + (size_t)r * m->n_labels;
    for (uint32_t c = 0; c < m->n_labels; c++)
        s[c] += v * w[c];
    return true;
}

static double sigmoid(float x) { return 1.0 / (1.0 + exp(-(double)x)); }

/* Picks the best label and normalises the one-vs-rest sigmoids; n_feats
 * features of which n_unseen had no weight row. */
static void finish(const struct tier0_model *m, const float *s, size_t n_feats,
                   size_t n_unseen, struct tier0_pred *out)
{
    uint32_t best = 0, second = m->n_labels > 1 ? 1 : 0;
    double sum = 0;
    for (uint32_t c = 0; c < m->n_labels; c++) {
        if (s[c] > s[best]) {
            second = best;
            best = c;
        } else if (c != best && (second == best || s[c] > s[second])) {
            second = c;
        }
        sum += sigmoid(s[c]);
    }
    out->label = (int)best;
    out->score = sum > 0 ? sigmoid(s[best]) / sum : 0;
    out->margin = sum > 0 && second != best ? out->score - sigmoid(s[second]) / sum
                                            : out->score;
    out->conf = second != best ? sigmoid(s[best] - s[second]) : 1;
    out->unseen = n_feats ? (double)n_unseen / (double)n_feats : 1;
    out->top = (double)s[best];
}

/* The weight rows of a text are scattered over tens of MB, so nearly every
 * row is a cache miss. Looking all rows up first and prefetching them lets
 * the misses overlap instead of stalling the dot products one by one
 * (banking77, CPU time per prediction: 17.5 -> 10 us at -O2, 7.2 -> 5.9 us
 * at -O3). */
#define PREFETCH_CHUNK 64

static void predict_feats(const struct tier0_model *m,
                          const struct tier0_feat *f, size_t n,
                          struct tier0_pred *out)
{
    float s[TIER0_MAX_LABELS];
    int32_t rows[PREFETCH_CHUNK];
    size_t unseen = 0;
    size_t row_bytes = m->n_labels * sizeof *m->w;
    memcpy(s, m->bias, m->n_labels * sizeof *s);
    for (size_t base = 0; base < n; base += PREFETCH_CHUNK) {
        size_t k = n - base < PREFETCH_CHUNK ? n - base : PREFETCH_CHUNK;
        for (size_t i = 0; i < k; i++) {
            rows[i] = m->row_of[f[base + i].index];
            if (rows[i] < 0)
                continue;
            const char *w = (const char *)(m->w + (size_t)rows[i] * m->n_labels);
            for (size_t off = 0; off < row_bytes; off += 64)
                __builtin_prefetch(w + off);
        }
        for (size_t i = 0; i < k; i++) {
            if (rows[i] < 0) {
                unseen++;
                continue;
            }
            const float *w = m->w + (size_t)rows[i] * m->n_labels;
            float v = f[base + i].value;
            for (uint32_t c = 0; c < m->n_labels; c++)
                s[c] += v * w[c];
        }
    }
    finish(m, s, n, unseen, out);
}

void tier0_model_predict_feats(const struct tier0_model *m,
                               const struct tier0_feat *f, size_t n,
                               int *label, double *score)
{
    struct tier0_pred p;
    predict_feats(m, f, n, &p);
    *label = p.label;
    *score = p.score;
}

void tier0_model_predict_full(const struct tier0_model *m, const char *text,
                              struct tier0_pred *out)
{
    char norm[TIER0_MAX_TEXT + 1];
    struct tier0_feat f[TIER0_MAX_FEATS];
    size_t len = tier0_feat_normalize(text, norm, sizeof norm);
    size_t n = tier0_feat_extract(&m->feat, norm, len, f, TIER0_MAX_FEATS);
    predict_feats(m, f, n, out);
}

void tier0_model_predict(const struct tier0_model *m, const char *text,
                         int *label, double *score)
{
    struct tier0_pred p;
    tier0_model_predict_full(m, text, &p);
    *label = p.label;
    *score = p.score;
}

void tier0_model_predict_row_full(const struct tier0_model *m,
                                  const struct tier0_data *d, size_t row,
                                  struct tier0_pred *out)
{
    float s[TIER0_MAX_LABELS];
    size_t n = 0, unseen = 0;
    memcpy(s, m->bias, m->n_labels * sizeof *s);
    for (const struct feature_node *x = d->x[row]; x->index > 0; x++) {
        if ((uint32_t)x->index > d->m)
            continue; /* the bias node */
        n++;
        unseen += !accumulate(m, s, d->bucket_of[x->index - 1], (float)x->value);
    }
    finish(m, s, n, unseen, out);
}

void tier0_model_predict_row(const struct tier0_model *m,
                             const struct tier0_data *d, size_t row,
                             int *label, double *score)
{
    struct tier0_pred p;
    tier0_model_predict_row_full(m, d, row, &p);
    *label = p.label;
    *score = p.score;
}

/* ---- serialised form ----
 * "SLT0", u32 format, u8 dim_bits word_ngrams char_min char_max,
 * f32 word_weight char_weight, u32 n_labels, n_labels x (u32 len, bytes),
 * u32 n_rows, n_rows x u32 bucket, n_labels x f32 bias,
 * n_rows x n_labels x f32 weights. All little-endian. */

struct wbuf {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct wbuf *b, const void *src, size_t len)
{
    if (b->n + len > b->cap) {
        b->cap = 2 * (b->n + len);
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, len);
    b->n += len;
}

static void put_u32(struct wbuf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24)};
    put(b, le, 4);
}

static void put_f32(struct wbuf *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}

uint8_t *tier0_model_serialize(const struct tier0_model *m, size_t *size)
{
    struct wbuf b = {0};
    put(&b, MODEL_MAGIC, 4);
    put_u32(&b, MODEL_FORMAT);
    uint8_t fp[4] = {m->feat.dim_bits, m->feat.word_ngrams, m->feat.char_min,
                     m->feat.char_max};
    put(&b, fp, 4);
    put_f32(&b, m->feat.word_weight);
    put_f32(&b, m->feat.char_weight);
    put_u32(&b, m->n_labels);
    for (uint32_t c = 0; c < m->n_labels; c++) {
        uint32_t len = (uint32_t)strlen(m->labels[c]);
        put_u32(&b, len);
        put(&b, m->labels[c], len);
    }
    put_u32(&b, m->n_rows);
    for (uint32_t r = 0; r < m->n_rows; r++)
        put_u32(&b, m->row_bucket[r]);
    for (uint32_t c = 0; c < m->n_labels; c++)
        put_f32(&b, m->bias[c]);
    for (size_t i = 0; i < (size_t)m->n_rows * m->n_labels; i++)
        put_f32(&b, m->w[i]);
    *size = b.n;
    return b.p;
}

struct rbuf {
    const uint8_t *p;
    size_t n, off;
    bool bad;
};

static const uint8_t *take(struct rbuf *b, size_t len)
{
    if (b->bad || len > b->n - b->off) {
        b->bad = true;
        return NULL;
    }
    b->off += len;
    return b->p + b->off - len;
}

static uint32_t get_u32(struct rbuf *b)
{
    const uint8_t *q = take(b, 4);
    return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                   (uint32_t)q[3] << 24
             : 0;
}

static float get_f32(struct rbuf *b)
{
    uint32_t v = get_u32(b);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static bool read_header(struct rbuf *b, struct tier0_feat_params *fp,
                        uint32_t *n_labels)
{
    const uint8_t *magic = take(b, 4);
    if (!magic || memcmp(magic, MODEL_MAGIC, 4) != 0 ||
        get_u32(b) != MODEL_FORMAT)
        return false;
    const uint8_t *q = take(b, 4);
    if (!q)
        return false;
    *fp = (struct tier0_feat_params){q[0], q[1], q[2], q[3], 0, 0};
    fp->word_weight = get_f32(b);
    fp->char_weight = get_f32(b);
    *n_labels = get_u32(b);
    char err[128];
    return !b->bad && tier0_feat_params_check(fp, err, sizeof err) == SL_OK &&
           *n_labels >= 2 && *n_labels <= TIER0_MAX_LABELS;
}

static bool read_body(struct rbuf *b, struct tier0_model *m)
{
    for (uint32_t c = 0; c < m->n_labels; c++) {
        uint32_t len = get_u32(b);
        const uint8_t *s = len <= TIER0_MAX_LABEL_LEN ? take(b, len) : NULL;
        /* A NUL inside would be read back cut short (even as ""), a label
         * that is not the stored bytes (found by fuzzing). */
        if (!s || len == 0 || memchr(s, '\0', len))
            return false;
        m->labels[c] = xstrndup((const char *)s, len);
    }
    if (get_u32(b) != m->n_rows)
        return false;
    for (uint32_t r = 0; r < m->n_rows; r++) {
        m->row_bucket[r] = get_u32(b);
        if (m->row_bucket[r] >> m->feat.dim_bits ||
            (r > 0 && m->row_bucket[r] <= m->row_bucket[r - 1]))
            return false;
    }
    for (uint32_t c = 0; c < m->n_labels; c++)
        m->bias[c] = get_f32(b);
    for (size_t i = 0; i < (size_t)m->n_rows * m->n_labels; i++)
        m->w[i] = get_f32(b);
    return !b->bad && b->off == b->n;
}

int tier0_model_deserialize(const uint8_t *buf, size_t size,
                            struct tier0_model **out, char *errstr,
                            size_t errstr_size)
{
    *out = NULL;
    struct rbuf b = {buf, size, 0, false};
    struct tier0_feat_params fp;
    uint32_t n_labels = 0;
    if (!read_header(&b, &fp, &n_labels)) {
        snprintf(errstr, errstr_size, "tier0 model: bad header");
        return SL_EINVAL;
    }
    /* Skip the labels once to learn n_rows before allocating the weights,
     * and check it against the bytes left so a corrupt count cannot make
     * us allocate gigabytes. */
    struct rbuf peek = b;
    for (uint32_t c = 0; c < n_labels && !peek.bad; c++)
        take(&peek, get_u32(&peek));
    uint32_t n_rows = get_u32(&peek);
    size_t left = peek.bad ? 0 : peek.n - peek.off;
    if (peek.bad || n_rows > left / 4 ||
        left != 4 * ((size_t)n_rows + n_labels + (size_t)n_rows * n_labels)) {
        snprintf(errstr, errstr_size, "tier0 model: truncated or bad sizes");
        return SL_EINVAL;
    }
    struct tier0_model *m = model_alloc(&fp, n_labels, n_rows);
    if (!read_body(&b, m)) {
        tier0_model_free(m);
        snprintf(errstr, errstr_size, "tier0 model: bad label or bucket");
        return SL_EINVAL;
    }
    model_index(m);
    *out = m;
    return SL_OK;
}
