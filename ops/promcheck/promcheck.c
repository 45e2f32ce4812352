/* promcheck — an independent checker of the Prometheus text format 0.0.4.
 *
 *   sluice-promcheck SCRAPE [PREVIOUS] [--sum NAME]...
 *
 * Validates every line of SCRAPE: # HELP / # TYPE syntax and escapes, one
 * TYPE per family before its samples, families contiguous, sample names
 * belonging to their family (histograms: _bucket with le, _sum, _count),
 * label names, label value escapes (\\ \" \n only), values (floats, +Inf,
 * -Inf, NaN), optional integer timestamps, no duplicate series, counters
 * >= 0, and for every histogram series: le strictly ascending, cumulative
 * counts non-decreasing, a final le="+Inf" equal to _count, a _sum.
 * With PREVIOUS (an earlier scrape of the same process, validated too),
 * every counter and histogram bucket/_count series of PREVIOUS must be in
 * SCRAPE with a value at least as large.
 * --sum NAME prints "NAME VALUE": the sum of every sample named NAME in
 * SCRAPE, exact for integer values (summed as unsigned 64-bit).
 *
 * Written apart from lib/metrics/metrics.c on purpose: it shares no code with the
 * renderer it checks. Exit 0 when everything holds, 1 otherwise (each
 * problem printed as FILE:LINE: reason), 2 on usage errors. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 65536
#define MAX_LABELS 16

struct series {
    char *key;   /* name{sorted labels} */
    char *name;
    int type;    /* family type */
    double value;
    const char *text; /* value as written, for exact sums */
};

enum { T_NONE, T_COUNTER, T_GAUGE, T_HISTOGRAM, T_SUMMARY, T_UNTYPED };

struct hgroup {
    char *key; /* family + labels without le */
    double last_le;
    double last_count;
    int n_buckets;
    bool has_inf, has_sum, has_count;
    double inf_count, count;
    int line;
};

struct scrape {
    const char *file;
    struct series *s;
    size_t n, cap;
    struct hgroup *h;
    size_t nh, caph;
    char **families; /* names that had a TYPE (and thus are closed later) */
    size_t nf, capf;
    char cur_family[256];
    int cur_type;
    bool cur_has_type, cur_has_help;
    int errors;
};

static void err(struct scrape *sc, int line, const char *fmt, const char *a)
{
    fprintf(stderr, "%s:%d: ", sc->file, line);
    fprintf(stderr, fmt, a ? a : "");
    fputc('\n', stderr);
    sc->errors++;
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 64;
    p = realloc(p, *cap * size);
    if (!p)
        abort();
    return p;
}

static char *dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static bool metric_name_ok(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return false;
    return true;
}

static bool label_name_ok(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return !(n >= 2 && s[0] == '_' && s[1] == '_');
}

/* Strict float syntax of the format: Go ParseFloat-like plus Inf/NaN. */
static bool parse_value(const char *s, double *out)
{
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
        *out = INFINITY;
        return true;
    }
    if (strcmp(s, "-Inf") == 0) {
        *out = -INFINITY;
        return true;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return true;
    }
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return false;
    for (const char *q = p; *q; q++)
        if (!(isdigit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E' ||
              *q == '+' || *q == '-'))
            return false;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *end == '\0' && errno == 0;
}

static int type_of(const char *t)
{
    static const char *const names[] = {"", "counter", "gauge", "histogram",
                                        "summary", "untyped"};
    for (int i = 1; i < 6; i++)
        if (strcmp(t, names[i]) == 0)
            return i;
    return T_NONE;
}

/* HELP text: only \\ and \n escapes. */
static bool help_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\\') {
            if (s[1] != '\\' && s[1] != 'n')
                return false;
            s++;
        }
    return true;
}

static bool family_seen(struct scrape *sc, const char *name)
{
    for (size_t i = 0; i < sc->nf; i++)
        if (strcmp(sc->families[i], name) == 0)
            return true;
    return false;
}

static void open_family(struct scrape *sc, int ln, const char *name)
{
    if (strcmp(sc->cur_family, name) == 0)
        return;
    if (family_seen(sc, name))
        err(sc, ln, "family %s is not contiguous (seen before)", name);
    sc->families = grow(sc->families, &sc->capf, sc->nf, sizeof(char *));
    sc->families[sc->nf++] = dup(name, strlen(name));
    snprintf(sc->cur_family, sizeof(sc->cur_family), "%s", name);
    sc->cur_type = T_NONE;
    sc->cur_has_type = sc->cur_has_help = false;
}

static void comment_line(struct scrape *sc, int ln, char *line)
{
    char kw[8], name[256];
    int off = 0;
    if (sscanf(line, "# %7s %255s %n", kw, name, &off) < 2 ||
        (strcmp(kw, "HELP") != 0 && strcmp(kw, "TYPE") != 0))
        return; /* any other comment is allowed */
    if (strncmp(line, "# ", 2) != 0 || line[2 + strlen(kw)] != ' ')
        err(sc, ln, "%s: expected single spaces after '#'", kw);
    if (!metric_name_ok(name, strlen(name)))
        err(sc, ln, "bad metric name in %s", kw);
    open_family(sc, ln, name);
    const char *rest = line + off;
    if (strcmp(kw, "HELP") == 0) {
        if (sc->cur_has_help)
            err(sc, ln, "second HELP for %s", name);
        sc->cur_has_help = true;
        if (!help_ok(rest))
            err(sc, ln, "bad escape in HELP of %s", name);
        return;
    }
    if (sc->cur_has_type)
        err(sc, ln, "second TYPE for %s", name);
    sc->cur_has_type = true;
    sc->cur_type = type_of(rest);
    if (sc->cur_type == T_NONE)
        err(sc, ln, "unknown TYPE '%s'", rest);
}

struct label {
    char *name;
    char *value; /* unescaped */
};

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

/* Parses {a="x",b="y"} at *pp; returns the label count or -1. */
static int parse_labels(struct scrape *sc, int ln, const char **pp,
                        struct label *out)
{
    const char *p = *pp + 1;
    int n = 0;
    while (*p != '}') {
        const char *ns = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (!label_name_ok(ns, (size_t)(p - ns)) || *p != '=' || p[1] != '"') {
            err(sc, ln, "bad label name or missing =\"%s", "");
            return -1;
        }
        if (n == MAX_LABELS) {
            err(sc, ln, "too many labels%s", "");
            return -1;
        }
        out[n].name = dup(ns, (size_t)(p - ns));
        p += 2;
        char *v = malloc(strlen(p) + 1), *w = v;
        if (!v)
            abort();
        for (; *p && *p != '"'; p++) {
            if (*p == '\\') {
                p++;
                if (*p == '\\' || *p == '"')
                    *w++ = *p;
                else if (*p == 'n')
                    *w++ = '\n';
                else {
                    err(sc, ln, "bad escape in label value%s", "");
                    free(v);
                    free(out[n].name);
                    return -1;
                }
            } else if (*p == '\n') {
                break;
            } else {
                *w++ = *p;
            }
        }
        *w = '\0';
        out[n++].value = v;
        if (*p != '"') {
            err(sc, ln, "unterminated label value%s", "");
            return -1;
        }
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}') {
            err(sc, ln, "expected , or } after a label%s", "");
            return -1;
        }
    }
    *pp = p + 1;
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            if (strcmp(out[i].name, out[k].name) == 0)
                err(sc, ln, "duplicate label %s", out[i].name);
    return n;
}

static char *series_key(const char *name, struct label *l, int n,
                        const char *skip)
{
    size_t len = strlen(name) + 3;
    for (int i = 0; i < n; i++)
        len += strlen(l[i].name) + strlen(l[i].value) + 4;
    char *k = malloc(len), *w = k;
    if (!k)
        abort();
    w += sprintf(w, "%s{", name);
    for (int i = 0; i < n; i++)
        if (!skip || strcmp(l[i].name, skip) != 0)
            w += sprintf(w, "%s=\"%s\",", l[i].name, l[i].value);
    sprintf(w, "}");
    return k;
}

static struct hgroup *hgroup(struct scrape *sc, const char *key, int ln)
{
    for (size_t i = 0; i < sc->nh; i++)
        if (strcmp(sc->h[i].key, key) == 0)
            return &sc->h[i];
    sc->h = grow(sc->h, &sc->caph, sc->nh, sizeof(*sc->h));
    struct hgroup *g = &sc->h[sc->nh++];
    memset(g, 0, sizeof(*g));
    g->key = dup(key, strlen(key));
    g->last_le = -INFINITY;
    g->line = ln;
    return g;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Histogram samples: _bucket with le, _sum, _count of the current family. */
static void histogram_sample(struct scrape *sc, int ln, const char *name,
                             struct label *l, int n, double v)
{
    const char *fam = sc->cur_family;
    char *gkey = series_key(fam, l, n, "le");
    struct hgroup *g = hgroup(sc, gkey, ln);
    free(gkey);
    size_t fl = strlen(fam);
    const char *suffix = name + fl;
    if (strncmp(name, fam, fl) != 0) {
        err(sc, ln, "sample %s outside its histogram family", name);
    } else if (strcmp(suffix, "_bucket") == 0) {
        const char *le = NULL;
        for (int i = 0; i < n; i++)
            if (strcmp(l[i].name, "le") == 0)
                le = l[i].value;
        double bound;
        if (!le || !parse_value(le, &bound) || isnan(bound)) {
            err(sc, ln, "_bucket without a valid le%s", "");
            return;
        }
        if (g->has_inf)
            err(sc, ln, "bucket after le=\"+Inf\"%s", "");
        if (!(bound > g->last_le))
            err(sc, ln, "le %s not strictly ascending", le);
        if (v < g->last_count)
            err(sc, ln, "bucket count decreases at le=%s", le);
        g->last_le = bound;
        g->last_count = v;
        g->n_buckets++;
        if (isinf(bound) && bound > 0) {
            g->has_inf = true;
            g->inf_count = v;
        }
    } else if (strcmp(suffix, "_sum") == 0) {
        g->has_sum = true;
    } else if (strcmp(suffix, "_count") == 0) {
        g->has_count = true;
        g->count = v;
    } else {
        err(sc, ln, "%s is not a histogram sample name", name);
    }
}

static void check_belongs(struct scrape *sc, int ln, const char *name)
{
    const char *fam = sc->cur_family;
    if (sc->cur_type == T_HISTOGRAM || sc->cur_type == T_SUMMARY) {
        size_t fl = strlen(fam);
        if (strncmp(name, fam, fl) == 0 &&
            (ends_with(name, "_bucket") || ends_with(name, "_sum") ||
             ends_with(name, "_count") || strcmp(name, fam) == 0))
            return;
    } else if (strcmp(name, fam) == 0) {
        return;
    }
    /* An untyped sample of its own family. */
    open_family(sc, ln, name);
}

static void sample_line(struct scrape *sc, int ln, char *line)
{
    const char *p = line;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
        p++;
    char *name = dup(line, (size_t)(p - line));
    struct label l[MAX_LABELS];
    int n = 0;
    if (!metric_name_ok(name, strlen(name))) {
        err(sc, ln, "bad sample line '%s'", line);
        free(name);
        return;
    }
    check_belongs(sc, ln, name);
    if (*p == '{' && (n = parse_labels(sc, ln, &p, l)) < 0)
        goto out;
    if (*p != ' ') {
        err(sc, ln, "expected one space before the value in '%s'", line);
        goto out;
    }
    p++;
    /* VALUE [TIMESTAMP], one space apart, nothing after. */
    const char *sp = strchr(p, ' ');
    size_t vlen = sp ? (size_t)(sp - p) : strlen(p);
    char *vtext = dup(p, vlen);
    double v;
    bool ok = parse_value(vtext, &v);
    if (ok && sp) {
        const char *t = sp + 1;
        if (*t == '-')
            t++;
        ok = *t != '\0';
        for (; *t; t++)
            ok = ok && isdigit((unsigned char)*t);
    }
    if (!ok) {
        err(sc, ln, "bad value or timestamp in '%s'", line);
        free(vtext);
        goto out;
    }
    if (sc->cur_type == T_COUNTER && (isnan(v) || v < 0))
        err(sc, ln, "counter value negative or NaN in '%s'", line);
    if (sc->cur_type == T_HISTOGRAM)
        histogram_sample(sc, ln, name, l, n, v);
    qsort(l, (size_t)n, sizeof(*l), label_cmp);
    char *key = series_key(name, l, n, NULL);
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].key, key) == 0)
            err(sc, ln, "duplicate series %s", key);
    sc->s = grow(sc->s, &sc->cap, sc->n, sizeof(*sc->s));
    sc->s[sc->n++] = (struct series){key, name, sc->cur_type, v, vtext};
    name = NULL;
out:
    for (int i = 0; i < n; i++) {
        free(l[i].name);
        free(l[i].value);
    }
    free(name);
}

static void finish_histograms(struct scrape *sc)
{
    for (size_t i = 0; i < sc->nh; i++) {
        struct hgroup *g = &sc->h[i];
        if (!g->has_inf)
            err(sc, g->line, "histogram %s has no le=\"+Inf\" bucket", g->key);
        if (!g->has_count || !g->has_sum)
            err(sc, g->line, "histogram %s lacks _count or _sum", g->key);
        if (g->has_inf && g->has_count && g->inf_count != g->count)
            err(sc, g->line, "histogram %s: +Inf bucket != _count", g->key);
    }
}

static int load(struct scrape *sc, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", file, strerror(errno));
        return -1;
    }
    memset(sc, 0, sizeof(*sc));
    sc->file = file;
    static char line[MAX_LINE];
    int ln = 0;
    bool last_nl = true;
    while (fgets(line, sizeof(line), f)) {
        ln++;
        size_t len = strlen(line);
        last_nl = len > 0 && line[len - 1] == '\n';
        if (last_nl)
            line[--len] = '\0';
        else if (!feof(f))
            err(sc, ln, "line longer than %s bytes", "65535");
        if (len == 0)
            continue;
        if (line[0] == '#')
            comment_line(sc, ln, line);
        else
            sample_line(sc, ln, line);
    }
    fclose(f);
    if (ln == 0)
        err(sc, 0, "empty scrape%s", "");
    else if (!last_nl)
        err(sc, ln, "last line does not end with a newline%s", "");
    finish_histograms(sc);
    return 0;
}

static const struct series *find(const struct scrape *sc, const char *key)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].key, key) == 0)
            return &sc->s[i];
    return NULL;
}

static int monotonic(const struct scrape *cur, const struct scrape *prev)
{
    int bad = 0;
    for (size_t i = 0; i < prev->n; i++) {
        const struct series *p = &prev->s[i];
        bool cumulative = p->type == T_COUNTER ||
                          (p->type == T_HISTOGRAM && !ends_with(p->name, "_sum"));
        if (!cumulative)
            continue;
        const struct series *c = find(cur, p->key);
        if (!c || c->value < p->value) {
            fprintf(stderr, "%s: %s went from %s to %s\n", cur->file, p->key,
                    p->text, c ? c->text : "(gone)");
            bad++;
        }
    }
    return bad;
}

static void print_sum(const struct scrape *sc, const char *name)
{
    uint64_t exact = 0;
    double approx = 0;
    bool integral = true;
    for (size_t i = 0; i < sc->n; i++) {
        if (strcmp(sc->s[i].name, name) != 0)
            continue;
        const char *t = sc->s[i].text;
        bool digits = *t != '\0';
        for (const char *q = t; *q; q++)
            digits = digits && isdigit((unsigned char)*q);
        if (digits)
            exact += strtoull(t, NULL, 10);
        else
            integral = false;
        approx += sc->s[i].value;
    }
    if (integral)
        printf("%s %llu\n", name, (unsigned long long)exact);
    else
        printf("%s %.17g\n", name, approx);
}

int main(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    const char *sums[32];
    int n_files = 0, n_sums = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sum") == 0 && i + 1 < argc && n_sums < 32)
            sums[n_sums++] = argv[++i];
        else if (argv[i][0] != '-' && n_files < 2)
            files[n_files++] = argv[i];
        else {
            fprintf(stderr, "usage: sluice-promcheck SCRAPE [PREVIOUS] [--sum NAME]...\n");
            return 2;
        }
    }
    if (n_files == 0) {
        fprintf(stderr, "usage: sluice-promcheck SCRAPE [PREVIOUS] [--sum NAME]...\n");
        return 2;
    }
    static struct scrape cur, prev; /* static: reachable until exit */
    if (load(&cur, files[0]) != 0)
        return 2;
    int bad = cur.errors;
    if (files[1]) {
        if (load(&prev, files[1]) != 0)
            return 2;
        bad += prev.errors + monotonic(&cur, &prev);
    }
    for (int i = 0; i < n_sums; i++)
        print_sum(&cur, sums[i]);
    if (bad == 0)
        fprintf(stderr, "promcheck: %s: %zu samples, %zu histogram series: ok\n",
                files[0], cur.n, cur.nh);
    return bad ? 1 : 0;
}
