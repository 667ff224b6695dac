/* gmcnn rollout: a saved forecasting model rolled out on one simulation
 * file, with per-step RMSE and a PNG of true and predicted fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char rollout_usage[] =
    "usage: gmcnn rollout MODEL.safetensors SIM.npy [--start S] [--steps N]\n"
    "                     [--png OUT.png] [--rows K]\n"
    "\n"
    "Rolls a saved forecasting model out autoregressively on one simulation\n"
    "file ((frames, 2, H, W) float32, e.g. build/plume/translation/sim_000.npy)\n"
    "from window S of the reference protocol: the inputs are frames S+2 .. S+11 (the input\n"
    "frames and offset the model was trained with), the predictions are\n"
    "compared with frames S+12, S+13, ... Prints the RMSE of every step and of\n"
    "the whole rollout; with --png, draws the true and the predicted velocity\n"
    "magnitude of K steps (all steps when there are at most K, else K evenly\n"
    "spaced ones including the first and the last) on one colour scale.\n"
    "\n"
    "  --start S    window index (default 0)\n"
    "  --steps N    rollout steps (default 20)\n"
    "  --png FILE   write the picture (atomically)\n"
    "  --rows K     steps drawn, 1..32 (default 8)\n";

typedef struct rollout_opts {
    const char *model, *sim, *png;
    int64_t start, steps, rows;
} rollout_opts;

static int rollout_parse(int argc, char **argv, rollout_opts *o) {
    cli_opt opts[] = {
        {CLI_INT("--start", &o->start, 0, INT64_C(1) << 31)},
        {CLI_INT("--steps", &o->steps, 1, 100000)},
        {CLI_INT("--rows", &o->rows, 1, GM_PLOT_FIELDS_MAX_ROWS)},
        {CLI_STRING("--png", &o->png, "a file name")},
    };
    static const char missing[] = "MODEL.safetensors and SIM.npy are required";
    const cli_pos pos[] = {
        {.name = "MODEL.safetensors", .dst = &o->model, .required = true, .missing = missing},
        {.name = "SIM.npy", .dst = &o->sim, .required = true, .missing = missing},
    };
    cli_args args = {.context = "rollout", .opts = opts, .nopts = CLI_COUNT(opts),
                     .pos = pos, .npos = CLI_COUNT(pos)};
    const int rc = cli_args_parse(&args, argc, argv);
    if (rc != CLI_OK) return rc;
    if (gm_same_file(o->png, o->model) || gm_same_file(o->png, o->sim))
        return cli_usage_error("rollout", "--png '%s' is an input file; choose another", o->png);
    return CLI_OK;
}

/* The picture: `rows` steps of the rollout, evenly spaced. */
static gm_status draw(const rollout_opts *o, const gm_forecast_set *set, const float *pred) {
    const gm_plume_data *d = set->data;
    const int64_t plane = 2 * d->height * d->width, steps = set->steps;
    const int64_t rows = steps < o->rows ? steps : o->rows;
    float *all = malloc((size_t)(steps * plane) * sizeof *all);
    float *tr = malloc((size_t)(rows * plane) * sizeof *tr);
    float *pr = malloc((size_t)(rows * plane) * sizeof *pr);
    int64_t *label = malloc((size_t)rows * sizeof *label);
    gm_status st = GM_OK;
    if (!all || !tr || !pr || !label) {
        st = gm_error_set(GM_ERR_NOMEM, "rollout picture: out of memory");
    } else {
        gm_forecast_window_copy(set, 0, NULL, all);
        for (int64_t r = 0; r < rows; r++) {
            const int64_t t = rows == 1 ? 0 : (r * (steps - 1) + (rows - 1) / 2) / (rows - 1);
            label[r] = t + 1;
            memcpy(tr + r * plane, all + t * plane, (size_t)plane * sizeof *tr);
            memcpy(pr + r * plane, pred + t * plane, (size_t)plane * sizeof *pr);
        }
        char title[512];
        snprintf(title, sizeof title, "%s on %s, window %lld (inputs: frames %lld..%lld)",
                 o->model, o->sim, (long long)o->start,
                 (long long)(o->start + set->input_offset),
                 (long long)(o->start + set->input_offset + set->input_frames - 1));
        st = gm_plot_fields_png(o->png, rows, label, d->height, d->width, tr, pr, title);
    }
    free(all);
    free(tr);
    free(pr);
    free(label);
    return st;
}

int cmd_rollout(int argc, char **argv) {
    rollout_opts o = {.steps = 20, .rows = 8};
    int rc = rollout_parse(argc, argv, &o);
    if (rc == CLI_OK) rc = cli_compute_prepare("rollout", 0);
    if (rc != CLI_OK) return cli_args_exit(rc, rollout_usage);
    gm_saved_model sm = {0};
    gm_plume_data data = {0};
    gm_forecast_set set = {0};
    gm_forecast_metrics mt = {0};
    float *pred = NULL;
    gm_status st = gm_model_load(o.model, &sm);
    gm_model *m = sm.model;
    const gm_forecast_protocol p = sm.forecast;
    if (st == GM_OK) st = gm_plume_data_load_sim(o.sim, &data);
    if (st == GM_OK)
        st = gm_forecast_set_window(&data, 0, o.start, p.input_frames, p.input_offset, o.steps,
                                    &set);
    if (st == GM_OK) st = gm_forecast_evaluate(m, &set, 1, &mt);
    if (st == GM_OK && o.png) {
        pred = malloc((size_t)(o.steps * 2 * data.height * data.width) * sizeof *pred);
        st = pred ? gm_forecast_predict(m, &set, 0, pred, NULL)
                  : gm_error_set(GM_ERR_NOMEM, "rollout: out of memory");
        if (st == GM_OK) st = draw(&o, &set, pred);
    }
    if (st != GM_OK) {
        rc = cli_status_error("rollout", st);
    } else {
        for (int64_t t = 0; t < mt.steps; t++)
            printf("step %lld (frame %lld) RMSE %.5f\n", (long long)(t + 1),
                   (long long)(o.start + p.input_offset + p.input_frames + t), mt.step_rmse[t]);
        printf("rollout RMSE %.5f over %lld steps\n", mt.rmse, (long long)mt.steps);
        if (o.png) printf("wrote %s\n", o.png);
    }
    free(pred);
    gm_forecast_metrics_free(&mt);
    gm_forecast_set_free(&set);
    gm_plume_data_free(&data);
    gm_saved_model_free(&sm);
    return rc;
}
