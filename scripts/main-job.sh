#!/usr/bin/env bash
# The main job: trains a rotation-equivariant GM-CNN on rotated MNIST (made
# from the 10k real digits, see scripts/setup-data.sh) with
# configs/default.yaml, then prints the test accuracy of the best and the
# last model and the parameter count. A short look at the group and at a
# p4m model's measured equivariance first. Usage: scripts/main-job.sh PATH-TO-gmcnn
set -euo pipefail
gmcnn=${1:-build/gmcnn}
"$gmcnn" --version
echo
"$gmcnn" group info p4m:28 | cut -c1-160
echo
"$gmcnn" equivariance --model deep --group p4m:8 --radius 1 --channels 4
echo
start=$(date +%s)
"$gmcnn" train configs/default.yaml
echo "main job: training took $(( $(date +%s) - start ))s"
