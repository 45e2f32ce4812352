/* publish.h — `sluice publish`: send a JSONL file of jobs to the jobs topic.
 *
 *   sluice publish [--config FILE] [--bootstrap HOST:PORT] [--topic T]
 *                  [--rate N] FILE.jsonl|-
 *
 * One message per non-empty line (lines up to 1 MiB), keyed by the line's
 * "id" when the line is a JSON object with a string id. Waits for every
 * delivery report; exits 0 when all were delivered, 1 when some failed or
 * the broker already dropped some from its log (checked through the
 * partitions' log start offsets), 2 on a usage error. Bootstrap servers: --bootstrap, then $SLUICE_KAFKA_BOOTSTRAP, then
 * the config's kafka.bootstrap_servers. */
#ifndef SL_PUBLISH_H
#define SL_PUBLISH_H

/* argv[0] is "publish"; returns the process exit code. */
int cmd_publish(int argc, char **argv);

#endif
