/* report.c — the report's queries over the 003 views, re-pricing, and the
 * text and CSV formatters; see report.h. HTML is in report_html.c. */
#include "report_tables.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pricing.h"
#include "tier0/tier0_certify.h"

/* Every view has day, feature and tenant columns; the report's filter is
 * the same four parameters everywhere. Unnamed statements are planned with
 * the bound values, so an unused "$1 IS NULL OR" folds away and the day
 * range reaches the expression index. */
#define FILTER                                                                 \
    " WHERE ($1::date IS NULL OR day >= $1::date)"                             \
    " AND ($2::date IS NULL OR day <= $2::date)"                               \
    " AND ($3::text IS NULL OR feature = $3::text)"                            \
    " AND ($4::text IS NULL OR tenant = $4::text) "

#define PER_JOB_COLS                                                           \
    " sum(jobs) AS jobs, sum(calls) AS calls, sum(cost_nanousd) AS cost_nanousd," \
    " round(sum(cost_nanousd) / nullif(sum(jobs), 0)) AS cost_per_job_nanousd," \
    " round(sum(cost_nanousd) * 1000 / nullif(sum(jobs), 0))"                  \
    " AS cost_per_1000_jobs_nanousd "

#define SHARE(col) " (sum(" col ") / nullif(sum(sum(" col ")) OVER (), 0))::float8 "

/* v_savings' saved_nanousd and saved_share, over v_cost_daily rows. */
#define SAVED                                                                  \
    " sum(baseline_nanousd - cost_nanousd) AS saved_nanousd,"                  \
    " (sum(baseline_nanousd - cost_nanousd) / nullif(sum(baseline_nanousd), 0))::float8" \
    " AS saved_share "

/* Who answered, as a share of the period's jobs (v_jobs_by_second). */
#define ANSWERED_SHARE(who)                                                    \
    " (coalesce(sum(jobs) FILTER (WHERE answered_at = '" who "'), 0)"          \
    " / sum(jobs))::float8 AS " who "_share,"


/* Fills table t (columns named, no rows yet) from the spec query's res. */
typedef void (*report_build_fn)(struct report_table *t, PGresult *res);
static void build_token_histogram(struct report_table *t, PGresult *res);
static void build_learning_curve(struct report_table *t, PGresult *res);

/* types: t text, i integer, u nano-dollars, f fraction, x decimal; one per
 * column. build: NULL, or the table is made in C from sql's rows. */
struct report_spec {
    const char *section, *title, *types;
    size_t n_keys;
    const char *sql;
    report_build_fn build;
};

static const struct report_spec specs[] = {
    /* The bill first: what a reader opens the report for. Jobs from
     * v_task_mix, which reads the jobs alone. Saved = baseline - cost, as
     * in v_savings, summed from v_cost_daily so that it reads the range's
     * copy (make_snapshots). */
    {"bill", "The bill: cost against the all-top-tier baseline", "iuuufxu", 0,
     "SELECT j.jobs, sum(cost_nanousd) AS cost_nanousd,"
     " sum(baseline_nanousd) AS baseline_nanousd," SAVED ","
     " round(sum(baseline_nanousd) / nullif(sum(cost_nanousd), 0), 2) AS times_cheaper,"
     " round(sum(cost_nanousd) * 1000 / nullif(j.jobs, 0)) AS cost_per_1000_jobs_nanousd"
     " FROM v_cost_daily, (SELECT sum(jobs) AS jobs FROM v_task_mix" FILTER ") j" FILTER
     "GROUP BY j.jobs", NULL},
    /* Periods: the narrowest of the widths that cuts the range into at
     * most 24 (a two-minute demo gets 5 s, a day hours, a quarter weeks).
     * The view is read once; its second column, the width's name, becomes
     * the table's note (build_learning_curve). */
    {"learning_curve", "Cost per 1,000 jobs and who answered, by period (the learning curve)",
     "tiffffffuuf", 1,
     "WITH s AS MATERIALIZED (SELECT second_utc, answered_at, jobs, cost_nanousd,"
     "  baseline_nanousd FROM v_jobs_by_second" FILTER "),"
     " w AS (SELECT p, CASE WHEN p < '1 minute' THEN extract(epoch FROM p)::int || ' s'"
     "  WHEN p < '1 hour' THEN (extract(epoch FROM p) / 60)::int || ' min'"
     "  WHEN p < '1 day' THEN (extract(epoch FROM p) / 3600)::int || ' h'"
     "  WHEN p = '1 day' THEN '1 day' ELSE (extract(epoch FROM p) / 86400)::int || ' days' END"
     "  AS name FROM (SELECT extract(epoch FROM max(second_utc) - min(second_utc)) AS span"
     "  FROM s) x, unnest('{1 s,5 s,10 s,30 s,1 min,5 min,10 min,15 min,30 min,1 h,2 h,"
     "3 h,6 h,12 h,1 day,7 days}'::interval[]) p"
     "  WHERE coalesce(span, 0) / extract(epoch FROM p) < 24 OR p = '7 days'"
     "  ORDER BY p LIMIT 1)"
     " SELECT to_char(date_bin(w.p, s.second_utc, '2000-01-03'),"
     " CASE WHEN w.p >= '1 day' THEN 'YYYY-MM-DD' WHEN w.p >= '1 minute'"
     " THEN 'YYYY-MM-DD HH24:MI' ELSE 'YYYY-MM-DD HH24:MI:SS' END) AS period,"
     " w.name AS period_width, sum(jobs) AS jobs,"
     ANSWERED_SHARE("tier0") ANSWERED_SHARE("cache") ANSWERED_SHARE("tier1")
     ANSWERED_SHARE("tier2") ANSWERED_SHARE("tier3") ANSWERED_SHARE("failed")
     " sum(cost_nanousd) AS cost_nanousd,"
     " round(sum(cost_nanousd) * 1000 / sum(jobs)) AS cost_per_1000_jobs_nanousd,"
     " (1 - sum(cost_nanousd) / nullif(sum(baseline_nanousd), 0))::float8 AS saved_share"
     " FROM s, w GROUP BY 1, 2 ORDER BY 1", build_learning_curve},
    {"cost_by_feature", "Cost by feature (all finished jobs)", "tiiuuu", 1,
     "SELECT CASE WHEN grouping(feature) = 1 THEN '(total)' ELSE feature END"
     " AS feature," PER_JOB_COLS "FROM v_cost_per_job" FILTER
     "GROUP BY ROLLUP (feature) ORDER BY grouping(feature), cost_nanousd DESC, 1", NULL},
    {"cost_by_tenant", "Cost by tenant", "tiiuuu", 1,
     "SELECT CASE WHEN grouping(tenant) = 1 THEN '(total)' ELSE tenant END"
     " AS tenant," PER_JOB_COLS "FROM v_cost_per_job" FILTER
     "GROUP BY ROLLUP (tenant) ORDER BY grouping(tenant), cost_nanousd DESC, 1", NULL},
    {"cost_by_month", "Cost by month", "tiiuuu", 1,
     "SELECT to_char(day, 'YYYY-MM') AS month," PER_JOB_COLS
     "FROM v_cost_per_job" FILTER "GROUP BY 1 ORDER BY 1", NULL},
    {"cost_by_cohort", "Cost by cohort (provider calls)", "tiiuf", 1,
     "SELECT cohort, sum(calls) AS calls, sum(jobs) AS llm_jobs,"
     " sum(cost_nanousd) AS cost_nanousd," SHARE("cost_nanousd") "AS cost_share"
     " FROM v_cost_daily" FILTER "GROUP BY 1 ORDER BY 4 DESC, 1", NULL},
    {"cost_by_tier", "Cost by tier", "tiiuf", 1,
     "SELECT tier::text AS tier, sum(calls) AS calls, sum(jobs) AS concluded,"
     " sum(cost_nanousd) AS cost_nanousd," SHARE("cost_nanousd") "AS cost_share"
     " FROM v_cost_daily" FILTER "GROUP BY tier ORDER BY v_cost_daily.tier", NULL},
    {"cost_by_model", "Cost by provider / model / mode", "tttiiiiiu", 3,
     "SELECT provider, model, mode, sum(calls) AS calls, sum(tokens_in) AS tokens_in,"
     " sum(tokens_cached_in) AS tokens_cached_in,"
     " sum(tokens_cache_write) AS tokens_cache_write, sum(tokens_out) AS tokens_out,"
     " sum(cost_nanousd) AS cost_nanousd FROM v_cost_daily" FILTER
     "GROUP BY 1, 2, 3 ORDER BY 9 DESC, 1, 2, 3", NULL},
    /* What the provider discounts do: the share of input read from the
     * prompt cache, what was written to it, flex calls (mode 'flex'). */
    {"discounts", "Prompt cache and flex by tier and model", "ttiiiiffu", 2,
     "SELECT tier::text AS tier, model, sum(calls) AS calls, sum(tokens_in) AS tokens_in,"
     " sum(tokens_cached_in) AS tokens_cached_in,"
     " sum(tokens_cache_write) AS tokens_cache_write,"
     " (sum(tokens_cached_in) / nullif(sum(tokens_in), 0))::float8 AS cached_input_share,"
     " (sum(calls) FILTER (WHERE mode = 'flex') / nullif(sum(calls), 0))::float8 AS flex_share,"
     " sum(cost_nanousd) AS cost_nanousd FROM v_cost_daily" FILTER
     " AND tier > 0 GROUP BY v_cost_daily.tier, model ORDER BY v_cost_daily.tier, model", NULL},
    /* Unconfirmed calls (sent, no usable answer) are priced at their
     * request's bound: the bill lies between the two last columns. */
    {"bill_bounds", "The bill's bounds: confirmed (lower) + unconfirmed calls"
     " (sent, no answer, priced at max tokens) = upper", "ttiiuuu", 2,
     "SELECT CASE WHEN grouping(provider) = 1 THEN '(total)' ELSE provider END"
     " AS provider, coalesce(model, '') AS model, sum(calls) AS calls,"
     " sum(unconfirmed) AS unconfirmed_calls,"
     " sum(cost_nanousd) - sum(unconfirmed_nanousd) AS lower_bound_nanousd,"
     " sum(unconfirmed_nanousd) AS unconfirmed_nanousd,"
     " sum(cost_nanousd) AS upper_bound_nanousd FROM v_cost_daily" FILTER
     "GROUP BY ROLLUP ((provider, model)) ORDER BY grouping(provider), 1, 2", NULL},
    {"cost_by_day", "Cost per day", "tiiuu", 1,
     "SELECT day::text AS day, sum(jobs) AS jobs, sum(calls) AS calls,"
     " sum(cost_nanousd) AS cost_nanousd,"
     " round(sum(cost_nanousd) / nullif(sum(calls), 0)) AS cost_per_call_nanousd"
     " FROM v_cost_per_job" FILTER "GROUP BY day ORDER BY day", NULL},
    {"cost_by_day_tier", "Cost per day and tier", "ttiu", 2,
     "SELECT day::text AS day, tier::text AS tier, sum(calls) AS calls,"
     " sum(cost_nanousd) AS cost_nanousd FROM v_cost_daily" FILTER
     "GROUP BY day, tier ORDER BY 1, v_cost_daily.tier", NULL},
    {"escalation", "Escalation rate per task and tier", "ttiiif", 2,
     "SELECT task, tier::text AS tier, sum(calls) AS calls,"
     " sum(escalated) AS escalated, sum(failed) AS failed,"
     " (sum(escalated) / nullif(sum(calls), 0))::float8 AS escalation_rate"
     " FROM v_cost_daily" FILTER "GROUP BY task, v_cost_daily.tier"
     " ORDER BY task, v_cost_daily.tier", NULL},
    {"answer_source", "Who answered (finished jobs)", "tif", 1,
     "SELECT answered_by, sum(jobs) AS jobs," SHARE("jobs") "AS share"
     " FROM v_answer_source" FILTER "GROUP BY 1 ORDER BY 2 DESC, 1", NULL},
    {"savings", "Savings against the baseline (top tier, realtime)", "tuuuf", 1,
     "SELECT CASE WHEN grouping(feature) = 1 THEN '(total)' ELSE feature END"
     " AS feature, sum(cost_nanousd) AS cost_nanousd,"
     " sum(baseline_nanousd) AS baseline_nanousd," SAVED
     " FROM v_cost_daily" FILTER
     "GROUP BY ROLLUP (feature) ORDER BY grouping(feature), 4 DESC, 1", NULL},
    /* false_hit_bound is filled in by cache_bounds(). */
    {"cache", "Cache: hits, verified near-duplicate false hits, savings", "tiiifiiffu", 1,
     "SELECT CASE WHEN grouping(task) = 1 THEN '(total)' ELSE task END AS task,"
     " sum(jobs) AS jobs, sum(exact_hits) AS exact_hits, sum(near_hits) AS near_hits,"
     " ((sum(exact_hits) + sum(near_hits)) / nullif(sum(jobs), 0))::float8 AS hit_rate,"
     " sum(checks) AS checks, sum(disagreements) AS disagreements,"
     " (sum(disagreements) / nullif(sum(checks), 0))::float8 AS false_hit_rate,"
     " NULL::float8 AS false_hit_bound, sum(saved_nanousd) AS saved_nanousd"
     " FROM v_cache_daily" FILTER "GROUP BY ROLLUP (task)"
     " HAVING grouping(task) = 1 OR sum(exact_hits) + sum(near_hits) + sum(checks) > 0"
     " ORDER BY grouping(task), 1", NULL},
    /* Buckets that fit the data: see build_token_histogram(). */
    {"token_histogram", "Input tokens per job (input_chars / 4)", "tiif", 1,
     "SELECT tokens, sum(jobs) FROM v_input_tokens" FILTER "GROUP BY 1 ORDER BY 1",
     build_token_histogram},
    {"task_mix", "Task mix", "tif", 1,
     "SELECT task, sum(jobs) AS jobs," SHARE("jobs") "AS share"
     " FROM v_task_mix" FILTER "GROUP BY 1 ORDER BY 2 DESC, 1", NULL},
    {"top_shapes", "Top request shapes per feature (task, mode, input tokens)",
     "tttttif", 2,
     "SELECT feature, rank::text AS rank, task, mode, tokens_from::text AS tokens_from,"
     " jobs, share FROM (SELECT feature, task, mode, tokens_from, sum(jobs) AS jobs,"
     " (sum(jobs) / sum(sum(jobs)) OVER (PARTITION BY feature))::float8 AS share,"
     " row_number() OVER (PARTITION BY feature ORDER BY sum(jobs) DESC, task,"
     " mode, tokens_from) AS rank FROM v_request_shapes" FILTER
     "GROUP BY 1, 2, 3, 4) s WHERE rank <= 5 ORDER BY feature, s.rank", NULL},
};

static enum report_type type_of(char c)
{
    switch (c) {
    case 'i': return REPORT_INT;
    case 'u': return REPORT_NANOUSD;
    case 'f': return REPORT_FRACTION;
    case 'x': return REPORT_NUMBER;
    default: return REPORT_TEXT;
    }
}

static struct report_table *add_table(struct report *rep, const char *section,
                                      const char *title, const char *types,
                                      size_t n_keys)
{
    rep->tables = xrealloc(rep->tables, (rep->n_tables + 1) * sizeof(*rep->tables));
    struct report_table *t = &rep->tables[rep->n_tables++];
    memset(t, 0, sizeof(*t));
    t->section = xstrdup(section);
    t->title = xstrdup(title);
    t->n_cols = strlen(types);
    t->n_keys = n_keys;
    t->cols = xcalloc(t->n_cols, sizeof(*t->cols));
    t->types = xcalloc(t->n_cols, sizeof(*t->types));
    for (size_t c = 0; c < t->n_cols; c++)
        t->types[c] = type_of(types[c]);
    return t;
}

static void name_columns(struct report_table *t, const char *const *names)
{
    for (size_t c = 0; c < t->n_cols; c++)
        t->cols[c] = xstrdup(names[c]);
}

/* Appends one row of n_cols cells (copied; NULL stays NULL). */
static void add_row(struct report_table *t, const char *const *cells)
{
    t->cells = xrealloc(t->cells, (t->n_rows + 1) * t->n_cols * sizeof(*t->cells));
    for (size_t c = 0; c < t->n_cols; c++)
        t->cells[t->n_rows * t->n_cols + c] = cells[c] ? xstrdup(cells[c]) : NULL;
    t->n_rows++;
}

/* res: period, period_width, then the table's columns. */
static void build_learning_curve(struct report_table *t, PGresult *res)
{
    for (size_t c = 0; c < t->n_cols; c++)
        t->cols[c] = xstrdup(PQfname(res, c ? (int)c + 1 : 0));
    const char *row[16];
    for (int r = 0; r < PQntuples(res); r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            int f = c ? (int)c + 1 : 0;
            row[c] = PQgetisnull(res, r, f) ? NULL : PQgetvalue(res, r, f);
        }
        add_row(t, row);
    }
    if (PQntuples(res))
        t->note = xasprintf("periods of %s (at most 24 in the range); a job counts in"
                            " the period it finished, with its whole cost (escalations"
                            " and tier-0 shadow checks included)", PQgetvalue(res, 0, 1));
}

static void filter_params(const struct report_filter *f, const char *params[4])
{
    params[0] = f->from;
    params[1] = f->to;
    params[2] = f->feature;
    params[3] = f->tenant;
}

/* The two views most sections read, each computed once over the range
 * into a temporary table that those sections then read instead of the
 * view: a whole-range report grouped the whole ledger once per section.
 * Every column of the view is copied (same types), and the sections'
 * filter applies again unchanged on rows that already pass it, so the
 * output is the same. Without the TEMP privilege the sections read the
 * view, as before. */
static const struct {
    const char *view, *table;
} snapshots[] = {
    {"v_cost_daily", "pg_temp.report_cost_daily"},
    {"v_cost_per_job", "pg_temp.report_cost_per_job"},
};
static unsigned snapshots_made; /* bit i: snapshots[i] exists */

/* s with every occurrence of from replaced by to; frees s. */
static char *replace_all(char *s, const char *from, const char *to)
{
    size_t n = 0, lf = strlen(from), lt = strlen(to);
    for (const char *p = strstr(s, from); p; p = strstr(p + lf, from))
        n++;
    char *out = xcalloc(strlen(s) + n * lt + 1, 1), *o = out;
    const char *p = s;
    for (const char *q = strstr(p, from); q; q = strstr(p, from)) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, lt);
        o += lt;
        p = q + lf;
    }
    strcpy(o, p);
    free(s);
    return out;
}

/* Runs one statement of make_snapshots(); false if it failed. */
static bool snapshot_step(struct db *db, char *sql, int n_params, const char **params)
{
    char err[256];
    PGresult *res = db_query(db, "report snapshot", sql, n_params, params, err,
                             sizeof(err));
    free(sql);
    bool ok = res != NULL;
    PQclear(res);
    return ok;
}

static void make_snapshots(struct db *db, const struct report_filter *f)
{
    const char *params[4];
    filter_params(f, params);
    snapshots_made = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(snapshots); i++) {
        const char *table = snapshots[i].table, *view = snapshots[i].view;
        if (snapshot_step(db, xasprintf("DROP TABLE IF EXISTS %s", table), 0, NULL) &&
            snapshot_step(db, xasprintf("CREATE TEMP TABLE %s (LIKE %s)",
                                        table + strlen("pg_temp."), view), 0, NULL) &&
            snapshot_step(db, xasprintf("INSERT INTO %s SELECT * FROM %s" FILTER,
                                        table, view), 4, params))
            snapshots_made |= 1u << i;
    }
}

static int run_spec(struct db *db, const struct report_spec *spec,
                    const struct report_filter *f, struct report *rep, char *errstr,
                    size_t errstr_size)
{
    const char *params[4];
    filter_params(f, params);
    char *sql = xstrdup(spec->sql);
    for (size_t i = 0; i < SL_ARRAY_LEN(snapshots); i++)
        if (snapshots_made & (1u << i))
            sql = replace_all(sql, snapshots[i].view, snapshots[i].table);
    PGresult *res = db_query(db, spec->section, sql, 4, params, errstr, errstr_size);
    free(sql);
    if (!res)
        return SL_EDB;
    struct report_table *t = add_table(rep, spec->section, spec->title,
                                       spec->types, spec->n_keys);
    if (spec->build) {
        spec->build(t, res);
        PQclear(res);
        return SL_OK;
    }
    if ((size_t)PQnfields(res) != t->n_cols) {
        snprintf(errstr, errstr_size, "%s: %d columns, spec says %zu",
                 spec->section, PQnfields(res), t->n_cols);
        PQclear(res);
        return SL_EDB;
    }
    for (size_t c = 0; c < t->n_cols; c++)
        t->cols[c] = xstrdup(PQfname(res, (int)c));
    const char *row[16];
    for (int r = 0; r < PQntuples(res); r++) {
        for (size_t c = 0; c < t->n_cols && c < SL_ARRAY_LEN(row); c++)
            row[c] = PQgetisnull(res, r, (int)c) ? NULL : PQgetvalue(res, r, (int)c);
        add_row(t, row);
    }
    PQclear(res);
    return SL_OK;
}

/* The cache table's false_hit_bound: the 95 % Clopper-Pearson upper bound
 * of disagreement over the checks (tier 0's, tier0_certify.h). */
static void cache_bounds(struct report *rep)
{
    for (size_t i = 0; i < rep->n_tables; i++) {
        struct report_table *t = &rep->tables[i];
        if (strcmp(t->section, "cache") != 0)
            continue;
        t->note = xstrdup("false_hit_bound: 95 % upper bound of near-duplicate"
                          " hits' disagreement with the ladder, over the checks");
        for (size_t r = 0; r < t->n_rows; r++) {
            char **cells = &t->cells[r * t->n_cols];
            uint64_t n = cells[5] ? strtoull(cells[5], NULL, 10) : 0;
            uint64_t x = cells[6] ? strtoull(cells[6], NULL, 10) : 0;
            if (n == 0)
                continue;
            free(cells[8]);
            cells[8] = xasprintf("%.6f", tier0_cp_upper(x, n, 0.05));
        }
    }
}

/* ---- input-token histogram ------------------------------------------------ */

/* Smallest of 1, 2, 5 times a power of ten that is at least x. */
static long nice_width(double x)
{
    long w = 1;
    for (;;) {
        if ((double)w >= x)
            return w;
        if ((double)(2 * w) >= x)
            return 2 * w;
        if ((double)(5 * w) >= x)
            return 5 * w;
        w *= 10;
    }
}

size_t report_token_edges(long lo, long hi, long *edges, size_t max)
{
    size_t n = 0;
    lo = lo < 0 ? 0 : lo;
    hi = hi < lo ? lo : hi;
    if (hi >= 16 * (lo > 4 ? lo : 4)) {
        /* Wide: doubling buckets from the power of two at or below lo. */
        long e = 1;
        while (e * 2 <= lo)
            e *= 2;
        if (lo == 0)
            edges[n++] = 0;
        edges[n++] = e;
        while (n < max && e <= hi)
            edges[n++] = e *= 2;
        return n;
    }
    /* Narrow: at most 10 equal buckets of a round width. */
    long w = nice_width((double)(hi - lo + 1) / 10.0);
    long e = lo / w * w;
    edges[n++] = e;
    while (n < max && e <= hi)
        edges[n++] = e += w;
    return n;
}

/* res: (tokens, jobs) ascending. One row per bucket from the lowest to the
 * highest non-empty one, empty buckets between included. */
static void build_token_histogram(struct report_table *t, PGresult *res)
{
    static const char *const cols[] = {"tokens_from", "tokens_below", "jobs", "share"};
    name_columns(t, cols);
    int rows = PQntuples(res);
    if (!rows)
        return;
    long edges[64], total = 0;
    long lo = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    long hi = strtol(PQgetvalue(res, rows - 1, 0), NULL, 10);
    size_t n = report_token_edges(lo, hi, edges, SL_ARRAY_LEN(edges));
    long *jobs = xcalloc(n, sizeof(*jobs));
    for (int r = 0, b = 0; r < rows; r++) {
        long tokens = strtol(PQgetvalue(res, r, 0), NULL, 10);
        long count = strtol(PQgetvalue(res, r, 1), NULL, 10);
        while ((size_t)b + 2 < n && tokens >= edges[b + 1])
            b++;
        jobs[b] += count;
        total += count;
    }
    for (size_t b = 0; b + 1 < n; b++) {
        char from[24], below[24], count[24], share[32];
        snprintf(from, sizeof(from), "%ld", edges[b]);
        snprintf(below, sizeof(below), "%ld", edges[b + 1]);
        snprintf(count, sizeof(count), "%ld", jobs[b]);
        snprintf(share, sizeof(share), "%.6f", (double)jobs[b] / (double)total);
        const char *row[] = {from, below, count, share};
        add_row(t, row);
    }
    free(jobs);
}

int report_query(struct db *db, const struct report_filter *filter,
                 struct report **out, char *errstr, size_t errstr_size)
{
    /* Whole-range reports group about a million rows: in memory, not on disk. */
    PQclear(db_query(db, "work_mem", "SET work_mem = '64MB'", 0, NULL, errstr,
                     errstr_size));
    /* A date range reaches the day indexes of cost_lines and jobs, but the
     * sections that join jobs to results (and to a job's last cost line)
     * look those up by job id: with the default random_page_cost (4, for
     * spinning disks) the planner prefers a full scan of results and
     * cost_lines as soon as the range holds a few percent of the ledger, so
     * a 7-day report grew with the table. The ledger's hot part is cached
     * or on SSD; at 1.1 the lookups win for a bounded range and a whole-
     * range report still scans. */
    PQclear(db_query(db, "random_page_cost", "SET random_page_cost = 1.1", 0, NULL,
                     errstr, errstr_size));
    /* Those job-id lookups reach one or two of the ledger's month tables
     * (run-time pruning), but the plan lists every month, so its estimated
     * cost passes jit_above_cost: compiling it took 5x the query's own time
     * (ops/bench-report). The report's queries gain nothing from JIT. */
    PQclear(db_query(db, "jit", "SET jit = off", 0, NULL, errstr, errstr_size));
    make_snapshots(db, filter);
    struct report *rep = xcalloc(1, sizeof(*rep));
    for (size_t i = 0; i < SL_ARRAY_LEN(specs); i++) {
        int rc = run_spec(db, &specs[i], filter, rep, errstr, errstr_size);
        if (rc != SL_OK) {
            report_free(rep);
            return rc;
        }
    }
    cache_bounds(rep);
    *out = rep;
    return SL_OK;
}

/* ---- re-pricing ---------------------------------------------------------- */

/* Identical usage prices identically, so the calls are fetched grouped by
 * their exact token counts: exact per-call rounding, far fewer rows. */
static const char reprice_sql[] =
    "SELECT provider, model, mode, tokens_in, tokens_cached_in,"
    " tokens_cache_write, tokens_out, count(*), sum(cost_nanousd),"
    " tokens_cache_write_1h"
    " FROM (SELECT *, (created_at AT TIME ZONE 'UTC')::date AS day"
    "       FROM cost_lines) c" FILTER "GROUP BY 1, 2, 3, 4, 5, 6, 7, 10";

struct reprice_acc {
    char *provider, *model, *mode;
    int64_t calls, old_cost, new_cost;
    bool priced;
};

struct reprice_set {
    struct reprice_acc *acc;
    size_t n;
};

static struct reprice_acc *reprice_slot(struct reprice_set *set, PGresult *res,
                                        const struct config *prices)
{
    const char *provider = PQgetvalue(res, 0, 0), *model = PQgetvalue(res, 0, 1);
    const char *mode = PQgetvalue(res, 0, 2);
    for (size_t i = 0; i < set->n; i++) {
        struct reprice_acc *a = &set->acc[i];
        if (!strcmp(a->provider, provider) && !strcmp(a->model, model) &&
            !strcmp(a->mode, mode))
            return a;
    }
    set->acc = xrealloc(set->acc, (set->n + 1) * sizeof(*set->acc));
    struct reprice_acc *a = &set->acc[set->n++];
    memset(a, 0, sizeof(*a));
    a->provider = xstrdup(provider);
    a->model = xstrdup(model);
    a->mode = xstrdup(mode);
    a->priced = config_price(prices, model) != NULL;
    return a;
}

static void reprice_row(struct reprice_set *set, PGresult *res,
                        const struct config *prices)
{
    struct reprice_acc *a = reprice_slot(set, res, prices);
    struct llm_usage usage = {
        .input_tokens = strtoll(PQgetvalue(res, 0, 3), NULL, 10),
        .cached_tokens = strtoll(PQgetvalue(res, 0, 4), NULL, 10),
        .cache_write_tokens = strtoll(PQgetvalue(res, 0, 5), NULL, 10),
        .output_tokens = strtoll(PQgetvalue(res, 0, 6), NULL, 10),
        .cache_write_1h_tokens = strtoll(PQgetvalue(res, 0, 9), NULL, 10),
    };
    int64_t calls = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
    a->calls += calls;
    a->old_cost += strtoll(PQgetvalue(res, 0, 8), NULL, 10);
    const struct price *p = config_price(prices, a->model);
    if (p)
        a->new_cost += calls * pricing_cost_nano(p, &usage, pricing_mode_discounted(a->mode));
}

static void reprice_emit(struct report_table *t, const struct reprice_acc *a)
{
    char calls[24], old_cost[24], new_cost[24], change[24];
    snprintf(calls, sizeof(calls), "%" PRId64, a->calls);
    snprintf(old_cost, sizeof(old_cost), "%" PRId64, a->old_cost);
    snprintf(new_cost, sizeof(new_cost), "%" PRId64, a->new_cost);
    snprintf(change, sizeof(change), "%" PRId64, a->new_cost - a->old_cost);
    const char *row[] = {a->provider, a->model, a->mode, calls, old_cost,
                         a->priced ? new_cost : NULL, a->priced ? change : NULL};
    add_row(t, row);
}

static void reprice_table(struct report *rep, struct reprice_set *set)
{
    struct report_table *t = add_table(rep, "reprice",
                                       "Re-priced with the new price table",
                                       "tttiuuu", 3);
    static const char *cols[] = {"provider", "model", "mode", "calls",
                                 "old_cost_nanousd", "new_cost_nanousd",
                                 "change_nanousd"};
    for (size_t c = 0; c < t->n_cols; c++)
        t->cols[c] = xstrdup(cols[c]);
    struct reprice_acc total = {.provider = "(total)", .model = "", .mode = "",
                                .priced = true};
    for (size_t i = 0; i < set->n; i++) {
        const struct reprice_acc *a = &set->acc[i];
        reprice_emit(t, a);
        total.calls += a->calls;
        total.old_cost += a->old_cost;
        /* An unpriced model keeps its old cost in the total. */
        total.new_cost += a->priced ? a->new_cost : a->old_cost;
        if (!a->priced && !t->note)
            t->note = xstrdup("models without a price in the new table keep "
                              "their old cost in the total");
    }
    reprice_emit(t, &total);
}

static void reprice_set_free(struct reprice_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->acc[i].provider);
        free(set->acc[i].model);
        free(set->acc[i].mode);
    }
    free(set->acc);
}

int report_add_reprice(struct report *rep, PGconn *conn,
                       const struct report_filter *filter,
                       const struct config *prices, char *errstr,
                       size_t errstr_size)
{
    const char *params[4];
    struct reprice_set set = {0};
    int rc = SL_OK;
    filter_params(filter, params);
    /* Single-row mode: a year of distinct usage may be millions of rows. */
    if (!PQsendQueryParams(conn, reprice_sql, 4, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(conn)) {
        snprintf(errstr, errstr_size, "reprice: %s", PQerrorMessage(conn));
        return SL_EDB;
    }
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE)
            reprice_row(&set, res, prices);
        else if (st != PGRES_TUPLES_OK && rc == SL_OK) {
            snprintf(errstr, errstr_size, "reprice: %s", PQresultErrorMessage(res));
            rc = SL_EDB;
        }
        PQclear(res);
    }
    if (rc == SL_OK)
        reprice_table(rep, &set);
    reprice_set_free(&set);
    return rc;
}

/* ---- access and freeing ---------------------------------------------------- */

void report_free(struct report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->n_tables; i++) {
        struct report_table *t = &rep->tables[i];
        for (size_t c = 0; c < t->n_cols; c++)
            free(t->cols[c]);
        for (size_t k = 0; k < t->n_rows * t->n_cols; k++)
            free(t->cells[k]);
        free(t->cols);
        free(t->types);
        free(t->cells);
        free(t->section);
        free(t->title);
        free(t->note);
    }
    free(rep->tables);
    free(rep);
}

const struct report_table *report_find(const struct report *rep,
                                       const char *section)
{
    for (size_t i = 0; i < rep->n_tables; i++)
        if (!strcmp(rep->tables[i].section, section))
            return &rep->tables[i];
    return NULL;
}

const char *report_cell(const struct report_table *t, size_t row, size_t col)
{
    return row < t->n_rows && col < t->n_cols ? t->cells[row * t->n_cols + col]
                                              : NULL;
}

/* ---- text ------------------------------------------------------------------------ */

/* Display form of a cell into buf. */
static void display_cell(enum report_type type, const char *v, char *buf,
                         size_t size)
{
    if (!v)
        sl_strlcpy(buf, "-", size);
    else if (type == REPORT_NANOUSD)
        pricing_format_usd(strtoll(v, NULL, 10), buf, size);
    else if (type == REPORT_FRACTION)
        snprintf(buf, size, "%.1f%%", strtod(v, NULL) * 100);
    else if (type == REPORT_TEXT && !*v)
        sl_strlcpy(buf, "(none)", size);
    else
        sl_strlcpy(buf, v, size);
}

void report_col_name(const struct report_table *t, size_t c, char *buf,
                     size_t size)
{
    const char *name = t->cols[c];
    size_t n = strlen(name);
    if (t->types[c] == REPORT_NANOUSD && n > 8 && !strcmp(name + n - 8, "_nanousd"))
        snprintf(buf, size, "%.*s_usd", (int)(n - 8), name);
    else
        sl_strlcpy(buf, name, size);
}

static void text_widths(const struct report_table *t, size_t *w)
{
    char buf[128];
    for (size_t c = 0; c < t->n_cols; c++) {
        report_col_name(t, c, buf, sizeof(buf));
        w[c] = strlen(buf);
        for (size_t r = 0; r < t->n_rows; r++) {
            display_cell(t->types[c], report_cell(t, r, c), buf, sizeof(buf));
            w[c] = strlen(buf) > w[c] ? strlen(buf) : w[c];
        }
    }
}

static void text_line(const struct report_table *t, const size_t *w, size_t row,
                      FILE *out)
{
    char buf[128];
    for (size_t c = 0; c < t->n_cols; c++) {
        if (row == SIZE_MAX)
            report_col_name(t, c, buf, sizeof(buf));
        else
            display_cell(t->types[c], report_cell(t, row, c), buf, sizeof(buf));
        int left = t->types[c] == REPORT_TEXT;
        fprintf(out, "%s%*s", c ? "  " : "  ", left ? -(int)w[c] : (int)w[c], buf);
    }
    fputc('\n', out);
}

static void usd_or_dash(const char *v, char *buf, size_t size)
{
    if (v)
        pricing_format_usd(strtoll(v, NULL, 10), buf, size);
    else
        sl_strlcpy(buf, "-", size);
}

bool report_bill_line(const struct report *rep, char *buf, size_t size)
{
    const struct report_table *t = report_find(rep, "bill");
    buf[0] = '\0';
    if (!t || !report_cell(t, 0, 1))
        return false;
    char cost[32], base[32], per1k[32];
    usd_or_dash(report_cell(t, 0, 1), cost, sizeof(cost));
    usd_or_dash(report_cell(t, 0, 2), base, sizeof(base));
    usd_or_dash(report_cell(t, 0, 6), per1k, sizeof(per1k));
    const char *jobs = report_cell(t, 0, 0), *share = report_cell(t, 0, 4);
    const char *times = report_cell(t, 0, 5);
    char ratio[48];
    if (!times)
        sl_strlcpy(ratio, "no baseline", sizeof(ratio));
    else if (strtod(times, NULL) >= 1)
        snprintf(ratio, sizeof(ratio), "%s times cheaper", times);
    else /* dearer than the top tier: escalations that cost more than it */
        snprintf(ratio, sizeof(ratio), "%.2f times dearer", 1 / strtod(times, NULL));
    snprintf(buf, size,
             "The bill: %s for %s jobs, against %s had every job gone to the top"
             " tier in realtime: %s, %.1f%% saved; %s per 1,000 jobs.",
             cost, jobs ? jobs : "0", base, ratio,
             share ? strtod(share, NULL) * 100 : 0.0, per1k);
    return true;
}

void report_write_text(const struct report *rep, FILE *out)
{
    char line[512];
    bool first = true;
    if (report_find(rep, "bill")) {
        if (!report_bill_line(rep, line, sizeof(line)))
            sl_strlcpy(line, "The bill: no provider cost in range.", sizeof(line));
        fprintf(out, "%s\n", line);
        first = false;
    }
    for (size_t i = 0; i < rep->n_tables; i++) {
        const struct report_table *t = &rep->tables[i];
        if (!strcmp(t->section, "bill"))
            continue; /* its figures are the sentence above */
        size_t *w = xcalloc(t->n_cols, sizeof(*w));
        text_widths(t, w);
        fprintf(out, "%s%s\n", first ? "" : "\n", t->title);
        first = false;
        text_line(t, w, SIZE_MAX, out);
        for (size_t r = 0; r < t->n_rows; r++)
            text_line(t, w, r, out);
        if (!t->n_rows)
            fprintf(out, "  (no data)\n");
        if (t->note)
            fprintf(out, "  note: %s\n", t->note);
        free(w);
    }
}

/* ---- CSV ------------------------------------------------------------------------- */

void report_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static char *row_key(const struct report_table *t, size_t r)
{
    size_t len = 1;
    for (size_t c = 0; c < t->n_keys; c++) {
        const char *v = report_cell(t, r, c);
        len += (v ? strlen(v) : 0) + 1;
    }
    char *key = xcalloc(1, len);
    for (size_t c = 0; c < t->n_keys; c++) {
        const char *v = report_cell(t, r, c);
        if (c)
            strcat(key, "/");
        strcat(key, v ? v : "");
    }
    return key;
}

void report_write_csv(const struct report *rep, FILE *out)
{
    fputs("section,key,metric,value\r\n", out);
    for (size_t i = 0; i < rep->n_tables; i++) {
        const struct report_table *t = &rep->tables[i];
        for (size_t r = 0; r < t->n_rows; r++) {
            char *key = row_key(t, r);
            for (size_t c = t->n_keys; c < t->n_cols; c++) {
                const char *v = report_cell(t, r, c);
                report_csv_field(out, t->section);
                fputc(',', out);
                report_csv_field(out, key);
                fputc(',', out);
                report_csv_field(out, t->cols[c]);
                fputc(',', out);
                report_csv_field(out, v ? v : "");
                fputs("\r\n", out);
            }
            free(key);
        }
    }
}
