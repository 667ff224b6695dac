/* libFuzzer target for the YAML config parser.
 * Built with the others by the fuzz build (cmake/fuzz.cmake); seeds in
 * fuzz/corpus/config/, dictionary fuzz/config.dict.
 * From the repository root, build it and fuzz it for 60 s, or replay inputs:
 *   scripts/fuzz.sh 60 config
 *   build-fuzz/fuzz/fuzz_config FILE...
 *
 * Feeds arbitrary text to gm_config_parse: any input must give a config or a
 * status with a one-line detail, never a crash, leak or hang; a config that
 * parses must write out as YAML that parses back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gmcnn/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    gm_config *cfg = NULL;
    const gm_status st = gm_config_parse(text, "fuzz", &cfg);
    if ((st == GM_OK) != (cfg != NULL)) abort();
    if (st != GM_OK && (!gm_error_detail()[0] || strchr(gm_error_detail(), '\n'))) abort();
    if (cfg) {
        char *a = NULL, *b = NULL;
        gm_config *again = NULL;
        if (gm_config_to_string(cfg, &a) != GM_OK) abort();
        if (gm_config_parse(a, "fuzz-written", &again) != GM_OK) abort();
        if (gm_config_to_string(again, &b) != GM_OK || strcmp(a, b) != 0) abort();
        gm_free(a);
        gm_free(b);
        gm_config_free(again);
        gm_config_free(cfg);
    }
    free(text);
    return 0;
}
