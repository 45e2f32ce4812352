/* config_reload.h — a running process's config across SIGHUP reloads.
 *
 * A reload reads the file again and applies it only when it is valid and
 * changes no restart-only key (config_table.h: keys without CONFIG_RELOAD,
 * such as kafka.*, postgres.conninfo, worker.*, scheduler.*); otherwise the
 * running config stays and the reason is returned, so a bad edit never
 * stops or half-configures a process (fatal at start, logged on reload).
 *
 * Work started under an older config borrows its tasks, tiers and prices
 * (a job in flight points at its task), so the holder keeps every config it
 * replaced until config_holder_free(): a few kilobytes per reload.
 *
 * Ownership: the holder owns the configs it loaded, not the initial one;
 * current is borrowed until the next successful reload or the free. */
#ifndef SL_CONFIG_RELOAD_H
#define SL_CONFIG_RELOAD_H

#include <stddef.h>

#include "config.h"

struct config_holder {
    const char *path;             /* borrowed: the file to read again */
    const struct config *current; /* the config in force */
    struct config **loaded;       /* every config this holder loaded */
    size_t n_loaded;
};

/* Starts holding initial (borrowed, loaded from path). */
void config_holder_init(struct config_holder *h, const char *path,
                        const struct config *initial);

/* Reads h->path again. Returns SL_OK with h->current replaced, or
 * SL_ECONFIG with why in errstr ("file: key: reason", or "key changes only
 * at restart") and h->current unchanged. */
int config_holder_reload(struct config_holder *h, char *errstr,
                         size_t errstr_size);

/* Frees every config the holder loaded (not the initial one). */
void config_holder_free(struct config_holder *h);

/* The first restart-only key whose value differs between a and b, written
 * into name (e.g. "kafka.topic", "providers.openai.max_concurrency");
 * returns 0 when none differs, 1 otherwise. */
int config_restart_only_diff(const struct config *a, const struct config *b,
                             char *name, size_t name_size);

#endif
