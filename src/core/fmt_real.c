/* Real numbers as text that reads back to the same double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"

const char *gm__fmt_real(double v, char buf[GM__FMT_REAL_MAX]) {
    /* 17 significant digits always read back; fewer usually do and avoid
     * the noise digits of decimal fractions (0.004, not 0.0040000000000000001).
     * NaN and infinities are printed as %g prints them. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, GM__FMT_REAL_MAX, "%.*g", prec, v);
        if (!isfinite(v)) break;
        const double back = strtod(buf, NULL);
        if (memcmp(&back, &v, sizeof v) == 0) break;
    }
    return buf;
}
