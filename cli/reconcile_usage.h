/* reconcile_usage.h — the ledger against the providers' own usage reports.
 *
 * For each configured provider, reads its organization usage report per
 * UTC day, model and mode (OpenAI GET {base_url}/organization/usage/
 * completions grouped by model and batch; Anthropic GET {base_url}/v1/
 * organizations/usage_report/messages grouped by model and service_tier),
 * with the admin key from the environment variable providers.*.
 * admin_key_env (never logged), and sums the ledger's cost lines the same
 * way. Provider tokens are priced with the config's price table (the batch
 * discount for batch), so both sides are in the same nano-dollars.
 * Confirmed lines are compared; unconfirmed ones (sent, no answer) are
 * shown apart: a provider figure between confirmed and confirmed +
 * unconfirmed is explained by them.
 *
 * Blocking (libcurl easy, libpq). Errors: 0 or SL_E* with errstr. */
#ifndef SL_RECONCILE_H
#define SL_RECONCILE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "sl.h"

struct reconcile_side {
    int64_t calls, tokens_in, tokens_cached, tokens_out, nanousd;
};

struct reconcile_row {
    char day[11];        /* YYYY-MM-DD, UTC */
    char provider_name[64]; /* the config's provider name */
    char model[128];
    char mode[9];        /* realtime | batch */
    struct reconcile_side ledger;      /* confirmed cost lines */
    struct reconcile_side unconfirmed; /* unconfirmed lines (upper bound) */
    struct reconcile_side provider;    /* the provider's report, priced */
};

/* Compares UTC days [from_day, to_day] (inclusive, "YYYY-MM-DD"). Returns
 * a new array in *rows (free()), sorted by day, provider, model, mode; *n
 * its length. */
int reconcile_run(const struct config *cfg, struct db *db, const char *from_day,
                  const char *to_day, struct reconcile_row **rows, size_t *n,
                  char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* Provider minus ledger (confirmed): tokens in + out, and nano-dollars. */
int64_t reconcile_diff_tokens(const struct reconcile_row *r);
int64_t reconcile_diff_nanousd(const struct reconcile_row *r);

#endif
