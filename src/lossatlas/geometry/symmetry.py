"""Weight-space symmetry of MLPs: hidden-unit interchanges, sign flips and rescalings.

Chen, Lu & Hecht-Nielsen (1993; catalogue §5.2) show that for a tanh MLP every
equioutput transformation (eq. 1: y(x, g(w)) = y(x, w) for all x) is a
composition of *interchanges* (swap two hidden units of a layer together with
their outgoing weights) and *sign flips* (negate a unit's incoming weights and
bias and its outgoing weights; tanh is odd). They form a group G of order

    #G = Π_{l=2}^{K−1} M_l! · 2^{M_l}                           (eq. 2)

(M_l hidden units in layer l), isomorphic to O_{M_2} × ... × O_{M_{K−1}}, and
every element is an isometry, ‖g(w)‖ = ‖w‖ (eq. 5): the #G copies of an optimum
lie on one sphere, its *spherical throng*.

Other activations have other groups (see `SymmetryGroup.describe`):

- odd (tanh, softsign, hardtanh): interchanges and sign flips, isometric;
- sigmoid: σ(−z) = 1 − σ(z), so a flip is a symmetry when the next layer has a
  bias to absorb the constant (b ← b + w); the group has order #G but its
  flips change the norm;
- positively homogeneous (ReLU, LeakyReLU): interchanges and rescalings
  w_in ← c·w_in, w_out ← w_out/c for any c > 0 (a continuous group), no flips;
- anything else (softplus, smooLU, GELU, ...): interchanges only. Softplus is
  not odd (softplus(−z) = softplus(z) − z), so the optimizer-strategies FCP,
  which also has no biases, has only its M_l! permutations per layer.

An element acts on layer l (W_l [M_l, M_{l−1}], b_l) as

    W_l ← diag(s_l c_l) W_l[π_l] diag(s_{l−1} / c_{l−1})[π_{l−1}],   b_l ← s_l c_l b_l[π_l]

(unit i of the result is unit π_l(i) of the input; s = ±1, c > 0).

Reference:
    Chen, Lu, Hecht-Nielsen (1993). On the geometry of feedforward neural
    network error surfaces. Neural Computation 5(6). Eqs. 1, 2, 5; §§2–4.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from lossatlas.core.objective import Objective
from lossatlas.geometry.layout import mlp_layout

ENUMERATION_LIMIT = 100_000


@dataclass(frozen=True)
class GroupElement:
    """One equioutput transformation: per hidden layer a permutation, signs and scales.

    Attributes:
        perms: π_l (int64 [M_l]): unit i of the result is unit π_l(i) of the input.
        signs: s_l (±1, [M_l]) in the result's unit order.
        scales: c_l (> 0, [M_l]) in the result's unit order (1 unless homogeneous).
    """

    perms: tuple[Tensor, ...]
    signs: tuple[Tensor, ...]
    scales: tuple[Tensor, ...]


class SymmetryGroup:
    """The equioutput transformations of an MLP (Chen et al. 1993) and their action on θ.

    Args:
        model: an MLP (see `mlp_layout`) or an Objective over one.

    Attributes:
        layout: the parsed `MLPLayout`.
        flips: per hidden layer, whether sign flips are symmetries.
        rescalings: per hidden layer, whether positive rescalings are.
        isometric: every element preserves ‖θ‖ (no sigmoid flips, no rescalings).
    """

    def __init__(self, model: nn.Module | Objective):
        self.layout = mlp_layout(model)
        last = len(self.layout.shapes) - 1
        self.flips = tuple(
            k == "odd" or (k == "sigmoid" and self.layout.biases[l + 1] is not None)
            for l, k in enumerate(self.layout.kinds)  # noqa: E741 - the paper's layer index
        )
        self.rescalings = tuple(k == "homogeneous" for k in self.layout.kinds)
        self.isometric = not any(self.rescalings) and not any(
            f and k == "sigmoid" for f, k in zip(self.flips, self.layout.kinds, strict=True)
        )
        self._last = last

    @property
    def order(self) -> int:
        """#G of the finite part: Π M_l!·2^{M_l} with flips (eq. 2), Π M_l! without.

        Rescalings (ReLU) form a continuous group on top of this one.
        """
        total = 1
        for m, f in zip(self.layout.widths, self.flips, strict=True):
            total *= math.factorial(m) * (2**m if f else 1)
        return total

    def describe(self) -> str:
        """What is and is not a symmetry of this network, layer by layer."""
        lines = []
        for l, (m, act, kind) in enumerate(  # noqa: E741
            zip(self.layout.widths, self.layout.activations, self.layout.kinds, strict=True)
        ):
            what = f"hidden layer {l + 1} ({m} × {act}): {m}! interchanges"
            if kind == "odd":
                what += f", 2^{m} sign flips ({act} is odd; isometries)"
            elif kind == "sigmoid" and self.flips[l]:
                what += (
                    f", 2^{m} flips (σ(−z) = 1 − σ(z), absorbed by the next bias; they change ‖θ‖)"
                )
            elif kind == "sigmoid":
                what += "; no flips (σ(−z) = 1 − σ(z) needs a bias in the next layer)"
            elif kind == "homogeneous":
                what += f"; positive rescalings (R_{{>0}})^{m}, a continuous group; no flips"
            else:
                what += f"; no flips or rescalings ({act} is neither odd nor homogeneous)"
            lines.append(what)
        lines.append(f"finite group order #G = {self.order}")
        return "\n".join(lines)

    def identity(self, dtype: torch.dtype = torch.float64) -> GroupElement:
        """The identity element."""
        ms = self.layout.widths
        return GroupElement(
            perms=tuple(torch.arange(m) for m in ms),
            signs=tuple(torch.ones(m, dtype=dtype) for m in ms),
            scales=tuple(torch.ones(m, dtype=dtype) for m in ms),
        )

    def random_element(self, seed: int | torch.Generator = 0, *, log_scale: float = 1.0):
        """A random element: uniform permutations and flips; log c ~ U[−log_scale, log_scale]."""
        gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
        perms, signs, scales = [], [], []
        for m, f, r in zip(self.layout.widths, self.flips, self.rescalings, strict=True):
            perms.append(torch.randperm(m, generator=gen))
            s = torch.randint(0, 2, (m,), generator=gen).double() * 2 - 1
            signs.append(s if f else torch.ones(m, dtype=torch.float64))
            u = torch.rand(m, generator=gen, dtype=torch.float64) * 2 - 1
            scales.append(torch.exp(log_scale * u) if r else torch.ones(m, dtype=torch.float64))
        return GroupElement(tuple(perms), tuple(signs), tuple(scales))

    def elements(self) -> Iterator[GroupElement]:
        """Every element of the finite group (permutations × flips), for tiny networks.

        Raises:
            ValueError: when #G exceeds `ENUMERATION_LIMIT`.
        """
        if self.order > ENUMERATION_LIMIT:
            raise ValueError(
                f"the group has {self.order:,} elements; enumerating more than "
                f"{ENUMERATION_LIMIT:,} is refused. Use `random_element` or `throng`."
            )
        per_layer = []
        for m, f in zip(self.layout.widths, self.flips, strict=True):
            options = []
            for p in itertools.permutations(range(m)):
                for s in itertools.product((1.0, -1.0), repeat=m if f else 0):
                    sign = torch.tensor(s, dtype=torch.float64) if f else torch.ones(m).double()
                    options.append((torch.tensor(p), sign))
            per_layer.append(options)
        for combo in itertools.product(*per_layer):
            yield GroupElement(
                perms=tuple(p for p, _ in combo),
                signs=tuple(s for _, s in combo),
                scales=tuple(torch.ones(len(p), dtype=torch.float64) for p, _ in combo),
            )

    def apply(self, theta: Tensor, g: GroupElement) -> Tensor:
        """g(θ): the transformed parameters (same network function).

        Raises:
            ValueError: for θ of the wrong length, or an element that flips or
                rescales a layer whose activation does not allow it.
        """
        lay = self.layout
        if theta.dim() != 1 or theta.numel() != lay.size:
            raise ValueError(
                f"`theta` must be a flat vector of the model's {lay.size} parameters; "
                f"got shape {tuple(theta.shape)}."
            )
        for l, (s, c) in enumerate(zip(g.signs, g.scales, strict=True)):  # noqa: E741
            if not self.flips[l] and bool((s != 1).any()):
                raise ValueError(
                    f"hidden layer {l + 1} ({lay.activations[l]}) has no sign-flip symmetry; "
                    "the element must keep its signs at +1."
                )
            if not self.rescalings[l] and bool((c != 1).any()):
                raise ValueError(
                    f"hidden layer {l + 1} ({lay.activations[l]}) has no rescaling symmetry; "
                    "the element must keep its scales at 1."
                )
        out = theta.clone()
        for k, (ws, shape, bs) in enumerate(zip(lay.weights, lay.shapes, lay.biases, strict=True)):
            W = theta[ws].view(shape)
            b = theta[bs] if bs is not None else None
            if k > 0:  # columns: compensate the previous hidden layer's transformation
                pi, s, c = g.perms[k - 1], g.signs[k - 1], g.scales[k - 1]
                W = W[:, pi]
                if lay.kinds[k - 1] == "sigmoid":
                    # σ(−z) = 1 − σ(z): a flipped unit's weight w moves w into the bias.
                    if b is not None:
                        b = b + (W * (s < 0).to(W)).sum(1)
                    W = W * s.to(W)
                else:
                    W = W * (s / c).to(W)
            if k < self._last:  # rows: this hidden layer's own permutation, signs, scales
                pi, s, c = g.perms[k], g.signs[k], g.scales[k]
                factor = (s * c).to(W)
                W = factor[:, None] * W[pi]
                b = factor * b[pi] if b is not None else None
            out[ws] = W.reshape(-1)
            if bs is not None:
                out[bs] = b
        return out

    def compose(self, h: GroupElement, g: GroupElement) -> GroupElement:
        """h ∘ g: first g, then h."""
        perms, signs, scales = [], [], []
        for l in range(len(self.layout.widths)):  # noqa: E741
            # unit i of h(g(θ)) is s_h[i]·(unit π_h[i] of g(θ)) = s_h[i]·s_g[π_h[i]]·θ-unit
            # π_g[π_h[i]] (scales alike).
            perms.append(g.perms[l][h.perms[l]])
            signs.append(h.signs[l] * g.signs[l][h.perms[l]])
            scales.append(h.scales[l] * g.scales[l][h.perms[l]])
        return GroupElement(tuple(perms), tuple(signs), tuple(scales))

    def throng(self, theta: Tensor, count: int, *, seed: int = 0) -> Tensor:
        """`count` random copies g(θ) [count, n]: the spherical throng of θ (eq. 5).

        The first row is θ itself. For an isometric group all rows have ‖θ‖.
        """
        if count < 1:
            raise ValueError(f"`count` must be a positive integer; got {count!r}.")
        gen = torch.Generator().manual_seed(seed)
        rows = [theta.clone()]
        rows += [self.apply(theta, self.random_element(gen)) for _ in range(count - 1)]
        return torch.stack(rows)


def with_layer(g: GroupElement, layer: int, perm: Tensor, signs: Tensor, scales: Tensor):
    """`g` with hidden layer `layer`'s permutation, signs and scales replaced."""
    perms, s, c = list(g.perms), list(g.signs), list(g.scales)
    perms[layer], s[layer], c[layer] = perm, signs, scales
    return replace(g, perms=tuple(perms), signs=tuple(s), scales=tuple(c))
