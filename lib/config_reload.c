/* config_reload.c — SIGHUP reloads (see config_reload.h). */
#include "config_reload.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "sl.h"

/* The struct holding a section's plain values (config_table.c's offsets),
 * or NULL for a map ("providers.*"), compared entry by entry. */
static const void *section_base(const struct config *cfg, const char *section)
{
    static const struct {
        const char *name;
        size_t offset;
    } bases[] = {
        {"kafka", offsetof(struct config, kafka)},
        {"postgres", 0},
        {"worker", offsetof(struct config, worker)},
        {"scheduler", offsetof(struct config, scheduler)},
        {"metrics", offsetof(struct config, metrics)},
        {"budgets", offsetof(struct config, budgets)},
        {"alerts", offsetof(struct config, alerts)},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bases); i++)
        if (strcmp(bases[i].name, section) == 0)
            return (const char *)cfg + bases[i].offset;
    return NULL;
}

static bool same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether the plain value k describes is the same in the structs a and b. */
static bool same_value(const struct config_key *k, const void *a, const void *b)
{
    const char *pa = (const char *)a + k->offset;
    const char *pb = (const char *)b + k->offset;
    switch (k->type) {
    case CONFIG_STRING:
        return same_string(*(char *const *)pa, *(char *const *)pb);
    case CONFIG_INT:
        return *(const int *)pa == *(const int *)pb;
    case CONFIG_INT64:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    case CONFIG_SIZE:
        return *(const size_t *)pa == *(const size_t *)pb;
    case CONFIG_NUMBER:
        return *(const double *)pa == *(const double *)pb;
    case CONFIG_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    default:
        return true;
    }
}

/* A provider's restart-only values (the connection pool is sized at start)
 * must stay; providers added or removed by a reload are fine. */
static bool same_in_providers(const struct config_key *k, const char *leaf,
                              const struct config *a, const struct config *b,
                              char *name, size_t name_size)
{
    for (size_t i = 0; i < b->n_providers; i++) {
        const struct provider_conf *old = config_provider(a, b->providers[i].name);
        if (old && !same_value(k, old, &b->providers[i])) {
            snprintf(name, name_size, "providers.%s.%s", b->providers[i].name,
                     leaf);
            return false;
        }
    }
    return true;
}

static bool same_properties(const struct kafka_conf *a,
                            const struct kafka_conf *b)
{
    if (a->n_properties != b->n_properties)
        return false;
    for (size_t i = 0; i < a->n_properties; i++)
        if (strcmp(a->properties[i].key, b->properties[i].key) != 0 ||
            strcmp(a->properties[i].value, b->properties[i].value) != 0)
            return false;
    return true;
}

static bool same_windows(const struct scheduler_conf *a,
                         const struct scheduler_conf *b)
{
    return a->n_windows == b->n_windows &&
           (a->n_windows == 0 ||
            memcmp(a->windows, b->windows, a->n_windows * sizeof(*a->windows)) == 0);
}

/* The restart-only keys config.c parses by hand (structure beyond a plain
 * value). A new such key must be added here, or the reload could not see
 * it change. */
static const char *by_hand_diff(const struct config *a, const struct config *b)
{
    if (!same_properties(&a->kafka, &b->kafka))
        return "kafka.properties";
    if (!same_string(a->scheduler.timezone, b->scheduler.timezone))
        return "scheduler.offpeak.timezone";
    if (!same_windows(&a->scheduler, &b->scheduler))
        return "scheduler.offpeak.windows";
    return NULL;
}

int config_restart_only_diff(const struct config *a, const struct config *b,
                             char *name, size_t name_size)
{
    size_t n;
    const struct config_key *keys = config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        const struct config_key *k = &keys[i];
        if ((k->flags & CONFIG_RELOAD) || k->offset == CONFIG_BY_HAND)
            continue;
        char section[128];
        const char *leaf = strrchr(k->name, '.');
        snprintf(section, sizeof(section), "%.*s", (int)(leaf - k->name), k->name);
        leaf++;
        if (strcmp(section, "providers.*") == 0) {
            if (!same_in_providers(k, leaf, a, b, name, name_size))
                return 1;
        } else if (!same_value(k, section_base(a, section), section_base(b, section))) {
            snprintf(name, name_size, "%s", k->name);
            return 1;
        }
    }
    const char *hand = by_hand_diff(a, b);
    if (hand)
        snprintf(name, name_size, "%s", hand);
    return hand != NULL;
}

void config_holder_init(struct config_holder *h, const char *path,
                        const struct config *initial)
{
    *h = (struct config_holder){.path = path, .current = initial};
}

int config_holder_reload(struct config_holder *h, char *errstr,
                         size_t errstr_size)
{
    struct config *next = NULL;
    char key[256];
    int rc = config_load(h->path, &next, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    if (config_restart_only_diff(h->current, next, key, sizeof(key))) {
        snprintf(errstr, errstr_size,
                 "%s: %s changes only at restart; restart to apply this file",
                 h->path, key);
        config_free(next);
        return SL_ECONFIG;
    }
    h->loaded = xrealloc(h->loaded, (h->n_loaded + 1) * sizeof(*h->loaded));
    h->loaded[h->n_loaded++] = next;
    h->current = next;
    return SL_OK;
}

void config_holder_free(struct config_holder *h)
{
    for (size_t i = 0; i < h->n_loaded; i++)
        config_free(h->loaded[i]);
    free(h->loaded);
    h->loaded = NULL;
    h->n_loaded = 0;
}
