/* gold.c — the ground truth the emulated models answer from.
 *
 * Thousands of lines are looked up once per request, so entries are indexed
 * by an open-addressing table on FNV-1a: O(1) per lookup, no per-entry
 * allocation beyond the strings themselves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "util.h"

/* A gold line longer than this is a broken file, not a ticket. */
#define GOLD_MAX_LINE (1024 * 1024)

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static size_t *probe(const struct emu_gold *g, const char *text)
{
    size_t mask = g->n_slots - 1;
    for (size_t i = fnv1a(text) & mask;; i = (i + 1) & mask) {
        size_t *slot = &g->slots[i];
        if (*slot == 0 || strcmp(g->entries[*slot - 1].text, text) == 0)
            return slot;
    }
}

/* Keeps the load factor at or below 1/2 so probes stay short. */
static void grow_slots(struct emu_gold *g)
{
    size_t old_n = g->n_slots, *old = g->slots;
    g->n_slots = old_n ? old_n * 2 : 1024;
    g->slots = emu_xcalloc(g->n_slots, sizeof(*g->slots));
    for (size_t i = 0; i < old_n; i++)
        if (old[i])
            *probe(g, g->entries[old[i] - 1].text) = old[i];
    free(old);
}

void emu_gold_add(struct emu_gold *g, const char *text, char **labels, size_t n_labels, cJSON *data)
{
    if ((g->n + 1) * 2 > g->n_slots)
        grow_slots(g);
    size_t *slot = probe(g, text);
    if (*slot) {
        emu_free_strv(labels, n_labels);
        cJSON_Delete(data);
        return;
    }
    if (g->n == g->cap_entries) {
        g->cap_entries = g->cap_entries ? g->cap_entries * 2 : 256;
        g->entries = emu_xrealloc(g->entries, g->cap_entries * sizeof(*g->entries));
    }
    g->entries[g->n] = (struct emu_gold_entry){emu_xstrdup(text), labels, n_labels, data};
    *slot = ++g->n;
}

const struct emu_gold_entry *emu_gold_find(const struct emu_gold *g, const char *text)
{
    if (g->n_slots == 0 || text == NULL)
        return NULL;
    size_t slot = *probe(g, text);
    return slot ? &g->entries[slot - 1] : NULL;
}

static int line_labels(const cJSON *obj, char ***out, size_t *n_out)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(obj, "labels"), *v;
    *out = NULL;
    *n_out = 0;
    if (labels == NULL)
        return 0;
    if (!cJSON_IsObject(labels))
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(labels), i = 0;
    char **vals = emu_xcalloc(n ? n : 1, sizeof(*vals));
    cJSON_ArrayForEach(v, labels) {
        if (!cJSON_IsString(v)) {
            emu_free_strv(vals, i);
            return -1;
        }
        vals[i++] = emu_xstrdup(v->valuestring);
    }
    *out = vals;
    *n_out = i;
    return 0;
}

static int add_line(struct emu_gold *g, const char *line, char *err, size_t err_size)
{
    cJSON *obj = cJSON_Parse(line);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(obj, "text");
    char **labels;
    size_t n_labels;
    if (!cJSON_IsObject(obj) || !cJSON_IsString(text)) {
        snprintf(err, err_size, "not an object with a string \"text\"");
        cJSON_Delete(obj);
        return -1;
    }
    if (line_labels(obj, &labels, &n_labels) != 0) {
        snprintf(err, err_size, "\"labels\" must be an object of strings");
        cJSON_Delete(obj);
        return -1;
    }
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(obj, "data");
    emu_gold_add(g, text->valuestring, labels, n_labels, data);
    cJSON_Delete(obj);
    return 0;
}

static bool blank(const char *s)
{
    return s[strspn(s, " \t\r\n")] == '\0';
}

int emu_gold_load(struct emu_gold *g, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "gold file %s: cannot open", path);
        return -1;
    }
    char *line = NULL, why[160];
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = emu_read_line(f, &line, &cap, GOLD_MAX_LINE)) != -1) {
        lineno++;
        if (len == -2) {
            snprintf(err, err_size, "gold file %s:%ld: line longer than %d bytes", path, lineno, GOLD_MAX_LINE);
            rc = -1;
        } else if (!blank(line) && add_line(g, line, why, sizeof(why)) != 0) {
            snprintf(err, err_size, "gold file %s:%ld: %s", path, lineno, why);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

void emu_gold_free(struct emu_gold *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->entries[i].text);
        emu_free_strv(g->entries[i].labels, g->entries[i].n_labels);
        cJSON_Delete(g->entries[i].data);
    }
    free(g->entries);
    free(g->slots);
    *g = (struct emu_gold){0};
}
