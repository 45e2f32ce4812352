/* answer.h — finding the answer object in a model's free-form content.
 *
 * Models are asked for exactly one JSON object (docs/prompt-contract.md) but
 * wrap it in ``` fences or surround it with prose. This module recovers the
 * object; judging what is inside it is escalate.h's job. */
#ifndef SL_ANSWER_H
#define SL_ANSWER_H

#include <cjson/cJSON.h>

/* The scan gives up after this many '{' candidates that fail to parse, so
 * brace-heavy content costs O(ANSWER_MAX_CANDIDATES * length) at most. */
#define ANSWER_MAX_CANDIDATES 256

/* Finds the answer object in a model's content: strips ``` / ```json fences,
 * then takes the first balanced {...} (string- and escape-aware scan) that
 * cJSON parses as an object. The inside of fenced blocks is searched first,
 * in order, then the whole content, so a fenced answer wins over an example
 * object in the prose around it; an unclosed fence (truncated reply) runs to
 * the end of the content.
 * Returns a new cJSON (free with cJSON_Delete) or NULL (content NULL, no
 * object, only arrays/scalars, nothing that parses). */
cJSON *answer_find_object(const char *content);

#endif
