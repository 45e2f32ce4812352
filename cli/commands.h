/* commands.h — the subcommands of the sluice binary. Each takes argv with
 * argv[0] = the command name and returns the process exit code. */
#ifndef SL_COMMANDS_H
#define SL_COMMANDS_H

/* The processes' own entry points live with them: cmd_worker in
 * worker/worker.h, cmd_scheduler and cmd_status in scheduler/scheduler.h. */
#include "scheduler.h"
#include "worker.h"

int cmd_cache(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_reconcile(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_train(int argc, char **argv);

/* Whether s is a UTC calendar day "YYYY-MM-DD" that exists (the --from and
 * --to of report and reconcile). */
int cli_valid_date(const char *s);

#endif
