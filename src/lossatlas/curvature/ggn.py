"""The generalised Gauss–Newton matrix G(θ) as an operator (Schraudolph 2002).

With f(θ, x) the network's output and ℓ(f, y) the per-sample loss,

    G(θ) = (1/N) Σ_i J_iᵀ ∇²_f ℓ(f_i, y_i) J_i,     J_i = ∂f(θ, x_i)/∂θ,

the Hessian without the term in the loss's gradient times the network's second
derivative, Σ_i Σ_c ∂ℓ/∂f_c ∇²f_c. It is positive semi-definite for convex
losses (cross-entropy, squared error), and equals the Hessian for a model
linear in θ. Each product is exact: a forward-mode product Jv, the loss's
output Hessian at it, and a reverse-mode product Jᵀ(·) — one forward, one
jvp and one vjp per batch, for any loss the objective takes.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import functional_call, grad, jvp, vjp

from lossatlas.core.derivatives import _load_jvp_decompositions
from lossatlas.core.objective import Objective
from lossatlas.curvature.operators import CurvatureOperator


class GGNOperator(CurvatureOperator):
    """G(θ), the generalised Gauss–Newton matrix of the objective's full-data loss."""

    name = "GGN"

    def __init__(self, obj: Objective, theta: Tensor):
        super().__init__(obj.size, obj.dtype, obj.device)
        self.obj = obj
        self.theta = obj._checked(theta).detach()

    def _matmat(self, V: Tensor) -> Tensor:
        obj = self.obj
        _load_jvp_decompositions()  # forward-mode rules, loaded once without warnings

        def batch(x: Tensor, y: Tensor) -> Tensor:
            def outputs(t: Tensor) -> Tensor:
                return functional_call(obj._module, obj.space.unflatten(t), (x,))

            out, pull = vjp(outputs, self.theta)
            out = out.detach()
            loss_grad = grad(lambda o: obj._loss(o, y).sum())
            rows = []
            for v in V:
                _, jv = jvp(outputs, (self.theta,), (v,))
                _, hjv = jvp(loss_grad, (out,), (jv,))
                rows.append(pull(hjv)[0])
            return torch.stack(rows)

        parts, n = obj._sweep(batch, derivative=True)
        return obj.data_mean([torch.stack(parts).sum(0)], n)[0].detach()
