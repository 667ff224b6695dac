/* libFuzzer target for the .npy and matrix file readers.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/npy/.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 npy
 *   build-fuzz/fuzz/fuzz_npy FILE...
 *
 * The readers take paths, so each input goes through a file; /dev/shm keeps
 * that off the disk where it exists. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gmcnn/gmcnn.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input_file("npy", data, size);

    gm_array a;
    if (gm_npy_read(fuzz_path, &a) == GM_OK) {
        /* Touch every byte so a short allocation shows up under ASan. */
        int64_t n = gm_array_numel(&a);
        if (n < 0) abort();
        size_t nbytes = (size_t)n * gm_dtype_size(a.dtype);
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < nbytes; i++) sink ^= ((const uint8_t *)a.data)[i];
        (void)sink;
        double *d = NULL;
        if (gm_array_to_f64(&a, &d) != GM_OK) abort();
        gm_free(d);
        gm_array_free(&a);
    } else if (a.data != NULL) {
        abort();
    }

    int64_t rows = 0, cols = 0;
    double *m = NULL;
    if (gm_matrix_read(fuzz_path, &rows, &cols, &m) == GM_OK) {
        if (rows < 0 || cols < 0) abort();
        volatile double acc = 0.0;
        for (int64_t i = 0; i < rows * cols; i++) acc += m[i];
        (void)acc;
        gm_free(m);
    } else if (m != NULL) {
        abort();
    }
    return 0;
}
