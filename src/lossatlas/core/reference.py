"""Dense oracles for small models: what every estimator is checked against.

These compute the same quantities as `Objective` by independent routes: the
loss by an ordinary forward pass of a copy of the user's module with θ
written into its parameters, the gradient and the full Hessian by plain
reverse-mode autograd (`torch.autograd.functional.hessian`, reverse over
reverse). `Objective` uses `functional_call` and forward-over-reverse, so an
agreement is evidence, not a tautology. Cost is O(n) backward passes: for
tiny models only (n up to a few thousand).

Note: `torch.func.hessian` is *not* used: in torch 2.13 its vmap batching
rule for BatchNorm on batch statistics gives wrong second derivatives.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from lossatlas.core import distributed
from lossatlas.core.objective import Objective


def module_at(obj: Objective, theta: Tensor) -> nn.Module:
    """A copy of the objective's model with θ written into its parameters, in eval mode."""
    model = copy.deepcopy(obj.model).to(device=obj.device, dtype=obj.dtype)
    for name, view in obj.space.unflatten(theta.detach()).items():
        model.get_parameter(name).data.copy_(view)
    for name, buf in obj._module.named_buffers():
        if buf is not None and name in dict(model.named_buffers()):
            model.get_buffer(name).data.copy_(buf)
    return model.eval()


def _whole_data(obj: Objective) -> Objective:
    distributed.require_whole_data(obj, "the dense references need the whole data in this process")
    return obj


def _full_loss(obj: Objective, model: nn.Module) -> Tensor:
    total, n = 0.0, 0
    for x, y in _whole_data(obj).batches():
        total = total + obj._loss(model(x), y).sum()
        n += x.shape[0]
    return total / n


def loss(obj: Objective, theta: Tensor) -> Tensor:
    """L(θ) by ordinary forward passes of the module (eval-mode running statistics).

    Only valid for `mode="eval"` objectives; train-mode BatchNorm needs the
    objective's own copy.
    """
    if obj.mode != "eval":
        raise ValueError("reference.loss needs an objective with mode='eval'.")
    with torch.no_grad():
        return _full_loss(obj, module_at(obj, theta))


def _as_function(obj: Objective):
    def f(theta: Tensor) -> Tensor:
        total, n = 0.0, 0
        for x, y in _whole_data(obj).batches():
            total = total + obj.batch_losses(theta, x, y).sum()
            n += x.shape[0]
        return total / n

    return f


def gradient(obj: Objective, theta: Tensor) -> Tensor:
    """∇L(θ) by reverse-mode autograd of the full-data loss."""
    theta = theta.detach().to(obj.device, obj.dtype).requires_grad_(True)
    (g,) = torch.autograd.grad(_as_function(obj)(theta), theta)
    return g


def hessian(obj: Objective, theta: Tensor) -> Tensor:
    """The dense Hessian H(θ) [n, n] by reverse-over-reverse autograd."""
    theta = theta.detach().to(obj.device, obj.dtype)
    return torch.autograd.functional.hessian(_as_function(obj), theta)
