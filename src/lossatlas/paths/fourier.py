"""Straight lines and FourierPathFinder paths between two minima.

FourierPathFinder (the optimizer-strategies paper §II.3, eqs. 3–5, Algorithm 2):

    θ(t) = (1 − t)·θa + t·θb + Σ_{n=1..K} b_n·sin(nπt),   t ∈ [0, 1],      (3)

with every b_n ∈ R^{n_params} initialised to 0, so the search starts from the
straight line, and t discretised into P equally spaced values. The
coefficients minimise the cumulative loss plus a discrete path-energy penalty

    F(b) = Σ_i L(θ(t_i)) + λ·Σ_i ‖θ(t_{i+1}) − θ(t_i)‖²                    (4)

by Adam, the path kept being the one with the lowest Σ_i L seen (the penalty
excluded). Because θ(t_i) is linear in every b_n,

    ∂F/∂b_n = Σ_i sin(nπt_i)·∇L(θ(t_i)) + 2λ·Σ_i (s_{i+1,n} − s_{i,n})·Δθ_i,

so one gradient of L per t point gives all K coefficient gradients at once (a
[P, K]ᵀ × [P, n] product), and the penalty's gradient is closed-form. The
endpoints have sin(nπ·0) = sin(nπ·1) = 0 (set exactly, not as 1e-16), so they
never move, and their gradients are never computed.

The loss term is a *sum* over the t points, as in the authors' code, so λ's
meaning depends on P (research/algorithms.md); the default λ = 1e-3 is theirs
for MNIST networks at P = 51.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.paths.result import (
    PathResult,
    check_distinct,
    check_endpoints,
    check_finite,
    check_points,
    path_length,
    profile,
)
from lossatlas.paths.shortcut import FourierShortcut, shortcut_applies
from lossatlas.surface.grid import _as_objective


def linear(
    obj: Objective,
    theta_a: Tensor,
    theta_b: Tensor,
    points: int = 51,
    *,
    test: Any = None,
) -> PathResult:
    """The loss along the straight line θ(t) = (1 − t)θa + tθb at `points` values of t.

    Returns a `PathResult` with the path height (eq. 5) and the two barriers.
    """
    a, b = check_endpoints(obj, theta_a, theta_b)
    check_points(points)
    t = np.linspace(0.0, 1.0, points)

    def basis(tt: Tensor) -> Tensor:
        tt = tt.to(device=a.device, dtype=a.dtype)[:, None]
        return (1 - tt) * a + tt * b

    thetas = basis(torch.as_tensor(t))
    loss = profile(obj, thetas)
    check_finite(loss, t, "training loss on the straight line")
    return PathResult(
        method="linear",
        t=t,
        loss=loss,
        test_loss=profile(_as_objective(obj, test), thetas),
        theta_a=a,
        theta_b=b,
        length=path_length(thetas),
        settings={"points": points},
        basis=basis,
    )


def sine_basis(t: np.ndarray, terms: int) -> np.ndarray:
    """[P, K] sin(nπt_i), exactly zero at t = 0 and t = 1."""
    n = np.arange(1, terms + 1)
    s = np.sin(np.pi * np.outer(t, n))
    s[np.isclose(t, 0.0) | np.isclose(t, 1.0)] = 0.0
    return s


def coefficient_gradient(S: Tensor, grads: Tensor, thetas: Tensor, penalty: float) -> Tensor:
    """∂F/∂b [K, n] of eq. 4 from the gradients of L at the inner t points.

    Args:
        S: [P, K] sin(nπt_i) (zero rows at the endpoints).
        grads: [P − 2, n] ∇L(θ(t_i)) at the inner points (the endpoints never move).
        thetas: [P, n] the current path θ(t_i).
        penalty: λ.

    Returns:
        Σ_i sin(nπt_i)·∇L(θ(t_i)) + 2λ·Σ_i (S_{i+1} − S_i)ᵀ(θ(t_{i+1}) − θ(t_i)),
        one [P, K]ᵀ × [P, n] product for the loss and one for the penalty.
    """
    return S[1:-1].T @ grads + penalty_gradient(S, thetas, penalty)


def penalty_gradient(S: Tensor, thetas: Tensor, penalty: float) -> Tensor | float:
    """∂/∂b of λ·Σ_i ‖θ(t_{i+1}) − θ(t_i)‖²: 2λ·(S_{i+1} − S_i)ᵀ(θ(t_{i+1}) − θ(t_i))."""
    if not penalty:
        return 0.0
    return 2 * penalty * ((S[1:] - S[:-1]).T @ (thetas[1:] - thetas[:-1]))


def fourier(
    obj: Objective,
    theta_a: Tensor,
    theta_b: Tensor,
    *,
    terms: int = 10,
    points: int = 51,
    penalty: float = 1e-3,
    steps: int = 100,
    lr: float = 1e-3,
    noise: float = 0.0,
    seed: int = 0,
    test: Any = None,
    shortcut: bool | None = None,
    progress: bool = True,
) -> PathResult:
    """FourierPathFinder: a low-height path from θa to θb (Algorithm 2 of the paper).

    Args:
        obj: the loss (any Objective: a network or a synthetic landscape).
        theta_a, theta_b: the endpoints, flat [n]; they never move.
        terms: K Fourier terms (paper: 10; 15 on the 2-D landscape).
        points: P values of t in [0, 1], equally spaced (paper: 51; 101 in 2-D).
        penalty: λ of the path-energy term (paper: 1e-3 for networks; 35 in 2-D).
        steps: Adam steps (paper: 100; 300 in 2-D).
        lr: Adam's learning rate (paper: 1e-3; 0.01 in 2-D).
        noise: standard deviation of Gaussian noise added to the coefficient
            gradient (the paper's 2-D runs use 1), seeded by `seed`.
        test: test data (or an Objective) for the test-loss profile of the kept path.
        shortcut: share the first layer's product between the t points
            (`paths.shortcut`, exact); None takes it where it applies and pays.
        progress: show a progress bar.

    Returns:
        `PathResult` of the kept path (lowest Σ_i L over the steps, the initial
        line included), with `coefficients` [K, n] and the per-step `history`.

    Raises:
        ValueError: endpoints of different sizes or non-finite, points < 2,
            terms < 1, steps < 0, negative penalty or lr ≤ 0.
        NonFinitePathLoss: the loss is not finite on the kept path.
    """
    a, b = check_endpoints(obj, theta_a, theta_b)
    check_distinct(a, b)
    check_points(points)
    if not isinstance(terms, int) or terms < 1:
        raise ValueError(f"`terms` must be an integer ≥ 1; got {terms!r}.")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"`steps` must be an integer ≥ 0; got {steps!r}.")
    if not (math.isfinite(penalty) and penalty >= 0):
        raise ValueError(f"`penalty` must be a finite number ≥ 0; got {penalty!r}.")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"`lr` must be a positive number; got {lr!r}.")
    t = np.linspace(0.0, 1.0, points)
    S = torch.as_tensor(sine_basis(t, terms), dtype=obj.dtype, device=obj.device)  # [P, K]
    tt = torch.as_tensor(t, dtype=obj.dtype, device=obj.device)[:, None]
    line = (1 - tt) * a + tt * b  # [P, n]
    inner = slice(1, points - 1)  # the endpoints' losses are constants
    coeffs = torch.zeros(terms, obj.size, dtype=obj.dtype, device=obj.device, requires_grad=True)
    opt = torch.optim.Adam([coeffs], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    ends = obj.values(torch.stack([a, b])).double().cpu().numpy()
    use_shortcut = points > 2 and (shortcut_applies(obj) if shortcut is None else shortcut)
    fast = FourierShortcut(obj, a, b, tt[inner, 0], S[inner]) if use_shortcut else None

    def losses(thetas: Tensor, grad: bool) -> tuple[Tensor, Tensor | None]:
        """L at the inner points and Σ_i sin(nπt_i)·∇L(θ(t_i)) [K, n]."""
        if fast is not None:
            return fast.values_and_coefficient_grad(coeffs, grad=grad)
        if not grad:
            return obj.values(thetas[inner]), None
        values, grads = obj.values_and_grads(thetas[inner])
        return values, S[inner].T @ grads

    best = (math.inf, None, None)
    best_step, stopped_at, first_loss = 0, None, None
    history: list[float] = []
    heights: list[float] = []  # the best path's height so far, per step
    with progress_bar("FourierPathFinder", steps + 1, enabled=progress) as bar:
        for step in range(steps + 1):
            thetas = line + S @ coeffs.detach()
            # the last update is scored without a gradient
            values, g_loss = losses(thetas, grad=step < steps)
            loss = np.concatenate([[ends[0]], values.double().cpu().numpy(), [ends[1]]])
            total = float(loss.sum())
            history.append(total)
            first_loss = loss if first_loss is None else first_loss
            if np.isfinite(total) and total < best[0]:
                best, best_step = (total, coeffs.detach().clone(), loss), step
            heights.append(float(best[2].max()) if best[2] is not None else math.inf)
            bar.update(step + 1, loss=total)
            if g_loss is None:
                break
            if not torch.isfinite(g_loss).all():
                stopped_at = step  # a diverging step: keep the best path so far, and say so
                if best[1] is None:
                    break  # nothing finite to keep: refused below, with where
                warnings.warn(
                    f"FourierPathFinder stopped at step {step} of {steps}: the gradient is not "
                    f"finite there (lower `lr`, now {lr}, or use float64); the best path so "
                    f"far, from step {best_step}, is kept.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            g = g_loss + penalty_gradient(S, thetas, penalty)
            if noise:
                g = g + noise * torch.randn(g.shape, generator=gen, dtype=torch.float64).to(g)
            opt.zero_grad(set_to_none=True)
            coeffs.grad = g
            opt.step()
    if best[1] is None:  # not even the starting path was finite: say where it is not
        check_finite(first_loss, t, "training loss on the starting path")
    kept, kept_loss = best[1], best[2]
    check_finite(kept_loss, t, "training loss on the kept path")

    def basis(tv: Tensor) -> Tensor:
        tv = tv.to(device=a.device, dtype=torch.float64)
        s = torch.as_tensor(sine_basis(tv.cpu().numpy(), terms), dtype=a.dtype, device=a.device)
        tv = tv.to(a.dtype)[:, None]
        return (1 - tv) * a + tv * b + s @ kept

    thetas = line + S @ kept
    return PathResult(
        method="fourier",
        t=t,
        loss=kept_loss,
        test_loss=profile(_as_objective(obj, test), thetas),
        theta_a=a,
        theta_b=b,
        length=path_length(thetas),
        coefficients=kept,
        history=history,
        heights=heights,
        settings={
            "terms": terms,
            "points": points,
            "penalty": penalty,
            "steps": steps,
            "lr": lr,
            "noise": noise,
            "seed": seed,
            "best_step": best_step,
            "stopped_at_step": stopped_at,  # None: all steps ran
            "shortcut": fast is not None,
            "loss_convention": "sum over t points (the authors' code)",
        },
        basis=basis,
    )
