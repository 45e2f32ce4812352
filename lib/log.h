/* log.h — leveled logging to stderr.
 *
 * The level is checked before any formatting (the macros), so a disabled
 * debug line costs one comparison. Lines are "time level message"; job
 * context goes first in the message via log_job(). Never pass an API key or
 * any other secret to these functions. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdbool.h>

#include "sl.h"

enum log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

extern enum log_level log_min_level;
/* Set when the command line chose the level (--log-level): the config's
 * log_level then neither sets it at start nor on reload. */
extern bool log_level_pinned;

/* Parses "debug|info|warn|error"; returns 0 or SL_EINVAL. */
int log_level_parse(const char *name, enum log_level *out);
void log_write(enum log_level level, const char *fmt, ...) SL_PRINTF(2, 3);

#define log_at(level, ...)                                                     \
    do {                                                                       \
        if ((level) >= log_min_level)                                          \
            log_write((level), __VA_ARGS__);                                   \
    } while (0)
#define log_debug(...) log_at(SL_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(SL_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_at(SL_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(SL_LOG_ERROR, __VA_ARGS__)

/* Prefixes the line with "job=<id> tenant=<tenant>". */
#define log_job(level, job_id, tenant, fmt, ...)                               \
    log_at((level), "job=%s tenant=%s " fmt, (job_id), (tenant), __VA_ARGS__)

#endif
