/* jsonschema.h — a validator for the subset of JSON Schema that task
 * schemas use (json output tasks, config tasks.<name>.schema).
 *
 * Supported keywords (draft 2020-12 meaning):
 *   type                  "object" | "array" | "string" | "number" |
 *                         "integer" | "boolean" | "null", or an array of
 *                         those; "integer" accepts any number with no
 *                         fractional part (1.0 is an integer)
 *   properties            object of sub-schemas, applied to present members
 *   required              array of member names
 *   additionalProperties  boolean only (false: members not in properties are
 *                         rejected); a schema value is not supported
 *   items                 one sub-schema applied to every element
 *   enum                  array of allowed values (deep, case-sensitive
 *                         equality)
 *   minLength, maxLength  non-negative integers, counted in Unicode code
 *                         points as the standard says, not bytes
 *   minimum, maximum      numbers, inclusive
 *   minItems, maxItems    non-negative integers
 * Annotations that never change the outcome are allowed and ignored:
 *   $schema, $id, $comment, title, description, default, examples.
 * Anything else ($ref, pattern, format, oneOf, …) is rejected by
 * jsonschema_check_schema, so a config cannot silently rely on a keyword
 * that would not be enforced.
 *
 * Error messages are one line, start with a path and are printable ASCII
 * (member names from the checked value are sanitised and capped), e.g.
 *   "$.order_id: expected string"
 *   "$.items[2].qty: below minimum 1"
 *   "schema.properties.sku: unsupported keyword \"pattern\"". */
#ifndef SL_JSONSCHEMA_H
#define SL_JSONSCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sl.h"

/* Checks that schema is an object using only the subset above, with
 * well-typed keyword values, recursively. Returns 0 or SL_EINVAL with the
 * reason in errstr. */
int jsonschema_check_schema(const cJSON *schema, char *errstr,
                            size_t errstr_size) SL_MUSTCHECK;

/* Validates value against schema. Returns 0, or SL_EINVAL with the first
 * violation in errstr; also SL_EINVAL ("schema…: …") when the schema does
 * not pass jsonschema_check_schema. Both arguments are borrowed. */
int jsonschema_validate(const cJSON *schema, const cJSON *value,
                        char *errstr, size_t errstr_size) SL_MUSTCHECK;

#endif
