/* sources: cli/report_tables.c lib/db.c lib/utf8.c cli/report_html.c lib/pricing.c lib/tier0/tier0_certify.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/config.c lib/config_table.c lib/sl.c lib/log.c */
/* The report formatters on a hand-built report: CSV quoting and the tidy
 * layout, HTML escaping, aligned text with dollars, and the HTML page's five
 * charts with no external reference; the bill first in text and HTML, the
 * learning curve's chart, a one-bar chart drawn as a table, and the
 * input-token buckets fitting the data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_tables.h"

typedef void (*writer_fn)(FILE *out, const char *s);

static char *capture_str(writer_fn fn, const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, s);
    fclose(f);
    return buf;
}

static void test_escapes(void **state)
{
    (void)state;
    static const struct {
        writer_fn fn;
        const char *in, *want;
    } cases[] = {
        {report_csv_field, "plain", "plain"},
        {report_csv_field, "a,b", "\"a,b\""},
        {report_csv_field, "say \"hi\"", "\"say \"\"hi\"\"\""},
        {report_csv_field, "two\nlines", "\"two\nlines\""},
        {report_csv_field, "", ""},
        {report_html_escape, "<b>&\"x\"", "&lt;b&gt;&amp;&quot;x&quot;"},
        {report_html_escape, "tier 1", "tier 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = capture_str(cases[i].fn, cases[i].in);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

/* A report with one cost table (feature, jobs, cost) and an empty one. */
static struct report *sample(void)
{
    static const char *cols[] = {"feature", "jobs", "cost_nanousd", "share"};
    static const enum report_type types[] = {REPORT_TEXT, REPORT_INT, REPORT_NANOUSD,
                                             REPORT_FRACTION};
    static const char *cells[] = {"search", "12", "1500000000", "0.75",
                                  "a,b", "3", "500", NULL};
    struct report *rep = xcalloc(1, sizeof(*rep));
    rep->n_tables = 2;
    rep->tables = xcalloc(2, sizeof(*rep->tables));
    for (size_t t = 0; t < 2; t++) {
        struct report_table *tb = &rep->tables[t];
        tb->section = xstrdup(t ? "task_mix" : "cost_by_feature");
        tb->title = xstrdup(t ? "Task mix" : "Cost by feature");
        tb->n_cols = 4;
        tb->n_keys = 1;
        tb->cols = xcalloc(4, sizeof(char *));
        tb->types = xcalloc(4, sizeof(enum report_type));
        for (size_t c = 0; c < 4; c++) {
            tb->cols[c] = xstrdup(cols[c]);
            tb->types[c] = types[c];
        }
    }
    struct report_table *tb = &rep->tables[0];
    tb->n_rows = 2;
    tb->cells = xcalloc(8, sizeof(char *));
    for (size_t k = 0; k < 8; k++)
        tb->cells[k] = cells[k] ? xstrdup(cells[k]) : NULL;
    return rep;
}

typedef void (*report_fn)(const struct report *rep, FILE *out);

static char *capture(report_fn fn, const struct report *rep)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(rep, f);
    fclose(f);
    return buf;
}

static void test_csv(void **state)
{
    (void)state;
    struct report *rep = sample();
    char *got = capture(report_write_csv, rep);
    assert_string_equal(got,
                        "section,key,metric,value\r\n"
                        "cost_by_feature,search,jobs,12\r\n"
                        "cost_by_feature,search,cost_nanousd,1500000000\r\n"
                        "cost_by_feature,search,share,0.75\r\n"
                        "cost_by_feature,\"a,b\",jobs,3\r\n"
                        "cost_by_feature,\"a,b\",cost_nanousd,500\r\n"
                        "cost_by_feature,\"a,b\",share,\r\n");
    free(got);
    report_free(rep);
}

static void test_text(void **state)
{
    (void)state;
    struct report *rep = sample();
    char *got = capture(report_write_text, rep);
    assert_string_equal(got,
                        "Cost by feature\n"
                        "  feature  jobs   cost_usd  share\n"
                        "  search     12  $1.500000  75.0%\n"
                        "  a,b         3  $0.000001      -\n"
                        "\nTask mix\n"
                        "  feature  jobs  cost_usd  share\n"
                        "  (no data)\n");
    free(got);
    report_free(rep);
}

static void html_writer(const struct report *rep, FILE *out)
{
    struct report_filter f = {.feature = "<x>"};
    report_write_html(rep, &f, out);
}

static void test_html(void **state)
{
    (void)state;
    struct report *rep = sample();
    char *got = capture(html_writer, rep);
    size_t svgs = 0;
    for (const char *p = got; (p = strstr(p, "<svg")) != NULL; p++)
        svgs++;
    assert_int_equal(svgs, 5);
    assert_null(strstr(got, "http://"));
    assert_null(strstr(got, "https://"));
    assert_non_null(strstr(got, "&lt;x&gt;"));
    assert_non_null(strstr(got, "<td class=\"n\">$1.500000</td>"));
    assert_non_null(strstr(got, "no data in range"));
    free(got);
    report_free(rep);
}

/* Appends a table to rep: name, column names and types, rows of cells. */
static void add_table(struct report *rep, const char *section, size_t n_cols,
                      const char *const *cols, const enum report_type *types,
                      size_t n_rows, const char *const *cells)
{
    rep->tables = xrealloc(rep->tables, (rep->n_tables + 1) * sizeof(*rep->tables));
    struct report_table *t = &rep->tables[rep->n_tables++];
    memset(t, 0, sizeof(*t));
    t->section = xstrdup(section);
    t->title = xstrdup(section);
    t->n_cols = n_cols;
    t->n_keys = 1;
    t->cols = xcalloc(n_cols, sizeof(char *));
    t->types = xcalloc(n_cols, sizeof(enum report_type));
    for (size_t c = 0; c < n_cols; c++) {
        t->cols[c] = xstrdup(cols[c]);
        t->types[c] = types[c];
    }
    t->n_rows = n_rows;
    t->cells = xcalloc(n_rows * n_cols + 1, sizeof(char *));
    for (size_t k = 0; k < n_rows * n_cols; k++)
        t->cells[k] = cells[k] ? xstrdup(cells[k]) : NULL;
}

/* The sample with a bill and a learning curve of n_periods (1 or 3) first,
 * and a one-day cost_by_day table. */
static struct report *sample_with_bill(size_t n_periods)
{
    static const char *bill_cols[] = {"jobs", "cost_nanousd", "baseline_nanousd",
                                      "saved_nanousd", "saved_share", "times_cheaper",
                                      "cost_per_1000_jobs_nanousd"};
    static const enum report_type bill_types[] = {
        REPORT_INT, REPORT_NANOUSD, REPORT_NANOUSD, REPORT_NANOUSD,
        REPORT_FRACTION, REPORT_NUMBER, REPORT_NANOUSD};
    static const char *bill[] = {"2000", "250000000", "5000000000", "4750000000",
                                 "0.95", "20.00", "125000000"};
    static const char *curve_cols[] = {"period", "jobs", "tier0_share", "cache_share",
                                       "tier1_share", "tier2_share", "tier3_share",
                                       "failed_share", "cost_nanousd",
                                       "cost_per_1000_jobs_nanousd", "saved_share"};
    static const enum report_type curve_types[] = {
        REPORT_TEXT, REPORT_INT, REPORT_FRACTION, REPORT_FRACTION, REPORT_FRACTION,
        REPORT_FRACTION, REPORT_FRACTION, REPORT_FRACTION, REPORT_NANOUSD,
        REPORT_NANOUSD, REPORT_FRACTION};
    static const char *curve[] = {
        "2026-01-01 10:00", "1000", "0", "0", "0.8", "0.15", "0.05", "0", "200000000", "200000000", "0.9",
        "2026-01-01 10:05", "990", "0.5", "0.1", "0.3", "0.08", "0.02", "0", "49000000", "49494949", "0.98",
        "2026-01-01 10:10", "10", "0", "0", "0", "0", "1", "0", "1000000", "100000000", "-0.2"};
    static const char *day_cols[] = {"day", "jobs", "calls", "cost_nanousd",
                                     "cost_per_call_nanousd"};
    static const enum report_type day_types[] = {REPORT_TEXT, REPORT_INT, REPORT_INT,
                                                 REPORT_NANOUSD, REPORT_NANOUSD};
    static const char *day[] = {"2026-01-01", "2000", "1500", "250000000", "166667"};
    struct report *rep = xcalloc(1, sizeof(*rep));
    add_table(rep, "bill", 7, bill_cols, bill_types, 1, bill);
    add_table(rep, "learning_curve", 11, curve_cols, curve_types, n_periods, curve);
    add_table(rep, "cost_by_day", 5, day_cols, day_types, 1, day);
    return rep;
}

static void test_bill_first_text(void **state)
{
    (void)state;
    struct report *rep = sample_with_bill(3);
    char *got = capture(report_write_text, rep);
    const char *want = "The bill: $0.250000 for 2000 jobs, against $5.000000 had"
                       " every job gone to the top tier in realtime: 20.00 times cheaper,"
                       " 95.0% saved; $0.125000 per 1,000 jobs.\n\nlearning_curve\n";
    assert_memory_equal(got, want, strlen(want));
    assert_null(strstr(got, "\nbill\n"));  /* the sentence, not the table */
    assert_null(strstr(got, "nanousd"));
    assert_non_null(strstr(got, "cost_per_1000_jobs_usd"));
    free(got);
    report_free(rep);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_bill_first_html(void **state)
{
    (void)state;
    struct report *rep = sample_with_bill(3);
    char *got = capture(html_writer, rep);
    /* The bill's heading is the first h2, then its figures, then the curve's
     * chart with the 10-job period left to the table. Four charts without
     * data draw "no data in range"; one day of cost_by_day is a table. */
    const char *h2 = strstr(got, "<h2");
    assert_non_null(h2);
    assert_memory_equal(h2, "<h2 id=\"bill\">The bill</h2>", 27);
    assert_true(strstr(got, "<b>95.0%</b><span>saved") > h2);
    assert_true(strstr(got, "<b>20.00×</b>") > h2);
    const char *curve = strstr(got, "Who answered each period");
    assert_non_null(curve);
    assert_true(curve < strstr(got, "Traffic and cost"));
    assert_non_null(strstr(got, "(10 jobs) are in the table only"));
    assert_int_equal(count(got, "<svg"), 5);
    assert_non_null(strstr(got, "<table class=\"mini\"><tr><th></th><th>calls per day</th>"));
    assert_null(strstr(got, "nanousd"));
    assert_non_null(strstr(got, "<th>cost_<wbr>per_<wbr>1000_<wbr>jobs_<wbr>usd</th>"));
    free(got);
    report_free(rep);
    /* A single period: no chart of it, the table only. */
    rep = sample_with_bill(1);
    got = capture(html_writer, rep);
    assert_null(strstr(got, "Who answered each period"));
    assert_int_equal(count(got, "<svg"), 4);
    free(got);
    report_free(rep);
}

static void test_token_edges(void **state)
{
    (void)state;
    long e[64];
    /* Short inputs (12 to 38 tokens): ten buckets of 5 would be too many
     * for 27 values; widths of 5 from 10, the last edge above 38. */
    size_t n = report_token_edges(12, 38, e, 64);
    assert_int_equal(n, 7);
    assert_int_equal(e[0], 10);
    assert_int_equal(e[1], 15);
    assert_int_equal(e[n - 1], 40);
    /* One value: one bucket of width 1. */
    n = report_token_edges(7, 7, e, 64);
    assert_int_equal(n, 2);
    assert_int_equal(e[0], 7);
    assert_int_equal(e[1], 8);
    /* Wide (2 to 10000): doubling from 2 to 16384. */
    n = report_token_edges(2, 10000, e, 64);
    assert_int_equal(e[0], 2);
    assert_int_equal(e[1], 4);
    assert_int_equal(e[n - 1], 16384);
    assert_int_equal(n, 14);
    /* From zero: 0, 1, 2, 4 ... */
    n = report_token_edges(0, 100, e, 64);
    assert_int_equal(e[0], 0);
    assert_int_equal(e[1], 1);
    assert_int_equal(e[2], 2);
    assert_int_equal(e[n - 1], 128);
    for (size_t i = 0; i + 1 < n; i++)
        assert_true(e[i] < e[i + 1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_bill_first_text),
        cmocka_unit_test(test_bill_first_html),
        cmocka_unit_test(test_token_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
