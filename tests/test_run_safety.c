/* A training run's output directory under stress: one run at a time (the
 * lock), outputs never written over inputs, checkpoint metadata checked
 * before it is trusted, and runs killed with SIGKILL at every point of an
 * epoch's writes resuming to the parameters and metrics of an uninterrupted
 * run. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

/* 40 random 6x6 images in 3 classes (train and test alike) and a config
 * training a C6xC6 GM-CNN on them for `epochs` epochs into dir/run. */
static void write_data(const char *dir) {
    unsigned char px[40 * 36], lab[40];
    gm_rng rng;
    gm_rng_seed(&rng, 11, 1);
    for (int i = 0; i < 40 * 36; i++) px[i] = (unsigned char)(256 * gm_rng_uniform(&rng));
    for (int i = 0; i < 40; i++) lab[i] = (unsigned char)(i % 3);
    gm_array a = {.dtype = GM_DTYPE_U8, .ndim = 3, .shape = {40, 6, 6}, .data = px};
    gm_array l = {.dtype = GM_DTYPE_U8, .ndim = 1, .shape = {40}, .data = lab};
    char path[512];
    snprintf(path, sizeof path, "%s/img.idx", dir);
    OK(gm_idx_write(path, &a, false));
    snprintf(path, sizeof path, "%s/lab.idx", dir);
    OK(gm_idx_write(path, &l, false));
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static const char tiny_yaml[] =
    "# a tiny run\n"
    "seed: 3\n"
    "model: {kind: gmcnn, spec: C6xC6, nbr: 1, num_classes: 3,\n"
    "        blocks: [{num_layers: 1, out_channels: 4}]}\n"
    "data: {source: idx, images: img.idx, labels: lab.idx, test_images: img.idx,\n"
    "       test_labels: lab.idx, batch_size: 8, normalize: true}\n"
    "optimizer: {kind: adam, lr: 0.01}\n"
    "trainer: {max_epochs: 4}\n"
    "output: {dir: run}\n";

/* tiny_yaml as a file in run/ names the same data and the same run. */
static const char run_yaml[] =
    "# a tiny run\n"
    "seed: 3\n"
    "model: {kind: gmcnn, spec: C6xC6, nbr: 1, num_classes: 3,\n"
    "        blocks: [{num_layers: 1, out_channels: 4}]}\n"
    "data: {source: idx, images: ../img.idx, labels: ../lab.idx, test_images: ../img.idx,\n"
    "       test_labels: ../lab.idx, batch_size: 8, normalize: true}\n"
    "optimizer: {kind: adam, lr: 0.01}\n"
    "trainer: {max_epochs: 4}\n"
    "output: {dir: run}\n";

static const char *setup_dir(void) {
    const char *dir = ts_temp_dir();
    write_data(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    write_text(path, tiny_yaml);
    return dir;
}

/* gmcnn ARGS in dir, run through an optional wrapper command (env, prlimit): its stderr;
 * *rc is the exit status, 128 + N for a process killed by signal N. */
static char *cli_in(const char *dir, const char *env, const char *args, int *rc) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "(cd '%s' && exec %s '%s' %s) 2>&1 >/dev/null; echo \"exit=$?\"",
             dir, env ? env : "", GM_CLI_PATH, args);
    int shell_rc;
    char *out = ts_run(cmd, &shell_rc);
    cr_assert_eq(shell_rc, 0, "%s", out);
    char *e = strstr(out, "exit=");
    while (e && strstr(e + 1, "exit=")) e = strstr(e + 1, "exit=");
    cr_assert_not_null(e, "%s", out);
    *rc = atoi(e + 5);
    *e = '\0';
    return out;
}

/* gmcnn ARGS in dir that must succeed. */
static void cli_ok(const char *dir, const char *env, const char *args) {
    int rc;
    char *out = cli_in(dir, env, args, &rc);
    cr_assert_eq(rc, 0, "gmcnn %s: exit %d: %s", args, rc, out);
    gm_free(out);
}

static char *path_in(const char *dir, const char *name) {
    static char p[4][512];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, 512, "%s/%s", dir, name);
    return s;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- the lock ------------------------------------------------------------ */

Test(run_safety, a_locked_output_directory_refuses_a_second_run) {
    const char *dir = setup_dir();
    const char *run = path_in(dir, "run");
    cr_assert_eq(mkdir(run, 0777), 0);
    int lock = -1, rc;
    OK(gm_output_dir_lock(run, &lock));
    int again = -1; /* an flock belongs to the open file: a second open conflicts */
    cr_assert_eq(gm_output_dir_lock(run, &again), GM_ERR_BUSY);
    cr_assert_eq(again, -1);
    char *out = cli_in(dir, NULL, "train tiny.yaml --quiet --threads 1", &rc);
    cr_assert_eq(rc, 1, "%s", out);
    char want[64];
    snprintf(want, sizeof want, "is in use by another run (process %ld)", (long)getpid());
    ts_expect_one_line_error(out, want);
    cr_assert(!exists(path_in(dir, "run/config.yaml")), "nothing written under another's lock");
    gm_free(out);
    gm_output_dir_unlock(lock);
    cli_ok(dir, NULL, "train tiny.yaml --quiet --threads 1");
    ts_rmtree(dir);
}

Test(run_safety, two_runs_at_once_into_one_directory_one_wins) {
    const char *dir = setup_dir();
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && for i in 1 2; do ('%s' train tiny.yaml --set trainer.max_epochs=600 "
             "--quiet --threads 1 > out$i 2>&1; echo $? > rc$i) & done; wait",
             dir, GM_CLI_PATH);
    int rc;
    gm_free(ts_run(cmd, &rc));
    cr_assert_eq(rc, 0);
    int ok = 0, busy = 0;
    for (int i = 1; i <= 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "rc%d", i);
        char *r = ts_read_file(path_in(dir, name));
        snprintf(name, sizeof name, "out%d", i);
        char *o = ts_read_file(path_in(dir, name));
        if (atoi(r) == 0) ok++;
        if (atoi(r) == 1 && strstr(o, "is in use by another run (process ")) busy++;
        gm_free(r);
        gm_free(o);
    }
    cr_assert_eq(ok, 1, "one run trains");
    cr_assert_eq(busy, 1, "the other is refused");
    int64_t n = 0;
    gm_epoch_record *recs = NULL;
    OK(gm_metrics_jsonl_read(path_in(dir, "run/metrics.jsonl"), &n, &recs));
    cr_assert_eq(n, 600);
    for (int64_t i = 0; i < n; i++) cr_assert_eq(recs[i].epoch, i + 1);
    gm_free(recs);
    ts_rmtree(dir);
}

/* ---- outputs over inputs ------------------------------------------------- */

Test(run_safety, outputs_never_overwrite_inputs) {
    const char *dir = setup_dir();
    int rc;
    char *out = NULL;
    cli_ok(dir, NULL, "train tiny.yaml --quiet --threads 1");

    /* plot onto its own input */
    char *before = ts_read_file(path_in(dir, "run/metrics.jsonl"));
    out = cli_in(dir, NULL, "plot run/metrics.jsonl --out ./run/../run/metrics.jsonl", &rc);
    cr_assert_eq(rc, 2, "%s", out);
    ts_expect_one_line_error(out, "is the metrics file itself");
    char *after = ts_read_file(path_in(dir, "run/metrics.jsonl"));
    cr_assert_str_eq(before, after);
    gm_free(out);
    gm_free(before);
    gm_free(after);

    /* the run's own config.yaml: kept as written (comments and all); its
     * relative paths are taken from its own directory */
    write_text(path_in(dir, "run/config.yaml"), run_yaml);
    cli_ok(dir, NULL, "train run/config.yaml --quiet --threads 1");
    after = ts_read_file(path_in(dir, "run/config.yaml"));
    cr_assert_str_eq(after, run_yaml);
    gm_free(after);
    out = cli_in(dir, NULL, "train run/config.yaml --set trainer.max_epochs=2 --quiet", &rc);
    cr_assert_eq(rc, 1, "%s", out);
    ts_expect_one_line_error(out, "is the config.yaml of its output directory");
    gm_free(out);
    after = ts_read_file(path_in(dir, "run/config.yaml"));
    cr_assert_str_eq(after, run_yaml);
    gm_free(after);

    /* a data file that is one of the run's outputs */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp '%s/lab.idx' '%s/run/metrics.csv'", dir, dir);
    cr_assert_eq(system(cmd), 0);
    out = cli_in(dir, NULL,
                 "train tiny.yaml --set data.labels=run/metrics.csv --quiet --threads 1", &rc);
    cr_assert_eq(rc, 1, "%s", out);
    ts_expect_one_line_error(out, "data file 'run/metrics.csv' is the metrics.csv this run "
                                  "writes");
    gm_free(out);
    ts_rmtree(dir);
}

/* A config's data paths are its directory's: it runs from anywhere, and its
 * run writes them absolute, so the run's config.yaml runs from anywhere too. */
Test(run_safety, a_config_runs_from_another_directory) {
    const char *dir = setup_dir();
    char elsewhere[600];
    snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", dir);
    cr_assert_eq(mkdir(elsewhere, 0700), 0);
    cli_ok(elsewhere, NULL, "train ../tiny.yaml --set trainer.max_epochs=1 --quiet --threads 1");
    cr_assert(exists(path_in(dir, "elsewhere/run/results.json")));
    cli_ok(dir, NULL, "train elsewhere/run/config.yaml --set output.dir=run2 --quiet");
    cr_assert(exists(path_in(dir, "run2/results.json")));
    ts_rmtree(dir);
}

/* A run that fails before training (here: its data) writes no config.yaml. */
Test(run_safety, a_run_failing_on_its_data_leaves_no_config_behind) {
    const char *dir = setup_dir();
    int rc;
    char *out = cli_in(dir, NULL, "train tiny.yaml --set data.images=missing.idx --quiet", &rc);
    cr_assert_eq(rc, 1, "%s", out);
    ts_expect_one_line_error(out, "missing.idx");
    gm_free(out);
    cr_assert(!exists(path_in(dir, "run/config.yaml")));
    ts_rmtree(dir);
}

/* ---- checkpoint metadata ------------------------------------------------- */

/* Rewrites a safetensors file with one metadata value replaced (key may be
 * NULL; value NULL drops the key) and, when reshape is set, the first 1-D optimizer tensor of even
 * length n stored as [2, n/2]. */
static void rewrite(const char *path, const char *key, const char *value, bool reshape) {
    gm_safetensors *sf = NULL;
    OK(gm_safetensors_read(path, &sf));
    const int64_t n = gm_safetensors_count(sf), nm = gm_safetensors_meta_count(sf);
    gm_st_entry *e = calloc((size_t)n, sizeof *e);
    const char **k = calloc((size_t)nm, sizeof *k), **v = calloc((size_t)nm, sizeof *v);
    bool reshaped = false;
    for (int64_t i = 0; i < n; i++) {
        e[i] = *gm_safetensors_entry(sf, i);
        e[i].name = gm_safetensors_name(sf, i);
        if (reshape && !reshaped && !strncmp(e[i].name, GM_ST_OPTIM_PREFIX,
                                             strlen(GM_ST_OPTIM_PREFIX)) &&
            !strstr(e[i].name, "best.") && e[i].ndim == 1 && e[i].shape[0] % 2 == 0 &&
            e[i].shape[0] > 2) {
            e[i].ndim = 2;
            e[i].shape[1] = e[i].shape[0] / 2;
            e[i].shape[0] = 2;
            reshaped = true;
        }
    }
    cr_assert(!reshape || reshaped, "an optimizer tensor to reshape");
    int64_t kept = 0;
    for (int64_t i = 0; i < nm; i++) {
        cr_assert(gm_safetensors_meta_at(sf, i, &k[kept], &v[kept]));
        if (key && !strcmp(k[kept], key)) {
            if (!value) continue;
            v[kept] = value;
        }
        kept++;
    }
    OK(gm_safetensors_write(path, n, e, kept, k, v));
    free(e);
    free(k);
    free(v);
    gm_safetensors_free(sf);
}

Test(run_safety, checkpoint_metadata_is_checked_before_it_is_trusted) {
    const char *dir = setup_dir();
    int rc;
    char *out = NULL;
    cli_ok(dir, NULL, "train tiny.yaml --quiet --threads 1");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp '%s/run/last.safetensors' '%s/good.safetensors'", dir, dir);
    cr_assert_eq(system(cmd), 0);
    const struct {
        const char *key, *value;
        bool reshape;
        const char *needle;
    } cases[] = {
        {"gmcnn.train.epoch", "99999999999999999999", false,
         "metadata \"gmcnn.train.epoch\" = \"99999999999999999999\" is not an integer in "
         "0..1000000000"},
        {"gmcnn.train.epoch", "-1", false, "\"gmcnn.train.epoch\" = \"-1\" is not an integer"},
        {"gmcnn.train.best_epoch", "5", false,
         "\"gmcnn.train.best_epoch\" = \"5\" is not an integer in 1..4"},
        {"gmcnn.train.have_best", "2", false, "\"gmcnn.train.have_best\" = \"2\""},
        {"gmcnn.train.sched.lr", "nan", false,
         "metadata \"gmcnn.train.sched.lr\" = \"nan\" is not a finite number >= 0"},
        {"gmcnn.train.sched.base_lr", "-1", false, "\"gmcnn.train.sched.base_lr\""},
        {"gmcnn.train.history", "{\"epoch\":1}", false, "\"gmcnn.train.history\""},
        {NULL, NULL, true, ", expected "},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(cmd, sizeof cmd, "cp '%s/good.safetensors' '%s/bad.safetensors'", dir, dir);
        cr_assert_eq(system(cmd), 0);
        rewrite(path_in(dir, "bad.safetensors"), cases[c].key, cases[c].value, cases[c].reshape);
        out = cli_in(dir, NULL,
                     "train tiny.yaml --set trainer.max_epochs=6 --quiet --threads 1 --resume "
                     "bad.safetensors", &rc);
        cr_assert_eq(rc, 1, "case %zu: %s", c, out);
        ts_expect_one_line_error(out, "checkpoint 'bad.safetensors'");
        ts_expect_contains(out, cases[c].needle);
        gm_free(out);
    }
    ts_rmtree(dir);
}

/* ---- crash consistency --------------------------------------------------- */

static void expect_same_tensors(const char *a, const char *b, const char *what) {
    gm_safetensors *sa = NULL, *sb = NULL;
    OK(gm_safetensors_read(a, &sa));
    OK(gm_safetensors_read(b, &sb));
    const int64_t n = gm_safetensors_count(sa);
    cr_assert_eq(n, gm_safetensors_count(sb), "%s: tensor count", what);
    for (int64_t i = 0; i < n; i++) {
        const char *name = gm_safetensors_name(sa, i);
        const int64_t j = gm_safetensors_find(sb, name);
        cr_assert(j >= 0, "%s: %s missing", what, name);
        const gm_st_entry *ea = gm_safetensors_entry(sa, i), *eb = gm_safetensors_entry(sb, j);
        const int64_t numel = gm_st_entry_numel(ea);
        cr_assert_eq(numel, gm_st_entry_numel(eb));
        cr_assert(!memcmp(ea->data, eb->data, (size_t)numel * gm_dtype_size(ea->dtype)),
                  "%s: tensor %s differs", what, name);
    }
    const int64_t nm = gm_safetensors_meta_count(sa);
    cr_assert_eq(nm, gm_safetensors_meta_count(sb), "%s: metadata count", what);
    for (int64_t i = 0; i < nm; i++) {
        const char *k, *v;
        cr_assert(gm_safetensors_meta_at(sa, i, &k, &v));
        if (!strcmp(k, "gmcnn.train.history")) continue; /* holds wall-clock seconds */
        const char *w = gm_safetensors_meta_get(sb, k);
        cr_assert(w && !strcmp(v, w), "%s: metadata %s: %s vs %s", what, k, v, w ? w : "-");
    }
    gm_safetensors_free(sa);
    gm_safetensors_free(sb);
}

/* Same records but for the wall-clock columns. */
static void expect_same_metrics(const char *a, const char *b, const char *what) {
    int64_t na = 0, nb = 0;
    gm_epoch_record *ra = NULL, *rb = NULL;
    OK(gm_metrics_jsonl_read(a, &na, &ra));
    OK(gm_metrics_jsonl_read(b, &nb, &rb));
    cr_assert_eq(na, nb, "%s: %lld vs %lld epochs", what, (long long)na, (long long)nb);
    for (int64_t i = 0; i < na; i++) {
        cr_assert_eq(ra[i].epoch, rb[i].epoch, "%s", what);
        cr_assert_eq(ra[i].lr, rb[i].lr, "%s", what);
        cr_assert_eq(ra[i].train_loss, rb[i].train_loss, "%s epoch %lld", what,
                     (long long)ra[i].epoch);
        cr_assert_eq(ra[i].train_accuracy, rb[i].train_accuracy, "%s", what);
        cr_assert_eq(ra[i].val_loss, rb[i].val_loss, "%s", what);
        cr_assert_eq(ra[i].val_accuracy, rb[i].val_accuracy, "%s", what);
        cr_assert_eq(ra[i].best, rb[i].best, "%s", what);
    }
    gm_free(ra);
    gm_free(rb);
}

/* The CSV: same lines once the seconds and samples/s columns are cut. */
static void cut_timing(char *csv) {
    char *w = csv;
    for (char *line = csv; *line;) {
        char *nl = strchr(line, '\n');
        const size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        int field = 0;
        for (size_t i = 0; i < len; i++) {
            if (line[i] == ',') field++;
            if ((field == 6 || field == 7) && line[i] != ',') continue;
            if ((field == 7 || field == 8) && line[i] == ',') continue;
            *w++ = line[i];
        }
        line += len;
    }
    *w = '\0';
}

static void expect_same_run(const char *ref, const char *dir, const char *what) {
    char a[512], b[512];
    const char *bin[] = {"last.safetensors", "best.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", ref, bin[i]);
        snprintf(b, sizeof b, "%s/%s", dir, bin[i]);
        expect_same_tensors(a, b, what);
    }
    snprintf(a, sizeof a, "%s/metrics.jsonl", ref);
    snprintf(b, sizeof b, "%s/metrics.jsonl", dir);
    expect_same_metrics(a, b, what);
    snprintf(a, sizeof a, "%s/metrics.csv", ref);
    snprintf(b, sizeof b, "%s/metrics.csv", dir);
    char *ca = ts_read_file(a), *cb = ts_read_file(b);
    cut_timing(ca);
    cut_timing(cb);
    cr_assert_str_eq(ca, cb, "%s: metrics.csv", what);
    gm_free(ca);
    gm_free(cb);
    snprintf(a, sizeof a, "%s/*.tmp.*", dir);
    glob_t g;
    cr_assert_eq(glob(a, 0, NULL, &g), GLOB_NOMATCH, "%s: a temporary is left: %s", what,
                 g.gl_pathc ? g.gl_pathv[0] : "");
}

/* 32 training images in batches of 8: 4 steps an epoch; 4 epochs. Each
 * point is hit in the second or third epoch, after the first checkpoint. */
Test(run_safety, killed_at_any_point_of_an_epoch_resumes_to_the_same_run, .timeout = 300) {
    const char *dir = setup_dir();
    int rc;
    char *out = NULL;
    cli_ok(dir, NULL, "train tiny.yaml --set output.dir=ref --quiet --threads 1");
    const char *points[] = {"train.step:6",        /* during a step of epoch 2 */
                            "safetensors.rename:3", /* inside epoch 2's checkpoint write */
                            "train.checkpoint:2",   /* between checkpoint and best model */
                            "train.best:3",         /* between best model and metrics */
                            "metrics.jsonl:2",      /* between the two metric logs */
                            "train.checkpoint:4"};  /* after the last checkpoint */
    for (size_t p = 0; p < sizeof points / sizeof points[0]; p++) {
        char env[128], args[512], run[64];
        snprintf(run, sizeof run, "run%zu", p);
        snprintf(env, sizeof env, "env GMCNN_FAILPOINT=%s", points[p]);
        snprintf(args, sizeof args, "train tiny.yaml --set output.dir=%s --quiet --threads 1",
                 run);
        out = cli_in(dir, env, args, &rc);
        cr_assert_eq(rc, 128 + 9, "%s: killed, got exit %d: %s", points[p], rc, out);
        gm_free(out);
        snprintf(args, sizeof args, "train tiny.yaml --set output.dir=%s --quiet --threads 1 "
                 "--resume %s/last.safetensors", run, run);
        cli_ok(dir, NULL, args);
        expect_same_run(path_in(dir, "ref"), path_in(dir, run), points[p]);
    }
    ts_rmtree(dir);
}

/* A checkpoint from before checkpoints held the epochs' records resumes:
 * its run's metric log starts the history, and the run ends as an
 * uninterrupted one. */
Test(run_safety, a_checkpoint_without_history_resumes) {
    const char *dir = setup_dir();
    cli_ok(dir, NULL, "train tiny.yaml --set output.dir=ref --quiet --threads 1");
    cli_ok(dir, NULL, "train tiny.yaml --set trainer.max_epochs=2 --quiet --threads 1");
    rewrite(path_in(dir, "run/last.safetensors"), "gmcnn.train.history", NULL, false);
    cli_ok(dir, NULL, "train tiny.yaml --quiet --threads 1 --resume run/last.safetensors");
    expect_same_run(path_in(dir, "ref"), path_in(dir, "run"), "no history");
    ts_rmtree(dir);
}

/* A disk that fills up: the file-size limit lets the first three epochs'
 * checkpoints through and stops the fourth (each checkpoint holds one more
 * epoch's record, about 230 bytes, than the one before). The run stops
 * with a clear error, leaves the files of epoch 3 behind, and resumes to
 * the uninterrupted run. */
Test(run_safety, a_full_disk_leaves_a_resumable_run, .timeout = 120) {
    const char *dir = setup_dir();
    int rc;
    char *out = NULL;
    cli_ok(dir, NULL, "train tiny.yaml --set output.dir=ref --quiet --threads 1");
    struct stat sb;
    cr_assert_eq(stat(path_in(dir, "ref/last.safetensors"), &sb), 0);
    char env[128];
    snprintf(env, sizeof env, "prlimit --fsize=%lld:%lld", (long long)sb.st_size - 100,
             (long long)sb.st_size - 100);
    out = cli_in(dir, env, "train tiny.yaml --quiet --threads 1", &rc);
    cr_assert_eq(rc, 1, "%s", out);
    ts_expect_one_line_error(out, "last.safetensors': write failed: File too large");
    gm_free(out);
    int64_t n = 0;
    gm_epoch_record *recs = NULL;
    OK(gm_metrics_jsonl_read(path_in(dir, "run/metrics.jsonl"), &n, &recs));
    gm_free(recs);
    cr_assert_eq(n, 3, "the logs stop at the last checkpoint");
    cli_ok(dir, NULL, "train tiny.yaml --quiet --threads 1 --resume run/last.safetensors");
    expect_same_run(path_in(dir, "ref"), path_in(dir, "run"), "full disk");
    ts_rmtree(dir);
}
