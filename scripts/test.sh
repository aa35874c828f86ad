#!/usr/bin/env bash
# Sets up everything the tests need, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,onnx,notebooks
exec "${PYTHON:-python3}" -m pytest -q --durations=15 tests "$@"
