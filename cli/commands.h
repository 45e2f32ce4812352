/* commands.h — the subcommands of the sluice binary. Each takes argv with
 * argv[0] = the command name and returns the process exit code. */
#ifndef SL_COMMANDS_H
#define SL_COMMANDS_H

int cmd_worker(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_scheduler(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* --config default: $SLUICE_CONFIG, else config/sluice.json. */
const char *cli_default_config(void);

#endif
