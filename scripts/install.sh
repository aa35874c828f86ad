#!/usr/bin/env bash
# Installs resnet-tf1 in editable mode with the given extras (e.g. "test").
# Keeps an installed TensorFlow >= 2.16 (CPU or GPU build); otherwise adds the
# `cpu` extra, the small tensorflow-cpu wheel. For the test extra it also adds
# tf-keras, the reference oracles' backend, matched to TensorFlow's version and
# without dependencies (it names the full `tensorflow` distribution).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore

tf_version() {
  "$python" - <<'PY' 2>/dev/null
import importlib.metadata as md
for dist in ('tensorflow', 'tensorflow-cpu', 'tensorflow-gpu', 'tf-nightly',
             'tensorflow-intel', 'tensorflow-macos'):
    try:
        version = md.version(dist)
    except md.PackageNotFoundError:
        continue
    major, minor = (int(p) for p in version.split('.')[:2])
    if (major, minor) >= (2, 16):
        print('%d.%d' % (major, minor))
        break
PY
}

if [ -z "$(tf_version)" ]; then
  extras="cpu${extras:+,$extras}"
fi
"$python" -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"

case ",$extras," in
  *,test,*)
    "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
      "tf-keras==$(tf_version).*"
    ;;
esac
