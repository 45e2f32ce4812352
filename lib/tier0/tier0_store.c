/* tier0_store.c — see tier0_store.h. */
#include "tier0_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier0_features.h"

int tier0_store_add_trace(struct db *db, const struct tier0_trace *t,
                          char *errstr, size_t errstr_size)
{
    char norm[TIER0_MAX_TEXT + 1], tier[16], conf[32];
    tier0_feat_normalize(t->input, norm, sizeof norm);
    snprintf(tier, sizeof tier, "%d", t->tier);
    snprintf(conf, sizeof conf, "%.17g", t->confidence);
    const char *v[6] = {t->task, norm, t->label, t->tier > 0 ? tier : NULL,
                        t->model, t->confidence >= 0 ? conf : NULL};
    PGresult *res = db_query(db, "insert trace",
        "INSERT INTO traces (task, input_norm, label, tier, model, confidence) "
        "VALUES ($1, $2, $3, $4::int, $5, $6::float8)",
        6, v, errstr, errstr_size);
    int rc = res ? SL_OK : SL_EDB;
    PQclear(res);
    return rc;
}

int tier0_store_load_traces(struct db *db, const char *task, size_t limit,
                            struct tier0_trace_set *out, char *errstr,
                            size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *v[2] = {task, lim};
    PGresult *res = db_query(db, "load traces",
        "SELECT input_norm, label FROM traces WHERE task = $1 "
        "ORDER BY created_at DESC, id DESC LIMIT $2::bigint",
        2, v, errstr, errstr_size);
    if (!res)
        return SL_EDB;
    out->n = (size_t)PQntuples(res);
    out->texts = xmalloc((out->n ? out->n : 1) * sizeof *out->texts);
    out->labels = xmalloc((out->n ? out->n : 1) * sizeof *out->labels);
    for (size_t i = 0; i < out->n; i++) {
        out->texts[i] = xstrdup(PQgetvalue(res, (int)i, 0));
        out->labels[i] = xstrdup(PQgetvalue(res, (int)i, 1));
    }
    PQclear(res);
    return SL_OK;
}

void tier0_trace_set_clear(struct tier0_trace_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->texts[i]);
        free(s->labels[i]);
    }
    free(s->texts);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

int tier0_store_prune_traces(struct db *db, const char *task,
                             int64_t older_than_ms, size_t batch,
                             uint64_t *deleted, char *errstr,
                             size_t errstr_size)
{
    char cutoff[32], lim[32];
    snprintf(cutoff, sizeof cutoff, "%lld", (long long)older_than_ms);
    snprintf(lim, sizeof lim, "%zu", batch ? batch : 1);
    const char *v[3] = {task, cutoff, lim};
    uint64_t total = 0;
    int rc = SL_OK;
    for (;;) {
        PGresult *res = db_query(db, "prune traces",
            "DELETE FROM traces WHERE id IN (SELECT id FROM traces "
            "WHERE task = $1 AND created_at < to_timestamp($2::bigint / 1000.0) "
            "LIMIT $3::bigint)",
            3, v, errstr, errstr_size);
        if (!res) {
            rc = SL_EDB;
            break;
        }
        uint64_t n = strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        total += n;
        if (n < (uint64_t)(batch ? batch : 1))
            break;
    }
    if (deleted)
        *deleted = total;
    return rc;
}

int tier0_store_save(struct db *db, const char *task,
                     const struct tier0_model *m, const struct tier0_cert *c,
                     int64_t *version, char *errstr, size_t errstr_size)
{
    size_t size;
    uint8_t *blob = tier0_model_serialize(m, &size);
    char *thr = tier0_cert_thresholds_json(c, m);
    char *met = tier0_cert_metrics_json(c, m);
    const char *v[4] = {task, (const char *)blob, thr, met};
    int len[4] = {0, (int)size, 0, 0}, fmt[4] = {0, 1, 0, 0};
    /* The certified labels are the keys of thresholds.labels, so the array
     * is derived in SQL rather than quoted by hand. */
    PGresult *res = db_query_bin(db, "save tier0 model",
        "INSERT INTO tier0_models (task, version, model, thresholds, metrics, "
        "certified_labels) SELECT $1, COALESCE(max(version), 0) + 1, $2, "
        "$3::jsonb, $4::jsonb, ARRAY(SELECT jsonb_object_keys($3::jsonb->'labels') "
        "ORDER BY 1) FROM tier0_models WHERE task = $1 RETURNING version",
        4, v, len, fmt, errstr, errstr_size);
    int rc = res ? SL_OK : SL_EDB;
    if (res && version)
        *version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    free(blob);
    free(thr);
    free(met);
    return rc;
}

static int served_from_row(PGresult *res, const char *task,
                           struct tier0_served **out, char *errstr,
                           size_t errstr_size)
{
    struct tier0_served *s = xcalloc(1, sizeof *s);
    s->task = xstrdup(task);
    s->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    size_t blob_len = 0;
    unsigned char *blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 1),
                                          &blob_len);
    int rc = blob ? tier0_model_deserialize(blob, blob_len, &s->model, errstr,
                                            errstr_size)
                  : SL_EINVAL;
    if (!blob)
        snprintf(errstr, errstr_size, "tier0 model: bad bytea");
    PQfreemem(blob);
    if (rc == SL_OK)
        rc = tier0_cert_from_json(PQgetvalue(res, 0, 2), s->model, &s->cert,
                                  errstr, errstr_size);
    if (rc != SL_OK) {
        tier0_served_free(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

/* What a task serves: its newest version that certified something. */
#define SERVING_WHERE "WHERE task = $1 AND cardinality(certified_labels) > 0 "

int tier0_store_load_serving(struct db *db, const char *task,
                            struct tier0_served **out, char *errstr,
                            size_t errstr_size)
{
    *out = NULL;
    const char *v[1] = {task};
    PGresult *res = db_query(db, "load tier0 model",
        "SELECT version, model, thresholds::text FROM tier0_models "
        SERVING_WHERE "ORDER BY version DESC LIMIT 1",
        1, v, errstr, errstr_size);
    int rc;
    if (!res) {
        rc = SL_EDB;
    } else if (PQntuples(res) == 0) {
        snprintf(errstr, errstr_size, "no certified tier0 model for task %s",
                 task);
        rc = SL_ENOTFOUND;
    } else {
        rc = served_from_row(res, task, out, errstr, errstr_size);
    }
    PQclear(res);
    return rc;
}

int tier0_store_serving_version(struct db *db, const char *task,
                               int64_t *version, char *errstr,
                               size_t errstr_size)
{
    const char *v[1] = {task};
    PGresult *res = db_query(db, "tier0 model version",
        "SELECT COALESCE(max(version), 0) FROM tier0_models " SERVING_WHERE,
        1, v, errstr, errstr_size);
    if (!res)
        return SL_EDB;
    *version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return SL_OK;
}

void tier0_served_free(struct tier0_served *s)
{
    if (!s)
        return;
    free(s->task);
    tier0_model_free(s->model);
    tier0_cert_clear(&s->cert);
    free(s);
}

bool tier0_served_decide(const struct tier0_served *s, const char *text,
                         const char **label, double *score)
{
    struct tier0_pred p;
    tier0_model_predict_full(s->model, text, &p);
    *label = tier0_model_label(s->model, (size_t)p.label);
    *score = p.score;
    return tier0_cert_answers(&s->cert, &p);
}
