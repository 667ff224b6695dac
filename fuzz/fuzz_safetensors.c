/* libFuzzer target for the safetensors reader.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/safetensors/.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 safetensors
 *   build-fuzz/fuzz/fuzz_safetensors FILE...
 *
 * The reader takes a path, so each input goes through a file; /dev/shm keeps
 * that off the disk where it exists. Every file the reader accepts is written
 * back and read again, which must succeed and give the same tensors, so the
 * writer is fuzzed with every shape the reader lets through. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmcnn/io.h"

static char fuzz_in[64], fuzz_out[64];

static void fuzz_remove_files(void) {
    unlink(fuzz_in);
    unlink(fuzz_out);
}

static int fuzz_make_paths(void) {
    const char *dirs[] = {"/dev/shm", "/tmp"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(fuzz_in, sizeof fuzz_in, "%s/gmcnn-fuzz-st-XXXXXX", dirs[i]);
        int fd = mkstemp(fuzz_in);
        if (fd < 0) continue;
        close(fd);
        snprintf(fuzz_out, sizeof fuzz_out, "%s.out", fuzz_in);
        atexit(fuzz_remove_files);
        return 0;
    }
    return -1;
}

static void fuzz_same(const gm_safetensors *a, const gm_safetensors *b) {
    if (gm_safetensors_count(a) != gm_safetensors_count(b)) abort();
    if (gm_safetensors_meta_count(a) != gm_safetensors_meta_count(b)) abort();
    for (int64_t i = 0; i < gm_safetensors_count(a); i++) {
        const gm_st_entry *x = gm_safetensors_entry(a, i);
        int64_t k = gm_safetensors_find(b, x->name);
        if (k < 0) abort();
        const gm_st_entry *y = gm_safetensors_entry(b, k);
        if (x->dtype != y->dtype || x->ndim != y->ndim) abort();
        if (memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]) != 0) abort();
        size_t n = (size_t)gm_st_entry_numel(x) * gm_dtype_size(x->dtype);
        if (n && memcmp(x->data, y->data, n) != 0) abort();
    }
    for (int64_t i = 0; i < gm_safetensors_meta_count(a); i++) {
        const char *k = NULL, *v = NULL;
        if (!gm_safetensors_meta_at(a, i, &k, &v)) abort();
        const char *w = gm_safetensors_meta_get(b, k);
        if (!w || strcmp(v, w) != 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fuzz_in[0] && fuzz_make_paths() != 0) abort();
    FILE *f = fopen(fuzz_in, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();

    gm_safetensors *st = NULL;
    if (gm_safetensors_read(fuzz_in, &st) != GM_OK) {
        if (st) abort();
        return 0;
    }
    int64_t n = gm_safetensors_count(st), nmeta = gm_safetensors_meta_count(st);
    gm_st_entry *e = malloc(((size_t)n + 1) * sizeof *e);
    const char **keys = malloc(((size_t)nmeta + 1) * sizeof *keys);
    const char **values = malloc(((size_t)nmeta + 1) * sizeof *values);
    if (!e || !keys || !values) abort();
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < n; i++) {
        e[i] = *gm_safetensors_entry(st, i);
        int64_t numel = gm_st_entry_numel(&e[i]);
        if (numel < 0) abort();
        /* Touch every byte so that a short buffer shows up under ASan. */
        size_t nbytes = (size_t)numel * gm_dtype_size(e[i].dtype);
        for (size_t j = 0; j < nbytes; j++) sink ^= ((const uint8_t *)e[i].data)[j];
    }
    (void)sink;
    for (int64_t i = 0; i < nmeta; i++) {
        if (!gm_safetensors_meta_at(st, i, &keys[i], &values[i])) abort();
    }
    if (gm_safetensors_write(fuzz_out, n, e, nmeta, keys, values) != GM_OK) abort();
    gm_safetensors *again = NULL;
    if (gm_safetensors_read(fuzz_out, &again) != GM_OK) abort();
    fuzz_same(st, again);
    gm_safetensors_free(again);
    gm_safetensors_free(st);
    free(e);
    free(keys);
    free(values);
    return 0;
}
