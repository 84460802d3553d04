"""Hessian eigenvalues, trace and density: lossatlas against the PyHessian pattern.

Part `speed` (the Curvature issue's targets: ≥ 2× faster per HVP and fewer HVPs
to the same tolerance), on the zoo LeNet (digits, trained briefly) and the zoo
ResNet-20 (CIFAR-shaped random data, BatchNorm in eval mode), in one process:

- HVP cost. The peer: PyHessian's pattern, written here from its description
  (research/peers.md): for every batch of a DataLoader, a gradient with
  create_graph=True, then a second backward against v, accumulated weighted by
  batch size. lossatlas: `Objective.hvp` (forward-over-reverse) and
  `Objective.hvps` on a block of 10 vectors (one data sweep).
- HVPs to the same tolerance for λ_max. Power iteration as PyHessian runs it
  (stop when the Rayleigh quotient changes by < 1e-3 relative, at most 100),
  against `top_eigenvalues(tol=1e-3)`; and, from one long run of each, the
  first HVP count at which the estimate is within 1e-3 of a tight reference.
- Trace: Hutchinson with PyHessian's stopping rule, and the standard error of
  Hutchinson and Hutch++ at the same budget of 99 HVPs.
- Density: PyHessian's SLQ (one draw, 100 steps, sequential) against
  lossatlas's (k draws in lockstep block products), seconds per HVP.

Part `l1`: SLQ against the exact smoothed density on a ~15,000-parameter MLP
(digits, 64-100-80-10, trained briefly), k = 10, m = 90, as Ghorbani et al.'s
validation (they report L1 ≈ 0.0012 on a 15,910-parameter MNIST model).

Part `l1-split`: on the same MLP, with all eigenpairs, the L1 error of SLQ
split into the error of its k random draws (the same estimator with an exact
quadrature, from its own draws) and the rest, the m-node quadrature's.

    .venv/bin/python benchmarks/curvature.py --part speed [--samples 512] [--device cpu]
    .venv/bin/python benchmarks/curvature.py --part l1
    .venv/bin/python benchmarks/curvature.py --part l1-split   # draws' error vs quadrature's
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lossatlas import Objective, curvature, zoo
from lossatlas.curvature.density import smoothed
from lossatlas.curvature.operators import HessianOperator
from lossatlas.optim import train

# -- the peer's pattern ------------------------------------------------------------------


class PeerHessian:
    """HVPs by double backward over a DataLoader, as PyHessian computes them."""

    def __init__(self, model: nn.Module, x, y, batch_size: int):
        self.model = model.eval()
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.device = self.params[0].device
        # PyHessian iterates a DataLoader of host tensors and moves each batch to the device
        self.loader = DataLoader(TensorDataset(x.cpu(), y.cpu()), batch_size=batch_size)
        self.n = len(x)
        self.products = 0

    def hvp(self, v: list[torch.Tensor]) -> list[torch.Tensor]:
        total = [torch.zeros_like(p) for p in self.params]
        for xb, yb in self.loader:
            xb, yb = xb.to(self.device), yb.to(self.device)
            loss = nn.functional.cross_entropy(self.model(xb), yb)
            grads = torch.autograd.grad(loss, self.params, create_graph=True)
            hv = torch.autograd.grad(grads, self.params, grad_outputs=v)
            for t, h in zip(total, hv, strict=True):
                t += h.detach() * len(xb)
        self.products += 1
        return [t / self.n for t in total]

    def random(self, kind: str, seed: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        if kind == "rademacher":
            out = [torch.randint(0, 2, p.shape, generator=g).float() * 2 - 1 for p in self.params]
        else:
            out = [torch.randn(p.shape, generator=g) for p in self.params]
        return [t.to(self.device) for t in out]


def _dot(a, b):
    return sum(float((x * y).sum()) for x, y in zip(a, b, strict=True))


def _normalised(v):
    s = math.sqrt(_dot(v, v))
    return [x / s for x in v]


def power_iteration(peer: PeerHessian, max_iter=100, tol=1e-3, seed=0):
    """λ_max by power iteration with PyHessian's stopping rule; returns (λ, HVPs, history)."""
    v = _normalised(peer.random("gaussian", seed))
    eig, history = None, []
    for i in range(max_iter):
        hv = peer.hvp(v)
        new = _dot(hv, v)
        history.append(new)
        v = _normalised(hv)
        if eig is not None and abs(new - eig) / (abs(eig) + 1e-6) < tol:
            return new, i + 1, history
        eig = new
    return eig, max_iter, history


def hutchinson(peer: PeerHessian, max_iter=100, tol=1e-3, seed=0):
    """The trace with PyHessian's stopping rule; returns (trace, HVPs)."""
    forms, trace = [], 0.0
    for i in range(max_iter):
        v = peer.random("rademacher", seed + i)
        forms.append(_dot(peer.hvp(v), v))
        mean = float(np.mean(forms))
        if abs(mean - trace) / (abs(trace) + 1e-6) < tol:
            return mean, i + 1
        trace = mean
    return trace, max_iter


def peer_slq(peer: PeerHessian, steps=100, seed=0):
    """One-draw SLQ with full reorthogonalisation on lists of tensors (PyHessian's shape)."""
    v = _normalised(peer.random("rademacher", seed))
    basis, alphas, betas = [v], [], []
    w_prev, beta = None, 0.0
    for i in range(steps):
        w = peer.hvp(v)
        alpha = _dot(w, v)
        alphas.append(alpha)
        w = [
            a - alpha * b - (beta * c if w_prev is not None else 0)
            for a, b, c in zip(w, v, w_prev or v, strict=True)
        ]
        for q in basis:  # full reorthogonalisation
            c = _dot(w, q)
            w = [a - c * b for a, b in zip(w, q, strict=True)]
        beta = math.sqrt(_dot(w, w))
        if i + 1 < steps:
            betas.append(beta)
            w_prev, v = v, [a / beta for a in w]
            basis.append(v)
    T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    return np.linalg.eigh(T)


# -- helpers ---------------------------------------------------------------------------------


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn):
    """(seconds, result); device work is waited for on both sides of the clock."""
    _sync()
    t0 = time.perf_counter()
    out = fn()
    _sync()
    return time.perf_counter() - t0, out


def first_within(history, reference, rel=1e-3):
    for i, value in enumerate(history):
        if abs(value - reference) <= rel * abs(reference):
            return i + 1
    return None


def lanczos_history(op, steps, seed=0):
    """λ_max estimate (top Ritz value) after each Lanczos step, from one run."""
    g = torch.Generator().manual_seed(seed)
    v0 = torch.randn(op.size, generator=g).to(op.device, op.dtype)
    res = curvature.lanczos(op, v0, steps)
    hist = []
    for m in range(1, int(res.steps[0]) + 1):
        a, b = res.alpha[0, :m], res.beta[0, : m - 1]
        hist.append(float(np.linalg.eigvalsh(np.diag(a) + np.diag(b, 1) + np.diag(b, -1))[-1]))
    return hist


def setup(name: str, samples: int, device: str):
    if name == "lenet":
        split = zoo.dataset("digits")
        model = zoo.build_for("lenet", split, seed=0)
        train(model, split, optimizer="sgd", epochs=5, lr=0.1, progress=False)
        x, y = split.train
    else:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(samples, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (samples,), generator=g)
        model = zoo.build("resnet20", seed=0)
    return model.to(device).eval(), x.to(device), y.to(device)


def speed(name: str, samples: int, device: str, batch: int, budget: int) -> None:
    """`budget` caps the long runs (power iteration, Lanczos) and the trace's HVPs."""
    model, x, y = setup(name, samples, device)
    obj = Objective(model, (x, y))
    theta = obj.point()
    peer = PeerHessian(model, x, y, batch)
    print(
        f"\n== {name}: n = {obj.size:,} parameters, N = {len(x)} samples, device {device}, "
        f"HVP strategy {obj.resolved_hvp_strategy()}, derivative chunk {obj._grad_batch}"
    )

    # HVP cost (one warm-up each)
    v = torch.randn(obj.size, generator=torch.Generator().manual_seed(1)).to(device)
    V = torch.randn(10, obj.size, generator=torch.Generator().manual_seed(2)).to(device)
    pv = [
        t.view(p.shape)
        for t, p in zip(v.split([p.numel() for p in peer.params]), peer.params, strict=True)
    ]
    obj.hvp(theta, v)
    peer.hvp(pv)
    reps = 5
    t_peer = min(timed(lambda: peer.hvp(pv))[0] for _ in range(reps))
    full = PeerHessian(model, x, y, len(x))
    full.hvp(pv)
    t_peer_full = min(timed(lambda: full.hvp(pv))[0] for _ in range(reps))
    t_one = min(timed(lambda: obj.hvp(theta, v))[0] for _ in range(reps))
    obj.hvps(theta, V)
    t_block = min(timed(lambda: obj.hvps(theta, V))[0] for _ in range(2)) / 10
    err = float(
        (obj.hvp(theta, v) - torch.cat([h.reshape(-1) for h in peer.hvp(pv)])).norm()
        / obj.hvp(theta, v).norm()
    )
    print(
        f"seconds per HVP: peer (DataLoader {batch}) {t_peer:.4f}, peer (one batch) "
        f"{t_peer_full:.4f}, lossatlas hvp {t_one:.4f}, lossatlas hvps/10 {t_block:.4f}  "
        f"(relative difference {err:.1e})"
    )
    t_best, best_name = min((t_peer, f"DataLoader {batch}"), (t_peer_full, "one batch"))
    print(
        f"  speed-up per HVP: {t_peer / t_one:.2f}x (single), {t_peer / t_block:.2f}x (block); "
        f"against the peer's faster batching ({best_name}) {t_best / t_one:.2f}x / "
        f"{t_best / t_block:.2f}x"
    )

    # λ_max: reference, then HVPs each method needs
    op = HessianOperator(obj, theta)
    ref = curvature.top_eigenvalues(op, k=1, tol=1e-6, max_products=400)
    lam = float(ref.eigenvalues[0])
    t_pow, (eig_pow, n_pow, _) = timed(lambda: power_iteration(peer))
    op2 = HessianOperator(obj, theta)
    t_ours, ours = timed(lambda: curvature.top_eigenvalues(op2, k=1, tol=1e-3))
    long_pow = power_iteration(peer, max_iter=budget, tol=0.0)[2]
    hist_lan = lanczos_history(HessianOperator(obj, theta), min(budget, obj.size))
    print(
        f"λ_max reference {lam:.6g} (residual {float(ref.residuals[0]):.1e}, {ref.products} HVPs)"
    )
    print(
        f"  power iteration (PyHessian rule): {n_pow} HVPs, {t_pow:.2f}s, "
        f"error {abs(eig_pow - lam) / lam:.1e}"
    )
    print(
        f"  lossatlas top_eigenvalues(tol=1e-3): {ours.products} HVPs, {t_ours:.2f}s, "
        f"error {abs(float(ours.eigenvalues[0]) - lam) / lam:.1e}"
    )
    print(
        f"  first within 1e-3 of the reference: power {first_within(long_pow, lam)} HVPs, "
        f"Lanczos {first_within(hist_lan, lam)} HVPs; within 1e-6: power "
        f"{first_within(long_pow, lam, 1e-6)}, Lanczos {first_within(hist_lan, lam, 1e-6)}"
    )

    # trace
    t_h, (tr_peer, n_h) = timed(lambda: hutchinson(peer))
    a = curvature.trace(obj, theta, method="hutchinson", samples=budget)
    b = curvature.trace(obj, theta, method="hutch++", samples=budget)
    print(
        f"trace: peer Hutchinson stopped after {n_h} HVPs ({t_h:.2f}s) at {tr_peer:.5g} "
        f"with no error estimate"
    )
    print(
        f"  {budget} HVPs: Hutchinson {a.estimate:.5g} ± {a.stderr:.2g} (se), "
        f"Hutch++ {b.estimate:.5g} ± {b.stderr:.2g}: standard error ratio "
        f"{a.stderr / max(b.stderr, 1e-300):.1f}x"
    )

    # density
    if name == "lenet":
        t_slq_peer, _ = timed(lambda: peer_slq(peer, steps=100))
        t_slq, d = timed(lambda: curvature.density(obj, theta, draws=10, steps=90))
        per_peer, per_ours = t_slq_peer / 100, t_slq / d.attrs["products"]
        print(
            f"density: peer SLQ 1×100 in {t_slq_peer:.1f}s ({per_peer:.4f}s/HVP); lossatlas "
            f"10×90 in {t_slq:.1f}s ({per_ours:.4f}s/HVP): {per_peer / per_ours:.2f}x per HVP"
        )


def _trained_mlp() -> tuple[Objective, torch.Tensor]:
    """The ~15,000-weight MLP of Ghorbani et al.'s size check, trained briefly, in float64."""
    split = zoo.dataset("digits")
    model = zoo.build("mlp", widths=(64, 100, 80, 10), seed=0)
    train(model, split, optimizer="sgd", epochs=10, lr=0.1, progress=False)
    obj = Objective(model, split.train, dtype=torch.float64)
    print(f"MLP 64-100-80-10 on digits: n = {obj.size:,}")
    return obj, obj.point()


def _widths(lam: torch.Tensor) -> tuple[tuple[str, float], ...]:
    span = float(lam[-1] - lam[0])
    return (
        ("σ² = 1e-5 in the Hessian's own units", math.sqrt(1e-5)),
        ("σ² = 1e-5 on the spectrum mapped to [−1, 1]", math.sqrt(1e-5) * span / 2),
        ("σ = 1% of the span (our default)", 0.01 * span),
    )


def l1() -> None:
    obj, theta = _trained_mlp()
    t_dense, H = timed(lambda: curvature.dense_hessian(obj, theta))
    t0 = time.perf_counter()
    lam = torch.linalg.eigvalsh(H)
    t_eig = time.perf_counter() - t0
    del H
    print(
        f"dense Hessian {t_dense:.0f}s, eigvalsh {t_eig:.0f}s; spectrum "
        f"[{float(lam[0]):.4g}, {float(lam[-1]):.4g}]"
    )
    for label, sigma in _widths(lam):
        t, d = timed(
            lambda s=sigma: curvature.density(obj, theta, draws=10, steps=90, sigma=s, grid=20001)
        )
        exact = curvature.exact_density(lam, d.eigenvalue.values, sigma)
        print(
            f"{label}: σ = {sigma:.3g}, L1 = {curvature.l1_distance(d, exact):.5f} "
            f"(Ghorbani et al.: 0.0012), {d.attrs['products']} HVPs in {t:.1f}s"
        )


def l1_split() -> None:
    """Where SLQ's L1 error comes from: the k random draws or the m-node quadrature.

    With all eigenpairs (λ_i, u_i) known, the same estimator with an exact quadrature
    is φ̃(t) = (1/k) Σ_j Σ_i (u_i·v_j)² f(λ_i; t, σ²): its L1 to φ_σ is the error of the
    draws alone; SLQ's L1 beyond it is the quadrature's. The SLQ runs use the dense
    Hessian as the operator (same estimator, fast products).
    """
    obj, theta = _trained_mlp()
    t_dense, H = timed(lambda: curvature.dense_hessian(obj, theta))
    t_eig, (lam, U) = timed(lambda: torch.linalg.eigh(H))
    print(f"dense Hessian {t_dense:.0f}s, eigh {t_eig:.0f}s")
    n = lam.numel()
    for label, sigma in _widths(lam)[1:]:
        for draws, steps in ((10, 90), (10, 200), (100, 90)):
            d = curvature.density(
                H, draws=draws, steps=steps, sigma=sigma, grid=20001, seed=0, progress=False
            )
            t = d.eigenvalue.values
            exact = curvature.exact_density(lam, t, sigma)
            g = torch.Generator().manual_seed(123)
            V = torch.randn(n, draws, generator=g, dtype=torch.float64)
            weights = ((U.T @ (V / V.norm(dim=0))) ** 2).mean(1).numpy()
            draws_only = smoothed(t, lam.numpy(), weights, sigma)
            print(
                f"{label}, k = {draws}, m = {steps}: SLQ L1 {curvature.l1_distance(d, exact):.5f}"
                f"; exact quadrature, same k: {np.trapezoid(np.abs(draws_only - exact), t):.5f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("speed", "l1", "l1-split"), default="speed")
    parser.add_argument("--models", default="lenet,resnet20")
    parser.add_argument("--samples", type=int, default=512, help="ResNet-20 data size")
    parser.add_argument("--batch", type=int, default=128, help="the peer's DataLoader batch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--budget",
        default="lenet=99,resnet20=30",
        help="HVPs for the long runs and the trace, per model",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if args.part in ("l1", "l1-split"):
        (l1 if args.part == "l1" else l1_split)()
        return
    budgets = dict(item.split("=") for item in args.budget.split(","))
    for name in args.models.split(","):
        speed(name, args.samples, args.device, args.batch, int(budgets.get(name, 60)))


if __name__ == "__main__":
    main()
