#!/usr/bin/env bash
# Sets up everything the tests need, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,onnx,notebooks
# Two processes, a test file each at a time: much of a test's time is
# single-threaded Python (building graphs, starting sessions and the
# processes a cluster or a notebook needs), which leaves the second core
# idle when the tests run one after another. TEST_WORKERS=0 runs them in
# this process.
exec "${PYTHON:-python3}" -m pytest -q --durations=15 \
  -n "${TEST_WORKERS:-2}" --dist loadfile tests "$@"
