/* wire.h — the two provider wire formats: request parsing, reply and
 * error rendering (shapes as in docs/providers.md). */
#ifndef EMU_WIRE_H
#define EMU_WIRE_H

#include "emu.h"
#include "prefix_cache.h"

enum emu_api { EMU_API_OPENAI, EMU_API_ANTHROPIC };

/* What the emulator needs from a request, in either API. */
struct emu_request {
    char *model;
    char *user_text;     /* text of the last user message ("" if none) */
    size_t prompt_chars; /* characters of all prompt text (system + messages) */
    size_t system_chars; /* characters of the system prompt alone */
    long max_tokens;     /* -1 when the request sets no limit */
    struct emu_block *blocks; /* every text block in prompt order (system first) */
    size_t n_blocks, cap_blocks;
    int n_breakpoints;   /* blocks with cache_control (Anthropic) */
    char *service_tier;  /* as requested; NULL when absent */
};

enum emu_err {
    EMU_ERR_INVALID,    /* 400 */
    EMU_ERR_MODEL,      /* 404 unknown model */
    EMU_ERR_ROUTE,      /* 404 unknown path */
    EMU_ERR_METHOD,     /* 405 */
    EMU_ERR_TOO_LARGE,  /* 413 */
    EMU_ERR_SERVER,     /* 500 */
    EMU_ERR_RATE_LIMIT, /* 429 */
    EMU_ERR_OVERLOAD,   /* 503 (OpenAI) / 529 (Anthropic) */
    EMU_ERR_NOT_FOUND,  /* 404 unknown object (file, batch) */
    EMU_ERR_CONFLICT    /* 409 the object is not in a state for this call */
};

struct emu_reply {
    const char *id, *model, *content, *fingerprint;
    const char *service_tier; /* served tier: NULL = standard ("default" for
                                 OpenAI), "flex", "batch" */
    long input_tokens;  /* all prompt tokens, cached ones included */
    long cached_tokens; /* the part of input_tokens read from the cache */
    long cache_write_tokens;    /* the part written to the cache (Anthropic) */
    long cache_write_1h_tokens; /* of those, written with the 1-hour TTL */
    long output_tokens;
    bool truncated;     /* content was cut at max tokens */
};

/* Returns 0, or -1 with a provider-style message in why. */
int emu_request_parse(enum emu_api api, const char *body, size_t len, struct emu_request *r,
                      char *why, size_t why_size);
/* The same for a request already parsed (a batch line's body or params). */
int emu_request_from_json(enum emu_api api, const cJSON *root, struct emu_request *r, char *why, size_t why_size);
void emu_request_free(struct emu_request *r);

char *emu_render_reply(enum emu_api api, const struct emu_reply *r);
int emu_error_status(enum emu_api api, enum emu_err e);
char *emu_render_error(enum emu_api api, enum emu_err e, const char *message, const char *request_id);

#endif
