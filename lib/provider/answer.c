#include "answer.h"

#include <stdbool.h>
#include <string.h>

#define FENCE "```"
#define FENCE_LEN 3

/* Returns the length of the balanced {...} starting at s[0] == '{', or 0
 * when it is not closed within len bytes. Braces inside JSON strings do not
 * count, and a backslash inside a string hides the next byte (\" and \\). */
static size_t balanced_len(const char *s, size_t len)
{
    size_t depth = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

/* Scans s[0..len) for the first balanced {...} that parses as an object.
 * *budget counts the failed candidates left across all calls. */
static cJSON *scan_region(const char *s, size_t len, int *budget)
{
    for (size_t i = 0; i < len && *budget > 0; i++) {
        if (s[i] != '{')
            continue;
        size_t n = balanced_len(s + i, len - i);
        if (n > 0) {
            cJSON *obj = cJSON_ParseWithLength(s + i, n);
            if (cJSON_IsObject(obj))
                return obj;
            cJSON_Delete(obj);
        }
        (*budget)--;
    }
    return NULL;
}

/* Finds the next fenced block at or after *pos. Sets its body (after the
 * opening fence's line, which may carry an info string such as "json") and
 * advances *pos past the closing fence. Returns false when there is none. */
static bool next_fenced_block(const char *content, size_t len, size_t *pos,
                              const char **body, size_t *body_len)
{
    const char *open = strstr(content + *pos, FENCE);
    if (!open)
        return false;
    const char *start = open + FENCE_LEN;
    const char *eol = strchr(start, '\n');
    /* "```{...}```" on one line: no info string to skip. */
    if (eol && !memchr(start, '{', (size_t)(eol - start)))
        start = eol + 1;
    const char *close = strstr(start, FENCE);
    const char *end = close ? close : content + len;

    *body = start;
    *body_len = (size_t)(end - start);
    *pos = close ? (size_t)(close + FENCE_LEN - content) : len;
    return true;
}

cJSON *answer_find_object(const char *content)
{
    if (!content)
        return NULL;
    size_t len = strlen(content);
    int budget = ANSWER_MAX_CANDIDATES;
    size_t pos = 0;
    const char *body;
    size_t body_len;

    while (pos < len && next_fenced_block(content, len, &pos, &body, &body_len)) {
        cJSON *obj = scan_region(body, body_len, &budget);
        if (obj)
            return obj;
    }
    return scan_region(content, len, &budget);
}
