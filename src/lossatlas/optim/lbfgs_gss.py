"""L-BFGS with golden-section line search (L-BFGS-GSS), on flat parameter vectors.

The optimizer of the optimizer-strategies paper, §II.2, Algorithm 1. With the
m most recent pairs s_i = θ_{i+1} − θ_i, y_i = ∇L_{i+1} − ∇L_i and
ρ_i = 1/(y_iᵀs_i + ε), the two-loop recursion (Nocedal 1980) computes
d = −H_k ∇L_k, where H_k is the L-BFGS inverse-Hessian approximation with
initial scaling γ = sᵀy / yᵀy of the newest pair. The step length along the
unit direction d/‖d‖ is chosen by golden-section search (`golden.line_search`)
from trial steps 0.2·‖∇L‖·2^k, within a fixed budget of loss evaluations.

The history is cleared (a steepest-descent step follows) when the direction
is not finite or not a descent direction, when a new pair fails the
curvature test cos∠(s, y) ≥ 1e-4 (or ‖s‖‖y‖ = 0), and when no lower loss is
found along the quasi-Newton direction. A step never raises the loss.

Settings (research/algorithms.md): m = 10, ε = 1e-6, 6 evaluations per line
search, tolerance 1e-4.

References:
    Nocedal (1980). Updating quasi-Newton matrices with limited storage.
    Mathematics of Computation 35(151).
    Liu, Nocedal (1989). On the limited memory BFGS method for large scale
    optimization. Mathematical Programming 45.
    The optimizer-strategies paper (Table 1, §II.2, Algorithm 1).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from lossatlas.optim.golden import GOLDEN, line_search


class FlatObjective(Protocol):
    """What L-BFGS-GSS needs: L(θ) and (L(θ), ∇L(θ)) of a flat θ. `Objective` has both."""

    def value(self, theta: Tensor) -> Tensor:
        """f(θ)."""

    def value_and_grad(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """(f(θ), ∇f(θ))."""


@dataclass(frozen=True)
class StepInfo:
    """One iteration: the loss after it, ‖∇L‖ after it, the step length, the loss
    evaluations of its line search, and whether the history was reset."""

    loss: float
    grad_norm: float
    step_size: float
    evals: int
    reset: bool


class LBFGSGSS:
    """L-BFGS-GSS, one iteration per `step()`.

    Args:
        objective: anything with `value` and `value_and_grad` of a flat θ.
        theta0: the starting point [n].
        history: m, the number of (s, y) pairs kept (paper: 10).
        max_evals: loss evaluations per line search (paper: 6).
        tol: the line search's tolerance on the bracket (paper: 1e-4).
        initial_step: trial steps start at initial_step·‖∇L‖ (paper: 0.2).
        eps: ε in ρ_i = 1/(y_iᵀs_i + ε) (paper: 1e-6). Near a minimum, once yᵀs ≪ ε,
            the pairs barely count and the method drifts towards scaled steepest
            descent: a 20-d quadratic of condition 100 needs 267 iterations to
            ‖∇L‖ < 1e-10 with ε = 1e-6 and 104 with ε = 0, the textbook formula.

    Attributes:
        theta, loss, grad: the current point, L and ∇L there.
        iterations, value_evals, grad_evals, resets: counters.
        stalled: no lower loss could be found along steepest descent.
    """

    def __init__(
        self,
        objective: FlatObjective,
        theta0: Tensor,
        *,
        history: int = 10,
        max_evals: int = 6,
        tol: float = 1e-4,
        initial_step: float = 0.2,
        eps: float = 1e-6,
    ):
        if not isinstance(theta0, Tensor) or theta0.dim() != 1:
            raise ValueError(
                "`theta0` must be a flat 1-D tensor; got "
                f"{tuple(theta0.shape) if isinstance(theta0, Tensor) else type(theta0).__name__}."
            )
        if history < 1:
            raise ValueError(f"`history` must be at least 1; got {history}.")
        if max_evals < 2:
            raise ValueError(f"`max_evals` must be at least 2; got {max_evals}.")
        if not initial_step > 0:
            raise ValueError(f"`initial_step` must be positive; got {initial_step}.")
        self.objective = objective
        self.max_evals, self.tol, self.initial_step, self.eps = max_evals, tol, initial_step, eps
        self.theta = theta0.detach().clone()
        loss, grad = objective.value_and_grad(self.theta)
        self.loss, self.grad = float(loss), grad.detach()
        if not math.isfinite(self.loss):
            raise ValueError(f"the loss at `theta0` must be finite; got {self.loss}.")
        self.pairs: deque[tuple[Tensor, Tensor, float]] = deque(maxlen=history)
        self.iterations = self.value_evals = self.resets = 0
        self.grad_evals = 1
        self.stalled = False

    def direction(self) -> Tensor:
        """d = −H_k ∇L_k by the two-loop recursion over the stored pairs."""
        q = self.grad.clone()
        alphas = []
        for s, y, rho in reversed(self.pairs):  # newest first
            a = rho * float(s @ q)
            q.sub_(y, alpha=a)
            alphas.append(a)
        if self.pairs:
            s, y, _ = self.pairs[-1]
            q.mul_(float(s @ y) / float(y @ y))  # γ = sᵀy / yᵀy
        for (s, y, rho), a in zip(self.pairs, reversed(alphas), strict=True):  # oldest first
            b = rho * float(y @ q)
            q.add_(s, alpha=a - b)
        return -q

    def _search(self, d: Tensor, step0: float | None = None):
        u = d / d.norm()

        def phi(t: float) -> float:
            return float(self.objective.value(self.theta + t * u))

        if step0 is None:
            step0 = self.initial_step * float(self.grad.norm())
        result = line_search(phi, self.loss, step0, max_evals=self.max_evals, tol=self.tol)
        self.value_evals += result.evals
        return u, result

    def _steepest(self) -> tuple[Tensor, object, int]:
        """Steepest descent, continuing below the budget's smallest trial until a lower
        loss is found or the step is lost in rounding (then the point is a stall)."""
        step0 = self.initial_step * float(self.grad.norm())
        floor = 1e-15 * (1.0 + float(self.theta.norm()))
        evals = 0
        while True:
            u, result = self._search(-self.grad, step0)
            evals += result.evals
            # the budget's last trial was step0 · GOLDEN^(evals−1) at most: start below it
            step0 *= GOLDEN ** max(result.evals, 1)
            if result.improved or step0 < floor:
                return u, result, evals

    def _reset(self) -> None:
        self.pairs.clear()
        self.resets += 1

    def step(self) -> StepInfo:
        """One iteration: direction, line search, gradient at the new point, history update."""
        g_norm = float(self.grad.norm())
        if self.stalled or g_norm == 0.0:
            self.stalled = True
            return StepInfo(self.loss, g_norm, 0.0, 0, False)
        d = self.direction()
        reset = not torch.isfinite(d).all() or float(d @ self.grad) >= 0
        evals = 0
        if not reset:
            u, result = self._search(d)
            evals = result.evals
            reset = not result.improved  # the quasi-Newton model misled us
        if reset:
            self._reset()
            u, result, more = self._steepest()
            evals += more
        self.iterations += 1
        if not result.improved:
            self.stalled = True
            return StepInfo(self.loss, g_norm, 0.0, evals, reset)
        theta = self.theta + result.step * u
        _, grad = self.objective.value_and_grad(theta)
        self.grad_evals += 1
        # The loss kept is the line search's: `value` and `value_and_grad` may take different
        # code paths (an Objective's are a plain forward pass and functional_call), and their
        # rounding must not make an accepted step look like a rise at the next comparison.
        loss, grad = result.value, grad.detach()
        if not (math.isfinite(loss) and torch.isfinite(grad).all()):
            self._reset()  # the line search saw a finite value here; be safe anyway
            self.stalled = True
            return StepInfo(self.loss, g_norm, 0.0, evals, True)
        s, y = theta - self.theta, grad - self.grad
        sy, norms = float(s @ y), float(s.norm() * y.norm())
        if norms == 0.0 or sy / norms < 1e-4:
            self._reset()  # curvature condition failed: the pair would spoil H
            reset = True
        else:
            self.pairs.append((s, y, 1.0 / (sy + self.eps)))
        self.theta, self.loss, self.grad = theta, loss, grad
        return StepInfo(loss, float(grad.norm()), result.step, evals, reset)


@dataclass
class OptimizeResult:
    """The result of `minimize`."""

    theta: Tensor
    loss: float
    grad_norm: float
    iterations: int
    value_evals: int
    grad_evals: int
    resets: int
    converged: bool
    message: str
    losses: list[float] = field(default_factory=list)


def minimize(
    objective: FlatObjective,
    theta0: Tensor,
    *,
    max_iter: int = 1000,
    gtol: float = 1e-6,
    callback: Callable[[LBFGSGSS, StepInfo], None] | None = None,
    **kw,
) -> OptimizeResult:
    """Run L-BFGS-GSS until ‖∇L‖ < gtol, `max_iter` iterations, or a stall.

    Keyword arguments go to `LBFGSGSS` (history, max_evals, tol, ...).
    """
    opt = LBFGSGSS(objective, theta0, **kw)
    losses = [opt.loss]
    message = f"reached max_iter={max_iter}"
    converged = float(opt.grad.norm()) < gtol
    while not converged and opt.iterations < max_iter:
        info = opt.step()
        losses.append(info.loss)
        if callback is not None:
            callback(opt, info)
        if info.grad_norm < gtol:
            converged = True
        elif opt.stalled:
            message = "stalled: no lower loss along steepest descent within the evaluation budget"
            break
    if converged:
        message = f"‖∇L‖ < {gtol:g}"
    return OptimizeResult(
        opt.theta,
        opt.loss,
        float(opt.grad.norm()),
        opt.iterations,
        opt.value_evals,
        opt.grad_evals,
        opt.resets,
        converged,
        message,
        losses,
    )
