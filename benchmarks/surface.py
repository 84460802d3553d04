"""A 2-D loss plane: lossatlas against the floor and against Li et al.'s pattern.

For each model and data size, on the same points, in one process:

- floor: the same number of bare full-data forward passes (model(x), loss),
  with nothing else: no point generation, no bookkeeping;
- reference: the approach of Li et al.'s published code: for every grid point
  write θ* + αδ + βη into the module's parameters, then iterate a DataLoader
  with batch size 128 and accumulate the loss;
- lossatlas: `surface.random_plane` (in memory, no progress bar; the loss only,
  as the floor and the reference compute, unless --accuracy).

Prints seconds and the ratios the Surfaces issue sets targets for:
lossatlas/floor ≤ 1.2 and reference/lossatlas ≥ 3.

    .venv/bin/python benchmarks/surface.py [--grid 21] [--device cpu] [--sizes digits,mnist]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from lossatlas import Objective, surface, zoo
from lossatlas.surface import directions


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def floor(model, x, y, count: int, batch: int) -> float:
    """`count` bare forward passes over all of x (in batches of `batch`) with the loss."""
    _sync()
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(count):
            for i in range(0, len(x), batch):
                torch.nn.functional.cross_entropy(model(x[i : i + batch]), y[i : i + batch])
    _sync()
    return time.perf_counter() - t0


def li_reference(model, x, y, space, theta, d1, d2, alphas, betas) -> tuple[float, torch.Tensor]:
    # as Li et al.'s code: a DataLoader of host tensors, each batch moved to the device
    loader = DataLoader(TensorDataset(x.cpu(), y.cpu()), batch_size=128, shuffle=False)
    out = torch.empty(len(alphas), len(betas))
    _sync()
    t0 = time.perf_counter()
    with torch.no_grad():
        for i, a in enumerate(alphas):
            for j, b in enumerate(betas):
                space.assign(model, theta + a * d1 + b * d2)
                total, n = 0.0, 0
                for xb, yb in loader:
                    xb, yb = xb.to(x.device), yb.to(x.device)
                    total += float(
                        torch.nn.functional.cross_entropy(model(xb), yb, reduction="sum")
                    )
                    n += len(xb)
                out[i, j] = total / n
    return time.perf_counter() - t0, out


def run(name: str, size: str, grid: int, device: str, acc: bool) -> None:
    if size == "digits":
        split = zoo.dataset("digits")
        x, y = split.train
        net = zoo.build_for(name, split, seed=0)
    else:  # random MNIST-shaped data: timing only
        g = torch.Generator().manual_seed(0)
        x = torch.rand(10_000, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (10_000,), generator=g)
        net = zoo.build(name, seed=0)
    net = net.to(device).eval()
    x, y = x.to(device), y.to(device)
    obj = Objective(net, (x, y))
    theta = obj.point()
    d1, d2 = directions.random_plane(obj.space, theta, seed=0)
    ds = None

    def ours() -> float:
        nonlocal ds
        t0 = time.perf_counter()
        ds = surface.random_plane(obj, theta, grid=(grid, grid), progress=False, accuracy=acc)
        return time.perf_counter() - t0

    ours()  # warm-up (and the values to compare)
    t_ours = min(ours() for _ in range(2))
    # the strongest bare forward: the whole set at once or in the objective's chunks
    t_floor = min(floor(net, x, y, grid * grid, b) for b in (len(x), obj.data.batch_size))
    alphas, betas = ds.alpha.values.tolist(), ds.beta.values.tolist()
    t_ref, ref = li_reference(net, x, y, obj.space, theta, d1, d2, alphas, betas)
    obj.space.assign(net, theta)
    err = float((torch.from_numpy(ds.loss.values).float() - ref).abs().max())
    print(
        f"{name:6s} {size:6s} {grid}x{grid}: floor {t_floor:7.2f}s  reference {t_ref:7.2f}s  "
        f"lossatlas {t_ours:7.2f}s | ours/floor {t_ours / t_floor:5.2f}  "
        f"reference/ours {t_ref / t_ours:5.2f}x  (max |Δloss| {err:.1e})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", type=int, default=21)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="fcp,lenet")
    parser.add_argument("--sizes", default="digits,mnist")
    parser.add_argument("--accuracy", action="store_true", help="also compute accuracy")
    args = parser.parse_args()
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for size in args.sizes.split(","):
        for name in args.models.split(","):
            run(name, size, args.grid, args.device, args.accuracy)


if __name__ == "__main__":
    main()
