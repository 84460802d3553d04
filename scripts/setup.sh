#!/usr/bin/env bash
# Creates .venv (once) and installs lossatlas with its dev and docs tools into it.
# torch==2.13.0 is installed first: it is the CPU build, and once it is present
# the package's torch range is satisfied, so pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e '.[dev,docs]'
