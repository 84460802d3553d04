"""lossatlas against the released peers, side by side in one process (issue 20).

The peers are the packages as released (`pip install -e '.[bench]'`, which pins
torch==2.13.0 beside them): pyhessian 0.1, curvlinops-for-pytorch 3.0.1 and
hessian-eigenthings 1.0.0a5. Same model, data, vectors and seeds; one torch
thread; the minimum and median of `--repeats` paired runs; a ratio is printed
only when the values agree (relative difference below `--agree`), else the
row says that they disagree.

Measures so far (the rest of the issue's table is still to come):

- one HVP at a fixed θ, the first-order graph kept by both: pyhessian's
  `hessian_vector_product` on the graph its `hessian(...)` builds for one batch,
  against `HessianOperator.matvec` (which keeps the graph of ∇L(θ));
- ten sequential HVPs at one θ, the graph build included (a fresh pyhessian
  `hessian` object and a fresh `HessianOperator`);
- a block of 10 HVPs: curvlinops' `HessianLinearOperator @ M` against a fresh
  `HessianOperator(...).matmat`;
- λ_max: hessian-eigenthings' Lanczos (k = 1) against `top_eigenvalues(k=1,
  tol=1e-6)`, each with its products and its error against a float64 reference.

    .venv/bin/python benchmarks/peers.py [--models fcp lenet] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from lossatlas import Objective, curvature, zoo
from lossatlas.curvature.operators import HessianOperator


def _times(f: Callable[[], object], repeats: int) -> tuple[float, float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        out.append(time.perf_counter() - start)
    return min(out), statistics.median(out)


def _row(measure: str, model: str, peer: str, t_peer, t_ours, agree: float, limit: float, extra=""):
    ratio = (
        f"{t_peer[0] / t_ours[0]:5.2f}–{t_peer[1] / t_ours[1]:4.2f}"
        if agree <= limit
        else "values disagree: no ratio"
    )
    print(
        f"{measure:28s} {model:6s} {peer:22s} peer {1e3 * t_peer[0]:9.2f} ms  lossatlas "
        f"{1e3 * t_ours[0]:9.2f} ms  peer/lossatlas {ratio}  (rel. diff {agree:.1e}){extra}"
    )


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _split(v: torch.Tensor, params: list[nn.Parameter]) -> list[torch.Tensor]:
    out, i = [], 0
    for p in params:
        out.append(v[i : i + p.numel()].view_as(p))
        i += p.numel()
    return out


def bench(model_name: str, repeats: int, limit: float) -> None:
    import hessian_eigenthings as he
    from curvlinops import HessianLinearOperator
    from pyhessian import hessian as PyHessian
    from pyhessian.utils import hessian_vector_product

    split = zoo.dataset("digits")
    net = zoo.build_for(model_name, split, seed=0)
    x, y = split.train
    obj = Objective(net, (x, y), loss="cross_entropy")
    theta = obj.point()
    params = [p for p in net.parameters() if p.requires_grad]
    criterion = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    v = torch.randn(obj.size, generator=g)
    V = torch.randn(10, obj.size, generator=g)

    # one HVP, graph kept by both
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = PyHessian(net, criterion, data=(x, y), cuda=False)
    vs = _split(v, params)
    ours = HessianOperator(obj, theta, keep_graph=True)
    a = _flat(hessian_vector_product(peer.gradsH, peer.params, vs))
    b = ours.matvec(v)
    agree = float((a - b).norm() / b.norm())
    _row("one HVP (graph kept)", model_name, "pyhessian 0.1",
         _times(lambda: hessian_vector_product(peer.gradsH, peer.params, vs), repeats),
         _times(lambda: ours.matvec(v), repeats), agree, limit)  # fmt: skip

    def peer_ten():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = PyHessian(net, criterion, data=(x, y), cuda=False)
        for row in V:
            hessian_vector_product(h.gradsH, h.params, _split(row, params))

    def ours_ten():
        op = HessianOperator(obj, theta, keep_graph=True)
        for row in V:
            op.matvec(row)

    _row("10 sequential HVPs + graph", model_name, "pyhessian 0.1",
         _times(peer_ten, repeats), _times(ours_ten, repeats), agree, limit)  # fmt: skip

    # a block of 10 HVPs
    lin = HessianLinearOperator(net, criterion, params, [(x, y)], check_deterministic=False)
    M = V.T.contiguous()
    a = (lin @ M).T
    b = HessianOperator(obj, theta, keep_graph=True).matmat(V)
    agree = float((a - b).norm() / b.norm())
    _row("block of 10 HVPs", model_name, "curvlinops 3.0.1",
         _times(lambda: lin @ M, repeats),
         _times(lambda: HessianOperator(obj, theta, keep_graph=True).matmat(V), repeats),
         agree, limit)  # fmt: skip

    # λ_max: reference in float64
    ref = float(
        curvature.top_eigenvalues(
            Objective(net, (x, y), loss="cross_entropy", dtype=torch.float64),
            theta.double(), k=1, tol=1e-10,
        ).eigenvalues[0]
    )  # fmt: skip

    def loss_fn(model, batch):
        return criterion(model(batch[0]), batch[1])

    op = he.HessianOperator(net, [(x, y)], loss_fn)

    def peer_top():
        return he.lanczos(op, k=1, max_iter=10, seed=0)

    def ours_top():
        return curvature.top_eigenvalues(obj, theta, k=1, tol=1e-6)

    lam_peer = float(torch.as_tensor(peer_top().eigenvalues).reshape(-1)[0])
    res = ours_top()
    lam_ours = float(res.eigenvalues[0])
    err_peer, err_ours = abs(lam_peer - ref) / abs(ref), abs(lam_ours - ref) / abs(ref)
    _row("λ_max (k = 1)", model_name, "hessian-eigenthings",
         _times(peer_top, repeats), _times(ours_top, repeats), abs(lam_peer - lam_ours) / abs(ref),
         limit, f"  errors: peer {err_peer:.1e} (10 steps), lossatlas {err_ours:.1e} "
         f"({res.products} products)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fcp", "lenet"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--agree", type=float, default=1e-4, help="largest relative difference")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, one thread, digits training set (1,347 images)")
    for model in args.models:
        bench(model, args.repeats, args.agree)


if __name__ == "__main__":
    main()
