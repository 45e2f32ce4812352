/* claims.c — job id claims in PostgreSQL (claims.h). The logic that must
 * be atomic lives in the SQL function sluice_claim_jobs (schema/008): one
 * round trip per micro-batch, and a jobs check after the claim with a newer
 * snapshot, so that a job finished by another worker meanwhile is seen as
 * done rather than claimed and called again. */
#include "claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static const char SQL_TAKE[] =
    "SELECT idx, claim_state, base_attempt"
    " FROM sluice_claim_jobs($1::json, $2, $3::bigint)";

static const char SQL_RENEW[] =
    "UPDATE job_claims SET lease_until = now() + $2::bigint * interval '1 ms'"
    " WHERE owner = $1";

static const char SQL_RELEASE[] =
    "DELETE FROM job_claims WHERE owner = $1"
    " AND job_id IN (SELECT json_array_elements_text($2::json))";

void claims_owner_token(char *buf, size_t size)
{
    char host[64] = "";
    struct timespec ts;
    if (gethostname(host, sizeof(host) - 1) != 0)
        sl_strlcpy(host, "host", sizeof(host));
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%s:%ld:%llx", host, (long)getpid(),
             (unsigned long long)ts.tv_sec * 1000000000ull +
                 (unsigned long long)ts.tv_nsec);
}

const char *claim_state_name(enum claim_state s)
{
    switch (s) {
    case CLAIM_DONE: return "done";
    case CLAIM_TAKEN: return "claimed";
    case CLAIM_BUSY: return "busy";
    }
    return "unknown";
}

/* Returns a new JSON array text of ids; free with cJSON_free. */
static char *ids_json(const char *const *ids, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i] ? ids[i] : ""));
    char *json = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    if (!json)
        abort(); /* cJSON's only failure is allocation */
    return json;
}

static enum claim_state parse_state(const char *s)
{
    if (strcmp(s, "done") == 0)
        return CLAIM_DONE;
    if (strcmp(s, "claimed") == 0)
        return CLAIM_TAKEN;
    return CLAIM_BUSY;
}

int claims_take(struct db *db, const char *owner, int64_t lease_ms,
                const char *const *ids, size_t n, enum claim_state *states,
                int *base_attempt, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return SL_OK;
    char lease[32];
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    char *json = ids_json(ids, n);
    const char *params[] = {json, owner, lease};
    PGresult *res = db_query(db, "claim jobs", SQL_TAKE, 3, params, errstr,
                             errstr_size);
    cJSON_free(json);
    if (!res)
        return SL_EDB;
    /* Anything the function did not answer for stays busy: waiting is
     * always safe, calling is not. */
    for (size_t i = 0; i < n; i++) {
        states[i] = CLAIM_BUSY;
        base_attempt[i] = 0;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        size_t i = strtoul(PQgetvalue(res, r, 0), NULL, 10);
        if (i < 1 || i > n)
            continue;
        states[i - 1] = parse_state(PQgetvalue(res, r, 1));
        base_attempt[i - 1] = atoi(PQgetvalue(res, r, 2));
    }
    PQclear(res);
    return SL_OK;
}

int claims_renew(struct db *db, const char *owner, int64_t lease_ms,
                 long *renewed, char *errstr, size_t errstr_size)
{
    char lease[32];
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    const char *params[] = {owner, lease};
    PGresult *res = db_query(db, "renew claims", SQL_RENEW, 2, params, errstr,
                             errstr_size);
    if (!res)
        return SL_EDB;
    if (renewed)
        *renewed = atol(PQcmdTuples(res));
    PQclear(res);
    return SL_OK;
}

int claims_release(struct db *db, const char *owner, const char *const *ids,
                   size_t n, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return SL_OK;
    char *json = ids_json(ids, n);
    const char *params[] = {owner, json};
    PGresult *res = db_query(db, "release claims", SQL_RELEASE, 2, params,
                             errstr, errstr_size);
    cJSON_free(json);
    if (!res)
        return SL_EDB;
    PQclear(res);
    return SL_OK;
}
