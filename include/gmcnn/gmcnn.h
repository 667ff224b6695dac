/* gmcnn: group-matrix networks. Umbrella header. */
#ifndef GMCNN_GMCNN_H
#define GMCNN_GMCNN_H

#include "gmcnn/core.h"
#include "gmcnn/kernels.h"
#include "gmcnn/dist.h"
#include "gmcnn/group.h"
#include "gmcnn/gmat.h"
#include "gmcnn/tensor.h"
#include "gmcnn/ops.h"
#include "gmcnn/nn.h"
#include "gmcnn/data.h"
#include "gmcnn/datasets.h"
#include "gmcnn/plume.h"
#include "gmcnn/io.h"
#include "gmcnn/optim.h"
#include "gmcnn/config.h"
#include "gmcnn/train.h"
#include "gmcnn/forecast.h"
#include "gmcnn/run.h"

#endif
