"""N-dimensional landscapes and their merge trees: lossatlas against the landscaper pattern.

Part 1, the grid, on the same points in one process:

- reference: the pattern of the `landscaper` package: for every grid point add
  Σ_k c_k d_k into the module's parameters in place, iterate a DataLoader
  (batch 128) accumulating the loss, then subtract the step again;
- lossatlas: `landscape.landscape` with the same directions, in memory and
  with its resumable zarr store (loss only, as the reference computes; the
  best of two runs, the reference once: it is 10–40× slower).

Part 2, the topology of a 41³ grid (68,921 cells): `topology.merge_tree` and
`topology.summary`, against gudhi's cubical persistence of the same grid
(a C++ library; our tests check that both give the same pairs), on a smooth
random field and on white noise (the worst case: one minimum per ~7 cells),
and the bottleneck distance between two such diagrams.

    .venv/bin/python benchmarks/topology.py [--steps 9] [--models fcp,lenet] [--threads 1]

On a shared machine use --threads 1: two torch threads on two busy cores spin
against the other jobs and the timings swing by 2-10x from run to run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch.utils.data import DataLoader, TensorDataset

from lossatlas import Objective, topology, zoo
from lossatlas.surface.landscape import landscape


def landscaper_pattern(model, x, y, space, dirs, axes) -> tuple[float, np.ndarray]:
    """Add each point's step into the module, sweep a DataLoader, subtract the step."""
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=False)
    params = [p for _, p in model.named_parameters()]
    slices = [space[name].slice for name, _ in model.named_parameters()]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
    out = np.empty(len(mesh))
    t0 = time.perf_counter()
    with torch.no_grad():
        for i, c in enumerate(mesh):
            step = sum(float(ck) * d for ck, d in zip(c, dirs, strict=True))
            for p, sl in zip(params, slices, strict=True):
                p.add_(step[sl].view_as(p))
            total, n = 0.0, 0
            for xb, yb in loader:
                total += float(torch.nn.functional.cross_entropy(model(xb), yb, reduction="sum"))
                n += len(xb)
            out[i] = total / n
            for p, sl in zip(params, slices, strict=True):
                p.sub_(step[sl].view_as(p))
    return time.perf_counter() - t0, out.reshape([len(a) for a in axes])


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def grid_part(name: str, dims: int, steps: int) -> None:
    split = zoo.dataset("digits")
    x, y = split.train
    net = zoo.build_for(name, split, seed=0).eval()
    obj = Objective(net, (x, y))
    theta = obj.point()
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(dims, obj.size, generator=g)
    dirs = 0.2 * dirs / dirs.norm(dim=1, keepdim=True) * theta.norm()
    kw = {"steps": steps, "span": (-1.0, 1.0), "progress": False, "accuracy": False}
    ds = landscape(obj, theta, dirs, **kw)  # warm-up, and the values to compare
    t_ours = timed(lambda: landscape(obj, theta, dirs, **kw), repeat=2)

    def stored() -> None:
        with tempfile.TemporaryDirectory() as tmp:  # a fresh store each time
            landscape(obj, theta, dirs, store=Path(tmp) / "l.zarr", **kw)

    t_store = timed(stored, repeat=2)
    axes = [ds[f"d{k}"].values for k in range(dims)]
    t_ref, ref = landscaper_pattern(net, x, y, obj.space, dirs, axes)
    err = float(np.abs(ds.loss.values - ref).max())
    points = steps**dims
    print(
        f"{name:6s} digits {dims}-D {steps}^{dims} = {points} points: "
        f"landscaper pattern {t_ref:7.2f}s  lossatlas {t_ours:6.2f}s "
        f"(with store {t_store:6.2f}s) | pattern/ours {t_ref / t_ours:5.2f}x "
        f"(with store {t_ref / t_store:5.2f}x)  max |Δloss| {err:.1e}"
    )


def topology_part(size: int) -> None:
    import gudhi

    rng = np.random.default_rng(0)
    fields = {
        "smooth": gaussian_filter(rng.normal(size=(size,) * 3), 2.0),
        "noise": rng.normal(size=(size,) * 3),
    }
    trees = {}
    for label, v in fields.items():
        t_tree = timed(lambda v=v: topology.merge_tree(v))
        t_summary = timed(lambda v=v: topology.summary(v))

        def cubical(v=v):
            cc = gudhi.CubicalComplex(vertices=v)
            cc.compute_persistence(min_persistence=-1)
            return cc.persistence_intervals_in_dimension(0)

        t_gudhi = timed(cubical)
        trees[label] = topology.merge_tree(v)
        print(
            f"{size}^3 {label:6s}: {trees[label].num_leaves:6d} minima | merge_tree "
            f"{t_tree * 1e3:7.1f} ms  summary {t_summary * 1e3:7.1f} ms  "
            f"gudhi cubical H0 {t_gudhi * 1e3:7.1f} ms | gudhi/ours {t_gudhi / t_tree:5.2f}x"
        )
    other = topology.merge_tree(gaussian_filter(rng.normal(size=(size,) * 3), 2.0))
    a, b = trees["smooth"], other
    t_ours = timed(lambda: topology.bottleneck_distance(a, b))
    t_gudhi = timed(lambda: gudhi.bottleneck_distance(a.pairs, b.pairs, 0))
    print(
        f"bottleneck, two smooth {size}^3 diagrams ({a.num_leaves} and {b.num_leaves} pairs): "
        f"ours {t_ours * 1e3:.1f} ms, gudhi {t_gudhi * 1e3:.1f} ms "
        f"(values {topology.bottleneck_distance(a, b):.6g} and "
        f"{gudhi.bottleneck_distance(a.pairs, b.pairs, 0):.6g})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, default=3)
    parser.add_argument("--steps", type=int, default=9)
    parser.add_argument("--models", default="fcp,lenet")
    parser.add_argument("--size", type=int, default=41, help="merge-tree grid: size^3")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in args.models.split(","):
        if name:
            grid_part(name, args.dims, args.steps)
    topology_part(args.size)


if __name__ == "__main__":
    main()
