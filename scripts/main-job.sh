#!/usr/bin/env bash
# The main job on embedded default data: a tour of a group and of its group
# matrices. Usage: scripts/main-job.sh PATH-TO-gmcnn
set -euo pipefail
gmcnn=${1:-build/gmcnn}
"$gmcnn" --version
echo
"$gmcnn" group info D14xD14
echo
"$gmcnn" group info p4:8 --subgroup "((0,0),r)" --cosets left
echo
"$gmcnn" gm demo --group D14xD14 --radius 1 --rank 2
echo
"$gmcnn" equivariance --model gmcnn --group D14xD14 --radius 1 --channels 16
echo
"$gmcnn" equivariance --model plume --group C16xC16 --ldr-rank 2 --channels 8
