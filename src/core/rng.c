/* PCG32 (XSH-RR, 64-bit state, 32-bit output) after M. E. O'Neill, 2014.
 * Fixed-width integer arithmetic only, so every machine gives the same stream. */
#include <math.h>

#include "core_internal.h"

void gm_rng_seed(gm_rng *rng, uint64_t seed, uint64_t stream) {
    rng->state = 0u;
    rng->inc = (stream << 1u) | 1u;
    (void)gm_rng_u32(rng);
    rng->state += seed;
    (void)gm_rng_u32(rng);
}

uint32_t gm_rng_u32(gm_rng *rng) {
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint32_t gm_rng_below(gm_rng *rng, uint32_t bound) {
    GM_ASSERT(bound > 0);
    /* Rejection of the low values that would bias the modulo. */
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t r = gm_rng_u32(rng);
        if (r >= threshold) return r % bound;
    }
}

double gm_rng_uniform(gm_rng *rng) {
    uint64_t hi = gm_rng_u32(rng) >> 5; /* 27 bits */
    uint64_t lo = gm_rng_u32(rng) >> 6; /* 26 bits */
    return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

double gm_rng_normal(gm_rng *rng) {
    double u1;
    do {
        u1 = gm_rng_uniform(rng);
    } while (u1 <= 0.0);
    double u2 = gm_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
