/* gmcnn gmat: group matrices, the group-diagonal expansion, displacement and
 * displacement rank, index tables ("plans") for structured products.
 *
 * Notation (G of order n, elements g_0..g_{n-1}, g_0 = e):
 *   group matrix      M_G(f)[i][j] = f(g_i^-1 g_j)
 *   convolution       (a*b)(x) = sum_u a(u) b(u^-1 x);  M_G(a) M_G(b) = M_G(a*b)
 *   left translation  (L_v x)(g) = x(v^-1 g)
 *   right translation (B_s x)(h) = x(h s^-1)     (the "group diagonal" of s)
 *   diagonals         M = sum_g diag(F_g) B_g,  F_g[h] = M[h][h g^-1]
 *   displacement      D(M) = F(M) - F(M) P,  (F P)[g][h] = F[g][(h-1) mod n]
 *                     i.e. D[g][h] = F[g][h] - F[g][(h-1) mod n]
 *   DR(M)             rank D(M) (numerical); 0 iff M is a group matrix
 *   defect            E_v(M, x) = ||M L_v x - L_v M x|| / ||M x||
 *
 * Dense matrices are double, row-major n x n, allocated by the caller. F is
 * stored with the group element g as the row and the position h as the
 * column: F[g*n + h].
 */
#ifndef GMCNN_GMAT_H
#define GMCNN_GMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/core.h"
#include "gmcnn/group.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- plans: index tables of a support ------------------------------------
 * For a support S = (s_0..s_{K-1}) the plan holds
 *   T[k][g]    = index(g s_k^-1)   (the gather of a group convolution)
 *   Tinv[k][g] = index(g s_k)      (its inverse permutation, for backward)
 * as K x n int32 row-major arrays. Immutable; shareable across threads. */
typedef struct gm_gmat_plan gm_gmat_plan;

GM_NODISCARD gm_status gm_gmat_plan_new(const gm_group *g, const gm_nbhd *s, gm_gmat_plan **out);
void gm_gmat_plan_free(gm_gmat_plan *p);
/* Every plan is a gather table of `rows` x `cols` indices into an input of
 * length input_size: T[r][c] in [0, input_size). For a convolution plan rows
 * = K, cols = input_size = n. */
int64_t gm_gmat_plan_support_size(const gm_gmat_plan *p); /* rows */
int64_t gm_gmat_plan_order(const gm_gmat_plan *p);        /* cols: the output length */
int64_t gm_gmat_plan_input_size(const gm_gmat_plan *p);
const int32_t *gm_gmat_plan_table(const gm_gmat_plan *p);
/* Tinv for convolution plans (each row a permutation); NULL for the others. */
const int32_t *gm_gmat_plan_table_inverse(const gm_gmat_plan *p);
/* The rows of the table (inverse: of Tinv) as runs of consecutive entries,
 * so that gathers can copy whole runs: row r's runs begin at the columns
 * starts[offsets[r]] < ... < starts[offsets[r + 1] - 1] (the first is 0), and
 * within a run T[r][c + 1] = T[r][c] + 1. offsets has rows + 1 entries. Both
 * NULL for the inverse of a plan without one. */
void gm_gmat_plan_table_runs(const gm_gmat_plan *p, bool inverse, const int64_t **offsets,
                             const int32_t **starts);

/* --- plans between a group, its subgroups and homogeneous spaces ----------
 * Pooling onto H <= G with the right-coset window R = (r_0 = e, r_1, ...)
 * (representatives of the right cosets H r, ascending): rows = [G:H],
 * cols = |H| (H's elements ascending, i.e. gm_subgroup_elements), input = |G|,
 *   T[c][j] = index(h_j r_c).
 * Every element of G appears exactly once in the table. On C_n x C_n with
 * H = 2Z_n x 2Z_n the window is {0,1}^2: 2x2 stride-2 pooling. */
GM_NODISCARD gm_status gm_gmat_plan_pool_new(const gm_subgroup *h, gm_gmat_plan **out);
/* Lifting convolution from G/K (left cosets xK, numbered as gm_cosets) to G
 * with support S in G: rows = |S|, cols = |G|, input = [G:K],
 *   T[k][g] = coset(g s_k^-1).
 * y(g) = sum_k w_k x(g s_k^-1 K) commutes with the action of G. */
GM_NODISCARD gm_status gm_gmat_plan_lift_new(const gm_subgroup *k, const gm_nbhd *s,
                                             gm_gmat_plan **out);
/* Projection from G to G/K (pooling over K): rows = |K|, cols = [G:K],
 * input = |G|,  T[j][c] = index(x_c k_j), x_c the representative of the c-th
 * left coset and k_j the j-th element of K. Covers G exactly once. */
GM_NODISCARD gm_status gm_gmat_plan_project_new(const gm_subgroup *k, gm_gmat_plan **out);

/* Structured product with kernel w on the support: y[g] = sum_k w[k] x[T[k][g]].
 * Equals M_G(f) x for f = gm_gmat_plan_kernel_function(w). */
void gm_gmat_plan_matvec(const gm_gmat_plan *p, const double *w, const double *x, double *y);
/* Transpose product: z[h] = sum_k w[k] x[Tinv[k][h]] = (M_G(f)^T x)[h]. */
void gm_gmat_plan_matvec_transpose(const gm_gmat_plan *p, const double *w, const double *x,
                                   double *z);
/* The function f on G whose group matrix the plan applies: f = 0 except
 * f(s_k^-1) += w[k] (repeated support elements add up). f has n entries. */
void gm_gmat_plan_kernel_function(const gm_gmat_plan *p, const gm_group *g, const double *w,
                                  double *f);

/* --- dense group matrices and the algebra -------------------------------- */
/* m = M_G(f). */
void gm_gmat_dense(const gm_group *g, const double *f, double *m);
/* out = a * b (group convolution), O(n^2). out must not alias a or b. */
void gm_gmat_convolve(const gm_group *g, const double *a, const double *b, double *out);
/* out = L_v x. out must not alias x. */
void gm_gmat_left_translate(const gm_group *g, int32_t v, const double *x, double *out);
/* out = B_s x. out must not alias x. */
void gm_gmat_right_translate(const gm_group *g, int32_t s, const double *x, double *out);

/* --- diagonal expansion and displacement --------------------------------- */
/* F[g*n + h] = M[h][h g^-1]. */
void gm_gmat_diagonals(const gm_group *g, const double *m, double *f_diag);
/* Inverse of gm_gmat_diagonals: M[h][h g^-1] = F[g*n + h]. */
void gm_gmat_from_diagonals(const gm_group *g, const double *f_diag, double *m);
/* D[g][h] = F[g][h] - F[g][(h-1) mod n], for an n x n F. */
void gm_gmat_displacement(int64_t n, const double *f_diag, double *d);

/* Numerical rank of a rows x cols matrix: the number of singular values
 * above tol. tol < 0 selects the default tol = sigma_max * max(rows, cols) *
 * DBL_EPSILON (the usual LAPACK/NumPy choice). Singular values are computed
 * by LAPACK's dgesdd. If sigma is not NULL it receives the min(rows, cols)
 * singular values in descending order. If tol_used is not NULL it receives
 * the tolerance applied. Errors: GM_ERR_INVALID_ARG (rows or cols < 1, tol
 * NaN), GM_ERR_TOO_LARGE (size overflow), GM_ERR_NUMERIC (a non-finite
 * entry, named by (i,j); SVD failure), GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_gmat_rank(int64_t rows, int64_t cols, const double *a, double tol,
                                    int64_t *rank, double *sigma, double *tol_used);
/* DR(M) = rank(D(M)) for an n x n m, n = |G|: the number of singular values
 * of D(M) above tol. tol < 0 selects
 *     tol = n * DBL_EPSILON * max(sigma_max(D(M)), ||M||_F)
 * i.e. the rule of gm_gmat_rank, but relative to the scale of M as well as of
 * D: a group matrix whose displacement is pure rounding (a product of group
 * matrices, say) gets 0, while a displacement singular value above about
 * n * 2.2e-16 * ||M||_F counts. So a random rank-r change U V^T of F(M)
 * (U, V n x r) counts r once ||U V^T||_F >= ~1e-10 ||M||_F for n up to a few
 * thousand; components of V constant in h have zero displacement and never
 * count. tol >= 0 is used as given. *tol_used (if not NULL) receives the
 * tolerance applied.
 * Errors: GM_ERR_NUMERIC (a non-finite entry of m, named by (i,j); SVD
 * failure), GM_ERR_INVALID_ARG (tol is NaN), GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_gmat_displacement_rank(const gm_group *g, const double *m, double tol,
                                                 int64_t *rank, double *tol_used);
/* gm_gmat_displacement_rank for values that carry the precision of another
 * floating-point type: the default tolerance (tol < 0) is
 *     tol = n * eps * max(sigma_max(D(M)), ||M||_F)
 * with eps the machine epsilon of that type, e.g. FLT_EPSILON (2^-23) for a
 * matrix computed or stored in float32, whose rounding would otherwise count
 * as displacement rank. gm_gmat_displacement_rank is this with DBL_EPSILON.
 * Errors: as gm_gmat_displacement_rank, and GM_ERR_INVALID_ARG for eps not
 * in (0, 1). */
GM_NODISCARD gm_status gm_gmat_displacement_rank_eps(const gm_group *g, const double *m,
                                                     double tol, double eps, int64_t *rank,
                                                     double *tol_used);

/* --- low displacement rank (the structured-matrix baselines) --------------
 * For n x n operators A, B the Sylvester displacement of M is
 *   nabla_{A,B}(M) = A M - M B,   and the Stein displacement  M - A M B;
 * M has displacement rank r when the displacement has rank r, i.e. equals
 * G H^T with G, H n x r. Here G and H are stored as r x n row-major arrays
 * g, h: row i holds the column g_i (h_i).
 *   Z_f      the unit-f-circulant shift: (Z_f x)[0] = f x[n-1], (Z_f x)[i] =
 *            x[i-1]; Z_f^n = f I.
 *   K(A, v)  the Krylov matrix [v, A v, ..., A^(n-1) v] (columns).
 *   Z_f(v)   = K(Z_f, v) = sum_k v[k] Z_f^k, the f-circulant with first
 *            column v: Z_f(v)[a][b] = v[a-b] (a >= b), f v[n+a-b] (a < b).
 *   J        the reversal, (J v)[i] = v[n-1-i].
 * Tridiagonal-plus-corner operators are 3 x n row-major arrays
 * op = (sub, diag, sup):
 *   (A x)[i] = sub[i] x[(i-1) mod n] + diag[i] x[i] + sup[i] x[(i+1) mod n],
 * i.e. sub-, main and super-diagonal with the corners A[0][n-1] = sub[0] and
 * A[n-1][0] = sup[n-1] (for n <= 2 coinciding entries add up).
 * Dense matrices are double, row-major, allocated by the caller; these are
 * reference implementations (O(r n^3)), written to mirror the formulas. */
/* z = Z_f (n x n). */
void gm_gmat_shift_dense(int64_t n, double f, double *z);
/* a = the dense n x n operator of op (3 x n, layout above). */
void gm_gmat_tridiag_dense(int64_t n, const double *op, double *a);
/* Toeplitz-like matrix of displacement rank r (Sindhwani, Sainath, Kumar
 * 2015; Pan's formula for the Sylvester operator with A = Z_1, B = Z_-1):
 *   M = 1/2 sum_{i<r} Z_1(g_i) Z_-1(J h_i),   so that   Z_1 M - M Z_-1 = G H^T
 * exactly. Every Toeplitz matrix is one with r = 2. */
void gm_gmat_ldr_toeplitz(int64_t n, int64_t r, const double *g, const double *h, double *m);
/* Krylov-factored LDR matrix (Thomas, Gu, Dao, Rudra, Re 2018) with dense
 * n x n operators a, b:
 *   M = sum_{i<r} K(A, g_i) K(B^T, h_i)^T = sum_{k<n} A^k G H^T B^k,
 * whose Stein displacement is
 *   M - A M B = G H^T - A^n G H^T B^n        (rank <= 2r; = G H^T, rank <= r,
 *                                             when A or B is nilpotent),
 * so for invertible A the Sylvester displacement A^-1 M - M B has rank <= 2r.
 * Errors: GM_ERR_NOMEM (scratch vectors). */
GM_NODISCARD gm_status gm_gmat_ldr_krylov(int64_t n, int64_t r, const double *a, const double *b,
                                          const double *g, const double *h, double *m);
/* d = A M - M B (n x n; d must not alias the others). */
void gm_gmat_sylvester_displacement(int64_t n, const double *a, const double *b, const double *m,
                                    double *d);
/* d = M - A M B (n x n; d must not alias the others). Errors: GM_ERR_NOMEM. */
GM_NODISCARD gm_status gm_gmat_stein_displacement(int64_t n, const double *a, const double *b,
                                                  const double *m, double *d);

/* --- equivariance -------------------------------------------------------- */
/* E_v(M, x) = ||M L_v x - L_v M x||_2 / ||M x||_2 (0 when both are 0, +inf
 * when only M x is 0). */
GM_NODISCARD gm_status gm_gmat_equivariance_defect(const gm_group *g, const double *m, int32_t v,
                                                   const double *x, double *defect);
/* ||M L_v - L_v M||_F / ||M||_F (0 when M = 0): zero for every v iff M is a
 * group matrix. */
GM_NODISCARD gm_status gm_gmat_commutator_norm(const gm_group *g, const double *m, int32_t v,
                                               double *norm);

#ifdef __cplusplus
}
#endif

#endif /* GMCNN_GMAT_H */
