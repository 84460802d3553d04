"""Bezier and polychain curves between minima (Garipov et al. 2018), the established alternative.

A quadratic Bezier curve θ(t) = (1 − t)²θa + 2t(1 − t)θc + t²θb, or a
polychain (two segments θa → θc → θb with θc at t = ½), with only the control
point θc trained: at each step one t ~ U(0, 1) and one minibatch, the loss
L_batch(θ(t)) backpropagated to θc, SGD with momentum 0.9 (Garipov et al.'s
settings; research/algorithms.md). θc starts at the midpoint, so the curve
starts as the line. The result is a `PathResult` like FourierPathFinder's,
evaluated on the same t grid, so the two can be compared on the same pair.

Reference: Garipov, Izmailov, Podoprikhin, Vetrov, Wilson (2018). Loss
surfaces, mode connectivity, and fast ensembling of DNNs. NeurIPS.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from lossatlas.core import distributed
from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.paths.result import (
    NonFinitePathLoss,
    PathResult,
    check_distinct,
    check_endpoints,
    check_finite,
    check_points,
    path_length,
    profile,
)
from lossatlas.surface.grid import _as_objective

Curve = Literal["bezier", "polychain"]


def curve_weights(t: Tensor, curve: Curve) -> Tensor:
    """[P, 3] weights of (θa, θc, θb) at each t."""
    if curve == "bezier":
        return torch.stack([(1 - t) ** 2, 2 * t * (1 - t), t**2], dim=1)
    first = t < 0.5
    s = torch.where(first, 2 * t, 2 * t - 1)
    zero = torch.zeros_like(t)
    wa = torch.where(first, 1 - s, zero)
    wc = torch.where(first, s, 1 - s)
    wb = torch.where(first, zero, s)
    return torch.stack([wa, wc, wb], dim=1)


def bezier(
    obj: Objective,
    theta_a: Tensor,
    theta_b: Tensor,
    *,
    curve: Curve = "bezier",
    points: int = 51,
    steps: int = 300,
    lr: float = 0.05,
    momentum: float = 0.9,
    batch_size: int = 128,
    seed: int = 0,
    test: Any = None,
    progress: bool = True,
) -> PathResult:
    """Train the control point of a Bezier curve or polychain from θa to θb.

    Args:
        curve: "bezier" (quadratic) or "polychain".
        points: t values the kept curve is evaluated at.
        steps: SGD steps, each with one t ~ U(0, 1) and one minibatch.
        lr, momentum: SGD settings (Garipov et al.: momentum 0.9).
        batch_size: minibatch size (in-memory data; streamed data uses its
            loader's batches in turn).

    Returns:
        `PathResult` with `coefficients` = the control point θc [1, n].
    """
    a, b = check_endpoints(obj, theta_a, theta_b)
    check_distinct(a, b)
    check_points(points)
    if curve not in ("bezier", "polychain"):
        raise ValueError(f"`curve` must be 'bezier' or 'polychain'; got {curve!r}.")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"`steps` must be an integer ≥ 0; got {steps!r}.")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"`lr` must be a positive number; got {lr!r}.")
    # with the whole data in every process, every process trains the same curve
    distributed.require_whole_data(
        obj, "Bezier and polychain curves train on random minibatches of the whole data"
    )
    control = ((a + b) / 2).clone().requires_grad_(True)
    opt = torch.optim.SGD([control], lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    batches = _minibatches(obj, batch_size, gen)
    history: list[float] = []
    with progress_bar(f"{curve} curve", steps, enabled=progress) as bar:
        for step in range(steps):
            t = torch.rand(1, generator=gen, dtype=torch.float64).to(obj.device, obj.dtype)
            w = curve_weights(t, curve)[0]
            theta = w[0] * a + w[1] * control + w[2] * b
            x, y = next(batches)
            loss = obj.batch_loss(theta, x, y)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFinitePathLoss(
                    f"the minibatch loss became {value} at step {step} (t = {float(t):.3g}): "
                    f"lower `lr` (now {lr}) or use dtype=torch.float64."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.append(value)
            bar.update(step + 1, loss=value)
    kept = control.detach()

    def basis(tv: Tensor) -> Tensor:
        w = curve_weights(tv.to(device=a.device, dtype=a.dtype), curve)
        return w[:, :1] * a + w[:, 1:2] * kept + w[:, 2:] * b

    t_grid = np.linspace(0.0, 1.0, points)
    thetas = basis(torch.as_tensor(t_grid))
    loss = profile(obj, thetas)
    check_finite(loss, t_grid, f"training loss on the {curve} curve")
    return PathResult(
        method=curve,
        t=t_grid,
        loss=loss,
        test_loss=profile(_as_objective(obj, test), thetas),
        theta_a=a,
        theta_b=b,
        length=path_length(thetas),
        coefficients=kept[None],
        history=history,
        settings={
            "curve": curve,
            "points": points,
            "steps": steps,
            "lr": lr,
            "momentum": momentum,
            "batch_size": batch_size,
            "seed": seed,
        },
        basis=basis,
    )


def _minibatches(obj: Objective, batch_size: int, gen: torch.Generator):
    """An endless stream of minibatches: random draws from in-memory data, else the loader."""
    data = obj.data
    if not data.streamed:
        n = data.num_samples
        while True:
            idx = torch.randint(0, n, (min(batch_size, n),), generator=gen).to(data.x.device)
            x = data.x[idx]
            yield x, (x if data.y is None else data.y[idx])
    while True:
        yielded = False
        for batch in data:
            yielded = True
            yield batch
        if not yielded:
            raise ValueError("`data` yielded no batches.")
