"""An exact shortcut for planes: the first layer's output is linear in the plane's coordinates.

When a network begins with a layer that is linear in its parameters (a Linear
or a convolution, with its bias), applied to the input after parameter-free
modules only (Flatten, Identity), its output on the plane
θ(α, β) = θ* + αδ + βη is

    f₁(x; W* + αδ_W + βη_W, b* + αδ_b + βη_b) = f₁(x; θ*) + α·f₁(x; δ) + β·f₁(x; η),

so three outputs computed once serve every grid point, and each point pays
only for the rest of the network. It is exact (up to float rounding): a sum
of three terms instead of one product. The same holds on any affine grid
origin + Σ_k c_k d_k (`AffineEvaluator`, `lossatlas.surface.landscape`) with K + 1
precomputed outputs. On the MNIST FCP the first layer holds
93% of the weights and most of the arithmetic of a forward pass.

This applies to `nn.Sequential` models (the zoo's FCP, LeNet, autoencoder and
most user MLPs/CNNs); anything else falls back to ordinary evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from lossatlas.core.objective import Objective

_LINEAR_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Memory for the precomputed outputs (three for a plane); beyond it the shortcut is not taken.
MAX_PRECOMPUTED_BYTES = 2 * 1024**3
# The shortcut replaces fan-in multiply-adds per output element by three reads and two
# multiply-adds; it pays only when the fan-in is large. Measured on the CPU: LeNet's first
# conv (fan-in 25, output 6x its input) at MNIST size is 20% slower with it; the FCP's
# first Linear (fan-in 784) costs 0.44x a bare forward pass with it.
MIN_FAN_IN = 64


def fan_in(layer: nn.Module) -> int:
    """Multiply-adds per output element of a Linear or convolution."""
    w = layer.weight
    return int(w[0].numel())


def first_linear_layer(obj: Objective) -> int | None:
    """Index of a leading layer the shortcut can use, or None."""
    module = obj._module
    if not isinstance(module, nn.Sequential):
        return None
    for k, child in enumerate(module):
        has_state = any(True for _ in child.parameters()) or any(True for _ in child.buffers())
        if not has_state:
            continue  # parameter-free (Flatten, Identity): part of the prefix
        if not isinstance(child, _LINEAR_LAYERS):
            return None
        names = [f"{k}.{n}" for n, _ in child.named_parameters()]
        if any(n not in obj.space._by_name for n in names) or any(True for _ in child.buffers()):
            return None  # frozen or stateful first layer: keep the general path
        return k if k + 1 < len(module) else None
    return None


def grid_points(origin: Tensor, directions: Sequence[Tensor], axes: Sequence[Tensor]):
    """Flat grid index i ↦ origin + Σ_k c_k[i_k]·d_k, for a chunk of i (C order over the axes).

    The multi-index (i_0, ..., i_{K-1}) is read off i with the last axis
    fastest, as `numpy.unravel_index` does; the sum is formed left to right,
    so K = 2 gives exactly origin + α·d1 + β·d2 (the plane's points, bit for bit).
    Memory: one [len(i), n] tensor, the chunk's points.
    """
    sizes = [len(a) for a in axes]

    def make(idx: Tensor) -> Tensor:
        out, rest = origin, idx
        digits = []
        for size in reversed(sizes):
            digits.append(rest % size)
            rest = rest // size
        for d, axis, i in zip(directions, axes, reversed(digits), strict=True):
            out = out + axis[i, None] * d
        return out

    return make


def first_layer_bytes(obj: Objective) -> int:
    """Memory one precomputed first-layer output over the whole data set takes."""
    k = first_linear_layer(obj)
    if k is None:
        return 0
    x, _ = obj.data.first()
    with torch.no_grad():
        h = x[:1]
        for m in list(obj._module)[:k]:
            h = m(h)
        theta = obj.point()
        params = {
            n.removeprefix(f"{k}."): theta[obj.space[n].slice].view(obj.space[n].shape)
            for n in obj.space.names
            if n.startswith(f"{k}.")
        }
        one = functional_call(obj._module[k], params, (h,))
    total = obj.data.num_samples or 0
    return one.numel() * one.element_size() * total


class AffineEvaluator:
    """L and accuracy at points origin + Σ_k c_k d_k through the precomputed first layer.

    The first layer's output is linear in its parameters, so its output at
    every point is A + Σ_k c_k D_k with A = f₁(x; origin) and D_k = f₁(x; d_k)
    computed once: K + 1 outputs over the data set are kept in memory.

    Args:
        obj: the objective (its model must pass `first_linear_layer`).
        origin: flat [n].
        directions: K flat [n] directions.
    """

    def __init__(self, obj: Objective, origin: Tensor, directions: Sequence[Tensor]):
        k = first_linear_layer(obj)
        if k is None:
            raise ValueError("the model has no leading linear layer for the plane shortcut.")
        if obj._batch_statistics:
            raise ValueError("the plane shortcut needs mode='eval'.")
        self.obj, self.k = obj, k
        module = obj._module
        self.prefix = list(module)[:k]
        self.layer = module[k]
        self._layer_entries = [
            (name.removeprefix(f"{k}."), obj.space[name])
            for name in obj.space.names
            if name.startswith(f"{k}.")
        ]
        # per batch: (A, [D_1, ..., D_K], y)
        self.batches: list[tuple[Tensor, list[Tensor], Tensor]] = []
        with torch.no_grad():
            for x, y in obj.batches():
                h = x
                for m in self.prefix:
                    h = m(h)
                outs = [
                    functional_call(self.layer, self._layer_params(v), (h,))
                    for v in (origin, *directions)
                ]
                self.batches.append((outs[0], outs[1:], y))
        self.n = sum(b[0].shape[0] for b in self.batches)
        self.origin, self.directions = origin, list(directions)

    def _layer_params(self, theta: Tensor) -> dict[str, Tensor]:
        return {local: theta[e.slice].view(e.shape) for local, e in self._layer_entries}

    def stats(self, coefficients: Tensor, accuracy: bool = True) -> Tensor:
        """[c, 2]: (loss, accuracy) at origin + Σ_k C[i, k]·d_k for each row i of C [c, K]."""
        obj = self.obj
        want_acc = accuracy and obj.is_classifier
        out = []
        with torch.no_grad():
            for row in coefficients.tolist():
                # θ goes into the evaluation module (by copy); only the layers after the
                # first one run, on the first layer's output A + Σ c_k D_k.
                theta = self.origin
                for c, d in zip(row, self.directions, strict=True):
                    theta = theta + c * d
                rest = list(obj.module_at(theta))[self.k + 1 :]
                losses, hits = [], []
                for A, D, y in self.batches:
                    # one allocation per point and batch (this is the inner loop)
                    h = torch.add(A, D[0], alpha=row[0])
                    for c, Dk in zip(row[1:], D[1:], strict=True):
                        h.add_(Dk, alpha=c)
                    for module in rest:
                        h = module(h)
                    losses.append(obj._loss(h, y).sum())
                    if want_acc:
                        hits.append((h.argmax(1) == y).sum())
                loss = torch.stack(losses).sum()
                acc = torch.stack(hits).sum().to(obj.dtype) if hits else torch.zeros_like(loss)
                out.append(torch.stack([loss, acc]))
        return obj.data_mean([torch.stack(out)], self.n)[0]  # every process's share if sharded


class PlaneEvaluator(AffineEvaluator):
    """`AffineEvaluator` for a plane θ* + αδ + βη, addressed by (α, β).

    Args:
        obj: the objective (its model must pass `first_linear_layer`).
        origin: the plane's origin, flat [n].
        d1: its first direction, flat [n].
        d2: its second direction, flat [n].
    """

    def __init__(self, obj: Objective, origin: Tensor, d1: Tensor, d2: Tensor):
        super().__init__(obj, origin, (d1, d2))
        self.d1, self.d2 = d1, d2

    @staticmethod
    def estimate_bytes(obj: Objective) -> int:
        """Memory the three precomputed outputs would take (from one batch)."""
        return 3 * first_layer_bytes(obj)

    def stats(self, alpha: Tensor, beta: Tensor, accuracy: bool = True) -> Tensor:
        """[c, 2]: (loss, accuracy) at θ* + α_i δ + β_i η for each i."""
        return super().stats(torch.stack([alpha, beta], dim=1), accuracy=accuracy)


def _applies(obj: Objective, outputs: int) -> bool:
    """Whether the shortcut pays here and its `outputs` precomputed outputs fit in memory."""
    k = first_linear_layer(obj)
    if obj.mode != "eval" or k is None or fan_in(obj._module[k]) < MIN_FAN_IN:
        return False
    return outputs * first_layer_bytes(obj) <= MAX_PRECOMPUTED_BYTES


def affine_evaluator(obj: Objective, origin: Tensor, directions: Sequence[Tensor]) -> Any:
    """An `AffineEvaluator` when the shortcut applies and its K + 1 outputs fit, else None."""
    if not _applies(obj, len(directions) + 1):
        return None
    return AffineEvaluator(obj, origin, directions)


def plane_evaluator(obj: Objective, origin: Tensor, d1: Tensor, d2: Tensor) -> Any:
    """A `PlaneEvaluator` when the shortcut applies and fits in memory, else None."""
    return PlaneEvaluator(obj, origin, d1, d2) if _applies(obj, 3) else None
