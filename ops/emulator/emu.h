/* emu.h — types shared by the provider emulator's modules.
 *
 * The emulator is standalone on purpose: it links only libmicrohttpd,
 * cJSON and libcrypto, never lib/, so it keeps building while the
 * product library is being changed. */
#ifndef EMU_H
#define EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Requests above this are refused with 413, like the providers do. */
#define EMU_MAX_BODY (1024 * 1024)

struct emu_range {
    double lo, hi;
};

/* Probabilities of the mutually exclusive per-request faults. */
struct emu_faults {
    double http_500, http_429, overload, timeout, malformed;
    double retry_after_s; /* sent with 429 and overload */
    double timeout_s;     /* the stall of a "timeout" fault */
};

/* How the models err (top-level key "simulation", shared by every model).
 * independent: each model errs on its own draw, wrong labels evenly.
 * shared: every input has one latent difficulty, the same for all models;
 * a model errs where it exceeds its skill (accuracy), and its wrong labels
 * are the ones most confusable with the right one. */
enum emu_errors { EMU_ERRORS_INDEPENDENT, EMU_ERRORS_SHARED };

struct emu_confusion {
    char *label;
    char **near; /* the labels it is mistaken for, most likely first */
    size_t n_near;
};

struct emu_sim {
    enum emu_errors errors;
    double noise;   /* half-width of a model's own noise on the difficulty */
    int confusable; /* a wrong label is one of this many most confusable */
    struct emu_confusion *map; /* explicit confusions, before name overlap */
    size_t n_map;
};

/* The prompt cache's rules for a model (prefix_cache.h). */
struct emu_cache_rules {
    double min_tokens; /* shortest cacheable prefix (1024) */
    double ttl_s;      /* OpenAI's automatic retention (300) */
    double ttl_scale;  /* multiplies every TTL, for tests (1) */
};

/* Flex processing (OpenAI service_tier "flex"). */
struct emu_flex {
    bool offered;          /* otherwise a flex request is a 400 */
    double latency_factor; /* flex answers take this many times longer (2) */
    double http_429;       /* P(429 resource unavailable), not billed */
};

struct emu_model {
    char *name;
    double accuracy;
    struct emu_range conf_correct, conf_wrong;
    double calibration; /* 0: confidence uniform in its range; 1: set by the margin */
    const struct emu_sim *sim; /* the config's; NULL = independent errors */
    double latency_median_ms, latency_sigma;
    struct emu_cache_rules cache;
    struct emu_flex flex;
    struct emu_faults faults;
};

struct emu_gold_entry {
    char *text;
    char **labels; /* the values of the entry's "labels" object, in order */
    size_t n_labels;
    cJSON *data; /* NULL when the line has no "data" */
};

/* Gold answers keyed by exact input text (open addressing). */
struct emu_gold {
    struct emu_gold_entry *entries;
    size_t n, cap_entries;
    size_t *slots; /* entry index + 1; 0 = empty */
    size_t n_slots; /* power of two */
};

/* How the batch endpoints behave (top-level key "batch"). */
struct emu_batch_cfg {
    double turnaround_s;  /* create → ended/completed */
    double errored_share; /* share of lines errored, chosen by hash */
    bool expire;          /* the batch ends expired, half done */
    bool fail;            /* the batch fails as a whole */
};

struct emu_prefix_cache;

struct emu_config {
    struct emu_batch_cfg batch;
    struct emu_sim *sim; /* heap, so the models' pointers survive a copy */
    struct emu_prefix_cache *prefix_cache; /* shared by realtime and batch answers */
    struct emu_model *models;
    size_t n_models;
    struct emu_gold gold;
};

/* config.c */
int emu_config_load(const char *path, struct emu_config *cfg, char *err, size_t err_size);
void emu_config_free(struct emu_config *cfg);
const struct emu_model *emu_config_model(const struct emu_config *cfg, const char *name);

/* gold.c */
int emu_gold_load(struct emu_gold *g, const char *path, char *err, size_t err_size);
/* Adds one entry (takes ownership of data); a repeated text keeps the first. */
void emu_gold_add(struct emu_gold *g, const char *text, char **labels, size_t n_labels, cJSON *data);
const struct emu_gold_entry *emu_gold_find(const struct emu_gold *g, const char *text);
void emu_gold_free(struct emu_gold *g);

/* rng.c — per-thread generator, so request threads never contend. */
uint64_t emu_rng_next(void);
double emu_rng_uniform(void); /* [0, 1) */
double emu_rng_normal(void);

#endif
