/* Layering probe, compiled as a file of src/run/ (tests/CMakeLists.txt): the
 * control for the top layer. run sees the headers of every layer, public and
 * private, but not the umbrella header. */
#include "core/core_internal.h"
#include "gmcnn/config.h"
#include "gmcnn/forecast.h"
#include "gmcnn/io.h"
#include "gmcnn/train.h"
#include "train/train_internal.h"

int gm_probe_run_includes_below(void);
int gm_probe_run_includes_below(void) { return 0; }
