/* libFuzzer target for Cayley tables.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/group_table/.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 group_table
 *   build-fuzz/fuzz/fuzz_group_table FILE...
 *
 * Writes the input to a temporary file (fuzz_input.h) and reads it with
 * gm_group_table_read; also hands the bytes to gm_group_table_new as a small
 * binary table (first byte: order - 1, then one byte per entry), which
 * reaches the associativity check far more often than text does. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmcnn/group.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every group that comes back must satisfy the axioms it was checked for. */
static void check_group(gm_group *g) {
    const int32_t n = (int32_t)gm_group_order(g);
    if (n > 64) return;
    for (int32_t a = 0; a < n; a++) {
        if (gm_group_mul(g, a, gm_group_inv(g, a)) != 0) abort();
        if (gm_group_mul(g, gm_group_inv(g, a), a) != 0) abort();
        for (int32_t b = 0; b < n; b++)
            for (int32_t c = 0; c < n; c++)
                if (gm_group_mul(g, gm_group_mul(g, a, b), c) !=
                    gm_group_mul(g, a, gm_group_mul(g, b, c)))
                    abort();
    }
}

static void fuzz_text(const uint8_t *data, size_t size) {
    fuzz_input_file("table", data, size);
    gm_group *g = NULL;
    const gm_status st = gm_group_table_read(fuzz_path, &g);
    if ((st == GM_OK) != (g != NULL)) abort();
    if (st != GM_OK && strchr(gm_error_detail(), '\n')) abort();
    if (g) check_group(g);
    gm_group_free(g);
}

static void fuzz_binary(const uint8_t *data, size_t size) {
    if (size < 1) return;
    const int64_t n = data[0] % 12 + 1;
    if ((size_t)(n * n) > size - 1) return;
    int32_t mul[144];
    for (int64_t k = 0; k < n * n; k++) mul[k] = data[1 + k] % (n + 1); /* n: out of range */
    gm_group *g = NULL;
    const gm_status st = gm_group_table_new(n, mul, &g);
    if ((st == GM_OK) != (g != NULL)) abort();
    if (g) check_group(g);
    gm_group_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_text(data, size);
    fuzz_binary(data, size);
    return 0;
}
