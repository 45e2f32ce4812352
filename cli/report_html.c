/* report_html.c — the report as one self-contained HTML page: the bill and
 * the learning curve first, then SVG charts drawn here from the report's
 * tables, then every other table. Nothing is fetched: no scripts, fonts,
 * images or links. */
#include "report_tables.h"

#include <stdlib.h>
#include <string.h>

#include "pricing.h"

#define CHART_W 720
#define CHART_H 300
#define PAD_L 64
#define PAD_R 64
#define PAD_T 34 /* the axis titles sit above the plot */
#define PAD_B 56 /* x labels, then the legend */
#define PLOT_W (CHART_W - PAD_L - PAD_R)
#define PLOT_H (CHART_H - PAD_T - PAD_B)
/* A generous width of one 11 px character: labels are placed and thinned
 * so that they fit the SVG (tests/integration/41 checks with the same). */
#define CHAR_W 6.5

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                      "#59a14f", "#edc948", "#b07aa1", "#ff9da7"};
/* The learning curve's series: tier 0, cache, tiers 1-3, failed. */
static const char *const curve_colors[] = {"#59a14f", "#76b7b2", "#4e79a7",
                                           "#f28e2b", "#e15759", "#9d9d9d"};

/* A chart's data: n x-positions, each with n_series values (stacked). */
struct chart {
    const char *title, *unit;   /* unit: the left axis' title */
    size_t n, n_series;
    const char **labels;        /* n, borrowed */
    const char **series;        /* n_series names, borrowed */
    double *values;             /* n * n_series */
    double *line;               /* NULL or n values on the right axis */
    const char *line_name;      /* the right axis' title */
    bool usd, line_usd;         /* axis ticks in dollars */
    double ymax;                /* 0: the tallest stack */
    const char *const *colors;  /* NULL: palette */
    size_t label_skip;          /* characters of each label not shown */
};

void report_html_escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

static double num(const char *v)
{
    return v ? strtod(v, NULL) : 0;
}

static double max_of(const double *v, size_t n, size_t stride, size_t width)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t k = 0; k < width; k++)
            s += v[i * stride + k];
        m = s > m ? s : m;
    }
    return m > 0 ? m : 1;
}

static const char *color(const struct chart *ch, size_t s)
{
    return ch->colors ? ch->colors[s] : palette[s % SL_ARRAY_LEN(palette)];
}

/* A tick's text: at most 9 characters, so it fits the 64 px margins. */
static void tick(double v, bool usd, char *buf, size_t size)
{
    snprintf(buf, size, usd ? "$%.3g" : "%.4g", v);
}

static void svg_text(FILE *out, double x, double y, const char *anchor,
                     const char *text)
{
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y, anchor);
    report_html_escape(out, text);
    fputs("</text>\n", out);
}

static const char *x_label(const struct chart *ch, size_t i)
{
    const char *l = ch->labels[i];
    if (!*l)
        return "(none)";
    return strlen(l) > ch->label_skip ? l + ch->label_skip : l;
}

/* Every how many x-positions a label is written, so that none overlap. */
static size_t label_step(const struct chart *ch)
{
    size_t longest = 1;
    for (size_t i = 0; i < ch->n; i++) {
        size_t len = strlen(x_label(ch, i));
        longest = len > longest ? len : longest;
    }
    double slot = (double)PLOT_W / (double)ch->n;
    return (size_t)(((double)longest * CHAR_W + 8) / slot) + 1;
}

static void svg_axes(FILE *out, const struct chart *ch, double ymax, double lmax)
{
    char buf[64];
    fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
            PAD_L, PAD_T + PLOT_H, PAD_L + PLOT_W, PAD_T + PLOT_H);
    fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
            PAD_L, PAD_T, PAD_L, PAD_T + PLOT_H);
    for (int k = 0; k <= 2; k++) {
        double y = PAD_T + PLOT_H - PLOT_H * k / 2.0;
        if (k)
            fprintf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n",
                    PAD_L, y, PAD_L + PLOT_W, y);
        /* Baselines 3 px under the grid line: the 0 stays clear of the x
         * labels below the axis. */
        tick(ymax * k / 2, ch->usd, buf, sizeof(buf));
        svg_text(out, PAD_L - 4, y + 3, "end", buf);
        if (ch->line) {
            tick(lmax * k / 2, ch->line_usd, buf, sizeof(buf));
            svg_text(out, PAD_L + PLOT_W + 4, y + 3, "start", buf);
        }
    }
    /* Axis titles above the plot, each inside the SVG. */
    svg_text(out, 4, PAD_T - 16, "start", ch->unit);
    if (ch->line)
        svg_text(out, CHART_W - 4, PAD_T - 16, "end", ch->line_name);
    size_t step = label_step(ch);
    double slot = (double)PLOT_W / (double)ch->n;
    for (size_t i = 0; i < ch->n; i += step)
        svg_text(out, PAD_L + slot * ((double)i + 0.5), PAD_T + PLOT_H + 18,
                 "middle", x_label(ch, i));
}

static void svg_bars(FILE *out, const struct chart *ch, double ymax)
{
    double slot = (double)PLOT_W / (double)ch->n;
    for (size_t i = 0; i < ch->n; i++) {
        double y = PAD_T + PLOT_H;
        for (size_t s = 0; s < ch->n_series; s++) {
            double h = ch->values[i * ch->n_series + s] / ymax * PLOT_H;
            y -= h;
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
                         " fill=\"%s\"><title>",
                    PAD_L + slot * (double)i + slot * 0.1, y, slot * 0.8, h, color(ch, s));
            report_html_escape(out, ch->labels[i]);
            if (ch->series) {
                fputc(' ', out);
                report_html_escape(out, ch->series[s]);
            }
            fprintf(out, ": %.6g</title></rect>\n", ch->values[i * ch->n_series + s]);
        }
    }
}

static void svg_line(FILE *out, const struct chart *ch, double lmax)
{
    double slot = (double)PLOT_W / (double)ch->n;
    fputs("<polyline class=\"line\" points=\"", out);
    for (size_t i = 0; i < ch->n; i++)
        fprintf(out, "%.1f,%.1f ", PAD_L + slot * ((double)i + 0.5),
                PAD_T + PLOT_H - ch->line[i] / lmax * PLOT_H);
    fputs("\"/>\n", out);
}

static void svg_legend(FILE *out, const struct chart *ch)
{
    double x = PAD_L;
    for (size_t s = 0; ch->series && s < ch->n_series; s++) {
        fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>\n",
                x, CHART_H - 18, color(ch, s));
        svg_text(out, x + 14, CHART_H - 9, "start", ch->series[s]);
        x += 14 + (double)strlen(ch->series[s]) * CHAR_W + 14;
    }
    if (ch->line) {
        fprintf(out, "<line class=\"line\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
                x, CHART_H - 13, x + 14, CHART_H - 13);
        svg_text(out, x + 18, CHART_H - 9, "start", ch->line_name);
    }
}

/* A single x-position makes a one-bar chart: its figures as a table. */
static void chart_as_table(FILE *out, const struct chart *ch)
{
    fputs("<table class=\"mini\"><tr><th></th>", out);
    for (size_t s = 0; s < ch->n_series; s++) {
        fputs("<th>", out);
        report_html_escape(out, ch->series ? ch->series[s] : ch->unit);
        fputs("</th>", out);
    }
    if (ch->line) {
        fputs("<th>", out);
        report_html_escape(out, ch->line_name);
        fputs("</th>", out);
    }
    fputs("</tr>\n", out);
    for (size_t i = 0; i < ch->n; i++) {
        fputs("<tr><td>", out);
        report_html_escape(out, *ch->labels[i] ? ch->labels[i] : "(none)");
        fputs("</td>", out);
        for (size_t s = 0; s < ch->n_series; s++)
            fprintf(out, "<td class=\"n\">%s%.6g</td>", ch->usd ? "$" : "",
                    ch->values[i * ch->n_series + s]);
        if (ch->line)
            fprintf(out, "<td class=\"n\">%s%.6g</td>", ch->line_usd ? "$" : "", ch->line[i]);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void chart_write(FILE *out, const struct chart *ch)
{
    fputs("<figure><figcaption>", out);
    report_html_escape(out, ch->title);
    fputs("</figcaption>\n", out);
    if (ch->n == 1) {
        chart_as_table(out, ch);
        fputs("</figure>\n", out);
        return;
    }
    fprintf(out, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
            CHART_W, CHART_H, CHART_W, CHART_H);
    if (ch->n == 0) {
        svg_text(out, CHART_W / 2.0, CHART_H / 2.0, "middle", "no data in range");
    } else {
        double ymax = ch->ymax > 0 ? ch->ymax
                                   : max_of(ch->values, ch->n, ch->n_series, ch->n_series);
        double lmax = ch->line ? max_of(ch->line, ch->n, 1, 1) : 0;
        svg_axes(out, ch, ymax, lmax);
        svg_bars(out, ch, ymax);
        if (ch->line)
            svg_line(out, ch, lmax);
        svg_legend(out, ch);
    }
    fputs("</svg></figure>\n", out);
}

static void chart_free(struct chart *ch)
{
    free(ch->labels);
    free(ch->series);
    free(ch->values);
    free(ch->line);
}

/* One bar per row: label column lc, value column vc times scale. */
static void chart_simple(FILE *out, const struct report_table *t, const char *title,
                         const char *unit, size_t lc, size_t vc, double scale)
{
    struct chart ch = {.title = title, .unit = unit, .n_series = 1};
    size_t n = t ? t->n_rows : 0;
    ch.labels = xcalloc(n + 1, sizeof(*ch.labels));
    ch.values = xcalloc(n + 1, sizeof(*ch.values));
    for (size_t r = 0; r < n; r++) {
        const char *label = report_cell(t, r, lc);
        ch.labels[ch.n] = label ? label : "";
        ch.values[ch.n++] = num(report_cell(t, r, vc)) * scale;
    }
    chart_write(out, &ch);
    chart_free(&ch);
}

/* Index of s in list (appending it when absent). */
static size_t intern(const char **list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(list[i], s))
            return i;
    list[*n] = s;
    return (*n)++;
}

/* Long rows (x, series, value) to a stacked chart. */
static void chart_stacked(FILE *out, const struct report_table *t)
{
    struct chart ch = {.title = "Daily cost, stacked by tier", .unit = "USD per day",
                       .usd = true};
    size_t n = t ? t->n_rows : 0;
    ch.labels = xcalloc(n + 1, sizeof(*ch.labels));
    ch.series = xcalloc(n + 1, sizeof(*ch.series));
    for (size_t r = 0; r < n; r++) {
        intern(ch.labels, &ch.n, report_cell(t, r, 0));
        intern(ch.series, &ch.n_series, report_cell(t, r, 1));
    }
    for (size_t s = 0; s < ch.n_series; s++)
        ch.series[s] = xasprintf("tier %s", ch.series[s]);
    ch.values = xcalloc(ch.n * ch.n_series + 1, sizeof(*ch.values));
    for (size_t r = 0; r < n; r++) {
        size_t x = intern(ch.labels, &ch.n, report_cell(t, r, 0));
        char name[64];
        snprintf(name, sizeof(name), "tier %s", report_cell(t, r, 1));
        size_t s = intern(ch.series, &ch.n_series, name);
        ch.values[x * ch.n_series + s] = num(report_cell(t, r, 3)) / 1e9;
    }
    chart_write(out, &ch);
    for (size_t s = 0; s < ch.n_series; s++)
        free((char *)ch.series[s]);
    chart_free(&ch);
}

static void chart_volume(FILE *out, const struct report_table *t)
{
    struct chart ch = {.title = "Provider calls per day (bars) and cost per call (line)",
                       .unit = "calls per day", .n_series = 1,
                       .line_name = "USD per call", .line_usd = true};
    size_t n = t ? t->n_rows : 0;
    ch.labels = xcalloc(n + 1, sizeof(*ch.labels));
    ch.values = xcalloc(n + 1, sizeof(*ch.values));
    ch.line = xcalloc(n + 1, sizeof(*ch.line));
    for (; ch.n < n; ch.n++) {
        ch.labels[ch.n] = report_cell(t, ch.n, 0);
        ch.values[ch.n] = num(report_cell(t, ch.n, 2));
        ch.line[ch.n] = num(report_cell(t, ch.n, 4)) / 1e9;
    }
    chart_write(out, &ch);
    chart_free(&ch);
}

/* The escalation table is per task and tier; the chart is per task. */
static void chart_escalation(FILE *out, const struct report_table *t)
{
    struct chart ch = {.title = "Escalation rate per task", .unit = "% of calls",
                       .n_series = 1};
    size_t n = t ? t->n_rows : 0;
    ch.labels = xcalloc(n + 1, sizeof(*ch.labels));
    ch.values = xcalloc(n + 1, sizeof(*ch.values));
    double *calls = xcalloc(n + 1, sizeof(*calls));
    for (size_t r = 0; r < n; r++) {
        size_t i = intern(ch.labels, &ch.n, report_cell(t, r, 0));
        calls[i] += num(report_cell(t, r, 2));
        ch.values[i] += num(report_cell(t, r, 3));
    }
    for (size_t i = 0; i < ch.n; i++)
        ch.values[i] = calls[i] > 0 ? ch.values[i] / calls[i] * 100 : 0;
    free(calls);
    chart_write(out, &ch);
    chart_free(&ch);
}

/* How much of the labels "YYYY-MM-DD HH:MI..." the bars need not show:
 * the date when all share it (it goes in the caption), else the year. */
static size_t common_date(const struct report_table *t)
{
    const char *first = report_cell(t, 0, 0);
    if (!first || strlen(first) <= 11)
        return 0;
    for (size_t r = 1; r < t->n_rows; r++) {
        const char *l = report_cell(t, r, 0);
        if (!l || strncmp(l, first, 11) != 0)
            return 5;
    }
    return 11;
}

/* The learning curve: who answered each period (stacked shares of jobs)
 * and the cost per 1,000 jobs (line). Columns as in report_tables.c. */
static void chart_curve(FILE *out, const struct report_table *t)
{
    static const char *const names[] = {"tier 0", "cache", "tier 1",
                                        "tier 2", "tier 3", "failed"};
    struct chart ch = {.title = "Who answered each period (bars, % of jobs) and what"
                                " 1,000 jobs cost (line)",
                       .unit = "% of jobs", .n_series = 6, .line_name = "USD per 1,000 jobs",
                       .line_usd = true, .ymax = 100, .colors = curve_colors};
    ch.labels = xcalloc(t->n_rows, sizeof(*ch.labels));
    ch.series = xcalloc(6, sizeof(*ch.series));
    memcpy(ch.series, names, sizeof(names));
    ch.values = xcalloc(t->n_rows * 6, sizeof(*ch.values));
    ch.line = xcalloc(t->n_rows, sizeof(*ch.line));
    ch.label_skip = common_date(t);
    char title[160];
    if (ch.label_skip == 11) {
        snprintf(title, sizeof(title), "%s, %.10s (UTC)", ch.title, report_cell(t, 0, 0));
        ch.title = title;
    }
    /* A period of a handful of jobs (the last escalations of a burst) has
     * a cost per job of its own that would set the line's scale: such
     * periods are left to the table. */
    double total = 0, left_out = 0;
    for (size_t r = 0; r < t->n_rows; r++)
        total += num(report_cell(t, r, 1));
    for (size_t r = 0; r < t->n_rows; r++) {
        if (num(report_cell(t, r, 1)) < total / 100) {
            left_out += num(report_cell(t, r, 1));
            continue;
        }
        ch.labels[ch.n] = report_cell(t, r, 0);
        for (size_t s = 0; s < 6; s++)
            ch.values[ch.n * 6 + s] = num(report_cell(t, r, 2 + s)) * 100;
        ch.line[ch.n++] = num(report_cell(t, r, 9)) / 1e9;
    }
    char caption[256];
    if (left_out > 0) {
        snprintf(caption, sizeof(caption), "%s; periods with under 1 %% of the jobs"
                 " (%.0f jobs) are in the table only", ch.title, left_out);
        ch.title = caption;
    }
    chart_write(out, &ch);
    chart_free(&ch);
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{padding:2px 10px;border-bottom:1px solid #ddd}td{white-space:nowrap}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "th{text-align:left;background:#f3f3f3;vertical-align:bottom}"
    "figure{margin:1em 0}figcaption{font-weight:600}"
    "svg text{font-size:11px;fill:#333}"
    ".axis{stroke:#888}.grid{stroke:#e4e4e4}.line{stroke:#222;stroke-width:2;fill:none}"
    ".note{color:#666}"
    ".bill{display:flex;flex-wrap:wrap;gap:12px;margin:1em 0}"
    ".fig{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}"
    ".fig b{display:block;font-size:1.6em;font-variant-numeric:tabular-nums}"
    ".fig.key{background:#eef6ec;border-color:#59a14f}"
    ".fig span{color:#555}";

static void cell_text(const struct report_table *t, size_t r, size_t c, char *buf,
                      size_t size)
{
    const char *v = report_cell(t, r, c);
    if (!v)
        sl_strlcpy(buf, "-", size);
    else if (t->types[c] == REPORT_NANOUSD)
        pricing_format_usd(strtoll(v, NULL, 10), buf, size);
    else if (t->types[c] == REPORT_FRACTION)
        snprintf(buf, size, "%.1f%%", strtod(v, NULL) * 100);
    else
        sl_strlcpy(buf, *v ? v : "(none)", size);
}

static void html_table(FILE *out, const struct report_table *t)
{
    char buf[128];
    fputs("<h2>", out);
    report_html_escape(out, t->title);
    fputs("</h2>\n<table><tr>", out);
    for (size_t c = 0; c < t->n_cols; c++) {
        report_col_name(t, c, buf, sizeof(buf));
        fputs("<th>", out);
        /* A long name may break after its underscores: wide tables fit. */
        for (char *part = strtok(buf, "_"); part; part = strtok(NULL, "_")) {
            if (part != buf)
                fputs("_<wbr>", out);
            report_html_escape(out, part);
        }
        fputs("</th>", out);
    }
    fputs("</tr>\n", out);
    for (size_t r = 0; r < t->n_rows; r++) {
        fputs("<tr>", out);
        for (size_t c = 0; c < t->n_cols; c++) {
            cell_text(t, r, c, buf, sizeof(buf));
            fprintf(out, "<td%s>", t->types[c] == REPORT_TEXT ? "" : " class=\"n\"");
            report_html_escape(out, buf);
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
    if (t->note) {
        fputs("<p class=\"note\">", out);
        report_html_escape(out, t->note);
        fputs("</p>\n", out);
    }
}

static void html_filter(FILE *out, const struct report_filter *f)
{
    const char *names[] = {"from", "to", "feature", "tenant"};
    const char *values[] = {f->from, f->to, f->feature, f->tenant};
    fputs("<p>", out);
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        fprintf(out, "%s%s: ", i ? " · " : "", names[i]);
        report_html_escape(out, values[i] ? values[i] : "all");
    }
    fputs(" (UTC days, inclusive)</p>\n", out);
}

/* One figure of the bill: column c of the bill's row, and what it is. */
static void bill_figure(FILE *out, const struct report_table *t, size_t c,
                        const char *what, bool key)
{
    char buf[64];
    cell_text(t, 0, c, buf, sizeof(buf));
    size_t len = strlen(buf);
    if (t->types[c] == REPORT_NUMBER && report_cell(t, 0, c))
        snprintf(buf + len, sizeof(buf) - len, "×");
    fprintf(out, "<div class=\"fig%s\"><b>", key ? " key" : "");
    report_html_escape(out, buf);
    fputs("</b><span>", out);
    report_html_escape(out, what);
    fputs("</span></div>\n", out);
}

/* The first screen: the bill's figures, then the learning curve. */
static void html_bill(FILE *out, const struct report *rep)
{
    const struct report_table *bill = report_find(rep, "bill");
    const struct report_table *curve = report_find(rep, "learning_curve");
    char line[512];
    if (bill) {
        fputs("<h2 id=\"bill\">The bill</h2>\n", out);
        if (report_bill_line(rep, line, sizeof(line))) {
            fputs("<div class=\"bill\">\n", out);
            bill_figure(out, bill, 1, "cost", true);
            bill_figure(out, bill, 2, "all-top-tier baseline", false);
            bill_figure(out, bill, 4, "saved", true);
            const char *times = report_cell(bill, 0, 5);
            bill_figure(out, bill, 5, times && strtod(times, NULL) < 1 ? "baseline / cost"
                                                                     : "cheaper than the baseline",
                        false);
            bill_figure(out, bill, 6, "per 1,000 jobs", false);
            bill_figure(out, bill, 0, "jobs", false);
            fputs("</div>\n<p class=\"note\">The baseline: every job's concluding"
                  " call priced on the top tier, in realtime.</p>\n", out);
        } else {
            fputs("<p>No provider cost in range.</p>\n", out);
        }
    }
    if (curve) {
        if (curve->n_rows >= 2)
            chart_curve(out, curve);
        html_table(out, curve);
    }
}

void report_write_html(const struct report *rep,
                       const struct report_filter *filter, FILE *out)
{
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>sluice cost report</title><style>%s</style></head>\n"
                 "<body><h1>sluice cost report</h1>\n", css);
    html_filter(out, filter);
    html_bill(out, rep);
    fputs("<h2>Traffic and cost</h2>\n", out);
    chart_simple(out, report_find(rep, "token_histogram"),
                 "Input-token histogram (jobs per bucket, lower bound shown)",
                 "jobs", 0, 2, 1);
    chart_simple(out, report_find(rep, "task_mix"), "Task mix (jobs)", "jobs", 0, 1, 1);
    chart_stacked(out, report_find(rep, "cost_by_day_tier"));
    chart_volume(out, report_find(rep, "cost_by_day"));
    chart_escalation(out, report_find(rep, "escalation"));
    for (size_t i = 0; i < rep->n_tables; i++) {
        const char *section = rep->tables[i].section;
        if (strcmp(section, "bill") != 0 && strcmp(section, "learning_curve") != 0)
            html_table(out, &rep->tables[i]);
    }
    fputs("</body></html>\n", out);
}
