/* libFuzzer target for the metric log reader.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/metrics_jsonl/, dictionary fuzz/metrics_jsonl.dict.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 metrics_jsonl
 *   build-fuzz/fuzz/fuzz_metrics_jsonl FILE...
 *
 * The reader takes a path, so each input goes through a file; /dev/shm keeps
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
    fuzz_input_file("jsonl", data, size);

    int64_t n = -1;
    gm_epoch_record *r = NULL;
    if (gm_metrics_jsonl_read(fuzz_path, &n, &r) == GM_OK) {
        if (n < 0 || (n > 0 && !r)) abort();
        /* Touch every record so a short allocation shows up under ASan. */
        volatile double acc = 0.0;
        for (int64_t i = 0; i < n; i++) {
            if (r[i].epoch < 1) abort();
            acc += r[i].train_loss + r[i].val_accuracy + (double)r[i].best;
        }
        (void)acc;
        gm_free(r);
    } else if (n != 0 || r != NULL) {
        abort();
    }
    return 0;
}
