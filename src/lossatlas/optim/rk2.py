"""RK2: a second-order Runge–Kutta step on the gradient flow, as Im et al. (2016) train with.

Gradient descent is Euler's method on the gradient flow dθ/dt = −∇L(θ) with
step η. A second-order Runge–Kutta method evaluates the gradient twice per
step and matches the flow to second order in η:

    Heun:      θ' = θ_k − η·g(θ_k),      θ_{k+1} = θ_k − (η/2)·(g(θ_k) + g(θ'))
    midpoint:  θ' = θ_k − (η/2)·g(θ_k),  θ_{k+1} = θ_k − η·g(θ')

where g is the gradient of the mini-batch loss; both evaluations use the same
mini-batch (the closure fixes it), so a step is a second-order step on that
batch's loss. On a quadratic L = ½θᵀAθ both variants give exactly
θ_{k+1} = (I − ηA + η²A²/2)·θ_k, the second-order Taylor polynomial of the
exact flow exp(−ηA)·θ_k, so their local error is O(η³) where Euler's is O(η²).

References:
    Im, Tao, Branson (2016). An empirical analysis of the optimization of deep
    network loss surfaces. arXiv:1612.04010. §2 (RK2 among the optimizers
    compared); catalogue of loss surfaces §5.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import torch
from torch import Tensor
from torch.optim import Optimizer

RK2_METHODS = ("heun", "midpoint")


class RK2(Optimizer):
    """Second-order Runge–Kutta steps (Heun or midpoint) on the gradient flow.

    Args:
        params: parameters to optimise (as for any torch optimizer).
        lr: the step η of the flow's discretisation.
        method: "heun" (the trapezoidal average of the two slopes) or
            "midpoint" (the slope at the half step).

    Raises:
        ValueError: lr ≤ 0 or an unknown method.

    `step(closure)` needs a closure that zeroes the gradients, recomputes the
    (mini-batch) loss, calls backward and returns the loss; it is called twice
    per step, at θ_k and at the intermediate point. The returned loss is the
    one at θ_k.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        method: Literal["heun", "midpoint"] = "heun",
    ):
        if not lr > 0:
            raise ValueError(f"`lr` must be a positive number; got {lr!r}.")
        if method not in RK2_METHODS:
            raise ValueError(f"`method` must be one of {RK2_METHODS}; got {method!r}.")
        super().__init__(params, {"lr": lr, "method": method})

    def _params(self) -> list[tuple[Tensor, dict]]:
        return [(p, g) for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        """One RK2 step (Heun or midpoint, module docstring); returns the loss at the start.

        `closure` recomputes the mini-batch loss and calls backward; it is called twice.
        """
        if closure is None:
            raise ValueError(
                "RK2 evaluates the gradient twice per step: call `step(closure)` with a "
                "closure that recomputes the loss and calls backward."
            )
        with torch.enable_grad():
            loss = closure()
        pairs = self._params()
        start = [p.detach().clone() for p, _ in pairs]
        slope0 = [_grad(p) for p, _ in pairs]
        for (p, group), g in zip(pairs, slope0, strict=True):
            half = 0.5 if group["method"] == "midpoint" else 1.0
            p.add_(g, alpha=-half * group["lr"])
        with torch.enable_grad():
            closure()
        for (p, group), theta, g0 in zip(pairs, start, slope0, strict=True):
            g1 = _grad(p)
            slope = g1 if group["method"] == "midpoint" else 0.5 * (g0 + g1)
            p.copy_(theta - group["lr"] * slope)
        return loss


def _grad(p: Tensor) -> Tensor:
    return torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
