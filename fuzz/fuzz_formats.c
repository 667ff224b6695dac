/* libFuzzer target for the dataset format readers (IDX, NORB, CIFAR-10, .amat), plain and gzip.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/formats/.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 formats
 *   build-fuzz/fuzz/fuzz_formats FILE...
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

/* Touches every byte so that a short allocation shows up under ASan, and
 * checks the contract: a valid array on success, a zeroed one on failure. */
static void fuzz_check(gm_status st, gm_array *a) {
    if (st != GM_OK) {
        if (a->data != NULL || a->ndim != 0) abort();
        return;
    }
    int64_t n = gm_array_numel(a);
    if (n < 0 || a->data == NULL) abort();
    size_t nbytes = (size_t)n * gm_dtype_size(a->dtype);
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < nbytes; i++) sink ^= ((const uint8_t *)a->data)[i];
    (void)sink;
    gm_array_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input_file("fmt", data, size);

    gm_array a, b;
    fuzz_check(gm_idx_read(fuzz_path, &a), &a);
    fuzz_check(gm_norb_read(fuzz_path, &a), &a);

    gm_status st = gm_cifar10_read(fuzz_path, &a, &b);
    if (st == GM_OK && (a.shape[0] != b.shape[0] || a.dtype != GM_DTYPE_U8)) abort();
    fuzz_check(st, &a);
    fuzz_check(st, &b);

    st = gm_amat_read(fuzz_path, &a, &b);
    if (st == GM_OK && (a.shape[0] != b.shape[0] || a.shape[1] < 1)) abort();
    fuzz_check(st, &a);
    fuzz_check(st, &b);
    return 0;
}
