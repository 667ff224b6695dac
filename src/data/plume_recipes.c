/* The three plume dataset recipes of the reference protocol, running one task, and writing
 * a whole recipe with simulations spread over worker threads and, under an MPI launcher,
 * over the ranks (gmcnn/dist.h). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/dist.h"
#include "gmcnn/plume.h"

#define SIDE GM_PLUME_SIDE
#define MAX_STEPS 1000000

static const char *const recipe_names[3] = {"translation", "rotation", "scale"};
static const int64_t recipe_counts[3] = {35, 36, 38};

/* Held-out (domain test) tasks of the reference protocol. */
static const int held_translation[10][2] = {{32, 20}, {32, 5},  {24, 20}, {16, 25}, {24, 5},
                                            {16, 10}, {40, 20}, {8, 25},  {24, 25}, {40, 10}};
static const int held_rotation[10] = {6, 14, 15, 10, 18, 20, 24, 13, 21, 5};
static const int held_scale[10] = {5, 30, 16, 23, 33, 6, 17, 22, 21, 32};

const char *gm_plume_recipe_name(gm_plume_recipe r) {
    if ((int)r < 0 || (int)r > 2) return "?";
    return recipe_names[r];
}

gm_status gm_plume_recipe_parse(const char *name, gm_plume_recipe *out) {
    GM_RETURN_ERROR_IF(!name || !out, GM_ERR_INVALID_ARG, "plume recipe: NULL argument");
    const char *s = strncmp(name, "plume-", 6) == 0 ? name + 6 : name;
    for (int k = 0; k < 3; k++) {
        if (!strcmp(s, recipe_names[k])) {
            *out = (gm_plume_recipe)k;
            return GM_OK;
        }
    }
    return gm_error_set(GM_ERR_INVALID_ARG,
                        "unknown plume recipe '%s' (expected plume-translation, plume-rotation "
                        "or plume-scale)",
                        name);
}

int64_t gm_plume_recipe_count(gm_plume_recipe r) {
    if ((int)r < 0 || (int)r > 2) return 0;
    return recipe_counts[r];
}

/* The scale factors of numpy.linspace(1, 5, 41): i * step + start, with the
 * step 0.1 as numpy computes it. */
static double scale_factor(int64_t i) {
    const double step = (5.0 - 1.0) / 40.0;
    const double t = (double)i * step;
    return t + 1.0;
}

static gm_plume_setup base_setup(int64_t n) {
    return (gm_plume_setup){.n = n,
                            .inflow_radius = 5,
                            .split_x = (double)n,
                            .dt_smoke = 1,
                            .tol = 1e-5,
                            .max_iterations = 0};
}

gm_status gm_plume_recipe_task(gm_plume_recipe r, int64_t i, gm_plume_task *out) {
    GM_RETURN_ERROR_IF(!out, GM_ERR_INVALID_ARG, "plume recipe task: NULL argument");
    GM_RETURN_ERROR_IF((int)r < 0 || (int)r > 2, GM_ERR_INVALID_ARG,
                       "plume recipe %d is not a recipe", (int)r);
    GM_RETURN_ERROR_IF(i < 0 || i >= recipe_counts[r], GM_ERR_INVALID_ARG,
                       "plume recipe '%s': task %lld outside 0..%lld", recipe_names[r],
                       (long long)i, (long long)recipe_counts[r] - 1);
    gm_plume_task t = {.scale = 1};
    switch (r) {
    case GM_PLUME_TRANSLATION: {
        const int x = 8 + 8 * (int)(i / 5), y = 5 + 5 * (int)(i % 5);
        t.setup = base_setup(SIDE);
        t.setup.inflow_x = x;
        t.setup.inflow_y = y;
        t.setup.buoyancy[0][1] = 0.1;
        t.setup.buoyancy[1][1] = 0.2;
        t.setup.split_x = 32;
        t.setup.dt_velocity = 0.5;
        for (int k = 0; k < 10; k++)
            if (held_translation[k][0] == x && held_translation[k][1] == y) t.held_out = true;
        snprintf(t.label, sizeof t.label, "x=%d,y=%d", x, y);
        break;
    }
    case GM_PLUME_ROTATION: {
        static const double inflow[4][2] = {{32, 5}, {59, 32}, {32, 59}, {5, 32}};
        const int k = (int)i + 1, j = (int)((k - 1) % 4);
        /* k / 100 and 11 k / 1000 are the doubles nearest to k * 0.01 and
         * k * 0.011 (a product with 0.01 is not always). */
        const double b = (double)k / 100.0, b2 = 11.0 * (double)k / 1000.0;
        const double dir[4][2] = {{0, b}, {-b, 0}, {0, -b2}, {b, 0}};
        t.setup = base_setup(SIDE);
        t.setup.inflow_x = inflow[j][0];
        t.setup.inflow_y = inflow[j][1];
        for (int g = 0; g < 2; g++) {
            t.setup.buoyancy[g][0] = dir[j][0];
            t.setup.buoyancy[g][1] = dir[j][1];
        }
        t.setup.dt_velocity = 1;
        t.drop_first = true;
        for (int m = 0; m < 10; m++)
            if (held_rotation[m] == k) t.held_out = true;
        snprintf(t.label, sizeof t.label, "k=%d,j=%d", k, j);
        break;
    }
    case GM_PLUME_SCALE: {
        const double f = scale_factor(i);
        /* Rounded to nearest; 64 f = 64 + 6.4 i never ends in .5 exactly. */
        const int64_t n = (int64_t)floor(64.0 * f + 0.5);
        t.setup = base_setup(n);
        t.setup.inflow_x = 32 * f;
        t.setup.inflow_y = 5 * f;
        t.setup.inflow_radius = 5 * f;
        t.setup.buoyancy[0][1] = t.setup.buoyancy[1][1] = 0.1 * f;
        t.setup.dt_velocity = 0.5;
        t.scale = f;
        t.drop_first = true;
        for (int m = 0; m < 10; m++)
            if (held_scale[m] == (int)i) t.held_out = true;
        snprintf(t.label, sizeof t.label, "i=%d,f=%g", (int)i, f);
        break;
    }
    }
    *out = t;
    return GM_OK;
}

/* ---- one task -------------------------------------------------------------- */

/* Bilinear resampling of n cell centres onto SIDE, cell-centre aligned
 * (output centre I + 0.5 sits at (I + 0.5) n / SIDE in simulation cells),
 * clamped at the edges. */
typedef struct resample_axis {
    int64_t i0[SIDE];
    double t[SIDE];
} resample_axis;

static void resample_axis_init(resample_axis *ax, int64_t n) {
    for (int64_t I = 0; I < SIDE; I++) {
        double x = ((double)I + 0.5) * (double)n / SIDE - 0.5;
        if (x < 0) x = 0;
        if (x > (double)(n - 1)) x = (double)(n - 1);
        int64_t i0 = (int64_t)x;
        if (i0 > n - 2) i0 = n - 2;
        ax->i0[I] = i0;
        ax->t[I] = x - (double)i0;
    }
}

/* One saved frame: the cell-centred velocity resampled to SIDE x SIDE and
 * divided by the scale. `cen` holds 2 n^2 doubles of scratch. */
static void store_frame(const gm_plume_sim *sim, const resample_axis *ax, double scale,
                        double *cen, float *out) {
    const int64_t n = gm_plume_sim_n(sim), nu = n + 1;
    const double *u = gm_plume_sim_u(sim), *v = gm_plume_sim_v(sim);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            cen[j * n + i] = 0.5 * (u[j * nu + i] + u[j * nu + i + 1]);
            cen[n * n + j * n + i] = 0.5 * (v[j * n + i] + v[(j + 1) * n + i]);
        }
    for (int ch = 0; ch < 2; ch++) {
        const double *f = cen + ch * n * n;
        for (int64_t J = 0; J < SIDE; J++) {
            const double ty = ax->t[J];
            const double *r0 = f + ax->i0[J] * n, *r1 = r0 + n;
            for (int64_t I = 0; I < SIDE; I++) {
                const int64_t i0 = ax->i0[I];
                const double tx = ax->t[I];
                const double val = (1 - ty) * ((1 - tx) * r0[i0] + tx * r0[i0 + 1]) +
                                   ty * ((1 - tx) * r1[i0] + tx * r1[i0 + 1]);
                out[(ch * SIDE + J) * SIDE + I] = (float)(val / scale);
            }
        }
    }
}

gm_status gm_plume_run_task(const gm_plume_task *task, int64_t steps, float **frames,
                            int64_t *nframes) {
    GM_RETURN_ERROR_IF(!task || !frames || !nframes, GM_ERR_INVALID_ARG,
                       "gm_plume_run_task: NULL argument");
    *frames = NULL;
    *nframes = 0;
    const int64_t first = task->drop_first ? 1 : 0;
    GM_RETURN_ERROR_IF(steps < first + 1 || steps > MAX_STEPS, GM_ERR_INVALID_ARG,
                       "plume task '%s': steps %lld outside %lld..%d", task->label,
                       (long long)steps, (long long)first + 1, MAX_STEPS);
    GM_RETURN_ERROR_IF(!(task->scale > 0 && isfinite(task->scale)), GM_ERR_INVALID_ARG,
                       "plume task '%s': scale %g is not a positive number", task->label,
                       task->scale);
    gm_plume_sim *sim = NULL;
    GM_FORWARD_IF_ERROR(gm_plume_sim_new(&task->setup, &sim));
    const int64_t n = task->setup.n, count = steps - first;
    const int64_t frame_len = 2 * SIDE * SIDE;
    float *out = gm_malloc_array((size_t)count, (size_t)frame_len * sizeof(float));
    double *cen = gm_malloc_array((size_t)(2 * n * n), sizeof(double));
    gm_status st = out && cen ? GM_OK : gm__nomem("plume frames");
    resample_axis ax;
    resample_axis_init(&ax, n);
    for (int64_t k = 0; k < steps && st == GM_OK; k++) {
        st = gm_plume_sim_step(sim);
        if (st == GM_OK && k >= first)
            store_frame(sim, &ax, task->scale, cen, out + (k - first) * frame_len);
    }
    gm_free(cen);
    gm_plume_sim_free(sim);
    if (st != GM_OK) {
        gm_free(out);
        return st;
    }
    *frames = out;
    *nframes = count;
    return GM_OK;
}

/* ---- a whole recipe -------------------------------------------------------- */

typedef struct gen_result {
    gm_status status;
    double seconds;
    char message[512];
} gen_result;

typedef struct gen_job {
    gm_plume_recipe recipe;
    const char *dir;
    int64_t steps, total;
    int64_t count;  /* this rank's tasks: order[0 .. count) */
    int64_t *order; /* hand-out order: the largest simulations first */
    atomic_llong next;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t *queue; /* finished task indices, in completion order (under mu) */
    int64_t qtail;
    int running; /* workers alive (under mu) */
    gen_result *res;
} gen_job;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sim_file(char *buf, size_t cap, const char *dir, int64_t i) {
    snprintf(buf, cap, "%s/sim_%03lld.npy", dir, (long long)i);
}

static gm_status gen_one(const gen_job *J, int64_t i) {
    gm_plume_task task;
    GM_FORWARD_IF_ERROR(gm_plume_recipe_task(J->recipe, i, &task));
    float *frames = NULL;
    int64_t nframes = 0;
    GM_FORWARD_IF_ERROR(gm_plume_run_task(&task, J->steps, &frames, &nframes));
    char path[4096];
    sim_file(path, sizeof path, J->dir, i);
    const gm_array a = {.dtype = GM_DTYPE_F32, .ndim = 4,
                        .shape = {nframes, 2, SIDE, SIDE}, .data = frames};
    gm_status st = gm_npy_write(path, &a);
    gm_free(frames);
    return st;
}

static void *gen_worker(void *arg) {
    gen_job *J = arg;
    for (;;) {
        if (atomic_load(&J->stop)) break;
        const long long k = atomic_fetch_add(&J->next, 1);
        if (k >= J->count) break;
        const int64_t i = J->order[k];
        const double t0 = now_seconds();
        const gm_status st = gen_one(J, i);
        gen_result *r = &J->res[i];
        r->seconds = now_seconds() - t0;
        r->status = st;
        if (st != GM_OK) {
            snprintf(r->message, sizeof r->message, "%s", gm_error_detail());
            atomic_store(&J->stop, true);
        }
        pthread_mutex_lock(&J->mu);
        J->queue[J->qtail++] = i;
        pthread_cond_signal(&J->cv);
        pthread_mutex_unlock(&J->mu);
    }
    pthread_mutex_lock(&J->mu);
    J->running--;
    pthread_cond_signal(&J->cv);
    pthread_mutex_unlock(&J->mu);
    return NULL;
}

/* mkdir -p. */
static gm_status make_dirs(const char *dir) {
    const size_t len = strlen(dir);
    char *buf = gm_malloc(len + 1);
    if (!buf) return gm__nomem("plume output directory");
    memcpy(buf, dir, len + 1);
    gm_status st = GM_OK;
    for (size_t k = 1; k <= len && st == GM_OK; k++) {
        if (buf[k] != '/' && buf[k] != '\0') continue;
        const char keep = buf[k];
        buf[k] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            st = gm_error_set(GM_ERR_IO, "plume output directory '%s': cannot create '%s': %s",
                              dir, buf, strerror(errno));
        buf[k] = keep;
    }
    gm_free(buf);
    struct stat sb;
    if (st == GM_OK && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        st = gm_error_set(GM_ERR_IO, "plume output directory '%s' is not a directory", dir);
    return st;
}

/* The text of manifest.json, in a buffer sized for it. */
typedef struct manifest {
    char *text;
    size_t len, cap;
} manifest;

static void mf_put(manifest *m, const char *fmt, ...) GM_PRINTF(2, 3);

static void mf_put(manifest *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(m->text + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    GM_ASSERT(n >= 0 && (size_t)n < m->cap - m->len);
    m->len += (size_t)n;
}

/* null for NaN and infinities, else the shorter of %.15g and %.17g that
 * reads back as v up to a relative DBL_EPSILON (0.1 * 3 prints as 0.3, 1e15
 * as 1e+15). */
static void mf_number(manifest *m, double v) {
    char buf[32] = "null";
    if (isfinite(v)) {
        snprintf(buf, sizeof buf, "%1.15g", v);
        double back = 0;
        if (sscanf(buf, "%lg", &back) != 1 ||
            !(fabs(back - v) <= fmax(fabs(back), fabs(v)) * DBL_EPSILON))
            snprintf(buf, sizeof buf, "%1.17g", v);
    }
    mf_put(m, "%s", buf);
}

static void mf_pair(manifest *m, double a, double b) {
    mf_put(m, "[");
    mf_number(m, a);
    mf_put(m, ", ");
    mf_number(m, b);
    mf_put(m, "]");
}

/* A member of a simulation's object: "\t\t\t\"key\":\t<v>,\n". */
static void mf_member(manifest *m, const char *key, double v) {
    mf_put(m, "\t\t\t\"%s\":\t", key);
    mf_number(m, v);
    mf_put(m, ",\n");
}

/* manifest.json: the recipe and one object per simulation, a member a line,
 * indented with tabs. File names and labels are the recipe's own and need no
 * escapes. */
static gm_status write_manifest(const gen_job *J) {
    manifest m = {.cap = (size_t)(J->total + 1) * 1024};
    m.text = gm_malloc(m.cap);
    if (!m.text) return gm__nomem("plume manifest");
    const int64_t first = J->recipe == GM_PLUME_TRANSLATION ? 0 : 1;
    mf_put(&m, "{\n\t\"format\":\t\"gmcnn-plume\",\n\t\"version\":\t1,\n");
    mf_put(&m, "\t\"recipe\":\t\"%s\",\n\t\"steps\":\t", recipe_names[J->recipe]);
    mf_number(&m, (double)J->steps);
    mf_put(&m, ",\n\t\"frames\":\t");
    mf_number(&m, (double)(J->steps - first));
    mf_put(&m, ",\n\t\"height\":\t%d,\n\t\"width\":\t%d,\n\t\"sims\":\t[", SIDE, SIDE);
    for (int64_t i = 0; i < J->total; i++) {
        gm_plume_task t;
        if (gm_plume_recipe_task(J->recipe, i, &t) != GM_OK) GM_ASSERT(0);
        for (const char *c = t.label; *c; c++) GM_ASSERT(*c >= 0x20 && *c != '"' && *c != '\\');
        mf_put(&m, "%s{\n\t\t\t\"file\":\t\"sim_%03lld.npy\",\n", i ? ", " : "", (long long)i);
        mf_put(&m, "\t\t\t\"label\":\t\"%s\",\n", t.label);
        mf_put(&m, "\t\t\t\"held_out\":\t%s,\n\t\t\t\"inflow\":\t", t.held_out ? "true" : "false");
        mf_pair(&m, t.setup.inflow_x, t.setup.inflow_y);
        mf_put(&m, ",\n");
        mf_member(&m, "radius", t.setup.inflow_radius);
        mf_put(&m, "\t\t\t\"buoyancy\":\t[");
        mf_pair(&m, t.setup.buoyancy[0][0], t.setup.buoyancy[0][1]);
        mf_put(&m, ", ");
        mf_pair(&m, t.setup.buoyancy[1][0], t.setup.buoyancy[1][1]);
        mf_put(&m, "],\n");
        mf_member(&m, "split_x", t.setup.split_x);
        mf_member(&m, "dt_velocity", t.setup.dt_velocity);
        mf_member(&m, "scale", t.scale);
        mf_member(&m, "resolution", (double)t.setup.n);
        mf_put(&m, "\t\t\t\"seconds\":\t");
        mf_number(&m, round(J->res[i].seconds * 1000) / 1000);
        mf_put(&m, "\n\t\t}");
    }
    mf_put(&m, "]\n}\n");
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", J->dir);
    const gm_status st = gm__data_write_text_atomic("manifest", "manifest file", path, m.text,
                                                      strlen(m.text));
    gm_free(m.text);
    return st;
}

static gm_status run_workers(gen_job *J, int threads, gm_plume_progress_fn progress,
                             void *user) {
    pthread_t *tid = gm_calloc((size_t)threads, sizeof(pthread_t));
    if (!tid) return gm__nomem("plume worker threads");
    int started = 0;
    pthread_mutex_lock(&J->mu);
    for (int t = 0; t < threads; t++) {
        J->running++;
        if (pthread_create(&tid[started], NULL, gen_worker, J) != 0) {
            J->running--;
            break;
        }
        started++;
    }
    int64_t seen = 0, done = 0;
    while (started > 0 && (J->running > 0 || seen < J->qtail)) {
        while (seen < J->qtail) {
            const int64_t i = J->queue[seen++];
            if (J->res[i].status != GM_OK || !progress) continue;
            done++;
            pthread_mutex_unlock(&J->mu);
            gm_plume_task task;
            if (gm_plume_recipe_task(J->recipe, i, &task) == GM_OK)
                progress(done, J->count, &task, J->res[i].seconds, user);
            pthread_mutex_lock(&J->mu);
        }
        if (J->running > 0 && seen == J->qtail) {
            if (gm_dist_size() == 1) {
                pthread_cond_wait(&J->cv, &J->mu);
                continue;
            }
            /* Under a launcher: tell the other ranks of a failure here, and
             * stop starting simulations on a failure there (gmcnn/dist.h). */
            for (int64_t k = 0; k < J->qtail; k++)
                if (J->res[J->queue[k]].status != GM_OK) gm_dist_notice_raise();
            if (gm_dist_notice_seen()) atomic_store(&J->stop, true);
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000 * 1000;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&J->cv, &J->mu, &until);
        }
    }
    pthread_mutex_unlock(&J->mu);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    gm_free(tid);
    GM_RETURN_ERROR_IF(started == 0, GM_ERR_NOMEM, "plume generation: cannot start a thread");
    /* The failure of the lowest task index, whatever the completion order. */
    for (int64_t i = 0; i < J->total; i++)
        if (J->res[i].status != GM_OK) return gm_error_set(J->res[i].status, "%s", J->res[i].message);
    return GM_OK;
}

/* The arguments of gm_plume_generate, checked alike on every rank. */
static gm_status check_args(gm_plume_recipe r, const char *dir, int64_t steps, int threads) {
    GM_RETURN_ERROR_IF(!dir || !*dir, GM_ERR_INVALID_ARG, "gm_plume_generate: no directory");
    GM_RETURN_ERROR_IF((int)r < 0 || (int)r > 2, GM_ERR_INVALID_ARG,
                       "gm_plume_generate: recipe %d is not a recipe", (int)r);
    const int64_t first = r == GM_PLUME_TRANSLATION ? 0 : 1;
    GM_RETURN_ERROR_IF(steps < first + 1 || steps > MAX_STEPS, GM_ERR_INVALID_ARG,
                       "plume recipe '%s': steps %lld outside %lld..%d", recipe_names[r],
                       (long long)steps, (long long)first + 1, MAX_STEPS);
    GM_RETURN_ERROR_IF(threads < 0, GM_ERR_INVALID_ARG, "plume generation: threads %d is negative",
                       threads);
    return GM_OK;
}

/* This rank's simulations, on its threads: the recipe's tasks sorted largest grid first
 * (stable), dealt out round-robin over the ranks (one process: all of them). */
static gm_status run_local(gen_job *J, int threads, gm_plume_progress_fn progress, void *user) {
    const int64_t total = J->total;
    J->order = gm_calloc((size_t)total, sizeof(int64_t));
    J->queue = gm_calloc((size_t)total, sizeof(int64_t));
    J->res = gm_calloc((size_t)total, sizeof(gen_result));
    if (!J->order || !J->queue || !J->res) return gm__nomem("plume generation");
    int64_t size[64];
    for (int64_t i = 0; i < total; i++) {
        gm_plume_task t;
        if (gm_plume_recipe_task(J->recipe, i, &t) != GM_OK) GM_ASSERT(0);
        size[i] = t.setup.n;
        int64_t k = i;
        while (k > 0 && size[J->order[k - 1]] < size[i]) {
            J->order[k] = J->order[k - 1];
            k--;
        }
        J->order[k] = i;
    }
    const int rank = gm_dist_rank(), nranks = gm_dist_size();
    J->count = 0;
    for (int64_t k = 0; k < total; k++)
        if (k % nranks == rank) J->order[J->count++] = J->order[k];
    if (J->count == 0) return GM_OK; /* more ranks than simulations */
    if (threads > J->count) threads = (int)J->count;
    atomic_init(&J->next, 0);
    atomic_init(&J->stop, false);
    pthread_mutex_init(&J->mu, NULL);
    pthread_cond_init(&J->cv, NULL);
    const gm_status st = run_workers(J, threads, progress, user);
    pthread_cond_destroy(&J->cv);
    pthread_mutex_destroy(&J->mu);
    return st;
}

gm_status gm_plume_generate(gm_plume_recipe r, const char *dir, int64_t steps, int threads,
                            gm_plume_progress_fn progress, void *user) {
    /* Under a launcher every step below is reached by every rank, and each of
     * them may fail on one rank alone: the ranks agree on the outcome before
     * the manifest and after it (gm_dist_agree). */
    gm_status st = check_args(r, dir, steps, threads);
    if (st == GM_OK && threads == 0) {
        const long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int)(cores < 1024 ? cores : 1024) : 1;
    }
    gen_job J = {.recipe = r, .dir = dir, .steps = steps};
    if (st == GM_OK) {
        J.total = recipe_counts[r];
        st = make_dirs(dir);
    }
    /* a failure on one rank stops the others' next simulations */
    const gm_status nst = gm_dist_notice_open(); /* collective: every rank, whatever st */
    if (st == GM_OK) st = nst;
    if (st != GM_OK) gm_dist_notice_raise();
    if (st == GM_OK) st = run_local(&J, threads, progress, user);
    if (st != GM_OK) gm_dist_notice_raise();
    gm_dist_notice_close();
    st = gm_dist_agree(st);
    if (st == GM_OK && gm_dist_size() > 1) {
        /* every simulation's seconds, from the rank that ran it, for rank 0's manifest */
        double seconds[64] = {0};
        for (int64_t k = 0; k < J.count; k++) seconds[J.order[k]] = J.res[J.order[k]].seconds;
        st = gm_dist_allreduce_sum_f64(seconds, J.total);
        for (int64_t i = 0; i < J.total && st == GM_OK; i++) J.res[i].seconds = seconds[i];
        if (st == GM_OK) st = gm_dist_agree(gm_dist_rank() == 0 ? write_manifest(&J) : GM_OK);
    } else if (st == GM_OK) {
        st = write_manifest(&J);
    }
    gm_free(J.order);
    gm_free(J.queue);
    gm_free(J.res);
    return st;
}
