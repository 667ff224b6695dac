/* gmcnn plot: loss and accuracy curves of a training run as a PNG. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char plot_usage[] =
    "usage: gmcnn plot METRICS.jsonl --out PLOT.png [--title T]\n"
    "\n"
    "Draws the metrics.jsonl a training run writes as a PNG: training and\n"
    "validation loss (left) and accuracy (right) per epoch. The PNG is written\n"
    "atomically.\n"
    "\n"
    "  --out PATH   the PNG to write (required)\n"
    "  --title T    title above the panels (default: the metrics file's path)\n";

int cmd_plot(int argc, char **argv) {
    const char *metrics = NULL, *out = NULL, *title = NULL;
    cli_opt opts[] = {
        {CLI_STRING("--out", &out, "a file")},
        {CLI_STRING("--title", &title, "a text"), .empty_ok = true},
    };
    const cli_pos pos[] = {{.name = "METRICS.jsonl", .dst = &metrics, .required = true}};
    cli_args args = {.context = "plot", .opts = opts, .nopts = CLI_COUNT(opts),
                     .pos = pos, .npos = CLI_COUNT(pos)};
    const int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return cli_args_exit(rc, plot_usage);
    if (!out) return cli_usage_error("plot", "--out PLOT.png is required");
    if (gm_same_file(metrics, out))
        return cli_usage_error("plot", "--out '%s' is the metrics file itself; choose another "
                               "file for the PNG", out);

    int64_t n = 0;
    gm_epoch_record *recs = NULL;
    gm_status st = gm_metrics_jsonl_read(metrics, &n, &recs);
    if (st == GM_OK && n == 0)
        st = gm_error_set(GM_ERR_FORMAT, "metrics file '%s': no epochs", metrics);
    if (st == GM_OK) st = gm_plot_metrics_png(out, n, recs, title ? title : metrics);
    gm_free(recs);
    if (st != GM_OK) return cli_status_error("plot", st);
    printf("wrote %s (%lld epochs, %dx%d)\n", out, (long long)n, GM_PLOT_WIDTH, GM_PLOT_HEIGHT);
    return CLI_OK;
}
