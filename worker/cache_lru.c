/* cache_lru.c — see cache_lru.h. */
#include "cache_lru.h"

#include <stdlib.h>
#include <string.h>

#include "cache_entry.h"
#include "cache_lsh.h"
#include "sl.h"

size_t cache_lru_bucket(const struct cache *c, const char *key)
{
    uint64_t h = 0;
    for (int i = 0; i < 16 && key[i]; i++) {
        char ch = key[i];
        h = (h << 4) | (uint64_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    return (size_t)(h & (c->n_buckets - 1));
}

static void list_unlink(struct cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(struct cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

void cache_lru_bump(struct cache *c, struct entry *e)
{
    list_unlink(c, e);
    list_push_front(c, e);
}

struct entry *cache_lru_find(const struct cache *c, const char *key)
{
    if (!c->n_buckets)
        return NULL;
    for (struct entry *e = c->buckets[cache_lru_bucket(c, key)]; e; e = e->chain)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

void cache_lru_remove(struct cache *c, struct entry *e)
{
    if (e->near)
        cache_lsh_remove(c, e);
    struct entry **pp = &c->buckets[cache_lru_bucket(c, e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    list_unlink(c, e);
    c->n_entries--;
    cache_entry_free(e);
}

/* Takes e (a new key); evicts the least recently used past the bound. */
void cache_lru_insert(struct cache *c, struct entry *e)
{
    if (c->max_entries == 0) {
        cache_entry_free(e);
        return;
    }
    size_t b = cache_lru_bucket(c, e->key);
    e->chain = c->buckets[b];
    c->buckets[b] = e;
    if (e->near)
        cache_lsh_add(c, e);
    list_push_front(c, e);
    c->n_entries++;
    while (c->n_entries > c->max_entries)
        cache_lru_remove(c, c->tail);
}

void cache_lru_drop_all(struct cache *c)
{
    while (c->tail)
        cache_lru_remove(c, c->tail);
}
