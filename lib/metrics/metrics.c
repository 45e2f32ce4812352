/* metrics.c — see metrics.h. Internals: docs/metrics.md. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sl.h"
#include "utf8.h"

const double metrics_latency_buckets[] = {0.05, 0.1, 0.25, 0.5, 1,  2.5,
                                          5,    10,  20,   30,  60, 120};
const size_t metrics_latency_buckets_len =
    SL_ARRAY_LEN(metrics_latency_buckets);

/* Doubles live in _Atomic uint64_t as bit patterns: C11 guarantees
 * lock-free atomics for 64-bit integers on our targets but not for
 * _Atomic double, and fetch_add does not exist for floating types. */
struct metric_series {
    _Atomic uint64_t ival;     /* counter: sum of integral increments */
    _Atomic uint64_t fbits;    /* counter: the rest; gauge: value;
                                  histogram: sum of observations */
    _Atomic uint64_t *buckets; /* histogram: n_bounds + 1 (+Inf last),
                                  not cumulative */
    struct metric_family *family;
    uint64_t hash;
    char *values[METRICS_MAX_LABELS];
};

struct metric_family {
    struct metrics *m; /* its registry, for the creation lock */
    char *name;
    char *help;
    enum metric_type type;
    size_t n_labels;
    char *label_names[METRICS_MAX_LABELS];
    double *bounds;
    size_t n_bounds;
    size_t max_series; /* excluding the reserved "_other" series */
    /* Open addressing, linear probing, sized so the load stays <= 1/2 at
     * the cap: never resized, so readers probe it without a lock. A slot
     * goes from NULL to a fully built series exactly once. */
    _Atomic(struct metric_series *) *slots;
    size_t slot_mask;
    /* Creation order for rendering; entries below n_series are final. */
    struct metric_series **series;
    _Atomic size_t n_series;
    _Atomic(struct metric_family *) next;
};

struct metrics {
    pthread_mutex_t lock; /* serialises creation of families and series */
    size_t max_series;
    _Atomic(struct metric_family *) head;
    struct metric_family *tail;
};

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void atomic_add_double(_Atomic uint64_t *p, double by)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    /* On failure old is reloaded; with one updating thread this loops once. */
    while (!atomic_compare_exchange_weak_explicit(p, &old,
                                                  dbits(bitsd(old) + by),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static double load_double(const _Atomic uint64_t *p)
{
    return bitsd(atomic_load_explicit((_Atomic uint64_t *)p,
                                      memory_order_relaxed));
}

/* ---- registry ---------------------------------------------------------- */

struct metrics *metrics_new(size_t max_series)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->max_series = max_series ? max_series : METRICS_DEFAULT_MAX_SERIES;
    atomic_init(&m->head, NULL);
    return m;
}

static void series_free(struct metric_series *s)
{
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free((void *)s->buckets);
    free(s);
}

static void family_free(struct metric_family *f)
{
    size_t n = atomic_load(&f->n_series);
    for (size_t i = 0; i < n; i++)
        series_free(f->series[i]);
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
        free(f->label_names[i]);
    free(f->series);
    free((void *)f->slots);
    free(f->bounds);
    free(f->help);
    free(f->name);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    struct metric_family *f = atomic_load(&m->head);
    while (f) {
        struct metric_family *next = atomic_load(&f->next);
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- validation -------------------------------------------------------- */

static bool name_ok(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || (colon && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool labels_ok(enum metric_type type, size_t n,
                      const char *const *names)
{
    if (n > METRICS_MAX_LABELS || (n > 0 && !names))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!name_ok(names[i], false) || strncmp(names[i], "__", 2) == 0)
            return false;
        if (type == METRIC_HISTOGRAM && strcmp(names[i], "le") == 0)
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return false;
    }
    return true;
}

/* Accepts a trailing +Inf by shortening *n. */
static bool buckets_ok(const double *b, size_t *n)
{
    if (*n > 0 && isinf(b[*n - 1]) && b[*n - 1] > 0)
        (*n)--;
    for (size_t i = 0; i < *n; i++)
        if (!isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1])))
            return false;
    return true;
}

static bool same_shape(const struct metric_family *f, enum metric_type type,
                       size_t n_labels, const char *const *label_names)
{
    if (f->type != type || f->n_labels != n_labels)
        return false;
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(f->label_names[i], label_names[i]) != 0)
            return false;
    return true;
}

/* ---- series creation (under m->lock) ----------------------------------- */

static uint64_t hash_values(size_t n, const char *const *v)
{
    /* FNV-1a: a table hash, not a defence against chosen collisions; the
     * cap bounds the probe length whatever the values. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* no UTF-8 byte is 0xff */
    }
    return h;
}

static struct metric_series *find(struct metric_family *f, uint64_t h,
                                  const char *const *v)
{
    for (size_t i = h & f->slot_mask;; i = (i + 1) & f->slot_mask) {
        struct metric_series *s =
            atomic_load_explicit(&f->slots[i], memory_order_acquire);
        if (!s)
            return NULL;
        if (s->hash != h)
            continue;
        size_t k = 0;
        while (k < f->n_labels && strcmp(s->values[k], v[k]) == 0)
            k++;
        if (k == f->n_labels)
            return s;
    }
}

static struct metric_series *create(struct metric_family *f, uint64_t h,
                                    const char *const *v)
{
    struct metric_series *s = xcalloc(1, sizeof(*s));
    s->family = f;
    s->hash = h;
    for (size_t i = 0; i < f->n_labels; i++)
        s->values[i] = xstrdup(v[i]);
    if (f->type == METRIC_HISTOGRAM) {
        s->buckets = xcalloc(f->n_bounds + 1, sizeof(*s->buckets));
        for (size_t i = 0; i <= f->n_bounds; i++)
            atomic_init(&s->buckets[i], 0);
    }
    atomic_init(&s->ival, 0);
    atomic_init(&s->fbits, dbits(0.0));

    size_t i = h & f->slot_mask;
    while (atomic_load_explicit(&f->slots[i], memory_order_relaxed))
        i = (i + 1) & f->slot_mask;
    /* Release: a reader that sees the pointer sees the built series. */
    atomic_store_explicit(&f->slots[i], s, memory_order_release);
    size_t n = atomic_load_explicit(&f->n_series, memory_order_relaxed);
    f->series[n] = s;
    atomic_store_explicit(&f->n_series, n + 1, memory_order_release);
    return s;
}

static const char *clean_value(const char *v)
{
    if (!v)
        return "";
    size_t len = strlen(v);
    if (len > METRICS_MAX_VALUE_LEN || !utf8_valid(v, len))
        return METRICS_OTHER;
    return v;
}

static struct metric_series *find_or_create(struct metric_family *f,
                                            const char *const *values)
{
    static const char *const other[METRICS_MAX_LABELS] = {
        METRICS_OTHER, METRICS_OTHER, METRICS_OTHER};
    const char *v[METRICS_MAX_LABELS] = {NULL, NULL, NULL};
    for (size_t i = 0; i < f->n_labels; i++)
        v[i] = clean_value(values[i]);
    uint64_t h = hash_values(f->n_labels, v);
    struct metric_series *s = find(f, h, v);
    if (s)
        return s;
    if (atomic_load_explicit(&f->n_series, memory_order_relaxed) <
        f->max_series)
        return create(f, h, v);
    /* The series array has one spare entry for this tuple. */
    h = hash_values(f->n_labels, other);
    s = find(f, h, other);
    return s ? s : create(f, h, other);
}

/* ---- registration ------------------------------------------------------ */

static struct metric_family *family_new(struct metrics *m, const char *name,
                                        const char *help, enum metric_type type,
                                        size_t n_labels,
                                        const char *const *label_names)
{
    struct metric_family *f = xcalloc(1, sizeof(*f));
    f->m = m;
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    f->type = type;
    f->n_labels = n_labels;
    for (size_t i = 0; i < n_labels; i++)
        f->label_names[i] = xstrdup(label_names[i]);
    f->max_series = n_labels ? m->max_series : 1;
    size_t slots = 4;
    while (slots < 2 * (f->max_series + 1))
        slots *= 2;
    f->slots = xcalloc(slots, sizeof(*f->slots));
    for (size_t i = 0; i < slots; i++)
        atomic_init(&f->slots[i], NULL);
    f->slot_mask = slots - 1;
    f->series = xcalloc(f->max_series + 1, sizeof(*f->series));
    atomic_init(&f->n_series, 0);
    atomic_init(&f->next, NULL);
    return f;
}

static struct metric_family *
family_register(struct metrics *m, const char *name, const char *help,
                enum metric_type type, size_t n_labels,
                const char *const *label_names, const double *buckets,
                size_t n_buckets)
{
    if (!buckets || n_buckets == 0) {
        buckets = metrics_latency_buckets;
        n_buckets = metrics_latency_buckets_len;
    }
    bool ok = m && name_ok(name, true) &&
              labels_ok(type, n_labels, label_names) &&
              (type != METRIC_COUNTER || has_suffix(name, "_total")) &&
              (type != METRIC_HISTOGRAM || buckets_ok(buckets, &n_buckets));
    if (!ok) {
        log_error("metrics: cannot register %s: bad name, labels or buckets",
                  name ? name : "(null)");
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    struct metric_family *f = atomic_load(&m->head);
    while (f && strcmp(f->name, name) != 0)
        f = atomic_load(&f->next);
    if (f) {
        if (!same_shape(f, type, n_labels, label_names)) {
            log_error("metrics: %s already registered with another type "
                      "or labels", name);
            f = NULL;
        }
        goto out;
    }
    f = family_new(m, name, help, type, n_labels, label_names);
    if (type == METRIC_HISTOGRAM) {
        f->bounds = xmalloc(n_buckets * sizeof(*f->bounds));
        memcpy(f->bounds, buckets, n_buckets * sizeof(*f->bounds));
        f->n_bounds = n_buckets;
    }
    if (n_labels == 0) /* unlabelled families show 0 from the start */
        find_or_create(f, NULL);
    if (m->tail)
        atomic_store_explicit(&m->tail->next, f, memory_order_release);
    else
        atomic_store_explicit(&m->head, f, memory_order_release);
    m->tail = f;
out:
    pthread_mutex_unlock(&m->lock);
    return f;
}

struct metric_family *metrics_counter(struct metrics *m, const char *name,
                                      const char *help, size_t n_labels,
                                      const char *const *label_names)
{
    return family_register(m, name, help, METRIC_COUNTER, n_labels,
                           label_names, NULL, 0);
}

struct metric_family *metrics_gauge(struct metrics *m, const char *name,
                                    const char *help, size_t n_labels,
                                    const char *const *label_names)
{
    return family_register(m, name, help, METRIC_GAUGE, n_labels,
                           label_names, NULL, 0);
}

struct metric_family *metrics_histogram(struct metrics *m, const char *name,
                                        const char *help, size_t n_labels,
                                        const char *const *label_names,
                                        const double *buckets,
                                        size_t n_buckets)
{
    return family_register(m, name, help, METRIC_HISTOGRAM, n_labels,
                           label_names, buckets, n_buckets);
}

/* ---- lookup and updates ------------------------------------------------ */

struct metric_series *metric_series(struct metric_family *f,
                                    const char *const *values)
{
    if (!f)
        return NULL;
    if (f->n_labels == 0)
        return f->series[0];
    const char *v[METRICS_MAX_LABELS];
    for (size_t i = 0; i < f->n_labels; i++)
        v[i] = values && values[i] ? values[i] : "";
    /* Fast path: no lock, no allocation. A value that needs cleaning never
     * matches here (stored values are clean) and goes the slow way. */
    struct metric_series *s = find(f, hash_values(f->n_labels, v), v);
    if (s)
        return s;
    pthread_mutex_lock(&f->m->lock);
    s = find_or_create(f, v);
    pthread_mutex_unlock(&f->m->lock);
    return s;
}

void metric_inc(struct metric_series *s, double by)
{
    if (!s)
        return;
    switch (s->family->type) {
    case METRIC_COUNTER:
        if (!(by >= 0)) /* also rejects NaN */
            return;
        if (by < 0x1p64 && by == (double)(uint64_t)by)
            atomic_fetch_add_explicit(&s->ival, (uint64_t)by,
                                      memory_order_relaxed);
        else
            atomic_add_double(&s->fbits, by);
        return;
    case METRIC_GAUGE:
        atomic_add_double(&s->fbits, by);
        return;
    case METRIC_HISTOGRAM:
        return;
    }
}

void metric_set(struct metric_series *s, double v)
{
    if (s && s->family->type == METRIC_GAUGE)
        atomic_store_explicit(&s->fbits, dbits(v), memory_order_relaxed);
}

/* Index of the first bound >= v, n_bounds (+Inf) when none. */
static size_t bucket_index(const struct metric_family *f, double v)
{
    size_t lo = 0, hi = f->n_bounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void metric_observe(struct metric_series *s, double v)
{
    if (!s || s->family->type != METRIC_HISTOGRAM || isnan(v))
        return;
    /* The count is derived from the buckets when rendering, so a scrape
     * always sees +Inf == _count; only _sum may lag by one observation. */
    atomic_fetch_add_explicit(&s->buckets[bucket_index(s->family, v)], 1,
                              memory_order_relaxed);
    atomic_add_double(&s->fbits, v);
}

static uint64_t histogram_count(const struct metric_series *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= s->family->n_bounds; i++)
        n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
    return n;
}

double metric_value(const struct metric_series *s)
{
    if (!s)
        return 0;
    switch (s->family->type) {
    case METRIC_COUNTER:
        return (double)atomic_load_explicit(
                   (_Atomic uint64_t *)&s->ival, memory_order_relaxed) +
               load_double(&s->fbits);
    case METRIC_GAUGE:
        return load_double(&s->fbits);
    case METRIC_HISTOGRAM:
        return (double)histogram_count(s);
    }
    return 0;
}

static struct metric_series *series3(struct metric_family *f, const char *v1,
                                     const char *v2, const char *v3)
{
    const char *const v[METRICS_MAX_LABELS] = {v1, v2, v3};
    return metric_series(f, v);
}

void metrics_count(struct metric_family *f, double by, const char *v1,
                   const char *v2, const char *v3)
{
    metric_inc(series3(f, v1, v2, v3), by);
}

void metrics_set(struct metric_family *f, double v, const char *v1,
                 const char *v2, const char *v3)
{
    metric_set(series3(f, v1, v2, v3), v);
}

void metrics_observe(struct metric_family *f, double v, const char *v1,
                     const char *v2, const char *v3)
{
    metric_observe(series3(f, v1, v2, v3), v);
}

/* ---- rendering --------------------------------------------------------- */

/* Shortest of %.15g / %.17g that reads back exactly ("0.1", not
 * "0.10000000000000001"), and the spellings the format wants. */
static void put_double(FILE *out, double v)
{
    if (isnan(v)) {
        fputs("NaN", out);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", out);
        return;
    }
    char buf[40];
    snprintf(buf, sizeof(buf), "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof(buf), "%.17g", v);
    fputs(buf, out);
}

/* Escapes \ and newline, plus " inside label values. */
static void put_escaped(FILE *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* Writes name{labels[,le="…"]} (no braces when there is nothing inside). */
static void put_series_name(FILE *out, const struct metric_series *s,
                            const char *suffix, const double *le)
{
    const struct metric_family *f = s->family;
    fputs(f->name, out);
    fputs(suffix, out);
    if (f->n_labels == 0 && !le)
        return;
    fputc('{', out);
    for (size_t i = 0; i < f->n_labels; i++) {
        fprintf(out, "%s%s=\"", i ? "," : "", f->label_names[i]);
        put_escaped(out, s->values[i], true);
        fputc('"', out);
    }
    if (le) {
        fprintf(out, "%sle=\"", f->n_labels ? "," : "");
        put_double(out, *le);
        fputc('"', out);
    }
    fputc('}', out);
}

static void render_histogram(FILE *out, const struct metric_series *s)
{
    const struct metric_family *f = s->family;
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->n_bounds; i++) {
        double le = i < f->n_bounds ? f->bounds[i] : INFINITY;
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        put_series_name(out, s, "_bucket", &le);
        fprintf(out, " %" PRIu64 "\n", cum);
    }
    put_series_name(out, s, "_sum", NULL);
    fputc(' ', out);
    put_double(out, load_double(&s->fbits));
    fputc('\n', out);
    put_series_name(out, s, "_count", NULL);
    fprintf(out, " %" PRIu64 "\n", cum);
}

static void render_value(FILE *out, const struct metric_series *s)
{
    put_series_name(out, s, "", NULL);
    fputc(' ', out);
    uint64_t ival = atomic_load_explicit((_Atomic uint64_t *)&s->ival,
                                         memory_order_relaxed);
    double f = load_double(&s->fbits);
    /* Integral counters print exactly, even past 2^53. */
    if (s->family->type == METRIC_COUNTER && f == 0)
        fprintf(out, "%" PRIu64, ival);
    else
        put_double(out, (double)ival + f);
    fputc('\n', out);
}

static const char *type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER: return "counter";
    case METRIC_GAUGE: return "gauge";
    case METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

static void render_family(FILE *out, const struct metric_family *f)
{
    fprintf(out, "# HELP %s ", f->name);
    put_escaped(out, f->help, false);
    fprintf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    /* Acquire pairs with create(): entries below n are fully built. */
    size_t n = atomic_load_explicit(&((struct metric_family *)f)->n_series,
                                    memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (f->type == METRIC_HISTOGRAM)
            render_histogram(out, f->series[i]);
        else
            render_value(out, f->series[i]);
    }
}

char *metrics_render(struct metrics *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        fputs("sluice: out of memory rendering metrics\n", stderr);
        abort();
    }
    struct metric_family *f =
        m ? atomic_load_explicit(&m->head, memory_order_acquire) : NULL;
    for (; f; f = atomic_load_explicit(&f->next, memory_order_acquire))
        render_family(out, f);
    if (fclose(out) != 0 || !buf) {
        fputs("sluice: out of memory rendering metrics\n", stderr);
        abort();
    }
    return buf;
}
