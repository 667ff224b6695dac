/* Layering probe, compiled as a file of src/io/ (tests/CMakeLists.txt): train
 * is above io, so its private header must be out of reach. */
#include "train/train_internal.h"

int gm_probe_io_includes_train_private(void);
int gm_probe_io_includes_train_private(void) { return 0; }
