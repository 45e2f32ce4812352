/* sim.h — what an emulated model answers, decided deterministically.
 *
 * Everything here is a pure function of (model settings, gold, prompt):
 * the same request always gets the same answer, so a redelivered job sees
 * the same label and confidence. Randomness lives only in server.c (faults
 * and latency). */
#ifndef EMU_SIM_H
#define EMU_SIM_H

#include "emu.h"

enum emu_task_kind { EMU_TASK_TEXT, EMU_TASK_LABEL, EMU_TASK_JSON };

struct emu_task {
    enum emu_task_kind kind;
    char *input;      /* text between <input> tags, trimmed; the whole message without tags */
    char **labels;    /* label task: the allowed labels */
    size_t n_labels;
    char *labels_key; /* label task: the labels joined by ", " */
    cJSON *schema;    /* JSON task: the parsed schema, NULL when it does not parse */
    char *schema_text; /* JSON task: the schema as sent, trimmed */
};

/* Uniform draws derived from one SHA-256 of the request's identity, and
 * two from a SHA-256 of the input alone, the same for every model. */
struct emu_draws {
    double correct, confidence, fence; /* each in [0, 1) */
    uint64_t pick;                            /* chooses among alternatives */
    double difficulty;   /* shared errors: the input's latent difficulty */
    uint64_t shared_pick; /* shared errors: which confusable label */
};

#define EMU_MAX_LABELS 1000
#define EMU_SUMMARY_WORDS 12
#define EMU_FENCE_RATE 0.10
/* Margin (skill - difficulty) at which a calibrated model's confidence
 * reaches the top (or, wrong, the bottom) of its range. */
#define EMU_CALIBRATION_WIDTH 0.25

/* Reads the task out of the last user message's text. */
void emu_task_parse(const char *user_text, struct emu_task *t);
void emu_task_free(struct emu_task *t);

/* SHA-256 of model, kind, input and labels/schema (each NUL-separated);
 * difficulty and shared_pick from SHA-256 of the input alone. */
void emu_task_draws(const char *model, const struct emu_task *t, struct emu_draws *d);

/* Whether the model answers this input correctly, and the margin
 * (> 0: correct; its size drives a calibrated model's confidence). */
bool emu_correct(const struct emu_model *m, const struct emu_draws *d, double *margin);

/* The answer content: one JSON object, sometimes in a ```json fence. */
char *emu_answer(const struct emu_model *m, const struct emu_gold *g, const struct emu_task *t,
                 const struct emu_draws *d);

/* Tokens are estimated as ceil(characters / 4). */
long emu_tokens(size_t chars);

/* Cuts content to max_tokens (negative = no limit) and returns the output
 * tokens; *truncated tells whether it had to cut. */
long emu_limit_output(char *content, long max_tokens, bool *truncated);

#endif
