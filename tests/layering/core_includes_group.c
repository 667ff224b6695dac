/* Layering probe, compiled as a file of src/core/ (tests/CMakeLists.txt):
 * core is the bottom layer and sees no other layer's header. */
#include "gmcnn/group.h"

int gm_probe_core_includes_group(void);
int gm_probe_core_includes_group(void) { return 0; }
