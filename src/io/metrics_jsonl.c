/* Reader of the per-epoch JSON-lines metric log (src/train/metric_log.c
 * writes it). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/core_internal.h"
#include "gmcnn/io.h"

/* The writer turns NaN into null, so null reads back as NaN; a missing
 * optional member is NaN as well. */
static gm_status get_num(const cJSON *obj, const char *key, bool required, const char *path,
                         int64_t line, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NAN;
    if (!v) {
        if (!required) return GM_OK;
        return gm_error_set(GM_ERR_FORMAT, "metrics file '%s' line %lld: missing \"%s\"", path,
                            (long long)line, key);
    }
    if (cJSON_IsNull(v)) return GM_OK;
    if (!cJSON_IsNumber(v))
        return gm_error_set(GM_ERR_FORMAT,
                            "metrics file '%s' line %lld: \"%s\" must be a number or null", path,
                            (long long)line, key);
    *out = v->valuedouble;
    return GM_OK;
}

static gm_status parse_line(const char *text, const char *path, int64_t line,
                            gm_epoch_record *r) {
    cJSON *obj = cJSON_Parse(text);
    if (!obj || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return gm_error_set(GM_ERR_FORMAT, "metrics file '%s' line %lld: not a JSON object",
                            path, (long long)line);
    }
    memset(r, 0, sizeof *r);
    double epoch;
    gm_status st = get_num(obj, "epoch", true, path, line, &epoch);
    if (st == GM_OK && !(epoch >= 1 && epoch <= 1e15 && floor(epoch) == epoch))
        st = gm_error_set(GM_ERR_FORMAT,
                          "metrics file '%s' line %lld: \"epoch\" must be an integer >= 1", path,
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
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, "best");
        if (b && !cJSON_IsBool(b))
            st = gm_error_set(GM_ERR_FORMAT, "metrics file '%s' line %lld: \"best\" must be "
                              "true or false", path, (long long)line);
        else
            r->best = b && cJSON_IsTrue(b);
    }
    cJSON_Delete(obj);
    return st;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

gm_status gm_metrics_jsonl_read(const char *path, int64_t *n, gm_epoch_record **records) {
    GM_RETURN_ERROR_IF(!path || !n || !records, GM_ERR_INVALID_ARG,
                       "gm_metrics_jsonl_read: path, n and records are required");
    *n = 0;
    *records = NULL;
    FILE *f = fopen(path, "r");
    GM_RETURN_ERROR_IF(!f, GM_ERR_IO, "metrics file '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return gm_error_set(GM_ERR_IO, "metrics file '%s': is a directory", path);
    }
    gm_epoch_record *recs = NULL;
    int64_t count = 0, cap = 0, line = 0;
    char *buf = NULL;
    size_t bufcap = 0;
    gm_status st = GM_OK;
    errno = 0;
    ssize_t len;
    while (st == GM_OK && (len = getline(&buf, &bufcap, f)) >= 0) {
        line++;
        if (blank(buf, (size_t)len)) continue;
        /* A NUL would end the text cJSON sees early: binary data, not JSON. */
        if (memchr(buf, '\0', (size_t)len)) {
            st = gm_error_set(GM_ERR_FORMAT, "metrics file '%s' line %lld: not a JSON object",
                              path, (long long)line);
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
        st = parse_line(buf, path, line, &recs[count]);
        if (st == GM_OK) count++;
    }
    if (st == GM_OK && ferror(f))
        st = gm_error_set(GM_ERR_IO, "metrics file '%s': read failed after line %lld", path,
                          (long long)line);
    /* getline allocates with the C library, so its buffer goes back there. */
    free(buf);
    fclose(f);
    if (st != GM_OK) {
        gm_free(recs);
        return st;
    }
    *n = count;
    *records = recs;
    return GM_OK;
}
