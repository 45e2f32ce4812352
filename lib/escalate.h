/* escalate.h — judging a model's reply: accept it, or say why the job must
 * climb to the next tier of its ladder (README, "Running workers").
 *
 * Pure functions: no I/O, no logging, no clock. The caller (the tier ladder
 * in the worker and the scheduler's batch ingest) decides what to do with
 * the verdict. */
#ifndef SL_ESCALATE_H
#define SL_ESCALATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "provider/llm.h"

enum verdict {
    VERDICT_ACCEPT = 0,
    VERDICT_LOW_CONFIDENCE,  /* valid output, confidence under the task threshold */
    VERDICT_EMPTY,           /* no content / empty label, data or text */
    VERDICT_REFUSAL,
    VERDICT_LENGTH_CAP,      /* truncated at max tokens */
    VERDICT_UNPARSEABLE,     /* no JSON object found / wrong shape */
    VERDICT_LABEL_NOT_IN_SET,
    VERDICT_SCHEMA_MISMATCH,
    VERDICT_PROVIDER_FAILED  /* set by the caller when the provider kept failing */
};

/* Judges a 200 response for a task (a response with another http_status is
 * VERDICT_PROVIDER_FAILED). *answer is overwritten, so it must not hold
 * anything on entry. On VERDICT_ACCEPT and VERDICT_LOW_CONFIDENCE, *answer
 * holds the parsed answer (caller clears it with llm_answer_clear);
 * otherwise *answer is left empty (all zero). detail gets a one-line,
 * printable-ASCII explanation (never the whole content: at most a short,
 * sanitised excerpt such as the rejected label).
 *
 * Order of checks, first failure wins:
 *   1. resp->refused                              → REFUSAL
 *   2. resp->truncated                            → LENGTH_CAP
 *   3. content NULL or only whitespace            → EMPTY
 *   4. no JSON object (answer_find_object)        → UNPARSEABLE
 *   5. shape by output type:
 *      label: "label" missing or not a string     → UNPARSEABLE
 *             null or blank after trimming        → EMPTY
 *             not in task->labels                 → LABEL_NOT_IN_SET
 *        Labels match case-insensitively (ASCII) after trimming whitespace
 *        and are stored in their canonical config spelling.
 *      json:  "data" missing or not an object     → UNPARSEABLE
 *             null or {}                          → EMPTY
 *             fails jsonschema_validate(task->schema) → SCHEMA_MISMATCH
 *      text:  "text" missing or not a string      → UNPARSEABLE
 *             null or only whitespace             → EMPTY
 *             (stored as given, untrimmed)
 *   6. confidence: a number in [0,1], or a string holding one ("0.8"),
 *      sets has_confidence; absent, out of range or malformed leaves
 *      has_confidence false and confidence 0, which counts as low when the
 *      threshold is > 0. confidence < task->confidence_threshold
 *                                                 → LOW_CONFIDENCE */
enum verdict escalate_judge(const struct task_conf *task,
                            const struct llm_response *resp,
                            struct llm_answer *answer, char *detail,
                            size_t detail_size);

/* Stable name, e.g. "low_confidence"; "unknown" for values outside the
 * enum. Used in the ledger and in metrics labels. */
const char *verdict_name(enum verdict v);

/* Whether the job should move to the next tier of its ladder: anything but
 * ACCEPT, unless this is the last tier, where LOW_CONFIDENCE is accepted as
 * the best answer available (returns false then). On the last tier any
 * other verdict returns true: there is nothing to climb to, so the caller
 * fails the job. */
bool escalate_should_climb(enum verdict v, bool is_last_tier);

#endif
