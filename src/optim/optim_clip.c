/* Gradient-norm clipping (torch.nn.utils.clip_grad_norm_, 2-norm). */
#include <math.h>

#include "optim_internal.h"

gm_status gm_clip_grad_norm(int64_t n, gm_tensor *const *params, double max_norm,
                            double *total_norm_out) {
    if (total_norm_out) *total_norm_out = 0.0;
    GM_RETURN_ERROR_IF(n < 0, GM_ERR_INVALID_ARG,
                       "gm_clip_grad_norm: parameter count %lld must be >= 0", (long long)n);
    GM_RETURN_ERROR_IF(n > 0 && !params, GM_ERR_INVALID_ARG, "gm_clip_grad_norm: params is NULL");
    GM_RETURN_ERROR_IF(!(isfinite(max_norm) && max_norm > 0.0), GM_ERR_INVALID_ARG,
                       "gm_clip_grad_norm: max_norm = %g must be finite and > 0", max_norm);
    double sumsq = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const gm_tensor *p = params[i];
        GM_RETURN_ERROR_IF(!p, GM_ERR_INVALID_ARG, "gm_clip_grad_norm: parameter %lld is NULL",
                           (long long)i);
        if (!p->grad) continue;
        /* Squares of float gradients cannot overflow a double, so no rescaling
         * pass is needed; only non-finite inputs make the sum non-finite. */
        for (int64_t k = 0; k < p->numel; k++) {
            const double g = (double)p->grad[k];
            sumsq += g * g;
        }
    }
    const double total = sqrt(sumsq);
    if (total_norm_out) *total_norm_out = total;
    if (!isfinite(total)) {
        /* Name the first offending parameter, which is what one needs to debug. */
        for (int64_t i = 0; i < n; i++) {
            const gm_tensor *p = params[i];
            if (!p->grad) continue;
            for (int64_t k = 0; k < p->numel; k++) {
                if (!isfinite((double)p->grad[k]))
                    return gm_error_set(GM_ERR_NUMERIC,
                                        "gradient clipping: total gradient norm is %g; "
                                        "parameter %lld has gradient %g at element %lld",
                                        total, (long long)i, (double)p->grad[k], (long long)k);
            }
        }
        return gm_error_set(GM_ERR_NUMERIC, "gradient clipping: total gradient norm is %g",
                            total);
    }
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1.0) {
        for (int64_t i = 0; i < n; i++) {
            gm_tensor *p = params[i];
            if (!p->grad) continue;
            for (int64_t k = 0; k < p->numel; k++)
                p->grad[k] = (gm_real)((double)p->grad[k] * coef);
        }
    }
    return GM_OK;
}
