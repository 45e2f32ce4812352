/* config_table.h — every key of the config file in one table: name, type,
 * where a plain value is stored, bounds, default, whether a SIGHUP reload
 * applies it, and one line of doc.
 *
 * The parser (config.c) reads every plain value through this table and
 * checks each object's keys against it; keys with more structure (a tier
 * reference, a price in dollars, a label list) are parsed by hand in
 * config.c but still take their bounds and defaults from here. A unit test
 * holds docs/config.md against the table (every key documented with its
 * default and range; the restart-only keys listed).
 *
 * Names are dotted paths; "*" stands for a user-chosen map key (a provider,
 * model, tier or task name) and "[]" for an array element, e.g.
 * "providers.*.base_url", "routing[].when.task". The table is static and
 * borrowed forever. */
#ifndef SL_CONFIG_TABLE_H
#define SL_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_type {
    CONFIG_SECTION, /* an object of fixed keys */
    CONFIG_MAP,     /* an object of user-chosen names */
    CONFIG_ARRAY,
    CONFIG_STRING,  /* char * */
    CONFIG_INT,     /* int */
    CONFIG_INT64,   /* int64_t */
    CONFIG_SIZE,    /* size_t */
    CONFIG_NUMBER,  /* double */
    CONFIG_BOOL,    /* bool */
};

/* Flags of a key. */
#define CONFIG_REQUIRED 0x1u /* no default: the key must be present */
#define CONFIG_EMPTY_OK 0x2u /* a string that may be "" */
#define CONFIG_RELOAD 0x4u   /* a SIGHUP reload applies a new value */

/* Offset of a key config.c parses itself (structure beyond a plain value). */
#define CONFIG_BY_HAND SIZE_MAX

struct config_key {
    const char *name;
    enum config_type type;
    size_t offset;    /* of the value in its section's struct, or BY_HAND */
    double min, max;  /* numbers and integers; both 0: unbounded */
    const char *def;  /* the default as JSON text ("512", "\"UTC\""), or NULL */
    unsigned flags;
    const char *doc;  /* one line */
};

/* The whole table; *n = its length. */
const struct config_key *config_keys(size_t *n);

/* The entry named name exactly, or NULL. */
const struct config_key *config_key_find(const char *name);

#endif
