/* confusion.c — ranking labels by how confusable they are (confusion.h). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "confusion.h"
#include "util.h"

#define MAX_WORDS 16
#define MAX_WORD 32

struct words {
    char w[MAX_WORDS][MAX_WORD];
    int n;
};

/* Distinct lower-cased runs of letters and digits (longer ones cut). */
static void split_words(const char *s, struct words *ws)
{
    ws->n = 0;
    while (*s && ws->n < MAX_WORDS) {
        while (*s && !isalnum((unsigned char)*s))
            s++;
        char word[MAX_WORD];
        int len = 0;
        for (; *s && isalnum((unsigned char)*s); s++)
            if (len < MAX_WORD - 1)
                word[len++] = (char)tolower((unsigned char)*s);
        word[len] = '\0';
        bool seen = len == 0;
        for (int i = 0; i < ws->n && !seen; i++)
            seen = strcmp(ws->w[i], word) == 0;
        if (!seen)
            memcpy(ws->w[ws->n++], word, (size_t)len + 1);
    }
}

double emu_label_overlap(const char *a, const char *b)
{
    struct words wa, wb;
    split_words(a, &wa);
    split_words(b, &wb);
    int common = 0;
    for (int i = 0; i < wa.n; i++)
        for (int j = 0; j < wb.n; j++)
            common += strcmp(wa.w[i], wb.w[j]) == 0;
    int all = wa.n + wb.n - common;
    return all == 0 ? 0.0 : (double)common / all;
}

/* FNV-1a of "a NUL b": a stable tie-break per pair. */
static uint32_t pair_hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a;; p++) {
        h = (h ^ (unsigned char)*p) * 16777619u;
        if (!*p)
            break;
    }
    for (const char *p = b; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

struct score {
    long map_rank; /* position in the confusion map's list; -1: not listed */
    double overlap;
    uint32_t tie;
};

static bool better(const struct score *a, const struct score *b)
{
    if (a->map_rank >= 0 || b->map_rank >= 0)
        return b->map_rank < 0 || (a->map_rank >= 0 && a->map_rank < b->map_rank);
    if (a->overlap != b->overlap)
        return a->overlap > b->overlap;
    return a->tie > b->tie;
}

static const struct emu_confusion *map_entry(const struct emu_sim *sim, const char *label)
{
    for (size_t i = 0; sim && i < sim->n_map; i++)
        if (strcmp(sim->map[i].label, label) == 0)
            return &sim->map[i];
    return NULL;
}

static long map_rank(const struct emu_confusion *e, const char *label)
{
    for (size_t i = 0; e && i < e->n_near; i++)
        if (strcmp(e->near[i], label) == 0)
            return (long)i;
    return -1;
}

size_t emu_confusable(const struct emu_sim *sim, char *const *labels, size_t n, size_t gold,
                      size_t *out, size_t k)
{
    if (n < 2 || k == 0)
        return 0;
    if (k > n - 1)
        k = n - 1;
    const struct emu_confusion *e = map_entry(sim, labels[gold]);
    struct score *sc = emu_xcalloc(n, sizeof(*sc));
    bool *taken = emu_xcalloc(n, sizeof(*taken));
    for (size_t i = 0; i < n; i++)
        sc[i] = (struct score){map_rank(e, labels[i]), emu_label_overlap(labels[gold], labels[i]),
                               pair_hash(labels[gold], labels[i])};
    taken[gold] = true;
    /* k passes of selection: k is small and n at most EMU_MAX_LABELS. */
    for (size_t r = 0; r < k; r++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (!taken[i] && (best == n || better(&sc[i], &sc[best])))
                best = i;
        taken[best] = true;
        out[r] = best;
    }
    free(sc);
    free(taken);
    return k;
}
