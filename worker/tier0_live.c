#include "tier0_live.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/sha.h>

#include "log.h"
#include "metrics/telemetry.h"
#include "tier0/tier0_certify.h"
#include "tier0/tier0_store.h"

#define WITHDRAW_ALL "*"

struct served_task {
    const struct task_conf *task;
    struct tier0_served *served; /* NULL: no model yet */
    char **withdrawn;            /* labels, or "*" for the whole model */
    size_t n_withdrawn;
};

struct tier0_live {
    const struct config *cfg;
    struct served_task *tasks;
    size_t n_tasks;
};

struct tier0_live *tier0_live_new(const struct config *cfg)
{
    struct tier0_live *t = xcalloc(1, sizeof(*t));
    t->cfg = cfg;
    t->tasks = xcalloc(cfg->n_tasks, sizeof(*t->tasks));
    for (size_t i = 0; i < cfg->n_tasks; i++)
        if (cfg->tasks[i].tier0_enabled)
            t->tasks[t->n_tasks++].task = &cfg->tasks[i];
    return t;
}

static void clear_withdrawn(struct served_task *s)
{
    for (size_t i = 0; i < s->n_withdrawn; i++)
        free(s->withdrawn[i]);
    free(s->withdrawn);
    s->withdrawn = NULL;
    s->n_withdrawn = 0;
}

void tier0_live_free(struct tier0_live *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_tasks; i++) {
        tier0_served_free(t->tasks[i].served);
        clear_withdrawn(&t->tasks[i]);
    }
    free(t->tasks);
    free(t);
}

/* ---- reload ---------------------------------------------------------- */

static int reload_model(struct served_task *s, struct db *db, char *errstr,
                        size_t errstr_size)
{
    int64_t latest = 0;
    int rc = tier0_store_serving_version(db, s->task->name, &latest, errstr,
                                        errstr_size);
    if (rc != SL_OK || latest == 0 || (s->served && s->served->version >= latest))
        return rc;
    struct tier0_served *fresh = NULL;
    rc = tier0_store_load_serving(db, s->task->name, &fresh, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    log_info("tier0: task %s now serves model version %lld (certified: %s)",
             s->task->name, (long long)fresh->version,
             fresh->cert.certified ? "yes" : "no");
    tier0_served_free(s->served);
    s->served = fresh;
    clear_withdrawn(s);
    return SL_OK;
}

/* ---- the live guarantee ---------------------------------------------- */

/* Per certified label: certification answers and disagreements plus the
 * shadow checks of this version. */
static const char SQL_EVIDENCE[] =
    "WITH cert AS ("
    "  SELECT key AS label, (value->>'answered')::bigint AS n,"
    "   (value->>'answered')::bigint - (value->>'agreed')::bigint AS x"
    "  FROM tier0_models, jsonb_each(metrics->'labels')"
    "  WHERE task = $1 AND version = $2 AND (value->>'certified')::boolean),"
    " live AS ("
    "  SELECT tier0_label AS label, count(*) AS n,"
    "   count(*) FILTER (WHERE NOT agreed) AS x"
    "  FROM tier0_shadow WHERE task = $1 AND version = $2"
    "  GROUP BY tier0_label)"
    " SELECT label, coalesce(cert.n, 0), coalesce(cert.x, 0),"
    "  coalesce(live.n, 0), coalesce(live.x, 0)"
    " FROM cert FULL JOIN live USING (label)";

static const char SQL_WITHDRAW[] =
    "INSERT INTO tier0_withdrawals (task, version, label, bound, checks,"
    " disagreements) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT DO NOTHING";

static const char SQL_WITHDRAWN[] =
    "SELECT label FROM tier0_withdrawals WHERE task = $1 AND version = $2";

bool tier0_live_breach(const struct tier0_evidence *e, double target,
                       double *bound)
{
    uint64_t n = e->cert_n + e->live_n, x = e->cert_x + e->live_x;
    double limit = 1.0 - target;
    if (e->live_n == 0 || n == 0)
        return false;
    *bound = tier0_cp_upper(x, n, TIER0_ALPHA);
    double cert_bound = tier0_cp_upper(e->cert_x, e->cert_n, TIER0_ALPHA);
    double lower = 1.0 - tier0_cp_upper(n - x, n, TIER0_ALPHA);
    return (cert_bound <= limit && *bound > limit) || lower > limit;
}

bool tier0_live_label_breach(const struct tier0_evidence *e, double target,
                             double *bound)
{
    uint64_t n = e->cert_n + e->live_n, x = e->cert_x + e->live_x;
    if (e->live_n == 0 || n == 0)
        return false;
    *bound = tier0_cp_upper(x, n, TIER0_ALPHA);
    return 1.0 - tier0_cp_upper(n - x, n, TIER0_ALPHA) > 1.0 - target;
}

/* Inserts the withdrawal; *made counts it only when this call inserted it
 * (a label stays breached, and so is found again, on every refresh). */
static int withdraw(struct db *db, const struct served_task *s,
                    const char *label, double bound, const struct tier0_evidence *e,
                    int *made, char *errstr, size_t errstr_size)
{
    char version[32], bound_s[32], checks[32], dis[32];
    snprintf(version, sizeof(version), "%lld", (long long)s->served->version);
    snprintf(bound_s, sizeof(bound_s), "%.6f", bound);
    snprintf(checks, sizeof(checks), "%llu",
             (unsigned long long)(e->cert_n + e->live_n));
    snprintf(dis, sizeof(dis), "%llu", (unsigned long long)(e->cert_x + e->live_x));
    const char *params[] = {s->task->name, version, label, bound_s, checks, dis};
    PGresult *res = db_query(db, "tier0 withdraw", SQL_WITHDRAW, 6, params,
                             errstr, errstr_size);
    int rc = res ? SL_OK : SL_EDB;
    /* Counted and logged once, by the worker whose insert won. */
    if (res && strcmp(PQcmdTuples(res), "1") == 0) {
        (*made)++;
        metrics_count(telemetry()->tier0_withdrawals, 1, s->task->name, NULL, NULL);
        bool all = strcmp(label, WITHDRAW_ALL) == 0;
        log_warn("tier0: withdrew %s%s of task %s version %s: disagreement "
                 "bound %.4f > %.4f after %llu shadow checks (%llu disagreed)",
                 all ? "the model" : "label ", all ? "" : label, s->task->name,
                 version, bound, 1.0 - s->task->tier0_target,
                 (unsigned long long)e->live_n, (unsigned long long)e->live_x);
    }
    PQclear(res);
    return rc;
}

static int check_live_bounds(struct served_task *s, struct db *db, int *made,
                             char *errstr, size_t errstr_size)
{
    char version[32];
    snprintf(version, sizeof(version), "%lld", (long long)s->served->version);
    const char *params[] = {s->task->name, version};
    PGresult *res = db_query(db, "tier0 evidence", SQL_EVIDENCE, 2, params, errstr,
                             errstr_size);
    if (!res)
        return SL_EDB;
    struct tier0_evidence all = {0, 0, 0, 0};
    double bound;
    int rc = SL_OK;
    for (int r = 0; r < PQntuples(res) && rc == SL_OK; r++) {
        struct tier0_evidence e = {strtoull(PQgetvalue(res, r, 1), NULL, 10),
                             strtoull(PQgetvalue(res, r, 2), NULL, 10),
                             strtoull(PQgetvalue(res, r, 3), NULL, 10),
                             strtoull(PQgetvalue(res, r, 4), NULL, 10)};
        all.cert_n += e.cert_n, all.cert_x += e.cert_x;
        all.live_n += e.live_n, all.live_x += e.live_x;
        if (tier0_live_label_breach(&e, s->task->tier0_target, &bound)) {
            rc = withdraw(db, s, PQgetvalue(res, r, 0), bound, &e, made,
                          errstr, errstr_size);
        }
    }
    PQclear(res);
    if (rc == SL_OK && tier0_live_breach(&all, s->task->tier0_target, &bound)) {
        rc = withdraw(db, s, WITHDRAW_ALL, bound, &all, made, errstr,
                      errstr_size);
    }
    return rc;
}

static int load_withdrawn(struct served_task *s, struct db *db, char *errstr,
                          size_t errstr_size)
{
    char version[32];
    snprintf(version, sizeof(version), "%lld", (long long)s->served->version);
    const char *params[] = {s->task->name, version};
    PGresult *res = db_query(db, "tier0 withdrawals", SQL_WITHDRAWN, 2, params, errstr,
                             errstr_size);
    if (!res)
        return SL_EDB;
    clear_withdrawn(s);
    s->n_withdrawn = (size_t)PQntuples(res);
    s->withdrawn = xcalloc(s->n_withdrawn, sizeof(char *));
    for (size_t i = 0; i < s->n_withdrawn; i++)
        s->withdrawn[i] = xstrdup(PQgetvalue(res, (int)i, 0));
    PQclear(res);
    return SL_OK;
}

int tier0_live_refresh(struct tier0_live *t, struct db *db, int *withdrawn_now,
                       char *errstr, size_t errstr_size)
{
    int made = 0, rc = SL_OK;
    for (size_t i = 0; i < t->n_tasks && rc == SL_OK; i++) {
        struct served_task *s = &t->tasks[i];
        rc = reload_model(s, db, errstr, errstr_size);
        if (rc == SL_OK && s->served)
            rc = check_live_bounds(s, db, &made, errstr, errstr_size);
        if (rc == SL_OK && s->served)
            rc = load_withdrawn(s, db, errstr, errstr_size);
    }
    if (withdrawn_now)
        *withdrawn_now = made;
    return rc;
}

/* ---- answering ------------------------------------------------------- */

static bool is_withdrawn(const struct served_task *s, const char *label)
{
    for (size_t i = 0; i < s->n_withdrawn; i++)
        if (strcmp(s->withdrawn[i], label) == 0 ||
            strcmp(s->withdrawn[i], WITHDRAW_ALL) == 0)
            return true;
    return false;
}

/* Deterministic per job, so a redelivered job is sampled the same way. */
static bool sampled(const char *job_id, double share)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)job_id, strlen(job_id), digest);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | digest[i];
    return (double)(v >> 11) / (double)(1ull << 53) < share;
}

bool tier0_live_answer(const struct tier0_live *t, const struct job *job,
                       struct tier0_answer *out)
{
    for (size_t i = 0; i < t->n_tasks; i++) {
        const struct served_task *s = &t->tasks[i];
        if (s->task != job->task)
            continue;
        if (!s->served || !s->served->cert.certified)
            return false;
        if (!tier0_served_decide(s->served, job->input, &out->label, &out->score))
            return false;
        if (is_withdrawn(s, out->label))
            return false;
        out->version = s->served->version;
        out->shadow = sampled(job->id, s->task->tier0_shadow_share);
        return true;
    }
    return false;
}
