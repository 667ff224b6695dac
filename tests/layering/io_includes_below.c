/* Layering probe, compiled as a file of src/io/ (tests/CMakeLists.txt): the
 * control for the probes that must fail. io sees its own headers and those of
 * every layer below it, public and private, named as the library's files name
 * them. */
#include "core/core_internal.h"
#include "data/data_internal.h"
#include "gmat/plan_internal.h"
#include "gmcnn/core.h"
#include "gmcnn/data.h"
#include "gmcnn/datasets.h"
#include "gmcnn/io.h"
#include "gmcnn/kernels.h"
#include "gmcnn/nn.h"
#include "gmcnn/optim.h"
#include "gmcnn/plume.h"
#include "io/plot_internal.h"
#include "ops/ops_gm.h"
#include "ops/ops_internal.h"

int gm_probe_io_includes_below(void);
int gm_probe_io_includes_below(void) { return 0; }
