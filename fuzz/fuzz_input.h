/* Shared by the fuzz targets whose readers take a path: every input is
 * written to one temporary file (in /dev/shm where it exists, to keep it off
 * the disk), removed at exit. Include after the system headers. */
#ifndef GMCNN_FUZZ_INPUT_H
#define GMCNN_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_remove_file(void) { unlink(fuzz_path); }

/* Writes the input to the temporary file (created on first use, named after
 * `tag`) and returns its path; aborts on any failure. */
static const char *fuzz_input_file(const char *tag, const uint8_t *data, size_t size) {
    if (!fuzz_path[0]) {
        const char *dirs[] = {"/dev/shm", "/tmp"};
        int fd = -1;
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && fd < 0; i++) {
            snprintf(fuzz_path, sizeof fuzz_path, "%s/gmcnn-fuzz-%s-XXXXXX", dirs[i], tag);
            fd = mkstemp(fuzz_path);
        }
        if (fd < 0) abort();
        close(fd);
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return fuzz_path;
}

#endif
