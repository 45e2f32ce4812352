/* reconcile.c — `sluice reconcile`: the ledger against the providers'
 * usage reports (reconcile_usage.h), per UTC day, provider, model and mode. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics/telemetry.h"
#include "pricing.h"
#include "reconcile_usage.h"

struct reconcile_opts {
    const char *config_path, *metrics_file;
    char from[11], to[11];
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice reconcile [--config F] [--from DATE] [--to DATE]\n"
            "                        [--metrics-file FILE]\n\n"
            "Reads each provider's organization usage report (OpenAI usage/\n"
            "completions, Anthropic usage_report/messages; admin key from the\n"
            "variable providers.*.admin_key_env) and prints, per UTC day,\n"
            "provider, model and mode, the ledger's confirmed tokens and cost\n"
            "against the provider's, their difference, and the unconfirmed\n"
            "spend (calls sent without an answer, an upper bound) apart.\n"
            "A difference over alerts.reconcile_tolerance_usd logs a warning.\n\n"
            "  --from DATE, --to DATE  UTC days YYYY-MM-DD, both inclusive\n"
            "                          (default: today)\n"
            "  --metrics-file FILE     write sluice_reconcile_diff_* gauges in\n"
            "                          Prometheus text format (textfile collector)\n"
            "  --config F              configuration\n\n"
            "Exit status: 0 done (whatever the differences), 1 database, HTTP\n"
            "or file error, 2 usage error.\n");
}

static int parse_args(int argc, char **argv, struct reconcile_opts *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"metrics-file", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    time_t now = time(NULL);
    struct tm tm;
    strftime(o->from, sizeof(o->from), "%Y-%m-%d", gmtime_r(&now, &tm));
    sl_strlcpy(o->to, o->from, sizeof(o->to));
    o->config_path = config_default_path();
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config_path = optarg; break;
        case 'f': if (cli_valid_date(optarg)) sl_strlcpy(o->from, optarg, sizeof(o->from)); else goto bad; break;
        case 't': if (cli_valid_date(optarg)) sl_strlcpy(o->to, optarg, sizeof(o->to)); else goto bad; break;
        case 'm': o->metrics_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind == argc)
        return -1;
bad:
    fprintf(stderr, "sluice reconcile: dates are YYYY-MM-DD; no positional arguments\n");
    usage(stderr);
    return 2;
}

static void usd(int64_t nano, char *buf, size_t size)
{
    pricing_format_usd(nano, buf, size);
}

static void print_rows(const struct reconcile_row *rows, size_t n,
                       int64_t tolerance)
{
    printf("%-10s %-14s %-20s %-8s %12s %12s %10s %12s %12s %10s %12s %12s %12s %12s\n",
           "day", "provider", "model", "mode", "ledger_in", "provider_in",
           "diff_in", "ledger_out", "provider_out", "diff_out", "ledger_usd",
           "provider_usd", "diff_usd", "unconf_usd");
    for (size_t i = 0; i < n; i++) {
        const struct reconcile_row *r = &rows[i];
        char l[32], p[32], d[32], u[32];
        usd(r->ledger.nanousd, l, sizeof(l));
        usd(r->provider.nanousd, p, sizeof(p));
        usd(reconcile_diff_nanousd(r), d, sizeof(d));
        usd(r->unconfirmed.nanousd, u, sizeof(u));
        printf("%-10s %-14s %-20s %-8s %12lld %12lld %10lld %12lld %12lld %10lld %12s %12s %12s %12s\n",
               r->day, r->provider_name, r->model, r->mode,
               (long long)r->ledger.tokens_in, (long long)r->provider.tokens_in,
               (long long)(r->provider.tokens_in - r->ledger.tokens_in),
               (long long)r->ledger.tokens_out, (long long)r->provider.tokens_out,
               (long long)(r->provider.tokens_out - r->ledger.tokens_out), l, p, d, u);
        int64_t diff = reconcile_diff_nanousd(r);
        if (diff > tolerance || diff < -tolerance)
            log_warn("reconcile: %s %s %s %s: provider %s, ledger %s (confirmed; "
                     "%s unconfirmed), difference %s over tolerance",
                     r->day, r->provider_name, r->model, r->mode, p, l, u, d);
    }
}

/* The gauges: each provider's difference over the whole range. */
static int set_metrics(const struct reconcile_row *rows, size_t n,
                       const char *file)
{
    telemetry_init();
    for (size_t i = 0; i < n; i++) {
        metrics_set(telemetry()->reconcile_diff_tokens, 0, rows[i].provider_name, NULL, NULL);
        metrics_set(telemetry()->reconcile_diff_nanousd, 0, rows[i].provider_name, NULL, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        metrics_count(telemetry()->reconcile_diff_tokens,
                      (double)reconcile_diff_tokens(&rows[i]), rows[i].provider_name, NULL, NULL);
        metrics_count(telemetry()->reconcile_diff_nanousd,
                      (double)reconcile_diff_nanousd(&rows[i]), rows[i].provider_name, NULL, NULL);
    }
    if (!file)
        return 0;
    char *text = metrics_render(telemetry()->registry);
    FILE *f = fopen(file, "w");
    int rc = f && fputs(text, f) >= 0 ? 0 : 1;
    if (f && fclose(f) != 0)
        rc = 1;
    if (rc)
        perror(file);
    free(text);
    return rc;
}

int cmd_reconcile(int argc, char **argv)
{
    struct reconcile_opts o;
    char err[1024] = "";
    memset(&o, 0, sizeof(o));
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct config *cfg = NULL;
    if (config_load_for("reconcile", o.config_path, &cfg) != SL_OK)
        return 2;
    struct reconcile_row *rows = NULL;
    size_t n = 0;
    struct db *db = db_open(cfg->pg_conninfo, "sluice-reconcile", err, sizeof(err));
    rc = 1;
    if (db && reconcile_run(cfg, db, o.from, o.to, &rows, &n, err, sizeof(err)) == SL_OK) {
        print_rows(rows, n, cfg->alerts.reconcile_tolerance_nanousd);
        rc = set_metrics(rows, n, o.metrics_file);
    } else {
        fprintf(stderr, "sluice reconcile: %s\n", err);
    }
    free(rows);
    db_close(db);
    config_free(cfg);
    telemetry_free();
    return rc;
}
