/* pending.c — the pending table's row, written and read (see pending.h). */
#include "pending.h"

#include <stdlib.h>
#include <string.h>

#include "sl.h"

const char pending_insert_sql[] =
    "INSERT INTO pending (job_id, task, mode, input, feature, tenant, cohort,"
    " ladder, tier, provider, model, deadline)"
    " SELECT r.job_id, r.task, r.mode, r.input, r.feature, r.tenant, r.cohort,"
    "  ARRAY(SELECT json_array_elements_text(r.ladder)::int), r.tier,"
    "  r.provider, r.model, 'epoch'::timestamptz + r.deadline_ms * interval '1 ms'"
    " FROM json_to_recordset($1::json) AS r(job_id text, task text, mode text,"
    "  input text, feature text, tenant text, cohort text, ladder json,"
    "  tier int, provider text, model text, deadline_ms bigint)";

/* Absent attribution is stored as "", as in the jobs table. */
static const char *text(const char *s)
{
    return s ? s : "";
}

cJSON *pending_row_json(const struct pending_job *j,
                        const struct pending_handover *h)
{
    cJSON *o = cJSON_CreateObject();
    char *input = xstrndup(h->input, h->input_len);
    cJSON_AddStringToObject(o, "job_id", text(j->job_id));
    cJSON_AddStringToObject(o, "task", text(j->task));
    cJSON_AddStringToObject(o, "mode", text(j->mode));
    cJSON_AddStringToObject(o, "input", input);
    free(input);
    cJSON_AddStringToObject(o, "feature", text(j->feature));
    cJSON_AddStringToObject(o, "tenant", text(j->tenant));
    cJSON_AddStringToObject(o, "cohort", text(j->cohort));
    cJSON_AddItemToObject(o, "ladder",
                          cJSON_CreateIntArray(h->ladder, (int)h->n_ladder));
    cJSON_AddNumberToObject(o, "tier", h->tier);
    cJSON_AddStringToObject(o, "provider", h->provider);
    cJSON_AddStringToObject(o, "model", h->model);
    if (j->deadline_ms)
        cJSON_AddNumberToObject(o, "deadline_ms", (double)j->deadline_ms);
    return o;
}

/* "{1,2,3}" → ints; extra tiers beyond CONFIG_MAX_TIERS are ignored. */
static size_t parse_ladder(const char *text, int *out)
{
    size_t n = 0;
    for (const char *p = text; *p && n < CONFIG_MAX_TIERS;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end != p)
            out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

void pending_row_read(const struct config *cfg, const PGresult *res, int r,
                      struct pending_row *out)
{
    memset(out, 0, sizeof(*out));
    out->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
    out->job_id = PQgetvalue(res, r, 1);
    out->task_name = PQgetvalue(res, r, 2);
    out->mode = PQgetvalue(res, r, 3);
    out->input = PQgetvalue(res, r, 4);
    out->feature = PQgetvalue(res, r, 5);
    out->tenant = PQgetvalue(res, r, 6);
    out->cohort = PQgetvalue(res, r, 7);
    out->n_ladder = parse_ladder(PQgetvalue(res, r, 8), out->ladder);
    out->step = (size_t)atoi(PQgetvalue(res, r, 9));
    out->attempt = atoi(PQgetvalue(res, r, 10));
    out->lines = atoi(PQgetvalue(res, r, 11));
    out->retries = atoi(PQgetvalue(res, r, 12));
    out->deadline_ms = strtoll(PQgetvalue(res, r, 13), NULL, 10);
    out->task = config_task(cfg, out->task_name);
}

const struct tier_conf *pending_row_tier(const struct config *cfg,
                                         const struct pending_row *row)
{
    if (row->step >= row->n_ladder)
        return NULL;
    return config_tier(cfg, row->ladder[row->step]);
}
