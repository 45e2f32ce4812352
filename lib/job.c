/* job.c — parses and validates job messages (see job.h and
 * schema/job.schema.json).
 *
 * A message comes from outside, so it is checked before anything trusts it:
 * the raw bytes must be strict UTF-8 before cJSON sees them (cJSON copies
 * bytes through unchecked), and reasons name fields, never payload text. */
#include "job.h"
#include "rfc3339.h"
#include "utf8.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_ID_MAX_CHARS 200

static const char *const reject_names[] = {
    [JOB_OK] = "ok",
    [JOB_MALFORMED_JSON] = "malformed_json",
    [JOB_NOT_OBJECT] = "not_object",
    [JOB_MISSING_FIELD] = "missing_field",
    [JOB_WRONG_TYPE] = "wrong_type",
    [JOB_UNKNOWN_TASK] = "unknown_task",
    [JOB_INVALID_UTF8] = "invalid_utf8",
    [JOB_OVERSIZE] = "oversize",
    [JOB_BAD_VALUE] = "bad_value",
};

const char *job_reject_name(enum job_reject code)
{
    if ((size_t)code < SL_ARRAY_LEN(reject_names))
        return reject_names[code];
    return "unknown";
}

/* ---- UTF-8 ---- */

/* cJSON decodes "\u0000" into a NUL that silently cuts the string short,
 * so the escape is refused like a raw NUL byte. Only a backslash preceded
 * by an even run of backslashes starts an escape. */
static bool has_escaped_nul(const char *buf, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\\') {
            run = 0;
            continue;
        }
        run++;
        if (run % 2 == 1 && len - i >= 6 && buf[i + 1] == 'u' &&
            memcmp(buf + i + 2, "0000", 4) == 0)
            return true;
    }
    return false;
}

/* ---- job fields ---- */

struct jctx {
    char *reason;
    size_t reason_size;
};

/* Writes "<a>: <b>", e.g. "missing field: input" or "mode: must be …". */
static enum job_reject reject(struct jctx *c, enum job_reject code,
                              const char *a, const char *b)
{
    snprintf(c->reason, c->reason_size, "%s: %s", a, b);
    return code;
}

/* Fetches a string field; absent optional fields come back as def. */
static enum job_reject get_str(struct jctx *c, const cJSON *root,
                               const char *field, bool required,
                               const char *def, const char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!it) {
        *out = def;
        return required ? reject(c, JOB_MISSING_FIELD, "missing field", field)
                        : JOB_OK;
    }
    if (!cJSON_IsString(it))
        return reject(c, JOB_WRONG_TYPE, field, "must be a string");
    *out = it->valuestring;
    return JOB_OK;
}

static enum job_reject check_required(struct jctx *c, const cJSON *root,
                                      const struct config *cfg, struct job *job)
{
    const char *id, *task, *input;
    enum job_reject rc;
    if ((rc = get_str(c, root, "id", true, NULL, &id)) != JOB_OK ||
        (rc = get_str(c, root, "task", true, NULL, &task)) != JOB_OK ||
        (rc = get_str(c, root, "input", true, NULL, &input)) != JOB_OK)
        return rc;
    size_t id_chars = utf8_chars(id);
    if (id_chars == 0 || id_chars > JOB_ID_MAX_CHARS)
        return reject(c, JOB_BAD_VALUE, "id", "must be 1..200 characters");
    job->id = xstrdup(id);
    job->task = config_task(cfg, task);
    if (!job->task)
        return reject(c, JOB_UNKNOWN_TASK, "task", "not a task in config");
    job->input_len = strlen(input);
    if (job->input_len > cfg->worker.max_input_bytes)
        return reject(c, JOB_OVERSIZE, "input",
                      "larger than worker.max_input_bytes");
    if (!utf8_valid(input, job->input_len))
        return reject(c, JOB_INVALID_UTF8, "input", "invalid UTF-8");
    job->input = xstrdup(input);
    return JOB_OK;
}

static enum job_reject check_attribution(struct jctx *c, const cJSON *root,
                                         struct job *job)
{
    static const char *const fields[] = {"feature", "tenant", "cohort",
                                         "user_tier"};
    char **slots[] = {&job->feature, &job->tenant, &job->cohort,
                      &job->user_tier};
    for (size_t i = 0; i < SL_ARRAY_LEN(fields); i++) {
        const char *v;
        enum job_reject rc = get_str(c, root, fields[i], false, "", &v);
        if (rc != JOB_OK)
            return rc;
        *slots[i] = xstrdup(v);
    }
    return JOB_OK;
}

static enum job_reject check_mode_deadline(struct jctx *c, const cJSON *root,
                                           struct job *job)
{
    const char *mode, *deadline;
    enum job_reject rc;
    if ((rc = get_str(c, root, "mode", false, "interactive", &mode)) != JOB_OK)
        return rc;
    if (job_mode_parse(mode, &job->mode) != SL_OK)
        return reject(c, JOB_BAD_VALUE, "mode",
                      "must be interactive, async or offpeak");
    if ((rc = get_str(c, root, "deadline", false, NULL, &deadline)) != JOB_OK)
        return rc;
    /* 0 means "no deadline", so instants up to the epoch cannot be told
     * apart from it; none is a meaningful deadline anyway. */
    if (deadline && (rfc3339_parse_ms(deadline, &job->deadline_ms) != SL_OK ||
                     job->deadline_ms <= 0))
        return reject(c, JOB_BAD_VALUE, "deadline",
                      "must be an RFC 3339 date-time after 1970");
    return JOB_OK;
}

static enum job_reject check_metadata(struct jctx *c, const cJSON *root,
                                      struct job *job)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (!meta)
        return JOB_OK;
    if (!cJSON_IsObject(meta))
        return reject(c, JOB_WRONG_TYPE, "metadata", "must be an object");
    job->metadata_json = cJSON_PrintUnformatted(meta);
    if (!job->metadata_json)
        abort(); /* cJSON fails only on OOM; xmalloc's policy applies */
    return JOB_OK;
}

/* cJSON stops at the end of the first value; anything but whitespace after
 * it means the message is not one JSON document. */
static cJSON *parse_whole(const char *buf, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root)
        return NULL;
    for (; end < buf + len; end++) {
        if (!strchr(" \t\r\n", *end)) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

static enum job_reject parse_root(struct jctx *c, const struct config *cfg,
                                  const char *buf, size_t len, struct job *job)
{
    if (!utf8_valid(buf, len) || has_escaped_nul(buf, len))
        return reject(c, JOB_INVALID_UTF8, "message", "invalid UTF-8 or NUL");
    cJSON *root = parse_whole(buf, len);
    if (!root)
        return reject(c, JOB_MALFORMED_JSON, "message", "malformed JSON");
    enum job_reject rc = JOB_OK;
    if (!cJSON_IsObject(root))
        rc = reject(c, JOB_NOT_OBJECT, "message", "not a JSON object");
    if (rc == JOB_OK)
        rc = check_required(c, root, cfg, job);
    if (rc == JOB_OK)
        rc = check_mode_deadline(c, root, job);
    if (rc == JOB_OK)
        rc = check_attribution(c, root, job);
    if (rc == JOB_OK)
        rc = check_metadata(c, root, job);
    cJSON_Delete(root);
    return rc;
}

enum job_reject job_parse(const struct config *cfg, const char *buf,
                          size_t len, struct job **out, char *reason,
                          size_t reason_size)
{
    struct jctx c = {reason, reason_size};
    struct job *job = xcalloc(1, sizeof(*job));
    *out = NULL;
    if (reason_size > 0)
        reason[0] = '\0';
    enum job_reject rc = parse_root(&c, cfg, buf, len, job);
    if (rc != JOB_OK) {
        job_free(job);
        return rc;
    }
    *out = job;
    return JOB_OK;
}

void job_free(struct job *job)
{
    if (!job)
        return;
    free(job->id);
    free(job->input);
    free(job->feature);
    free(job->tenant);
    free(job->cohort);
    free(job->user_tier);
    free(job->metadata_json);
    free(job);
}
