/* Per-epoch metric logs: JSON lines and CSV, flushed after every record so
 * that a run killed mid-way leaves complete lines behind. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/core_internal.h"
#include "train/train_internal.h"

static const char csv_header[] =
    "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds,samples_per_s,best\n";

double gm__now_seconds(void) {
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC) return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static gm_status open_one(const char *path, bool append, FILE **out) {
    *out = NULL;
    if (!path) return GM_OK;
    FILE *f = fopen(path, append ? "a" : "w");
    GM_RETURN_ERROR_IF(!f, GM_ERR_IO, "metrics file '%s': %s", path, strerror(errno));
    *out = f;
    return GM_OK;
}

gm_status gm__metric_log_open(gm__metric_log *log, const char *jsonl_path, const char *csv_path,
                              bool append) {
    memset(log, 0, sizeof *log);
    GM_FORWARD_IF_ERROR(open_one(jsonl_path, append, &log->jsonl));
    gm_status st = open_one(csv_path, append, &log->csv);
    if (st == GM_OK && log->csv) {
        /* "a" positions at the end only on the first write; seek to learn the size. */
        if (fseek(log->csv, 0, SEEK_END) == 0 && ftell(log->csv) == 0) {
            if (fputs(csv_header, log->csv) < 0 || fflush(log->csv) != 0)
                st = gm_error_set(GM_ERR_IO, "metrics file '%s': %s", csv_path, strerror(errno));
        }
    }
    if (st != GM_OK) gm__metric_log_close(log);
    return st;
}

/* JSON has no NaN or infinity: those become null. */
static void json_num(FILE *f, const char *key, double v, bool last) {
    if (isfinite(v))
        fprintf(f, "\"%s\":%.17g%s", key, v, last ? "" : ",");
    else
        fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

gm_status gm__metric_log_write(gm__metric_log *log, const gm_epoch_record *r) {
    if (log->jsonl) {
        FILE *f = log->jsonl;
        fprintf(f, "{\"epoch\":%lld,", (long long)r->epoch);
        json_num(f, "lr", r->lr, false);
        json_num(f, "train_loss", r->train_loss, false);
        json_num(f, "train_acc", r->train_accuracy, false);
        json_num(f, "val_loss", r->val_loss, false);
        json_num(f, "val_acc", r->val_accuracy, false);
        json_num(f, "seconds", r->seconds, false);
        json_num(f, "samples_per_s", r->samples_per_second, false);
        fprintf(f, "\"best\":%s}\n", r->best ? "true" : "false");
        GM_RETURN_ERROR_IF(ferror(f) || fflush(f) != 0, GM_ERR_IO,
                           "metrics file (jsonl): write failed at epoch %lld", (long long)r->epoch);
    }
    if (log->csv) {
        FILE *f = log->csv;
        fprintf(f, "%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%d\n", (long long)r->epoch,
                r->lr, r->train_loss, r->train_accuracy, r->val_loss, r->val_accuracy, r->seconds,
                r->samples_per_second, r->best ? 1 : 0);
        GM_RETURN_ERROR_IF(ferror(f) || fflush(f) != 0, GM_ERR_IO,
                           "metrics file (csv): write failed at epoch %lld", (long long)r->epoch);
    }
    return GM_OK;
}

void gm__metric_log_close(gm__metric_log *log) {
    if (log->jsonl) fclose(log->jsonl);
    if (log->csv) fclose(log->csv);
    memset(log, 0, sizeof *log);
}
