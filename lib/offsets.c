#include "offsets.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sl.h"

/* Partition numbers index a table directly; a bogus huge number must not
 * allocate gigabytes. Kafka topics have far fewer partitions than this. */
#define OFFSETS_MAX_PARTITIONS (1 << 20)
#define RING_MIN_CAP 64

struct entry {
    int64_t offset;
    bool done;
};

struct part {
    uint32_t generation;
    bool assigned;
    bool done_any;       /* something was done in this generation */
    int64_t next;        /* last offset popped from the head + 1 */
    int64_t last_tracked;
    struct entry *ring;  /* capacity is a power of two */
    size_t cap, head, count;
    size_t undone;       /* entries in the ring not yet done */
};

struct offsets {
    struct part *parts;
    size_t n_parts;
    size_t pending;
};

struct offsets *offsets_new(void)
{
    return xcalloc(1, sizeof(struct offsets));
}

void offsets_free(struct offsets *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_parts; i++)
        free(o->parts[i].ring);
    free(o->parts);
    free(o);
}

static struct part *part_get(const struct offsets *o, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= o->n_parts)
        return NULL;
    return &o->parts[partition];
}

static struct part *part_get_or_add(struct offsets *o, int32_t partition)
{
    if (partition < 0 || partition >= OFFSETS_MAX_PARTITIONS)
        return NULL;
    if ((size_t)partition >= o->n_parts) {
        size_t n = o->n_parts ? o->n_parts : 8;
        while (n <= (size_t)partition)
            n *= 2;
        o->parts = xrealloc(o->parts, n * sizeof(*o->parts));
        memset(o->parts + o->n_parts, 0, (n - o->n_parts) * sizeof(*o->parts));
        o->n_parts = n;
    }
    return &o->parts[partition];
}

static struct entry *at(const struct part *p, size_t i)
{
    return &p->ring[(p->head + i) & (p->cap - 1)];
}

static void part_reset(struct offsets *o, struct part *p, bool assigned)
{
    o->pending -= p->undone;
    p->head = p->count = p->undone = 0;
    p->done_any = false;
    p->next = -1;
    p->last_tracked = -1;
    p->assigned = assigned;
    /* Generation 0 is reserved for "never valid", so skip it on wrap. */
    if (++p->generation == 0)
        p->generation = 1;
}

uint32_t offsets_assign(struct offsets *o, int32_t partition)
{
    struct part *p = part_get_or_add(o, partition);
    if (!p)
        return 0;
    part_reset(o, p, true);
    return p->generation;
}

void offsets_revoke(struct offsets *o, int32_t partition)
{
    struct part *p = part_get(o, partition);
    if (p)
        part_reset(o, p, false);
}

static void ring_grow(struct part *p)
{
    size_t cap = p->cap ? p->cap * 2 : RING_MIN_CAP;
    struct entry *ring = xmalloc(cap * sizeof(*ring));
    for (size_t i = 0; i < p->count; i++)
        ring[i] = *at(p, i);
    free(p->ring);
    p->ring = ring;
    p->cap = cap;
    p->head = 0;
}

uint32_t offsets_track(struct offsets *o, int32_t partition, int64_t offset)
{
    struct part *p = part_get(o, partition);
    if (!p || !p->assigned || offset < 0 || offset <= p->last_tracked)
        return 0;
    if (p->count == p->cap)
        ring_grow(p);
    *at(p, p->count) = (struct entry){offset, false};
    p->count++;
    p->last_tracked = offset;
    p->undone++;
    o->pending++;
    return p->generation;
}

bool offsets_owned(const struct offsets *o, int32_t partition,
                   uint32_t generation)
{
    const struct part *p = part_get(o, partition);
    return p && p->assigned && (generation == 0 || generation == p->generation);
}

/* Ring index of offset, or -1. Contiguous offsets make the first guess hit;
 * gaps fall back to a binary search (the ring is sorted). */
static long find(const struct part *p, int64_t offset)
{
    if (p->count == 0 || offset < at(p, 0)->offset)
        return -1;
    int64_t guess = offset - at(p, 0)->offset;
    if (guess < (int64_t)p->count && at(p, (size_t)guess)->offset == offset)
        return (long)guess;
    size_t lo = 0, hi = p->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(p, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->count && at(p, lo)->offset == offset ? (long)lo : -1;
}

static int64_t part_watermark(const struct part *p)
{
    if (!p->assigned || !p->done_any)
        return -1;
    return p->count ? at(p, 0)->offset : p->next;
}

int offsets_done(struct offsets *o, int32_t partition, int64_t offset,
                 uint32_t generation)
{
    struct part *p = part_get(o, partition);
    if (!p || !p->assigned || generation != p->generation)
        return 0;
    long i = find(p, offset);
    if (i < 0 || at(p, (size_t)i)->done)
        return 0;
    int64_t before = part_watermark(p);
    at(p, (size_t)i)->done = true;
    p->done_any = true;
    p->undone--;
    o->pending--;
    while (p->count && at(p, 0)->done) {
        p->next = at(p, 0)->offset + 1;
        p->head = (p->head + 1) & (p->cap - 1);
        p->count--;
    }
    return part_watermark(p) > before;
}

int64_t offsets_watermark(const struct offsets *o, int32_t partition)
{
    const struct part *p = part_get(o, partition);
    return p ? part_watermark(p) : -1;
}

size_t offsets_pending(const struct offsets *o)
{
    return o->pending;
}
