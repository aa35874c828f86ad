#!/usr/bin/env bash
# Sets up everything (the tf-slim reference needs the test extra's tf-keras),
# then runs the side-by-side benchmark. Flags pass through, e.g.
# `bash scripts/benchmark.sh --json results.json` or `--profile resnet_v2_50`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
exec "${PYTHON:-python3}" -m resnet_v1_graph.tools.benchmark "$@"
