/* budget.c — see budget.h; the overshoot bound is in docs/budgets.md.
 *
 * Each budget's spent figure is db + local: db is the sum of every worker's
 * committed cost lines of today at the last refresh, local what this worker
 * finished since. A refresh replaces db and zeroes local, which is exact
 * when the worker refreshes only with no finished job left unwritten (the
 * worker refreshes right after a successful ledger write). */
#include "budget.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics/telemetry.h"

#define FREE_USER "free"

struct spend {
    int64_t db, local;
    int64_t warned_day; /* the day its hit was logged; -1: not yet */
};

struct budget {
    const struct config *cfg;
    int64_t day;  /* UTC day of the view; -1 before any */
    struct spend *features; /* parallel to cfg->budgets.features */
    struct spend *tenants;  /* parallel to cfg->budgets.tenants */
    struct spend free_top;  /* free users' top-tier escalations (a count) */
};

static int64_t day_of(int64_t now_ms)
{
    return now_ms / BUDGET_DAY_MS;
}

static void clear_spend(struct spend *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s[i].db = s[i].local = 0;
        s[i].warned_day = -1;
    }
}

/* A new UTC day starts every total from zero. */
static void roll_day(struct budget *b, int64_t now_ms)
{
    int64_t day = day_of(now_ms);
    if (day == b->day)
        return;
    b->day = day;
    clear_spend(b->features, b->cfg->budgets.n_features);
    clear_spend(b->tenants, b->cfg->budgets.n_tenants);
    b->free_top.db = b->free_top.local = 0;
}

struct budget *budget_new(const struct config *cfg)
{
    struct budget *b = xcalloc(1, sizeof(*b));
    b->cfg = cfg;
    b->day = -1;
    b->features = xcalloc(cfg->budgets.n_features + 1, sizeof(*b->features));
    b->tenants = xcalloc(cfg->budgets.n_tenants + 1, sizeof(*b->tenants));
    clear_spend(b->features, cfg->budgets.n_features);
    clear_spend(b->tenants, cfg->budgets.n_tenants);
    b->free_top.warned_day = -1;
    return b;
}

void budget_free(struct budget *b)
{
    if (!b)
        return;
    free(b->features);
    free(b->tenants);
    free(b);
}

bool budget_enabled(const struct budget *b)
{
    const struct budgets_conf *c = &b->cfg->budgets;
    return c->n_features > 0 || c->n_tenants > 0 ||
           c->free_top_tier_escalations_per_day >= 0;
}

static long find(const struct budget_conf *confs, size_t n, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(confs[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Dollars as the budget was written: cents, or more digits when a budget
 * (e.g. a test's) is below what cents can show. */
static void format_usd(int64_t nanousd, char *buf, size_t size)
{
    snprintf(buf, size, "%.6f", (double)nanousd / 1e9);
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    size_t len = strlen(buf);
    while (len > (size_t)(dot - buf) + 3 && buf[len - 1] == '0')
        buf[--len] = '\0';
}

static void add_hit(const struct budget *b, struct budget_decision *d,
                    const char *scope, const struct budget_conf *conf,
                    const struct spend *s, int64_t day)
{
    int64_t spent = day == b->day ? s->db + s->local : 0;
    if (spent < conf->daily_nanousd)
        return;
    d->hits[d->n_hits++] = (struct budget_hit){scope, conf, spent};
    switch (conf->action) {
    case BUDGET_REJECT:
        if (!d->reject) {
            char usd[32];
            format_usd(conf->daily_nanousd, usd, sizeof(usd));
            snprintf(d->reason, sizeof(d->reason),
                     "budget: %s %s reached its daily budget of $%s", scope,
                     conf->name, usd);
        }
        d->reject = true;
        break;
    case BUDGET_DEFER:
        d->defer = true;
        break;
    case BUDGET_CAP_TIER:
        if (d->max_tier == 0 || conf->max_tier < d->max_tier)
            d->max_tier = conf->max_tier;
        break;
    }
}

void budget_decide(const struct budget *b, const char *feature,
                   const char *tenant, const char *user_tier, int64_t now_ms,
                   struct budget_decision *out)
{
    const struct budgets_conf *c = &b->cfg->budgets;
    int64_t day = day_of(now_ms);
    memset(out, 0, sizeof(*out));
    long f = feature && feature[0] ? find(c->features, c->n_features, feature) : -1;
    long t = tenant && tenant[0] ? find(c->tenants, c->n_tenants, tenant) : -1;
    if (f >= 0)
        add_hit(b, out, "feature", &c->features[f], &b->features[f], day);
    if (t >= 0)
        add_hit(b, out, "tenant", &c->tenants[t], &b->tenants[t], day);
    if (c->free_top_tier_escalations_per_day >= 0 && user_tier &&
        strcmp(user_tier, FREE_USER) == 0) {
        int64_t used = day == b->day ? b->free_top.db + b->free_top.local : 0;
        out->free_cap = used >= c->free_top_tier_escalations_per_day;
    }
}

static bool plan_has(const struct route_plan *plan, int tier)
{
    for (size_t i = 0; i < plan->n; i++)
        if (plan->tiers[i] == tier)
            return true;
    return false;
}

void budget_apply_plan(const struct config *cfg,
                       const struct budget_decision *d,
                       struct route_plan *plan)
{
    if (plan->n == 0)
        return;
    int cheapest = plan->tiers[0];
    size_t n = 0;
    for (size_t i = 0; i < plan->n; i++) {
        int t = plan->tiers[i];
        if (d->max_tier && t > d->max_tier)
            continue;
        if (d->free_cap && t == cfg->top_tier)
            continue;
        plan->tiers[n++] = t;
    }
    /* Like route_plan: a job is never stranded without a tier. */
    if (n == 0)
        plan->tiers[n++] = cheapest;
    plan->n = n;
}

void budget_add_job(struct budget *b, const char *feature, const char *tenant,
                    const char *user_tier,
                    const struct ledger_cost_line *lines, size_t n_lines,
                    int64_t now_ms)
{
    const struct budgets_conf *c = &b->cfg->budgets;
    int64_t cost = 0, escalations = 0;
    roll_day(b, now_ms);
    for (size_t i = 0; i < n_lines; i++) {
        cost += lines[i].cost_nanousd;
        if (i > 0 && lines[i].tier == b->cfg->top_tier &&
            lines[i - 1].tier < lines[i].tier)
            escalations++;
    }
    long f = feature && feature[0] ? find(c->features, c->n_features, feature) : -1;
    long t = tenant && tenant[0] ? find(c->tenants, c->n_tenants, tenant) : -1;
    if (f >= 0)
        b->features[f].local += cost;
    if (t >= 0)
        b->tenants[t].local += cost;
    if (user_tier && strcmp(user_tier, FREE_USER) == 0)
        b->free_top.local += escalations;
}

void budget_set_totals(struct budget *b, const struct budget_totals *t,
                       int64_t now_ms)
{
    const struct budgets_conf *c = &b->cfg->budgets;
    roll_day(b, now_ms);
    if (t->day != b->day)
        return;
    for (size_t i = 0; i < c->n_features; i++) {
        b->features[i].db = t->feature_spent[i];
        b->features[i].local = 0;
    }
    for (size_t i = 0; i < c->n_tenants; i++) {
        b->tenants[i].db = t->tenant_spent[i];
        b->tenants[i].local = 0;
    }
    b->free_top.db = t->free_top_escalations;
    b->free_top.local = 0;
}

/* ---- the refresh query ---- */

/* A line with reason in_flight is a placeholder written before its call
 * left and replaced by the call's outcome (an upper-bound estimate):
 * counting it would act on spend not yet made, so only lines that say what
 * happened count, as the worker's own finished jobs do (budget_add_job).
 *
 * Each branch filters on the budgeted names (a text[] parameter the
 * planner sees, so it knows how selective they are) and today's created_at
 * range: an index range scan of (feature, created_at) or (tenant,
 * created_at) of schema/001. The free-user branch reads the partial index
 * of escalated lines (schema/006) and joins those to jobs. */
static const char REFRESH_SQL[] =
    "SELECT 'f', feature, sum(cost_nanousd)::bigint FROM cost_lines"
    " WHERE feature = ANY ($2::text[]) AND reason IS DISTINCT FROM 'in_flight'"
    "   AND created_at >= to_timestamp($1::bigint)"
    "   AND created_at < to_timestamp($1::bigint + 86400)"
    " GROUP BY feature"
    " UNION ALL "
    "SELECT 't', tenant, sum(cost_nanousd)::bigint FROM cost_lines"
    " WHERE tenant = ANY ($3::text[]) AND reason IS DISTINCT FROM 'in_flight'"
    "   AND created_at >= to_timestamp($1::bigint)"
    "   AND created_at < to_timestamp($1::bigint + 86400)"
    " GROUP BY tenant"
    " UNION ALL "
    "SELECT 'e', '', count(*) FROM cost_lines c JOIN jobs j USING (job_id)"
    " WHERE $4::int > 0 AND c.tier = $4::int AND c.attempt > 1"
    "   AND c.reason IS DISTINCT FROM 'in_flight'"
    "   AND j.user_tier = 'free'"
    "   AND c.created_at >= to_timestamp($1::bigint)"
    "   AND c.created_at < to_timestamp($1::bigint + 86400)";

/* A text[] literal of the names: {"a","b"}, with " and \ escaped. */
static char *names_array(const struct budget_conf *confs, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(confs[i].name) + 3;
    char *out = xmalloc(len), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = confs[i].name; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

static void read_rows(const struct budgets_conf *c, const PGresult *res,
                      int64_t *features, int64_t *tenants, int64_t *free_top)
{
    for (int r = 0; r < PQntuples(res); r++) {
        const char *kind = PQgetvalue(res, r, 0);
        const char *name = PQgetvalue(res, r, 1);
        int64_t v = PQgetisnull(res, r, 2) ? 0
                                           : strtoll(PQgetvalue(res, r, 2), NULL, 10);
        long i;
        if (kind[0] == 'f' && (i = find(c->features, c->n_features, name)) >= 0)
            features[i] = v;
        else if (kind[0] == 't' && (i = find(c->tenants, c->n_tenants, name)) >= 0)
            tenants[i] = v;
        else if (kind[0] == 'e')
            *free_top = v;
    }
}

int budget_refresh(struct budget *b, struct db *db, int64_t now_ms,
                   char *errstr, size_t errstr_size)
{
    const struct budgets_conf *c = &b->cfg->budgets;
    int64_t day = day_of(now_ms);
    char day_s[32], top_s[16];
    char *features = names_array(c->features, c->n_features);
    char *tenants = names_array(c->tenants, c->n_tenants);
    int64_t *f_spent = xcalloc(c->n_features + 1, sizeof(int64_t));
    int64_t *t_spent = xcalloc(c->n_tenants + 1, sizeof(int64_t));
    int64_t free_top = 0;
    int rc = SL_OK;

    snprintf(day_s, sizeof(day_s), "%" PRId64, day * (BUDGET_DAY_MS / 1000));
    snprintf(top_s, sizeof(top_s), "%d",
             c->free_top_tier_escalations_per_day >= 0 ? b->cfg->top_tier : 0);
    const char *params[] = {day_s, features, tenants, top_s};
    PGresult *res = db_query(db, "budget refresh", REFRESH_SQL, 4, params,
                             errstr, errstr_size);
    if (!res) {
        rc = SL_EDB;
        goto out;
    }
    read_rows(c, res, f_spent, t_spent, &free_top);
    budget_set_totals(b, &(struct budget_totals){day, f_spent, t_spent, free_top},
                      now_ms);
out:
    PQclear(res);
    free(features);
    free(tenants);
    free(f_spent);
    free(t_spent);
    return rc;
}

/* ---- the dispatch hook ---- */

static void warn_once(struct budget *b, const struct budget_hit *h)
{
    const struct budgets_conf *c = &b->cfg->budgets;
    bool is_feature = strcmp(h->scope, "feature") == 0;
    long i = is_feature ? find(c->features, c->n_features, h->conf->name)
                        : find(c->tenants, c->n_tenants, h->conf->name);
    if (i < 0)
        return;
    struct spend *s = is_feature ? &b->features[i] : &b->tenants[i];
    if (s->warned_day == b->day)
        return;
    s->warned_day = b->day;
    log_warn("budget reached: scope=%s name=%s spent_usd=%.6f budget_usd=%.6f "
             "action=%s", h->scope, h->conf->name,
             (double)h->spent_nanousd / 1e9,
             (double)h->conf->daily_nanousd / 1e9,
             budget_action_name(h->conf->action));
}

static void note_free_cap(struct budget *b)
{
    metrics_count(telemetry()->budget_actions, 1, "free_user", "no_top_tier",
                  NULL);
    if (b->free_top.warned_day == b->day)
        return;
    b->free_top.warned_day = b->day;
    log_warn("budget reached: scope=free_user name=top_tier_escalations "
             "used=%" PRId64 " cap=%" PRId64 " action=no_top_tier",
             b->free_top.db + b->free_top.local,
             b->cfg->budgets.free_top_tier_escalations_per_day);
}

bool budget_check(struct budget *b, struct job *job, struct route_plan *plan,
                  int64_t now_ms, struct budget_decision *out)
{
    roll_day(b, now_ms);
    budget_decide(b, job->feature, job->tenant, job->user_tier, now_ms, out);
    for (size_t i = 0; i < out->n_hits; i++) {
        const struct budget_hit *h = &out->hits[i];
        warn_once(b, h);
        metrics_count(telemetry()->budget_actions, 1, h->scope,
                      budget_action_name(h->conf->action), NULL);
    }
    if (out->reject)
        return true;
    if (out->free_cap && plan_has(plan, b->cfg->top_tier) && plan->n > 1)
        note_free_cap(b);
    budget_apply_plan(b->cfg, out, plan);
    if (out->defer)
        job->mode = MODE_OFFPEAK;
    return false;
}
