/* sources: lib/metrics/metrics.c lib/metrics/metrics_http.c lib/sl.c lib/log.c lib/utf8.c */
/* Metrics registry and its HTTP endpoint: every rendered line checked
 * against the Prometheus text format 0.0.4 by a validator written here,
 * escaping, the series cap, counter semantics, real scrapes over
 * 127.0.0.1, /healthz, and updates racing scrapes. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "metrics/metrics.h"
#include "metrics/metrics_http.h"
#include "sl.h"

/* ---- the validator ------------------------------------------------------ */

#define MAX_SAMPLES 8192
#define KEY_LEN 400

struct sample {
    char key[KEY_LEN]; /* name{labels} as written */
    char type[16];     /* TYPE of its family */
    double value;
};

struct scrape {
    struct sample s[MAX_SAMPLES];
    size_t n;
};

/* Histogram series are checked in our order: buckets (le increasing,
 * cumulative, last +Inf), then _sum, then _count == +Inf. */
enum hist_state { H_START, H_BUCKETS, H_SUM, H_COUNT };

struct vstate {
    char family[128];
    char type[16];
    bool help_seen, type_seen, samples_seen;
    enum hist_state hs;
    char hist_base[KEY_LEN]; /* labels without le */
    double prev_le, prev_cum, inf_value;
    char err[256];
};

static bool is_name(const char *s, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool a = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '_' || (colon && c == ':');
        if (!a && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static bool parse_value(const char *s, double *out)
{
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0) {
        *out = s[0] == '+' ? INFINITY : -INFINITY;
        return true;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return true;
    }
    char *end;
    if (!*s || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return false;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out);
}

/* Parses {a="x",b="y"}: fills base (labels other than le, as written) and
 * le (NAN when absent). Returns the position after '}' or NULL. */
static const char *parse_labels(const char *p, char *base, size_t base_size,
                                double *le)
{
    *le = NAN;
    size_t bl = 0;
    char names[8][64];
    size_t n_names = 0;
    base[0] = '\0';
    p++; /* '{' */
    while (*p != '}') {
        const char *ns = p;
        while (*p && *p != '=')
            p++;
        size_t nl = (size_t)(p - ns);
        if (*p != '=' || p[1] != '"' || !is_name(ns, nl, false) || nl >= 64 ||
            n_names == 8)
            return NULL;
        for (size_t i = 0; i < n_names; i++)
            if (strlen(names[i]) == nl && strncmp(names[i], ns, nl) == 0)
                return NULL; /* duplicate label */
        memcpy(names[n_names], ns, nl);
        names[n_names++][nl] = '\0';
        p += 2;
        char val[256];
        size_t vl = 0;
        for (; *p != '"'; p++) {
            if (!*p || vl + 2 >= sizeof(val))
                return NULL;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return NULL;
            }
            val[vl++] = *p;
        }
        val[vl] = '\0';
        p++;
        bool is_le = nl == 2 && strncmp(ns, "le", 2) == 0;
        if (is_le && !parse_value(val, le))
            return NULL;
        if (!is_le) {
            int w = snprintf(base + bl, base_size - bl, "%s%.*s", bl ? "," : "",
                             (int)(p - ns), ns);
            if (w < 0 || (size_t)w >= base_size - bl)
                return NULL;
            bl += (size_t)w;
        }
        if (*p == ',' && p[1] != '}')
            p++;
        else if (*p != '}')
            return NULL;
    }
    return p + 1;
}

static bool vfail(struct vstate *v, size_t line, const char *why)
{
    snprintf(v->err, sizeof(v->err), "line %zu: %s", line, why);
    return false;
}

static bool family_done(struct vstate *v, size_t line)
{
    if (v->family[0] && strcmp(v->type, "histogram") == 0 && v->hs != H_START)
        return vfail(v, line, "histogram series left unfinished");
    return true;
}

static bool check_comment(struct vstate *v, size_t line, const char *l)
{
    bool help = strncmp(l, "# HELP ", 7) == 0;
    if (!help && strncmp(l, "# TYPE ", 7) != 0)
        return vfail(v, line, "comment is neither HELP nor TYPE");
    const char *name = l + 7, *sp = strchr(name, ' ');
    if (!sp || !is_name(name, (size_t)(sp - name), true))
        return vfail(v, line, "bad metric name in comment");
    size_t nl = (size_t)(sp - name);
    bool same = strlen(v->family) == nl && strncmp(v->family, name, nl) == 0;
    if (!same) {
        if (!family_done(v, line))
            return false;
        if (nl >= sizeof(v->family))
            return vfail(v, line, "name too long");
        memcpy(v->family, name, nl);
        v->family[nl] = '\0';
        v->help_seen = v->type_seen = v->samples_seen = false;
        v->type[0] = '\0';
        v->hs = H_START;
    }
    if (v->samples_seen || (help ? v->help_seen : v->type_seen))
        return vfail(v, line, "HELP/TYPE repeated or after samples");
    if (help) {
        for (const char *p = sp + 1; *p; p++)
            if (*p == '\\' && (++p, *p != '\\' && *p != 'n'))
                return vfail(v, line, "bad escape in HELP");
        v->help_seen = true;
        return true;
    }
    const char *t = sp + 1;
    if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram"))
        return vfail(v, line, "bad TYPE");
    sl_strlcpy(v->type, t, sizeof(v->type));
    v->type_seen = true;
    return true;
}

static bool check_histogram(struct vstate *v, size_t line, const char *suffix,
                            const char *base, double le, double value)
{
    bool base_same = strcmp(base, v->hist_base) == 0;
    if (strcmp(suffix, "_bucket") == 0 && !isnan(le)) {
        if (v->hs == H_START) {
            sl_strlcpy(v->hist_base, base, sizeof(v->hist_base));
            v->hs = H_BUCKETS;
            v->prev_le = -INFINITY;
            v->prev_cum = 0;
        } else if (v->hs != H_BUCKETS || !base_same) {
            return vfail(v, line, "bucket out of place");
        }
        if (!(le > v->prev_le) || value < v->prev_cum || value != floor(value))
            return vfail(v, line, "buckets not increasing or not cumulative");
        v->prev_le = le;
        v->prev_cum = value;
        if (isinf(le)) {
            v->inf_value = value;
            v->hs = H_SUM;
        }
        return true;
    }
    if (strcmp(suffix, "_sum") == 0 && isnan(le) && v->hs == H_SUM &&
        base_same) {
        v->hs = H_COUNT;
        return true;
    }
    if (strcmp(suffix, "_count") == 0 && isnan(le) && v->hs == H_COUNT &&
        base_same) {
        if (value != v->inf_value)
            return vfail(v, line, "_count differs from the +Inf bucket");
        v->hs = H_START;
        return true;
    }
    return vfail(v, line, "histogram line out of order");
}

static bool check_sample(struct vstate *v, size_t line, const char *l,
                         struct scrape *out)
{
    const char *p = l;
    while (*p && *p != '{' && *p != ' ')
        p++;
    size_t nl = (size_t)(p - l);
    if (!is_name(l, nl, true))
        return vfail(v, line, "bad sample name");
    char base[KEY_LEN];
    double le = NAN;
    base[0] = '\0';
    if (*p == '{' && !(p = parse_labels(p, base, sizeof(base), &le)))
        return vfail(v, line, "bad labels");
    if (*p != ' ')
        return vfail(v, line, "no space before value");
    double value;
    char *vstr = strndup(p + 1, strcspn(p + 1, " "));
    bool ok = parse_value(vstr, &value);
    free(vstr);
    if (!ok || strchr(p + 1, ' ')) /* we never write timestamps */
        return vfail(v, line, "bad value");
    size_t fl = strlen(v->family);
    if (!v->type_seen || nl < fl || strncmp(l, v->family, fl) != 0)
        return vfail(v, line, "sample outside its family");
    const char *suffix = l + fl;
    size_t sl = nl - fl;
    char suf[16] = "";
    if (sl >= sizeof(suf))
        return vfail(v, line, "sample outside its family");
    memcpy(suf, suffix, sl);
    suf[sl] = '\0';
    v->samples_seen = true;
    if (strcmp(v->type, "histogram") == 0) {
        if (!check_histogram(v, line, suf, base, le, value))
            return false;
    } else if (suf[0] || !isnan(le)) {
        return vfail(v, line, "sample outside its family");
    }
    if (strcmp(v->type, "counter") == 0 && !(value >= 0))
        return vfail(v, line, "negative counter");
    if (out && out->n < MAX_SAMPLES) {
        struct sample *s = &out->s[out->n++];
        snprintf(s->key, sizeof(s->key), "%.*s", (int)(p - l), l);
        sl_strlcpy(s->type, v->type, sizeof(s->type));
        s->value = value;
    }
    return true;
}

/* Returns NULL when text is valid exposition format, else the reason
 * (static). Fills out (may be NULL) with every sample. */
static const char *validate(const char *text, struct scrape *out)
{
    static _Thread_local struct vstate v;
    memset(&v, 0, sizeof(v));
    if (out)
        out->n = 0;
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] != '\n')
        return "text does not end with a newline";
    size_t line = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        char *l = strndup(p, (size_t)(nl - p));
        line++;
        bool ok = l[0] == '#'  ? check_comment(&v, line, l)
                  : l[0] == 0 ? vfail(&v, line, "empty line")
                              : check_sample(&v, line, l, out);
        free(l);
        if (!ok)
            return v.err;
        p = nl + 1;
    }
    return family_done(&v, line + 1) ? NULL : v.err;
}

static const struct sample *find_sample(const struct scrape *s,
                                        const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->s[i].key, key) == 0)
            return &s->s[i];
    return NULL;
}

static void assert_valid(const char *text, struct scrape *out)
{
    const char *err = validate(text, out);
    if (err)
        fail_msg("invalid exposition: %s\n%s", err, text);
}

/* ---- the validator rejects what it must --------------------------------- */

struct bad_case {
    const char *text;
    const char *why;
};

static const struct bad_case bad_cases[] = {
    {"# TYPE a_total counter\na_total 1", "no final newline"},
    {"# TYPE a_total counter\n\na_total 1\n", "empty line"},
    {"# random comment\n", "other comment"},
    {"a_total 1\n", "sample before TYPE"},
    {"# TYPE a_total counter\na_total{x=\"1\" 1\n", "unclosed labels"},
    {"# TYPE a_total counter\na_total{x=\"a\\qb\"} 1\n", "bad escape"},
    {"# TYPE a_total counter\na_total{x=\"1\",x=\"2\"} 1\n", "dup label"},
    {"# TYPE a_total counter\na_total{1x=\"1\"} 1\n", "bad label name"},
    {"# TYPE a_total counter\na_total one\n", "bad value"},
    {"# TYPE a_total counter\na_total -1\n", "negative counter"},
    {"# TYPE a_total counter\nb_total 1\n", "sample of another family"},
    {"# TYPE a gauge\n# TYPE a gauge\na 1\n", "TYPE twice"},
    {"# TYPE a gauge\na 1\n# HELP a late\n", "HELP after samples"},
    {"# TYPE a summary\na 1\n", "type we never emit"},
    {"# HELP a bad \\t escape\n# TYPE a gauge\n", "bad HELP escape"},
    {"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
     "h_sum 1\nh_count 1\n",
     "not cumulative"},
    {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
     "no +Inf"},
    {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
     "count differs"},
    {"# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
     "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
     "le not increasing"},
    {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n", "no _count"},
};

static void test_validator_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(bad_cases); i++)
        if (validate(bad_cases[i].text, NULL) == NULL)
            fail_msg("validator accepted: %s", bad_cases[i].why);
    assert_null(validate("# HELP h x\n# TYPE h histogram\n"
                         "h_bucket{a=\"1\",le=\"0.5\"} 0\n"
                         "h_bucket{a=\"1\",le=\"+Inf\"} 2\n"
                         "h_sum{a=\"1\"} 3\nh_count{a=\"1\"} 2\n",
                         NULL));
}

/* ---- rendering ---------------------------------------------------------- */

static const char *const jobs_labels[] = {"outcome", "tier"};
static const char *const provider_label[] = {"provider"};

static void test_render_format(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(0);
    struct metric_family *jobs = metrics_counter(
        m, "sluice_jobs_total", "Jobs finished.", 2, jobs_labels);
    struct metric_family *inflight =
        metrics_gauge(m, "sluice_inflight_calls", "Calls in flight.", 0, NULL);
    static const double b[] = {0.1, 0.5, 1};
    struct metric_family *dur = metrics_histogram(
        m, "sluice_provider_call_duration_seconds", "Call latency.", 1,
        provider_label, b, 3);
    struct metric_family *empty =
        metrics_counter(m, "sluice_empty_total", "No series yet.", 1,
                        provider_label);
    assert_non_null(jobs);
    assert_non_null(inflight);
    assert_non_null(dur);
    assert_non_null(empty);

    metrics_count(jobs, 1, "ok", "small", NULL);
    metrics_count(jobs, 2, "ok", "small", NULL);
    metrics_count(jobs, 1, "failed", "large", NULL);
    metric_inc(metric_series(inflight, NULL), 3);
    metric_inc(metric_series(inflight, NULL), -1);
    const double obs[] = {0.05, 0.1, 0.3, 2, 7};
    for (size_t i = 0; i < SL_ARRAY_LEN(obs); i++)
        metrics_observe(dur, obs[i], "openai", NULL, NULL);

    char *text = metrics_render(m);
    assert_valid(text, NULL);
    static const char *const want =
        "# HELP sluice_jobs_total Jobs finished.\n"
        "# TYPE sluice_jobs_total counter\n"
        "sluice_jobs_total{outcome=\"ok\",tier=\"small\"} 3\n"
        "sluice_jobs_total{outcome=\"failed\",tier=\"large\"} 1\n"
        "# HELP sluice_inflight_calls Calls in flight.\n"
        "# TYPE sluice_inflight_calls gauge\n"
        "sluice_inflight_calls 2\n"
        "# HELP sluice_provider_call_duration_seconds Call latency.\n"
        "# TYPE sluice_provider_call_duration_seconds histogram\n"
        "sluice_provider_call_duration_seconds_bucket{provider=\"openai\","
        "le=\"0.1\"} 2\n"
        "sluice_provider_call_duration_seconds_bucket{provider=\"openai\","
        "le=\"0.5\"} 3\n"
        "sluice_provider_call_duration_seconds_bucket{provider=\"openai\","
        "le=\"1\"} 3\n"
        "sluice_provider_call_duration_seconds_bucket{provider=\"openai\","
        "le=\"+Inf\"} 5\n"
        "sluice_provider_call_duration_seconds_sum{provider=\"openai\"} "
        "9.45\n"
        "sluice_provider_call_duration_seconds_count{provider=\"openai\"} 5\n"
        "# HELP sluice_empty_total No series yet.\n"
        "# TYPE sluice_empty_total counter\n";
    assert_string_equal(text, want);
    free(text);
    metrics_free(m);
}

static void test_escaping(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(0);
    static const char *const l[] = {"feature"};
    struct metric_family *f = metrics_counter(
        m, "sluice_x_total", "back\\slash and\nnewline \"kept\"", 1, l);
    metrics_count(f, 1, "a\\b\"c\nd", NULL, NULL);
    metrics_count(f, 1, "naïve ✓", NULL, NULL);
    char *text = metrics_render(m);
    assert_valid(text, NULL);
    assert_string_equal(text,
                        "# HELP sluice_x_total back\\\\slash and\\nnewline "
                        "\"kept\"\n"
                        "# TYPE sluice_x_total counter\n"
                        "sluice_x_total{feature=\"a\\\\b\\\"c\\nd\"} 1\n"
                        "sluice_x_total{feature=\"naïve ✓\"} 1\n");
    free(text);
    metrics_free(m);
}

/* ---- cardinality -------------------------------------------------------- */

static void test_series_cap(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(4);
    static const char *const l[] = {"tier", "feature"};
    struct metric_family *f =
        metrics_counter(m, "sluice_cost_nanodollars_total", "Cost.", 2, l);
    struct metric_series *first[4];
    for (int i = 0; i < 10; i++) {
        char feat[16];
        snprintf(feat, sizeof(feat), "f%d", i);
        const char *v[] = {"small", feat};
        struct metric_series *s = metric_series(f, v);
        if (i < 4)
            first[i] = s;
        metric_inc(s, 100);
    }
    /* Known tuples keep their series; new ones share "_other". */
    for (int i = 0; i < 4; i++) {
        char feat[16];
        snprintf(feat, sizeof(feat), "f%d", i);
        const char *v[] = {"small", feat};
        assert_ptr_equal(metric_series(f, v), first[i]);
    }
    const char *other[] = {"_other", "_other"};
    const char *late[] = {"large", "new"};
    assert_ptr_equal(metric_series(f, late), metric_series(f, other));
    assert_true(metric_value(metric_series(f, other)) == 600);

    char *text = metrics_render(m);
    struct scrape *sc = calloc(1, sizeof(*sc));
    assert_valid(text, sc);
    assert_int_equal(sc->n, 5);
    const struct sample *s = find_sample(
        sc, "sluice_cost_nanodollars_total{tier=\"_other\",feature=\"_other\"}");
    assert_non_null(s);
    assert_true(s->value == 600);
    assert_non_null(find_sample(
        sc, "sluice_cost_nanodollars_total{tier=\"small\",feature=\"f3\"}"));
    free(sc);
    free(text);
    metrics_free(m);
}

static void test_unexposable_values(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(0);
    static const char *const l[] = {"tier", "feature"};
    struct metric_family *f = metrics_counter(m, "sluice_y_total", "Y.", 2, l);
    char long_value[METRICS_MAX_VALUE_LEN + 2];
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    const char *bad_utf8 = "caf\xc3";
    metrics_count(f, 1, "small", long_value, NULL);
    metrics_count(f, 1, "small", bad_utf8, NULL);
    metrics_count(f, 1, NULL, "", NULL);
    long_value[METRICS_MAX_VALUE_LEN] = '\0'; /* exactly the limit: kept */
    metrics_count(f, 1, "small", long_value, NULL);
    char *text = metrics_render(m);
    struct scrape *sc = calloc(1, sizeof(*sc));
    assert_valid(text, sc);
    assert_int_equal(sc->n, 3);
    const struct sample *s =
        find_sample(sc, "sluice_y_total{tier=\"small\",feature=\"_other\"}");
    assert_non_null(s);
    assert_true(s->value == 2);
    assert_non_null(find_sample(sc, "sluice_y_total{tier=\"\",feature=\"\"}"));
    free(sc);
    free(text);
    metrics_free(m);
}

/* ---- registration ------------------------------------------------------- */

struct reg_case {
    enum metric_type type;
    const char *name;
    size_t n_labels;
    const char *labels[4];
    bool ok;
};

static const struct reg_case reg_cases[] = {
    {METRIC_COUNTER, "sluice_a_total", 3, {"a", "b", "c"}, true},
    {METRIC_COUNTER, "sluice:rate_total", 0, {NULL}, true},
    {METRIC_COUNTER, "sluice_a", 0, {NULL}, false}, /* no _total */
    {METRIC_COUNTER, "9sluice_total", 0, {NULL}, false},
    {METRIC_COUNTER, "sluice-a_total", 0, {NULL}, false},
    {METRIC_COUNTER, "", 0, {NULL}, false},
    {METRIC_COUNTER, NULL, 0, {NULL}, false},
    {METRIC_GAUGE, "sluice_g", 4, {"a", "b", "c", "d"}, false},
    {METRIC_GAUGE, "sluice_g", 1, {"__reserved"}, false},
    {METRIC_GAUGE, "sluice_g", 1, {"a:b"}, false},
    {METRIC_GAUGE, "sluice_g", 2, {"a", "a"}, false},
    {METRIC_GAUGE, "sluice_g", 1, {""}, false},
    {METRIC_GAUGE, "sluice_g", 1, {"le"}, true},
    {METRIC_HISTOGRAM, "sluice_h", 1, {"le"}, false},
    {METRIC_HISTOGRAM, "sluice_h", 1, {"provider"}, true},
};

static struct metric_family *reg(struct metrics *m, const struct reg_case *c,
                                 const double *b, size_t nb)
{
    switch (c->type) {
    case METRIC_COUNTER:
        return metrics_counter(m, c->name, "h", c->n_labels, c->labels);
    case METRIC_GAUGE:
        return metrics_gauge(m, c->name, "h", c->n_labels, c->labels);
    case METRIC_HISTOGRAM:
        return metrics_histogram(m, c->name, "h", c->n_labels, c->labels, b,
                                 nb);
    }
    return NULL;
}

static void test_registration(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(reg_cases); i++) {
        struct metrics *m = metrics_new(0);
        struct metric_family *f = reg(m, &reg_cases[i], NULL, 0);
        if ((f != NULL) != reg_cases[i].ok)
            fail_msg("case %zu (%s): got %p", i,
                     reg_cases[i].name ? reg_cases[i].name : "NULL",
                     (void *)f);
        metrics_free(m);
    }
    struct metrics *m = metrics_new(0);
    static const char *const a[] = {"a"}, *const b[] = {"b"};
    struct metric_family *f = metrics_counter(m, "sluice_d_total", "", 1, a);
    assert_ptr_equal(metrics_counter(m, "sluice_d_total", "", 1, a), f);
    assert_null(metrics_counter(m, "sluice_d_total", "", 1, b));
    assert_null(metrics_gauge(m, "sluice_d_total", "", 1, a));
    /* Buckets: strictly increasing and finite; a trailing +Inf is fine. */
    static const double inc_inf[] = {1, 2, INFINITY}, dup[] = {1, 1},
                        nan_b[] = {NAN}, dec[] = {2, 1};
    assert_non_null(metrics_histogram(m, "sluice_h1", "", 0, NULL, inc_inf, 3));
    assert_null(metrics_histogram(m, "sluice_h2", "", 0, NULL, dup, 2));
    assert_null(metrics_histogram(m, "sluice_h3", "", 0, NULL, nan_b, 1));
    assert_null(metrics_histogram(m, "sluice_h4", "", 0, NULL, dec, 2));
    /* A NULL family is a silent no-op all the way down. */
    metrics_count(NULL, 1, "x", NULL, NULL);
    metric_inc(metric_series(NULL, NULL), 1);
    char *text = metrics_render(m);
    assert_valid(text, NULL);
    assert_non_null(strstr(text, "sluice_h1_bucket{le=\"2\"} 0\n"
                                 "sluice_h1_bucket{le=\"+Inf\"} 0\n"));
    free(text);
    metrics_free(m);
    metrics_free(NULL);
}

/* ---- value semantics ---------------------------------------------------- */

static void test_counter_and_gauge_values(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(0);
    struct metric_series *c =
        metric_series(metrics_counter(m, "sluice_c_total", "", 0, NULL), NULL);
    struct metric_series *g =
        metric_series(metrics_gauge(m, "sluice_g", "", 0, NULL), NULL);
    /* 2^53 + 1 is not a double: integral increments must stay exact. */
    metric_inc(c, 9007199254740992.0);
    metric_inc(c, 1);
    metric_inc(c, -5);  /* ignored */
    metric_inc(c, NAN); /* ignored */
    metric_set(c, 0);   /* not a gauge: ignored */
    metric_observe(c, 1);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "\nsluice_c_total 9007199254740993\n"));
    free(text);

    struct metric_series *c2 =
        metric_series(metrics_counter(m, "sluice_c2_total", "", 0, NULL), NULL);
    metric_inc(c2, 1);
    metric_inc(c2, 0.25);
    metric_inc(c2, 2);
    metric_inc(g, 1.5);
    metric_inc(g, -4);
    text = metrics_render(m);
    assert_valid(text, NULL);
    assert_non_null(strstr(text, "\nsluice_c2_total 3.25\n"));
    assert_non_null(strstr(text, "\nsluice_g -2.5\n"));
    free(text);
    metric_set(g, 0.1);
    assert_true(metric_value(g) == 0.1);
    text = metrics_render(m);
    assert_non_null(strstr(text, "\nsluice_g 0.1\n"));
    free(text);
    metric_set(g, NAN);
    text = metrics_render(m);
    assert_non_null(strstr(text, "\nsluice_g NaN\n"));
    free(text);
    metrics_free(m);
}

struct bucket_case {
    double v;
    size_t bucket; /* index of the first bound >= v; 3 = +Inf */
};

static void test_histogram_buckets(void **state)
{
    (void)state;
    static const double b[] = {0.1, 0.5, 1};
    static const struct bucket_case cases[] = {
        {-3, 0}, {0, 0}, {0.1, 0}, {0.10000001, 1}, {0.5, 1},
        {0.75, 2}, {1, 2}, {1.0000001, 3}, {1e9, 3}, {INFINITY, 3},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        struct metrics *m = metrics_new(0);
        struct metric_family *f =
            metrics_histogram(m, "sluice_h_seconds", "", 0, NULL, b, 3);
        metric_observe(metric_series(f, NULL), cases[i].v);
        metric_observe(metric_series(f, NULL), NAN); /* ignored */
        char *text = metrics_render(m);
        struct scrape *sc = calloc(1, sizeof(*sc));
        assert_valid(text, sc);
        static const char *const les[] = {"0.1", "0.5", "1", "+Inf"};
        for (size_t k = 0; k < 4; k++) {
            char key[64];
            snprintf(key, sizeof(key), "sluice_h_seconds_bucket{le=\"%s\"}",
                     les[k]);
            const struct sample *s = find_sample(sc, key);
            assert_non_null(s);
            if (s->value != (k >= cases[i].bucket ? 1 : 0))
                fail_msg("v=%g le=%s: %g", cases[i].v, les[k], s->value);
        }
        free(sc);
        free(text);
        metrics_free(m);
    }
}

/* ---- HTTP --------------------------------------------------------------- */

struct body {
    char *data;
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t k = size * n;
    if (b->len + k > (1u << 22)) /* 4 MiB cap: a test, not a crawler */
        return 0;
    b->data = realloc(b->data, b->len + k + 1);
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = '\0';
    return k;
}

/* Returns the status; *out (may be NULL) gets the body, *ctype the
 * content type (static buffer). */
static long http(const char *method, int port, const char *path, char **out,
                 char *ctype, size_t ctype_size)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct body b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype)
        sl_strlcpy(ctype, ct ? ct : "", ctype_size);
    curl_easy_cleanup(c);
    if (out)
        *out = b.data;
    else
        free(b.data);
    return status;
}

static void test_http_scrape_monotonic(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(0);
    struct metric_family *jobs = metrics_counter(
        m, "sluice_jobs_total", "Jobs.", 2, jobs_labels);
    struct metric_family *dur = metrics_histogram(
        m, "sluice_provider_call_duration_seconds", "Latency.", 1,
        provider_label, NULL, 0);
    metrics_count(jobs, 1, "ok", "small", NULL);
    metrics_observe(dur, 0.3, "openai", NULL, NULL);

    char err[256] = "";
    struct metrics_http *h =
        metrics_http_start(m, "127.0.0.1:0", NULL, NULL, err, sizeof(err));
    if (!h)
        fail_msg("start: %s", err);
    int port = metrics_http_port(h);
    assert_true(port > 0 && port < 65536);

    struct scrape *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    char *text, ctype[128];
    assert_int_equal(http("GET", port, "/metrics", &text, ctype, sizeof(ctype)),
                     200);
    assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_valid(text, a);
    free(text);

    metrics_count(jobs, 2, "ok", "small", NULL);
    metrics_count(jobs, 1, "failed", "large", NULL);
    metrics_observe(dur, 12, "openai", NULL, NULL);
    metrics_observe(dur, 0.01, "anthropic", NULL, NULL);
    assert_int_equal(http("GET", port, "/metrics", &text, NULL, 0), 200);
    assert_valid(text, b);
    free(text);

    /* Every counter-like sample of the first scrape is still there and
     * has not gone down; the ones we touched went up by what we added. */
    for (size_t i = 0; i < a->n; i++) {
        const struct sample *later = find_sample(b, a->s[i].key);
        if (!later)
            fail_msg("%s vanished", a->s[i].key);
        bool monotonic = strcmp(a->s[i].type, "counter") == 0 ||
                         strstr(a->s[i].key, "_bucket{") ||
                         strstr(a->s[i].key, "_count{");
        if (monotonic && later->value < a->s[i].value)
            fail_msg("%s went down", a->s[i].key);
    }
    const char *k1 = "sluice_jobs_total{outcome=\"ok\",tier=\"small\"}";
    assert_true(find_sample(a, k1)->value == 1);
    assert_true(find_sample(b, k1)->value == 3);
    const char *k2 = "sluice_provider_call_duration_seconds_count{provider="
                     "\"openai\"}";
    assert_true(find_sample(b, k2)->value == 2);
    assert_true(b->n > a->n);

    assert_int_equal(http("HEAD", port, "/metrics", NULL, NULL, 0), 200);
    assert_int_equal(http("GET", port, "/", NULL, NULL, 0), 404);
    assert_int_equal(http("GET", port, "/metrics/x", NULL, NULL, 0), 404);
    assert_int_equal(http("POST", port, "/metrics", NULL, NULL, 0), 405);
    free(a);
    free(b);
    metrics_http_stop(h);
    metrics_free(m);
}

static bool read_flag(void *arg)
{
    return atomic_load((atomic_bool *)arg);
}

static void test_healthz(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(0);
    atomic_bool up;
    atomic_init(&up, true);
    char err[256] = "";
    struct metrics_http *h =
        metrics_http_start(m, "127.0.0.1:0", read_flag, &up, err, sizeof(err));
    if (!h)
        fail_msg("start: %s", err);
    int port = metrics_http_port(h);
    char *body;
    assert_int_equal(http("GET", port, "/healthz", &body, NULL, 0), 200);
    assert_string_equal(body, "ok\n");
    free(body);
    atomic_store(&up, false);
    assert_int_equal(http("GET", port, "/healthz", NULL, NULL, 0), 503);
    atomic_store(&up, true);
    assert_int_equal(http("GET", port, "/healthz", NULL, NULL, 0), 200);
    metrics_http_stop(h);

    /* No callback: always healthy. */
    h = metrics_http_start(m, "127.0.0.1:0", NULL, NULL, err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(http("GET", metrics_http_port(h), "/healthz", NULL, NULL,
                          0),
                     200);
    metrics_http_stop(h);
    metrics_http_stop(NULL);
    metrics_free(m);
}

static void test_listen_addresses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "localhost:9464", /* numeric only, never DNS */
        "127.0.0.1",      "127.0.0.1:",  ":9464", "::1:9464",
        "[::1]9464",      "[::1:9464",   "1.2.3.4.5:80", "127.0.0.1:http",
        "127.0.0.1:70000", "",
    };
    struct metrics *m = metrics_new(0);
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        char err[256] = "";
        struct metrics_http *h =
            metrics_http_start(m, bad[i], NULL, NULL, err, sizeof(err));
        if (h)
            fail_msg("accepted %s", bad[i]);
        assert_true(err[0] != '\0');
    }
    char err[256] = "";
    assert_null(metrics_http_start(m, NULL, NULL, NULL, err, sizeof(err)));

    /* The port is taken: the error says so. */
    struct metrics_http *h =
        metrics_http_start(m, "127.0.0.1:0", NULL, NULL, err, sizeof(err));
    assert_non_null(h);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", metrics_http_port(h));
    err[0] = '\0';
    assert_null(metrics_http_start(m, addr, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, addr));
    metrics_http_stop(h);

    /* IPv6 loopback, when the machine has it. */
    h = metrics_http_start(m, "[::1]:0", NULL, NULL, err, sizeof(err));
    if (h) {
        assert_true(metrics_http_port(h) > 0);
        metrics_http_stop(h);
    }
    metrics_free(m);
}

/* ---- updates racing scrapes --------------------------------------------- */

#define RACE_N 1000000

struct race {
    struct metrics *m;
    struct metric_family *dyn;
    struct metric_series *counter, *hist;
    atomic_bool done;
};

/* The loop thread: hot-path updates, plus new series now and then so that
 * creation races rendering too. */
static void *updater(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < RACE_N; i++) {
        metric_inc(r->counter, 1);
        metric_observe(r->hist, (double)(i % 100) / 50.0);
        if (i % 5000 == 0) {
            char v[16];
            snprintf(v, sizeof(v), "f%d", i / 5000);
            metrics_count(r->dyn, 1, v, NULL, NULL);
        }
    }
    atomic_store(&r->done, true);
    return NULL;
}

static void test_concurrent_scrapes(void **state)
{
    (void)state;
    struct race r;
    r.m = metrics_new(0);
    static const char *const l[] = {"feature"};
    r.counter = metric_series(
        metrics_counter(r.m, "sluice_race_total", "", 0, NULL), NULL);
    r.hist = metric_series(metrics_histogram(r.m, "sluice_race_seconds", "",
                                             0, NULL, NULL, 0),
                           NULL);
    r.dyn = metrics_counter(r.m, "sluice_race_dyn_total", "", 1, l);
    atomic_init(&r.done, false);
    struct scrape *sc = calloc(1, sizeof(*sc));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, updater, &r), 0);
    double prev = 0;
    size_t scrapes = 0;
    bool last = false;
    while (!last) {
        last = atomic_load(&r.done);
        char *text = metrics_render(r.m);
        assert_valid(text, sc); /* includes +Inf == _count every time */
        double v = find_sample(sc, "sluice_race_total")->value;
        if (v < prev || v > RACE_N || v != floor(v))
            fail_msg("scrape %zu: %.17g after %.17g", scrapes, v, prev);
        prev = v;
        free(text);
        scrapes++;
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    char *text = metrics_render(r.m);
    assert_valid(text, sc);
    assert_non_null(strstr(text, "\nsluice_race_total 1000000\n"));
    assert_non_null(strstr(text, "\nsluice_race_seconds_count 1000000\n"));
    assert_int_equal(sc->n, 1 + 15 + RACE_N / 5000);
    print_message("%zu scrapes raced the updates\n", scrapes);
    free(text);
    free(sc);
    metrics_free(r.m);
}

int main(void)
{
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validator_rejects),
        cmocka_unit_test(test_render_format),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_unexposable_values),
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_counter_and_gauge_values),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_http_scrape_monotonic),
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_concurrent_scrapes),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
