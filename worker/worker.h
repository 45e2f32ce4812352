/* worker.h — the worker process: consume jobs, climb the tier ladder, write
 * results and cost lines, commit offsets after the write.
 *
 * One libuv loop drives everything: the Kafka consumer's queue pipe, the
 * curl multi handle, retry timers, and a housekeeping tick that flushes the
 * ledger batch. PostgreSQL writes are synchronous micro-batches on the loop
 * thread (a few ms per few hundred jobs), which keeps the offset bookkeeping
 * single-threaded. */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include "config.h"

/* Runs a worker until SIGTERM/SIGINT (drain, commit, exit 0) or a fatal
 * error; SIGHUP reloads config_path (config_reload.h). Returns the process
 * exit code. cfg (loaded from config_path) and the path are borrowed. */
int worker_run(const struct config *cfg, const char *config_path);

int cmd_worker(int argc, char **argv);

#endif
