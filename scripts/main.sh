#!/usr/bin/env bash
# Sets up everything, then trains ResNet-18 on the bundled digits data and
# prints per-epoch metrics and the test accuracy. Batch norm's moving
# averages use momentum 0.9 rather than tf.layers' 0.99: with 40 steps an
# epoch, 0.99 needs ~10 epochs before validation in inference mode means
# anything, and the best checkpoint is chosen by it. Checkpoints, TensorBoard
# events and curves.png land in runs/digits/. Run it again and it resumes
# (and, if training finished, just re-evaluates). Extra flags pass through,
# e.g. `bash scripts/main.sh --epoch 30`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec "${PYTHON:-python3}" -m resnet_v1_graph.cli train \
  --dataset digits --depth 18 --epoch 15 --batch-norm-momentum 0.9 \
  --model-path runs/digits/model --summary-path runs/digits/summary "$@"
