/* gmconv (full form) by FFT, for group-convolution plans whose table is a
 * translation on a torus Z_n1 x ... x Z_nd (elements row-major, as C_n and
 * products of cyclic groups are numbered).
 *
 * On such a plan T[k][g] = g + h_k (torus addition) with h_k = T[k][0], so
 * with the folded kernel w~[o,i,h] = sum over k with h_k = h of w[o,i,k],
 *   y[b,o,g] = sum_i sum_h w~[o,i,h] x[b,i,g+h]            (cross-correlation).
 * With the unnormalised DFT F[xi] = sum_g f[g] e^(-2 pi i <xi,g>) and real
 * data, the shift theorem gives, per frequency xi,
 *   Y[b,o,xi]  = sum_i conj(W[o,i,xi]) X[b,i,xi]            forward,
 *   DX[b,i,xi] = sum_o W[o,i,xi] DY[b,o,xi]                  dx (a convolution),
 *   C[o,i,xi]  = sum_b conj(DY[b,o,xi]) X[b,i,xi]           dW: c = F^-1 C is
 *                the correlation c[o,i,h] = sum_b sum_g dy[b,o,g] x[b,i,g+h],
 *                and dw[o,i,k] = c[o,i,h_k] (read at the K shifts only).
 * Each is one complex GEMM over channels per frequency. All signals are
 * real, so every spectrum is Hermitian and only the half spectrum along the
 * last axis (n_d/2 + 1 of n_d) is computed (r2c) and inverted (c2r); the
 * inverse is unnormalised, so 1/|G| goes into the GEMMs' alpha.
 *
 * Layout: spectra are frequency-major, S[xi][row][channel], so that the
 * GEMM of one frequency reads and writes contiguous row-major matrices.
 * Signal planes are transformed in chunks of CHUNK (FFTW's advanced
 * interface, one cached plan per chunk size) into a thread's buffer and
 * copied into that layout, or out of it before the inverse (a transform
 * with a large stride misses the cache on every element).
 *
 * The kernel side has only K nonzeros per plane, so it is not transformed:
 * with the characters E[xi][k] = e^(-2 pi i <xi, h_k>) of the K shifts
 * (a table of K x Nc values, made per call from one table of |G| angles in
 * double, the phase reduced exactly in integers),
 *   W[o,i,xi]  = sum_k w[o,i,k] E[xi][k]                    one real GEMM
 *                (Nc x K by K x O*I on split re/im parts), and
 *   dw[o,i,k] += Re sum_xi c_xi C[o,i,xi] conj(E[xi][k])    one real GEMM,
 * c_xi = 1 on the self-conjugate frequencies (last index 0 and n_d/2 for
 * even n_d) and 2 elsewhere, which is the full-spectrum sum of the c2r on
 * the half spectrum. The GEMMs run over tiles fixed by the problem and so
 * does every chunking above, so every value is computed by the same
 * operations whatever the thread count. The kernel spectrum is formed a
 * block of output channels at a time, to bound the scratch; in the
 * backward dW's spectrum reuses its buffer.
 *
 * FFTW's planner is not thread-safe: plans are made (FFTW_ESTIMATE, so they
 * do not depend on timings) under one mutex and cached for the life of the
 * process; execution with the new-array functions is thread-safe. */
#include <fftw3.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "ops/ops_gm.h"
#include "ops/ops_internal.h"

/* --- precision: the one place that names float or double FFTW/BLAS --------- */
#ifdef GM_REAL_DOUBLE
typedef fftw_complex fft_cpx;
typedef fftw_plan fft_plan;
#define FFT_PLAN_R2C fftw_plan_many_dft_r2c
#define FFT_PLAN_C2R fftw_plan_many_dft_c2r
#define FFT_DESTROY fftw_destroy_plan
#define FFT_ALIGNMENT_OF fftw_alignment_of
static inline void fft_r2c(fft_plan p, const gm_real *in, fft_cpx *out) {
    fftw_execute_dft_r2c(p, (double *)in, out); /* out of place: input preserved */
}
static inline void fft_c2r(fft_plan p, fft_cpx *in, gm_real *out) {
    fftw_execute_dft_c2r(p, in, out);
}
#define CPX_GEMM cblas_zgemm
#else
typedef fftwf_complex fft_cpx;
typedef fftwf_plan fft_plan;
#define FFT_PLAN_R2C fftwf_plan_many_dft_r2c
#define FFT_PLAN_C2R fftwf_plan_many_dft_c2r
#define FFT_DESTROY fftwf_destroy_plan
#define FFT_ALIGNMENT_OF fftwf_alignment_of
static inline void fft_r2c(fft_plan p, const gm_real *in, fft_cpx *out) {
    fftwf_execute_dft_r2c(p, (float *)in, out); /* out of place: input preserved */
}
static inline void fft_c2r(fft_plan p, fft_cpx *in, gm_real *out) {
    fftwf_execute_dft_c2r(p, in, out);
}
#define CPX_GEMM cblas_cgemm
#endif

/* C = alpha op(A) op(B) + beta C on matrices of fft_cpx, row-major; alpha
 * and beta real. */
static inline void cgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k,
                         gm_real alpha, const void *a, int64_t lda, const void *b, int64_t ldb,
                         gm_real beta, void *c, int64_t ldc) {
    const gm_real al[2] = {alpha, 0}, be[2] = {beta, 0};
    CPX_GEMM(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, al, a, (blasint)lda, b,
             (blasint)ldb, be, c, (blasint)ldc);
}

/* Planes per transform call (one plan per chunk shape). */
#define CHUNK 8
/* Bound on one block of the transformed kernel (and of dW's spectrum). */
#define WBLOCK_BYTES ((size_t)32 << 20)
/* Frequencies per GEMM of the kernel spectrum; rows q per GEMM of dW's
 * readout. Fixed, so that results do not depend on the thread count. */
#define FREQ_BLOCK 32
#define Q_BLOCK 512
#define DW_ROWS 32
static const double GM_TWO_PI = 6.283185307179586476925286766559;
/* AUTO: the FFT path runs when its cost, in gather-path flops, is below the
 * gather path's cost, and the gather path has at least FFT_MIN_FLOPS (below
 * that, fixed costs dominate). Measured on 2 shared cores (Haswell kernels,
 * gather path at about 140 GFLOP/s): the signal transforms run at about
 * 1/6 of that, the per-frequency complex GEMMs at 2/3; each value of the
 * kernel spectrum (Nc O I of them) costs a store, an interleave and a load
 * by the per-frequency GEMM (FFT_SPECTRUM_COST) besides the 4K flops of its
 * character GEMM (FFT_TABLE_COST each). The gather path's GEMMs have O rows,
 * and below GATHER_FULL_ROWS of them sgemm runs slower, about in
 * proportion (16 -> 16 on C64xC64: 75 against 140 GFLOP/s). So C28xC28 t3
 * 120->120 runs by FFT from batch 4 on (about 2x faster at batch 4, 5x at
 * 16, 9x at 64) and stays on the gather path at batch 1, where the kernel
 * spectrum alone (as many flops as the gather path, and 48 MB written and
 * read) costs more; C64xC64 t1 (K = 9) runs by FFT from batch 16 on, for
 * 120->120 and for 16->16, and on the gather path at batch 1. */
#define FFT_TRANSFORM_COST 6.0
#define FFT_GEMM_COST 1.5
#define FFT_TABLE_COST 1.1
#define FFT_SPECTRUM_COST 120.0
#define GATHER_FULL_ROWS 32
#define FFT_MIN_FLOPS 4.0e6

static atomic_int fft_mode = GM__FFT_AUTO;

void gm__gmconv_set_fft_mode(gm__fft_mode mode) { atomic_store(&fft_mode, (int)mode); }
gm__fft_mode gm__gmconv_fft_mode(void) { return (gm__fft_mode)atomic_load(&fft_mode); }

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* --- detection ---------------------------------------------------------- */

static int64_t torus_size(const gm__torus *s) {
    int64_t n = 1;
    for (int a = 0; a < s->rank; a++) n *= s->n[a];
    return n;
}

/* Complex values of a half spectrum. */
static int64_t half_size(const gm__torus *s) {
    const int64_t last = s->n[s->rank - 1];
    return torus_size(s) / last * (last / 2 + 1);
}

/* Does row k of the table equal g -> g + h on the torus s (h = T[k][0])? */
static bool row_is_shift(const int32_t *row, const gm__torus *s) {
    int64_t n3[3] = {1, 1, 1};
    for (int a = 0; a < s->rank; a++) n3[3 - s->rank + a] = s->n[a];
    int64_t h = row[0], hc[3];
    for (int a = 2; a >= 0; a--) {
        hc[a] = h % n3[a];
        h /= n3[a];
    }
    int64_t g = 0;
    for (int64_t a0 = 0; a0 < n3[0]; a0++) {
        int64_t t0 = a0 + hc[0];
        if (t0 >= n3[0]) t0 -= n3[0];
        for (int64_t a1 = 0; a1 < n3[1]; a1++) {
            int64_t t1 = a1 + hc[1];
            if (t1 >= n3[1]) t1 -= n3[1];
            const int64_t base = (t0 * n3[1] + t1) * n3[2];
            for (int64_t a2 = 0; a2 < n3[2]; a2++, g++) {
                int64_t t2 = a2 + hc[2];
                if (t2 >= n3[2]) t2 -= n3[2];
                if (row[g] != base + t2) return false;
            }
        }
    }
    return true;
}

/* Every row with a nonzero shift checked (the zero-shift rows, the identity
 * on every torus, are checked once by the caller). */
static bool table_is_shift(const gm__gm_table *tab, const gm__torus *s) {
    for (int64_t k = 0; k < tab->rows; k++) {
        const int32_t *row = tab->t + k * tab->cols;
        if (row[0] != 0 && !row_is_shift(row, s)) return false;
    }
    return true;
}

static bool identity_rows_ok(const gm__gm_table *tab) {
    for (int64_t k = 0; k < tab->rows; k++) {
        const int32_t *row = tab->t + k * tab->cols;
        if (row[0] != 0) continue;
        for (int64_t g = 0; g < tab->cols; g++)
            if (row[g] != g) return false;
    }
    return true;
}

/* Shapes in order: (n), (a, n/a), (a, b, n/(ab)), factors >= 2; the first
 * one on which the table verifies. */
static bool search_shape(const gm__gm_table *tab, gm__torus *out) {
    const int64_t n = tab->cols;
    gm__torus s = {.rank = 1, .n = {n, 0, 0}};
    if (table_is_shift(tab, &s)) goto found;
    s.rank = 2;
    for (int64_t a = 2; a * 2 <= n; a++) {
        if (n % a) continue;
        s.n[0] = a;
        s.n[1] = n / a;
        if (table_is_shift(tab, &s)) goto found;
    }
    s.rank = 3;
    for (int64_t a = 2; a * 4 <= n; a++) {
        if (n % a) continue;
        for (int64_t b = 2; a * b * 2 <= n; b++) {
            if ((n / a) % b) continue;
            s.n[0] = a;
            s.n[1] = b;
            s.n[2] = n / (a * b);
            if (table_is_shift(tab, &s)) goto found;
        }
    }
    return false;
found:
    *out = s;
    return true;
}

/* Shapes found, by table address; a hit is verified again entry by entry
 * (a freed plan's table may be reused by another), so the cache only saves
 * the search. */
#define SHAPE_CACHE 16
static struct {
    const int32_t *t;
    int64_t rows, cols;
    gm__torus shape;
} shape_cache[SHAPE_CACHE];
static int shape_cache_next;
static pthread_mutex_t fft_lock = PTHREAD_MUTEX_INITIALIZER;

bool gm__torus_detect(const gm__gm_table *tab, gm__torus *out) {
    if (!tab->t || tab->rows < 1 || tab->cols < 1 || tab->n_in != tab->cols) return false;
    if (tab->cols > INT32_MAX) return false;
    if (!identity_rows_ok(tab)) return false;
    gm__torus s = {0};
    bool hit = false;
    pthread_mutex_lock(&fft_lock);
    for (int e = 0; e < SHAPE_CACHE; e++)
        if (shape_cache[e].t == tab->t && shape_cache[e].rows == tab->rows &&
            shape_cache[e].cols == tab->cols) {
            s = shape_cache[e].shape;
            hit = true;
            break;
        }
    pthread_mutex_unlock(&fft_lock);
    if (hit && table_is_shift(tab, &s)) {
        *out = s;
        return true;
    }
    if (!search_shape(tab, &s)) return false;
    pthread_mutex_lock(&fft_lock);
    int e = 0;
    while (e < SHAPE_CACHE && shape_cache[e].t != tab->t) e++;
    if (e == SHAPE_CACHE) {
        e = shape_cache_next;
        shape_cache_next = (shape_cache_next + 1) % SHAPE_CACHE;
    }
    shape_cache[e].t = tab->t;
    shape_cache[e].rows = tab->rows;
    shape_cache[e].cols = tab->cols;
    shape_cache[e].shape = s;
    pthread_mutex_unlock(&fft_lock);
    *out = s;
    return true;
}

/* --- cost ----------------------------------------------------------------- */

/* Flops of one real transform (r2c or c2r) of n points. */
static double transform_flops(int64_t n) { return n > 1 ? 2.5 * (double)n * log2((double)n) : 1; }

static double fft_transforms(const gm__gmconv_dims *d, const gm__torus *s) {
    const double b = (double)d->batch, ni = (double)d->cin, no = (double)d->cout;
    return transform_flops(torus_size(s)) * (b * ni + b * no);
}

static double fft_gemms(const gm__gmconv_dims *d, const gm__torus *s) {
    return 8.0 * (double)d->batch * (double)d->cout * (double)d->cin * (double)half_size(s);
}

/* values of the kernel spectrum */
static double fft_spectrum(const gm__gmconv_dims *d, const gm__torus *s) {
    return (double)d->cout * (double)d->cin * (double)half_size(s);
}

double gm__gmconv_fft_flops(const gm__gmconv_dims *d, const gm__torus *s) {
    return fft_transforms(d, s) + fft_gemms(d, s) + 4.0 * (double)d->tab.rows * fft_spectrum(d, s);
}

/* in gather-path flops */
static double fft_cost(const gm__gmconv_dims *d, const gm__torus *s) {
    return FFT_TRANSFORM_COST * fft_transforms(d, s) + FFT_GEMM_COST * fft_gemms(d, s) +
           (FFT_SPECTRUM_COST + FFT_TABLE_COST * 4.0 * (double)d->tab.rows) * fft_spectrum(d, s);
}

bool gm__gmconv_fft_choose(const gm__gmconv_dims *d, gm__torus *s) {
    const gm__fft_mode mode = gm__gmconv_fft_mode();
    if (mode == GM__FFT_NEVER || d->form != GM_CONV_FULL) return false;
    if (d->batch < 1 || d->cin < 1 || d->cout < 1) return false;
    if (d->tab.n_in != d->tab.cols) return false;
    const double gather = 2.0 * (double)d->batch * (double)d->cout * (double)d->cin *
                          (double)d->tab.rows * (double)d->tab.cols;
    const double gather_cost =
        d->cout < GATHER_FULL_ROWS ? gather * GATHER_FULL_ROWS / (double)d->cout : gather;
    if (mode == GM__FFT_AUTO) {
        /* before detecting: the cost on a 1-D torus (the smallest half
         * spectrum) bounds it from below */
        const gm__torus flat = {.rank = 1, .n = {d->tab.cols, 0, 0}};
        if (gather < FFT_MIN_FLOPS || fft_cost(d, &flat) >= gather_cost) return false;
    }
    if (!gm__torus_detect(&d->tab, s)) return false;
    return mode == GM__FFT_ALWAYS || fft_cost(d, s) < gather_cost;
}

/* --- plans ------------------------------------------------------------------ */

typedef struct plan_key {
    int c2r, rank;
    int n[GM__TORUS_MAX_RANK];
    int howmany, istride, idist, ostride, odist;
} plan_key;

#define PLAN_CACHE 128
static struct {
    plan_key key;
    fft_plan plan;
} plan_cache[PLAN_CACHE];
static int plan_cache_used;

/* A plan for `key` planned on these arrays: cached (owned = false) or, with
 * the cache full, made for this call only (owned = true; release with
 * plan_release). NULL when FFTW cannot plan it. */
static fft_plan plan_get(const plan_key *key, void *in, void *out, bool *owned) {
    fft_plan p = NULL;
    *owned = false;
    pthread_mutex_lock(&fft_lock);
    for (int e = 0; e < plan_cache_used; e++)
        if (!memcmp(&plan_cache[e].key, key, sizeof *key)) {
            p = plan_cache[e].plan;
            break;
        }
    if (!p) {
        const unsigned flags = FFTW_ESTIMATE;
        if (key->c2r)
            p = FFT_PLAN_C2R(key->rank, key->n, key->howmany, in, NULL, key->istride, key->idist,
                             out, NULL, key->ostride, key->odist, flags | FFTW_DESTROY_INPUT);
        else
            p = FFT_PLAN_R2C(key->rank, key->n, key->howmany, in, NULL, key->istride, key->idist,
                             out, NULL, key->ostride, key->odist, flags | FFTW_PRESERVE_INPUT);
        if (p && plan_cache_used < PLAN_CACHE) {
            plan_cache[plan_cache_used].key = *key;
            plan_cache[plan_cache_used].plan = p;
            plan_cache_used++;
        } else if (p) {
            *owned = true;
        }
    }
    pthread_mutex_unlock(&fft_lock);
    return p;
}

static void plan_release(fft_plan p, bool owned) {
    if (!p || !owned) return;
    pthread_mutex_lock(&fft_lock);
    FFT_DESTROY(p);
    pthread_mutex_unlock(&fft_lock);
}

/* Plans are made for arrays of FFTW's SIMD alignment (the scratch is 64-byte
 * aligned; an unaligned one falls back to the gather path), and only such
 * arrays are passed to them: 64x64 transforms run at about half speed when
 * planned FFTW_UNALIGNED. */
static bool aligned(const gm_real *p) { return FFT_ALIGNMENT_OF((gm_real *)p) == 0; }

/* Plans by chunk size (1..CHUNK planes) and direction; every transform is
 * contiguous (plane after plane, the half spectra Nc apart), from a tensor
 * or a thread's buffer into a thread's buffer. */
typedef struct plan_set {
    fft_plan p[2][CHUNK + 1];
    bool own[2][CHUNK + 1];
} plan_set;

static void plan_set_release(plan_set *ps) {
    for (int dir = 0; dir < 2; dir++)
        for (int c = 0; c <= CHUNK; c++) {
            plan_release(ps->p[dir][c], ps->own[dir][c]);
            ps->p[dir][c] = NULL;
        }
}

/* Makes sure ps holds the plans that `planes` planes in chunks need. */
static bool plan_set_need(plan_set *ps, const gm__torus *s, int64_t nc, bool c2r, int64_t planes,
                          gm_real *rbuf, fft_cpx *cbuf) {
    if (!aligned(rbuf) || !aligned((gm_real *)cbuf)) return false;
    const int64_t counts[2] = {min64(CHUNK, planes), planes % CHUNK};
    plan_key key = {.c2r = c2r, .rank = s->rank, .istride = 1, .ostride = 1};
    for (int a = 0; a < s->rank; a++) key.n[a] = (int)s->n[a];
    const int64_t n = torus_size(s);
    key.idist = (int)(c2r ? nc : n);
    key.odist = (int)(c2r ? n : nc);
    for (int q = 0; q < 2; q++) {
        const int64_t c = counts[q];
        if (c == 0 || ps->p[c2r][c]) continue;
        key.howmany = (int)c;
        ps->p[c2r][c] = c2r ? plan_get(&key, cbuf, rbuf, &ps->own[c2r][c])
                            : plan_get(&key, rbuf, cbuf, &ps->own[c2r][c]);
        if (!ps->p[c2r][c]) return false;
    }
    return true;
}

/* --- scratch ---------------------------------------------------------------- */

typedef struct fft_layout {
    int64_t n, nc, kk; /* torus size, half-spectrum size, shifts */
    int64_t ob, nblk;  /* output channels per kernel block, blocks */
    size_t off_x, off_y, off_dx, off_w, off_e, off_ew, off_trig, off_h;
    size_t off_thr, off_tc, per_thread, total;
} fft_layout;

static fft_layout fft_layout_of(const gm__gmconv_dims *d, const gm__torus *s, int nt,
                                bool backward) {
    fft_layout l = {0};
    l.n = torus_size(s);
    l.nc = half_size(s);
    l.kk = d->tab.rows;
    const size_t cz = sizeof(fft_cpx);
    const int64_t b = d->batch, ni = d->cin, no = d->cout;
    const size_t per_o = (size_t)(l.nc * ni) * cz;
    int64_t ob = (int64_t)(WBLOCK_BYTES / per_o);
    if (ob < 1) ob = 1;
    if (ob > no) ob = no;
    l.nblk = cdiv(no, ob);
    l.ob = cdiv(no, l.nblk);
    size_t at = 0;
    l.off_x = at; /* X (forward; backward with dW) */
    at += align64((size_t)(l.nc * b * ni) * cz);
    l.off_y = at; /* Y (forward) or DY (backward) */
    at += align64((size_t)(l.nc * b * no) * cz);
    if (backward) {
        l.off_dx = at;
        at += align64((size_t)(l.nc * b * ni) * cz);
    }
    /* one block of the kernel spectrum; in the backward the same buffer
     * holds dW's spectrum C once dx has used it */
    l.off_w = at;
    at += align64((size_t)(l.nc * l.ob * ni) * cz);
    l.off_e = at; /* characters, split: E[(xi, re/im)][k] */
    at += align64((size_t)(l.nc * l.kk) * cz);
    if (backward) {
        l.off_ew = at; /* weighted characters for dW, split likewise */
        at += align64((size_t)(l.nc * l.kk) * cz);
    }
    l.off_trig = at; /* cos and sin of 2 pi m / n, in double */
    at += align64((size_t)(2 * l.n) * sizeof(double));
    l.off_h = at; /* the shifts h_k */
    at += align64((size_t)l.kk * sizeof(int32_t));
    /* per thread: CHUNK real planes (or a tile of the kernel spectrum, or
     * a block of dW's spectrum, split), then CHUNK half spectra */
    int64_t treal = CHUNK * l.n;
    if (treal < 2 * FREQ_BLOCK * Q_BLOCK) treal = 2 * FREQ_BLOCK * Q_BLOCK;
    if (backward && treal < 2 * l.nc * DW_ROWS) treal = 2 * l.nc * DW_ROWS;
    l.off_tc = align64((size_t)treal * sizeof(gm_real));
    l.per_thread = l.off_tc + align64((size_t)(CHUNK * l.nc) * cz);
    l.off_thr = at;
    l.total = at + (size_t)nt * l.per_thread;
    return l;
}

size_t gm__gmconv_fft_scratch_bytes(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                    bool backward) {
    return fft_layout_of(d, s, nthreads, backward).total;
}

/* --- characters of the shifts ---------------------------------------------- */

/* Half-spectrum frequency f (row-major over n_1 x ... x (n_d/2 + 1)) as
 * coordinates xi, and its weight in a sum over the full spectrum: 1 for the
 * self-conjugate last-axis indices 0 and n_d/2 (n_d even), else 2 (xi stands
 * for itself and -xi). */
static int freq_coords(const gm__torus *s, int64_t f, int64_t xi[GM__TORUS_MAX_RANK]) {
    const int r = s->rank;
    const int64_t last = s->n[r - 1], hl = last / 2 + 1;
    xi[r - 1] = f % hl;
    f /= hl;
    for (int a = r - 2; a >= 0; a--) {
        xi[a] = f % s->n[a];
        f /= s->n[a];
    }
    const int64_t xl = xi[r - 1];
    return xl == 0 || (last % 2 == 0 && xl == last / 2) ? 1 : 2;
}

void gm__fft_characters(const gm__torus *s, const int32_t *shifts, int64_t kk, double *trig,
                        void *e_v, void *ew_v) {
    const int r = s->rank;
    const int64_t n = torus_size(s), nc = half_size(s);
    gm_real *e = e_v, *ew = ew_v;
    /* exp(-2 pi i <xi, h>) = exp(-2 pi i m / n) with the integer
     * m = sum_a (xi_a h_a mod n_a) (n / n_a) mod n: one table of n angles */
    for (int64_t m = 0; m < n; m++) {
        const double a = GM_TWO_PI * (double)m / (double)n;
        trig[2 * m] = cos(a);
        trig[2 * m + 1] = sin(a);
    }
    for (int64_t f = 0; f < nc; f++) {
        int64_t xi[GM__TORUS_MAX_RANK];
        const gm_real wt = (gm_real)freq_coords(s, f, xi);
        for (int64_t k = 0; k < kk; k++) {
            int64_t h = shifts[k], m = 0;
            for (int a = r - 1; a >= 0; a--) {
                const int64_t ha = h % s->n[a];
                h /= s->n[a];
                m += (ha * xi[a] % s->n[a]) * (n / s->n[a]);
            }
            m %= n;
            const gm_real c = (gm_real)trig[2 * m], sn = (gm_real)trig[2 * m + 1];
            e[2 * f * kk + k] = c;
            e[(2 * f + 1) * kk + k] = -sn;
            if (ew) {
                ew[2 * f * kk + k] = wt * c;
                ew[(2 * f + 1) * kk + k] = -wt * sn;
            }
        }
    }
}

/* The table's shifts h_k = T[k][0]. */
static void characters_of(const gm__gmconv_dims *d, const gm__torus *s, const fft_layout *l,
                          char *base, bool weighted) {
    int32_t *h = (int32_t *)(base + l->off_h);
    for (int64_t k = 0; k < l->kk; k++) h[k] = d->tab.t[k * d->tab.cols];
    gm__fft_characters(s, h, l->kk, (double *)(base + l->off_trig), base + l->off_e,
                       weighted ? base + l->off_ew : NULL);
}

/* --- pieces ---------------------------------------------------------------- */
static gm_real *thread_real(const fft_layout *l, char *base) {
    return (gm_real *)(base + l->off_thr + (size_t)omp_get_thread_num() * l->per_thread);
}

static fft_cpx *thread_cpx(const fft_layout *l, char *base) {
    return (fft_cpx *)(base + l->off_thr + (size_t)omp_get_thread_num() * l->per_thread +
                       l->off_tc);
}

/* dst[xi][q0 + j] = src[j][xi] (row length `ld` of dst) and back */
static void to_freq_major(const void *src_v, int64_t count, int64_t nc, fft_cpx *dst, int64_t ld,
                          int64_t q0) {
    const gm_real *src = src_v;
    for (int64_t f = 0; f < nc; f++) {
        gm_real *d = (gm_real *)(dst + f * ld + q0);
        for (int64_t j = 0; j < count; j++) {
            d[2 * j] = src[2 * (j * nc + f)];
            d[2 * j + 1] = src[2 * (j * nc + f) + 1];
        }
    }
}

static void from_freq_major(const void *src_v, int64_t ld, int64_t q0, int64_t count,
                            int64_t nc, fft_cpx *dst) {
    const gm_real *src = src_v;
    for (int64_t f = 0; f < nc; f++) {
        const gm_real *sp = src + 2 * (f * ld + q0);
        for (int64_t j = 0; j < count; j++) {
            dst[j * nc + f][0] = sp[2 * j];
            dst[j * nc + f][1] = sp[2 * j + 1];
        }
    }
}

/* spec[xi][p] = r2c of the real planes p < planes at real + p * n */
static void forward_planes(const plan_set *ps, const fft_layout *l, char *base, int nt,
                           int64_t planes, const gm_real *real, fft_cpx *spec) {
    const int64_t chunks = cdiv(planes, CHUNK), n = l->n, nc = l->nc;
    const int t = (int)min64(nt, chunks);
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t count = min64(CHUNK, planes - c * CHUNK);
        fft_cpx *cb = thread_cpx(l, base);
        const gm_real *src = real + c * CHUNK * n;
        if (!aligned(src)) {
            gm_real *rb = thread_real(l, base);
            memcpy(rb, src, (size_t)(count * n) * sizeof *rb);
            src = rb;
        }
        fft_r2c(ps->p[0][count], src, cb);
        to_freq_major(cb, count, nc, spec, planes, c * CHUNK);
    }
}

/* Kernel spectra of output channels [o0, o0 + nob): wf[xi][q], q = (o - o0)
 * * I + i, as W[xi][q] = sum_k E[xi][k] w[q][k] (the r2c of w~, whose
 * plane holds w[q][k] at h_k). Per fixed tile of frequencies and rows q,
 * one real GEMM of the split characters (rows (xi, re/im), see
 * gm__fft_characters) against w^T into a thread's buffer, then interleaved
 * into wf, frequency-major. The tiles depend on the problem only. */
static void kernel_spectrum(const gm__gmconv_dims *d, const fft_layout *l, int nt, char *base,
                            const gm_real *w, int64_t o0, int64_t nob, fft_cpx *wf) {
    const int64_t kk = l->kk, nc = l->nc, q = nob * d->cin;
    const gm_real *ws = w + o0 * d->cin * kk;
    const gm_real *e2 = (const gm_real *)(base + l->off_e);
    const int64_t fblocks = cdiv(nc, FREQ_BLOCK), qblocks = cdiv(q, Q_BLOCK);
    const int64_t tiles = fblocks * qblocks;
    const int tb = (int)min64(nt, tiles);
#pragma omp parallel for num_threads(tb) schedule(static) if (tb > 1)
    for (int64_t c = 0; c < tiles; c++) {
        const int64_t f0 = (c / qblocks) * FREQ_BLOCK, fb = min64(FREQ_BLOCK, nc - f0);
        const int64_t q0 = (c % qblocks) * Q_BLOCK, qb = min64(Q_BLOCK, q - q0);
        gm_real *r = thread_real(l, base);
        gm__gemm(false, true, 2 * fb, qb, kk, 1, e2 + 2 * f0 * kk, kk, ws + q0 * kk, kk, 0, r, qb);
        for (int64_t f = 0; f < fb; f++) {
            const gm_real *re = r + 2 * f * qb, *im = re + qb;
            gm_real *dst = (gm_real *)(wf + (f0 + f) * q + q0);
            for (int64_t j = 0; j < qb; j++) {
                dst[2 * j] = re[j];
                dst[2 * j + 1] = im[j];
            }
        }
    }
}

/* dw[o0 + .., i, k] += Re sum over the full spectrum of C[xi][q]
 * e^(2 pi i <xi, h_k>) (the c2r of C read at h_k; C holds 1/|G| already):
 * over the half spectrum with the weights c_xi, Re(C conj(E)) = Cr Er +
 * Ci Ei. Per fixed block of rows q, C's block is split into rows (xi,
 * re/im) in a thread's buffer, and one real GEMM against the weighted split
 * characters adds into dw. */
static void dw_readout(const gm__gmconv_dims *d, const fft_layout *l, int nt, char *base,
                       fft_cpx *cf, int64_t o0, int64_t nob, gm_real *dw) {
    const int64_t kk = l->kk, nc = l->nc, q = nob * d->cin;
    const gm_real *ew = (const gm_real *)(base + l->off_ew);
    const int64_t blocks = cdiv(q, DW_ROWS);
    const int tb = (int)min64(nt, blocks);
#pragma omp parallel for num_threads(tb) schedule(static) if (tb > 1)
    for (int64_t c = 0; c < blocks; c++) {
        const int64_t q0 = c * DW_ROWS, qb = min64(DW_ROWS, q - q0);
        gm_real *r = thread_real(l, base);
        for (int64_t f = 0; f < nc; f++) {
            const gm_real *src = (const gm_real *)(cf + f * q + q0);
            gm_real *re = r + 2 * f * qb, *im = re + qb;
            for (int64_t j = 0; j < qb; j++) {
                re[j] = src[2 * j];
                im[j] = src[2 * j + 1];
            }
        }
        gm__gemm(true, false, qb, kk, 2 * nc, 1, r, qb, ew, kk, 1, dw + (o0 * d->cin + q0) * kk,
                 kk);
    }
}

/* --- forward ----------------------------------------------------------------- */

gm_status gm__gmconv_fft_forward(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                 void *scratch, const gm_real *x, const gm_real *w,
                                 const gm_real *bias, gm_real *y) {
    const fft_layout l = fft_layout_of(d, s, nthreads, false);
    char *base = scratch;
    const int64_t b = d->batch, ni = d->cin, no = d->cout, n = l.n, nc = l.nc;
    fft_cpx *xf = (fft_cpx *)(base + l.off_x), *yf = (fft_cpx *)(base + l.off_y);
    fft_cpx *wf = (fft_cpx *)(base + l.off_w);
    gm_real *rb0 = (gm_real *)(base + l.off_thr);
    fft_cpx *cb0 = (fft_cpx *)(base + l.off_thr + l.off_tc);

    plan_set ps = {0};
    if (!plan_set_need(&ps, s, nc, false, b * ni, rb0, cb0) ||
        !plan_set_need(&ps, s, nc, true, b * no, rb0, cb0)) {
        plan_set_release(&ps);
        return GM_ERR_UNSUPPORTED;
    }

    characters_of(d, s, &l, base, false);
    forward_planes(&ps, &l, base, nthreads, b * ni, x, xf);
    const gm_real scale = (gm_real)(1.0 / (double)n);
    const int tf = (int)min64(nthreads, nc);
    for (int64_t blk = 0; blk < l.nblk; blk++) {
        const int64_t o0 = blk * l.ob, nob = min64(l.ob, no - o0);
        kernel_spectrum(d, &l, nthreads, base, w, o0, nob, wf);
#pragma omp parallel for num_threads(tf) schedule(static) if (tf > 1)
        for (int64_t f = 0; f < nc; f++)
            cgemm(CblasNoTrans, CblasConjTrans, b, nob, ni, scale, xf + f * b * ni, ni,
                  wf + f * nob * ni, ni, 0, yf + f * b * no + o0, no);
    }
    const int64_t planes = b * no, chunks = cdiv(planes, CHUNK);
    const int tc = (int)min64(nthreads, chunks);
#pragma omp parallel for num_threads(tc) schedule(static) if (tc > 1)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t count = min64(CHUNK, planes - c * CHUNK);
        fft_cpx *cb = thread_cpx(&l, base);
        gm_real *rb = thread_real(&l, base);
        from_freq_major(yf, planes, c * CHUNK, count, nc, cb);
        fft_c2r(ps.p[1][count], cb, rb);
        for (int64_t j = 0; j < count; j++) {
            const gm_real bo = bias ? bias[(c * CHUNK + j) % no] : 0;
            gm_real *row = y + (c * CHUNK + j) * n;
            const gm_real *src = rb + j * n;
            for (int64_t g = 0; g < n; g++) row[g] = src[g] + bo;
        }
    }
    plan_set_release(&ps);
    return GM_OK;
}

/* --- backward ---------------------------------------------------------------- */

gm_status gm__gmconv_fft_backward(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                  void *scratch, const gm_real *x, const gm_real *w,
                                  const gm_real *dy, gm_real *dx, gm_real *dw, gm_real *db) {
    if (!dx && !dw) {
        if (db) gm__bias_grad_add(db, dy, d->batch, d->cout, d->tab.cols, nthreads);
        return GM_OK;
    }
    const fft_layout l = fft_layout_of(d, s, nthreads, true);
    char *base = scratch;
    const int64_t b = d->batch, ni = d->cin, no = d->cout, n = l.n, nc = l.nc;
    const int64_t cols = d->tab.cols;
    fft_cpx *xf = (fft_cpx *)(base + l.off_x), *dyf = (fft_cpx *)(base + l.off_y);
    fft_cpx *dxf = (fft_cpx *)(base + l.off_dx), *wf = (fft_cpx *)(base + l.off_w);
    fft_cpx *cf = wf; /* dW's spectrum, once dx has used the kernel's */
    gm_real *rb0 = (gm_real *)(base + l.off_thr);
    fft_cpx *cb0 = (fft_cpx *)(base + l.off_thr + l.off_tc);

    /* all plans first, so that a failure leaves every gradient untouched */
    plan_set ps = {0};
    bool ok = plan_set_need(&ps, s, nc, false, b * no, rb0, cb0);
    if (ok && dw) ok = plan_set_need(&ps, s, nc, false, b * ni, rb0, cb0);
    if (ok && dx) ok = plan_set_need(&ps, s, nc, true, b * ni, rb0, cb0);
    if (!ok) {
        plan_set_release(&ps);
        return GM_ERR_UNSUPPORTED;
    }

    characters_of(d, s, &l, base, dw != NULL);
    forward_planes(&ps, &l, base, nthreads, b * no, dy, dyf);
    if (dw) forward_planes(&ps, &l, base, nthreads, b * ni, x, xf);
    const gm_real scale = (gm_real)(1.0 / (double)n);
    const int tf = (int)min64(nthreads, nc);
    for (int64_t blk = 0; blk < l.nblk; blk++) {
        const int64_t o0 = blk * l.ob, nob = min64(l.ob, no - o0);
        if (dx) {
            kernel_spectrum(d, &l, nthreads, base, w, o0, nob, wf);
            const gm_real beta = blk == 0 ? 0 : 1;
#pragma omp parallel for num_threads(tf) schedule(static) if (tf > 1)
            for (int64_t f = 0; f < nc; f++)
                cgemm(CblasNoTrans, CblasNoTrans, b, ni, nob, scale, dyf + f * b * no + o0, no,
                      wf + f * nob * ni, ni, beta, dxf + f * b * ni, ni);
        }
        if (dw) {
#pragma omp parallel for num_threads(tf) schedule(static) if (tf > 1)
            for (int64_t f = 0; f < nc; f++)
                cgemm(CblasConjTrans, CblasNoTrans, nob, ni, b, scale, dyf + f * b * no + o0, no,
                      xf + f * b * ni, ni, 0, cf + f * nob * ni, ni);
            dw_readout(d, &l, nthreads, base, cf, o0, nob, dw);
        }
    }
    if (dx) {
        const int64_t planes = b * ni, chunks = cdiv(planes, CHUNK);
        const int tc = (int)min64(nthreads, chunks);
#pragma omp parallel for num_threads(tc) schedule(static) if (tc > 1)
        for (int64_t c = 0; c < chunks; c++) {
            gm_real *rb = thread_real(&l, base);
            fft_cpx *cb = thread_cpx(&l, base);
            const int64_t count = min64(CHUNK, planes - c * CHUNK);
            from_freq_major(dxf, planes, c * CHUNK, count, nc, cb);
            fft_c2r(ps.p[1][count], cb, rb);
            gm_real *out = dx + c * CHUNK * n;
            for (int64_t m = 0; m < count * n; m++) out[m] += rb[m];
        }
    }
    if (db) gm__bias_grad_add(db, dy, b, no, cols, nthreads);
    plan_set_release(&ps);
    return GM_OK;
}
