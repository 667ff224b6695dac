/* gmcnn config: the key reference, and a config resolved as a run writes it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char config_usage[] =
    "usage: gmcnn config keys [--markdown]\n"
    "       gmcnn config show CONFIG [--set KEY=VALUE]...\n"
    "\n"
    "keys: every key a run config takes, with what it takes, its default, the\n"
    "kinds it applies to (data.source, model.kind, optimizer.kind,\n"
    "scheduler.kind) and its meaning. The parser, the checks and the writer\n"
    "work from the same table, so the list is complete. --markdown prints the\n"
    "tables of docs/config.md.\n"
    "\n"
    "show: loads CONFIG, applies the --set overrides (KEY is a dotted path,\n"
    "VALUE is YAML) and prints the resolved config: every value the run uses,\n"
    "the group as the spec the model uses, only the keys that apply to the\n"
    "chosen kinds. This is the config.yaml that `gmcnn train` writes into the\n"
    "run directory; nothing is trained and no file is written.\n";

static int config_keys(int argc, char **argv) {
    bool markdown = false;
    cli_opt opts[] = {{CLI_FLAG("--markdown", &markdown)}};
    cli_args args = {.context = "config keys", .opts = opts, .nopts = CLI_COUNT(opts)};
    const int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, config_usage);
    char *text = NULL;
    const gm_status st = gm_config_reference(markdown, &text);
    if (st != GM_OK) return cli_status_error("config keys", st);
    fputs(text, stdout);
    gm_free(text);
    return CLI_OK;
}

static int config_show(int argc, char **argv) {
    const char *path = NULL;
    const char *sets[CLI_MAX_SETS];
    int64_t nsets = 0;
    cli_opt opts[] = {{CLI_SET(sets, &nsets)}};
    const cli_pos pos[] = {{.name = "CONFIG", .dst = &path, .required = true}};
    cli_args args = {.context = "config show", .opts = opts, .nopts = CLI_COUNT(opts),
                     .pos = pos, .npos = CLI_COUNT(pos)};
    const int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, config_usage);
    gm_config *cfg = NULL;
    gm_status st = gm_config_load(path, &cfg);
    if (st == GM_OK && nsets > 0) st = gm_config_set_all(cfg, nsets, sets);
    char *text = NULL;
    if (st == GM_OK) st = gm_config_to_string(cfg, &text);
    gm_config_free(cfg);
    if (st != GM_OK) return cli_status_error("config show", st);
    fputs(text, stdout);
    gm_free(text);
    return CLI_OK;
}

int cmd_config(int argc, char **argv) {
    static const cli_sub subs[] = {{"keys", config_keys}, {"show", config_show}};
    return cli_dispatch("config", config_usage, subs, CLI_COUNT(subs), argc, argv);
}
