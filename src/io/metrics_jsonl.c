/* Reader of the per-epoch JSON-lines metric log (src/train/metric_log.c
 * writes it). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmcnn/io.h"

/* A log of a million epochs is about 250 MB; nothing larger is read. */
#define GM__METRICS_MAX ((off_t)256 << 20)

/* The writer turns NaN into null, so null reads back as NaN; a missing
 * optional member is NaN as well. */
static gm_status get_num(const json_t *obj, const char *key, bool required, const char *path,
                         int64_t line, double *out) {
    const json_t *v = json_object_get(obj, key);
    *out = NAN;
    if (!v) {
        if (!required) return GM_OK;
        return gm_error_set(GM_ERR_FORMAT, "%s line %lld: missing \"%s\"", path,
                            (long long)line, key);
    }
    if (json_is_null(v)) return GM_OK;
    if (!json_is_number(v))
        return gm_error_set(GM_ERR_FORMAT,
                            "%s line %lld: \"%s\" must be a number or null", path,
                            (long long)line, key);
    *out = json_number_value(v);
    return GM_OK;
}

static gm_status parse_line(const char *text, size_t len, const char *path, int64_t line,
                            gm_epoch_record *r) {
    json_t *obj = json_loadb(text, len, GM__JSON_READ_FLAGS, NULL);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        return gm_error_set(GM_ERR_FORMAT, "%s line %lld: not a JSON object",
                            path, (long long)line);
    }
    memset(r, 0, sizeof *r);
    double epoch;
    gm_status st = get_num(obj, "epoch", true, path, line, &epoch);
    if (st == GM_OK && !(epoch >= 1 && epoch <= 1e15 && floor(epoch) == epoch))
        st = gm_error_set(GM_ERR_FORMAT,
                          "%s line %lld: \"epoch\" must be an integer >= 1", path,
                          (long long)line);
    if (st == GM_OK) {
        r->epoch = (int64_t)epoch;
        st = get_num(obj, "train_loss", true, path, line, &r->train_loss);
    }
    if (st == GM_OK) st = get_num(obj, "train_acc", true, path, line, &r->train_accuracy);
    if (st == GM_OK) st = get_num(obj, "val_loss", true, path, line, &r->val_loss);
    if (st == GM_OK) st = get_num(obj, "val_acc", true, path, line, &r->val_accuracy);
    if (st == GM_OK) st = get_num(obj, "lr", false, path, line, &r->lr);
    if (st == GM_OK) st = get_num(obj, "seconds", false, path, line, &r->seconds);
    if (st == GM_OK)
        st = get_num(obj, "samples_per_s", false, path, line, &r->samples_per_second);
    if (st == GM_OK) {
        const json_t *b = json_object_get(obj, "best");
        if (b && !json_is_boolean(b))
            st = gm_error_set(GM_ERR_FORMAT, "%s line %lld: \"best\" must be "
                              "true or false", path, (long long)line);
        else
            r->best = b && json_is_true(b);
    }
    json_decref(obj);
    return st;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

gm_status gm_metrics_jsonl_parse(const char *text, size_t len, const char *name, int64_t *n,
                                 gm_epoch_record **records) {
    GM_RETURN_ERROR_IF(!text || !name || !n || !records, GM_ERR_INVALID_ARG,
                       "gm_metrics_jsonl_parse: text, name, n and records are required");
    *n = 0;
    *records = NULL;
    gm_epoch_record *recs = NULL;
    int64_t count = 0, cap = 0, line = 0;
    gm_status st = GM_OK;
    for (size_t pos = 0; pos < len && st == GM_OK;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        const size_t end = nl ? (size_t)(nl - text) + 1 : len, ll = end - pos;
        const char *l = text + pos;
        pos = end;
        line++;
        if (blank(l, ll)) continue;
        /* A NUL byte: binary data, not JSON. */
        if (memchr(l, '\0', ll)) {
            st = gm_error_set(GM_ERR_FORMAT, "%s line %lld: not a JSON object",
                              name, (long long)line);
            break;
        }
        if (count == cap) {
            const int64_t ncap = cap ? 2 * cap : 64;
            gm_epoch_record *p = gm_realloc(recs, (size_t)ncap * sizeof *p);
            if (!p) {
                st = gm__nomem("metric records");
                break;
            }
            recs = p;
            cap = ncap;
        }
        st = parse_line(l, ll, name, line, &recs[count]);
        if (st == GM_OK) count++;
    }
    if (st != GM_OK) {
        gm_free(recs);
        return st;
    }
    *n = count;
    *records = recs;
    return GM_OK;
}

gm_status gm_metrics_jsonl_read(const char *path, int64_t *n, gm_epoch_record **records) {
    GM_RETURN_ERROR_IF(!path || !n || !records, GM_ERR_INVALID_ARG,
                       "gm_metrics_jsonl_read: path, n and records are required");
    *n = 0;
    *records = NULL;
    FILE *f = fopen(path, "rb");
    GM_RETURN_ERROR_IF(!f, GM_ERR_IO, "metrics file '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > GM__METRICS_MAX) {
        const bool dir = S_ISDIR(sb.st_mode);
        fclose(f);
        return gm_error_set(dir ? GM_ERR_IO : GM_ERR_TOO_LARGE, "metrics file '%s': %s", path,
                            dir ? "is a directory" : "not a regular file of at most 256 MiB");
    }
    const size_t size = (size_t)sb.st_size;
    char *text = gm_malloc(size + 1);
    if (!text) {
        fclose(f);
        return gm__nomem("metrics file");
    }
    const size_t got = fread(text, 1, size, f);
    const bool failed = ferror(f) != 0;
    fclose(f);
    gm_status st = GM_OK;
    if (failed) {
        st = gm_error_set(GM_ERR_IO, "metrics file '%s': read failed", path);
    } else {
        char what[4200];
        snprintf(what, sizeof what, "metrics file '%s'", path);
        st = gm_metrics_jsonl_parse(text, got, what, n, records);
    }
    gm_free(text);
    return st;
}
