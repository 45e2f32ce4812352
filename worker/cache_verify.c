/* cache_verify.c — see cache_verify.h. */
#include "cache_verify.h"

#include "tier0/tier0_certify.h"

#define ALPHA 0.05

void cache_verify_init(struct cache_verify *v, double threshold)
{
    v->threshold = threshold;
    v->stopped = false;
    v->serving = false;
    v->tightenings = 0;
    v->n = v->head = 0;
}

void cache_verify_load(struct cache_verify *v, double threshold,
                       const float *sim, const bool *agreed, size_t n,
                       double max_false_hit)
{
    size_t skip = n > CACHE_VERIFY_KEEP ? n - CACHE_VERIFY_KEEP : 0;
    v->n = v->head = 0;
    for (size_t i = skip; i < n; i++) {
        v->sim[v->n] = sim[i];
        v->disagreed[v->n++] = !agreed[i];
    }
    v->threshold = threshold;
    v->stopped = v->stopped || threshold > 1.0 + 1e-9;
    v->serving = !v->stopped && cache_verify_bound(v, NULL, NULL) <= max_false_hit;
}

double cache_verify_bound(const struct cache_verify *v, uint64_t *n,
                          uint64_t *x)
{
    uint64_t cn = 0, cx = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->sim[i] + 1e-6 < v->threshold)
            continue;
        cn++;
        cx += v->disagreed[i];
    }
    if (n)
        *n = cn;
    if (x)
        *x = cx;
    return cn ? tier0_cp_upper(cx, cn, ALPHA) : 1.0;
}

bool cache_verify_serving(const struct cache_verify *v)
{
    return v->serving && !v->stopped;
}

enum cache_verify_event cache_verify_record(struct cache_verify *v,
                                            double similarity, bool agreed,
                                            double max_false_hit)
{
    if (v->stopped)
        return CV_NONE;
    bool was_serving = cache_verify_serving(v);
    size_t slot = v->n < CACHE_VERIFY_KEEP ? v->n++ : v->head;
    if (v->n == CACHE_VERIFY_KEEP && slot == v->head)
        v->head = (v->head + 1) % CACHE_VERIFY_KEEP;
    v->sim[slot] = (float)similarity;
    v->disagreed[slot] = !agreed;

    uint64_t n, x;
    double upper = cache_verify_bound(v, &n, &x);
    /* The lower bound is the upper bound of agreement, mirrored. */
    double lower = n ? 1.0 - tier0_cp_upper(n - x, n, ALPHA) : 0.0;
    if (!((was_serving && upper > max_false_hit) || lower > max_false_hit)) {
        v->serving = upper <= max_false_hit;
        return CV_NONE;
    }
    v->tightenings++;
    v->threshold += CACHE_VERIFY_STEP;
    if (v->threshold > 1.0 + 1e-9) {
        v->stopped = true;
        v->serving = false;
        return CV_STOPPED;
    }
    v->serving = cache_verify_bound(v, NULL, NULL) <= max_false_hit;
    return CV_TIGHTENED;
}
