/* libFuzzer target for the group spec parser.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/group_spec/, dictionary fuzz/group_spec.dict.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 group_spec
 *   build-fuzz/fuzz/fuzz_group_spec FILE...
 *
 * Feeds arbitrary bytes to gm_group_from_spec: any input must give a group
 * or a status with a one-line detail, never a crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gmcnn/group.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    /* Table files have their own target; here a path such as /dev/stdin
     * could block the run. */
    if (!strstr(spec, "table:")) {
        gm_group *g = NULL;
        const gm_status st = gm_group_from_spec(spec, &g);
        if ((st == GM_OK) != (g != NULL)) abort();
        if (st != GM_OK && (!gm_error_detail()[0] || strchr(gm_error_detail(), '\n'))) abort();
        if (g && gm_group_order(g) > 1 && gm_group_mul(g, 1, gm_group_inv(g, 1)) != 0) abort();
        gm_group_free(g);
    }
    free(spec);
    return 0;
}
