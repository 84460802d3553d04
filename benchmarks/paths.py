"""FourierPathFinder: lossatlas against the authors' per-point loop, same pair, one process.

The Paths issue's target: ≥ 3× faster on the CPU. The peer is the pattern of
the optimizer-strategies paper's code (research/peers.md), written here from
that description: for each of the P = 51 t points the path's weights are
copied into the module, the whole training set goes through it as one batch,
one backward; the coefficient gradients Σ_i sin(nπt_i)·∇L_i are accumulated
term by term, and Adam steps on the coefficients. Both run the paper's
settings (K = 10, P = 51, λ = 1e-3, Adam lr 1e-3) from the same two
L-BFGS-GSS solutions and must agree on the kept path's height.

Reported: seconds per step, full-data gradient evaluations per step
(the peer differentiates the two fixed endpoints too), and the ratio.

    .venv/bin/python benchmarks/paths.py [--models fcp,lenet] [--steps 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from lossatlas import Objective, zoo
from lossatlas.optim import train
from lossatlas.paths import fourier


def peer_fourier(model, x, y, a, b, *, terms, points, penalty, steps, lr):
    """The authors' loop: per t point, weights into the module and one backward."""
    params = [p for p in model.parameters()]
    t = np.linspace(0, 1, points)
    coeffs = torch.zeros(terms, a.numel(), dtype=a.dtype, device=a.device, requires_grad=True)
    opt = torch.optim.Adam([coeffs], lr=lr)
    best, best_loss, evals = math.inf, None, 0
    for step in range(steps + 1):
        thetas, losses, grads = [], [], []
        for ti in t:
            theta = (1 - ti) * a + ti * b
            for n in range(terms):
                theta = theta + math.sin((n + 1) * math.pi * ti) * coeffs.detach()[n]
            vector_to_parameters(theta, params)
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            evals += 1
            thetas.append(theta)
            losses.append(float(loss.detach()))
            grads.append(parameters_to_vector([p.grad for p in params]))
        if sum(losses) < best:
            best, best_loss = sum(losses), losses
        if step == steps:
            evals -= points  # the last path is only scored; count gradients of updates
            break
        g = torch.zeros_like(coeffs)
        for n in range(terms):
            for i, ti in enumerate(t):
                g[n] += math.sin((n + 1) * math.pi * ti) * grads[i]
                if i + 1 < points:
                    ds = math.sin((n + 1) * math.pi * t[i + 1]) - math.sin((n + 1) * math.pi * ti)
                    g[n] += 2 * penalty * ds * (thetas[i + 1] - thetas[i])
        opt.zero_grad()
        coeffs.grad = g
        opt.step()
    return max(best_loss), evals


def endpoints(name: str, size: str, iterations: int, samples: int):
    """(x, y, θa, θb): two L-BFGS-GSS solutions on digits, or two initialisations on
    random MNIST-shaped data (timing only: the paper's data shape, 28×28)."""
    if size == "digits":
        split = zoo.dataset("digits")
        thetas = [
            train(
                zoo.build_for(name, split, seed=seed),
                split,
                optimizer="lbfgs-gss",
                epochs=iterations,
                progress=False,
            ).theta
            for seed in (0, 1)
        ]
        return (*split.train, thetas, lambda: zoo.build_for(name, split))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(samples, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (samples,), generator=g)
    thetas = [parameters_to_vector(zoo.build(name, seed=s).parameters()) for s in (0, 1)]
    return x, y, thetas, lambda: zoo.build(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="fcp,lenet")
    parser.add_argument("--sizes", default="digits,mnist")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mnist-steps", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10_000, help="MNIST-shaped samples")
    parser.add_argument("--iterations", type=int, default=100, help="L-BFGS-GSS iterations")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    for size in args.sizes.split(","):
        for name in args.models.split(","):
            steps = args.steps if size == "digits" else args.mnist_steps
            compare(name, size, steps, args)


def compare(name: str, size: str, steps: int, args) -> None:
    settings = dict(terms=10, points=51, penalty=1e-3, steps=steps, lr=1e-3)
    x, y, (a, b), build = endpoints(name, size, args.iterations, args.samples)
    dev = args.device
    x, y, a, b = x.to(dev), y.to(dev), a.to(dev), b.to(dev)
    obj = Objective(build().to(dev).eval(), (x, y), loss="cross_entropy", device=dev)
    peer_model = build().to(dev).eval()
    print(f"\n{name} on {size}: n = {obj.size:,}, {len(x)} training samples, {settings}")
    inner = settings["points"] - 2

    def ours():
        r = fourier(obj, a, b, **settings, progress=False)
        return r.height, steps * inner

    rows = []
    for label, run in (
        ("peer (per-point loop)", lambda: peer_fourier(peer_model, x, y, a, b, **settings)),
        ("lossatlas fourier", ours),
    ):
        start = time.perf_counter()
        height, evals = run()
        seconds = time.perf_counter() - start
        rows.append((label, seconds, height))
        print(
            f"  {label:24s} {seconds:7.2f} s  {seconds / (steps + 1):.3f} s/step  "
            f"{evals / steps:.0f} gradients/step  height {height:.6f}"
        )
    print(
        f"  ratio peer/lossatlas: {rows[0][1] / rows[1][1]:.2f}x; heights differ by "
        f"{abs(rows[0][2] - rows[1][2]):.2e}"
    )


if __name__ == "__main__":
    main()
