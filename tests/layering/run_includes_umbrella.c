/* Layering probe, compiled as a file of src/run/ (tests/CMakeLists.txt): the
 * umbrella header is above every layer, the top one included. */
#include "gmcnn/gmcnn.h"

int gm_probe_run_includes_umbrella(void);
int gm_probe_run_includes_umbrella(void) { return 0; }
