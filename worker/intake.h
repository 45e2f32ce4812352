/* intake.h — Kafka messages into the worker: each message is parsed (a
 * malformed one is rejected, reject.h), valid jobs are gathered into
 * micro-batches of INTAKE_CHUNK for the claim step (claiming.h), and
 * consumption pauses while the backlog (parked, waiting, awaiting the
 * DLQ) reaches the parked ring's size, polling on so rebalances are served.
 *
 * Loop thread only. Messages are borrowed from the consumer for the call;
 * parsed jobs are handed to the claim step. */
#ifndef SL_WORKER_INTAKE_H
#define SL_WORKER_INTAKE_H

struct worker;

/* Polls the consumer until it is empty, the backlog is full or the worker
 * drains; then pauses or resumes consumption. */
void intake_drain(struct worker *w);

#endif
