"""Minimal sufficient search sets: move θ into the wedge (eq. 3) or the cone (eq. 4).

Chen, Lu & Hecht-Nielsen (1993; catalogue §5.2) show that the interior of the
*wedge*

    w_{li0} > 0                   for 1 ≤ i ≤ M_l,       2 ≤ l ≤ K−1
    w_{li0} − w_{l(i+1)0} > 0     for 1 ≤ i ≤ M_l − 1,   2 ≤ l ≤ K−1      (eq. 3)

(w_{li0} is the bias of unit i of hidden layer l: every bias positive and the
biases decreasing within a layer) is an open minimal sufficient search set of a
tanh MLP: every θ is equivalent under the symmetry group G to exactly one point
of its closure. So is the interior of the *cone*

    w_{K10} w_{li0} > 0
    w_{K10} (w_{li0} − w_{l(i+1)0}) > 0                                     (eq. 4)

with w_{K10} the bias of the first output unit: for w_{K10} > 0 it is the
wedge, for w_{K10} < 0 the mirror image (biases negative and increasing).
Canonicalisation picks, layer by layer, the flips that make the biases
positive (times sign w_{K10} for the cone) and the permutation that sorts
them; it is idempotent and lands in the closure of the set (in its interior
unless two biases tie or one is zero, a set of measure zero).

Networks without sign flips (softplus, ReLU, ...) have no wedge: their units
can only be sorted (`region="sorted"`; ReLU units are first rescaled to unit
incoming norm, which fixes the rescaling symmetry). Networks without biases
have no w_{li0} at all, and the wedge is refused.

Reference:
    Chen, Lu, Hecht-Nielsen (1993). On the geometry of feedforward neural
    network error surfaces. Neural Computation 5(6). §4, eqs. 3–4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from lossatlas.core.objective import Objective
from lossatlas.geometry.symmetry import GroupElement, SymmetryGroup, with_layer

Region = Literal["wedge", "cone", "sorted"]
REGIONS = ("wedge", "cone", "sorted")


@dataclass
class Canonical:
    """θ moved into a minimal sufficient search set.

    Attributes:
        theta: g(θ), the canonical representative [n].
        element: the group element g that maps θ there.
        region: "wedge", "cone" or "sorted".
    """

    theta: Tensor
    element: GroupElement
    region: str


def _group(target: SymmetryGroup | nn.Module | Objective) -> SymmetryGroup:
    return target if isinstance(target, SymmetryGroup) else SymmetryGroup(target)


def _check_region(group: SymmetryGroup, region: str) -> None:
    lay = group.layout
    if region not in REGIONS:
        allowed = ", ".join(map(repr, REGIONS))
        raise ValueError(f"`region` must be one of {allowed}; got {region!r}.")
    if region == "sorted":
        flipped = [l + 1 for l, f in enumerate(group.flips) if f]  # noqa: E741
        if flipped:
            raise ValueError(
                f"hidden layer(s) {flipped} have sign-flip symmetry, so sorting alone is not a "
                "minimal sufficient set; use region='wedge' (Chen et al. eq. 3)."
            )
        return
    for l, (f, act, b) in enumerate(zip(group.flips, lay.activations, lay.biases, strict=False)):  # noqa: E741
        if not f:
            raise ValueError(
                f"the {region} (Chen et al. eq. {3 if region == 'wedge' else 4}) needs sign-flip "
                f"symmetry in every hidden layer; hidden layer {l + 1} ({act}) has none: its "
                "symmetries are permutations (and rescalings for ReLU). Use region='sorted', or "
                "`lossatlas.paths.align` to compare two networks."
            )
        if b is None:
            raise ValueError(
                f"the {region} (Chen et al. eq. {3 if region == 'wedge' else 4}) is defined by the "
                f"hidden biases w_li0, and hidden layer {l + 1} has no bias. Build the network "
                "with biases, or use `lossatlas.paths.align` to compare two networks."
            )
    if region == "cone":
        if any(k != "odd" for k in lay.kinds):
            raise ValueError(
                "the cone (Chen et al. eq. 4) is defined for odd activations (tanh), whose "
                "flips leave the output bias w_K10 unchanged; this network has "
                f"{', '.join(lay.activations)}. Use region='wedge'."
            )
        if lay.biases[-1] is None:
            raise ValueError(
                "the cone (Chen et al. eq. 4) needs the output bias w_K10; the output layer has "
                "no bias. Use region='wedge'."
            )


def _output_sign(group: SymmetryGroup, theta: Tensor) -> float:
    w_k10 = float(theta[group.layout.biases[-1]][0])
    if w_k10 == 0.0:
        raise ValueError(
            "the cone (Chen et al. eq. 4) needs a nonzero output bias w_K10; got exactly 0. "
            "Use region='wedge'."
        )
    return 1.0 if w_k10 > 0 else -1.0


def canonicalise(
    target: SymmetryGroup | nn.Module | Objective, theta: Tensor, region: Region = "wedge"
) -> Canonical:
    """The representative of θ's orbit in the wedge (eq. 3), the cone (eq. 4) or sorted.

    Layer by layer, input side first (a sigmoid flip moves weight into the next
    layer's bias, so each layer is read after the previous one is settled):
    wedge: s_i = sign(b_i), units sorted by |b_i| decreasing; cone: the same
    times sign(w_K10); sorted: ReLU units rescaled to unit incoming norm
    ‖(W_i, b_i)‖ = 1, then units sorted by bias decreasing (by their first
    incoming weight when the layer has no bias).

    Args:
        target: the network (or its `SymmetryGroup`).
        theta: θ [n].
        region: "wedge", "cone" or "sorted".

    Returns:
        `Canonical` with g(θ) and g.

    Raises:
        ValueError: for a region the network's symmetries do not define (no
            flips, no biases, no output bias, a zero w_K10), with the reason.
    """
    group = _group(target)
    _check_region(group, region)
    lay = group.layout
    out_sign = _output_sign(group, theta) if region == "cone" else 1.0
    g = group.identity()
    for l in range(len(lay.widths)):  # noqa: E741
        current = group.apply(theta, g)
        W = current[lay.weights[l]].view(lay.shapes[l]).double()
        b = current[lay.biases[l]].double() if lay.biases[l] is not None else None
        m = W.shape[0]
        scales = torch.ones(m, dtype=torch.float64)
        if region == "sorted":
            if group.rescalings[l]:
                rows = W if b is None else torch.cat([W, b[:, None]], 1)
                norm = rows.norm(dim=1)
                inv = torch.where(norm > 0, 1.0 / norm, torch.ones_like(norm))
                key_all = (b if b is not None else W[:, 0]) * inv
            else:
                inv = scales
                key_all = b if b is not None else W[:, 0]
            perm = torch.sort(key_all, descending=True, stable=True).indices
            signs, scales = torch.ones(m, dtype=torch.float64), inv[perm]
        else:
            assert b is not None  # checked above
            perm = torch.sort(b.abs(), descending=True, stable=True).indices
            signs = torch.where(b[perm] < 0, -1.0, 1.0).double() * out_sign
        g = with_layer(g, l, perm, signs, scales)
    return Canonical(theta=group.apply(theta, g), element=g, region=region)


def in_region(
    target: SymmetryGroup | nn.Module | Objective, theta: Tensor, region: Region = "wedge"
) -> bool:
    """Whether θ lies in the interior of the wedge (eq. 3), the cone (eq. 4) or is sorted.

    The inequalities are strict, as in the paper (the open sets). "sorted" asks
    for strictly decreasing keys (and unit incoming norms for ReLU layers, to
    1e-12).
    """
    group = _group(target)
    _check_region(group, region)
    lay = group.layout
    sign = _output_sign(group, theta) if region == "cone" else 1.0
    for l in range(len(lay.widths)):  # noqa: E741
        W = theta[lay.weights[l]].view(lay.shapes[l]).double()
        b = theta[lay.biases[l]].double() if lay.biases[l] is not None else None
        if region == "sorted":
            key = b if b is not None else W[:, 0]
            if group.rescalings[l]:
                rows = W if b is None else torch.cat([W, b[:, None]], 1)
                if not torch.allclose(rows.norm(dim=1), torch.ones(len(rows)).double(), 0, 1e-12):
                    return False
        else:
            key = sign * b
            if not bool((key > 0).all()):
                return False
        if not bool((key[:-1] > key[1:]).all()):
            return False
    return True
