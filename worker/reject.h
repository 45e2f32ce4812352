/* reject.h — malformed messages: a copy to the DLQ first (delivery
 * awaited, retried with a doubling delay, truncated when too large), then
 * the rejected row in the ledger batch; the message's offset is
 * acknowledged once that batch commits (results.c).
 *
 * Loop thread only. A struct reject_item (worker_internal.h) is owned by
 * the DLQ send while it is out, then by the worker's rejects[] and the
 * batch that writes it; reject_free() ends it. */
#ifndef SL_WORKER_REJECT_H
#define SL_WORKER_REJECT_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "job.h"

struct worker;
struct reject_item;

/* Rejects message m (tracked under generation gen) for code/reason: logs
 * it, counts it and sends its DLQ copy. m and reason are borrowed (copied). */
void reject_message(struct worker *w, const rd_kafka_message_t *m,
                    uint32_t gen, enum job_reject code, const char *reason);

/* Frees r; its retry timer, when it has one, is closed first (r is freed
 * in the close callback). */
void reject_free(struct reject_item *r);

#endif
