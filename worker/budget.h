/* budget.h — daily spend budgets per feature and tenant, and the daily cap
 * of free users' top-tier escalations (config: budgets.*, docs/budgets.md).
 *
 * A struct budget holds one worker's view of today's (UTC day) spend: the
 * totals last read from cost_lines (budget_refresh) plus what this worker
 * finished since (budget_add_job). Every decision compares that view with
 * the configured budgets; a budget is reached when spent >= daily budget.
 * When the UTC day changes, every total restarts from zero.
 *
 * Pure parts (no I/O, no clock): budget_decide, budget_apply_plan,
 * budget_set_totals, budget_add_job. budget_check is the worker's one call
 * at dispatch: decide, log the first hit of each budget per day, count the
 * job in telemetry()->budget_actions {scope, action}, and apply.
 *
 * Ownership: budget_new returns a new struct budget; free with
 * budget_free(). It borrows the config, which must outlive it. Not thread
 * safe: one budget per event loop. */
#ifndef SL_BUDGET_H
#define SL_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "job.h"
#include "ledger.h"
#include "route.h"

#define BUDGET_DAY_MS ((int64_t)86400000)

struct budget;

/* One reached budget that applies to a job. */
struct budget_hit {
    const char *scope;           /* "feature" or "tenant" (static) */
    const struct budget_conf *conf; /* borrowed from the config */
    int64_t spent_nanousd;       /* this worker's view of today's spend */
};

/* What a job gets. Every reached budget of the job's feature and tenant
 * applies: reject wins over everything, defer and cap_tier combine, two
 * caps give the lower one. */
struct budget_decision {
    struct budget_hit hits[2];
    size_t n_hits;
    bool reject;
    bool defer;
    int max_tier;       /* 0: no cap */
    bool free_cap;      /* a free user past the daily top-tier cap */
    char reason[256];   /* when reject: "budget: feature x reached its
                           daily budget of $5.00" */
};

/* Today's totals as stored in PostgreSQL. */
struct budget_totals {
    int64_t day;                  /* UTC day number: unix ms / BUDGET_DAY_MS */
    const int64_t *feature_spent; /* [cfg budgets.n_features], nano-dollars */
    const int64_t *tenant_spent;  /* [cfg budgets.n_tenants] */
    int64_t free_top_escalations;
};

struct budget *budget_new(const struct config *cfg);
void budget_free(struct budget *b); /* NULL is a no-op */

/* True when the config has any budget or free-user cap. */
bool budget_enabled(const struct budget *b);

/* The decision for a job of feature/tenant/user_tier ("" for none) at
 * now_ms. A view of an earlier day counts as nothing spent. */
void budget_decide(const struct budget *b, const char *feature,
                   const char *tenant, const char *user_tier, int64_t now_ms,
                   struct budget_decision *out);

/* Narrows plan: drops tiers above d->max_tier, and the config's top tier
 * when d->free_cap. A plan the caps would empty keeps its cheapest tier. */
void budget_apply_plan(const struct config *cfg,
                       const struct budget_decision *d,
                       struct route_plan *plan);

/* Adds a finished job's cost lines to this worker's view: their cost to the
 * job's feature and tenant, and, for a free user, each call on the top
 * tier that followed a call on a lower one as a top-tier escalation. */
void budget_add_job(struct budget *b, const char *feature, const char *tenant,
                    const char *user_tier,
                    const struct ledger_cost_line *lines, size_t n_lines,
                    int64_t now_ms);

/* Replaces the view with t (totals of every worker's committed lines):
 * what this worker added before is assumed to be in t. Totals of a day
 * other than today's (by now_ms) are ignored. */
void budget_set_totals(struct budget *b, const struct budget_totals *t,
                       int64_t now_ms);

/* Reads today's totals from cost_lines (one grouped query over the
 * budgeted features and tenants, on the (feature, created_at) and
 * (tenant, created_at) indexes) and sets them. The caller must have written
 * every finished job it added with budget_add_job, else those are lost
 * from the view until the next refresh. Blocking. Returns 0 or SL_EDB. */
int budget_refresh(struct budget *b, struct db *db, int64_t now_ms,
                   char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* The dispatch hook: budget_decide for the job, then log a warning the
 * first time each budget is found reached on a UTC day (scope, name, spent,
 * budget), count the job once per hit in telemetry()->budget_actions
 * {scope, action}, narrow plan (budget_apply_plan) and, for defer, set the
 * job's mode to offpeak. Returns true when the job must be rejected (no
 * provider call; out->reason says why). */
bool budget_check(struct budget *b, struct job *job, struct route_plan *plan,
                  int64_t now_ms, struct budget_decision *out);

#endif
