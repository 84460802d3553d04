"""Hessian products at one θ: the kept graph of ∇L(θ) against a fresh sweep per product.

`HessianOperator` keeps the graph of the full-data gradient at its θ and answers
each product with one more backward (reverse-over-reverse); without it, each
product is a fresh forward-over-reverse sweep (`Objective.hvp`), or a vmapped
block of them (`Objective.hvps`). This script times one product each way, the
block of 10, and the estimators that ask for one vector after another (top-1
eigenvalue to 1e-6, SLQ density, Hutchinson trace), and checks the values agree.

    .venv/bin/python benchmarks/kept_graph.py [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

import lossatlas.curvature.operators as ops
from lossatlas import Objective, curvature, zoo
from lossatlas.curvature.operators import HessianOperator

CASES = (("digits", "fcp"), ("digits", "lenet"), ("mnist-5k", "fcp"), ("mnist-5k", "lenet"))


def _best(f, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("case            n       fresh hvp  kept hvp  block/10   ratio  max rel. diff")
    for data, model in CASES:
        _case(data, model)


def _case(data: str, model: str) -> None:
    split = zoo.dataset(data)
    obj = Objective(zoo.build_for(model, split, seed=0), split.train)
    theta = obj.point()
    v = torch.randn(obj.size, generator=torch.Generator().manual_seed(0))
    V = torch.randn(10, obj.size, generator=torch.Generator().manual_seed(1))
    kept = HessianOperator(obj, theta, keep_graph=True)
    a, b = obj.hvp(theta, v), kept.matvec(v)  # warm-up; builds the kept graph
    fresh_t = _best(lambda: obj.hvp(theta, v))
    kept_t = _best(lambda: kept.matvec(v))
    block_t = _best(lambda: obj.hvps(theta, V), 2) / 10
    diff = float((a - b).abs().max() / a.abs().max())
    print(
        f"{data}/{model:6s} {obj.size:7d}  {1e3 * fresh_t:8.2f} ms {1e3 * kept_t:7.2f} ms "
        f"{1e3 * block_t:7.2f} ms  {fresh_t / kept_t:5.2f}x  {diff:.1e}"
    )
    for limit, label in ((0, "fresh"), (ops.KEEP_GRAPH_LIMIT, "kept ")):
        saved, ops.KEEP_GRAPH_LIMIT = ops.KEEP_GRAPH_LIMIT, limit
        try:
            t0 = time.perf_counter()
            top = curvature.top_eigenvalues(obj, theta, k=1, tol=1e-6)
            t1 = time.perf_counter()
            curvature.density(obj, theta, draws=4, steps=40, seed=0, progress=False)
            t2 = time.perf_counter()
            tr = curvature.trace(obj, theta, samples=30)
            t3 = time.perf_counter()
        finally:
            ops.KEEP_GRAPH_LIMIT = saved
        print(
            f"    {label} top-1 {t1 - t0:6.2f} s (λ {float(top.eigenvalues[0]):.6g})  "
            f"density 4×40 {t2 - t1:6.2f} s  trace 30 {t3 - t2:6.2f} s ({tr.estimate:.6g})"
        )


if __name__ == "__main__":
    main()
