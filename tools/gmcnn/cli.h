/* Shared pieces of the gmcnn command-line tool. No math here: parse, call
 * the public API, print. */
#ifndef GMCNN_CLI_H
#define GMCNN_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "gmcnn/gmcnn.h"

/* Exit statuses: 0 success, 1 failure on valid usage (bad file, bad spec,
 * numerical failure), 2 bad usage (unknown flag, missing argument).
 * CLI_HELP is no exit status: cli_args_parse saw -h or --help, and the
 * command prints its usage on stdout and returns CLI_OK. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_HELP = -1 };

/* Prints "gmcnn: <context>: <message>" to stderr and returns CLI_USAGE. */
int cli_usage_error(const char *context, const char *fmt, ...) GM_PRINTF(2, 3);
/* Prints "gmcnn: <context>: <gm_error_detail() or gm_strerror(st)>" and returns CLI_FAIL. */
int cli_status_error(const char *context, gm_status st);
/* Parses a whole decimal integer in [lo, hi]; false on anything else. */
bool cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* Parses a finite double; false on anything else. */
bool cli_parse_double(const char *s, double *out);
/* True when arg is "-h" or "--help". */
bool cli_is_help(const char *arg);

/* --- the arguments of a command (cli_args.c) -----------------------------------
 *
 * A command lists its options in a table and its positional arguments in
 * another and calls cli_args_parse once. Options are long ("--name") and take
 * their value as "--name VALUE" or "--name=VALUE"; the value is the next
 * argument whatever it looks like ("--title -h" is a title). Options and
 * positionals mix in any order; a lone "-" is a positional. Every message is
 * "gmcnn: <context>: ..." with exit status 2:
 *   unknown option '--x' (try --help)       (as typed, "=VALUE" included)
 *   --name needs <need>                     (value missing, malformed or out of range)
 *   --name takes no value                   (a flag given "=VALUE")
 *   --name is given more than N times       (a list option past its room)
 *   unexpected argument 'x'                 (a positional past the last)
 *   missing NAME (try --help)               (a required positional absent)
 * A command of several forms (train: with a config or with flags) marks the
 * forms each option goes with; an option of another form is refused with the
 * command's own message as soon as it is seen (cli_args.form set), or found
 * afterwards by cli_args_misplaced where only a positional tells the form. */

typedef enum cli_kind {
    CLI_KIND_FLAG,   /* no value: *(bool *)dst = true */
    CLI_KIND_STRING, /* *(const char **)dst = VALUE, not empty unless empty_ok */
    CLI_KIND_CHOICE, /* *(const char **)dst = VALUE, one of choices ("gmcnn|cnn|mlp") */
    CLI_KIND_INT,    /* *(int64_t *)dst, a whole decimal number in [lo, hi] */
    CLI_KIND_REAL,   /* *(double *)dst, finite, in [rlo, rhi] ((rlo, rhi] if open_lo) */
    CLI_KIND_LIST,   /* repeatable: ((const char **)dst)[(*count)++], at most max items;
                        each item through parse when given (it stores the item) */
    CLI_KIND_CUSTOM, /* parse(VALUE, dst); false: a bad value */
} cli_kind;

typedef struct cli_opt {
    const char *name; /* "--top" */
    cli_kind kind;
    void *dst;
    /* What "--name needs ..." says of a missing or bad value; NULL: made from
     * the kind ("a value", "an integer in 1..64", "a number in [0, 0.9]",
     * "gmcnn, cnn or mlp"). Required for CLI_KIND_CUSTOM. */
    const char *need;
    int64_t lo, hi;      /* CLI_KIND_INT */
    double rlo, rhi;     /* CLI_KIND_REAL */
    bool open_lo;        /* CLI_KIND_REAL: rlo itself is out */
    bool empty_ok;       /* CLI_KIND_STRING: "" is a value */
    const char *choices; /* CLI_KIND_CHOICE */
    bool (*parse)(const char *value, void *dst); /* CLI_KIND_CUSTOM, CLI_KIND_LIST */
    int64_t *count, max; /* CLI_KIND_LIST */
    unsigned forms; /* bits of the command's forms it goes with; 0: every form */
    int at;         /* set by cli_args_parse: 1 + the argv index of its last use, 0 if unused */
} cli_opt;

/* The fields of one option; add others after it, e.g.
 * {CLI_INT("--radius", &o.radius, 0, 64), .forms = FLAG_FORM}. The pointer
 * must have the type the kind stores. */
#define CLI_PTR_(type, p) ((void *)(1 ? (p) : (type *)0))
#define CLI_FLAG(n, p) .name = (n), .kind = CLI_KIND_FLAG, .dst = CLI_PTR_(bool, p)
#define CLI_STRING(n, p, what) \
    .name = (n), .kind = CLI_KIND_STRING, .dst = CLI_PTR_(const char *, p), .need = (what)
#define CLI_CHOICE(n, p, list) \
    .name = (n), .kind = CLI_KIND_CHOICE, .dst = CLI_PTR_(const char *, p), .choices = (list)
#define CLI_INT(n, p, min, max_) \
    .name = (n), .kind = CLI_KIND_INT, .dst = CLI_PTR_(int64_t, p), .lo = (min), .hi = (max_)
#define CLI_REAL(n, p, min, max_) \
    .name = (n), .kind = CLI_KIND_REAL, .dst = CLI_PTR_(double, p), .rlo = (min), .rhi = (max_)
#define CLI_LIST(n, p, n_items, room) \
    .name = (n), .kind = CLI_KIND_LIST, .dst = CLI_PTR_(const char *, p), \
    .count = (n_items), .max = (room)
#define CLI_CUSTOM(n, p, fn, what) \
    .name = (n), .kind = CLI_KIND_CUSTOM, .dst = (p), .parse = (fn), .need = (what)

/* A command of subcommands (group info, gm rank|demo, data make|info|...,
 * config keys|show): none prints the usage on stderr (CLI_USAGE), -h or
 * --help on stdout, an unknown one is a usage error; else the subcommand
 * runs with the arguments after it. */
typedef struct cli_sub {
    const char *name;
    int (*run)(int argc, char **argv);
} cli_sub;
int cli_dispatch(const char *command, const char *usage, const cli_sub *subs, int nsubs,
                 int argc, char **argv);

/* --set KEY=VALUE, repeatable: config overrides (gm_config_set_all). */
#define CLI_MAX_SETS 64
bool cli_parse_set(const char *value, void *dst);
#define CLI_SET(p, n_items) \
    CLI_LIST("--set", p, n_items, CLI_MAX_SETS), .parse = cli_parse_set, .need = "KEY=VALUE"

typedef struct cli_pos {
    const char *name; /* "MODEL.safetensors": the usage's word for it */
    const char **dst; /* one string; with count, an array with room for argc */
    bool required;    /* with count: at least one */
    int *count;       /* non-NULL: takes every further positional (predict's INPUT...) */
    /* The message when required and absent; NULL: "missing NAME (try --help)". */
    const char *missing;
} cli_pos;

/* Formats below take the argument as typed for their "%s"; NULL gives the
 * message listed above. */
typedef struct cli_args {
    const char *context; /* "predict", "group info" */
    cli_opt *opts;
    int nopts;
    const cli_pos *pos;
    int npos;
    unsigned form;          /* the form the command is in (a bit); 0: not checked while parsing */
    const char *wrong_form; /* an option of another form (required with form) */
    const char *unknown;    /* an unknown option */
    const char *unexpected; /* a positional past the last */
} cli_args;

#define CLI_COUNT(a) ((int)(sizeof(a) / sizeof *(a)))

/* Parses argv[0..argc) (the arguments after the command) into the tables'
 * destinations, which keep their values where an option is not given.
 * CLI_OK, CLI_HELP at -h or --help (nothing after it is looked at), or
 * CLI_USAGE having printed the message. */
int cli_args_parse(cli_args *a, int argc, char **argv);
/* The exit status of a parse that did not return CLI_OK: for CLI_HELP,
 * prints usage on stdout and gives CLI_OK; rc itself otherwise. */
int cli_args_exit(int rc, const char *usage);
/* The option given last on the command line among those that do not go with
 * `form`; NULL when there is none. */
const cli_opt *cli_args_misplaced(const cli_args *a, unsigned form);
/* For a command that computes, after its arguments are parsed: checks that
 * the memory limits leave room for the BLAS buffers and the stacks of
 * `threads` threads (0: OpenMP's default), which are then mapped up front
 * (OpenBLAS would otherwise spin on a call it cannot get a buffer for;
 * cli_limits.c covers its start-up), and chooses the BLAS kernels, which
 * may re-execute the tool (main.c). CLI_OK, or CLI_FAIL having said why. */
int cli_compute_prepare(const char *context, int64_t threads);

/* Chooses the BLAS kernels before anything else runs (cli_blas.c): may
 * re-execute the tool under a better kernel set that passed its check, or
 * exit when no kernel set computes correctly. The hidden command
 * CLI_BLAS_CHECK runs the check alone (cli_blas_check_main). */
#define CLI_BLAS_CHECK "__blas-check"
void cli_blas_select(char **argv);
int cli_blas_check_main(void);
/* Resolves an element given by index ("17") or by printed name ("f*r^2",
 * "(1,3)") in g. */
bool cli_parse_element(const gm_group *g, const char *s, int32_t *out);

int cmd_group(int argc, char **argv);
int cmd_gm(int argc, char **argv);
int cmd_equivariance(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_rollout(int argc, char **argv);
int cmd_config(int argc, char **argv);

#endif
