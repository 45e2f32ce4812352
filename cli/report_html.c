/* report_html.c — the report as one self-contained HTML page: inline CSS,
 * SVG charts drawn here from the report's tables, then every table. Nothing
 * is fetched: no scripts, fonts, images or links. */
#include "report_tables.h"

#include <stdlib.h>
#include <string.h>

#include "pricing.h"

#define CHART_W 720
#define CHART_H 280
#define PAD_L 70
#define PAD_R 70
#define PAD_T 20
#define PAD_B 50
#define PLOT_W (CHART_W - PAD_L - PAD_R)
#define PLOT_H (CHART_H - PAD_T - PAD_B)
#define MAX_LABELS 16

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                      "#59a14f", "#edc948", "#b07aa1", "#ff9da7"};

/* A chart's data: n x-positions, each with n_series values (stacked). */
struct chart {
    const char *title, *unit;
    size_t n, n_series;
    const char **labels;        /* n, borrowed */
    const char **series;        /* n_series names, borrowed */
    double *values;             /* n * n_series */
    double *line;               /* NULL or n values on the right axis */
    const char *line_name, *line_unit;
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

static void svg_text(FILE *out, double x, double y, const char *anchor,
                     const char *text)
{
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y, anchor);
    report_html_escape(out, text);
    fputs("</text>\n", out);
}

static void svg_axes(FILE *out, const struct chart *ch, double ymax, double lmax)
{
    char buf[64];
    fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
            PAD_L, PAD_T + PLOT_H, PAD_L + PLOT_W, PAD_T + PLOT_H);
    fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
            PAD_L, PAD_T, PAD_L, PAD_T + PLOT_H);
    snprintf(buf, sizeof(buf), "%.4g %s", ymax, ch->unit);
    svg_text(out, PAD_L - 4, PAD_T + 10, "end", buf);
    svg_text(out, PAD_L - 4, PAD_T + PLOT_H, "end", "0");
    if (ch->line) {
        snprintf(buf, sizeof(buf), "%.4g %s", lmax, ch->line_unit);
        svg_text(out, PAD_L + PLOT_W + 4, PAD_T + 10, "start", buf);
    }
    size_t step = ch->n > MAX_LABELS ? (ch->n + MAX_LABELS - 1) / MAX_LABELS : 1;
    double slot = (double)PLOT_W / (double)(ch->n ? ch->n : 1);
    for (size_t i = 0; i < ch->n; i += step)
        svg_text(out, PAD_L + slot * ((double)i + 0.5), PAD_T + PLOT_H + 16,
                 "middle", *ch->labels[i] ? ch->labels[i] : "(none)");
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
                    PAD_L + slot * (double)i + slot * 0.1, y, slot * 0.8, h,
                    palette[s % SL_ARRAY_LEN(palette)]);
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
    for (size_t s = 0; ch->series && s < ch->n_series; s++, x += 90) {
        fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>\n",
                x, CHART_H - 18, palette[s % SL_ARRAY_LEN(palette)]);
        svg_text(out, x + 14, CHART_H - 9, "start", ch->series[s]);
    }
    if (ch->line) {
        fprintf(out, "<line class=\"line\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
                x, CHART_H - 13, x + 14, CHART_H - 13);
        svg_text(out, x + 18, CHART_H - 9, "start", ch->line_name);
    }
}

static void chart_write(FILE *out, const struct chart *ch)
{
    fputs("<figure><figcaption>", out);
    report_html_escape(out, ch->title);
    fprintf(out, "</figcaption>\n<svg "
                 "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
            CHART_W, CHART_H, CHART_W, CHART_H);
    if (ch->n == 0) {
        svg_text(out, CHART_W / 2.0, CHART_H / 2.0, "middle", "no data in range");
    } else {
        double ymax = max_of(ch->values, ch->n, ch->n_series, ch->n_series);
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
    struct chart ch = {.title = "Daily cost, stacked by tier", .unit = "USD"};
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
                       .unit = "calls", .n_series = 1, .line_name = "cost per call",
                       .line_unit = "USD"};
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
    struct chart ch = {.title = "Escalation rate per task", .unit = "%", .n_series = 1};
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

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{padding:2px 10px;border-bottom:1px solid #ddd}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "th{text-align:left;background:#f3f3f3}"
    "figure{margin:1em 0}figcaption{font-weight:600}"
    "svg text{font-size:11px;fill:#333}"
    ".axis{stroke:#888}.line{stroke:#c0392b;stroke-width:2;fill:none}"
    ".note{color:#666}";

static void html_table(FILE *out, const struct report_table *t)
{
    char buf[128];
    fputs("<h2>", out);
    report_html_escape(out, t->title);
    fputs("</h2>\n<table><tr>", out);
    for (size_t c = 0; c < t->n_cols; c++) {
        fputs("<th>", out);
        report_html_escape(out, t->cols[c]);
        fputs("</th>", out);
    }
    fputs("</tr>\n", out);
    for (size_t r = 0; r < t->n_rows; r++) {
        fputs("<tr>", out);
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *v = report_cell(t, r, c);
            if (!v)
                sl_strlcpy(buf, "-", sizeof(buf));
            else if (t->types[c] == REPORT_NANOUSD)
                pricing_format_usd(strtoll(v, NULL, 10), buf, sizeof(buf));
            else if (t->types[c] == REPORT_FRACTION)
                snprintf(buf, sizeof(buf), "%.1f%%", strtod(v, NULL) * 100);
            else
                sl_strlcpy(buf, *v ? v : "(none)", sizeof(buf));
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

void report_write_html(const struct report *rep,
                       const struct report_filter *filter, FILE *out)
{
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>sluice cost report</title><style>%s</style></head>\n"
                 "<body><h1>sluice cost report</h1>\n", css);
    html_filter(out, filter);
    chart_simple(out, report_find(rep, "token_histogram"),
                 "Input-token histogram (jobs per bucket, lower bound shown)",
                 "jobs", 0, 2, 1);
    chart_simple(out, report_find(rep, "task_mix"), "Task mix (jobs)", "jobs", 0, 1, 1);
    chart_stacked(out, report_find(rep, "cost_by_day_tier"));
    chart_volume(out, report_find(rep, "cost_by_day"));
    chart_escalation(out, report_find(rep, "escalation"));
    for (size_t i = 0; i < rep->n_tables; i++)
        html_table(out, &rep->tables[i]);
    fputs("</body></html>\n", out);
}
