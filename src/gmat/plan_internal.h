/* The plan structure, shared by the convolution plans of plan.c and the
 * pooling, lifting and projection plans of plan_homog.c. */
#ifndef GMCNN_GMAT_PLAN_INTERNAL_H
#define GMCNN_GMAT_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/gmat.h"

struct gm_gmat_plan {
    int64_t n;     /* cols: the output length (the group order for convolution plans) */
    int64_t k;     /* rows: the support size, window size or number of cosets */
    int64_t in;    /* input length: every table entry lies in [0, in) */
    int32_t *t;    /* k x n */
    int32_t *tinv; /* k x n inverse permutations; convolution plans only, else NULL */
    /* Runs of consecutive entries in the rows of t and tinv (see
     * gm_gmat_plan_table_runs): run_off[k] .. run_off[k + 1] - 1 index the
     * start columns in run_col of row k's runs. */
    int64_t *run_off, *runinv_off;
    int32_t *run_col, *runinv_col;
};

/* A plan with uninitialised tables of rows x cols (and an inverse table when
 * with_inverse). `what` names the plan in error details. Errors:
 * GM_ERR_TOO_LARGE, GM_ERR_NOMEM. */
gm_status gm__gmat_plan_alloc(const char *what, int64_t rows, int64_t cols, int64_t in,
                              bool with_inverse, gm_gmat_plan **out);

/* The last step of every builder, once the tables are filled: records the
 * runs of consecutive entries of each row. On failure frees p and returns
 * GM_ERR_NOMEM naming `what`. */
gm_status gm__gmat_plan_finish(const char *what, gm_gmat_plan *p);

/* GM_ERR_TOO_LARGE with "<what>: group <name> (order n) is too large" when
 * the order of g does not fit the int32 table entries, else GM_OK. */
gm_status gm__gmat_check_order(const char *what, const gm_group *g);

#endif
