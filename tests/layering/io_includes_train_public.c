/* Layering probe, compiled as a file of src/io/ (tests/CMakeLists.txt): train
 * is above io, so its public header must be out of reach. */
#include "gmcnn/train.h"

int gm_probe_io_includes_train_public(void);
int gm_probe_io_includes_train_public(void) { return 0; }
