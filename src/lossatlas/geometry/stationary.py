"""Stationary points of a small loss: minimise ½‖∇L(θ)‖² by Levenberg–Marquardt.

Every stationary point (minimum, saddle, maximum) is a zero of ∇L, so it is a
global minimum of G(θ) = ½‖∇L(θ)‖². With the gradient as residual its
Jacobian is the Hessian H, and Levenberg–Marquardt steps

    δ = −(H² + μI)⁻¹ H ∇L,   μ decreased on success and increased on failure,

converge quadratically to nondegenerate stationary points and to some point
of a manifold of degenerate ones. Sigmoid networks also have gradients that
vanish only at infinity (saturated units): a run whose ‖θ‖ exceeds `bound` is
stopped and marked "diverged"; it is not a finite stationary point.
Everything uses the dense Hessian, so this is for small models (XOR).

Reference:
    Hamey (1998), §5 (the stationary points of the XOR surface, classified by
    the trajectories that leave them); the numerical search is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.curvature import dense_hessian
from lossatlas.geometry.overparam import Inertia, inertia_of

Status = Literal["stationary", "diverged", "not converged", "plateau"]


@dataclass
class StationaryPoint:
    """Where a search for ∇L = 0 ended.

    Attributes:
        theta: the point [n].
        loss: L(θ).
        grad_norm: ‖∇L(θ)‖.
        norm: ‖θ‖.
        iterations: LM iterations used.
        status: "stationary" (‖∇L‖ ≤ gtol at ‖θ‖ ≤ bound), "diverged"
            (‖θ‖ > bound: heading to infinity, or stuck on a plateau of
            saturated units whose gradient underflows), "plateau" (set by
            `xor_analysis`: ∇L and every Hessian eigenvalue vanish to rounding,
            see `on_plateau`) or "not converged".
        inertia: the Hessian's inertia at θ.
    """

    theta: Tensor
    loss: float
    grad_norm: float
    norm: float
    iterations: int
    status: Status
    inertia: Inertia


def find_stationary_point(
    obj: Objective,
    start: Tensor,
    *,
    gtol: float = 1e-10,
    max_iter: int = 300,
    bound: float = 50.0,
    rtol: float = 1e-9,
) -> StationaryPoint:
    """Minimise ½‖∇L‖² from `start` by Levenberg–Marquardt (dense Hessian).

    Args:
        obj: a small objective, float64.
        start: θ₀ [n].
        gtol: stop when ‖∇L‖ ≤ gtol.
        max_iter: most LM iterations.
        bound: stop as "diverged" when ‖θ‖ > bound.
        rtol: zero-eigenvalue tolerance of the reported inertia.
    """
    theta = obj._checked(start).clone()
    g = obj.grad(theta)
    H = dense_hessian(obj, theta)
    mu = 1e-3 * max(float((H * H).sum().sqrt()), 1e-12)
    status: Status = "not converged"
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - reported
        if float(theta.norm()) > bound:  # saturated units: a plateau, not a finite point
            status = "diverged"
            break
        if float(g.norm()) <= gtol:
            status = "stationary"
            break
        eye = torch.eye(len(theta), dtype=theta.dtype, device=theta.device)
        delta = -torch.linalg.solve(H @ H + mu * eye, H @ g)
        trial = theta + delta
        g_trial = obj.grad(trial)
        if bool(torch.isfinite(g_trial).all()) and float(g_trial.norm()) < float(g.norm()):
            theta, g = trial, g_trial
            H = dense_hessian(obj, theta)
            mu = max(mu / 3, 1e-300)
        else:
            mu *= 4
            if mu > 1e30:
                break
    else:
        if float(theta.norm()) > bound:
            status = "diverged"
        elif float(g.norm()) <= gtol:
            status = "stationary"
    lam = torch.linalg.eigvalsh(H)
    return StationaryPoint(
        theta=theta,
        loss=float(obj.value(theta)),
        grad_norm=float(g.norm()),
        norm=float(theta.norm()),
        iterations=it,
        status=status,
        inertia=inertia_of(lam, rtol=rtol),
    )
