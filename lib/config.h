/* config.h — the service configuration: one JSON file, validated at load.
 *
 * Ownership: config_load() returns a new struct config; free it with
 * config_free(). Every pointer inside (strings, arrays, cJSON schema, the
 * provider/price pointers of tiers) is owned by the config and borrowed by
 * callers for the config's lifetime.
 *
 * Errors name the key path and what is wrong, as
 *   "config/sluice.json: tasks.intent.confidence_threshold: must be in [0, 1]".
 *
 * Environment overrides (applied by config_load after parsing, so a
 * deployment can keep one file and change connections):
 *   SLUICE_KAFKA_BOOTSTRAP → kafka.bootstrap_servers
 *   SLUICE_PG_CONNINFO     → postgres.conninfo
 *   SLUICE_METRICS_LISTEN  → metrics.listen
 *   SLUICE_PROVIDER_<NAME>_BASE_URL → providers.<name>.base_url (NAME upper-
 *       cased, '-' and '.' as '_')
 * API keys are never in the file: a provider names the environment variable
 * that holds its key (api_key_env), read only when a request is built. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sl.h"

#include "config_types.h"

/* The config file a command reads when not given --config: $SLUICE_CONFIG,
 * else config/sluice.json. Borrowed (the environment's or a literal). */
const char *config_default_path(void);

int config_load(const char *path, struct config **out, char *errstr,
                size_t errstr_size) SL_MUSTCHECK;
/* config_load for a command's start: on failure prints "sluice CMD: why"
 * to stderr. Returns SL_OK with *out, or SL_ECONFIG. */
int config_load_for(const char *cmd, const char *path, struct config **out);
/* Same from a JSON text; source_name is used in messages. No env overrides. */
int config_parse(const char *json, const char *source_name,
                 struct config **out, char *errstr,
                 size_t errstr_size) SL_MUSTCHECK;
void config_free(struct config *cfg);

/* Sets the process's log level from cfg->log_level, unless the command
 * line pinned it (log_level_pinned). */
void config_apply_log_level(const struct config *cfg);

/* Lookups return borrowed pointers or NULL. */
const struct task_conf *config_task(const struct config *cfg, const char *name);
const struct tier_conf *config_tier(const struct config *cfg, int tier);
const struct price *config_price(const struct config *cfg, const char *model);
const struct provider_conf *config_provider(const struct config *cfg,
                                            const char *name);

const char *job_mode_name(enum job_mode mode);
/* "cap_tier", "defer", "reject". */
const char *budget_action_name(enum budget_action action);
/* Returns 0 or SL_EINVAL. */
int job_mode_parse(const char *name, enum job_mode *out);

#endif
