/* The gmcnn tool end to end: outputs, exit codes and one-line errors. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <ctype.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

/* Runs `gmcnn ARGS`, asserts the exit code, returns the output (gm_free it). */
Test(cli, version_names_build_and_blas) {
    char *out = ts_cli("--version", 0);
    ts_expect_contains(out, "gmcnn " GM_VERSION_STRING);
    ts_expect_contains(out, "OpenBLAS");
    gm_free(out);
}

Test(cli, short_version_and_help_word) {
    char *version = ts_cli("--version", 0);
    char *out = ts_cli("-V", 0);
    cr_assert_str_eq(out, version, "-V printed:\n%s\n--version printed:\n%s", out, version);
    gm_free(out);
    gm_free(version);
    char *usage = ts_cli("--help", 0);
    out = ts_cli("help", 0);
    cr_assert_str_eq(out, usage, "help printed:\n%s", out);
    ts_expect_contains(out, "gmcnn help");
    ts_expect_contains(out, "-V");
    gm_free(out);
    gm_free(usage);
    char *group_info = ts_cli("group info --help", 0);
    out = ts_cli("help group info", 0);
    cr_assert_str_eq(out, group_info, "help group info printed:\n%s", out);
    gm_free(out);
    gm_free(group_info);
    out = ts_cli("help nosuch", 2);
    ts_expect_one_line_error(out, "unknown command 'nosuch'");
    gm_free(out);
}

Test(cli, help_for_every_command) {
    const char *cmds[] = {"--help", "group --help", "group info --help", "gm --help",
                          "gm rank --help", "gm demo --help", "equivariance --help",
                          "config --help", "config keys --help", "config show --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *out = ts_cli(cmds[i], 0);
        ts_expect_contains(out, "usage: gmcnn");
        gm_free(out);
    }
}

Test(cli, group_info_d14xd14) {
    char *out = ts_cli("group info D14xD14", 0);
    ts_expect_contains(out, "group      D14xD14\n");
    ts_expect_contains(out, "order      784\n");
    ts_expect_contains(out, "abelian    no\n");
    ts_expect_contains(out, "generators 4:");
    ts_expect_contains(out, "(e,e) (e,r) (e,r^2)");
    gm_free(out);
}

Test(cli, group_info_p4_8) {
    char *out = ts_cli("group info p4:8 --elements all", 0);
    ts_expect_contains(out, "group      p4:8\n");
    ts_expect_contains(out, "order      256\n");
    ts_expect_contains(out, "abelian    no\n");
    ts_expect_contains(out, "generators 3:");
    ts_expect_contains(out, "[64, order 4]"); /* the rotation ((0,0),1) at index 64 */
    gm_free(out);
}

Test(cli, group_info_subgroup_and_cosets) {
    char *out = ts_cli("group info D4 --subgroup 'r^2,f' --cosets left --table", 0);
    ts_expect_contains(out, "subgroup   order 4, index 2, normal");
    ts_expect_contains(out, "left cosets 2, representatives e r\n");
    ts_expect_contains(out, "cayley table");
    gm_free(out);
    out = ts_cli("group info S3 --subgroup '(0 1)' --cosets right", 0);
    ts_expect_contains(out, "subgroup   order 2, index 3, not normal");
    ts_expect_contains(out, "right cosets 3");
    gm_free(out);
}

/* --elements bounds every list of group info, cosets included, and every list
 * cut short says how many it left out. */
Test(cli, group_info_cosets_follow_elements_and_count_the_rest) {
    const char *cmd = "group info D14xD14 --subgroup '(r,e),(f,e)' --cosets left";
    char args[256];
    char *out = ts_cli(cmd, 0); /* default: 16 of everything */
    ts_expect_contains(out, "left cosets 28, representatives ");
    ts_expect_contains(out, " ... (12 more)\n  coset 0: (e,e) (r,e)");
    ts_expect_contains(out, "\n  coset 15: ");
    cr_assert_null(strstr(out, "coset 16:"), "%s", out);
    ts_expect_contains(out, "\n  ... and 12 more cosets\n");
    gm_free(out);

    snprintf(args, sizeof args, "%s --elements all", cmd);
    out = ts_cli(args, 0);
    ts_expect_contains(out, "\n  coset 27: ");
    cr_assert_null(strstr(out, "more"), "%s", out);
    gm_free(out);

    snprintf(args, sizeof args, "%s --elements 3", cmd);
    out = ts_cli(args, 0);
    ts_expect_contains(out, "\n  elements (e,e) (r,e) (r^2,e) ... (25 more)\n");
    ts_expect_contains(out, "representatives (e,e) (e,r) (e,r^2) ... (25 more)\n");
    ts_expect_contains(out, "\n  coset 2: (e,r^2) (r,r^2) (r^2,r^2) ... (25 more)\n"
                            "  ... and 25 more cosets\n");
    gm_free(out);

    out = ts_cli("group info C6 --subgroup 3 --cosets right --elements 0", 0);
    ts_expect_contains(out, "right cosets 3, representatives ... (3 more)\n"
                            "  ... and 3 more cosets\n");
    gm_free(out);
}

/* The element names docs/groups.md gives for Cayley tables: e, then gk. */
Test(cli, group_info_names_table_elements_e_and_gk) {
    const char *table = ts_write_temp("3\n0 1 2\n1 2 0\n2 0 1\n");
    char args[512];
    snprintf(args, sizeof args, "group info table:%s --elements all", table);
    char *out = ts_cli(args, 0);
    ts_expect_contains(out, "generators 1: g1 [1, order 3]\n");
    ts_expect_contains(out, "elements   e g1 g2\n");
    gm_free(out);
    snprintf(args, sizeof args, "group info 'C3xtable:%s' --subgroup '(2,g1)'", table);
    out = ts_cli(args, 0);
    ts_expect_contains(out, "\nelements   (0,e) (0,g1) (0,g2) (1,e) ");
    ts_expect_contains(out, "  elements (0,e) (1,g2) (2,g1)\n");
    gm_free(out);
}

Test(cli, bad_inputs_exit_with_one_line) {
    /* exit 1: the input is wrong; exit 2: the command line is */
    static const struct {
        const char *args;
        int rc;
        const char *needle;
    } cases[] = {
        {"group info D0", 1, "D0"},
        {"group info C4y", 1, "column"},
        {"group info C4 --bogus", 2, "--bogus"},
        {"group info", 2, "missing"},
        {"group info C4 --subgroup 9", 2, "'9' is not an element of C4"},
        {"group info C1000 --table", 2, "--table"},
        {"frobnicate", 2, "unknown command"},
        {"gm rank /nonexistent/m.txt --group C4", 1, "/nonexistent/m.txt"},
        {"gm rank m.txt", 2, "--group"},
        {"gm demo --radius -1", 2, "--radius"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = ts_cli(cases[i].args, cases[i].rc);
        ts_expect_one_line_error(out, cases[i].needle);
        gm_free(out);
    }
}

/* Writes an n x n text matrix M[i][j] = f(i, j). */
static const char *write_matrix(int n, double (*f)(int, int)) {
    static char text[1 << 16];
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            off += (size_t)snprintf(text + off, sizeof text - off, j ? " %.17g" : "%.17g", f(i, j));
        off += (size_t)snprintf(text + off, sizeof text - off, "\n");
    }
    return ts_write_temp(text);
}

/* A circulant of C8: M[i][j] = c((j - i) mod 8), a group matrix. */
static double circulant(int i, int j) {
    static const double c[8] = {1.5, -2, 0.25, 3, 0, 1, -0.5, 2};
    return c[((j - i) % 8 + 8) % 8];
}

/* The circulant plus a rank-one change of its diagonals, F_g[h] += u(g) v(h). */
static double perturbed(int i, int j) {
    int g = ((i - j) % 8 + 8) % 8; /* F_g[h] = M[h][h - g] in C8 */
    return circulant(i, j) + 0.3 * (g + 1) * ((i * i) % 5 - 2);
}

Test(cli, gm_rank_of_a_group_matrix_and_a_perturbation) {
    char args[256];
    snprintf(args, sizeof args, "gm rank %s --group C8 --sigma 3", write_matrix(8, circulant));
    char *out = ts_cli(args, 0);
    ts_expect_contains(out, "displacement rank   0");
    ts_expect_contains(out, "group matrix        yes");
    gm_free(out);
    snprintf(args, sizeof args, "gm rank %s --group C8", write_matrix(8, perturbed));
    out = ts_cli(args, 0);
    ts_expect_contains(out, "displacement rank   1");
    ts_expect_contains(out, "group matrix        no");
    gm_free(out);
    snprintf(args, sizeof args, "gm rank %s --group C4", write_matrix(8, circulant));
    out = ts_cli(args, 1);
    ts_expect_one_line_error(out, "is 8 x 8, but C4 has order 4");
    gm_free(out);
}

/* Writes M = a group matrix of g plus a rank-r change U V^T of its diagonals
 * F(M) (displacement rank r) as a .npy file of the given dtype; returns its path. */
static const char *write_perturbed_npy(const gm_group *g, int64_t r, gm_dtype dtype,
                                       const char *name) {
    const int64_t n = gm_group_order(g);
    double *f = gm_malloc((size_t)(n * n) * sizeof *f), *m = gm_malloc((size_t)(n * n) * sizeof *m);
    double u[4][256], v[4][256], c[256];
    cr_assert(f && m && r <= 4 && n <= 256);
    gm_rng rng;
    gm_rng_seed(&rng, 11, 3);
    for (int64_t i = 0; i < n; i++) c[i] = 2.0 * gm_rng_uniform(&rng) - 1.0;
    for (int64_t k = 0; k < r; k++)
        for (int64_t i = 0; i < n; i++) {
            u[k][i] = 2.0 * gm_rng_uniform(&rng) - 1.0;
            v[k][i] = 0.1 * (2.0 * gm_rng_uniform(&rng) - 1.0);
        }
    for (int64_t a = 0; a < n; a++)
        for (int64_t h = 0; h < n; h++) {
            f[a * n + h] = c[a];
            for (int64_t k = 0; k < r; k++) f[a * n + h] += u[k][a] * v[k][h];
        }
    gm_gmat_from_diagonals(g, f, m);
    gm_array arr = {.dtype = dtype, .ndim = 2, .shape = {n, n}};
    arr.data = gm_malloc((size_t)(n * n) * gm_dtype_size(dtype));
    for (int64_t i = 0; i < n * n; i++) {
        if (dtype == GM_DTYPE_F32)
            ((float *)arr.data)[i] = (float)m[i];
        else
            ((double *)arr.data)[i] = m[i];
    }
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", ts_temp_dir(), name);
    OK(gm_npy_write(p, &arr));
    gm_array_free(&arr);
    gm_free(f);
    gm_free(m);
    return p;
}

/* The default tolerance follows the precision of the file: float32 rounding
 * is not displacement rank. */
Test(cli, gm_rank_of_float32_matrices_uses_float32_epsilon) {
    gm_group *g = ts_group("C8xC8");
    for (int64_t r = 0; r <= 2; r++) {
        for (int k = 0; k < 2; k++) {
            const gm_dtype dtype = k ? GM_DTYPE_F64 : GM_DTYPE_F32;
            char args[768], want[64];
            snprintf(args, sizeof args, "gm rank %s --group C8xC8",
                     write_perturbed_npy(g, r, dtype, k ? "m64.npy" : "m32.npy"));
            char *out = ts_cli(args, 0);
            snprintf(want, sizeof want, "displacement rank   %lld (tolerance ", (long long)r);
            ts_expect_contains(out, want);
            ts_expect_contains(out, k ? ", default)\n" : ", default for float32)\n");
            gm_free(out);
        }
    }
    gm_group_free(g);
}

Test(cli, gm_demo_shows_exactness_and_the_rank_knob) {
    char *out = ts_cli("gm demo --group C6xC6 --radius 1 --rank 3 --seed 7", 0);
    ts_expect_contains(out, "group convolution    DR = 0");
    ts_expect_contains(out, "+ rank-3 displacement  DR = 3");
    gm_free(out);
}

/* --- the README's file names ----------------------------------------------------- */

#define REPO_ROOT GM_FIXTURE_DIR "/../.."

/* True when the path (a glob pattern) names at least one file of the repository. */
static bool repo_has(const char *path) {
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/%s", REPO_ROOT, path);
    glob_t gl;
    const bool found = glob(pattern, 0, NULL, &gl) == 0 && gl.gl_pathc > 0;
    globfree(&gl);
    return found;
}

/* Prose names the repository's own files by their top directory. */
static void check_prose(const char *line, int lineno) {
    static const char *const dirs[] = {"configs/", "scripts/", "docs/", "examples/", "bench/",
                                       "include/", "tools/",   "tests/", "cmake/",   "fuzz/"};
    for (const char *p = line; *p; p++) {
        if (p > line && (isalnum((unsigned char)p[-1]) || strchr("/._-", p[-1]))) continue;
        for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
            if (strncmp(p, dirs[d], strlen(dirs[d])) != 0) continue;
            char name[512];
            size_t n = 0;
            while (p[n] && n + 1 < sizeof name &&
                   (isalnum((unsigned char)p[n]) || strchr("/._*-", p[n])))
                n++;
            while (n > 0 && p[n - 1] == '.') n--; /* the end of a sentence */
            memcpy(name, p, n);
            name[n] = '\0';
            cr_expect(repo_has(name), "README.md line %d names %s, which is not in the repository",
                      lineno, name);
        }
    }
}

static bool has_file_extension(const char *tok) {
    static const char *const exts[] = {".yaml", ".sh", ".md", ".npy", ".gz", ".txt", ".jsonl",
                                       ".png", ".safetensors", ".csv", ".json", ".h", ".c"};
    const size_t len = strlen(tok);
    for (size_t k = 0; k < sizeof exts / sizeof exts[0]; k++) {
        const size_t e = strlen(exts[k]);
        if (len > e && !strcmp(tok + len - e, exts[k])) return true;
    }
    return false;
}

/* In a command, every file argument is in the repository, under build/ (made
 * by make), or written by an earlier command of the README (--out, --png,
 * output.dir=, a shell redirection). */
static void check_command(const char *line, int lineno, char outputs[][256], int *nout) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", line);
    bool next_is_output = false;
    for (char *tok = strtok(buf, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (!strcmp(tok, "--out") || !strcmp(tok, "--png") || !strcmp(tok, ">")) {
            next_is_output = true;
            continue;
        }
        bool output = next_is_output;
        next_is_output = false;
        const char *eq = strstr(tok, "output.dir=");
        if (eq) {
            tok = (char *)eq + strlen("output.dir=");
            output = true;
        }
        if (tok[0] == '-' || (!strchr(tok, '/') && !has_file_extension(tok))) continue;
        if (output) {
            cr_assert_lt(*nout, 64);
            snprintf(outputs[(*nout)++], 256, "%s", tok);
            continue;
        }
        bool ok = repo_has(tok) || !strncmp(tok, "build/", 6);
        for (int k = 0; k < *nout && !ok; k++)
            ok = !strncmp(tok, outputs[k], strlen(outputs[k])) &&
                 (tok[strlen(outputs[k])] == '\0' || tok[strlen(outputs[k])] == '/');
        cr_expect(ok, "README.md line %d: %s is neither in the repository nor made by a command "
                      "before it", lineno, tok);
    }
}

Test(cli, readme_names_files_that_exist_or_are_made) {
    char *text = ts_read_file(REPO_ROOT "/README.md");
    cr_assert_not_null(text);
    char outputs[64][256];
    int nout = 0, lineno = 0;
    bool code = false, shell = false;
    for (char *line = text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end) end = line + strlen(line) - 1; /* the last line has no newline */
        else *end = '\0';
        lineno++;
        if (!strncmp(line, "```", 3)) {
            code = !code;
            /* commands in plain and sh blocks; other languages (python) are
             * checked as prose */
            shell = code && (line[3] == '\0' || !strcmp(line + 3, "sh"));
            continue;
        }
        if (code && !shell) {
            check_prose(line, lineno);
            continue;
        }
        char *comment = code ? strstr(line, " #") : NULL;
        if (code && line[0] == '#') comment = line;
        if (comment) {
            check_prose(comment, lineno);
            *comment = '\0';
        }
        if (code)
            check_command(line, lineno, outputs, &nout);
        else
            check_prose(line, lineno);
    }
    gm_free(text);
}

/* gmcnn config: the reference lists every section and key kind; show prints
 * the resolved config; misuse is a usage error. */
Test(cli, config_keys_and_show) {
    char *out = ts_cli("config keys", 0);
    ts_expect_contains(out, "\nmodel: the network\n");
    ts_expect_contains(out, "  optimizer.betas\n      takes:      [a, b], each a number in [0.0, "
                            "1.0)\n      default:    [0.9, 0.999]\n      applies to: "
                            "optimizer.kind adam, adamw\n");
    ts_expect_contains(out, "  trainer.max_epochs (also trainer.epochs)\n");
    gm_free(out);
    out = ts_cli("config keys --markdown", 0);
    ts_expect_contains(out, "| `data.source` | generated \\| idx \\| amat");
    gm_free(out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "config show %s/../../configs/rot-p4m.yaml --set trainer.epochs=3",
             GM_FIXTURE_DIR);
    out = ts_cli(cmd, 0);
    ts_expect_contains(out, "# gmcnn config (resolved)\nseed: 42\nmodel:\n  kind: deep\n"
                            "  spec: \"p4m:28\"\n");
    ts_expect_contains(out, "trainer:\n  max_epochs: 3\n");
    gm_free(out);
    out = ts_cli("config", 2);
    gm_free(out);
    out = ts_cli("config list", 2);
    ts_expect_one_line_error(out, "gmcnn: config: unknown subcommand 'list'");
    gm_free(out);
    out = ts_cli("config show", 2);
    ts_expect_one_line_error(out, "missing CONFIG");
    gm_free(out);
    out = ts_cli("config show /nonexistent/c.yaml", 1);
    ts_expect_one_line_error(out, "config '/nonexistent/c.yaml': cannot open");
    gm_free(out);
    snprintf(cmd, sizeof cmd, "config show %s/../../configs/rot-p4m.yaml --set model.blok=1",
             GM_FIXTURE_DIR);
    out = ts_cli(cmd, 1);
    ts_expect_one_line_error(out, "unknown key 'model.blok'");
    gm_free(out);
}
