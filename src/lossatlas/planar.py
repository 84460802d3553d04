"""An exact shortcut for planes: the first layer's output is linear in the plane's coordinates.

When a network begins with a layer that is linear in its parameters (a Linear
or a convolution, with its bias), applied to the input after parameter-free
modules only (Flatten, Identity), its output on the plane
θ(α, β) = θ* + αδ + βη is

    f₁(x; W* + αδ_W + βη_W, b* + αδ_b + βη_b) = f₁(x; θ*) + α·f₁(x; δ) + β·f₁(x; η),

so three outputs computed once serve every grid point, and each point pays
only for the rest of the network. It is exact (up to float rounding): a sum
of three terms instead of one product. On the MNIST FCP the first layer holds
93% of the weights and most of the arithmetic of a forward pass.

This applies to `nn.Sequential` models (the zoo's FCP, LeNet, autoencoder and
most user MLPs/CNNs); anything else falls back to ordinary evaluation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from lossatlas.objective import Objective

_LINEAR_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Memory for the three precomputed outputs; beyond it the shortcut is not taken.
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


class PlaneEvaluator:
    """L and accuracy at plane points through the precomputed first layer.

    Args:
        obj: the objective (its model must pass `first_linear_layer`).
        origin, d1, d2: the plane, flat [n].
    """

    def __init__(self, obj: Objective, origin: Tensor, d1: Tensor, d2: Tensor):
        k = first_linear_layer(obj)
        if k is None:
            raise ValueError("the model has no leading linear layer for the plane shortcut.")
        self.obj, self.k = obj, k
        module = obj._module
        self.prefix = list(module)[:k]
        self.layer = module[k]
        self._layer_entries = [
            (name.removeprefix(f"{k}."), obj.space[name])
            for name in obj.space.names
            if name.startswith(f"{k}.")
        ]
        self.batches: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        with torch.no_grad():
            for x, y in obj.batches():
                h = x
                for m in self.prefix:
                    h = m(h)
                outs = [
                    functional_call(self.layer, self._layer_params(v), (h,))
                    for v in (origin, d1, d2)
                ]
                if obj._batch_statistics:
                    raise ValueError("the plane shortcut needs mode='eval'.")
                self.batches.append((outs[0], outs[1], outs[2], y))
        self.n = sum(b[0].shape[0] for b in self.batches)
        self.origin, self.d1, self.d2 = origin, d1, d2

    @staticmethod
    def estimate_bytes(obj: Objective) -> int:
        """Memory the three precomputed outputs would take (from one batch)."""
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
        return 3 * one.numel() * one.element_size() * total

    def _layer_params(self, theta: Tensor) -> dict[str, Tensor]:
        return {local: theta[e.slice].view(e.shape) for local, e in self._layer_entries}

    def stats(self, alpha: Tensor, beta: Tensor, accuracy: bool = True) -> Tensor:
        """[c, 2]: (loss, accuracy) at θ* + α_i δ + β_i η for each i."""
        obj = self.obj
        want_acc = accuracy and obj.is_classifier
        out = []
        with torch.no_grad():
            for a, b in zip(alpha.tolist(), beta.tolist(), strict=True):
                # θ goes into the evaluation module (by copy); only the layers after the
                # first one run, on the first layer's output A + αD_α + βD_β.
                rest = list(obj.module_at(self.origin + a * self.d1 + b * self.d2))[self.k + 1 :]
                losses, hits = [], []
                for A, Da, Db, y in self.batches:
                    # A + a·Da + b·Db with one allocation (this runs once per point and batch)
                    h = torch.add(A, Da, alpha=a).add_(Db, alpha=b)
                    for module in rest:
                        h = module(h)
                    losses.append(obj._loss(h, y).sum())
                    if want_acc:
                        hits.append((h.argmax(1) == y).sum())
                loss = torch.stack(losses).sum()
                acc = torch.stack(hits).sum().to(obj.dtype) if hits else torch.zeros_like(loss)
                out.append(torch.stack([loss, acc]))
        return obj.data_mean([torch.stack(out)], self.n)[0]  # every process's share if sharded


def plane_evaluator(obj: Objective, origin: Tensor, d1: Tensor, d2: Tensor) -> Any:
    """A `PlaneEvaluator` when the shortcut applies and fits in memory, else None."""
    k = first_linear_layer(obj)
    if obj.mode != "eval" or k is None or fan_in(obj._module[k]) < MIN_FAN_IN:
        return None
    if PlaneEvaluator.estimate_bytes(obj) > MAX_PRECOMPUTED_BYTES:
        return None
    return PlaneEvaluator(obj, origin, d1, d2)
