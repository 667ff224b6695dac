/* What every build of the run layer knows about a run's files, with or
 * without YAML configs: the names a run writes into its output directory and
 * where the generated data sets live (gmcnn/run.h). */
#include <stdlib.h>

#include "gmcnn/io.h"
#include "gmcnn/run.h"

const char *const gm_run_output_files[] = {
    "config.yaml", "last.safetensors", "best.safetensors", "metrics.jsonl", "metrics.csv",
    "metrics.png", "results.json",     GM_OUTPUT_DIR_LOCK, NULL};

const char *gm_run_data_dir(void) {
    const char *d = getenv("GMCNN_DATA");
    return d && *d ? d : "build/data";
}
