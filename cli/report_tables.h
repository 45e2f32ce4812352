/* report.h — `sluice report`: the figures of the cost views (schema/003),
 * filtered by date range, feature and tenant, as tables; formatted as
 * aligned text, CSV or one self-contained HTML page with SVG charts.
 *
 * Ownership: report_query() returns a new struct report; free it with
 * report_free() (NULL is a no-op). Every string inside is owned by it.
 * Money stays integer nano-dollars in the cells (as PostgreSQL printed the
 * exact sums); only the formatters turn it into dollars.
 * Errors: 0 or a negative SL_E* code with detail in errstr. */
#ifndef SL_REPORT_H
#define SL_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "sl.h"

/* All members borrowed; NULL means "no restriction". Dates are UTC calendar
 * days "YYYY-MM-DD", both ends inclusive. */
struct report_filter {
    const char *from;
    const char *to;
    const char *feature;
    const char *tenant;
};

/* How a column is shown: text, integer count, nano-dollars (shown as USD),
 * fraction (shown as a percentage), decimal number (shown as is). */
enum report_type { REPORT_TEXT, REPORT_INT, REPORT_NANOUSD, REPORT_FRACTION,
                   REPORT_NUMBER };

struct report_table {
    char *section;            /* stable machine name, e.g. "cost_by_feature" */
    char *title;              /* human heading */
    char *note;               /* NULL or a remark printed under the table */
    size_t n_cols, n_keys;    /* the first n_keys columns identify a row */
    char **cols;              /* column names */
    enum report_type *types;
    size_t n_rows;
    char **cells;             /* n_rows * n_cols; NULL = SQL NULL */
};

struct report {
    struct report_table *tables;
    size_t n_tables;
};

/* Runs the report's queries on conn (blocking); sets the session's
 * work_mem to 64MB and random_page_cost to 1.1, and copies v_cost_daily and
 * v_cost_per_job over the range into temporary tables (pg_temp.report_*)
 * when the login may create them. The first two tables are the bill ("bill": jobs, cost,
 * all-top-tier baseline, saved, saved share, times cheaper, cost per 1,000
 * jobs) and the learning curve ("learning_curve": per period, jobs, who
 * answered as shares, cost, cost per 1,000 jobs, saved share), with periods
 * as wide as it takes for the range to hold at most 24 (1 s to 7 days).
 * Returns 0 and *out, or SL_EDB with errstr. */
int report_query(struct db *db, const struct report_filter *filter,
                 struct report **out, char *errstr,
                 size_t errstr_size) SL_MUSTCHECK;

/* Re-prices the stored usage of the range (each call's tokens per model and
 * mode) with prices' price table through pricing_cost_nano(), and appends
 * a table "reprice": old vs new cost per provider/model/mode and in total.
 * prices is borrowed. Returns 0 or SL_EDB with errstr. */
int report_add_reprice(struct report *rep, PGconn *conn,
                       const struct report_filter *filter,
                       const struct config *prices, char *errstr,
                       size_t errstr_size) SL_MUSTCHECK;

void report_free(struct report *rep);

/* Returns the table named section (borrowed) or NULL. */
const struct report_table *report_find(const struct report *rep,
                                       const char *section);
/* Cell (row, col) or NULL when SQL NULL; borrowed. */
const char *report_cell(const struct report_table *t, size_t row, size_t col);

/* The bill in one sentence into buf (cost, baseline, times cheaper, saved
 * share, cost per 1,000 jobs). Returns false, buf empty, when the report
 * has no bill or no cost. */
bool report_bill_line(const struct report *rep, char *buf, size_t size);

/* Column c's name as shown to people: a money column's "_nanousd" suffix
 * becomes "_usd" (the values are printed in dollars); CSV keeps the name. */
void report_col_name(const struct report_table *t, size_t c, char *buf,
                     size_t size);

/* Bucket edges for input tokens from lo to hi (0 <= lo <= hi) into edges
 * (at most max): doubling from a power of two when hi spans 16 times lo or
 * more, else equal widths of 1, 2 or 5 times a power of ten (at most 10
 * buckets). Bucket i is [edges[i], edges[i + 1]); the last edge is above
 * hi. Returns the number of edges (>= 2). */
size_t report_token_edges(long lo, long hi, long *edges, size_t max);

/* The bill's sentence, then aligned tables for a terminal (the bill's
 * figures are in the sentence, not repeated as a table). */
void report_write_text(const struct report *rep, FILE *out);
/* RFC 4180 CSV, one figure per line: section,key,metric,value, where key
 * joins a row's key columns with '/', money stays nano-dollars and
 * fractions stay fractions. */
void report_write_csv(const struct report *rep, FILE *out);
/* One HTML page: the bill's figures first, then the learning curve (an SVG
 * chart of who answered per period with cost per 1,000 jobs, and its
 * table), then five inline SVG charts (input-token histogram, task mix,
 * daily cost by tier, cost per call against volume, escalation rate per
 * task) and every other table. A chart with a single bar is drawn as a
 * small table instead. Inline CSS; fetches nothing. */
void report_write_html(const struct report *rep,
                       const struct report_filter *filter, FILE *out);

/* Writes s with &, <, >, " escaped. */
void report_html_escape(FILE *out, const char *s);
/* Writes s as one CSV field, quoted when it holds , " CR or LF. */
void report_csv_field(FILE *out, const char *s);

#endif
