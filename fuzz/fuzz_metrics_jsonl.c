/* libFuzzer target for the metric log reader. Build, then run, from the repository root:
 * clang -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -o fuzz_metrics_jsonl fuzz/fuzz_metrics_jsonl.c src/io/metrics_jsonl.c src/core/alloc.c src/core/status.c -lcjson -lm
 * mkdir -p /tmp/metrics-corpus && ./fuzz_metrics_jsonl -max_total_time=30 /tmp/metrics-corpus
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
