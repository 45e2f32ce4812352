/* scheduler.h — the scheduler process's entry points, for the sluice binary's
 * command table (cli/main.c). Everything else of the scheduler is private to
 * scheduler/ (sched.h). */
#ifndef SL_SCHEDULER_H
#define SL_SCHEDULER_H

/* `sluice scheduler` and `sluice status`: argv[0] is the command name;
 * return the process exit code. */
int cmd_scheduler(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
