#!/usr/bin/env bash
# The released peers that benchmarks/peers.py runs beside lossatlas, into the project's .venv
# (made by scripts/setup.sh). Never runtime dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
# pyhessian, curvlinops, hessian-eigenthings, loss-landscapes; the extra pins torch==2.13.0 so
# pip keeps the CPU build instead of pulling a CUDA one
.venv/bin/pip install -e '.[bench]'
# landscaper 1.3.1: its dependency topopy pins numpy<2, and resolving it would downgrade NumPy
# to 1.26 and break mlxtend and zarr; the code peers.py calls (landscaper.compute) runs on
# NumPy 2, so it goes in without the pins (ghalton and pyDOE, which only topopy's sampling
# needs, are left out: ghalton does not build in a fresh venv)
.venv/bin/pip install --no-deps landscaper==1.3.1 topopy==1.0.4 nglpy==1.1.7 \
    treelib coloraide drawsvg pandas networkx tqdm
