"""One process of a 2-process run of the library (launched by tests/test_distributed.py).

Computes, under torch.distributed, everything the data-parallel objective and
the shared stores touch, on tiny float64 problems, and has rank 0 save the
results for the test to compare with one process. `problem()` is also what
the test builds its one-process reference from.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn


def problem():
    """A small MLP on 30 samples (float64), a point θ and three solutions."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=g)
    V = torch.randn(3, 51, generator=g, dtype=torch.float64)
    P = torch.randn(5, 51, generator=g, dtype=torch.float64)
    return model, (x, y), V, P


def compute(shard_objective):
    """Every quantity, with `shard_objective(data, **kw)` making the objectives."""
    from lossatlas import curvature, paths
    from lossatlas.curvature.operators import GradientCovariance

    _, data, V, P = problem()
    obj = shard_objective(data)
    theta = obj.point()
    other = theta + 0.3 * P[0]
    value, grad = obj.value_and_grad(theta)
    stream = [(data[0][i : i + 7], data[1][i : i + 7]) for i in range(0, 30, 7)]  # 5 batches
    single = [(data[0], data[1])]  # one batch: fewer than processes
    out = {
        "value": value,
        "grad": grad,
        "hvps": obj.hvps(theta, V),
        "values": obj.values(P, accuracy=True),
        "values_loop": obj.values(P, strategy="loop"),
        "values_and_grads": torch.cat([t.reshape(-1) for t in obj.values_and_grads(P)]),
        "accuracy": torch.tensor(obj.metrics(theta)["accuracy"]),
        "covariance": GradientCovariance(obj, theta).matmat(V),
        "covariance_trace": torch.tensor(GradientCovariance(obj, theta).trace()),
        "stream_grad": shard_objective(stream).grad(theta),
        "single_batch_grad": shard_objective(single).grad(theta),
        "eigen": curvature.top_eigenvalues(obj, theta, 3, seed=0).eigenvalues,
        "trace": torch.tensor(curvature.trace(obj, theta, samples=30, seed=0).estimate),
        "fourier": torch.as_tensor(
            paths.fourier(obj, theta, other, points=7, terms=2, steps=4, lr=0.05).loss
        ),
    }
    return obj, theta, other, out


def main(where: Path) -> None:
    from lossatlas import Objective, curvature, paths, surface
    from lossatlas.core import distributed
    from lossatlas.results.store import GridStore

    distributed.init()
    assert distributed.world_size() == 2, "launch with two processes"

    def make(data, **kw):
        model, *_ = problem()
        return Objective(model, data, dtype=torch.float64, **kw)

    obj, theta, other, out = compute(make)
    assert obj.sharded and obj.data.x.shape[0] == 15  # each process holds half the samples
    # the density in lockstep (sharded objective): rank 0 writes the store
    out["density"] = torch.as_tensor(
        curvature.density(
            obj, theta, draws=4, steps=6, block=3, sigma=0.1, store=where / "density.zarr"
        ).values
    )
    # surfaces: chunks shared out (whole-data objective), with and without a store, and
    # in lockstep (sharded objective)
    whole = make(problem()[1], shard=False)
    kw = {"grid": (5, 4), "chunk": 3, "progress": False}
    written, write = [], GridStore.write
    GridStore.write = lambda self, index, values: (
        written.append(index) or write(self, index, values)
    )
    split = surface.random_plane(whole, theta, store=where / "surface.zarr", **kw)
    GridStore.write = write
    mine = distributed.all_gather_objects(written)
    assert sorted(mine[0] + mine[1]) == list(range(7)) and not set(mine[0]) & set(mine[1])
    assert mine[distributed.rank()] == list(range(distributed.rank(), 7, 2))
    memory = surface.random_plane(whole, theta, **kw)
    lockstep = surface.random_plane(obj, theta, **kw)
    out["surface"] = torch.as_tensor(split.loss.values)
    out["surface_memory"] = torch.as_tensor(memory.loss.values)
    out["surface_lockstep"] = torch.as_tensor(lockstep.loss.values)
    solutions = [theta, other, theta - 0.2 * problem()[3][1]]
    matrix = paths.barrier_matrix(
        whole, solutions, method="linear", points=5, store=where / "barriers.zarr"
    )
    out["barriers"] = torch.as_tensor(matrix.height.values)
    # every process ends with the same numbers
    gathered = distributed.all_gather_objects({k: v.tolist() for k, v in out.items()})
    assert gathered[0] == gathered[1], "the two processes disagree"
    if distributed.is_main():
        torch.save(out, where / "results.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
