/* batch_client.h — a blocking HTTP client for the provider batch APIs
 * (OpenAI Files + Batch, Anthropic Message Batches) and for single
 * realtime calls, for `sluice scheduler`: one thread, few and large calls,
 * no event loop. The wire formats are batch_wire.h's and provider.h's;
 * this module only moves them over HTTP.
 *
 * Threads: a client is used by one thread at a time (one per thread).
 * curl_global_init() must have been called (once, in main) first.
 *
 * Connections: one reusable libcurl easy handle per client, so calls to
 * the same host share a keep-alive connection. HTTP/1.1, http(s) only,
 * redirects are not followed (the API key would go with them).
 *
 * Timeouts (from the provider_conf): connect_timeout_ms to connect;
 * timeout_ms for the whole of a small call. Calls that move a large body
 * (an upload or create over BATCH_CLIENT_BODY_MAX, every result download)
 * have no total limit and are aborted instead when fewer than 1 byte/s
 * flows for timeout_ms.
 *
 * Bodies: every response is capped at BATCH_CLIENT_BODY_MAX, except result
 * downloads, which are streamed line by line (batch_splitter, lines capped
 * at BATCH_MAX_LINE_DEFAULT) and never held whole.
 *
 * Keys: the API key is read by provider_headers() from the environment and
 * sent in a header; it never reaches err, a log line or results_url of
 * another origin (results are only fetched from the provider's base_url).
 *
 * Errors: 0 or a negative SL_E* code, with one line in err (err_size >= 1;
 * on success err is left as is):
 *   SL_EINVAL   bad arguments, a request that cannot be built, or a 2xx
 *               answer that does not parse;
 *   SL_EHTTP    transport failure (no complete answer), a non-2xx status
 *               ("HTTP 429 rate_limit_error: …", the provider's text), or
 *               an answer over the body cap;
 *   SL_ENOTFOUND the provider answered 404 for the batch (get) or nothing
 *               matched (find);
 *   SL_ETIMEOUT (find only) a candidate batch is still running: try later.
 * Where a call has *retryable it is always set: true when repeating the
 * same call may succeed (transport error, 408, 409, 429, 5xx incl. 529,
 * or the server's x-should-retry: true), false otherwise (including
 * insufficient_quota / enforced_spend_limit_reached bodies). No call
 * retries by itself; the caller owns the policy (retry.h).
 *
 * Ownership: every returned string is new (free()); filled structs are
 * new (batch_status_clear(), llm_response_clear()). Arguments are
 * borrowed for the call. */
#ifndef SL_BATCH_CLIENT_H
#define SL_BATCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch_wire.h"
#include "config.h"
#include "provider/llm.h"
#include "sl.h"

/* Response cap for every call but result downloads. The largest answers
 * held are list pages (100 batch objects, ~100 KB) and realtime answers. */
#define BATCH_CLIENT_BODY_MAX ((size_t)1 << 20)

struct batch_client;

/* Returns a new client; free with batch_client_free(). Aborts on OOM. */
struct batch_client *batch_client_new(void);
/* Closes the connections. NULL is a no-op. */
void batch_client_free(struct batch_client *c);
/* TCP connections the client has opened so far: with keep-alive, calls
 * to one host in a row open one. For logs and tests. */
long batch_client_connects(const struct batch_client *c);

/* Submits items (1..batch_max_requests) as ONE provider batch.
 * OpenAI: batch_openai_input_jsonl -> POST /files (multipart,
 * purpose=batch) -> POST /batches with metadata.sluice_batch_id.
 * Anthropic: POST /v1/messages/batches (the id is not sent: the API has no
 * metadata; see batch_client_find).
 * sluice_batch_id: 1..512 bytes (OpenAI's metadata value limit).
 * Returns 0 and *provider_batch_id (new). On failure *provider_batch_id is
 * NULL. Caution: after a transport error or 5xx on the create call the
 * batch may exist anyway; call batch_client_find before submitting the
 * same items again. An OpenAI input file whose create failed is left on
 * the provider (files expire). */
int batch_client_submit(struct batch_client *c, const struct provider_conf *p,
                        const struct batch_item *items, size_t n,
                        const char *sluice_batch_id, char **provider_batch_id,
                        bool *retryable, char *err,
                        size_t err_size) SL_MUSTCHECK;

/* GETs one batch and parses it (batch_parse_status) into *out, which is
 * zeroed first and filled only on success (free with batch_status_clear).
 * SL_ENOTFOUND (not retryable) when the provider answers 404. */
int batch_client_get(struct batch_client *c, const struct provider_conf *p,
                     const char *provider_batch_id, struct batch_status *out,
                     bool *retryable, char *err, size_t err_size) SL_MUSTCHECK;

/* Called once per parsed result line; line and its strings are borrowed
 * for the call (copy what you keep). A nonzero return stops the stream
 * and becomes batch_client_results' return value, so use a value that
 * cannot be confused with an SL_E* code (e.g. positive). */
typedef int (*batch_client_line_cb)(const struct batch_line *line, void *arg);

/* Streams every result line of a batch to on_line, parsed with
 * batch_parse_line, never holding the whole file.
 * OpenAI: st->output_file_id, then st->error_file_id (either may be NULL;
 * any state: expired and cancelled batches return their done work).
 * Anthropic: st->state must be BATCH_ENDED; the results come from
 * st->results_url when it lies under p->base_url, else from batch_url
 * RESULTS.
 * Lines that do not parse, or are longer than BATCH_MAX_LINE_DEFAULT, are
 * skipped and counted in *bad_lines (set to 0 first; may be NULL).
 * Returns 0 after the last line, on_line's nonzero value, or an error
 * (SL_EHTTP for a failed download: lines already delivered stay
 * delivered, so a repeat delivers them again; key on custom_id). */
int batch_client_results(struct batch_client *c, const struct provider_conf *p,
                         const struct batch_status *st,
                         batch_client_line_cb on_line, void *arg,
                         size_t *bad_lines, char *err,
                         size_t err_size) SL_MUSTCHECK;

/* Reconciliation after a crash between submit and recording its id: finds
 * a batch this sluice batch created, looking only at batches created at or
 * after created_after_ms (ms since the epoch; take the time before the
 * submit minus a margin for clock skew; 0 looks at every batch). Lists
 * are read newest first, page by page, and the newest match wins.
 * OpenAI: matches metadata.sluice_batch_id == sluice_batch_id
 *   (custom_id_probe is ignored and may be NULL).
 * Anthropic (no metadata): custom_id_probe names the batch by its
 *   items: a full custom_id of one of them (batch_custom_id(row,
 *   attempt); a row's attempt is submitted once, so it names one batch),
 *   or a prefix that does not end inside a number ("r12" or "r12-a" =
 *   any attempt of row 12, never row 120). Each ended candidate's
 *   results are streamed until a line matches (lines come in any order,
 *   so the first line alone proves nothing; a probe that every item
 *   shares matches at once). sluice_batch_id is ignored and may be NULL.
 * Returns 0 and *provider_batch_id (new); SL_ENOTFOUND when no candidate
 * matches; SL_ETIMEOUT (Anthropic) when none matched but a candidate is
 * still in progress, so its results cannot be read yet: try later; or an
 * error of a list or download call. *provider_batch_id is NULL unless 0. */
int batch_client_find(struct batch_client *c, const struct provider_conf *p,
                      const char *sluice_batch_id, const char *custom_id_probe,
                      int64_t created_after_ms, char **provider_batch_id,
                      char *err, size_t err_size) SL_MUSTCHECK;

/* What one realtime call tells its caller besides the answer. */
struct batch_realtime_call {
    const char *client_request_id; /* in: sent as X-Client-Request-Id (NULL:
                                    * none), so the call can be matched in
                                    * the provider's usage records even when
                                    * no answer comes back */
    bool flex;                     /* in: ask for OpenAI's flex tier */
    int latency_ms;                /* out: wall time of the HTTP exchange */
    bool retryable;                /* out: the failure may pass if retried */
    bool sent;                     /* out: the request left (curl wrote it),
                                    * so the provider may bill it */
    bool truncated;                /* out: the body exceeded the cap */
    bool timed_out;                /* out: the provider's timeout ran out */
    int64_t retry_after_ms;        /* out: the server's retry-after-ms or
                                    * retry-after hint in ms (retry.h's
                                    * retry_parse_hint), -1 when none */
};

/* One realtime call (for jobs whose deadline a batch cannot meet):
 * provider_request_body -> POST provider_url -> provider_parse_response
 * into *out (zeroed first; free with llm_response_clear).
 * Returns 0 for a 200 answer that parses; SL_EINVAL for a 200 body that
 * does not (out holds http_status only); SL_EHTTP for any other status
 * (out holds http_status, error_type, error_message, no_retry) or for a
 * transport error (out->http_status 0). */
int batch_client_realtime(struct batch_client *c,
                          const struct provider_conf *p,
                          const struct task_conf *task, const char *model,
                          const char *input, size_t input_len,
                          struct llm_response *out,
                          struct batch_realtime_call *call, char *err,
                          size_t err_size) SL_MUSTCHECK;

#endif
