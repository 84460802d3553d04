"""An exact shortcut for FourierPathFinder: every t point shares one first-layer product.

On the path θ(t_i) = (1 − t_i)·θa + t_i·θb + Σ_n s_in·b_n, a first layer that is
linear in its parameters (a Linear or a convolution, after parameter-free
modules only; `planar.first_linear_layer`) gives, for every input x,

    f₁(x; θ(t_i)) = (1 − t_i)·f₁(x; θa) + t_i·f₁(x; θb) + Σ_n s_in·f₁(x; b_n).

f₁(x; θa) and f₁(x; θb) never change and are computed once; the K outputs
f₁(x; b_n) are one product per step (one layer with K times the outputs);
each t point then pays only for a K + 2 term sum and the rest of the network,
instead of the whole first layer. Backwards, the gradient of Σ_i L_i with
respect to the first-layer part of every b_n is one product of
Σ_i s_in·∂L_i/∂f₁ with the inputs, not one per point. This is the same
identity as the plane shortcut (`lossatlas.surface.planar`), with K + 2 terms.

Exact up to float rounding (the sums are reassociated); the tests compare it
with the per-point gradients in float64. Where the first layer holds most of
the arithmetic (the MNIST FCP: 93% of the weights) it removes most of the cost
of a path step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from lossatlas.core.objective import Objective
from lossatlas.surface.planar import MIN_FAN_IN, fan_in, first_linear_layer

# The two fixed first-layer outputs (θa, θb) kept for the whole run; beyond this
# the shortcut is not taken.
MAX_FIXED_BYTES = 1024**3


class FourierShortcut:
    """Σ_i L(θ(t_i)) and ∂/∂b_n of it for Fourier paths, through the shared first layer.

    Args:
        obj: the objective; its model must pass `shortcut_applies`.
        a, b: the endpoints [n].
        t: [P'] the inner t points.
        S: [P', K] sin(nπt_i) at those points.
    """

    def __init__(self, obj: Objective, a: Tensor, b: Tensor, t: Tensor, S: Tensor):
        k = first_linear_layer(obj)
        if k is None:
            raise ValueError("the model has no leading linear layer for the path shortcut.")
        self.obj, self.k = obj, k
        module = obj._module
        self.prefix = list(module)[:k]
        self.layer: nn.Module = module[k]
        self.rest = nn.Sequential(*list(module)[k + 1 :])
        prefix = f"{k}."
        self._first = [
            (n.removeprefix(prefix), obj.space[n]) for n in obj.space.names if n.startswith(prefix)
        ]
        self._rest = [
            (n.split(".", 1)[0], n.split(".", 1)[1], obj.space[n])
            for n in obj.space.names
            if not n.startswith(prefix)
        ]
        self.vmap = _batched_rest_pays(self.rest, obj.device)
        self.t, self.S = t, S
        self.a, self.b = a, b
        self.batches: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        with torch.no_grad():
            for x, y in obj.batches():
                h = x
                for m in self.prefix:
                    h = m(h)
                za = functional_call(self.layer, self._first_params(a), (h,))
                zb = functional_call(self.layer, self._first_params(b), (h,))
                self.batches.append((h, za, zb, y))
        self.n = sum(h.shape[0] for h, *_ in self.batches)

    def _first_params(self, theta: Tensor) -> dict[str, Tensor]:
        return {local: theta[e.slice].view(e.shape) for local, e in self._first}

    def _stacked_first(self, parts: dict[str, Tensor]) -> dict[str, Tensor]:
        """The first layer with the K coefficient vectors' weights stacked as outputs."""
        out = {}
        for local, e in self._first:
            w = parts[e.name]
            out[local] = w.reshape(w.shape[0] * e.shape[0], *e.shape[1:])
        return out

    def _point_loss(self, params: dict[str, Tensor], z: Tensor, y: Tensor) -> Tensor:
        return self.obj._loss(functional_call(self.rest, params, (z,)), y).sum()

    def _rest_stacks(self, parts: dict[str, Tensor], idx: slice) -> dict[str, Tensor]:
        t, S = self.t[idx], self.S[idx]
        stacks = {}
        for i, local, e in self._rest:
            line = (1 - t)[:, None] * self.a[e.slice] + t[:, None] * self.b[e.slice]
            stacks[f"{int(i) - self.k - 1}.{local}"] = (line + S @ parts[e.name]).view(-1, *e.shape)
        return stacks

    def _rest_points(self, parts: dict[str, Tensor], idx: slice) -> list[dict[str, Tensor]]:
        """The rest of the network's parameters at each point of `idx`.

        Built per parameter tensor from per-tensor leaves and split with `unbind`:
        slicing whole θ(t_i) vectors instead makes autograd write a full-size block of
        zeros for every slice, once per point, which costs more than the network.
        """
        t, S = self.t[idx], self.S[idx]
        stacks = {}
        for i, local, e in self._rest:
            # names in `rest` are renumbered from 0: the original index minus k + 1
            line = (1 - t)[:, None] * self.a[e.slice] + t[:, None] * self.b[e.slice]
            stack = (line + S @ parts[e.name]).view(-1, *e.shape)
            stacks[f"{int(i) - self.k - 1}.{local}"] = stack.unbind(0)
        return [{name: v[j] for name, v in stacks.items()} for j in range(len(t))]

    def values_and_coefficient_grad(
        self, coeffs: Tensor, *, grad: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """([P'] L(θ(t_i)), [K, n] Σ_i s_in ∇L(θ(t_i))) at the current coefficients."""
        obj, S, t = self.obj, self.S, self.t
        K, P = coeffs.shape[0], len(t)
        parts = {
            e.name: coeffs[:, e.slice].detach().clone().requires_grad_(grad)
            for e in obj.space.entries
        }
        sums = torch.zeros(P, dtype=obj.dtype, device=obj.device)
        chunk = max(1, obj.points_chunk)
        with torch.set_grad_enabled(grad):
            for h, za, zb, y in self.batches:
                zc = functional_call(self.layer, self._stacked_first(parts), (h,))
                zc = zc.reshape(h.shape[0], K, *za.shape[1:])  # [B, K, out...]
                # the first layer's output at every point: (1−t)·za + t·zb + Σ_n s_in·zc_n
                zc_leaf = zc.detach().requires_grad_(grad)
                shape = (-1, 1, *[1] * (za.dim() - 1))
                for start in range(0, P, chunk):
                    idx = slice(start, min(start + chunk, P))
                    z = (
                        (1 - t[idx]).view(shape) * za
                        + t[idx].view(shape) * zb
                        + torch.einsum("pk,bk...->pb...", S[idx], zc_leaf)
                    )
                    losses = None
                    if self.vmap:
                        try:
                            losses = vmap(lambda p, zj, y=y: self._point_loss(p, zj, y))(
                                self._rest_stacks(parts, idx), z
                            )
                        except RuntimeError as err:
                            if "Batching rule not implemented" not in str(err):
                                raise
                            self.vmap = False  # an op without a batching rule: loop from now on
                    if losses is None:
                        inputs = z.unbind(0)  # one backward node, not a zero block per point
                        losses = torch.stack(
                            [
                                self._point_loss(params, inputs[j], y)
                                for j, params in enumerate(self._rest_points(parts, idx))
                            ]
                        )
                    sums[idx] += losses.detach()
                    total = losses.sum()
                    if grad:
                        total.backward()
                if grad:
                    zc.backward(zc_leaf.grad)  # one product for the first layer's gradient
        if not grad:
            return obj.data_mean([sums], self.n)[0], None
        g = torch.zeros_like(coeffs)
        for e in obj.space.entries:
            if parts[e.name].grad is not None:
                g[:, e.slice] = parts[e.name].grad
        values, g = obj.data_mean([sums, g], self.n)  # over every process's share if sharded
        return values, g


def _batched_rest_pays(rest: nn.Module, device: torch.device) -> bool:
    """Whether the rest of the network should run all t points in one batched call (vmap).

    On accelerators always. On the CPU for dense rests only: their per-point work is small
    matrix products, where one batched product per layer replaces a Python loop of small
    ones (the MNIST FCP: 0.40 s a step against 0.47 s; digits: 45 ms against 51–74 ms);
    vmapped convolutions become grouped convolutions, which CPU kernels run slowly.
    """
    if device.type != "cpu":
        return True
    heavy = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.RNNBase)
    return not any(isinstance(m, heavy) for m in rest.modules())


def shortcut_applies(obj: Objective) -> bool:
    """Whether `FourierShortcut` is exact and worth it for this objective."""
    k = first_linear_layer(obj)
    if k is None or obj.mode != "eval" or obj.data.streamed or obj._batch_statistics:
        return False
    if fan_in(obj._module[k]) < MIN_FAN_IN:
        return False
    from lossatlas.surface.planar import PlaneEvaluator

    return 2 * PlaneEvaluator.estimate_bytes(obj) / 3 <= MAX_FIXED_BYTES
