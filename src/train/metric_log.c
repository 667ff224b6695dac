/* Per-epoch metric logs: JSON lines and CSV, flushed after every record so
 * that a run killed mid-way leaves complete lines behind. */
#include <errno.h>
#include <stdio.h>
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
static size_t json_num(char *buf, size_t cap, const char *key, double v, bool last) {
    char num[GM__FMT_REAL_MAX];
    const int k = snprintf(buf, cap, "\"%s\":%s%s", key,
                           isfinite(v) ? gm__fmt_real(v, num) : "null", last ? "" : ",");
    return k > 0 ? (size_t)k : 0;
}

size_t gm__metric_jsonl_line(const gm_epoch_record *r, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "{\"epoch\":%lld,", (long long)r->epoch);
    n += json_num(buf + n, cap - n, "lr", r->lr, false);
    n += json_num(buf + n, cap - n, "train_loss", r->train_loss, false);
    n += json_num(buf + n, cap - n, "train_acc", r->train_accuracy, false);
    n += json_num(buf + n, cap - n, "val_loss", r->val_loss, false);
    n += json_num(buf + n, cap - n, "val_acc", r->val_accuracy, false);
    n += json_num(buf + n, cap - n, "seconds", r->seconds, false);
    n += json_num(buf + n, cap - n, "samples_per_s", r->samples_per_second, false);
    n += (size_t)snprintf(buf + n, cap - n, "\"best\":%s}\n", r->best ? "true" : "false");
    GM_ASSERT(n < cap);
    return n;
}

static size_t csv_line(const gm_epoch_record *r, char *buf, size_t cap) {
    const double v[7] = {r->lr,           r->train_loss, r->train_accuracy,      r->val_loss,
                         r->val_accuracy, r->seconds,    r->samples_per_second};
    char s[7][GM__FMT_REAL_MAX];
    for (int i = 0; i < 7; i++) gm__fmt_real(v[i], s[i]);
    const int n = snprintf(buf, cap, "%lld,%s,%s,%s,%s,%s,%s,%s,%d\n", (long long)r->epoch, s[0],
                           s[1], s[2], s[3], s[4], s[5], s[6], r->best ? 1 : 0);
    GM_ASSERT(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static gm_status put_line(FILE *f, const char *what, const char *line, size_t len,
                          int64_t epoch) {
    GM_RETURN_ERROR_IF(fwrite(line, 1, len, f) != len || fflush(f) != 0, GM_ERR_IO,
                       "metrics file (%s): write failed at epoch %lld: %s", what,
                       (long long)epoch, strerror(errno));
    return GM_OK;
}

gm_status gm__metric_log_write(gm__metric_log *log, const gm_epoch_record *r) {
    char line[GM__METRIC_LINE_MAX];
    if (log->jsonl)
        GM_FORWARD_IF_ERROR(
            put_line(log->jsonl, "jsonl", line, gm__metric_jsonl_line(r, line, sizeof line),
                     r->epoch));
    gm__failpoint("metrics.jsonl");
    if (log->csv)
        GM_FORWARD_IF_ERROR(
            put_line(log->csv, "csv", line, csv_line(r, line, sizeof line), r->epoch));
    return GM_OK;
}

gm_status gm__metric_log_rewrite(const char *jsonl_path, const char *csv_path, int64_t n,
                                 const gm_epoch_record *recs) {
    const char *paths[2] = {jsonl_path, csv_path};
    const size_t cap = (size_t)(n + 1) * GM__METRIC_LINE_MAX;
    char *text = gm_malloc(cap);
    if (!text) return gm__nomem("metrics text");
    gm_status st = GM_OK;
    for (int k = 0; k < 2 && st == GM_OK; k++) {
        if (!paths[k]) continue;
        size_t len = 0;
        if (k == 1) {
            memcpy(text, csv_header, sizeof csv_header - 1);
            len = sizeof csv_header - 1;
        }
        for (int64_t i = 0; i < n; i++)
            len += k == 0 ? gm__metric_jsonl_line(&recs[i], text + len, cap - len)
                          : csv_line(&recs[i], text + len, cap - len);
        st = gm__report_write(paths[k], text, len);
    }
    gm_free(text);
    return st;
}

void gm__metric_log_close(gm__metric_log *log) {
    if (log->jsonl) fclose(log->jsonl);
    if (log->csv) fclose(log->csv);
    memset(log, 0, sizeof *log);
}
