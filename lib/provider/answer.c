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

/* The first "```" in s[0..len), or NULL. */
static const char *find_fence(const char *s, size_t len)
{
    while (len >= FENCE_LEN) {
        const char *b = memchr(s, '`', len - FENCE_LEN + 1);
        if (!b)
            return NULL;
        if (b[1] == '`' && b[2] == '`')
            return b;
        len -= (size_t)(b + 1 - s);
        s = b + 1;
    }
    return NULL;
}

/* The first c at or after from (before end), remembered: the fence scan
 * asks with ever larger from, so one pass over the content serves every
 * block. at == end means there is none. */
struct next_char {
    char c;
    const char *at; /* NULL until the first search */
};

static const char *next_char(struct next_char *n, const char *from,
                             const char *end)
{
    if (!n->at || (n->at != end && n->at < from)) {
        const char *hit = memchr(from, n->c, (size_t)(end - from));
        n->at = hit ? hit : end;
    }
    return n->at == end ? NULL : n->at;
}

/* Finds the next fenced block at or after *pos. Sets its body (after the
 * opening fence's line, which may carry an info string such as "json") and
 * advances *pos past the closing fence. Returns false when there is none.
 * Every search is bounded by what it passes (memchr with a length, the
 * newline and brace searches shared through nl and brace): strstr and
 * strchr from each fence to the end of the content made a run of fences
 * quadratic, 1 MB of backticks took 2 s and an 8 MB batch line minutes
 * (found reviewing this scan for the fuzz harness: libFuzzer's few-KB
 * inputs are too short to time out on it). */
static bool next_fenced_block(const char *content, size_t len, size_t *pos,
                              struct next_char *nl, struct next_char *brace,
                              const char **body, size_t *body_len)
{
    const char *end = content + len;
    const char *open = find_fence(content + *pos, len - *pos);
    if (!open)
        return false;
    const char *start = open + FENCE_LEN;
    const char *eol = next_char(nl, start, end);
    const char *first_brace = next_char(brace, start, end);
    /* "```{...}```" on one line: no info string to skip. */
    if (eol && !(first_brace && first_brace < eol))
        start = eol + 1;
    const char *close = find_fence(start, (size_t)(end - start));
    const char *stop = close ? close : end;

    *body = start;
    *body_len = (size_t)(stop - start);
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

    struct next_char nl = {'\n', NULL}, brace = {'{', NULL};
    while (pos < len && next_fenced_block(content, len, &pos, &nl, &brace,
                                          &body, &body_len)) {
        cJSON *obj = scan_region(body, body_len, &budget);
        if (obj)
            return obj;
    }
    return scan_region(content, len, &budget);
}
