/* Private helpers of the optim module. */
#ifndef GMCNN_OPTIM_INTERNAL_H
#define GMCNN_OPTIM_INTERNAL_H

#include <math.h>
#include <stdbool.h>

#include "core/core_internal.h"
#include "gmcnn/optim.h"

/* Finite and >= 0: the common constraint on rates, decays and thresholds. */
static inline bool gm__optim_nonneg(double x) {
    return isfinite(x) && x >= 0.0;
}

#endif /* GMCNN_OPTIM_INTERNAL_H */
