#!/usr/bin/env bash
# The main job: trains a GM-CNN on rotated MNIST (made from the 10k real
# digits, see scripts/setup-data.sh) with configs/default.yaml, then prints
# the test accuracy of the best and the last model and the parameter count.
# A short look at the group first. Usage: scripts/main-job.sh PATH-TO-gmcnn
set -euo pipefail
gmcnn=${1:-build/gmcnn}
"$gmcnn" --version
echo
"$gmcnn" group info D14xD14
echo
"$gmcnn" equivariance --model gmcnn --group D14xD14 --radius 1 --channels 16
echo
start=$(date +%s)
"$gmcnn" train configs/default.yaml
echo "main job: training took $(( $(date +%s) - start ))s"
