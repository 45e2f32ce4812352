/* rng.c — random numbers for faults, latency and ids.
 *
 * These are deliberately NOT deterministic (a retried request must be able
 * to succeed), so each thread owns a xoshiro256** state seeded from the
 * clock and a global counter: no locks on the request path. */
#include <math.h>
#include <stdatomic.h>
#include <time.h>

#include "emu.h"

static _Thread_local uint64_t state[4];
static _Thread_local bool seeded;
static atomic_uint_fast64_t seed_counter;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void seed_thread(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    x ^= atomic_fetch_add(&seed_counter, 1) * 0xD1B54A32D192ED03ULL;
    for (int i = 0; i < 4; i++)
        state[i] = splitmix64(&x);
    seeded = true;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t emu_rng_next(void)
{
    if (!seeded)
        seed_thread();
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

double emu_rng_uniform(void)
{
    return (double)(emu_rng_next() >> 11) * 0x1.0p-53;
}

/* Box-Muller; one of the pair is dropped to keep the state per thread trivial. */
double emu_rng_normal(void)
{
    double u1 = emu_rng_uniform(), u2 = emu_rng_uniform();
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
