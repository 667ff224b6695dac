/* The argument parser every gmcnn command shares (tools/gmcnn/cli_args.c),
 * driven through the tool: the two spellings of a value, missing and bad
 * values, unknown options, extra and missing positionals, help, options of
 * another form of a command, and a repeatable option. Bad usage exits 2 with
 * one line "gmcnn: <command>: <message>". */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"

typedef struct usage_case {
    const char *args;
    const char *needle;
} usage_case;

static void expect_usage_errors(const usage_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *out = ts_cli(cases[i].args, 2);
        ts_expect_one_line_error(out, cases[i].needle);
        gm_free(out);
    }
}

Test(cli_args, value_spellings_and_positions_are_equivalent) {
    char *spaced = ts_cli("group info C6 --elements 2 --subgroup 3 --cosets right", 0);
    ts_expect_contains(spaced, "right cosets 3");
    const char *same[] = {
        "group info C6 --elements=2 --subgroup=3 --cosets=right",
        "group info --elements 2 C6 --subgroup=3 --cosets right",
        "group info --cosets=right --subgroup 3 --elements=2 C6",
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        char *out = ts_cli(same[i], 0);
        cr_assert_str_eq(out, spaced, "%s printed:\n%s\nexpected:\n%s", same[i], out, spaced);
        gm_free(out);
    }
    gm_free(spaced);
}

Test(cli_args, missing_and_bad_values) {
    static const usage_case cases[] = {
        {"group info C6 --subgroup", "group info: --subgroup needs a list of elements"},
        {"group info C6 --elements", "--elements needs a count or 'all'"},
        {"group info C6 --elements -1", "--elements needs a count or 'all'"},
        {"plot m.jsonl --out", "plot: --out needs a file"},
        {"plot m.jsonl --out=", "plot: --out needs a file"},
        {"plot m.jsonl --out ''", "plot: --out needs a file"},
        {"data make rotated --out x --seed", "data make: --seed needs a non-negative integer"},
        {"gm demo --radius 65", "gm demo: --radius needs an integer in 0..64"},
        {"gm demo --radius=-1", "gm demo: --radius needs an integer in 0..64"},
        {"gm demo --seed 1x", "gm demo: --seed needs a non-negative integer"},
        {"gm rank m.txt --group C2 --tol -1", "gm rank: --tol needs a non-negative number"},
        {"data make rotated --seed 1 --out x --max-angle 0", "needs a number in (0, 180]"},
        {"data make rotated --seed 1 --out x --max-angle=nan", "needs a number in (0, 180]"},
        {"train --images a --labels b --out c --dropout 1",
         "--dropout needs a number in [0, 0.99]"},
        {"train --images a --labels b --out c --lr", "train: --lr needs a number in [0, 1e+06]"},
        {"train --images a --labels b --out c --model resnet",
         "--model needs gmcnn, cnn or mlp"},
        {"train --images a --labels b --out c --threads 0",
         "--threads needs an integer in 1..1024"},
        {"group info C6 --subgroup 3 --cosets up", "--cosets needs left or right"},
        {"eval m.safetensors --data d --future 5,3", "--future needs B,E with 0 <= B < E"},
        {"predict m.safetensors in.idx --json=yes", "predict: --json takes no value"},
        {"predict m.safetensors in.idx --top 0", "--top needs an integer in 1..1000000"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof *cases);
}

Test(cli_args, unknown_options_and_extra_arguments) {
    static const usage_case cases[] = {
        {"group info C6 --bogus", "group info: unknown option '--bogus' (try --help)"},
        {"group info C6 --bogus=1", "unknown option '--bogus=1' (try --help)"},
        {"group info C6 --ele 3", "unknown option '--ele'"}, /* no abbreviations */
        {"group info C6 C8", "group info: unexpected argument 'C8'"},
        {"info a.safetensors b", "info: unexpected argument 'b'"},
        {"gm demo extra", "gm demo: unexpected argument 'extra'"},
        {"data info a b", "data info: unexpected argument 'b'"},
        {"rollout m.safetensors s.npy t.npy", "unexpected argument 't.npy'"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof *cases);
}

Test(cli_args, missing_positionals) {
    static const usage_case cases[] = {
        {"group info --elements 3", "group info: missing group SPEC (try --help)"},
        {"predict m.safetensors --top 2", "predict: missing INPUT (try --help)"},
        {"predict", "predict: missing MODEL.safetensors (try --help)"},
        {"rollout m.safetensors", "MODEL.safetensors and SIM.npy are required"},
        {"data info", "data info: missing FILE (try --help)"},
        {"data make --out x", "data make: missing KIND (try --help)"},
        {"plot --out x.png", "plot: missing METRICS.jsonl (try --help)"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof *cases);
}

/* Help wherever it stands, unless an error comes first; a value is the
 * argument after its option, whatever it looks like. */
Test(cli_args, help_and_values_that_look_like_options) {
    char *out = ts_cli("group info C6 --elements 2 --help", 0);
    ts_expect_contains(out, "usage: gmcnn group info");
    gm_free(out);
    out = ts_cli("eval --batch=3 -h", 0);
    ts_expect_contains(out, "usage: gmcnn eval");
    gm_free(out);
    static const usage_case cases[] = {
        {"group info C6 --bogus --help", "unknown option '--bogus'"},
        {"plot --title --help --out x.png", "plot: missing METRICS.jsonl"},
        {"plot m.jsonl --title -h", "plot: --out PLOT.png is required"},
        {"data make rotated --seed -3 --out x", "--seed needs a non-negative integer"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof *cases);
}

/* The forms of one command: an option of the other form is refused. */
Test(cli_args, options_of_another_form) {
    static const usage_case cases[] = {
        {"train c.yaml --epochs 3", "train: unknown option '--epochs' with a config (try --help)"},
        {"train c.yaml --epochs=3", "unknown option '--epochs=3' with a config"},
        {"train c.yaml extra", "train: unexpected argument 'extra'"},
        {"train --images a --labels b --out c --set x=1",
         "train: --set goes with a config (try --help)"},
        {"train --images a --labels b --out c c.yaml",
         "unexpected argument 'c.yaml' (a config file goes first"},
        {"equivariance m.safetensors d --group C4",
         "unknown option '--group' with a saved model (try --help)"},
        {"data make plume-translation --out x --seed 3 --train 4",
         "data make: --train does not apply to plume recipes"},
        {"data make rotated --seed 1 --out x --threads 2",
         "data make: --threads applies only to plume recipes"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof *cases);
}

/* --set is repeatable, in both spellings, up to 64 times; each item is
 * checked as it comes. */
Test(cli_args, repeated_list_option) {
    const char *dir = ts_temp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "seed: 3\nmodel:\n  kind: gmcnn\n  spec: C6xC6\n  nbr: 1\n  num_classes: 2\n"
               "  blocks:\n    - {num_layers: 1, out_channels: 4}\n"
               "data:\n  source: idx\n  images: %s/none-images\n  labels: %s/none-labels\n"
               "output:\n  dir: %s/run\n",
            dir, dir, dir);
    fclose(f);

    char args[4096];
    /* The second item is applied: its unknown key fails the overrides. */
    snprintf(args, sizeof args, "train %s --set trainer.max_epochs=1 --set=model.blok=3", path);
    char *out = ts_cli(args, 2);
    ts_expect_one_line_error(out, "override 'model.blok=3': unknown key 'model.blok'");
    gm_free(out);
    snprintf(args, sizeof args, "train %s --set=model.blok=3 --set trainer.max_epochs=1", path);
    out = ts_cli(args, 2);
    ts_expect_one_line_error(out, "unknown key 'model.blok'");
    gm_free(out);

    snprintf(args, sizeof args, "train %s --set trainer.max_epochs=1 --set novalue", path);
    out = ts_cli(args, 2);
    ts_expect_one_line_error(out, "train: --set needs KEY=VALUE");
    gm_free(out);
    snprintf(args, sizeof args, "train %s --set=", path);
    out = ts_cli(args, 2);
    ts_expect_one_line_error(out, "train: --set needs KEY=VALUE");
    gm_free(out);

    int len = snprintf(args, sizeof args, "train %s", path);
    for (int i = 0; i < 65; i++)
        len += snprintf(args + len, sizeof args - (size_t)len, " --set seed=%d", i);
    out = ts_cli(args, 2);
    ts_expect_one_line_error(out, "train: --set is given more than 64 times");
    gm_free(out);
    ts_rmtree(dir);
}
