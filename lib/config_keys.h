/* config_keys.h — the list of keys the config parser accepts.
 *
 * Names are dotted paths; "*" stands for a user-chosen map key (a provider,
 * model, tier or task name) and "[]" for an array element, e.g.
 * "providers.*.base_url", "routing[].when.task". The returned array is
 * static and borrowed forever. docs/config.md must document every name
 * (a unit test checks it). */
#ifndef SL_CONFIG_KEYS_H
#define SL_CONFIG_KEYS_H

#include <stddef.h>

const char *const *config_known_keys(size_t *n);

#endif
