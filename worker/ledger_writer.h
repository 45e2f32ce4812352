/* ledger_writer.h — PostgreSQL writes off the worker's loop thread.
 *
 * A writer is one thread with its own connection (opened on first use,
 * reconnected when it breaks) that runs submitted tasks one at a time, in
 * submission order, and hands each back to the loop: task->work runs on
 * the writer's thread, task->done on the loop thread (through a uv_async_t)
 * once work has returned. The caller owns the task (usually embedded in a
 * larger struct that done frees) and must not touch what work reads until
 * done runs. The loop thus never waits for a round trip, and what piles up
 * while a write is in flight goes into the next one (group commit).
 *
 * ledger_writer_wait() is the one blocking call: it waits until every
 * submitted task has run and runs their done callbacks before returning
 * (for a rebalance, which must make finished work durable before the
 * partitions go). Loop thread only, except work callbacks. */
#ifndef SL_LEDGER_WRITER_H
#define SL_LEDGER_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "db.h"

struct ledger_writer;

struct ledger_task {
    /* Writer thread: returns 0 or SL_E*, detail in err. db is connected. */
    int (*work)(struct db *db, struct ledger_task *t, char *err,
                size_t err_size);
    /* Loop thread: rc is work's result, or SL_EDB with err set when the
     * connection could not be made (work did not run). */
    void (*done)(struct ledger_task *t);
    int rc;
    char err[512];
    struct ledger_task *next; /* the writer's queues */
};

/* Starts the thread. conninfo and app_name are copied. */
struct ledger_writer *ledger_writer_new(uv_loop_t *loop, const char *conninfo,
                                        const char *app_name);
void ledger_writer_submit(struct ledger_writer *lw, struct ledger_task *t);
/* Tasks submitted whose done has not run yet. */
size_t ledger_writer_pending(const struct ledger_writer *lw);
/* Blocks until every submitted task has run, then runs their done
 * callbacks (which may submit more: those are waited for too). */
void ledger_writer_wait(struct ledger_writer *lw);
/* Waits for what was submitted, stops the thread and closes the async
 * handle; the writer is freed in its close callback (the loop must run
 * once more). NULL is a no-op. */
void ledger_writer_close(struct ledger_writer *lw);

#endif
