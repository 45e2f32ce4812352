/* report.c — `sluice report`: the cost views as tables, CSV or an HTML page
 * with charts, optionally re-priced with another price table. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "db.h"
#include "report_tables.h"

struct report_opts {
    const char *config_path, *html, *prices;
    struct report_filter filter;
    int csv;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice report [--config F] [--from DATE] [--to DATE]\n"
            "                     [--feature F] [--tenant T] [--csv]\n"
            "                     [--html FILE] [--prices FILE]\n\n"
            "Cost by feature, tenant, month, cohort, tier, model and day; cost\n"
            "per job; escalation rate per task and tier; who answered; savings\n"
            "against the baseline; the request profile. From the views of\n"
            "schema/003_views.sql (see docs/reporting.md).\n\n"
            "  --from DATE, --to DATE  UTC days YYYY-MM-DD, both inclusive\n"
            "  --feature F, --tenant T only that feature / tenant\n"
            "  --csv                   section,key,metric,value lines (money in\n"
            "                          nano-dollars, shares as fractions)\n"
            "  --html FILE             also write one self-contained HTML page\n"
            "                          with SVG charts to FILE\n"
            "  --prices FILE           re-price the stored usage with the price\n"
            "                          table of config FILE: old vs new per model\n"
            "  --config F              configuration (postgres.conninfo only)\n\n"
            "Exit status: 0 done, 1 database or file error, 2 usage error.\n");
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct report_opts *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},     {"feature", required_argument, NULL, 'F'},
        {"tenant", required_argument, NULL, 'T'}, {"csv", no_argument, NULL, 'C'},
        {"html", required_argument, NULL, 'H'},   {"prices", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    o->config_path = config_default_path();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config_path = optarg; break;
        case 'f': o->filter.from = optarg; break;
        case 't': o->filter.to = optarg; break;
        case 'F': o->filter.feature = optarg; break;
        case 'T': o->filter.tenant = optarg; break;
        case 'C': o->csv = 1; break;
        case 'H': o->html = optarg; break;
        case 'p': o->prices = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || (o->filter.from && !cli_valid_date(o->filter.from)) ||
        (o->filter.to && !cli_valid_date(o->filter.to))) {
        fprintf(stderr, "sluice report: dates are YYYY-MM-DD; no positional "
                        "arguments\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

static int write_html(const struct report *rep, const struct report_opts *o)
{
    FILE *f = fopen(o->html, "w");
    if (!f) {
        perror(o->html);
        return 1;
    }
    report_write_html(rep, &o->filter, f);
    if (fclose(f) != 0) {
        perror(o->html);
        return 1;
    }
    return 0;
}

/* Queries, re-prices when asked, and writes the outputs. */
static int produce(struct db *db, const struct report_opts *o, char *err,
                   size_t err_size)
{
    struct report *rep = NULL;
    struct config *prices = NULL;
    int rc = 1;
    if (o->prices && config_load(o->prices, &prices, err, err_size) != SL_OK)
        goto out;
    if (report_query(db, &o->filter, &rep, err, err_size) != SL_OK)
        goto out;
    if (prices && report_add_reprice(rep, db_conn(db), &o->filter, prices, err,
                                     err_size) != SL_OK)
        goto out;
    if (o->csv)
        report_write_csv(rep, stdout);
    else
        report_write_text(rep, stdout);
    rc = o->html ? write_html(rep, o) : 0;
    err[0] = '\0';
out:
    report_free(rep);
    config_free(prices);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    struct report_opts o;
    char err[1024] = "";
    memset(&o, 0, sizeof(o));
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct config *cfg = NULL;
    if (config_load_for("report", o.config_path, &cfg) != SL_OK)
        return 2;
    struct db *db = db_open(cfg->pg_conninfo, "sluice-report", err, sizeof(err));
    rc = db ? produce(db, &o, err, sizeof(err)) : 1;
    if (rc != 0 && err[0])
        fprintf(stderr, "sluice report: %s\n", err);
    db_close(db);
    config_free(cfg);
    return rc;
}
