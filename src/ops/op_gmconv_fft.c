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
 * Planes are transformed in chunks of CHUNK (FFTW's advanced interface, one
 * cached plan per chunk size) into a thread's buffer and copied into that
 * layout, or out of it before the inverse (a transform with a large
 * stride misses the cache on every element). The chunking depends on the
 * problem only, so every value is computed by the same operations whatever
 * the thread count. The transformed kernel is
 * formed a block of output channels at a time, to bound the scratch.
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
/* AUTO: the FFT path runs when its cost, in gather-path flops, is below the
 * gather path's flops, and the gather path has at least FFT_MIN_FLOPS (below
 * that, fixed costs dominate). Measured on 2 cores (Haswell kernels): a
 * 28x28 or 64x64 real transform runs at 6-15 GFLOP/s against 50-70 for the
 * gather path's sgemm, the per-frequency complex GEMMs at about 2/3 of
 * sgemm's rate. So C28xC28 t3 120->120 runs by FFT from batch 4 on (2.5x
 * faster at batch 16, 6x at 64) and stays on the gather path at batch 1,
 * where the O*I kernel transforms cost as much as the whole gather; K = 9
 * at C64xC64 is too few offsets for the FFT to pay. */
#define FFT_TRANSFORM_COST 8.0
#define FFT_GEMM_COST 1.5
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
    return transform_flops(torus_size(s)) * (b * ni + no * ni + b * no);
}

static double fft_gemms(const gm__gmconv_dims *d, const gm__torus *s) {
    return 8.0 * (double)d->batch * (double)d->cout * (double)d->cin * (double)half_size(s);
}

double gm__gmconv_fft_flops(const gm__gmconv_dims *d, const gm__torus *s) {
    return fft_transforms(d, s) + fft_gemms(d, s);
}

/* in gather-path flops */
static double fft_cost(const gm__gmconv_dims *d, const gm__torus *s) {
    return FFT_TRANSFORM_COST * fft_transforms(d, s) + FFT_GEMM_COST * fft_gemms(d, s);
}

bool gm__gmconv_fft_choose(const gm__gmconv_dims *d, gm__torus *s) {
    const gm__fft_mode mode = gm__gmconv_fft_mode();
    if (mode == GM__FFT_NEVER || d->form != GM_CONV_FULL) return false;
    if (d->batch < 1 || d->cin < 1 || d->cout < 1) return false;
    if (d->tab.n_in != d->tab.cols) return false;
    const double gather = 2.0 * (double)d->batch * (double)d->cout * (double)d->cin *
                          (double)d->tab.rows * (double)d->tab.cols;
    if (mode == GM__FFT_AUTO) {
        /* before detecting: the cost on a 1-D torus (the smallest half
         * spectrum) bounds it from below */
        const gm__torus flat = {.rank = 1, .n = {d->tab.cols, 0, 0}};
        if (gather < FFT_MIN_FLOPS || fft_cost(d, &flat) >= gather) return false;
    }
    if (!gm__torus_detect(&d->tab, s)) return false;
    return mode == GM__FFT_ALWAYS || fft_cost(d, s) < gather;
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
    int64_t n, nc;     /* torus size, half-spectrum size */
    int64_t ob, nblk;  /* output channels per kernel block, blocks */
    size_t off_x, off_y, off_dx, off_w, off_c, off_thr, off_tc, per_thread, total;
} fft_layout;

static fft_layout fft_layout_of(const gm__gmconv_dims *d, const gm__torus *s, int nt,
                                bool backward) {
    fft_layout l = {0};
    l.n = torus_size(s);
    l.nc = half_size(s);
    const size_t cz = sizeof(fft_cpx);
    const int64_t b = d->batch, ni = d->cin, no = d->cout;
    const size_t per_o = (size_t)(l.nc * ni) * cz;
    int64_t ob = (int64_t)(WBLOCK_BYTES / per_o);
    if (ob < 1) ob = 1;
    if (ob > no) ob = no;
    l.nblk = cdiv(no, ob);
    l.ob = cdiv(no, l.nblk);
    size_t at = 0;
    l.off_x = at; /* X */
    at += align64((size_t)(l.nc * b * ni) * cz);
    l.off_y = at; /* Y (forward) or DY (backward) */
    at += align64((size_t)(l.nc * b * no) * cz);
    if (backward) {
        l.off_dx = at;
        at += align64((size_t)(l.nc * b * ni) * cz);
    }
    l.off_w = at;
    at += align64((size_t)(l.nc * l.ob * ni) * cz);
    if (backward) {
        l.off_c = at;
        at += align64((size_t)(l.nc * l.ob * ni) * cz);
    }
    /* per thread: CHUNK real planes, then CHUNK half spectra */
    l.off_tc = align64((size_t)(CHUNK * l.n) * sizeof(gm_real));
    l.per_thread = l.off_tc + align64((size_t)(CHUNK * l.nc) * cz);
    l.off_thr = at;
    l.total = at + (size_t)nt * l.per_thread;
    return l;
}

size_t gm__gmconv_fft_scratch_bytes(const gm__gmconv_dims *d, const gm__torus *s, int nthreads,
                                    bool backward) {
    return fft_layout_of(d, s, nthreads, backward).total;
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
 * * I + i, from w~ formed a chunk of planes at a time. */
static void kernel_planes(const gm__gmconv_dims *d, const fft_layout *l, const plan_set *ps,
                          int nt, char *base, const gm_real *w, int64_t o0, int64_t nob,
                          fft_cpx *wf) {
    const int64_t ni = d->cin, kk = d->tab.rows, n = l->n, nc = l->nc, planes = nob * ni;
    const int64_t chunks = cdiv(planes, CHUNK), cols = d->tab.cols;
    const int32_t *t = d->tab.t;
    const int tn = (int)min64(nt, chunks);
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
    for (int64_t c = 0; c < chunks; c++) {
        gm_real *rb = thread_real(l, base);
        fft_cpx *cb = thread_cpx(l, base);
        const int64_t count = min64(CHUNK, planes - c * CHUNK);
        memset(rb, 0, (size_t)(count * n) * sizeof *rb);
        for (int64_t j = 0; j < count; j++) {
            const gm_real *wr = w + (o0 * ni + c * CHUNK + j) * kk;
            gm_real *plane = rb + j * n;
            for (int64_t k = 0; k < kk; k++) plane[t[k * cols]] += wr[k];
        }
        fft_r2c(ps->p[0][count], rb, cb);
        to_freq_major(cb, count, nc, wf, planes, c * CHUNK);
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
    const int64_t last_ob = no - (l.nblk - 1) * l.ob;

    plan_set ps = {0};
    if (!plan_set_need(&ps, s, nc, false, b * ni, rb0, cb0) ||
        !plan_set_need(&ps, s, nc, true, b * no, rb0, cb0) ||
        !plan_set_need(&ps, s, nc, false, l.ob * ni, rb0, cb0) ||
        !plan_set_need(&ps, s, nc, false, last_ob * ni, rb0, cb0)) {
        plan_set_release(&ps);
        return GM_ERR_UNSUPPORTED;
    }

    forward_planes(&ps, &l, base, nthreads, b * ni, x, xf);
    const gm_real scale = (gm_real)(1.0 / (double)n);
    const int tf = (int)min64(nthreads, nc);
    for (int64_t blk = 0; blk < l.nblk; blk++) {
        const int64_t o0 = blk * l.ob, nob = min64(l.ob, no - o0);
        kernel_planes(d, &l, &ps, nthreads, base, w, o0, nob, wf);
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
    const int64_t kk = d->tab.rows, cols = d->tab.cols;
    const int32_t *t = d->tab.t;
    fft_cpx *xf = (fft_cpx *)(base + l.off_x), *dyf = (fft_cpx *)(base + l.off_y);
    fft_cpx *dxf = (fft_cpx *)(base + l.off_dx), *wf = (fft_cpx *)(base + l.off_w);
    fft_cpx *cf = (fft_cpx *)(base + l.off_c);
    gm_real *rb0 = (gm_real *)(base + l.off_thr);
    fft_cpx *cb0 = (fft_cpx *)(base + l.off_thr + l.off_tc);
    const int64_t last_ob = no - (l.nblk - 1) * l.ob;

    /* all plans first, so that a failure leaves every gradient untouched */
    plan_set ps = {0};
    bool ok = plan_set_need(&ps, s, nc, false, b * no, rb0, cb0);
    if (ok && dw) ok = plan_set_need(&ps, s, nc, false, b * ni, rb0, cb0);
    if (ok && dx) ok = plan_set_need(&ps, s, nc, true, b * ni, rb0, cb0);
    for (int q = 0; q < 2 && ok; q++) {
        const int64_t nob = q ? last_ob : l.ob;
        if (dx) ok = plan_set_need(&ps, s, nc, false, nob * ni, rb0, cb0);
        if (ok && dw) ok = plan_set_need(&ps, s, nc, true, nob * ni, rb0, cb0);
    }
    if (!ok) {
        plan_set_release(&ps);
        return GM_ERR_UNSUPPORTED;
    }

    forward_planes(&ps, &l, base, nthreads, b * no, dy, dyf);
    if (dw) forward_planes(&ps, &l, base, nthreads, b * ni, x, xf);
    const gm_real scale = (gm_real)(1.0 / (double)n);
    const int tf = (int)min64(nthreads, nc);
    for (int64_t blk = 0; blk < l.nblk; blk++) {
        const int64_t o0 = blk * l.ob, nob = min64(l.ob, no - o0);
        if (dx) {
            kernel_planes(d, &l, &ps, nthreads, base, w, o0, nob, wf);
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
            /* c = F^-1 C a chunk of planes at a time; dw reads the K shifts */
            const int64_t planes = nob * ni, chunks = cdiv(planes, CHUNK);
            const int tc = (int)min64(nthreads, chunks);
#pragma omp parallel for num_threads(tc) schedule(static) if (tc > 1)
            for (int64_t c = 0; c < chunks; c++) {
                gm_real *rb = thread_real(&l, base);
                fft_cpx *cb = thread_cpx(&l, base);
                const int64_t count = min64(CHUNK, planes - c * CHUNK);
                from_freq_major(cf, planes, c * CHUNK, count, nc, cb);
                fft_c2r(ps.p[1][count], cb, rb);
                for (int64_t j = 0; j < count; j++) {
                    gm_real *dwr = dw + (o0 * ni + c * CHUNK + j) * kk;
                    const gm_real *plane = rb + j * n;
                    for (int64_t k = 0; k < kk; k++) dwr[k] += plane[t[k * cols]];
                }
            }
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
