"""The derivatives of L(θ): gradients and exact Hessian–vector products.

`Derivatives` is the half of `Objective` that differentiates; the other half
(`lossatlas.core.objective`) evaluates. Every method here is a sweep over the
data that sums per-batch results exactly, as the values do:

- ∇L(θ) by reverse mode (`grad_and_value`), for one point or a stack of them;
- H(θ)·v by Pearlmutter's trick (1994): forward-over-reverse (`jvp` of
  `grad`), vmapped over a block of vectors, or reverse-over-reverse with the
  first backward's graph kept per chunk (`resolved_hvp_strategy` chooses).

References:
    Pearlmutter (1994). Fast exact multiplication by the Hessian. Neural
    Computation 6(1).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from typing import Literal

import torch
from torch import Tensor
from torch.func import grad, grad_and_value, jvp

from lossatlas.core.data import DataSource

HvpStrategy = Literal["auto", "vmap", "reuse", "loop"]
HVP_STRATEGIES = ("auto", "vmap", "reuse", "loop")
Strategy = Literal["auto", "loop", "vmap"]


class Derivatives:
    """Gradients and HVPs of an `Objective` (a mixin: it uses the objective's
    `_sweep`, `_batch_sum`, `data_mean`, `_checked` and `_vmapped`)."""

    def grad(self, theta: Tensor) -> Tensor:
        """∇L(θ) [n], summed exactly over all batches."""
        return self.value_and_grad(theta)[1]

    def value_and_grad(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """(L(θ), ∇L(θ)) in one sweep over the data."""
        theta = self._checked(theta)
        g_and_v = grad_and_value(self._batch_sum)
        results, n = self._sweep(lambda x, y: g_and_v(theta, x, y), derivative=True)
        g, v = self.data_mean(
            [
                torch.stack([r[0] for r in results]).sum(0),
                torch.stack([r[1] for r in results]).sum(),
            ],
            n,
        )
        return v.detach(), g.detach()

    def values_and_grads(
        self, points: Tensor, *, strategy: Strategy | None = None
    ) -> tuple[Tensor, Tensor]:
        """(L, ∇L) at each row of a [P, n] stack of points → ([P], [P, n]).

        "vmap" differentiates `points_chunk` points per pass with
        `vmap(grad_and_value)`; "loop" sweeps the data once per point. The
        points of a path (FourierPathFinder) all need their gradients at once.
        """
        points = self._checked(points, "points", batched=True)
        strategy = self.resolved_strategy(strategy)
        if len(points) == 0:
            return points.new_zeros(0), points.new_zeros(0, self.size)
        if strategy == "loop" or self._batch_statistics:
            pairs = [self.value_and_grad(p) for p in points]
            if not pairs:
                return points.new_zeros(0), points.new_zeros(0, self.size)
            return torch.stack([v for v, _ in pairs]), torch.stack([g for _, g in pairs])
        g_and_v = grad_and_value(self._batch_sum)
        values, grads = [], []
        for chunk in points.split(self.points_chunk):

            def per_batch(x: Tensor, y: Tensor, c: Tensor = chunk):
                def one(t: Tensor):
                    return g_and_v(t, x, y)

                def looped(c: Tensor):
                    pairs = [one(t) for t in c]
                    return torch.stack([g for g, _ in pairs]), torch.stack([v for _, v in pairs])

                return self._vmapped(one, c, looped)

            results, n = self._sweep(per_batch, derivative=True)
            g, v = self.data_mean(
                [
                    torch.stack([r[0] for r in results]).sum(0),
                    torch.stack([r[1] for r in results]).sum(0),
                ],
                n,
            )
            grads.append(g)
            values.append(v)
        return torch.cat(values).detach(), torch.cat(grads).detach()

    def hvp(self, theta: Tensor, v: Tensor) -> Tensor:
        """H(θ)·v [n], exact (Pearlmutter 1994): one vector of `hvps`."""
        return self.hvps(theta, self._checked(v, "v")[None])[0]

    def resolved_hvp_strategy(self) -> str:
        """The HVP strategy "auto" stands for on this model and device.

        - "vmap": forward-over-reverse (`jvp` of `grad`), vmapped over the block;
          fastest on accelerators and for dense networks on the CPU (LeNet on
          digits: 0.038 s per HVP in blocks of 10 against 0.048 for "reuse").
        - "reuse": reverse-over-reverse with the first backward's graph kept per
          chunk and one extra backward per vector; the CPU choice for
          convolutional networks, whose vmapped convolutions become slow grouped
          convolutions (ResNet-20, CIFAR, 128-image chunks: 2.2 s per HVP
          against 4.1 s for "vmap"), and for BatchNorm on batch statistics,
          where torch 2.13's vmap rule for its second derivative is wrong.
        - "loop": one forward-over-reverse sweep per vector (no batching rule,
          e.g. LSTMs under vmap, or the user's choice).
        """
        if self._batch_statistics and self.hvp_strategy in ("auto", "vmap"):
            return "reuse"  # never the wrong vmap rule, even when asked for
        if self.hvp_strategy != "auto":
            return self.hvp_strategy
        if self.device.type == "cpu" and self._has_conv:
            return "reuse"
        return "vmap" if self._vmap_ok else "loop"

    def hvps(self, theta: Tensor, V: Tensor, strategy: str | None = None) -> Tensor:
        """H(θ)·v_k for a block V [k, n] of vectors → [k, n], in one data sweep.

        Exact for every strategy (`resolved_hvp_strategy`; `strategy` overrides the
        objective's choice for this call); they differ only in speed and in float rounding.
        """
        theta = self._checked(theta)
        V = self._checked(V, "V", batched=True)
        if strategy is None or (self._batch_statistics and strategy == "vmap"):
            strategy = self.resolved_hvp_strategy()
        if strategy == "reuse":
            parts, n = self._sweep(lambda x, y: self._reused_hvps(theta, V, x, y), True)
            return self.data_mean([torch.stack(parts).sum(0)], n)[0].detach()
        _load_jvp_decompositions()
        g = grad(self._batch_sum)

        def block(x: Tensor, y: Tensor) -> Tensor:
            def one(v: Tensor) -> Tensor:
                return jvp(lambda t: g(t, x, y), (theta,), (v,))[1]

            if strategy == "loop" or not self._vmap_ok or len(V) == 1:
                return torch.stack([one(v) for v in V])
            return torch.cat(
                [
                    self._vmapped(one, c, lambda c: torch.stack([one(v) for v in c]))
                    for c in V.split(self.points_chunk)
                ]
            )

        parts, n = self._sweep(block, derivative=True)
        return self.data_mean([torch.stack(parts).sum(0)], n)[0].detach()

    def _reused_hvps(self, theta: Tensor, V: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """Σ_batch H_batch·v for each row of V: one graph of ∇, one backward per vector."""
        with torch.enable_grad():
            t = theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self._batch_sum(t, x, y), t, create_graph=True)
            out = torch.empty_like(V)
            for i, v in enumerate(V):
                (out[i],) = torch.autograd.grad(g, t, grad_outputs=v, retain_graph=i + 1 < len(V))
        return out


@functools.cache
def _load_jvp_decompositions() -> None:
    """Load torch's forward-AD decompositions once, silencing its own deprecation warning.

    The first forward-mode derivative makes torch script a few decompositions,
    and torch 2.13 warns that `torch.jit.script` is deprecated from inside
    itself; users can do nothing about it, so it is not shown to them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # a torch without this module needs no preloading
        with contextlib.suppress(ImportError):
            from torch._decomp import decompositions_for_jvp  # noqa: F401


def _derivative_batch(data: DataSource) -> int | None:
    """CPU chunks for derivative sweeps: about 2^18 input numbers, at least 128 samples."""
    if data.streamed or data.x is None or data.x.dim() == 0:
        return None
    per_sample = max(1, data.x[0].numel())
    return int(min(data.batch_size, max(128, 2**18 // per_sample)))
