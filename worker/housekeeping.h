/* housekeeping.h — the worker's periodic work: one timer tick (every
 * TICK_MS, worker.c) serves the DLQ producer, samples lag and health for
 * /metrics, refreshes tier-0 models and the budget view, reads Kafka,
 * rechecks waiting copies, flushes intents and the ledger batch, ticks the
 * cache, renews claims, starts the cost drift check in the thread pool
 * and stops the loop once a drain is complete. A check handle flushes
 * intents and the batch after every loop pass as well.
 *
 * Loop thread only, except the drift check's work function, which uses
 * its own connection (struct worker's drift_db) and nothing else of the
 * loop's. */
#ifndef SL_WORKER_HOUSEKEEPING_H
#define SL_WORKER_HOUSEKEEPING_H

#include <uv.h>

struct worker;

/* The tick timer's callback (t->data is the worker). */
void housekeeping_on_tick(uv_timer_t *t);

/* The check handle's callback (c->data is the worker). */
void housekeeping_on_check(uv_check_t *c);

/* Reloads tier-0 models and withdrawals (health follows the outcome). */
void housekeeping_refresh_tier0(struct worker *w);

/* Re-reads the spend, when due and once every finished job is written. */
void housekeeping_refresh_budget(struct worker *w);

#endif
