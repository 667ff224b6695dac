/* results.json of training runs: the JSON pieces both reports share and the
 * classification report (the forecasting one is in forecast.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "train/train_internal.h"

gm_status gm__report_write(const char *path, const char *text, size_t len) {
    return gm__data_write_text_atomic("report", "report", path, text, len);
}

size_t gm__report_put_num(char *buf, size_t cap, const char *key, double v) {
    char num[GM__FMT_REAL_MAX];
    return (size_t)snprintf(buf, cap, "  \"%s\": %s,\n", key,
                            isfinite(v) ? gm__fmt_real(v, num) : "null");
}

size_t gm__report_put_str(char *buf, size_t cap, const char *key, const char *v) {
    size_t len = (size_t)snprintf(buf, cap, "  \"%s\": ", key);
    if (!v) return len + (size_t)snprintf(buf + len, cap - len, "null,\n");
    len += (size_t)snprintf(buf + len, cap - len, "\"");
    for (const char *p = v; *p && len + 8 < cap; p++) {
        const char ch = *p;
        if (ch == '"' || ch == '\\')
            len += (size_t)snprintf(buf + len, cap - len, "\\%c", ch);
        else
            len += (size_t)snprintf(buf + len, cap - len, "%c",
                                    ch >= 0x20 && ch < 0x7f ? ch : '?');
    }
    return len + (size_t)snprintf(buf + len, cap - len, "\",\n");
}

static size_t str_room(const char *s) { return s ? 2 * strlen(s) + 16 : 16; }

gm_status gm_classify_report_write(const char *path, const gm_classify_report *r) {
    GM_RETURN_ERROR_IF(!path || !r, GM_ERR_INVALID_ARG,
                       "gm_classify_report_write: path and report are required");
    const size_t cap = 4096 + str_room(r->select) + str_room(r->model) + str_room(r->source) +
                       str_room(r->kind) + str_room(r->digits) + str_room(r->split) +
                       str_room(r->config);
    char *buf = gm_malloc(cap);
    if (!buf) return gm__nomem("report");
    size_t len = (size_t)snprintf(buf, cap, "{\n");
    len += gm__report_put_str(buf + len, cap - len, "model", r->model);
    len += gm__report_put_str(buf + len, cap - len, "source", r->source);
    len += gm__report_put_str(buf + len, cap - len, "kind", r->kind);
    len += gm__report_put_str(buf + len, cap - len, "digits", r->digits);
    len += gm__report_put_str(buf + len, cap - len, "split", r->split);
    len += gm__report_put_str(buf + len, cap - len, "config", r->config);
    len += gm__report_put_str(buf + len, cap - len, "select", r->select);
    len += gm__report_put_num(buf + len, cap - len, "test_accuracy", r->test_accuracy);
    len += gm__report_put_num(buf + len, cap - len, "test_accuracy_last", r->test_accuracy_last);
    len += gm__report_put_num(buf + len, cap - len, "test_loss", r->test_loss);
    len += gm__report_put_num(buf + len, cap - len, "test_loss_last", r->test_loss_last);
    len += gm__report_put_num(buf + len, cap - len, "best_val_accuracy", r->best_val_accuracy);
    len += gm__report_put_num(buf + len, cap - len, "best_val_loss", r->best_val_loss);
    len += (size_t)snprintf(buf + len, cap - len,
                            "  \"n_test\": %lld,\n  \"best_epoch\": %lld,\n"
                            "  \"epochs_run\": %lld,\n  \"parameters\": %lld,\n",
                            (long long)r->n_test, (long long)r->best_epoch,
                            (long long)r->epochs_run, (long long)r->parameters);
    char num[GM__FMT_REAL_MAX];
    len += (size_t)snprintf(buf + len, cap - len, "  \"train_seconds\": %s\n}\n",
                            isfinite(r->train_seconds) ? gm__fmt_real(r->train_seconds, num)
                                                       : "null");
    GM_ASSERT(len < cap);
    const gm_status st = gm__report_write(path, buf, len);
    gm_free(buf);
    return st;
}
