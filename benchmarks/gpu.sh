#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one go: every side-by-side benchmark with --device cuda.
# Usage: bash benchmarks/gpu.sh [OUTDIR] [PART...]   (parts: surface values curvature paths)
# Needs a Python with torch (CUDA) and lossatlas importable (pip install -e . or PYTHONPATH=src).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
shift || true
parts=${*:-surface values curvature paths}
mkdir -p "$out"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
    | tee -a "$out/gpu.txt"
for part in $parts; do
    case $part in
    surface)
        "$PY" benchmarks/surface.py --device cuda --grid 51 --sizes digits
        "$PY" benchmarks/surface.py --device cuda --grid 21 --sizes mnist ;;
    values) "$PY" benchmarks/objective_values.py --device cuda --points 256 ;;
    curvature)
        "$PY" benchmarks/curvature.py --device cuda --samples 4096 --budget lenet=99,resnet20=60 ;;
    paths) "$PY" benchmarks/paths.py --device cuda --mnist-steps 5 ;;
    *) echo "unknown part $part" ;;
    esac 2>&1 | tee "$out/$part.txt"
done
