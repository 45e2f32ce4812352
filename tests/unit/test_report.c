/* sources: cli/report_tables.c lib/db.c lib/utf8.c cli/report_html.c lib/pricing.c lib/tier0/tier0_certify.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/config.c lib/config_table.c lib/sl.c lib/log.c */
/* The report formatters on a hand-built report: CSV quoting and the tidy
 * layout, HTML escaping, aligned text with dollars, and the HTML page's five
 * charts with no external reference. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_html),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
