/* claims.h — one provider call per job id at a time, across workers.
 *
 * Before a job's first provider call, its worker claims the job id in
 * PostgreSQL (table job_claims, schema/008_claims_unconfirmed.sql): a row
 * with the owner (this process) and a lease. The ids of a whole micro-batch
 * are claimed in one round trip. A copy of a job whose id is claimed by a
 * live owner (another worker, or this one) does not call: it waits and asks
 * again, and is acknowledged once the job's result is in the ledger. A claim
 * whose lease ran out is taken over by whoever asks next, so a worker that
 * died holds nothing for longer than one lease.
 *
 * The owner renews all its claims with one statement (claims_renew) and
 * deletes a claim once the job's outcome is committed (claims_release), or
 * when it gives the job up unstarted. A claim left behind is harmless: the
 * jobs row is checked first, and the claim expires.
 *
 * Blocking calls (db.h). Errors: 0 or SL_EDB with errstr. */
#ifndef SL_CLAIMS_H
#define SL_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "sl.h"

enum claim_state {
    CLAIM_DONE,    /* the job is in the ledger: acknowledge it, no call */
    CLAIM_TAKEN,   /* this owner holds the claim now: run the job */
    CLAIM_BUSY     /* someone holds a live claim: wait and ask again */
};

/* Writes a process-unique owner token ("host:pid:start-hex") into buf; a
 * restarted worker never reuses one, so it never mistakes a dead
 * incarnation's claims for its own. */
void claims_owner_token(char *buf, size_t size);

/* Claims ids[0..n) for owner with a lease of lease_ms, in one statement.
 * states[i] and base_attempt[i] (the highest cost-line attempt the job
 * already has; lines of a new run number on from it) are filled for each i.
 * Repeated ids: only the first occurrence can be CLAIM_TAKEN, the others are
 * CLAIM_BUSY. An id this owner already holds is CLAIM_BUSY (its run is
 * elsewhere in the process). */
int claims_take(struct db *db, const char *owner, int64_t lease_ms,
                const char *const *ids, size_t n, enum claim_state *states,
                int *base_attempt, char *errstr,
                size_t errstr_size) SL_MUSTCHECK;

/* Extends every claim of owner to now + lease_ms. *renewed (may be NULL)
 * gets the number of claims. */
int claims_renew(struct db *db, const char *owner, int64_t lease_ms,
                 long *renewed, char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* Deletes owner's claims on ids[0..n) (others' claims are left alone). */
int claims_release(struct db *db, const char *owner, const char *const *ids,
                   size_t n, char *errstr, size_t errstr_size) SL_MUSTCHECK;

const char *claim_state_name(enum claim_state s); /* static string */

#endif
