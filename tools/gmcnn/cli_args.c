/* gmcnn: the one parser of every command's arguments (see cli.h).
 *
 * A loop over the command's table rather than getopt_long: getopt_long
 * permutes argv unless told not to, and then stops at the first positional,
 * while commands here take options before and after their positionals
 * ("predict MODEL IN... --top 2", "train CONFIG --set ..."); it accepts any
 * unambiguous abbreviation ("--epo" for "--epochs"), which would turn a typo
 * into a different option one day; it prints its own messages; and it keeps
 * its state in globals, which `gmcnn help CMD` (main() calling itself) would
 * have to reset. The loop needs none of that: one pass, exact names, the
 * messages below. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool cli_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

/* True when value is one of the '|'-separated words of list. */
static bool is_choice(const char *list, const char *value) {
    const size_t n = strlen(value);
    for (const char *w = list;; w++) {
        const char *bar = strchr(w, '|');
        const size_t len = bar ? (size_t)(bar - w) : strlen(w);
        if (len == n && !strncmp(w, value, n)) return true;
        if (!bar) return false;
        w = bar;
    }
}

/* What the option needs, for "--name needs ...". */
static const char *need_text(const cli_opt *o, char *buf, size_t size) {
    if (o->need) return o->need;
    switch (o->kind) {
    case CLI_KIND_INT:
        if (o->hi == INT64_MAX && o->lo == 0) return "a non-negative integer";
        if (o->hi == INT64_MAX)
            snprintf(buf, size, "an integer >= %lld", (long long)o->lo);
        else
            snprintf(buf, size, "an integer in %lld..%lld", (long long)o->lo, (long long)o->hi);
        return buf;
    case CLI_KIND_REAL:
        if (isinf(o->rhi) && o->rlo == 0 && !o->open_lo) return "a non-negative number";
        if (isinf(o->rhi))
            snprintf(buf, size, "a number %s %g", o->open_lo ? ">" : ">=", o->rlo);
        else
            snprintf(buf, size, "a number in %c%g, %g]", o->open_lo ? '(' : '[', o->rlo, o->rhi);
        return buf;
    case CLI_KIND_CHOICE: { /* "a|b|c" as "a, b or c" */
        size_t len = 0;
        for (const char *c = o->choices; *c && len + 4 < size; c++) {
            if (*c != '|') {
                buf[len++] = *c;
            } else if (strchr(c + 1, '|')) {
                buf[len++] = ',';
                buf[len++] = ' ';
            } else {
                len += (size_t)snprintf(buf + len, size - len, " or ");
            }
        }
        buf[len < size ? len : size - 1] = '\0';
        return buf;
    }
    default:
        return "a value";
    }
}

/* Stores one value of an option; false when it is missing or bad. */
static bool store(cli_opt *o, const char *value) {
    if (!value) return false;
    switch (o->kind) {
    case CLI_KIND_STRING:
        if (!*value && !o->empty_ok) return false;
        *(const char **)o->dst = value;
        return true;
    case CLI_KIND_CHOICE:
        if (!is_choice(o->choices, value)) return false;
        *(const char **)o->dst = value;
        return true;
    case CLI_KIND_INT:
        return cli_parse_i64(value, o->lo, o->hi, o->dst);
    case CLI_KIND_REAL: {
        double v;
        if (!cli_parse_double(value, &v) || v < o->rlo || v > o->rhi ||
            (o->open_lo && v == o->rlo))
            return false;
        *(double *)o->dst = v;
        return true;
    }
    case CLI_KIND_LIST: {
        const char **slot = (const char **)o->dst + *o->count;
        if (o->parse ? !o->parse(value, slot) : !*value) return false;
        if (!o->parse) *slot = value;
        ++*o->count;
        return true;
    }
    case CLI_KIND_CUSTOM:
        return o->parse(value, o->dst);
    case CLI_KIND_FLAG:
        break;
    }
    return false;
}

int cli_args_parse(cli_args *a, int argc, char **argv) {
    const char *ctx = a->context;
    int npos = 0;
    for (int k = 0; k < a->nopts; k++) a->opts[k].at = 0;
    for (int k = 0; k < a->npos; k++)
        if (a->pos[k].count) *a->pos[k].count = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (cli_is_help(arg)) return CLI_HELP;
        if (arg[0] != '-' || arg[1] == '\0') {
            if (npos == a->npos)
                return cli_usage_error(ctx, a->unexpected ? a->unexpected
                                                          : "unexpected argument '%s'", arg);
            const cli_pos *p = &a->pos[npos];
            if (p->count) { /* the last one takes the rest */
                p->dst[(*p->count)++] = arg;
            } else {
                *p->dst = arg;
                npos++;
            }
            continue;
        }
        const char *eq = strchr(arg, '=');
        const size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        cli_opt *o = NULL;
        for (int k = 0; k < a->nopts && !o; k++)
            if (strlen(a->opts[k].name) == len && !strncmp(a->opts[k].name, arg, len))
                o = &a->opts[k];
        if (!o) {
            const char *unknown = a->unknown ? a->unknown : "unknown option '%s' (try --help)";
            return cli_usage_error(ctx, unknown, arg);
        }
        if (a->form && o->forms && !(o->forms & a->form))
            return cli_usage_error(ctx, a->wrong_form, arg);
        o->at = i + 1;
        if (o->kind == CLI_KIND_FLAG) {
            if (eq) return cli_usage_error(ctx, "%s takes no value", o->name);
            *(bool *)o->dst = true;
            continue;
        }
        if (o->kind == CLI_KIND_LIST && *o->count >= o->max)
            return cli_usage_error(ctx, "%s is given more than %lld times", o->name,
                                   (long long)o->max);
        const char *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!store(o, value)) {
            char buf[160];
            return cli_usage_error(ctx, "%s needs %s", o->name, need_text(o, buf, sizeof buf));
        }
    }
    for (int k = 0; k < a->npos; k++) {
        const cli_pos *p = &a->pos[k];
        const bool absent = p->count ? *p->count == 0 : k >= npos;
        if (p->required && absent)
            return p->missing ? cli_usage_error(ctx, "%s", p->missing)
                              : cli_usage_error(ctx, "missing %s (try --help)", p->name);
    }
    return CLI_OK;
}

int cli_args_exit(int rc, const char *usage) {
    if (rc != CLI_HELP) return rc;
    fputs(usage, stdout);
    return CLI_OK;
}

const cli_opt *cli_args_misplaced(const cli_args *a, unsigned form) {
    const cli_opt *last = NULL;
    for (int k = 0; k < a->nopts; k++) {
        const cli_opt *o = &a->opts[k];
        if (o->at && o->forms && !(o->forms & form) && (!last || o->at > last->at)) last = o;
    }
    return last;
}

bool cli_parse_set(const char *value, void *dst) {
    if (value[0] == '=' || !strchr(value, '=')) return false;
    *(const char **)dst = value;
    return true;
}

int cli_dispatch(const char *command, const char *usage, const cli_sub *subs, int nsubs,
                 int argc, char **argv) {
    if (argc < 1 || cli_is_help(argv[0])) {
        fputs(usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? CLI_USAGE : CLI_OK;
    }
    for (int i = 0; i < nsubs; i++)
        if (!strcmp(argv[0], subs[i].name)) return subs[i].run(argc - 1, argv + 1);
    return cli_usage_error(command, "unknown subcommand '%s' (try 'gmcnn %s --help')", argv[0],
                           command);
}
