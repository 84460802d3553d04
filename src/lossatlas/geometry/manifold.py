"""Walk along the manifold of global minima M = L⁻¹(0) (Cooper, Thm. 2.1).

At a point of M the tangent space of M is the null space of the residual
Jacobian J (Cooper's proof of Thm. 2.1: M = H⁻¹(0) with H = (f_1, ..., f_d),
and 0 a regular value). A walk alternates a predictor and a corrector:

    θ̃ = θ_k + h · t_k / ‖t_k‖,        t_k = (I − J⁺J) ξ_k     (a step in T_θ M)
    θ ← θ − J(θ)⁺ f(θ)  until ‖f‖∞ ≤ tol                      (Gauss–Newton back to M)

The Gauss–Newton correction is the minimum-norm Newton step for the
underdetermined system f(θ) = 0, so it lands on M near θ̃ and converges
quadratically while J has full row rank. ξ_k is the previous step (so the
walk keeps a heading) or, at the start, a random direction from `seed`.

Reference:
    Cooper (2018). The loss landscape of overparameterized neural networks.
    arXiv:1804.10200. Thm. 2.1 and its proof, Prop. 2.3.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.geometry.overparam import residual_jacobian, residuals


class ManifoldWalkError(ArithmeticError):
    """The Gauss–Newton correction did not return to L = 0."""


def _null_projection(J: Tensor, v: Tensor) -> tuple[Tensor, int]:
    """(I − J⁺J) v, and the rank of J (singular values above max(d, n)·ε·σ_max)."""
    _, s, Vh = torch.linalg.svd(J, full_matrices=False)
    tol = max(J.shape) * torch.finfo(J.dtype).eps * float(s.max())
    rank = int((s > tol).sum())
    row_space = Vh[:rank]
    return v - row_space.T @ (row_space @ v), rank


def correct(
    obj: Objective, theta: Tensor, *, tol: float = 1e-10, max_iter: int = 20
) -> tuple[Tensor, int]:
    """Gauss–Newton back to f(θ) = 0: θ ← θ − J⁺f until ‖f‖∞ ≤ tol.

    Returns:
        (the corrected θ, the number of iterations).

    Raises:
        ManifoldWalkError: when ‖f‖∞ is still above tol after max_iter steps.
    """
    for it in range(max_iter + 1):
        f = residuals(obj, theta)
        if float(f.abs().max()) <= tol:
            return theta, it
        if it == max_iter:
            break
        J = residual_jacobian(obj, theta)
        theta = theta - torch.linalg.lstsq(J, f[:, None], driver="gelsd").solution[:, 0]
    raise ManifoldWalkError(
        f"the Gauss–Newton correction left max|f| = {float(f.abs().max()):.3g} > {tol:g} after "
        f"{max_iter} iterations; take smaller steps (`step_size`) or loosen `tol`."
    )


def walk_minima(
    obj: Objective,
    theta: Tensor,
    *,
    steps: int = 50,
    step_size: float = 0.05,
    seed: int = 0,
    tol: float = 1e-10,
    max_corrections: int = 20,
    progress: bool = False,
) -> xr.Dataset:
    """Walk along M from a global minimum θ: tangent steps, Gauss–Newton back to L = 0.

    Args:
        obj: a squared-error objective ("sse" or "mse"), float64.
        theta: a point of M (residuals within `tol`; it is corrected first).
        steps: predictor–corrector steps.
        step_size: h, the length of each tangent step.
        seed: seed of the first heading ξ_0 ~ N(0, I).
        tol: max|f_i| that counts as on M after a correction.
        max_corrections: Gauss–Newton iterations allowed per step.
        progress: show a progress bar.

    Returns:
        Dataset over `step` (0 = the corrected start) with `loss` L(θ_k),
        `max_residual`, `step_length` ‖θ_k − θ_{k−1}‖, `arc_length` (their sum),
        `distance` ‖θ_k − θ_0‖, `jacobian_rank` of J, `corrections`, and `theta` [step, n];
        the settings in attrs.

    Raises:
        ManifoldWalkError: when a correction fails.
        ValueError: for non-positive `steps` or `step_size`.
    """
    if steps < 1:
        raise ValueError(f"`steps` must be a positive integer; got {steps!r}.")
    if not step_size > 0:
        raise ValueError(f"`step_size` must be positive; got {step_size!r}.")
    theta, _ = correct(obj, obj._checked(theta).clone(), tol=tol, max_iter=max_corrections)
    gen = torch.Generator().manual_seed(seed)
    heading = torch.randn(obj.size, generator=gen, dtype=torch.float64).to(theta)
    points, ranks, corrections = [theta], [], [0]
    with progress_bar("walking on M", steps, enabled=progress) as bar:
        for k in range(steps):
            tangent, rank = _null_projection(residual_jacobian(obj, theta), heading)
            ranks.append(rank)
            norm = float(tangent.norm())
            if norm == 0.0:
                raise ManifoldWalkError(
                    "the heading has no component in the null space of J: M is 0-dimensional "
                    "here (n = d?)."
                )
            predicted = theta + step_size * tangent / norm
            new, its = correct(obj, predicted, tol=tol, max_iter=max_corrections)
            heading = new - theta  # keep going the same way on M
            theta = new
            points.append(theta)
            corrections.append(its)
            bar.update(k + 1, loss=float(obj.value(theta)))
    ranks.append(_null_projection(residual_jacobian(obj, theta), heading)[1])
    P = torch.stack(points)
    losses = obj.values(P)
    max_res = torch.stack([residuals(obj, p).abs().max() for p in P])
    lengths = torch.cat([P.new_zeros(1), (P[1:] - P[:-1]).norm(dim=1)])
    ds = xr.Dataset(
        {
            "loss": ("step", losses.cpu().numpy()),
            "max_residual": ("step", max_res.cpu().numpy()),
            "step_length": ("step", lengths.cpu().numpy()),
            "arc_length": ("step", np.cumsum(lengths.cpu().numpy())),
            "distance": ("step", (P - P[0]).norm(dim=1).cpu().numpy()),
            "jacobian_rank": ("step", np.array(ranks)),
            "corrections": ("step", np.array(corrections)),
            "theta": (("step", "param"), P.cpu().numpy()),
        },
        coords={"step": np.arange(steps + 1)},
        attrs={
            "kind": "minimum-manifold walk",
            "steps": steps,
            "step_size": step_size,
            "seed": seed,
            "tol": tol,
            "parameters": obj.size,
            "residuals": int(residuals(obj, theta).numel()),
            "objective": obj.describe(),
            "reference": "Cooper (2018), Thm. 2.1, Prop. 2.3",
        },
    )
    return ds
