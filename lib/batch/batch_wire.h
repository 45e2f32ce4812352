/* batch_wire.h — the pure (no I/O) wire formats of the provider batch APIs:
 * OpenAI Files + Batch and Anthropic Message Batches (see
 * docs/providers.md). The scheduler does the HTTP with
 * http_multi and calls these to build request bodies and to read answers.
 *
 * Each request of a batch carries exactly the body the realtime call would
 * send (provider_request_body), and each answer line is parsed by
 * provider_parse_response, so content, usage and refusal/truncation flags
 * are identical to a realtime answer.
 *
 * Ownership: every returned string and every filled struct is new; free
 * strings with free(), structs with their *_clear(). Allocation failure
 * aborts, like xmalloc. Errors: 0 or a negative SL_E* code with a reason in
 * errstr. */
#ifndef SL_BATCH_WIRE_H
#define SL_BATCH_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "provider/llm.h"
#include "sl.h"

/* A default cap for batch_splitter_new on result files: far above any line
 * a task's max_output_tokens can produce, far below memory trouble. */
#define BATCH_MAX_LINE_DEFAULT ((size_t)8 << 20)

/* Longest custom_id both providers accept (Anthropic: ^[a-zA-Z0-9_-]{1,64}$). */
#define BATCH_CUSTOM_ID_MAX 64

/* One request of a batch. Every pointer is borrowed for the call. */
struct batch_item {
    const char *custom_id;        /* see batch_custom_id_valid */
    const struct task_conf *task;
    const char *model;
    const char *input;            /* input_len bytes */
    size_t input_len;
};

/* Limits per batch (OpenAI 50,000 requests / 200 MB per input file;
 * Anthropic 100,000 requests / 256 MB per create body). Bytes are decimal
 * megabytes, the conservative reading. */
size_t batch_max_requests(enum provider_kind kind);
size_t batch_max_bytes(enum provider_kind kind);

/* True when id matches ^[a-zA-Z0-9_-]{1,64}$, Anthropic's rule. Both
 * builders enforce it for both providers, so one id scheme serves both:
 * a job id ("1..200 chars", any text) or "<job_id>:<attempt>" does NOT
 * qualify; use batch_custom_id. */
bool batch_custom_id_valid(const char *id);

/* True when a provider's id (batch, file, list cursor) is 1..256 of
 * [a-zA-Z0-9_.-]: safe to put in a URL path or query unescaped. */
bool batch_provider_id_valid(const char *id);

/* Returns a new custom_id "r<row_id>-a<attempt>" for a pending row id
 * (>= 0) and attempt (>= 0). */
char *batch_custom_id(int64_t row_id, int attempt);

/* Reads an id made by batch_custom_id back. Returns 0, or SL_EINVAL when
 * id is not of that shape. */
int batch_custom_id_parse(const char *id, int64_t *row_id,
                          int *attempt) SL_MUSTCHECK;

/* OpenAI: the JSONL input file, one line per item, each
 * {"custom_id","method":"POST","url":"/v1/chat/completions","body":{…}}
 * and ending in "\n". Returns 0 and *out (new, NUL-terminated) + *len_out;
 * SL_EINVAL when n == 0, a custom_id is invalid or repeated, or the items
 * do not all share one model (OpenAI takes one model per file);
 * SL_ENOMEM when n or the file size exceeds the provider limit. */
int batch_openai_input_jsonl(const struct provider_conf *p,
                             const struct batch_item *items, size_t n,
                             char **out, size_t *len_out, char *errstr,
                             size_t errstr_size) SL_MUSTCHECK;

/* OpenAI: a multipart/form-data body for POST /v1/files with the fields
 * purpose=batch and file (filename, Content-Type application/jsonl,
 * content the len bytes of jsonl). Returns 0, *body (new) + *body_len, and
 * *content_type (new): the header VALUE "multipart/form-data; boundary=…",
 * to send as "Content-Type: <value>" instead of provider_headers' JSON one.
 * The boundary is derived from the content and never occurs in it.
 * SL_EINVAL when filename is empty or holds '"', '\\' or control bytes. */
int batch_openai_upload_body(const char *jsonl, size_t len,
                             const char *filename, char **body,
                             size_t *body_len, char **content_type,
                             char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* OpenAI: POST /v1/batches body: input_file_id, endpoint
 * "/v1/chat/completions", completion_window "24h", metadata
 * {"sluice_batch_id": sluice_batch_id} (for reconciliation: the batch list
 * shows it). Returns a new string. */
char *batch_openai_create_body(const char *input_file_id,
                               const char *sluice_batch_id);

/* Anthropic: POST /v1/messages/batches body
 * {"requests":[{"custom_id","params":{…the realtime Messages body…}}]}.
 * Same returns and errors as batch_openai_input_jsonl (models may differ);
 * also SL_EINVAL when a task's max_output_tokens < 1 (batches reject 0). */
int batch_anthropic_create_body(const struct provider_conf *p,
                                const struct batch_item *items, size_t n,
                                char **out, size_t *len_out, char *errstr,
                                size_t errstr_size) SL_MUSTCHECK;

enum batch_call {
    BATCH_CALL_UPLOAD,       /* openai  POST {base}/files */
    BATCH_CALL_CREATE,       /* openai  POST {base}/batches;
                                anthropic POST {base}/v1/messages/batches */
    BATCH_CALL_GET,          /* GET …/batches/{id} */
    BATCH_CALL_CANCEL,       /* POST …/batches/{id}/cancel */
    BATCH_CALL_FILE_CONTENT, /* openai  GET {base}/files/{id}/content */
    BATCH_CALL_RESULTS       /* anthropic GET {base}/v1/messages/batches/{id}/results */
};

/* Returns a new URL for call, with base_url as in provider_url (openai base
 * ends in /v1, anthropic base is the host root; a trailing '/' is
 * ignored). id is the provider's batch or file id; ignored for UPLOAD and
 * CREATE. NULL when the call does not exist for p->kind, or id is missing or
 * holds bytes other than [A-Za-z0-9_.-] (ids come from the network). Prefer
 * status.results_url for Anthropic results when the server gave one. */
char *batch_url(const struct provider_conf *p, enum batch_call call,
                const char *id);

enum batch_state {
    BATCH_IN_PROGRESS, /* openai validating/in_progress/finalizing/cancelling;
                          anthropic in_progress/canceling */
    BATCH_ENDED,       /* openai completed; anthropic ended (lines tell
                          errored/expired/canceled) */
    BATCH_FAILED,      /* openai failed: error holds errors.data[0] */
    BATCH_EXPIRED,     /* openai expired: done work is in output_file_id */
    BATCH_CANCELLED    /* openai cancelled */
};

/* Provider-neutral batch object. Strings are owned, NULL when absent. */
struct batch_status {
    char *id;
    enum batch_state state;
    char *output_file_id;   /* openai */
    char *error_file_id;    /* openai */
    char *sluice_batch_id;  /* openai metadata.sluice_batch_id */
    char *results_url;      /* anthropic, once ended */
    /* openai request_counts as is; anthropic: total = the sum of all five
     * counts, completed = succeeded, failed = errored + canceled + expired */
    int64_t total, completed, failed;
    char *error;            /* BATCH_FAILED: "code: message" */
    /* created_at in ms since the epoch (openai unix s; anthropic RFC 3339
     * with optional fraction and offset); 0 when absent or unreadable */
    int64_t created_ms;
};

/* Parses a batch object (create or GET response body). Returns 0 and *out
 * (zeroed first; free with batch_status_clear), or SL_EINVAL with errstr
 * for malformed JSON, an error object, a missing id or an unknown
 * status. */
int batch_parse_status(enum provider_kind kind, const char *body, size_t len,
                       struct batch_status *out, char *errstr,
                       size_t errstr_size) SL_MUSTCHECK;
void batch_status_clear(struct batch_status *s);

/* One page of a batch list (GET on the CREATE url: openai
 * {object:"list", data, first_id, last_id, has_more}, paged with
 * ?after=<last_id>; anthropic {data, has_more, first_id, last_id}, paged
 * with ?after_id=<last_id>). Both list newest first. */
struct batch_list {
    struct batch_status *items; /* each parsed like batch_parse_status */
    size_t n;
    size_t skipped;   /* entries that did not parse (not in items) */
    bool has_more;
    char *last_id;    /* the cursor for the next page; NULL when absent */
};

/* Parses a list page. Entries that batch_parse_status would reject are
 * skipped and counted, so one odd batch cannot hide the others. Returns 0
 * and *out (zeroed first; free with batch_list_clear), or SL_EINVAL with
 * errstr for malformed JSON, an error object or a missing data array. */
int batch_parse_list(enum provider_kind kind, const char *body, size_t len,
                     struct batch_list *out, char *errstr,
                     size_t errstr_size) SL_MUSTCHECK;
void batch_list_clear(struct batch_list *l);

/* The uploaded file's id from the POST /v1/files response. Returns 0 and
 * *id_out (new), or SL_EINVAL with errstr. */
int batch_parse_file_id(const char *body, size_t len, char **id_out,
                        char *errstr, size_t errstr_size) SL_MUSTCHECK;

enum batch_line_kind {
    BATCH_LINE_SUCCEEDED, /* resp is a 200 answer, exactly as realtime */
    BATCH_LINE_ERRORED,   /* the request failed; see resp and error */
    BATCH_LINE_EXPIRED,   /* openai error code batch_expired; anthropic expired */
    BATCH_LINE_CANCELED   /* openai batch_cancelled; anthropic canceled */
};

/* One answer line. For every kind but SUCCEEDED, resp.error_type and
 * error are set; resp.http_status is the request's status (openai
 * status_code; anthropic mapped from error.type, e.g. rate_limit_error →
 * 429), 0 when there was none. */
struct batch_line {
    char *custom_id;
    enum batch_line_kind kind;
    struct llm_response resp;
    char *error;          /* one-line reason, NULL for SUCCEEDED */
};

/* Parses one line of an OpenAI output/error file or of an Anthropic results
 * stream (len bytes, need not be NUL-terminated). Returns 0 and *out
 * (zeroed first; free with batch_line_clear) whenever the line names its
 * custom_id: a 200 body that is not a valid answer becomes ERRORED with
 * provider_parse_response's reason. SL_EINVAL with errstr when the line is
 * not JSON, has no custom_id, or has neither a response nor an error. */
int batch_parse_line(enum provider_kind kind, const char *line, size_t len,
                     struct batch_line *out, char *errstr,
                     size_t errstr_size) SL_MUSTCHECK;
void batch_line_clear(struct batch_line *l);

/* Splits a byte stream fed in arbitrary chunks (as curl delivers it) into
 * lines. on_line gets each non-empty line without its "\n" (and without a
 * "\r" before it); the bytes are borrowed for the call and NOT
 * NUL-terminated. A line longer than max_line bytes is never buffered: its
 * bytes are dropped and on_line gets (NULL, its full length) once, at its
 * end, so the caller can count it as an error and go on. A nonzero return
 * from on_line stops the splitter: that feed and every later feed/finish
 * return it. */
typedef int (*batch_line_cb)(const char *line, size_t len, void *arg);
struct batch_splitter;

/* Returns a new splitter (max_line >= 1); free with batch_splitter_free. */
struct batch_splitter *batch_splitter_new(size_t max_line, batch_line_cb on_line,
                                          void *arg);
/* Feeds len bytes. Returns 0 or on_line's nonzero return. */
int batch_splitter_feed(struct batch_splitter *s, const char *data,
                        size_t len) SL_MUSTCHECK;
/* Ends the stream: a last line without "\n" is delivered. Returns 0 or
 * on_line's nonzero return. */
int batch_splitter_finish(struct batch_splitter *s) SL_MUSTCHECK;
void batch_splitter_free(struct batch_splitter *s);

#endif
