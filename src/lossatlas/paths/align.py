"""Weight matching: permute the hidden units of θb to best match θa (Ainsworth et al. 2023).

Hidden units of an MLP can be permuted without changing its function: with
P_l the permutation of layer l's outputs (P_0 = P_L = I),

    W_l ← P_l W_l P_{l−1}ᵀ,    b_l ← P_l b_l

leaves every output unchanged (elementwise activations commute with P_l).
Two independently trained networks usually sit in different permutations of
"the same" solution, and the straight line between them crosses a barrier
partly because of it. Weight matching picks, layer by layer, the P_l that
maximises Σ ⟨W_a, P W_b⟩ over the weights it touches — a linear assignment
problem (scipy's `linear_sum_assignment`) — visiting layers in random order
and repeating until no layer changes. It starts from a forward pass that
matches each layer by its incoming weights only, which recovers an exact
permutation exactly.

Reference: Ainsworth, Hayase, Srinivasa (2023). Git Re-Basin: merging models
modulo permutation symmetries. ICLR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from lossatlas.core.objective import Objective

# Parameter-free elementwise modules that commute with a permutation of units.
_ELEMENTWISE = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Identity,
    nn.Dropout,
    nn.Hardtanh,
    nn.Softsign,
    nn.Mish,
    nn.CELU,
    nn.SELU,
)


@dataclass
class Alignment:
    """The permuted θb and how it was found.

    Attributes:
        theta: θb with its hidden units permuted [n] (same function as θb).
        permutations: one index array per hidden layer: unit i of the result
            is unit perm[i] of θb.
        similarity: Σ⟨W_a, W_b⟩ over all weights before and after.
        sweeps: passes over the layers until nothing changed.
    """

    theta: Tensor
    permutations: list[np.ndarray]
    similarity_before: float
    similarity_after: float
    sweeps: int


def _linear_layers(obj: Objective) -> list[tuple[str, nn.Linear]]:
    model = obj.model
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            "weight matching supports MLPs built as nn.Sequential (Linear layers with "
            f"elementwise activations between them); got {type(model).__name__}."
        )
    layers, seen_linear = [], False
    for name, child in model.named_children():
        if isinstance(child, nn.Linear):
            layers.append((name, child))
            seen_linear = True
        elif isinstance(child, _ELEMENTWISE) or (isinstance(child, nn.Flatten) and not seen_linear):
            continue
        else:
            raise ValueError(
                f"weight matching cannot permute through module {name!r} "
                f"({type(child).__name__}): only Linear layers and elementwise activations "
                "(and a leading Flatten) are supported."
            )
    if len(layers) < 2:
        raise ValueError("weight matching needs at least two Linear layers (one hidden layer).")
    return layers


def align(
    obj: Objective, theta_a: Tensor, theta_b: Tensor, *, seed: int = 0, max_sweeps: int = 100
) -> Alignment:
    """θb with its hidden units permuted to match θa (weight matching)."""
    from lossatlas.paths.result import check_endpoints

    a, b = check_endpoints(obj, theta_a, theta_b)
    layers = _linear_layers(obj)
    space = obj.space
    wa, wb, ba, bb = [], [], [], []
    for name, layer in layers:
        wa.append(a[space[f"{name}.weight"].slice].view(layer.weight.shape).double().cpu())
        wb.append(b[space[f"{name}.weight"].slice].view(layer.weight.shape).double().cpu())
        has_bias = layer.bias is not None and f"{name}.bias" in space._by_name
        ba.append(a[space[f"{name}.bias"].slice].double().cpu() if has_bias else None)
        bb.append(b[space[f"{name}.bias"].slice].double().cpu() if has_bias else None)
    hidden = len(layers) - 1
    perms = [np.arange(layers[i][1].out_features) for i in range(hidden)]

    def permuted(i: int) -> tuple[Tensor, Tensor | None]:
        """Layer i of θb under the current permutations."""
        w = wb[i]
        if i < hidden:
            w = w[perms[i]]
        if i > 0:
            w = w[:, perms[i - 1]]
        bias = bb[i][perms[i]] if (bb[i] is not None and i < hidden) else bb[i]
        return w, bias

    def similarity() -> float:
        total = 0.0
        for i in range(len(layers)):
            w, bias = permuted(i)
            total += float((wa[i] * w).sum())
            if bias is not None:
                total += float((ba[i] * bias).sum())
        return total

    def score_of(i: int, outgoing: bool) -> Tensor:
        """score[p, q]: ⟨weights of unit p of θa, those of unit q of θb⟩ for layer i."""
        w_in = wb[i] if i == 0 else wb[i][:, perms[i - 1]]
        score = wa[i] @ w_in.T
        if ba[i] is not None:
            score += torch.outer(ba[i], bb[i])
        if outgoing:
            nxt = wb[i + 1] if i + 1 == hidden else wb[i + 1][perms[i + 1]]
            score += wa[i + 1].T @ nxt
        return score

    before = similarity()
    # Start from a forward pass matching each layer by its incoming weights alone: when θb
    # is an exact permutation of θa, Σ_p ⟨u_p, u_σ(p)⟩ ≤ Σ_p ‖u_p‖² with equality only at
    # the true σ, so this start is already exact and the sweeps below cannot leave it
    # (coordinate ascent from the identity can stall in a wrong permutation).
    for i in range(hidden):
        perms[i] = linear_sum_assignment(score_of(i, False).numpy(), maximize=True)[1]
    rng = np.random.default_rng(seed)
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):  # noqa: B007 - reported
        changed = False
        for i in rng.permutation(hidden):
            score = score_of(i, True)
            _, cols = linear_sum_assignment(score.numpy(), maximize=True)
            if not np.array_equal(cols, perms[i]):
                gain = score.numpy()[np.arange(len(cols)), cols].sum()
                old = score.numpy()[np.arange(len(cols)), perms[i]].sum()
                if gain > old + 1e-12 * max(1.0, abs(old)):
                    perms[i] = cols
                    changed = True
        if not changed:
            break
    out = b.clone()
    for i, (name, _layer) in enumerate(layers):
        w, bias = permuted(i)
        out[space[f"{name}.weight"].slice] = w.reshape(-1).to(out)
        if bias is not None:
            out[space[f"{name}.bias"].slice] = bias.to(out)
    return Alignment(
        theta=out,
        permutations=perms,
        similarity_before=before,
        similarity_after=similarity(),
        sweeps=sweeps,
    )
